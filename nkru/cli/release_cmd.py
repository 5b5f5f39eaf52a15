"""`nkru release X.Y.Z [PATH] [--dry-run] [--date YYYY-MM-DD] [--dist DIR]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nkru.cli.common import EXIT_INVALID, EXIT_VALID, stderr, stdout, usage_error


def command(
    version: Annotated[str, typer.Argument(help="The version to release, X.Y.Z (see docs/releasing.md for which part to bump).")],
    path: Annotated[Path, typer.Argument(help="Package directory (or its datapackage.json).")] = Path("."),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change and write nothing.")] = False,
    date: Annotated[Optional[str], typer.Option("--date", help="Release date YYYY-MM-DD (default: today, UTC; or the date already in CHANGELOG.md for this version).")] = None,
    dist: Annotated[Optional[Path], typer.Option("--dist", help="Where to write the zip and SHA256SUMS (default: PATH/dist).")] = None,
) -> None:
    """Release the package as X.Y.Z: validate, write the CHANGELOG section, bump the metadata, build dist/nkru-X.Y.Z.zip.

    Exit 0 released (or dry run shown), 1 refused, 2 usage error. Creates no git tag and pushes nothing.
    """
    from rich.markup import escape

    from nkru import release
    from nkru.package import PackageError

    try:
        plan = release.plan_release(path, version, date=date, dist=dist)
    except (PackageError, ValueError) as exc:
        raise usage_error(str(exc)) from None
    out = stdout()
    if not plan.ok:
        err = stderr()
        err.print(f"[red]refused:[/red] nkru release {escape(plan.version)} ({escape(str(plan.root))})", soft_wrap=True)
        for reason in plan.refusals:
            err.print(f"  - {escape(reason)}", soft_wrap=True, highlight=False)
        raise typer.Exit(EXIT_INVALID)

    previous = plan.previous[1] if plan.previous else "none (first release)"
    head = "Dry run: would release" if dry_run else "Released"
    out.print(f"{head} nkru {plan.version} ({plan.date}) from {escape(str(plan.root))}; previous release: {previous}", soft_wrap=True)
    if plan.previous:
        bump = plan.required_bump or "none (no changes)"
        out.print(f"  changes since {plan.previous[1]} need: {bump}" + (f" ({escape('; '.join(plan.bump_reasons))})" if plan.bump_reasons else ""),
                  soft_wrap=True)
    if plan.edits:
        verb = "would update" if dry_run else "updated"
        out.print(f"  {verb}: {', '.join(e.path for e in plan.edits)}", soft_wrap=True)
        if dry_run:
            for edit in plan.edits:
                out.file.write(edit.unified_diff())
    else:
        out.print("  metadata already at this version and date: no file changes", soft_wrap=True)
    verb = "would build" if dry_run else "built"
    out.print(f"  {verb} {escape(str(plan.zip_path))} ({len(plan.zip_bytes)} bytes, {len(plan.members)} files)", soft_wrap=True)
    if dry_run:
        for member in plan.members:
            out.print(f"      {member.size:>9}  {escape(member.name)}", soft_wrap=True, highlight=False)
    out.print(f"  sha256 {plan.zip_sha256}  {plan.zip_name}" + ("" if dry_run else f" (in {escape(str(plan.sums_path))})"), soft_wrap=True)
    if dry_run:
        out.print("Nothing was written.")
        raise typer.Exit(EXIT_VALID)
    try:
        release.write_release(plan)
    except OSError as exc:
        raise usage_error(f"cannot write the release: {exc}") from None
    out.print("Next, commit, tag and publish (not done for you):", soft_wrap=True)
    for line in plan.git_commands():
        out.print(f"  {escape(line)}", soft_wrap=True, highlight=False)
    raise typer.Exit(EXIT_VALID)
