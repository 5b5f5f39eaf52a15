"""`nkru release X.Y.Z`: check, bump the metadata, write the release manifest and build the open release zip.

`plan_release()` decides everything in memory (refusals, the new CHANGELOG
section from the diff to the previous release, the metadata edits, the zip, its
manifest and SHA256SUMS) and writes nothing; `write_release()` writes the plan as
one transaction (nkru.transaction: all files or none, even when killed). Tags are
never created and nothing is pushed: `git_commands()` says what to run.
`verify_release()` rebuilds a release from a git commit and compares it with its
manifest (`nkru release --verify X.Y.Z`).

The zip is the open release (CC-BY-4.0, may be mirrored): tables, schemas,
descriptor, documentation and earlier manifests, but not the article texts (their
SHA-256 are in sources.csv; they stay in the repository). It is byte-identical on
every machine: entries sorted, stored uncompressed (ZIP_STORED: no zlib, whose
DEFLATE output differs between builds), one fixed timestamp (the release date at
00:00 UTC, or SOURCE_DATE_EPOCH when set; recorded in the manifest), fixed
permissions (0644), no extra fields and no comment. The datapackage.json inside
carries `bytes` and `hash` (sha256) of every resource and `"nkru:texts": "excluded"`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import io
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from nkru import gitrepo
from nkru.diff import BUMPS, PackageDiff, changelog_entries, diff_snapshots
from nkru.manifest import FileMatch, compare_tree, release_descriptor  # noqa: F401 (re-exported)
from nkru.metadata import next_version  # noqa: F401 (re-exported)
from nkru.manifest import (NAME, RELEASES, Manifest, ManifestError, latest_manifest, manifest_names, previous_commit_from,
                           read_manifest, resource_entry, zip_name)
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
    DEV_SUFFIX,
    cff_repository,
    dev_version,
    with_zenodo_repository,
    zenodo_repository,
    dump_json,
    is_date,
    load_cff,
    load_json,
    set_yaml_value,
)
from nkru.package import (
    DESCRIPTOR,
    SOURCES,
    TEXTS_EXCLUDED,
    TEXTS_KEY,
    Package,
    ReadError,
    UnsafePath,
    check_relative_path,
    csv_dialect,
    decode,
    read_csv_text,
    schema_primary_key,
)
from nkru.snapshot import SnapshotError, from_directory, from_git
from nkru.fsutil import LOCK_NAME, confine, package_lock
from nkru.transaction import Transaction, pending, recover

#: Files from the package root that go into every release (besides the folders below).
TOP_LEVEL = (DESCRIPTOR, "README.md", CHANGELOG, CITATION, "LICENSE", ZENODO)
REQUIRED = ("README.md", "LICENSE", CHANGELOG, CITATION)
#: Folders whose tracked files go into the release (the article texts excepted); `reliability` holds the
#: second coding that the agreement figures come from.
FOLDERS = ("data", "schemas", RELEASES, "reliability")
#: The documentation that travels with the data (a release made before a file existed simply lacks it).
DOCS = ("docs/codebook.md", "docs/curation.md", "docs/releasing.md", "docs/reliability.md")
SUMS = "SHA256SUMS"
CODEBOOK = "docs/codebook.md"


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
class Build:
    """One release zip built in memory, and what its manifest records about it."""

    zip_name: str
    zip_bytes: bytes
    members: list[Member]
    resources: dict[str, dict[str, Any]]
    timestamp: str

    @property
    def zip_sha256(self) -> str:
        return hashlib.sha256(self.zip_bytes).hexdigest()


@dataclass
class ReleasePlan:
    root: Path
    version: str
    date: str | None = None
    previous: tuple[Version, str] | None = None  # (version, manifest path) of the previous release
    refusals: list[str] = field(default_factory=list)
    diff: PackageDiff | None = None
    required_bump: str | None = None
    bump_reasons: list[str] = field(default_factory=list)
    edits: list[FileEdit] = field(default_factory=list)
    dist: Path | None = None
    zip_name: str = ""
    zip_bytes: bytes = b""
    members: list[Member] = field(default_factory=list)
    manifest: Manifest | None = None
    sums: str = ""
    recovered: str | None = None  # what an interrupted earlier release left, and what was done about it
    recovery_pending: str | None = None  # --dry-run: what an interrupted earlier release left (not touched)
    dist_named: Path | None = None  # --out as given (a link there is the user's; see nkru.fsutil.confine)
    validation: Any = None  # the validation Report

    @property
    def ok(self) -> bool:
        return not self.refusals

    @property
    def zip_path(self) -> Path:
        return (self.dist or self.root / "dist") / self.zip_name

    @property
    def sums_path(self) -> Path:
        return (self.dist or self.root / "dist") / SUMS

    @property
    def manifest_path(self) -> str:
        return f"{RELEASES}/{self.version}.json"

    @property
    def zip_sha256(self) -> str:
        return hashlib.sha256(self.zip_bytes).hexdigest()

    def git_commands(self) -> list[str]:
        """What to run after the release: commit the bumped metadata and the manifest, tag, push. Never run for you."""
        commands = []
        if Path.cwd().resolve() != self.root:
            commands.append(f"cd {self.root}")
        paths = sorted({edit.path for edit in self.edits} | {self.manifest_path})
        commands.append("git add " + " ".join(paths))
        commands.append(f'git commit -m "Release {self.version}"')
        commands.append(f'git tag -a v{self.version} -m "{NAME} {self.version}"')
        commands.append(f"git push origin HEAD v{self.version}")
        return commands


def today() -> str:
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


def plan_release(root: str | Path, version: str, *, date: str | None = None, dist: str | Path | None = None,
                 validate: bool = True, dry_run: bool = False) -> ReleasePlan:
    """Everything `nkru release` would do, computed in memory. Check `plan.refusals` before writing.

    An interrupted earlier `nkru release` (killed while writing) is first completed or rolled back
    (`plan.recovered` says which). Raises ValueError for a malformed version or date and PackageError
    when there is no package at `root`.
    """
    target = Version.parse(version)
    if target is None:
        raise ValueError(f"version {version!r} is not a semantic version X.Y.Z (for example 0.2.0)")
    if date is not None and not is_date(date):
        raise ValueError(f"date {date!r} is not a calendar date written YYYY-MM-DD")
    package = Package.open(root)
    root = package.root
    plan = ReleasePlan(root=root, version=str(target))
    if dry_run:  # writes nothing, ever: an interrupted release is reported, not completed
        plan.recovery_pending = pending(root)
    else:
        plan.recovered = recover(root)
    if plan.recovered is not None:
        package = Package.open(root)
    # Not resolved: the links on the way are checked when written (nkru.fsutil.confine; --out may be a link).
    plan.dist = Path(os.path.abspath(dist)) if dist is not None else root / "dist"
    plan.dist_named = Path(dist) if dist is not None else None
    # Before any work: the zip and SHA256SUMS go inside the package (or the folder named with --out), through
    # no link the user did not name (a `dist` link planted by a pull request: OutsideWrite, an OSError).
    confine(plan.zip_path, root, named=plan.dist_named)
    plan.zip_name = zip_name(str(target))

    _check_previous(plan, target)
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
        _build(plan)
    except (ValueError, OSError, gitrepo.GitError) as exc:  # metadata, manifest, codebook, unsafe paths, unreadable tables
        plan.refusals.append(f"cannot prepare the release: {exc}")
    return plan


def _check_previous(plan: ReleasePlan, target: Version) -> None:
    """The previous release is the newest manifest below the target (the target's own manifest exists on a rerun)."""
    try:
        previous = latest_manifest(plan.root, below=target)
    except ManifestError as exc:
        plan.refusals.append(str(exc))
        return
    if previous is not None:
        plan.previous = (Version.parse(previous.version), previous.label)
    newest = manifest_names(plan.root)
    if newest and newest[0][0] > target:
        plan.refusals.append(f"{target} is not greater than the latest release {newest[0][0]} ({RELEASES}/{newest[0][1]}): "
                             f"choose a higher version (next patch {next_version(newest[0][0], 'patch')}, "
                             f"minor {next_version(newest[0][0], 'minor')}, major {next_version(newest[0][0], 'major')})")


def _own_outputs(plan: ReleasePlan) -> set[str]:
    return {DESCRIPTOR, CHANGELOG, CITATION, ZENODO, CODEBOOK, plan.manifest_path}


def _check_git(plan: ReleasePlan) -> None:
    root = plan.root
    try:
        if not gitrepo.is_repository(root):
            plan.refusals.append(f"{root} is not in a git repository: a release is built from a commit "
                                 "(git init, commit the package, then release)")
            return
        excluded = [LOCK_NAME]  # the write lock nkru itself holds while releasing
        if plan.dist is not None and root.absolute() in plan.dist.parents:
            excluded.append(plan.dist.relative_to(root.absolute()).as_posix())
        elif plan.dist is not None and root.resolve() in plan.dist.resolve().parents:
            excluded.append(plan.dist.resolve().relative_to(root.resolve()).as_posix())
        dirty = gitrepo.dirty_paths(root, exclude=excluded)
        # Rerunning a release that was written but not yet committed: only its own outputs differ.
        if dirty and (root / plan.manifest_path).is_file() and set(dirty) <= _own_outputs(plan):
            dirty = []
        if dirty:
            shown = ", ".join(dirty[:10]) + (f" and {len(dirty) - 10} more" if len(dirty) > 10 else "")
            plan.refusals.append(f"the git working tree is dirty ({shown}): commit or stash first, so the release "
                                 "is built from a commit")
    except gitrepo.GitError as exc:
        plan.refusals.append(str(exc))


def _check_versions(plan: ReleasePlan, package: Package, target: Version) -> None:
    current = Version.parse(package.descriptor.get("version"))
    if plan.previous is None and current is not None and target < current:
        plan.refusals.append(f"{target} is lower than the version already in datapackage.json ({current}); "
                             "the first release may use that version or a higher one")


def previous_commit(root: Path, version: str) -> str | None:
    """The commit of release `version`: its tag vX.Y.Z, else the release commit its manifest leads to
    (`previous_commit_from`); None when it is not in this clone."""
    try:
        manifest = read_manifest(root, version)
    except ManifestError:
        tag = gitrepo.resolve_commit(root, f"v{version}")
        return tag or gitrepo.commit_adding(root, f"{RELEASES}/{version}.json")
    return previous_commit_from(root, manifest)


def _check_bump(plan: ReleasePlan, target: Version) -> None:
    if plan.previous is None:
        return
    latest, where = plan.previous
    try:
        commit = previous_commit(plan.root, str(latest))
    except gitrepo.GitError as exc:
        plan.refusals.append(str(exc))
        return
    if commit is None:
        plan.refusals.append(f"cannot find the commit of the previous release {latest} (no tag v{latest}, and the commit "
                             f"that added {where} is not in this clone: fetch the full history)")
        return
    try:
        with from_git(plan.root, commit, f"{latest} ({commit[:12]})") as before, from_directory(plan.root, "working tree") as after:
            plan.diff = diff_snapshots(before, after)
    except SnapshotError as exc:
        plan.refusals.append(f"cannot compare with the previous release {latest}: {exc}")
        return
    plan.required_bump, plan.bump_reasons = plan.diff.required_bump()
    actual = target.bump_kind(latest)
    if actual is None or plan.required_bump is None:
        return
    if BUMPS.index(actual) < BUMPS.index(plan.required_bump):
        plan.refusals.append(
            f"{target} is a {actual} release, but the changes since {latest} need a {plan.required_bump} release "
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


# -- between releases --------------------------------------------------------------------


def plan_development(root: str | Path, version: str) -> list[FileEdit]:
    """The edits that start development towards `version` (X.Y.Z-dev) after a release: datapackage.json's version
    and the codebook that names it (docs/releasing.md, "Between releases"). CITATION.cff, .zenodo.json and
    CHANGELOG.md keep describing the newest release. Raises ValueError when `version` is not X.Y.Z-dev after the
    newest release."""
    target = dev_version(version)
    if target is None:
        raise ValueError(f"version {version!r} is not a development version X.Y.Z{DEV_SUFFIX}")
    package = Package.open(root)
    root = package.root
    newest = manifest_names(root)
    if newest and target <= newest[0][0]:
        raise ValueError(f"{version} does not come after the latest release {newest[0][0]} ({RELEASES}/{newest[0][1]}): "
                         f"use {next_version(newest[0][0], 'minor')}{DEV_SUFFIX} (or the next patch or major)")
    edits: list[FileEdit] = []
    descriptor_text = (root / DESCRIPTOR).read_text(encoding="utf-8")
    descriptor = load_json(descriptor_text)
    if descriptor.get("version") != version:
        descriptor["version"] = version
        edits.append(FileEdit(DESCRIPTOR, descriptor_text, dump_json(descriptor)))
    codebook_path = root / CODEBOOK
    if codebook_path.is_file():
        from nkru import codebook

        book = codebook.build(package)
        book.version = version
        new = codebook.to_markdown(book)
        old = codebook_path.read_text(encoding="utf-8")
        if new != old:
            edits.append(FileEdit(CODEBOOK, old, new))
    return edits


def write_edits(root: str | Path, edits: list[FileEdit]) -> list[Path]:
    """Write `edits` (paths relative to `root`) as one transaction."""
    root = Path(root).resolve()
    with package_lock(root), Transaction(root) as transaction:
        for edit in edits:
            transaction.add(root / edit.path, edit.new.encode("utf-8"))
    return transaction.targets


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

    # The repository URL is set once, in CITATION.cff (repository-code); the release writes it into the others.
    repository = cff_repository(load_cff((root / CITATION).read_text(encoding="utf-8")))

    # datapackage.json: the version and the homepage (keys and layout kept).
    descriptor_text = (root / DESCRIPTOR).read_text(encoding="utf-8")
    descriptor = load_json(descriptor_text)
    if descriptor.get("version") != version or (repository and descriptor.get("homepage") != repository):
        descriptor["version"] = version
        if repository:
            descriptor["homepage"] = repository
        _edit(plan, DESCRIPTOR, descriptor_text, dump_json(descriptor))

    # docs/codebook.md names the package version: regenerated from the schemas with the new one.
    codebook_path = root / CODEBOOK
    if codebook_path.is_file():
        from nkru import codebook

        book = codebook.build(package)
        book.version = version
        _edit(plan, CODEBOOK, codebook_path.read_text(encoding="utf-8"), codebook.to_markdown(book))

    # CITATION.cff: version and date-released, edited in place (comments kept).
    cff_text = (root / CITATION).read_text(encoding="utf-8")
    cff = load_cff(cff_text)
    new_cff = cff_text
    if str(cff.get("version")) != version:
        new_cff = set_yaml_value(new_cff, "version", version)
    if cff.get("date-released") != plan.date:
        new_cff = set_yaml_value(new_cff, "date-released", plan.date, after="version")
    _edit(plan, CITATION, cff_text, new_cff)

    # .zenodo.json: version and publication_date.
    zenodo_path = root / ZENODO
    if zenodo_path.is_file():
        zenodo_text = zenodo_path.read_text(encoding="utf-8")
        zenodo = load_json(zenodo_text)
        changed = False
        if repository and zenodo_repository(zenodo) != [repository]:
            zenodo, changed = with_zenodo_repository(zenodo, repository), True
        if zenodo.get("version") != version or zenodo.get("publication_date") != plan.date:
            zenodo["version"] = version
            zenodo["publication_date"] = plan.date
            changed = True
        if changed:
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




def texts_of(sources_csv: bytes | None, resource: dict[str, Any] | None) -> set[str]:
    """The text_path of every source (the article texts, left out of the open release)."""
    if sources_csv is None or resource is None:
        return set()
    encoding = resource.get("encoding")
    table = read_csv_text(decode(sources_csv, encoding if isinstance(encoding, str) else None, path="sources"),
                          name=SOURCES, path="sources", dialect=csv_dialect(resource))
    return {path for path in table.column("text_path") if path}


def release_paths(descriptor: dict[str, Any], listed: Callable[[tuple[str, ...]], list[str]],
                  exists: Callable[[str], bool], version: Version, texts: set[str]) -> list[str]:
    """The package-relative paths that go into the open release of `version`, sorted.

    `listed(folders)` gives the tracked files under those folders; `exists(path)` says whether a file is there.
    Left out: the article texts, and the manifests of this release and later ones (a manifest records the zip,
    so it cannot be inside it).
    """
    paths = {name for name in TOP_LEVEL + DOCS if exists(name)}
    for path in listed(FOLDERS):
        if path.startswith(RELEASES + "/"):
            manifest_version = Version.parse(path[len(RELEASES) + 1:].removesuffix(".json"))
            if manifest_version is None or manifest_version >= version:
                continue
        paths.add(path)
    for res in descriptor.get("resources") or []:
        if not isinstance(res, dict):
            continue
        for value in (res.get("path"), res.get("schema")):
            if isinstance(value, str):
                check_relative_path(value)  # raises UnsafePath
                paths.add(value)
    paths -= texts
    missing = sorted(p for p in paths if not exists(p))
    if missing:
        raise OSError(f"files the release needs are missing: {', '.join(missing)}")
    return sorted(paths)


def _stamp_text(stamp: tuple[int, ...]) -> str:
    return "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z".format(*stamp)


def _stamp_parse(text: str) -> tuple[int, int, int, int, int, int]:
    moment = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def build_zip(version: str, contents: dict[str, bytes], stamp: tuple[int, int, int, int, int, int],
              folder: str = "") -> tuple[bytes, list[Member]]:
    """The zip's bytes: entries sorted, stored (no compression), one timestamp, mode 0644.

    `folder` is "" for every release after 1.0.0: datapackage.json at the zip's root (the Data Package zip
    convention, so stock frictionless reads the zip as a package); 1.0.0 put everything under `nkru-1.0.0/`
    and is rebuilt that way (`Manifest.folder`).
    """
    members = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(contents):
            info = zipfile.ZipInfo(folder + path, date_time=stamp)
            info.create_system = 3  # Unix, so that the permissions below are read
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, contents[path])
            members.append(Member(info.filename, len(contents[path]), hashlib.sha256(contents[path]).hexdigest()))
    return buffer.getvalue(), members


def build_release(version: str, read: Callable[[str], bytes | None], listed: Callable[[tuple[str, ...]], list[str]],
                  stamp: tuple[int, int, int, int, int, int], folder: str = "") -> Build:
    """Build the open release zip of `version` from a tree (`read(path)` -> bytes or None; `listed(folders)`)."""
    target = Version.parse(version)
    descriptor_bytes = read(DESCRIPTOR)
    if descriptor_bytes is None:
        raise OSError(f"no {DESCRIPTOR}")
    descriptor = load_json(descriptor_bytes.decode("utf-8"))
    resources = {r["name"]: r for r in descriptor.get("resources") or [] if isinstance(r, dict) and isinstance(r.get("name"), str)}
    sources = resources.get(SOURCES)
    texts = texts_of(read(sources["path"]) if sources and isinstance(sources.get("path"), str) else None, sources)

    def need(path: str) -> bytes:
        data = read(path)
        if data is None:
            raise OSError(f"files the release needs are missing: {path}")
        return data

    paths = release_paths(descriptor, listed, lambda p: read(p) is not None, target, texts)
    contents = {path: need(path) for path in paths}
    contents[DESCRIPTOR] = dump_json(release_descriptor(descriptor, need)).encode("utf-8")
    zip_bytes, members = build_zip(version, contents, stamp, folder)

    entries: dict[str, dict[str, Any]] = {}
    for name, res in resources.items():
        path = res.get("path")
        if not isinstance(path, str) or path not in contents:
            continue
        schema = res.get("schema")
        if isinstance(schema, str):
            schema = load_json(need(schema).decode("utf-8"))
        encoding = res.get("encoding")
        key = schema_primary_key(schema)
        table = read_csv_text(decode(contents[path], encoding if isinstance(encoding, str) else None, path=path),
                              name=name, path=path, primary_key=key, dialect=csv_dialect(res))
        entries[name] = resource_entry(path, key, [table.column(k) for k in key], len(table))
    return Build(zip_name(version), zip_bytes, members, entries, _stamp_text(stamp))


def make_manifest(version: str, date: str, build: Build, commit: str | None = None) -> Manifest:
    manifest = Manifest(version=version, date=date, name=NAME, commit=commit)
    manifest.archives = {build.zip_name: {"sha256": build.zip_sha256, "bytes": len(build.zip_bytes),
                                          "timestamp": build.timestamp}}
    manifest.files = {m.name: {"sha256": m.sha256, "bytes": m.size} for m in build.members}
    manifest.resources = build.resources
    return manifest


def sha256sums(dist: Path, new: dict[str, bytes]) -> str:
    """SHA256SUMS for every release zip in `dist` (`nkru-*.zip`), with `new` (name -> bytes) replacing or adding."""
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in new.items()}
    if dist.is_dir():
        for path in dist.glob(f"{NAME}-*.zip"):
            if path.name not in digests and path.is_file():
                digests[path.name] = _file_sha256(path)
    return "".join(f"{digests[name]}  {name}\n" for name in sorted(digests))


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _build(plan: ReleasePlan) -> None:
    root = plan.root
    edited = {edit.path: edit.new.encode("utf-8") for edit in plan.edits}

    def read(path: str) -> bytes | None:
        if path in edited:
            return edited[path]
        full = root / path
        return full.read_bytes() if full.is_file() else None

    def listed(folders: tuple[str, ...]) -> list[str]:
        return gitrepo.tracked_files(root, *folders)

    build = build_release(plan.version, read, listed, zip_timestamp(plan.date))
    plan.zip_bytes, plan.members = build.zip_bytes, build.members
    # The commit the release is built on (its release commit will be the child that adds the manifest).
    plan.manifest = make_manifest(plan.version, plan.date, build, gitrepo.resolve_commit(root, "HEAD"))
    path = root / plan.manifest_path
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    if old:
        # A rerun after the release commit: the same release keeps the commit it was built on.
        try:
            existing = Manifest.loads(old, plan.manifest_path)
        except ManifestError:
            existing = None
        if existing is not None and existing.commit and (existing.archives, existing.files, existing.resources) == (
                plan.manifest.archives, plan.manifest.files, plan.manifest.resources):
            plan.manifest.commit = existing.commit
    manifest_text = plan.manifest.dumps()
    _edit(plan, plan.manifest_path, old, manifest_text)
    plan.sums = sha256sums(plan.dist, {plan.zip_name: plan.zip_bytes})


def write_release(plan: ReleasePlan) -> list[Path]:
    """Write the planned edits, the manifest, the zip and SHA256SUMS as one transaction: after a crash (even
    kill -9) either nothing changed or, once the rerun or `nkru.transaction.recover` has run, everything did."""
    if plan.refusals:
        raise ValueError("a refused release cannot be written")
    with package_lock(plan.root), Transaction(plan.root) as transaction:
        for edit in plan.edits:  # the metadata files and releases/X.Y.Z.json: inside the package, no link
            transaction.add(plan.root / edit.path, edit.new.encode("utf-8"))
        transaction.add(plan.zip_path, plan.zip_bytes, named=plan.dist_named)  # dist/ planted as a link: refused
        transaction.add(plan.sums_path, plan.sums.encode("utf-8"), named=plan.dist_named)
    return transaction.targets


# -- verify -------------------------------------------------------------------------------


@dataclass
class Verification:
    version: str
    commit: str | None  # the commit rebuilt from (None: a zip was checked, or the history is missing)
    manifest: str
    problems: list[str] = field(default_factory=list)
    build: Build | None = None
    checked: int = 0
    notes: list[str] = field(default_factory=list)  # how the release commit was found (1.0.0 records none)
    history_missing: str | None = None  # why the release could not be rebuilt from its commit
    files: list[FileMatch] = field(default_factory=list)  # without the history: the working tree vs the manifest
    archive: str | None = None  # the zip checked by verify_zip

    @property
    def ok(self) -> bool:
        return not self.problems and (self.build is not None or self.archive is not None)

    def matching(self, status: str) -> list[FileMatch]:
        return [f for f in self.files if f.status == status]


def release_commit(root: Path, manifest: Manifest, ref: str | None = None) -> tuple[str | None, list[str], str | None]:
    """(commit, notes, why none): the commit to rebuild release `manifest` from.

    `ref` when given (ValueError if it names nothing); else the tag vX.Y.Z; else the commit on top of the
    commit the manifest records that adds the manifest; for a manifest that records no commit (1.0.0), the
    commit that added it, and a note says so. Never HEAD in its stead: when the history is not in this
    clone (shallow) or there is no git repository, the third item says exactly that.
    """
    version, label = manifest.version, manifest.label
    if ref:
        commit = gitrepo.resolve_commit(root, ref)
        if commit is None:
            raise ValueError(f"{ref!r} is not a commit, tag or branch of the git repository at {root}")
        return commit, [], None
    if not gitrepo.is_repository(root):
        return None, [], (f"{root} is not in a git repository (a copy without .git, such as a downloaded source zip), "
                          f"so release {version} cannot be rebuilt from its commit")
    shallow = " (this clone is shallow)" if gitrepo.shallow_commits(root) else ""
    fetch = "fetch the history (git fetch --unshallow --tags) and verify again"
    notes: list[str] = []
    tag = gitrepo.resolve_commit(root, f"v{version}")
    if manifest.commit:
        if tag:
            return tag, notes, None
        if not gitrepo.has_commit(root, manifest.commit):
            return None, notes, (f"{label} was built on commit {manifest.commit[:12]}, which is not in this clone{shallow}: "
                                 f"{fetch}")
        child = gitrepo.child_adding(root, manifest.commit, label)
        if child is None:
            return None, notes, (f"the release commit (on top of {manifest.commit[:12]}, adding {label}) is not reachable "
                                 f"from HEAD in this clone{shallow}: {fetch}, or pass --ref")
        return child, notes, None
    if tag:
        notes.append(f"{label} records no commit (made before manifests did); rebuilt from tag v{version}")
        return tag, notes, None
    added = gitrepo.commit_adding(root, label)
    if added:
        notes.append(f"{label} records no commit (made before manifests did); rebuilt from the commit that added it, "
                     f"{added[:12]}")
        return added, notes, None
    return None, notes, (f"{label} records no commit, and neither tag v{version} nor the commit that added {label} is in "
                         f"this clone{shallow}: {fetch}")


def _manifest_of(root: Path, version: str) -> Manifest:
    try:
        return read_manifest(root, version)
    except ManifestError as exc:
        raise ValueError(str(exc)) from None


def verify_release(root: str | Path, version: str, *, ref: str | None = None) -> Verification:
    """Rebuild release `version` from its commit (`ref`, tag vX.Y.Z, or the release commit the manifest leads to)
    and compare it with releases/X.Y.Z.json: every file's SHA-256 and size, and the zip's SHA-256.

    Without the history (a shallow clone, a copy without .git) nothing is rebuilt: `history_missing` says why
    and `files` which files of the working tree still match the release. Raises ValueError for usage errors.
    """
    if Version.parse(version) is None:
        raise ValueError(f"version {version!r} is not a semantic version X.Y.Z (for example 1.0.0)")
    package = Package.open(root)
    root = package.root
    manifest = _manifest_of(root, version)
    commit, notes, missing = release_commit(root, manifest, ref)
    result = Verification(version, commit, manifest.label, notes=notes)
    if commit is None:
        result.history_missing = missing
        result.problems.append(missing)
        result.files = compare_tree(root, manifest)
        return result

    def read(path: str) -> bytes | None:
        return gitrepo.read_blob(root, commit, path)

    def listed(folders: tuple[str, ...]) -> list[str]:
        return gitrepo.tree_files(root, commit, *folders)

    committed = read(DESCRIPTOR)
    try:
        committed_version = load_json(committed.decode("utf-8")).get("version") if committed else None
    except (MetadataError, UnicodeDecodeError):
        committed_version = None
    if committed_version != version:
        result.problems.append(f"the tree at {commit[:12]} is version {committed_version!r}, not {version}: "
                               f"check out the release commit (tag v{version}) or pass --ref")
        return result
    [(name, archive)] = list(manifest.archives.items())[:1] or [(zip_name(version), {})]
    try:
        stamp = _stamp_parse(archive.get("timestamp") or f"{manifest.date}T00:00:00Z")
        build = build_release(version, read, listed, stamp, manifest.folder)
    except (ValueError, OSError, MetadataError, UnsafePath, ReadError, gitrepo.GitError) as exc:
        result.problems.append(f"cannot rebuild {version} from {commit[:12]}: {exc}")
        return result
    result.build = build
    rebuilt = {m.name: m for m in build.members}
    for member, recorded in sorted(manifest.files.items()):
        result.checked += 1
        got = rebuilt.get(member)
        if got is None:
            result.problems.append(f"{member}: in {manifest.label} but not in the rebuilt release")
        elif got.sha256 != recorded.get("sha256") or got.size != recorded.get("bytes"):
            result.problems.append(f"{member}: rebuilt SHA-256 {got.sha256} ({got.size} bytes), but {manifest.label} "
                                   f"records {recorded.get('sha256')} ({recorded.get('bytes')} bytes)")
    for member in sorted(set(rebuilt) - set(manifest.files)):
        result.problems.append(f"{member}: in the rebuilt release but not in {manifest.label}")
    result.checked += 1
    if build.zip_name != name or build.zip_sha256 != archive.get("sha256"):
        result.problems.append(f"{build.zip_name}: rebuilt SHA-256 {build.zip_sha256}, but {manifest.label} records "
                               f"{archive.get('sha256')} for {name}")
    return result


_ZIP_NAME = re.compile(rf"^{NAME}-((?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*))\.zip\Z")
#: Beside a downloaded zip, the manifest as the release workflow attaches it to the GitHub release.
MANIFEST_ASSET = NAME + "-{version}.manifest.json"


def is_zip_target(target: str | Path) -> bool:
    """Whether `nkru release --verify TARGET` names a zip (a path ending .zip, or an existing file) rather than a version."""
    return str(target).lower().endswith(".zip") or Path(target).is_file()


def find_zip_manifest(zip_path: Path, root: Path | None = None, manifest: Path | None = None) -> Manifest:
    """The manifest to check a downloaded zip against: `manifest` when given; else `nkru-X.Y.Z.manifest.json`
    beside the zip (as the GitHub release carries it), or releases/X.Y.Z.json of the package at `root`.
    X.Y.Z comes from the zip's name. Raises ValueError naming what is missing."""
    if manifest is not None:
        try:
            return Manifest.loads(Path(manifest).read_bytes(), str(manifest))
        except OSError as exc:
            raise ValueError(f"{manifest}: cannot be read ({exc.strerror or exc})") from None
        except ManifestError as exc:
            raise ValueError(str(exc)) from None
    match = _ZIP_NAME.match(Path(zip_path).name)
    if match is None:
        raise ValueError(f"{zip_path}: the name is not {NAME}-X.Y.Z.zip, so its manifest is not known: pass --manifest "
                         f"releases/X.Y.Z.json")
    version = match.group(1)
    beside = Path(zip_path).parent / MANIFEST_ASSET.format(version=version)
    candidates = [beside] + ([Path(root) / RELEASES / f"{version}.json"] if root is not None else [])
    for candidate in candidates:
        if candidate.is_file():
            try:
                found = Manifest.loads(candidate.read_bytes(), str(candidate))
            except (OSError, ManifestError) as exc:
                raise ValueError(f"{candidate}: {exc}") from None
            if found.version != version:
                raise ValueError(f"{candidate}: says version {found.version!r}, but the zip is named for {version}")
            return found
    raise ValueError(f"no manifest for {version}: looked for {', '.join(str(c) for c in candidates)}; pass --manifest "
                     f"with releases/{version}.json from the repository or {beside.name} from the GitHub release")


def verify_zip(zip_path: str | Path, manifest: Manifest) -> Verification:
    """Check a downloaded release zip against its manifest, without git: the archive's SHA-256 and size, and
    every member's. The zip is read as hostile input (nkru.snapshot's limits) and never unpacked."""
    from nkru.snapshot import SnapshotError, check_zip, read_member

    zip_path = Path(zip_path)
    result = Verification(manifest.version, None, manifest.label, archive=str(zip_path))
    [(name, archive)] = list(manifest.archives.items())[:1] or [(zip_name(manifest.version), {})]
    result.checked += 1
    try:
        digest, size = _file_sha256(zip_path), zip_path.stat().st_size
    except OSError as exc:
        raise ValueError(f"{zip_path}: cannot be read ({exc.strerror or exc})") from None
    if digest != archive.get("sha256") or size != archive.get("bytes"):
        result.problems.append(f"{zip_path.name}: SHA-256 {digest} ({size} bytes), but {manifest.label} records "
                               f"{archive.get('sha256')} ({archive.get('bytes')} bytes) for {name}")
    try:
        handle = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile, ValueError, NotImplementedError) as exc:
        result.problems.append(f"{zip_path}: not a readable zip ({exc})")
        return result
    with handle:
        try:
            infos = {info.filename: info for info in check_zip(zip_path, handle) if not info.is_dir()}
            for member, recorded in sorted(manifest.files.items()):
                result.checked += 1
                info = infos.get(member)
                if info is None:
                    result.problems.append(f"{member}: in {manifest.label} but not in {zip_path.name}")
                    continue
                data = read_member(zip_path, handle, info)
                got = hashlib.sha256(data).hexdigest()
                if got != recorded.get("sha256") or len(data) != recorded.get("bytes"):
                    result.problems.append(f"{member}: SHA-256 {got} ({len(data)} bytes) in {zip_path.name}, but "
                                           f"{manifest.label} records {recorded.get('sha256')} ({recorded.get('bytes')} bytes)")
            for member in sorted(set(infos) - set(manifest.files)):
                result.problems.append(f"{member}: in {zip_path.name} but not in {manifest.label}")
        except SnapshotError as exc:
            result.problems.append(str(exc))
    return result


def write_verified(result: Verification, dist: Path) -> list[Path]:
    """Write a verified rebuild into `dist` (the zip and SHA256SUMS of every zip there), as one transaction."""
    if not result.ok:
        raise ValueError("only a verified rebuild is written")
    build = result.build
    dist = Path(dist).resolve()
    with Transaction(dist) as transaction:
        transaction.add(dist / build.zip_name, build.zip_bytes)
        transaction.add(dist / SUMS, sha256sums(dist, {build.zip_name: build.zip_bytes}).encode("utf-8"))
    return transaction.targets


def release_notes(root: Path, version: str) -> str:
    """The CHANGELOG section of `version` (for the GitHub release); raises ValueError when there is none."""
    log = Changelog.parse((Path(root) / CHANGELOG).read_text(encoding="utf-8"))
    section = log.section(version)
    if section is None:
        raise ValueError(f"{CHANGELOG} has no section ## [{version}] - YYYY-MM-DD")
    return log.body(section).strip() + "\n"
