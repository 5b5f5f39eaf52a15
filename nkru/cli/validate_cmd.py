"""`nkru validate [PATH]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nkru import render
from nkru.cli.common import DEPRECATED_UNTIL, EXIT_INVALID, EXIT_VALID, package_argument, split_names, stdout, usage_error
from nkru.layers import LAYERS


#: Old option names that still work until nkru.cli.common.DEPRECATED_UNTIL (with a line on stderr).
DEPRECATED = {"--data-docs": "--out", "--coverage-threshold": "--threshold"}


def command(
    path: Annotated[Path, package_argument("Package directory (or its datapackage.json), or a release zip.")] = Path("."),
    format: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help=f"Output: {', '.join(render.FORMATS)}.")] = "text",
    only: Annotated[Optional[list[str]], typer.Option("--only", metavar="LAYERS", help=f"Run only these layers ({', '.join(LAYERS)}; repeat or comma-separate).")] = None,
    skip: Annotated[Optional[list[str]], typer.Option("--skip", metavar="LAYERS", help="Skip these layers (repeat or comma-separate).")] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop after the first layer that finds errors.")] = False,
    timings: Annotated[bool, typer.Option("--timings", help="Show the time each layer took.")] = False,
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="Permit remote (http/https) resource paths.")] = False,
    baseline: Annotated[Optional[Path], typer.Option("--baseline", metavar="RELEASE", help="The previous release to check stable IDs and row counts against: a release recorded in releases/ (1.0.0 or v1.0.0; no git tag needed), a release zip, a package directory or a git ref (default: the newest releases/X.Y.Z.json).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="DIR", help="Build the great-expectations Data Docs site into DIR (needs the expectations layer; DIR must be empty, new or an earlier site).")] = None,
    texts: Annotated[Optional[Path], typer.Option("--texts", metavar="DIR", help="For an open release zip (which leaves the article texts out): the folder holding the texts, matched by the SHA-256 in sources.csv, so that every check runs.")] = None,
    in_process: Annotated[bool, typer.Option("--in-process", hidden=True, help="Deprecated, does nothing: great-expectations always runs in this process.")] = False,
    threshold: Annotated[Optional[float], typer.Option("--threshold", metavar="PERCENT", help="Sentence coverage each source must reach, 0-100 (default: [tool.nkru] coverage-threshold in pyproject.toml, else 100).")] = None,
) -> None:
    """Validate the package: structure, rules, expectations, source coverage and release metadata. Exit 0 valid, 1 invalid, 2 usage error."""
    from nkru import api
    from nkru.package import PackageError

    if in_process:  # nkru 1.1's switch off the great-expectations worker, which is gone
        typer.echo(f"validate: --in-process is deprecated and does nothing (everything runs in one process); it stops "
                   f"working in nkru {DEPRECATED_UNTIL}.", err=True)
    if format not in render.FORMATS:
        raise usage_error(f"unknown format {format!r} (choose from {', '.join(render.FORMATS)})")
    options = api.Options(allow_remote=allow_remote, data_docs=out, baseline=baseline,
                          coverage_threshold=threshold, texts=texts)
    try:
        report = api.validate_package(path, only=split_names(only), skip=split_names(skip), fail_fast=fail_fast, options=options)
    except (PackageError, ValueError) as exc:
        raise usage_error(str(exc))
    render.load(format).render(report, stdout(), timings=timings)
    raise typer.Exit(EXIT_VALID if report.valid else EXIT_INVALID)
