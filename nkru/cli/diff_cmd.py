"""`nkru diff OLD [PATH] [--format text|markdown|json]`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nkru.cli.common import EXIT_VALID, package_argument, usage_error

#: The formats `nkru.diff.FORMATS` writes (named here so that `nkru --help` imports no diff library).
FORMATS = ("text", "markdown", "json")


def command(
    old: Annotated[str, typer.Argument(metavar="OLD", help="The old version: a release recorded in releases/ (1.0.0 or v1.0.0; no git tag needed), a package directory, a release zip, or a git ref.")],
    path: Annotated[str, package_argument("The new version, in the same forms (default: the working tree, '.').")] = ".",
    format: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help=f"Output: {', '.join(FORMATS)}.")] = "text",
    repo: Annotated[Path, typer.Option("--repo", metavar="DIR", help="The package whose releases/ and git history resolve versions and refs (default: the current directory).")] = Path("."),
) -> None:
    """Rows added, removed and changed (old → new per field) and schema changes, per resource, by primary key.

    Exit 0 compared (whatever the differences), 2 usage error (a version that cannot be opened, unknown format).
    """
    from nkru import diff
    from nkru.snapshot import SnapshotError

    if format not in diff.FORMATS:
        raise usage_error(f"unknown format {format!r} (choose from {', '.join(diff.FORMATS)})")
    try:
        result = diff.diff(old, path, root=repo)
    except SnapshotError as exc:
        raise usage_error(str(exc)) from None
    sys.stdout.write(diff.FORMATS[format](result))
    raise typer.Exit(EXIT_VALID)
