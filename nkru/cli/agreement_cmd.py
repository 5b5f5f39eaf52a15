"""`nkru agreement [PATH] [--coding DIR] [--format text|markdown|json]`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from nkru.cli.common import EXIT_VALID, usage_error


def command(
    path: Annotated[Path, typer.Argument(help="Package directory.")] = Path("."),
    coding: Annotated[Optional[Path], typer.Option("--coding", metavar="DIR", help="Folder of the second coding (units.csv, "
                                                   "actors.csv, actor_map.csv) [default: PATH/reliability/coder2].")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="Output: text, markdown (the tables of docs/reliability.md) or json (the library's result).")] = "text",
    bootstrap: Annotated[int, typer.Option("--bootstrap", metavar="N", help="Bootstrap resamples for the 95% intervals (0: none).")] = 1000,
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Seed of the bootstrap, so the figures recompute exactly.")] = 0,
    details: Annotated[bool, typer.Option("--details", help="Text output: list every disagreement and unaligned unit.")] = False,
) -> None:
    """Inter-coder agreement of the package's claims and denials with a second coding: unit recall both ways
    and Krippendorff's alpha per variable with bootstrap intervals (docs/reliability.md).

    Exit 0 computed, 2 usage error (a coding or package that cannot be read: the message names file, line,
    field and value; an unknown format).
    """
    from nkru import agreement
    from nkru.loader import LoadError

    if format not in agreement.FORMATS:
        raise usage_error(f"unknown format {format!r} (choose from {', '.join(agreement.FORMATS)})")
    try:
        result = agreement.agreement(path, coding, bootstrap=bootstrap, seed=seed)
    except (agreement.AgreementError, LoadError) as exc:
        raise usage_error(str(exc)) from None
    out = agreement.to_text(result, details=details) if format == "text" else agreement.FORMATS[format](result)
    sys.stdout.write(out)
    raise typer.Exit(EXIT_VALID)
