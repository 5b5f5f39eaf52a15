"""Helpers shared by CLI commands: consoles and turning usage errors into exit code 2."""

from __future__ import annotations

import codecs
import io
import os
import re
import sys

import typer
from typer.core import TyperCommand
from typer.models import ArgumentInfo
from rich.console import Console
from rich.markup import escape

from nkru.text import escape_controls

EXIT_VALID, EXIT_INVALID, EXIT_USAGE = 0, 1, 2

#: The colour codes rich itself writes to a terminal (and nothing else starting with ESC).
_SGR = re.compile(r"(\x1b\[[0-9;]*m)")


class SafeStream(io.TextIOBase):
    """stdout/stderr that never carry a raw control or bidi character: each is written as a visible
    `\\uXXXX` escape (valid inside JSON strings), line feeds excepted. On a terminal, the colour
    codes rich writes are let through; data reaches rich already escaped (SafeConsole).

    Whatever the data and the locale, what is written can be encoded: a lone surrogate, and any
    character the stream's encoding (the locale's: ASCII under a plain `C` locale without UTF-8
    mode, Latin-1, ...) cannot hold, is written as the same `\\uXXXX` escape (`escape_unencodable`).
    A closed stream (`>&-`) or a reader that went away (`| head -1`) is not an error: what cannot
    be written is discarded and the command still ends with its own exit code."""

    #: standard output failed for another reason than a reader that went away (a full disk): the command
    #: then exits 2 whatever it found (`nkru.cli.main`), since what it wrote is incomplete
    output_lost = False

    def __init__(self, stream):
        self._stream = stream if stream is not None else _devnull()

    def write(self, text: str) -> int:
        if self._stream.isatty() if hasattr(self._stream, "isatty") else False:
            parts = _SGR.split(text)
            safe = "".join(part if index % 2 else escape_controls(part) for index, part in enumerate(parts))
        else:
            safe = escape_controls(text)
        safe = escape_unencodable(safe, getattr(self._stream, "encoding", None) or "utf-8")
        try:
            self._stream.write(safe)
        except (BrokenPipeError, ValueError, OSError) as exc:
            if isinstance(exc, ValueError) and "closed" not in str(exc):
                raise
            self._discard(exc)
        return len(text)

    def _discard(self, exc: BaseException | None = None) -> None:
        """The reader went away or the stream is closed: send this and everything after it nowhere
        (the descriptor too, so that the interpreter's last flush cannot fail either). Any other
        failure (a full disk behind `> file`) is said in one line on stderr: the output is incomplete."""
        if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError) and self is sys.stdout \
                and isinstance(sys.stderr, SafeStream):
            sys.stderr.write(f"error: standard output could not be written ({exc.strerror or exc}); the output is incomplete\n")
            SafeStream.output_lost = True
        try:
            fd = self._stream.fileno()
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            pass
        self._stream = _devnull()

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (BrokenPipeError, ValueError, OSError) as exc:
            self._discard(exc)

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self):
        return getattr(self._stream, "encoding", "utf-8")

    @property
    def errors(self):
        return getattr(self._stream, "errors", "strict")

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _devnull():
    return open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process


_SURROGATE = re.compile("[\ud800-\udfff]")


def escape_unencodable(text: str, encoding: str) -> str:
    """`text` with every lone surrogate, and every character `encoding` cannot hold, as a `\\uXXXX` escape
    (a character beyond U+FFFF as its two UTF-16 escapes, as JSON writes it): valid in a JSON string and
    readable as text. Text that encodes as it is comes back unchanged (the usual case, one check)."""
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode(encoding, "nkru-escape").decode(encoding)
    except LookupError:
        pass
    return text


def _escape_error(exc: UnicodeError):
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = []
    for char in exc.object[exc.start:exc.end]:
        point = ord(char)
        if point > 0xFFFF:
            point -= 0x10000
            out.append(f"\\u{0xD800 + (point >> 10):04x}\\u{0xDC00 + (point & 0x3FF):04x}")
        else:
            out.append(f"\\u{point:04x}")
    return "".join(out), exc.end


codecs.register_error("nkru-escape", _escape_error)


def install_safe_streams() -> None:
    """Route sys.stdout and sys.stderr through SafeStream (once)."""
    if not isinstance(sys.stdout, SafeStream):
        sys.stdout = SafeStream(sys.stdout)
    if not isinstance(sys.stderr, SafeStream):
        sys.stderr = SafeStream(sys.stderr)


class SafeConsole(Console):
    """A rich Console whose text has its control and bidi characters escaped before rich sees them
    (rich would drop some silently and pass the rest, ESC included, to the terminal)."""

    def render_str(self, text: str, **kwargs):
        return super().render_str(escape_controls(text), **kwargs)


def stdout() -> Console:
    """The console for a command's output: the real terminal width on a terminal (rich measures it); when piped,
    lines are never wrapped (soft wrap), so a path or a `file:line` stays on one line for grep and editors."""
    piped = not sys.stdout.isatty()
    return SafeConsole(file=sys.stdout, highlight=False, soft_wrap=piped)


def stderr() -> Console:
    return SafeConsole(file=sys.stderr, highlight=False)


def usage_error(message: str) -> typer.Exit:
    """Print `message` to stderr and return the exit to raise (code 2)."""
    stderr().print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_USAGE)


def split_names(values: list[str] | None) -> list[str] | None:
    """`--only a,b --only c` -> ['a', 'b', 'c']."""
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


# --- One name per concept -----------------------------------------------------------------------------
# Every command spells a shared concept the same way (tests/test_cli_help.py walks every registered
# command and fails on a synonym, a Python type shown as a placeholder or a missing exit code):
#   the package        the last positional argument, PATH, default "." (the current directory)
#   the output         -o/--out FILE|DIR|PATH
#   the output format  -f/--format FORMAT
#   a threshold        --threshold PERCENT
#   "fail if a generated file is stale"   --check
#   "validate the package first"          --validate/--no-validate

#: `-h` works wherever `--help` does.
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

#: The minor version in which the deprecated option names (each module's DEPRECATED) stop working.
DEPRECATED_UNTIL = "1.2"

PACKAGE_HELP = "Package directory (or its datapackage.json)."


def package_argument(help: str = PACKAGE_HELP) -> ArgumentInfo:
    """The package a command acts on: always its last positional argument, PATH, default '.'."""
    return typer.Argument(metavar="PATH", help=help, show_default=True)


def rename_deprecated(args: list[str], aliases: dict[str, str], command: str) -> list[str]:
    """`args` with each deprecated option name (`aliases`: old -> new) replaced by its new name, and one
    line on stderr for each old name used. `--old=value` and, for a short option, `-tvalue` work too;
    nothing after `--` is touched."""
    renamed: list[str] = []
    warned: set[str] = set()
    for index, arg in enumerate(args):
        if arg == "--":
            renamed.extend(args[index:])
            break
        old = new = None
        if arg.startswith("--"):
            name, equals, value = arg.partition("=")
            if name in aliases:
                old, new = name, aliases[name] + equals + value
        elif arg.startswith("-") and len(arg) >= 2 and arg[:2] in aliases:
            old = arg[:2]
            new = aliases[old] + ("=" + arg[2:] if len(arg) > 2 else "")
        if old is None:
            renamed.append(arg)
            continue
        if old not in warned:
            warned.add(old)
            replacement = aliases[old]
            typer.echo(f"{command}: {old} is deprecated and stops working in nkru {DEPRECATED_UNTIL}; use {replacement}.",
                       err=True)
        renamed.append(new)
    return renamed


class Command(TyperCommand):
    """A command whose renamed options (`renamed_options`: old -> new) still work, with a line on stderr, and
    whose help shows plain placeholders: `PATH`, `[PATH]`, `FILE...` (never a Python type such as `<path>` or
    `{version}`), and no hidden argument."""

    renamed_options: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.param_type_name == "argument":
                # typer would add the Python type (`PATH <path>`) to the argument's line in the help.
                param.display_type_rich = lambda ctx=None: None
                param.metavar = param.metavar or param.name.upper()
            elif not getattr(param, "is_flag", False) and not getattr(param, "count", False) and param.metavar is None:
                # typer would show the Python type (`<str>`, `<int>`, `<list[str]>`): name the value instead.
                param.metavar = param.name.upper()

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, rename_deprecated(list(args), self.renamed_options, ctx.command_path))

    def collect_usage_pieces(self, ctx):
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if getattr(param, "hidden", False):
                continue
            if param.param_type_name == "argument":
                name = param.metavar or param.name.upper()
                piece = name if param.required else f"[{name}]"
                pieces.append(piece + ("..." if param.nargs != 1 else ""))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


def command_class(deprecated: dict[str, str]) -> type[Command]:
    """A Command subclass for one command's deprecated option names."""
    return type("Command", (Command,), {"renamed_options": dict(deprecated)})
