"""`nkru export --to FORMAT [--out PATH] [PATH]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nkru.cli.common import EXIT_INVALID, EXIT_VALID, stderr, stdout, usage_error


def command(
    path: Annotated[Path, typer.Argument(help="Package directory (or its datapackage.json).")] = Path("."),
    to: Annotated[str, typer.Option("--to", "-t", help="Format: sqlite, duckdb, parquet, xlsx.")] = ...,  # type: ignore[assignment]
    out: Annotated[Optional[str], typer.Option("--out", "-o", help="Output file, or a folder to put it in (ending in /); for parquet the folder itself. Default: exports/nkru.<format> (exports/nkru-parquet/ for parquet).")] = None,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Refuse a package whose structure does not validate (default: check).")] = True,
) -> None:
    """Export the package typed from its Table Schemas: sqlite (with Datasette metadata), duckdb, parquet or xlsx.

    Exit 0 written, 1 the package cannot be loaded or does not validate, 2 usage error.
    """
    from rich.markup import escape

    from nkru import export as exporter
    from nkru.loader import LoadError
    from nkru.package import PackageError

    if to not in exporter.FORMATS:
        raise usage_error(f"unknown format {to!r} (choose from {', '.join(exporter.FORMATS)})")
    try:
        result = exporter.export(path, to=to, out=out, check=check)
    except (exporter.ExportUsageError, PackageError) as exc:
        raise usage_error(str(exc))  # usage_error escapes the markup itself
    except LoadError as exc:
        stderr().print(f"[red]error:[/red] the package cannot be loaded, nothing exported:\n{escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INVALID)
    except exporter.ExportError as exc:
        stderr().print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INVALID)
    console = stdout()
    total = sum(result.rows.values())
    console.print(f"exported {len(result.rows)} tables, {total} rows to {result.path} ({result.format})", highlight=False, soft_wrap=True, markup=False)
    for name, rows in result.rows.items():
        console.print(f"  {name}: {rows}", highlight=False, markup=False)
    for extra in result.files[1:]:
        if extra.parent != result.path:
            console.print(f"also wrote {extra}", highlight=False, soft_wrap=True, markup=False)
    if result.format == "sqlite":
        console.print(f"open with: datasette {result.path} --metadata {result.files[1]}", highlight=False, soft_wrap=True, markup=False)
    raise typer.Exit(EXIT_VALID)
