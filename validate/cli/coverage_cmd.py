"""`nkru coverage [PATH]`: sentence coverage of every source text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from validate.cli.common import EXIT_INVALID, EXIT_VALID, stdout, usage_error

FORMATS = ("text", "json")


def command(
    path: Annotated[Path, typer.Argument(help="Package directory (or its datapackage.json).")] = Path("."),
    format: Annotated[str, typer.Option("--format", "-f", help="Output: text, json.")] = "text",
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Required percentage per source (0-100); "
                                                       "default: [tool.nkru] coverage-threshold in pyproject.toml, else 100.")] = None,
) -> None:
    """Sentence coverage per source: sentences covered by a quote, excluded, uncovered. Exit 1 below the threshold."""
    from validate import api
    from validate.coverage import ThresholdError, coverage_report
    from validate.package import PackageError

    if format not in FORMATS:
        raise usage_error(f"unknown format {format!r} (choose from {', '.join(FORMATS)})")
    try:
        package = api.open_package(path)
        report = coverage_report(package, threshold=threshold)
    except ThresholdError as exc:
        raise usage_error(f"coverage threshold: {exc}" if threshold is not None else str(exc))
    except PackageError as exc:
        raise usage_error(str(exc))
    console = stdout()
    if format == "json":
        console.file.write(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        _render_text(report, console)
    raise typer.Exit(EXIT_VALID if report.passed else EXIT_INVALID)


def _render_text(report, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    from validate.coverage import rounded_down

    table = Table(show_edge=False, box=None, pad_edge=False)
    for column, justify in (("source", "left"), ("sentences", "right"), ("covered", "right"), ("excluded", "right"),
                            ("uncovered", "right"), ("percent", "right")):
        table.add_column(column, justify=justify)
    for source in report.sources:
        ok = source.passes(report.threshold)
        shown = "—" if source.problem else f"{rounded_down(source.percent):.1f}"
        percent = f"[green]{shown}[/green]" if ok else f"[red]{shown}[/red]"
        table.add_row(escape(source.source_id), str(source.total), str(source.covered), str(source.excluded),
                      str(source.uncovered), percent)
    totals = report.totals()
    table.add_row("[bold]all[/bold]", str(totals["sentences"]), str(totals["covered"]), str(totals["excluded"]),
                  str(totals["uncovered"]), f"{rounded_down(totals['percent']):.1f}")
    console.print(table)
    for source in report.sources:
        if source.problem:
            console.print(f"[red]{escape(source.source_id)}[/red]: {escape(source.problem)}", soft_wrap=True)
        uncovered = source.uncovered_sentences()
        if not uncovered:
            continue
        console.print(f"\n[bold]{escape(source.source_id)}[/bold] {escape(source.text_path)}: {len(uncovered)} uncovered")
        for sentence in uncovered:
            console.print(f"  {escape(source.text_path)}:{sentence.line}  {escape(sentence.text)}", soft_wrap=True, highlight=False)
    failing = len(report.failing)
    status = "[green]passed[/green]" if report.passed else f"[red]failed[/red] ({failing} source{'s' if failing != 1 else ''} below)"
    console.print(f"\n{escape(report.package)}: coverage {status} — threshold {report.threshold:g}% per source", highlight=False)
