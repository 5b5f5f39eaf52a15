"""Where a package's bytes come from when it is not a folder: a release zip or a git commit.

A release zip is hostile input: it is checked (`check_zip`: member count, declared sizes and ratios,
encryption, unsafe names and links) before anything is decompressed, and a member is never read past
what it declares. `nkru.package.Package` reads a store's files through `Store.read`, so a package in a
folder, a zip or a git tree is read by one code path (`nkru.snapshot` opens them by name).
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from nkru import gitrepo

DESCRIPTOR = "datapackage.json"


class SnapshotError(ValueError):
    """The version cannot be opened or read."""


@dataclass
class Store:
    """The files of one version of a package, read by relative path (`read` gives None when a file is
    not there); `label` names it for people, `kind` is "zip" or "git"."""

    label: str
    kind: str
    read: Callable[[str], bytes | None]
    closer: Callable[[], None] | None = None

    def close(self) -> None:
        if self.closer is not None:
            self.closer()
            self.closer = None


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


def zip_store(path: Path, label: str | None = None) -> Store:
    """A release zip's files: datapackage.json at the top or inside one top-level folder (as `nkru release`
    builds it). Refused with a ZipRefused (before anything is decompressed) when `check_zip` says so."""
    archive, infos, prefix = _open_zip(path)
    by_name = {info.filename: info for info in infos}

    def reader(member: str) -> bytes | None:
        info = by_name.get(prefix + member)
        if info is None or info.is_dir():
            return None
        return read_member(path, archive, info)

    return Store(label or str(path), "zip", reader, closer=archive.close)


def git_store(root: Path, ref: str, label: str | None = None) -> Store:
    """The package as committed at `ref` in the repository that holds `root`."""
    commit = gitrepo.resolve_commit(root, ref)
    if commit is None:
        raise SnapshotError(f"{ref!r} is not a commit, tag or branch of the git repository at {root}")

    def reader(path: str) -> bytes | None:
        return gitrepo.read_blob(root, commit, path)

    if reader(DESCRIPTOR) is None:
        raise SnapshotError(f"{ref}: no {DESCRIPTOR} at that commit")
    return Store(label or ref, "git", reader)
