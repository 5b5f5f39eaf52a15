"""`nkru cite [PATH] [--format text|bibtex|ris|cff]`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nkru.cli.common import EXIT_VALID, usage_error


def command(
    path: Annotated[Path, typer.Argument(help="Package directory (with CITATION.cff).")] = Path("."),
    format: Annotated[str, typer.Option("--format", "-f", help="Output: text (APA-like), bibtex, ris, cff.")] = "text",
) -> None:
    """Print the recommended citation of the current version, from CITATION.cff."""
    from nkru import cite

    if format not in cite.FORMATS:
        raise usage_error(f"unknown format {format!r} (choose from {', '.join(cite.FORMATS)})")
    try:
        citation = cite.load(path)
    except cite.CitationError as exc:
        raise usage_error(str(exc)) from None
    sys.stdout.write(cite.FORMATS[format](citation))
    raise typer.Exit(EXIT_VALID)
