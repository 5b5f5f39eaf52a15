"""`nkru release X.Y.Z [PATH] [--dry-run] [--date YYYY-MM-DD] [--out DIR]` and `nkru release --verify X.Y.Z [PATH] [--ref REF]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nkru.cli.common import EXIT_INVALID, EXIT_VALID, package_argument, stderr, stdout, usage_error

#: Old option names that still work until nkru.cli.common.DEPRECATED_UNTIL (with a line on stderr).
DEPRECATED = {"--dist": "--out"}


def command(
    version: Annotated[str, typer.Argument(metavar="VERSION", help="The version to release, X.Y.Z (see docs/releasing.md for which part to bump).")],
    path: Annotated[Path, package_argument()] = Path("."),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change and write nothing.")] = False,
    date: Annotated[Optional[str], typer.Option("--date", metavar="DATE", help="Release date YYYY-MM-DD (default: today, UTC; or the date already in CHANGELOG.md for this version).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="DIR", help="Where to write the zip and SHA256SUMS (default: PATH/dist).")] = None,
    verify: Annotated[bool, typer.Option("--verify", help="Rebuild release X.Y.Z from the git tree and compare it with releases/X.Y.Z.json; with --out, write the verified zip and SHA256SUMS there.")] = False,
    ref: Annotated[Optional[str], typer.Option("--ref", metavar="REF", help="With --verify: the commit to rebuild from (default: tag vX.Y.Z, else the commit that added releases/X.Y.Z.json, else HEAD).")] = None,
    notes: Annotated[Optional[Path], typer.Option("--notes", metavar="FILE", help="With --verify: write the CHANGELOG section of X.Y.Z to this file (release notes).")] = None,
) -> None:
    """Release the package as X.Y.Z: validate, write the CHANGELOG section, bump the metadata, write releases/X.Y.Z.json, build dist/nkru-X.Y.Z.zip.

    Exit 0 released (or dry run shown, or verified), 1 refused or not reproduced, 2 usage error. Creates no git tag and pushes nothing.
    """
    from rich.markup import escape

    from nkru import release
    from nkru.package import PackageError

    if verify:
        _verify(version, path, ref=ref, dist=out, notes=notes)
    if ref is not None or notes is not None:
        raise usage_error("--ref and --notes go with --verify")
    try:
        plan = release.plan_release(path, version, date=date, dist=out)
    except (PackageError, ValueError) as exc:
        raise usage_error(str(exc)) from None
    out = stdout()
    if plan.recovered:
        out.print(f"Recovered: {escape(plan.recovered)}", soft_wrap=True)
    if not plan.ok:
        err = stderr()
        err.print(f"[red]refused:[/red] nkru release {escape(plan.version)} ({escape(str(plan.root))})", soft_wrap=True)
        for reason in plan.refusals:
            err.print(f"  - {escape(reason)}", soft_wrap=True, highlight=False)
        raise typer.Exit(EXIT_INVALID)

    previous = f"{plan.previous[0]} ({plan.previous[1]})" if plan.previous else "none (first release)"
    head = "Dry run: would release" if dry_run else "Released"
    out.print(f"{head} nkru {plan.version} ({plan.date}) from {escape(str(plan.root))}; previous release: {previous}", soft_wrap=True)
    if plan.previous:
        bump = plan.required_bump or "none (no changes)"
        out.print(f"  changes since {plan.previous[0]} need: {bump}" + (f" ({escape('; '.join(plan.bump_reasons))})" if plan.bump_reasons else ""),
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


def _verify(version: str, path: Path, *, ref: Optional[str], dist: Optional[Path], notes: Optional[Path]) -> None:
    from rich.markup import escape

    from nkru import release
    from nkru.fsutil import atomic_write_text
    from nkru.package import PackageError

    try:
        result = release.verify_release(path, version, ref=ref)
        text = release.release_notes(Path(path), version) if notes is not None else None
    except (PackageError, ValueError, OSError) as exc:
        raise usage_error(str(exc)) from None
    if not result.ok:
        err = stderr()
        err.print(f"[red]not reproduced:[/red] nkru {escape(version)} rebuilt from {result.commit[:12]} differs from "
                  f"{escape(result.manifest)}:", soft_wrap=True)
        for problem in result.problems:
            err.print(f"  - {escape(problem)}", soft_wrap=True, highlight=False)
        raise typer.Exit(EXIT_INVALID)
    out = stdout()
    out.print(f"Verified: nkru {escape(version)} rebuilt from {result.commit[:12]} matches {escape(result.manifest)} "
              f"({result.checked} checksums; sha256 {result.build.zip_sha256}  {result.build.zip_name})", soft_wrap=True)
    try:
        if dist is not None:
            for written in release.write_verified(result, dist):
                out.print(f"  wrote {escape(str(written))}", soft_wrap=True)
        if notes is not None:
            atomic_write_text(notes, text)
            out.print(f"  wrote {escape(str(notes))}", soft_wrap=True)
    except OSError as exc:
        raise usage_error(f"cannot write: {exc}") from None
    raise typer.Exit(EXIT_VALID)
