"""Read-only views of one version of the package: a directory, a release zip or a git ref.

`nkru diff` compares two of them, the metadata layer compares the working tree
with the previous release, and `nkru release` diffs against the last tag. A version
is a `nkru.package.Package` (its files read from a folder, or in place from a zip or a
git commit through a `nkru.archive.Store`), so descriptors, schemas and tables are read by
the one code path; use it as a context manager to close a zip.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from nkru import gitrepo
from nkru.archive import SnapshotError, ZipRefused, check_zip, git_store, read_member, zip_store  # noqa: F401 - re-exported
from nkru.fsutil import read_regular
from nkru.package import DESCRIPTOR, Package, PackageError

#: One version of the package: a Package (the name says how it is used).
Snapshot = Package


def from_directory(root: Path, label: str | None = None) -> Package:
    root = Path(root)
    if not root.is_dir() or not (root / DESCRIPTOR).is_file():
        raise SnapshotError(f"{root}: no {DESCRIPTOR} here")
    try:
        package = Package.open(root)
    except PackageError as exc:
        raise SnapshotError(str(exc)) from None
    package.label = label or str(package.root)
    return package


def from_zip(path: Path, label: str | None = None) -> Package:
    """A release zip, read in place: datapackage.json at the top or inside one top-level folder (as `nkru
    release` builds it). The zip is checked first (`nkru.archive.check_zip`): member count, declared sizes
    and ratios, encryption, unsafe names and links are refused with a ZipRefused before anything is
    decompressed."""
    return Package.from_store(zip_store(Path(path), label), Path(path))


def from_git(root: Path, ref: str, label: str | None = None) -> Package:
    """The package as committed at `ref` in the repository that holds `root`."""
    return Package.from_store(git_store(root, ref, label), Path(root))


_RELEASE = re.compile(r"^v?((?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*))$")


def release_version(spec: str | Path, root: Path) -> str | None:
    """X.Y.Z when `spec` is `X.Y.Z` or `vX.Y.Z` and the package at `root` records that release (releases/X.Y.Z.json)."""
    match = _RELEASE.match(str(spec))
    if match is None or not (Path(root) / "releases" / f"{match.group(1)}.json").is_file():
        return None
    return match.group(1)


def from_release(root: Path, version: str) -> Package:
    """Release `version` as recorded in releases/X.Y.Z.json (no tag needed): the tree of its release commit (tag
    vX.Y.Z, or the commit the manifest leads to), else dist/nkru-X.Y.Z.zip when its SHA-256 is the manifest's."""
    import hashlib

    from nkru.manifest import ManifestError, previous_commit_from, read_manifest, zip_name

    root = Path(root).resolve()
    try:
        manifest = read_manifest(root, version)
    except ManifestError as exc:
        raise SnapshotError(str(exc)) from None
    try:
        commit = previous_commit_from(root, manifest) if gitrepo.is_repository(root) else None
    except gitrepo.GitError:
        commit = None
    if commit is not None:
        return from_git(root, commit, f"{manifest.label} at {commit[:12]}")
    name = next(iter(manifest.archives), zip_name(version))
    local = root / "dist" / name
    if local.is_file() and hashlib.sha256(read_regular(local)).hexdigest() == (manifest.archives.get(name) or {}).get("sha256"):
        return from_zip(local, f"dist/{name}")
    raise SnapshotError(f"release {version} ({manifest.label}): its commit is not in this clone (a shallow clone or a copy "
                        f"without .git) and there is no dist/{name} with the manifest's SHA-256: fetch the history "
                        f"(git fetch --unshallow --tags), or pass the release zip itself")


def check_spec(spec: str | Path, *, root: Path = Path(".")) -> None:
    """Raise SnapshotError unless `spec` names an existing path, a release recorded in releases/ or a commit of the
    repository holding `root` (cheap: the contents are not read; a damaged release is reported when it is read)."""
    text = str(spec)
    if Path(text).exists() or release_version(text, root) is not None:
        return
    try:
        if gitrepo.resolve_commit(root, text) is not None:
            return
    except gitrepo.GitError:
        pass
    raise SnapshotError(f"{text}: no such release zip or directory, and not a git ref of the repository at {root}")


def open_snapshot(spec: str | Path, *, root: Path = Path(".")) -> Package:
    """A directory, a release zip, a release version recorded in `root`/releases/ (`1.0.0` or `v1.0.0`), or a git
    ref of the repository holding `root`, in that order."""
    text = str(spec)
    path = Path(text)
    if path.is_dir():
        return from_directory(path, text)
    if path.is_file():
        if path.name == DESCRIPTOR:
            return from_directory(path.parent, text)
        if zipfile.is_zipfile(path):
            return from_zip(path, text)
        raise SnapshotError(f"{text}: neither a package directory nor a release zip")
    version = release_version(text, root)
    if version is not None:
        return from_release(root, version)
    try:
        if gitrepo.is_repository(root):
            return from_git(root, text)
    except gitrepo.GitError as exc:
        raise SnapshotError(str(exc)) from exc
    raise SnapshotError(f"{text}: no such directory or zip, and {root} is not in a git repository to look up a ref")
