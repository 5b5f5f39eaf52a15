"""The `nkru` command line. Commands only parse, call the library, render and set the exit code.

One module per command in this package; register it in COMMANDS and nowhere else. A module defines
`command` and, when options were renamed, `DEPRECATED` (old name -> new name): the old names keep
working, with a line on stderr, until nkru.cli.common.DEPRECATED_UNTIL.
"""

from __future__ import annotations

import importlib

import typer

#: command name -> module defining `command` (a typer-annotated function).
COMMANDS: dict[str, str] = {
    "validate": "nkru.cli.validate_cmd",
    "coverage": "nkru.cli.coverage_cmd",
    "codebook": "nkru.cli.codebook_cmd",
    "report": "nkru.cli.report_cmd",
    "export": "nkru.cli.export_cmd",
    "release": "nkru.cli.release_cmd",
    "diff": "nkru.cli.diff_cmd",
    "cite": "nkru.cli.cite_cmd",
    "agreement": "nkru.cli.agreement_cmd",
    "offsets": "nkru.cli.offsets_cmd",
    "add-source": "nkru.cli.add_source_cmd",
    "code": "nkru.cli.code_cmd",
    "hook": "nkru.cli.hook_cmd",
}

from nkru.cli.common import CONTEXT_SETTINGS, command_class

app = typer.Typer(
    name="nkru",
    context_settings=CONTEXT_SETTINGS,
    help="Validate, release and export the nkru Data Package (North Korea–Russia military cooperation).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)



def _version(value: bool) -> None:
    if value:
        from nkru import __version__

        typer.echo(f"nkru {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the toolkit version and exit."),
) -> None:
    """Validate, release and export the nkru Data Package."""
    from nkru.cli.common import install_safe_streams

    install_safe_streams()  # no raw control or bidi character from the data reaches the output


for _name, _path in COMMANDS.items():
    _module = importlib.import_module(_path)
    app.command(_name, cls=command_class(getattr(_module, "DEPRECATED", {})),
                context_settings=CONTEXT_SETTINGS)(_module.command)


def _exit_code(code: object) -> object:
    """The command's exit code, unless its standard output could not be written: then 2 (as for any file a
    command cannot write), so that a script never takes an incomplete report for a whole one."""
    import sys

    from nkru.cli.common import EXIT_USAGE, SafeStream

    try:
        sys.stdout.flush()  # what is still buffered fails now, not after the exit code is chosen
    except Exception:  # noqa: BLE001 -- SafeStream says why on stderr; nothing more to do here
        pass
    return EXIT_USAGE if SafeStream.output_lost and code in (0, 1, None) else code


#: jemalloc settings for polars' allocator: hand freed pages back at once (see `main`).
POLARS_ALLOCATOR = ("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")


def main() -> None:
    import os

    from nkru.cli.common import install_safe_streams

    # polars' jemalloc keeps freed pages for seconds by default. A validation parses a gigabyte of
    # CSV with polars and hands tables to pyarrow and pandas, whose allocators cannot reuse those
    # pages, so the process would hold both (docs/performance.md). Read by polars when it loads,
    # i.e. after this line; a setting of the user's own wins.
    os.environ.setdefault(*POLARS_ALLOCATOR)
    install_safe_streams()
    try:
        app(standalone_mode=True)
    except SystemExit as done:
        raise SystemExit(_exit_code(done.code)) from None
    except OSError as exc:
        # A file the command had to read or write (an output folder, say) was not usable: a usage
        # problem, not a bug, so no traceback.
        from nkru.cli.common import usage_error

        code = usage_error(f"{getattr(exc, 'filename', None) or ''}: {exc.strerror or exc}".lstrip(": ")).exit_code
        raise SystemExit(code)
    except (RecursionError, MemoryError, Exception) as exc:  # noqa: B014 — a bug must not print a traceback either
        # The promise (README, "Hostile input"): exit 0, 1 or 2 and no traceback, whatever the input.
        # A bug that slips through is one clear line (exit 1); NKRU_DEBUG=1 shows the traceback.
        import os

        if os.environ.get("NKRU_DEBUG"):
            raise
        from rich.markup import escape

        from nkru.cli.common import EXIT_INVALID, stderr

        stderr().print(f"[red]error:[/red] nkru stopped on an internal error ({type(exc).__name__}: {escape(str(exc)[:300])}); "
                       "nothing more was done. Run with NKRU_DEBUG=1 to see where, and please report it.",
                       markup=True, highlight=False, soft_wrap=True)
        raise SystemExit(EXIT_INVALID) from None
    finally:
        # Exempt everything alive now from the interpreter's final garbage collections: after a run
        # that loaded great-expectations they walk ~300,000 objects (0.7 s) only for the OS to
        # reclaim the memory anyway. Atexit handlers and file flushing still run as usual.
        import gc

        gc.freeze()
