"""`nkru coverage [PATH]`: sentence coverage of every source text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nkru.cli.common import EXIT_INVALID, EXIT_VALID, stdout, usage_error


def command(
    path: Annotated[Path, typer.Argument(help="Package directory (or its datapackage.json).")] = Path("."),
    format: Annotated[str, typer.Option("--format", "-f", help="Output: text, json.")] = "text",
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Required percentage per source (0-100); "
                                                       "default: [tool.nkru] coverage-threshold in pyproject.toml, else 100.")] = None,
) -> None:
    """Sentence coverage per source: sentences covered by a quote, excluded, uncovered. Exit 1 below the threshold
    or when the sources table cannot be read."""
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
