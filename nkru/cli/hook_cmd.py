"""`nkru hook FILE...`: the pre-commit hook (see .pre-commit-hooks.yaml): validate every package holding a FILE."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nkru.cli.common import EXIT_INVALID, EXIT_VALID, split_names, stdout, usage_error

#: The outputs the hook writes: text (paths from the repository root, for the terminal and editors) or GitHub
#: annotations (a pre-commit run in a GitHub workflow).
FORMATS = ("text", "github")


def command(
    files: Annotated[Optional[list[Path]], typer.Argument(metavar="FILE", help="Changed files (pre-commit passes them); every package holding one is validated.")] = None,
    format: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help=f"Output: {', '.join(FORMATS)}. Files are named from the current directory: the repository's root, where pre-commit runs.")] = "text",
    skip: Annotated[Optional[list[str]], typer.Option("--skip", metavar="LAYERS", help="Layers to skip (repeat or comma-separate). Default: expectations, the slowest, "
                                                        "which repeats the structure layer's checks; pass --skip '' to run every layer.")] = None,
    only: Annotated[Optional[list[str]], typer.Option("--only", metavar="LAYERS", help="Run only these layers (repeat or comma-separate).")] = None,
) -> None:
    """Validate the packages that hold the changed FILES (fast: the expectations layer is skipped by default).

    Exit 0 when every such package is valid (or no file is in a package), 1 when one is not, 2 usage error.
    """
    from nkru import api, render
    from nkru.package import PackageError

    if format not in FORMATS:
        raise usage_error(f"unknown format {format!r} (choose from {', '.join(FORMATS)})")
    roots = api.package_roots(files or [])
    skipped = split_names(skip) if skip is not None else (None if only else ["expectations"])
    console = stdout()
    valid = True
    for root in roots:
        try:
            report = api.validate_package(root, only=split_names(only), skip=skipped)
        except (PackageError, ValueError) as exc:
            raise usage_error(str(exc))
        # pre-commit runs at the repository's root (and passes files relative to it): name files from there,
        # not from the package's folder.
        render.load(format).render(report, console, base=Path.cwd())
        valid = valid and report.valid
    raise typer.Exit(EXIT_VALID if valid else EXIT_INVALID)
