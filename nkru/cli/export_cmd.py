"""`nkru export [PATH] --format FORMAT [--out PATH]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nkru.cli.common import EXIT_INVALID, EXIT_VALID, package_argument, stderr, stdout, usage_error

#: The formats `nkru.export.FORMATS` writes (named here so that `nkru --help` imports no exporter).
FORMATS = ("sqlite", "duckdb", "parquet", "xlsx")

#: Old option names that still work until nkru.cli.common.DEPRECATED_UNTIL (with a line on stderr).
DEPRECATED = {"--to": "--format", "-t": "--format", "--check": "--validate", "--no-check": "--no-validate"}


def command(
    path: Annotated[Path, package_argument()] = Path("."),
    format: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help=f"Output: {', '.join(FORMATS)}.")] = ...,  # type: ignore[assignment]
    out: Annotated[Optional[str], typer.Option("--out", "-o", metavar="PATH", help="Output file, or a folder to put it in (ending in /); for parquet the folder itself (default: exports/nkru.FORMAT, exports/nkru-parquet/ for parquet).")] = None,
    validate: Annotated[bool, typer.Option("--validate/--no-validate", help="Validate the package's structure first and refuse it if it does not validate.")] = True,
) -> None:
    """Export the package typed from its Table Schemas: sqlite (with Datasette metadata), duckdb, parquet or xlsx.

    Exit 0 written, 1 the package cannot be loaded or does not validate, 2 usage error (including an install
    without the export extra: pip install 'nkru[export]').
    """
    from rich.markup import escape

    from nkru import export as exporter
    from nkru.loader import LoadError
    from nkru.package import PackageError

    if format not in exporter.FORMATS:
        raise usage_error(f"unknown format {format!r} (choose from {', '.join(exporter.FORMATS)})")
    try:
        result = exporter.export(path, to=format, out=out, check=validate)
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
