"""`nkru validate [PATH]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from validate.cli.common import EXIT_INVALID, EXIT_VALID, split_names, stdout, usage_error


def command(
    path: Annotated[Path, typer.Argument(help="Package directory (or its datapackage.json).")] = Path("."),
    format: Annotated[str, typer.Option("--format", "-f", help="Output: text, json.")] = "text",
    only: Annotated[Optional[list[str]], typer.Option(help="Run only these layers (repeat or comma-separate).")] = None,
    skip: Annotated[Optional[list[str]], typer.Option(help="Skip these layers (repeat or comma-separate).")] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop after the first layer that finds errors.")] = False,
    timings: Annotated[bool, typer.Option("--timings", help="Show the time each layer took.")] = False,
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="Permit remote (http/https) resource paths.")] = False,
) -> None:
    """Validate the package: structure, rules, expectations and source coverage. Exit 0 valid, 1 invalid, 2 usage error."""
    from validate import api, render
    from validate.package import PackageError

    if format not in render.FORMATS:
        raise usage_error(f"unknown format {format!r} (choose from {', '.join(render.FORMATS)})")
    options = api.Options(allow_remote=allow_remote)
    try:
        report = api.validate_package(path, only=split_names(only), skip=split_names(skip), fail_fast=fail_fast, options=options)
    except (PackageError, ValueError) as exc:
        raise usage_error(str(exc))
    render.load(format).render(report, stdout(), timings=timings)
    raise typer.Exit(EXIT_VALID if report.valid else EXIT_INVALID)
