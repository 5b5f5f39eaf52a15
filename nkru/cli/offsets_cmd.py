"""`nkru offsets [PATH] [--dry-run] [--format text|json]`: fill quote offsets for rows that lack them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from nkru.cli.common import EXIT_INVALID, EXIT_VALID, package_argument, stdout, usage_error

FORMATS = ("text", "json")


def command(
    path: Annotated[Path, package_argument()] = Path("."),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write nothing; only report what would be filled.")] = False,
    format: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help=f"Output: {', '.join(FORMATS)}.")] = "text",
) -> None:
    """Fill quote_start/quote_end (Unicode code points into the archived text, end exclusive) for every row that
    lacks them. A quote found more than once is listed with its candidates and left for you to set by hand; a
    quote not found is listed with the closest passage. Only the offset cells of the CSV files change.

    Exit 0 every row has offsets, 1 a row is left without offsets, 2 usage error.
    """
    from nkru import offsets
    from nkru.package import PackageError

    if format not in FORMATS:
        raise usage_error(f"unknown format {format!r} (choose from {', '.join(FORMATS)})")
    try:
        result = offsets.fill(path, write=not dry_run)
    except (PackageError, offsets.OffsetsError) as exc:
        raise usage_error(str(exc))
    except OSError as exc:  # a planted link, another writer, a full disk or a read-only tree: nothing claimed
        from nkru.fsutil import write_error

        raise usage_error(write_error(exc))
    console = stdout()
    if format == "json":
        console.file.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        _render_text(result, console)
    raise typer.Exit(EXIT_VALID if result.complete else EXIT_INVALID)


def _render_text(result, console) -> None:
    verb = "would fill" if result.dry_run else "filled"
    for row in result.rows:
        where = f"{row.path} line {row.line}: {row.row_id}"
        if row.status == "filled":
            place = row.places[0]
            console.print(f"{verb} {where}: {place.start}-{place.end} (text line {place.line} of {row.source_id})",
                          markup=False, soft_wrap=True)
        elif row.status == "ambiguous":
            console.print(f"ambiguous {where}: {row.detail}:", markup=False, soft_wrap=True)
            for place in row.places:
                console.print(f"  quote_start={place.start} quote_end={place.end} (text line {place.line})",
                              markup=False, soft_wrap=True)
        else:
            console.print(f"not found {where}: {row.detail}", markup=False, soft_wrap=True)
    written = f"; rewrote {', '.join(result.written)}" if result.written else ""
    console.print(f"{len(result.filled)} {verb}, {len(result.unresolved)} left without offsets, "
                  f"{result.kept} already set{written}", markup=False, soft_wrap=True)
