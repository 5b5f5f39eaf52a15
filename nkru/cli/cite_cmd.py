"""`nkru cite [PATH] [--format text|bibtex|ris|cff]`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nkru.cli.common import EXIT_VALID, package_argument, stderr, usage_error

#: The formats `nkru.cite.FORMATS` writes (named here so that `nkru --help` imports no citation library).
FORMATS = ("text", "bibtex", "ris", "cff")


def command(
    path: Annotated[Path, package_argument("Package directory (with CITATION.cff).")] = Path("."),
    format: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help=f"Output: {', '.join(FORMATS)} (text is APA-like).")] = "text",
) -> None:
    """Print the recommended citation of the newest release, from CITATION.cff, with the repository URL and DOI it sets.

    Warns on stderr while CITATION.cff sets no repository URL (repository-code).
    Exit 0 printed, 2 usage error (no or unreadable CITATION.cff, unknown format).
    """
    from rich.markup import escape

    from nkru import cite

    if format not in cite.FORMATS:
        raise usage_error(f"unknown format {format!r} (choose from {', '.join(cite.FORMATS)})")
    try:
        citation = cite.load(path)
    except cite.CitationError as exc:
        raise usage_error(str(exc)) from None
    sys.stdout.write(cite.FORMATS[format](citation))
    for warning in citation.warnings:  # on stderr: the citation on stdout stays clean to paste or pipe
        stderr().print(f"[yellow]warning:[/yellow] {escape(warning)}", soft_wrap=True, highlight=False)
    raise typer.Exit(EXIT_VALID)
