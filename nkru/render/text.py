"""Human output: findings grouped by resource, one line each, then a summary."""

from __future__ import annotations

from itertools import groupby

from rich.markup import escape
from rich.table import Table

from pathlib import Path

from nkru.findings import Report, sort_findings
from nkru.fsutil import relative_to_repository
from nkru.text import visible


def _shown(value: object) -> str:
    """Data shown on one line: control and bidi characters visible, rich markup inert."""
    return escape(visible(value))


#: The heading of findings about no one table: the descriptor and the metadata files beside it.
PACKAGE_WIDE = "package (datapackage.json and its metadata files)"


def counted(n: int, noun: str) -> str:
    """'1 warning', '2 warnings', '0 errors'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _tally(findings) -> str:
    errors = sum(1 for f in findings if f.severity == "error")
    parts = [counted(errors, "error")] if errors else []
    if len(findings) - errors:
        parts.append(counted(len(findings) - errors, "warning"))
    return ", ".join(parts)


def location(finding, report: Report, base: Path | None = None) -> str:
    """`file:line` as the package names the file, or, with `base`, relative to that folder (a pre-commit hook
    shows paths from the repository root, where it runs)."""
    if base is None or not finding.path:
        return finding.location
    shown = relative_to_repository(Path(report.package) / finding.path, base)
    return f"{shown}:{finding.line}" if finding.line else shown


def render(report: Report, console, *, timings: bool = False, base: Path | None = None, **_: object) -> None:
    def resource(f) -> str:
        # Tables first (by name), findings about the package as a whole last.
        return f"1 {f.resource}" if f.resource else f"2 {PACKAGE_WIDE}"

    # sorted() is stable: by resource, and within one by file, line and code.
    findings = sorted(sort_findings(report.findings), key=resource)
    for name, group in groupby(findings, key=resource):
        items = list(group)
        shown = name[2:] if name.startswith("2 ") else f"table {name[2:]}"
        console.print(f"[bold]{_shown(shown)}[/bold]: {_tally(items)}", soft_wrap=True, highlight=False)
        for f in items:
            colour = "red" if f.severity == "error" else "yellow"
            where = _shown(location(f, report, base))
            detail = []
            if f.row_id:
                detail.append(f"row {_shown(f.row_id)}")
            if f.field:
                detail.append(f"field {_shown(f.field)}")
            extra = f" [dim]({', '.join(detail)})[/dim]" if detail else ""
            console.print(f"  [{colour}]{f.severity}[/{colour}] {where} [cyan]{f.code}[/cyan]{extra}: {_shown(f.message)}",
                          soft_wrap=True, highlight=False)
            if f.hint:
                console.print(f"    [green]hint[/green]: {_shown(f.hint)}", soft_wrap=True, highlight=False)
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
    console.print(f"{_shown(report.package)}: {status} — {counted(report.checks, 'check')}, "
                  f"{counted(len(report.errors), 'error')}, {counted(len(report.findings) - len(report.errors), 'warning')}",
                  highlight=False, soft_wrap=True)
