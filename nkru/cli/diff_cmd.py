"""`nkru diff OLD [NEW] [--format text|markdown|json]`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nkru.cli.common import EXIT_VALID, usage_error


def command(
    old: Annotated[str, typer.Argument(help="The old version: a release recorded in releases/ (1.0.0 or v1.0.0; no git tag needed), a package directory, a release zip, or a git ref.")],
    new: Annotated[str, typer.Argument(help="The new version, in the same forms (default: the working tree, '.').")] = ".",
    format: Annotated[str, typer.Option("--format", "-f", help="Output: text, markdown, json.")] = "text",
    repo: Annotated[Path, typer.Option("--repo", help="The package whose releases/ and git history resolve versions and refs (default: the current directory).")] = Path("."),
) -> None:
    """Rows added, removed and changed (old → new per field) and schema changes, per resource, by primary key."""
    from nkru import diff
    from nkru.snapshot import SnapshotError

    if format not in diff.FORMATS:
        raise usage_error(f"unknown format {format!r} (choose from {', '.join(diff.FORMATS)})")
    try:
        result = diff.diff(old, new, root=repo)
    except SnapshotError as exc:
        raise usage_error(str(exc)) from None
    sys.stdout.write(diff.FORMATS[format](result))
    raise typer.Exit(EXIT_VALID)
