"""Human output: findings grouped by resource, one line each, then a summary."""

from __future__ import annotations

from itertools import groupby

from rich.markup import escape
from rich.table import Table

from nkru.findings import Report, sort_findings


def render(report: Report, console, *, timings: bool = False, **_: object) -> None:
    def resource(f) -> str:
        return f.resource or "(package)"

    # sorted() is stable: by resource, and within one by file, line and code.
    findings = sorted(sort_findings(report.findings), key=resource)
    for name, group in groupby(findings, key=resource):
        items = list(group)
        console.print(f"[bold]{escape(name)}[/bold] ({len(items)})")
        for f in items:
            colour = "red" if f.severity == "error" else "yellow"
            where = escape(f.location)
            detail = []
            if f.row_id:
                detail.append(f"row {escape(f.row_id)}")
            if f.field:
                detail.append(f"field {escape(f.field)}")
            extra = f" [dim]({', '.join(detail)})[/dim]" if detail else ""
            console.print(f"  [{colour}]{f.severity}[/{colour}] {where} [cyan]{f.code}[/cyan]{extra}: {escape(f.message)}",
                          soft_wrap=True, highlight=False)
    if report.layers:
        table = Table(title=None, show_edge=False, box=None, pad_edge=False)
        table.add_column("layer")
        table.add_column("checks", justify="right")
        table.add_column("errors", justify="right")
        table.add_column("warnings", justify="right")
        if timings:
            table.add_column("seconds", justify="right")
        for layer in report.layers:
            cells = [layer.layer, str(layer.checks), str(layer.errors), str(len(layer.findings) - layer.errors)]
            if timings:
                cells.append(f"{layer.seconds:.2f}")
            table.add_row(*cells)
        console.print(table)
    status = "[green]valid[/green]" if report.valid else "[red]invalid[/red]"
    console.print(f"{escape(report.package)}: {status} — {report.checks} checks, {len(report.errors)} errors, "
                  f"{len(report.findings) - len(report.errors)} warnings", highlight=False)
