"""`nkru report [PATH] [--out DIR]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nkru.cli.common import EXIT_VALID, package_argument, split_names, stdout, usage_error

#: The one format the report is written in.
FORMATS = ("html",)

#: Old option names that still work until nkru.cli.common.DEPRECATED_UNTIL (with a line on stderr).
DEPRECATED = {"--no-validation": "--no-validate"}


def command(
    path: Annotated[Path, package_argument()] = Path("."),
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="DIR", help="Directory to write the report into (index.html) (default: report). Replaced only if empty or an earlier report.")] = None,
    extra: Annotated[Optional[list[str]], typer.Argument(hidden=True)] = None,
    format: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help=f"Output: {', '.join(FORMATS)} (one self-contained page).")] = "html",
    skip: Annotated[Optional[list[str]], typer.Option("--skip", metavar="LAYERS", help="Validation layers not to run for the summary, e.g. --skip expectations (repeat or comma-separate).")] = None,
    validate: Annotated[bool, typer.Option("--validate/--no-validate", help="Validate the package for the report's Validation section; --no-validate leaves it out (fastest).")] = True,
    texts: Annotated[bool, typer.Option("--texts", help="Put the full article texts in (a private build: they are their publishers' copyright). Default: each quote in its sentences only, so the page may be published.")] = False,
) -> None:
    """Write a self-contained offline HTML report: timeline, contested facts, actor network, coverage, codebook, validation.

    Without --texts it shows quotes in their context, never the full article texts (as the open release zip).
    Exit 0 written (whether or not the package is valid: the report shows its findings), 2 usage error (including
    an install without the report extra: pip install 'nkru[report]').
    """
    if format not in FORMATS:
        raise usage_error(f"unknown format {format!r} (choose from {', '.join(FORMATS)})")
    from nkru import extras

    try:
        extras.require("report", "nkru report")
    except extras.MissingExtra as exc:
        raise usage_error(str(exc)) from None
    from nkru.package import PackageError
    from nkru.report import ReportError, write_report

    if extra:
        # The old form was `nkru report OUT PATH`; with two positionals we cannot tell which is which.
        raise usage_error(f"nkru report takes one package PATH and the output folder as an option: "
                          f"nkru report PATH --out DIR (got {len(extra) + 1} arguments: {path} {' '.join(extra)})")
    try:
        result = write_report(out, path, validate=validate, skip=split_names(skip), texts=texts)
    except (PackageError, ReportError, ValueError) as exc:
        hint = ""
        if not (path / "datapackage.json").is_file() and not path.name.endswith(".json"):
            hint = f" (nkru report takes the package first; the output folder is --out DIR)"
        raise usage_error(f"{exc}{hint}")
    console = stdout()
    console.print(f"Wrote {result.index} ({result.events} events, {len(result.contested)} contested, "
                  f"{len(result.sources)} sources).", soft_wrap=True, highlight=False)
    if result.validation is not None:
        status = "valid" if result.validation.valid else f"invalid ({len(result.validation.errors)} errors)"
        console.print(f"Package {status}; the report's Validation section lists the findings.", soft_wrap=True, highlight=False)
    if result.texts:
        console.print("The report holds the full article texts (--texts): keep it private, do not publish it.",
                      soft_wrap=True, highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", soft_wrap=True, highlight=False)
    console.print(f"Open {result.index.resolve().as_uri()}", soft_wrap=True, highlight=False)
    raise typer.Exit(EXIT_VALID)
