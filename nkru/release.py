"""`nkru release X.Y.Z`: check, bump the metadata, and build a reproducible release zip.

`plan_release()` decides everything in memory (refusals, the new CHANGELOG
section from the diff to the previous release, the metadata edits, the zip and
its checksum) and writes nothing; `write_release()` writes the plan, every file
atomically. Tags are never created and nothing is pushed: `git_commands()` says
what to run.

The zip is reproducible: its entries are sorted, each has a fixed timestamp
(the release date at 00:00 UTC, or SOURCE_DATE_EPOCH when set) and fixed
permissions (0644), and nothing else (no extra fields, no comment) goes in, so
building twice from the same commit gives the same bytes. The datapackage.json
inside carries `bytes` and `hash` (sha256) of every resource.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import io
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nkru import gitrepo
from nkru.diff import BUMPS, PackageDiff, changelog_entries, diff_snapshots
from nkru.fsutil import atomic_write_bytes, atomic_write_text
from nkru.metadata import (
    CHANGELOG,
    CITATION,
    RETRACTED_ID,
    RETRACTION_REASON,
    RETRACTIONS,
    ZENODO,
    Changelog,
    MetadataError,
    Version,
    dump_json,
    is_date,
    load_cff,
    load_json,
    set_yaml_value,
)
from nkru.package import DESCRIPTOR, Package, UnsafePath, is_remote
from nkru.snapshot import SnapshotError, from_directory, from_git

#: Files from the package root that go into every release (besides data/ and schemas/).
TOP_LEVEL = (DESCRIPTOR, "README.md", CHANGELOG, CITATION, "LICENSE", ZENODO)
REQUIRED = ("README.md", "LICENSE", CHANGELOG, CITATION)
#: Folders whose tracked files go into the release.
FOLDERS = ("data", "schemas")
NAME = "nkru"


@dataclass
class FileEdit:
    path: str
    old: str
    new: str

    def unified_diff(self) -> str:
        return "".join(difflib.unified_diff(self.old.splitlines(keepends=True), self.new.splitlines(keepends=True),
                                            fromfile=f"a/{self.path}", tofile=f"b/{self.path}"))


@dataclass
class Member:
    name: str  # path inside the zip
    size: int
    sha256: str


@dataclass
class ReleasePlan:
    root: Path
    version: str
    date: str | None = None
    previous: tuple[Version, str] | None = None  # (version, tag) of the previous release
    refusals: list[str] = field(default_factory=list)
    diff: PackageDiff | None = None
    required_bump: str | None = None
    bump_reasons: list[str] = field(default_factory=list)
    edits: list[FileEdit] = field(default_factory=list)
    dist: Path | None = None
    zip_name: str = ""
    zip_bytes: bytes = b""
    members: list[Member] = field(default_factory=list)
    sums: str = ""
    validation: Any = None  # the validation Report

    @property
    def ok(self) -> bool:
        return not self.refusals

    @property
    def zip_path(self) -> Path:
        return (self.dist or self.root / "dist") / self.zip_name

    @property
    def sums_path(self) -> Path:
        return (self.dist or self.root / "dist") / "SHA256SUMS"

    @property
    def zip_sha256(self) -> str:
        return hashlib.sha256(self.zip_bytes).hexdigest()

    def git_commands(self) -> list[str]:
        """What to run after the release: commit the bumped metadata, tag, push. Never run for you."""
        commands = []
        if Path.cwd().resolve() != self.root:
            commands.append(f"cd {self.root}")
        if self.edits:
            commands.append("git add " + " ".join(edit.path for edit in self.edits))
            commands.append(f'git commit -m "Release {self.version}"')
        commands.append(f'git tag -a v{self.version} -m "{NAME} {self.version}"')
        commands.append(f"git push origin HEAD v{self.version}")
        return commands


def next_version(previous: Version, bump: str) -> Version:
    if bump == "major":
        return Version(previous.major + 1, 0, 0)
    if bump == "minor":
        return Version(previous.major, previous.minor + 1, 0)
    return Version(previous.major, previous.minor, previous.patch + 1)


def today() -> str:
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


def plan_release(root: str | Path, version: str, *, date: str | None = None, dist: str | Path | None = None,
                 validate: bool = True) -> ReleasePlan:
    """Everything `nkru release` would do, computed in memory. Check `plan.refusals` before writing.

    Raises ValueError for a malformed version or date and PackageError when there is no package at `root`.
    """
    target = Version.parse(version)
    if target is None:
        raise ValueError(f"version {version!r} is not a semantic version X.Y.Z (for example 0.2.0)")
    if date is not None and not is_date(date):
        raise ValueError(f"date {date!r} is not a calendar date written YYYY-MM-DD")
    package = Package.open(root)
    root = package.root
    plan = ReleasePlan(root=root, version=str(target))
    plan.dist = Path(dist).resolve() if dist is not None else root / "dist"
    plan.zip_name = f"{NAME}-{target}.zip"

    _check_git(plan)
    _check_versions(plan, package, target)
    _check_bump(plan, target)
    for name in REQUIRED:
        if not (root / name).is_file():
            plan.refusals.append(f"{name} is missing: every release carries it")
    if validate:
        _check_validation(plan)
    if plan.refusals:
        return plan
    try:
        _plan_edits(plan, package, date)
        _build_zip(plan, package)
    except (MetadataError, OSError, UnsafePath, gitrepo.GitError) as exc:
        plan.refusals.append(f"cannot prepare the release: {exc}")
    return plan


def _check_git(plan: ReleasePlan) -> None:
    root = plan.root
    try:
        if not gitrepo.is_repository(root):
            plan.refusals.append(f"{root} is not in a git repository: a release is built from a commit "
                                 "(git init, commit the package, then release)")
            return
        excluded = []
        if plan.dist is not None and root in plan.dist.parents:
            excluded = [plan.dist.relative_to(root).as_posix()]
        dirty = gitrepo.dirty_paths(root, exclude=excluded)
        if dirty:
            shown = ", ".join(dirty[:10]) + (f" and {len(dirty) - 10} more" if len(dirty) > 10 else "")
            plan.refusals.append(f"the git working tree is dirty ({shown}): commit or stash first, so the release "
                                 "is built from a commit")
        plan.previous = gitrepo.latest_release(root)
    except gitrepo.GitError as exc:
        plan.refusals.append(str(exc))


def _check_versions(plan: ReleasePlan, package: Package, target: Version) -> None:
    current = Version.parse(package.descriptor.get("version"))
    if plan.previous is not None:
        latest, tag = plan.previous
        if target <= latest:
            plan.refusals.append(f"{target} is not greater than the latest release {tag}: "
                                 f"choose a higher version (next patch {next_version(latest, 'patch')}, "
                                 f"minor {next_version(latest, 'minor')}, major {next_version(latest, 'major')})")
            return
    if current is not None and target < current:
        plan.refusals.append(f"{target} is lower than the version already in datapackage.json ({current})"
                             + ("; the first release may use that version or a higher one" if plan.previous is None else ""))


def _check_bump(plan: ReleasePlan, target: Version) -> None:
    if plan.previous is None:
        return
    latest, tag = plan.previous
    try:
        with from_git(plan.root, tag) as before, from_directory(plan.root, "working tree") as after:
            plan.diff = diff_snapshots(before, after)
    except SnapshotError as exc:
        plan.refusals.append(f"cannot compare with the previous release {tag}: {exc}")
        return
    plan.required_bump, plan.bump_reasons = plan.diff.required_bump()
    actual = target.bump_kind(latest)
    if actual is None or plan.required_bump is None:
        return
    if BUMPS.index(actual) < BUMPS.index(plan.required_bump):
        plan.refusals.append(
            f"{target} is a {actual} release, but the changes since {tag} need a {plan.required_bump} release "
            f"({'; '.join(plan.bump_reasons)}); release {next_version(latest, plan.required_bump)} instead "
            "(policy: docs/releasing.md)")


def _check_validation(plan: ReleasePlan) -> None:
    from nkru.api import validate_package
    from nkru.findings import sort_findings, summarise

    report = validate_package(plan.root)
    plan.validation = report
    if report.valid:
        return
    errors = sort_findings(report.errors)
    plan.refusals.append(f"validation fails with {len(errors)} error{'s' if len(errors) != 1 else ''} "
                         f"(run `nkru validate` for the full report):{summarise(errors)}")


# -- metadata edits -------------------------------------------------------------------


def _plan_edits(plan: ReleasePlan, package: Package, date: str | None) -> None:
    root = plan.root
    version = plan.version
    changelog_text = (root / CHANGELOG).read_text(encoding="utf-8")
    log = Changelog.parse(changelog_text)
    existing = log.section(version)
    plan.date = date or (existing.date if existing is not None else today())

    # CHANGELOG.md: a new section from [Unreleased] and the diff, or the existing one (re-dated if asked).
    if existing is None:
        retractions = package.table(RETRACTIONS) if RETRACTIONS in package.resources else None
        reasons = {row.get(RETRACTED_ID, ""): row.get(RETRACTION_REASON, "") for row in retractions.rows} if retractions else {}
        entries = changelog_entries(plan.diff, reasons) if plan.diff is not None else {}
        new_changelog = log.with_release(version, plan.date, entries)
    else:
        lines = changelog_text.split("\n")
        lines[existing.line - 1] = f"## [{version}] - {plan.date}"
        new_changelog = "\n".join(lines)
    _edit(plan, CHANGELOG, changelog_text, new_changelog)

    # datapackage.json: the version (keys and layout kept).
    descriptor_text = (root / DESCRIPTOR).read_text(encoding="utf-8")
    descriptor = load_json(descriptor_text)
    if descriptor.get("version") != version:
        descriptor["version"] = version
        _edit(plan, DESCRIPTOR, descriptor_text, dump_json(descriptor))

    # CITATION.cff: version and date-released, edited in place (comments kept).
    cff_text = (root / CITATION).read_text(encoding="utf-8")
    cff = load_cff(cff_text)
    new_cff = cff_text
    if str(cff.get("version")) != version:
        new_cff = set_yaml_value(new_cff, "version", version)
    if cff.get("date-released") != plan.date:
        new_cff = set_yaml_value(new_cff, "date-released", plan.date)
    _edit(plan, CITATION, cff_text, new_cff)

    # .zenodo.json: version and publication_date.
    zenodo_path = root / ZENODO
    if zenodo_path.is_file():
        zenodo_text = zenodo_path.read_text(encoding="utf-8")
        zenodo = load_json(zenodo_text)
        if zenodo.get("version") != version or zenodo.get("publication_date") != plan.date:
            zenodo["version"] = version
            zenodo["publication_date"] = plan.date
            _edit(plan, ZENODO, zenodo_text, dump_json(zenodo))


def _edit(plan: ReleasePlan, path: str, old: str, new: str) -> None:
    if old != new:
        plan.edits.append(FileEdit(path, old, new))


# -- the zip --------------------------------------------------------------------------


def zip_timestamp(date: str) -> tuple[int, int, int, int, int, int]:
    """SOURCE_DATE_EPOCH when set (reproducible-builds.org), else the release date at 00:00 UTC; never before 1980."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        moment = dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc)
    else:
        moment = dt.datetime.fromisoformat(date).replace(tzinfo=dt.timezone.utc)
    moment = max(moment, dt.datetime(1980, 1, 1, tzinfo=dt.timezone.utc))
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second // 2 * 2)


def release_files(plan: ReleasePlan, package: Package) -> list[str]:
    """The package-relative paths that go into the release, sorted."""
    root = plan.root
    paths = {name for name in TOP_LEVEL if (root / name).is_file()}
    paths.update(gitrepo.tracked_files(root, *FOLDERS))
    for spec in package.resources.values():
        for value in (spec.descriptor.get("path"), spec.descriptor.get("schema")):
            if isinstance(value, str):
                package.resolve(value)  # raises UnsafePath
                paths.add(value)
    for source in package.descriptor.get("sources") or []:
        if isinstance(source, dict) and isinstance(source.get("path"), str) and not is_remote(source["path"]):
            package.resolve(source["path"])
            paths.add(source["path"])
    missing = sorted(p for p in paths if not (root / p).is_file())
    if missing:
        raise OSError(f"files the release needs are missing: {', '.join(missing)}")
    return sorted(paths)


def release_descriptor(descriptor: dict[str, Any], read: Any) -> dict[str, Any]:
    """The descriptor for the zip: every resource with its `bytes` and `hash` (sha256:<hex>)."""
    result = dict(descriptor)
    resources = []
    for res in descriptor.get("resources") or []:
        res = dict(res)
        if isinstance(res.get("path"), str):
            data = read(res["path"])
            res["bytes"] = len(data)
            res["hash"] = "sha256:" + hashlib.sha256(data).hexdigest()
        resources.append(res)
    result["resources"] = resources
    return result


def _build_zip(plan: ReleasePlan, package: Package) -> None:
    root = plan.root
    edited = {edit.path: edit.new.encode("utf-8") for edit in plan.edits}

    def read(path: str) -> bytes:
        return edited[path] if path in edited else (root / path).read_bytes()

    descriptor = load_json(read(DESCRIPTOR).decode("utf-8"))
    contents = {path: read(path) for path in release_files(plan, package)}
    contents[DESCRIPTOR] = dump_json(release_descriptor(descriptor, read)).encode("utf-8")

    stamp = zip_timestamp(plan.date)
    folder = f"{NAME}-{plan.version}/"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(contents):
            info = zipfile.ZipInfo(folder + path, date_time=stamp)
            info.create_system = 3  # Unix, so that the permissions below are read
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, contents[path], compresslevel=9)
            plan.members.append(Member(info.filename, len(contents[path]), hashlib.sha256(contents[path]).hexdigest()))
    plan.zip_bytes = buffer.getvalue()
    plan.sums = f"{plan.zip_sha256}  {plan.zip_name}\n"


def write_release(plan: ReleasePlan) -> list[Path]:
    """Write the planned metadata edits, the zip and SHA256SUMS, each atomically; returns the paths written."""
    if plan.refusals:
        raise ValueError("a refused release cannot be written")
    written = []
    for edit in plan.edits:
        atomic_write_text(plan.root / edit.path, edit.new)
        written.append(plan.root / edit.path)
    atomic_write_bytes(plan.zip_path, plan.zip_bytes)
    atomic_write_bytes(plan.sums_path, plan.sums.encode("utf-8"))
    return written + [plan.zip_path, plan.sums_path]
