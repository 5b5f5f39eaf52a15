"""Read-only views of one version of the package: a directory, a release zip or a git ref.

`nkru diff` compares two of them, the metadata layer compares the working tree
with the previous release, and `nkru release` diffs against the last tag. A
snapshot only reads: the descriptor, the schemas and the tables (as text).
"""

from __future__ import annotations

import json
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from nkru import gitrepo, safejson
from nkru.fsutil import read_regular
from nkru.package import (
    DESCRIPTOR,
    ReadError,
    Table,
    UnsafePath,
    check_relative_path,
    csv_dialect,
    decode,
    read_csv_text,
    schema_fields,
    schema_primary_key,
)


class SnapshotError(ValueError):
    """The version cannot be opened or read."""


@dataclass
class Snapshot:
    """One version of a package. `label` names it for people (a tag, a path)."""

    label: str
    kind: str  # "directory", "zip" or "git"
    reader: Callable[[str], bytes | None]
    closer: Callable[[], None] | None = None

    def read_bytes(self, path: str) -> bytes | None:
        """A file of the package by its relative path; None if it is not there or not allowed."""
        try:
            check_relative_path(path)
        except UnsafePath:
            return None
        return self.reader(path)

    def close(self) -> None:
        if self.closer is not None:
            self.closer()
            self.closer = None

    def __enter__(self) -> "Snapshot":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    @cached_property
    def descriptor(self) -> dict[str, Any]:
        data = self.reader(DESCRIPTOR)
        if data is None:
            raise SnapshotError(f"{self.label}: no {DESCRIPTOR}")
        try:
            descriptor = safejson.loads(data.decode("utf-8"), name=DESCRIPTOR)
        except safejson.JSONLimitError as exc:
            raise SnapshotError(f"{self.label}: {exc}") from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SnapshotError(f"{self.label}: {DESCRIPTOR} is not valid JSON ({exc})") from exc
        if not isinstance(descriptor, dict):
            raise SnapshotError(f"{self.label}: {DESCRIPTOR} is not a JSON object")
        return descriptor

    @property
    def version(self) -> str | None:
        version = self.descriptor.get("version")
        return version if isinstance(version, str) else None

    @cached_property
    def resources(self) -> dict[str, dict[str, Any]]:
        found = {}
        for res in self.descriptor.get("resources") or []:
            if isinstance(res, dict) and isinstance(res.get("name"), str):
                found[res["name"]] = res
        return found

    def schema(self, resource: str) -> dict[str, Any] | None:
        return self._schemas.get(resource)

    @cached_property
    def _schemas(self) -> dict[str, dict[str, Any] | None]:
        schemas: dict[str, dict[str, Any] | None] = {}
        for name, res in self.resources.items():
            schema = res.get("schema")
            if isinstance(schema, str):
                data = self.read_bytes(schema)
                try:
                    schema = safejson.loads(data.decode("utf-8"), name=schema) if data is not None else None
                except (UnicodeDecodeError, ValueError):
                    schema = None
            schemas[name] = schema if isinstance(schema, dict) else None
        return schemas

    def fields(self, resource: str) -> list[dict[str, Any]]:
        return schema_fields(self.schema(resource))

    def primary_key(self, resource: str) -> list[str]:
        return schema_primary_key(self.schema(resource))

    def table(self, resource: str) -> Table | None:
        """The resource's rows as text, or None when it cannot be read."""
        if resource not in self._tables:
            self._tables[resource] = self._read_table(resource)
        return self._tables[resource]

    @cached_property
    def _tables(self) -> dict[str, Table | None]:
        return {}

    def _read_table(self, resource: str) -> Table | None:
        res = self.resources.get(resource)
        path = res.get("path") if res else None
        if not isinstance(path, str):
            return None
        data = self.read_bytes(path)
        if data is None:
            return None
        encoding = res.get("encoding")
        try:
            return read_csv_text(decode(data, encoding if isinstance(encoding, str) else None, path=path), name=resource,
                                 path=path, primary_key=self.primary_key(resource), dialect=csv_dialect(res))
        except ReadError:
            return None


def from_directory(root: Path, label: str | None = None) -> Snapshot:
    root = Path(root).resolve()
    if not (root / DESCRIPTOR).is_file():
        raise SnapshotError(f"{root}: no {DESCRIPTOR} here")

    def reader(path: str) -> bytes | None:
        full = (root / path).resolve()
        if root not in full.parents or not full.is_file():
            return None
        try:
            return read_regular(full)  # never blocks on a named pipe swapped in meanwhile
        except OSError:
            return None

    return Snapshot(label or str(root), "directory", reader)


# -- release zips are hostile input ----------------------------------------------------------

#: Limits for reading a zip (see docs/releasing.md, "Reading a release zip safely").
MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 1 << 30  # 1 GiB decompressed, per member
MAX_TOTAL_BYTES = 2 << 30  # 2 GiB decompressed, all members
MAX_RATIO = 100  # decompressed / compressed, for members larger than RATIO_FLOOR
RATIO_FLOOR = 1 << 20
ALLOWED_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_CHUNK = 1 << 20


class ZipRefused(SnapshotError):
    """The zip is refused before anything is decompressed: too big, a bomb, encrypted, unsafe names, links."""


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\0" in name:
        return "has a NUL byte in its name"
    if "\\" in name:
        return "uses a backslash in its name"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    if any(part == ".." for part in name.split("/")):
        return "leaves the archive ('..'; zip-slip)"
    if info.flag_bits & 0x1:
        return "is encrypted (a release is never encrypted)"
    mode = info.external_attr >> 16
    if info.create_system == 3 and mode and stat.S_ISLNK(mode):
        return "is a symbolic link"
    if info.compress_type not in ALLOWED_METHODS:
        return f"uses compression method {info.compress_type} (only stored and deflated are read)"
    if info.file_size > MAX_MEMBER_BYTES:
        return f"would decompress to {info.file_size:,} bytes, over the limit of {MAX_MEMBER_BYTES:,}"
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        return (f"would decompress {info.compress_size:,} bytes to {info.file_size:,} "
                f"(ratio over {MAX_RATIO}: a zip bomb?)")
    return None


def check_zip(path: Path, archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Refuse a zip before reading any member (ZipRefused names the member and the limit); returns its members."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ZipRefused(f"{path}: {len(infos):,} members, over the limit of {MAX_MEMBERS:,}")
    seen: set[str] = set()
    total = 0
    for info in infos:
        problem = _member_problem(info)
        if problem is not None:
            raise ZipRefused(f"{path}: member {info.filename!r} {problem}; refused")
        if info.filename in seen:
            raise ZipRefused(f"{path}: member {info.filename!r} appears twice; refused")
        seen.add(info.filename)
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise ZipRefused(f"{path}: its members would decompress to more than {MAX_TOTAL_BYTES:,} bytes; refused")
    return infos


def read_member(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes, read in chunks and never more than it declares (zipfile stops there, then checks the CRC)."""
    chunks = []
    size = 0
    try:
        with archive.open(info) as handle:
            while True:
                chunk = handle.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > info.file_size or size > MAX_MEMBER_BYTES:
                    raise ZipRefused(f"{path}: member {info.filename} decompresses to more than it declares; refused")
                chunks.append(chunk)
    except ZipRefused:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise SnapshotError(f"{path}: member {info.filename} is damaged: {exc}") from None
    return b"".join(chunks)


def _open_zip(path: Path) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo], str]:
    """Open and check a release zip; returns (archive, members, prefix of the package folder inside)."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError, NotImplementedError) as exc:
        raise SnapshotError(f"{path}: not a readable zip ({exc})") from exc
    try:
        infos = check_zip(path, archive)
    except SnapshotError:
        archive.close()
        raise
    names = {info.filename for info in infos}
    candidates = sorted(n for n in names if n == DESCRIPTOR or (n.count("/") == 1 and n.endswith("/" + DESCRIPTOR)))
    if len(candidates) != 1:
        archive.close()
        raise SnapshotError(f"{path}: expected one {DESCRIPTOR} at the top or in one top-level folder, found {len(candidates)}")
    return archive, infos, candidates[0][: -len(DESCRIPTOR)]


def from_zip(path: Path, label: str | None = None) -> Snapshot:
    """A release zip: datapackage.json at the top or inside one top-level folder (as `nkru release` builds it).

    The zip is checked first (`check_zip`): member count, declared sizes and ratios, encryption,
    unsafe names and links are refused with a ZipRefused before anything is decompressed.
    """
    archive, infos, prefix = _open_zip(path)
    by_name = {info.filename: info for info in infos}

    def reader(member: str) -> bytes | None:
        info = by_name.get(prefix + member)
        if info is None or info.is_dir():
            return None
        return read_member(path, archive, info)

    return Snapshot(label or str(path), "zip", reader, closer=archive.close)


def unpack_zip(path: Path, target: Path) -> Path:
    """Unpack a checked release zip into the empty folder `target`; returns the package root inside it.

    Only regular files are written, each inside `target`; nothing outside it is touched.
    """
    path = Path(path)
    archive, infos, prefix = _open_zip(path)
    target = Path(target).resolve()
    try:
        for info in infos:
            if info.is_dir() or not info.filename.startswith(prefix):
                continue
            relative = info.filename[len(prefix):]
            destination = (target / relative).resolve()
            if target not in destination.parents:
                raise ZipRefused(f"{path}: member {info.filename!r} leaves the folder it is unpacked into; refused")
            destination.parent.mkdir(parents=True, exist_ok=True)
            data = read_member(path, archive, info)
            with open(destination, "xb") as handle:  # never follows or replaces an existing file
                handle.write(data)
    except FileExistsError as exc:
        raise ZipRefused(f"{path}: member names collide ({exc.filename}); refused") from None
    finally:
        archive.close()
    return target


def from_git(root: Path, ref: str, label: str | None = None) -> Snapshot:
    """The package as committed at `ref` in the repository that holds `root`."""
    commit = gitrepo.resolve_commit(root, ref)
    if commit is None:
        raise SnapshotError(f"{ref!r} is not a commit, tag or branch of the git repository at {root}")

    def reader(path: str) -> bytes | None:
        return gitrepo.read_blob(root, commit, path)

    snapshot = Snapshot(label or ref, "git", reader)
    if reader(DESCRIPTOR) is None:
        raise SnapshotError(f"{ref}: no {DESCRIPTOR} at that commit")
    return snapshot


_RELEASE = re.compile(r"^v?((?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*))$")


def release_version(spec: str | Path, root: Path) -> str | None:
    """X.Y.Z when `spec` is `X.Y.Z` or `vX.Y.Z` and the package at `root` records that release (releases/X.Y.Z.json)."""
    match = _RELEASE.match(str(spec))
    if match is None or not (Path(root) / "releases" / f"{match.group(1)}.json").is_file():
        return None
    return match.group(1)


def from_release(root: Path, version: str) -> Snapshot:
    """Release `version` as recorded in releases/X.Y.Z.json (no tag needed): the tree of its release commit (tag
    vX.Y.Z, or the commit the manifest leads to), else dist/nkru-X.Y.Z.zip when its SHA-256 is the manifest's."""
    import hashlib

    from nkru.manifest import ManifestError, read_manifest
    from nkru.release import previous_commit_from, zip_name

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


def open_snapshot(spec: str | Path, *, root: Path = Path(".")) -> Snapshot:
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
