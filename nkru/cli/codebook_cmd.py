"""`nkru codebook [PATH] [--out docs/codebook.md] [--check]`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from nkru.cli.common import EXIT_INVALID, EXIT_VALID, package_argument, stderr, stdout, usage_error


def command(
    path: Annotated[Path, package_argument()] = Path("."),
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="FILE", help="Markdown file to write ('-' for stdout) (default: PATH/docs/codebook.md).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if the file is stale (differs from what the schemas give now).")] = False,
) -> None:
    """Write the codebook (every resource, field, constraint and controlled value) from the Table Schemas.

    Exit 0 written (or up to date), 1 stale or missing with --check, 2 usage error.
    """
    from nkru import codebook
    from nkru.package import Package, PackageError

    try:
        package = Package.open(path)
    except PackageError as exc:
        raise usage_error(str(exc))
    try:
        if out is not None and str(out) == "-":
            sys.stdout.write(codebook.to_markdown(codebook.build(package)))
            raise typer.Exit(EXIT_VALID)
        target = out if out is not None else codebook.default_output(package.root)
        if check:
            state = codebook.check(package, target)
            if state != codebook.OK:
                shown = "is missing" if state == codebook.MISSING else "is out of date"
                stderr().print(f"{target} {shown}: run `nkru codebook` to regenerate it from the schemas.",
                               soft_wrap=True, markup=False)
                raise typer.Exit(EXIT_INVALID)
            stdout().print(f"{target} is up to date.", soft_wrap=True, markup=False)
            raise typer.Exit(EXIT_VALID)
        target, book = codebook.write(package, out)
    except codebook.CodebookError as exc:
        raise usage_error(str(exc))
    except ValueError as exc:  # a malformed "Controlled vocabulary:" list in a schema description
        raise usage_error(f"{package.root}: cannot build the codebook: {exc}")
    fields = sum(len(res.fields) for res in book.resources)
    stdout().print(f"Wrote {target} ({len(book.resources)} resources, {fields} fields).", soft_wrap=True, markup=False)
