"""`nkru release X.Y.Z [PATH] [--dry-run] [--date YYYY-MM-DD] [--out DIR]`, `nkru release --verify X.Y.Z [PATH] [--ref REF]`
and `nkru release --verify nkru-X.Y.Z.zip [PATH] [--manifest FILE]`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Optional

import typer

from nkru.cli.common import EXIT_INVALID, EXIT_VALID, package_argument, stderr, stdout, usage_error

#: Old option names that still work until nkru.cli.common.DEPRECATED_UNTIL (with a line on stderr).
DEPRECATED = {"--dist": "--out"}


def command(
    version: Annotated[str, typer.Argument(metavar="VERSION", help="The version to release, X.Y.Z (see docs/releasing.md for which part to bump); X.Y.Z-dev sets the development version; with --verify, a version or a downloaded nkru-X.Y.Z.zip.")],
    path: Annotated[Path, package_argument()] = Path("."),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change and write nothing.")] = False,
    date: Annotated[Optional[str], typer.Option("--date", metavar="DATE", help="Release date YYYY-MM-DD (default: today, UTC; or the date already in CHANGELOG.md for this version).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="DIR", help="Where to write the zip and SHA256SUMS (default: PATH/dist).")] = None,
    verify: Annotated[bool, typer.Option("--verify", help="Rebuild release X.Y.Z from its commit and compare it with releases/X.Y.Z.json (without the history: say so and list which files still match); with --out, write the verified zip and SHA256SUMS there. Given a zip: check it and every member against the manifest, without git.")] = False,
    ref: Annotated[Optional[str], typer.Option("--ref", metavar="REF", help="With --verify X.Y.Z: the commit to rebuild from (default: tag vX.Y.Z, else the release commit on top of the commit the manifest records; for 1.0.0, the commit that added releases/1.0.0.json). Never HEAD unless given.")] = None,
    manifest: Annotated[Optional[Path], typer.Option("--manifest", metavar="FILE", help="With --verify ZIP: the manifest to check against (default: nkru-X.Y.Z.manifest.json beside the zip, else PATH/releases/X.Y.Z.json).")] = None,
    notes: Annotated[Optional[Path], typer.Option("--notes", metavar="FILE", help="With --verify: write the CHANGELOG section of X.Y.Z to this file (release notes).")] = None,
) -> None:
    """Release the package as X.Y.Z: validate, write the CHANGELOG section, bump the metadata, write releases/X.Y.Z.json, build dist/nkru-X.Y.Z.zip.

    `nkru release X.Y.Z-dev` sets the development version after a release (datapackage.json and the codebook).
    `--verify X.Y.Z` rebuilds a release from its commit; `--verify nkru-X.Y.Z.zip` checks a downloaded zip.
    Exit 0 released (or dry run shown, or verified), 1 refused, not reproduced or not verifiable here, 2 usage error.
    Creates no git tag and pushes nothing.
    """
    from rich.markup import escape

    from nkru import release
    from nkru.package import PackageError

    if verify:
        if release.is_zip_target(version):
            if ref is not None or out is not None or notes is not None:
                raise usage_error("--ref, --out and --notes go with --verify X.Y.Z, not with a zip")
            _verify_zip(Path(version), path, manifest)
        _verify(version, path, ref=ref, dist=out, notes=notes)
    if ref is not None or notes is not None or manifest is not None:
        raise usage_error("--ref, --notes and --manifest go with --verify")
    if version.endswith("-dev"):
        _development(version, path, dry_run)
    from nkru.fsutil import package_lock, write_error

    from nkru.package import Package

    try:
        root = Package.open(path).root
    except PackageError as exc:
        raise usage_error(str(exc)) from None
    try:
        # One writer at a time: the lock is held from the plan (which completes an interrupted release) to the
        # last write. A dry run takes no lock and writes nothing, not even a recovery.
        with (contextlib.nullcontext() if dry_run else package_lock(root)):
            plan = release.plan_release(path, version, date=date, dist=out, dry_run=dry_run)
            lines = _release_lines(plan, dry_run)
            if plan.ok and not dry_run:
                release.write_release(plan)  # durable (fsynced, renamed, journal removed) when it returns
    except (PackageError, ValueError) as exc:
        raise usage_error(str(exc)) from None
    except OSError as exc:  # a planted link, another writer, a full disk, a read-only tree: nothing claimed
        raise usage_error(f"cannot write the release: {write_error(exc)}") from None
    out = stdout()
    if plan.recovered:
        out.print(f"Recovered: {escape(plan.recovered)}", soft_wrap=True)
    if plan.recovery_pending:
        out.print(f"Recovery pending (not applied by a dry run): {escape(plan.recovery_pending)}", soft_wrap=True)
    if not plan.ok:
        err = stderr()
        err.print(f"[red]refused:[/red] nkru release {escape(plan.version)} ({escape(str(plan.root))})", soft_wrap=True)
        for reason in plan.refusals:
            err.print(f"  - {escape(reason)}", soft_wrap=True, highlight=False)
        raise typer.Exit(EXIT_INVALID)
    for line in lines:
        if isinstance(line, tuple):
            out.file.write(line[0])
        else:
            out.print(line, soft_wrap=True, highlight=False)
    if dry_run:
        out.print("Nothing was written.")
        raise typer.Exit(EXIT_VALID)
    out.print("Next, commit, tag and publish (not done for you):", soft_wrap=True)
    for line in plan.git_commands():
        out.print(f"  {escape(line)}", soft_wrap=True, highlight=False)
    raise typer.Exit(EXIT_VALID)


def _release_lines(plan, dry_run: bool) -> list:
    """What `nkru release` prints about a plan (rich markup; a tuple holds raw text, a diff): shown only once
    the release is written (or, for a dry run, at once)."""
    from rich.markup import escape

    lines: list = []
    if not plan.ok:
        return lines
    previous = f"{plan.previous[0]} ({plan.previous[1]})" if plan.previous else "none (first release)"
    head = "Dry run: would release" if dry_run else "Released"
    lines.append(f"{head} nkru {plan.version} ({plan.date}) from {escape(str(plan.root))}; previous release: {previous}")
    if plan.previous:
        bump = plan.required_bump or "none (no changes)"
        lines.append(f"  changes since {plan.previous[0]} need: {bump}" + (f" ({escape('; '.join(plan.bump_reasons))})" if plan.bump_reasons else ""))
    if plan.edits:
        verb = "would update" if dry_run else "updated"
        lines.append(f"  {verb}: {', '.join(e.path for e in plan.edits)}")
        if dry_run:
            lines.extend((edit.unified_diff(),) for edit in plan.edits)
    else:
        lines.append("  metadata already at this version and date: no file changes")
    verb = "would build" if dry_run else "built"
    lines.append(f"  {verb} {escape(str(plan.zip_path))} ({len(plan.zip_bytes)} bytes, {len(plan.members)} files)")
    if dry_run:
        lines.extend(f"      {member.size:>9}  {escape(member.name)}" for member in plan.members)
    lines.append(f"  sha256 {plan.zip_sha256}  {plan.zip_name}" + ("" if dry_run else f" (in {escape(str(plan.sums_path))})"))
    return lines


def _verify(version: str, path: Path, *, ref: Optional[str], dist: Optional[Path], notes: Optional[Path]) -> None:
    from rich.markup import escape

    from nkru import release
    from nkru.transaction import atomic_write_text
    from nkru.package import PackageError

    try:
        result = release.verify_release(path, version, ref=ref)
        text = release.release_notes(Path(path), version) if notes is not None else None
    except (PackageError, ValueError, OSError) as exc:
        raise usage_error(str(exc)) from None
    for note in result.notes:
        stdout().print(f"note: {escape(note)}", soft_wrap=True, highlight=False)
    if result.history_missing is not None:
        _history_missing(result)
    if not result.ok:
        _refuse(f"[red]not reproduced:[/red] nkru {escape(version)} rebuilt from {result.commit[:12]} differs from "
                f"{escape(result.manifest)}:", result.problems)
    out = stdout()
    out.print(f"Verified: nkru {escape(version)} rebuilt from {result.commit[:12]} matches {escape(result.manifest)} "
              f"({result.checked} checksums; sha256 {result.build.zip_sha256}  {result.build.zip_name})", soft_wrap=True)
    try:
        if dist is not None:
            for written in release.write_verified(result, dist):
                out.print(f"  wrote {escape(str(written))}", soft_wrap=True)
        if notes is not None:
            from nkru.fsutil import confine

            confine(notes, Path.cwd(), named=notes)  # a parent of --notes inside the checkout that is a link
            atomic_write_text(notes, text, named=notes)
            out.print(f"  wrote {escape(str(notes))}", soft_wrap=True)
    except OSError as exc:
        from nkru.fsutil import write_error

        raise usage_error(f"cannot write: {write_error(exc)}") from None
    raise typer.Exit(EXIT_VALID)


def _development(version: str, path: Path, dry_run: bool) -> None:
    """`nkru release X.Y.Z-dev`: after a release, mark the working tree as development towards X.Y.Z."""
    from rich.markup import escape

    from nkru import release
    from nkru.package import PackageError

    root = path.parent if path.name == "datapackage.json" else path
    try:
        edits = release.plan_development(root, version)
    except (PackageError, ValueError) as exc:
        raise usage_error(str(exc)) from None
    out = stdout()
    if not edits:
        out.print(f"Already at development version {escape(version)}: no file changes", soft_wrap=True)
        raise typer.Exit(EXIT_VALID)
    if dry_run:
        out.print(f"Dry run: would set the development version {escape(version)} in {', '.join(e.path for e in edits)}", soft_wrap=True)
        for edit in edits:
            out.file.write(edit.unified_diff())
        out.print("Nothing was written.")
        raise typer.Exit(EXIT_VALID)
    try:
        release.write_edits(root, edits)
    except OSError as exc:
        from nkru.fsutil import write_error

        raise usage_error(f"cannot write: {write_error(exc)}") from None
    out.print(f"Development version {escape(version)}: updated {', '.join(e.path for e in edits)} (commit them)", soft_wrap=True)
    raise typer.Exit(EXIT_VALID)


def _history_missing(result) -> None:
    """No rebuild: say why, and which files of the working tree still match the release and which changed since."""
    from rich.markup import escape

    err = stderr()
    err.print(f"[yellow]cannot rebuild:[/yellow] nkru {escape(result.version)}: {escape(result.history_missing)}",
              soft_wrap=True, highlight=False)
    same, changed, missing = result.matching("same"), result.matching("changed"), result.matching("missing")
    err.print(f"  Compared with the files here instead (not a verification of the release): {len(same)} of "
              f"{len(result.files)} match {escape(result.manifest)}.", soft_wrap=True, highlight=False)
    data = [f for f in same if f.path.startswith(("data/", "schemas/"))]
    if data:
        err.print(f"  identical to the release: {len(data)} data and schema files"
                  + (f" and {len(same) - len(data)} more" if len(same) > len(data) else ""), soft_wrap=True, highlight=False)
    elif same:
        err.print(f"  identical to the release: {escape(', '.join(f.path for f in same))}", soft_wrap=True, highlight=False)
    if changed:
        err.print(f"  changed since the release: {escape(', '.join(f.path for f in changed))}", soft_wrap=True, highlight=False)
    if missing:
        err.print(f"  missing here: {escape(', '.join(f.path for f in missing))}", soft_wrap=True, highlight=False)
    err.print(f"  A downloaded zip is checked without the history: nkru release --verify nkru-{escape(result.version)}.zip",
              soft_wrap=True, highlight=False)
    raise typer.Exit(EXIT_INVALID)


def _verify_zip(zip_path: Path, path: Path, manifest: Optional[Path]) -> None:
    from rich.markup import escape

    from nkru import release

    root = path.parent if path.name == "datapackage.json" else path
    try:
        found = release.find_zip_manifest(zip_path, root, manifest)
        result = release.verify_zip(zip_path, found)
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    if not result.ok:
        _refuse(f"[red]not the release:[/red] {escape(str(zip_path))} differs from {escape(result.manifest)} "
                f"(nkru {escape(result.version)}):", result.problems)
    stdout().print(f"Verified: {escape(str(zip_path))} is nkru {escape(result.version)} as {escape(result.manifest)} records it "
                   f"({result.checked} checksums: the archive and every member)", soft_wrap=True, highlight=False)
    raise typer.Exit(EXIT_VALID)


def _refuse(headline: str, problems: list[str]) -> None:
    """A verification that failed: the headline (rich markup, already escaped), each problem, exit 1."""
    from rich.markup import escape

    err = stderr()
    err.print(headline, soft_wrap=True)
    for problem in problems:
        err.print(f"  - {escape(problem)}", soft_wrap=True, highlight=False)
    raise typer.Exit(EXIT_INVALID)
