"""`nkru coverage [PATH]`: sentence coverage of every source text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nkru.cli.common import EXIT_INVALID, EXIT_VALID, package_argument, stdout, usage_error
from nkru.render.coverage import FORMATS


def command(
    path: Annotated[Path, package_argument()] = Path("."),
    format: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help=f"Output: {', '.join(FORMATS)}.")] = "text",
    threshold: Annotated[Optional[float], typer.Option("--threshold", metavar="PERCENT", help="Sentence coverage each source must reach, 0-100 "
                                                       "(default: [tool.nkru] coverage-threshold in pyproject.toml, else 100).")] = None,
) -> None:
    """Sentence coverage per source: sentences covered by a quote, excluded, uncovered.

    Exit 0 every source reaches the threshold, 1 one is below it or the sources table cannot be read, 2 usage error.
    """
    from nkru import api
    from nkru.coverage import ThresholdError
    from nkru.package import PackageError
    from nkru.render import coverage as render_coverage

    if format not in render_coverage.FORMATS:
        raise usage_error(f"unknown format {format!r} (choose from {', '.join(render_coverage.FORMATS)})")
    try:
        report = api.coverage(path, threshold=threshold)
    except ThresholdError as exc:
        raise usage_error(f"coverage threshold: {exc}" if threshold is not None else str(exc))
    except PackageError as exc:
        raise usage_error(str(exc))
    render_coverage.render(report, stdout(), format)
    raise typer.Exit(EXIT_VALID if report.passed else EXIT_INVALID)
