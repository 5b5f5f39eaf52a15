"""Output formats for a sentence-coverage report (`nkru.coverage.CoverageReport`): text and JSON.

Not registered in `nkru.render.FORMATS` (those render validation reports); `nkru coverage` uses these.
"""

from __future__ import annotations

import json
from typing import Any

FORMATS = ("text", "json")


def render(report: Any, console: Any, format: str = "text") -> None:
    """Write `report` to the rich `console` in `format` (one of FORMATS)."""
    if format == "json":
        console.file.write(render_json(report))
    else:
        render_text(report, console)


def render_json(report: Any) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n"


def render_text(report: Any, console: Any) -> None:
    from rich.markup import escape as rich_escape
    from rich.table import Table

    from nkru.coverage import rounded_down
    from nkru.text import visible

    def escape(value: object) -> str:  # data on one line: control and bidi characters visible, markup inert
        return rich_escape(visible(value))

    if report.problem:
        console.print(f"[red]error:[/red] {escape(report.problem)}", soft_wrap=True, highlight=False)
        console.print(f"\n{escape(report.package)}: coverage [red]failed[/red] — nothing could be measured", highlight=False,
                      soft_wrap=True)
        return
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
        console.print(f"\n[bold]{escape(source.source_id)}[/bold] {escape(source.text_path)}: {len(uncovered)} uncovered", soft_wrap=True)
        for sentence in uncovered:
            console.print(f"  {escape(source.text_path)}:{sentence.line}  {escape(sentence.text)}", soft_wrap=True, highlight=False)
    failing = len(report.failing)
    status = "[green]passed[/green]" if report.passed else f"[red]failed[/red] ({failing} source{'s' if failing != 1 else ''} below)"
    console.print(f"\n{escape(report.package)}: coverage {status} — threshold {report.threshold:g}% per source", highlight=False,
                  soft_wrap=True)
