"""`nkru code SOURCE [PATH] [--out FILE] [--force]` writes a coding sheet; `--apply SHEET [--dry-run]` applies it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from nkru.cli.common import EXIT_INVALID, EXIT_VALID, package_argument, stdout, usage_error

FORMATS = ("text", "json")


def command(
    source: Annotated[str, typer.Argument(metavar="SOURCE", help="The source to code, e.g. S006.")],
    path: Annotated[Path, package_argument()] = Path("."),
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="FILE", help="Where to write the sheet (default: PATH/coding/SOURCE.csv).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Write the sheet over an existing file.")] = False,
    apply: Annotated[Optional[Path], typer.Option("--apply", metavar="SHEET", help="Check the filled sheet and append its rows to the tables (all or nothing).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --apply: check the sheet, write nothing.")] = False,
    format: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help=f"Output: {', '.join(FORMATS)} (of --apply).")] = "text",
) -> None:
    """Write a coding sheet (CSV) of the units of SOURCE that nothing covers yet, or apply a filled one.

    Mark each row claim, denial or exclusion and fill its fields; add actors, events and event_actors as rows
    of their own (docs/curation.md, 'The coding sheet'). --apply checks the sheet and the package it would
    make, and only then writes every row, with quotes and offsets taken from the archived text. Exit 0
    written or applied, 1 the sheet has errors (nothing written), 2 usage error.
    """
    from nkru import sheet

    if format not in FORMATS:
        raise usage_error(f"unknown format {format!r} (choose from {', '.join(FORMATS)})")
    if apply is None and dry_run:
        raise usage_error("--dry-run goes with --apply SHEET")
    if apply is not None and (out is not None or force):
        raise usage_error("--out and --force write a new sheet; they do not go with --apply")
    console = stdout()
    if apply is None:
        try:
            written = sheet.write_sheet(path, source, out, force=force)
        except sheet.SheetError as exc:
            raise usage_error(str(exc))
        if written.units == 0:
            console.print(f"{source}: every unit is covered already; no sheet written", markup=False, soft_wrap=True,
                          highlight=False)
        else:
            console.print(f"Wrote {written.path}: {written.units} unit{'s' if written.units != 1 else ''} of {source} to "
                          f"code. Mark each claim, denial or exclusion, fill its fields, then run\n"
                          f"  nkru code {source} --apply {written.path}", markup=False, soft_wrap=True, highlight=False)
        raise typer.Exit(EXIT_VALID)
    if not apply.is_file():
        raise usage_error(f"{apply}: no such file")
    try:
        result = sheet.apply_sheet(path, source, apply, dry_run=dry_run)
    except sheet.SheetError as exc:
        raise usage_error(str(exc))
    if format == "json":
        console.file.write(json.dumps({"sheet": result.sheet, "source_id": result.source_id, "applied": result.ok and not dry_run,
                                       "dry_run": dry_run, "added": result.added if result.ok else {},
                                       "written": result.written,
                                       "findings": [f.to_dict() for f in result.findings]},
                                      ensure_ascii=False, indent=2) + "\n")
    else:
        _render_text(result, console)
    raise typer.Exit(EXIT_VALID if result.ok else EXIT_INVALID)


def _render_text(result, console) -> None:
    from rich.markup import escape

    from nkru.findings import sort_findings
    from nkru.text import visible

    def shown(value: object) -> str:
        return escape(visible(value))

    for f in sort_findings(result.findings):
        colour = "red" if f.severity == "error" else "yellow"
        field = f" [dim](field {shown(f.field)})[/dim]" if f.field else ""
        console.print(f"[{colour}]{f.severity}[/{colour}] {shown(f.location)} [cyan]{f.code}[/cyan]{field}: {shown(f.message)}",
                      soft_wrap=True, highlight=False)
        if f.hint:
            console.print(f"  [green]hint[/green]: {shown(f.hint)}", soft_wrap=True, highlight=False)
    added = ", ".join(f"{resource} {_span(ids)}" for resource, ids in result.added.items())
    if not result.ok:
        errors = len(result.errors)
        console.print(f"{shown(result.sheet)}: {errors} error{'s' if errors != 1 else ''}; nothing written",
                      soft_wrap=True, highlight=False)
    elif result.dry_run:
        console.print(f"{shown(result.sheet)}: clean; would add {shown(added)} (nothing written)", soft_wrap=True, highlight=False)
    else:
        console.print(f"Applied {shown(result.sheet)}: added {shown(added)} ({shown(', '.join(result.written))}). "
                      "Run `nkru validate` before you commit.", soft_wrap=True, highlight=False)


def _span(ids: list[str]) -> str:
    return ", ".join(ids) if len(ids) <= 4 else f"{ids[0]} … {ids[-1]} ({len(ids)})"
