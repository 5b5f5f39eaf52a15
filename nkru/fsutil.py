"""Files: atomic writes (every command that writes a file goes through here), where a write may go (`confine`:
resolved paths and links), one writer per package (`package_lock`), special files, and where a path is in its git
working tree."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Iterator


class NotRegularFile(OSError):
    """A path that should be a file is a named pipe, device, socket or folder: never opened for reading."""


def special_kind(path: str | Path) -> str | None:
    """What a path is when it exists but is not a regular file (links followed): "named pipe (FIFO)",
    "socket", "device" or "folder"; None for a regular file or a path that does not exist."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    return _kind(mode)


def _kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISDIR(mode):
        return "folder"
    return "not a regular file"


def open_regular(path: str | Path):
    """A regular file opened for binary reading. A named pipe, device, socket or folder is refused with
    NotRegularFile before anything is read from it (opened non-blocking, checked on the open handle:
    no hang, no race with a file swapped in between)."""
    kind = special_kind(path)
    if kind is not None:  # a socket cannot even be opened; say what it is instead
        raise NotRegularFile(errno.EINVAL, f"not a regular file: a {kind}", str(path))
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        kind = _kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise NotRegularFile(errno.EINVAL, f"not a regular file: a {kind}", str(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | Path) -> bytes:
    """The bytes of a regular file (see `open_regular`)."""
    with open_regular(path) as handle:
        return handle.read()


# -- atomic writes --------------------------------------------------------------------------
#
# Every temporary file or folder is created beside its target as `.<target name>.<pid>-<random>.nkru-tmp`
# (a folder being replaced is parked as `.nkru-old`). A process killed mid-write (kill -9) cannot clean
# up after itself, so every later write to the same target first removes the leftovers of writers that
# are no longer running (and puts back a folder parked by a swap that was cut short): a rerun recovers.

#: Test hook: `NKRU_TEST_KILL_AT=<checkpoint>` makes the process SIGKILL itself at that checkpoint
#: (`nkru.fsutil.CHECKPOINTS`), so a test can show that no point of a write leaves a half state.
KILL_ENV = "NKRU_TEST_KILL_AT"
#: (Several files written together — a release, the SQLite export and its metadata — go through
#: nkru.transaction, whose steps are killed with NKRU_CRASH_AT=N.)
CHECKPOINTS = ("file-written", "file-replaced", "dir-written", "dir-parked", "dir-swapped", "dir-old-removed")


_passed: dict[str, int] = {}


def checkpoint(name: str) -> None:
    """Die here, at once and without cleaning up, when the test hook asks for it
    (`NKRU_TEST_KILL_AT=name` at the first pass, `name:N` at the N-th)."""
    wanted = os.environ.get(KILL_ENV)
    if not wanted:
        return
    _passed[name] = _passed.get(name, 0) + 1
    point, _, count = wanted.partition(":")
    if point == name and _passed[name] == int(count or 1):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _temp_name(target: Path, kind: str = "tmp") -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.nkru-{kind}")


def _leftovers(target: Path) -> list[tuple[Path, int, str]]:
    """(path, pid, "tmp" or "old") of every temporary item of a write to `target`, including what a
    library created beside a temp file (SQLite's `<temp>-journal`, `-wal`, `-shm`)."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)-[0-9a-f]+\.nkru-(tmp|old)([.-].*)?$")
    found = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return []
    for entry in entries:
        match = pattern.match(entry.name)
        if match:
            found.append((Path(entry.path), int(match.group(1)), match.group(2)))
    return found


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def recover(target: str | Path) -> None:
    """Undo what a killed writer left beside `target`: a folder parked by a cut-short swap goes back
    in place (when `target` is missing), every other temporary item is removed."""
    target = Path(target)
    for path, pid, kind in sorted(_leftovers(target), key=lambda item: item[2] != "old"):
        if _alive(pid):
            continue
        if kind == "old" and not os.path.lexists(target):
            with contextlib.suppress(OSError):
                os.rename(path, target)
                continue
        _remove(path)


def _make_parents(folder: Path) -> list[Path]:
    """mkdir -p, returning the folders it created (outermost first), so a failed write can remove them."""
    missing = []
    probe = folder
    while not os.path.lexists(probe) and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir()
    return list(reversed(missing))


def _remove_created(created: list[Path]) -> None:
    for path in reversed(created):
        with contextlib.suppress(OSError):
            path.rmdir()  # only if still empty


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `target`; on success it replaces `target` in one rename.

    On error (or when killed) `target` is left as it was; the temp file is removed (by a later
    write to the same target, if the process was killed).
    """
    target = Path(target)
    fault(target)
    created = _make_parents(target.parent)
    recover(target)
    temp = _temp_name(target)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    done = False
    try:
        yield temp
        if target.exists():
            os.chmod(temp, target.stat().st_mode & 0o777)
        else:
            os.chmod(temp, 0o644)
        if temp.exists():
            with open(temp, "rb+") as handle:
                os.fsync(handle.fileno())
        checkpoint("file-written")
        os.replace(temp, target)
        checkpoint("file-replaced")
        _fsync_dir(target.parent)
        done = True
    finally:
        _remove(temp)
        for path, pid, _ in _leftovers(target):  # e.g. a database's journal beside the temp file
            if pid == os.getpid() and path.name.startswith(temp.name):
                _remove(path)
        if not done:
            _remove_created(created)


def atomic_write_bytes(target: str | Path, data: bytes) -> None:
    with atomic_path(target) as temp:
        temp.write_bytes(data)


@contextlib.contextmanager
def scratch_path(target: str | Path) -> Iterator[Path]:
    """A temp file name beside `target` (named like atomic_path's, so a killed writer's is cleaned up by the
    next write), removed on exit unless it was moved away (e.g. into a Transaction with `add_file`)."""
    target = Path(target)
    fault(target)
    _make_parents(target.parent)
    recover(target)
    temp = _temp_name(target)
    try:
        yield temp
    finally:
        _remove(temp)
        for path, pid, _ in _leftovers(target):
            if pid == os.getpid() and path.name.startswith(temp.name):
                _remove(path)


def atomic_write_text(target: str | Path, text: str) -> None:
    """Write UTF-8 text with LF line endings, atomically."""
    atomic_write_bytes(target, text.encode("utf-8"))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False when not available."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, getattr(errno, "EOPNOTSUPP", errno.ENOTSUP)):
        return False  # the kernel or the file system cannot: fall back to two renames
    raise OSError(error, os.strerror(error), str(b))


@contextlib.contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """Yield a temp folder beside `target`; on success it takes `target`'s place.

    An existing `target` is swapped with the new folder in one atomic step where the system can
    (Linux renameat2), else parked beside it, replaced, and removed; a swap cut short by a kill is
    undone by the next write to the same target. On error `target` is left as it was.
    """
    target = Path(target)
    fault(target)
    created = _make_parents(target.parent)
    recover(target)
    staging = _temp_name(target)
    staging.mkdir(mode=0o700)
    done = False
    try:
        yield staging
        os.chmod(staging, 0o755)
        checkpoint("dir-written")
        if not target.exists():
            os.rename(staging, target)
            checkpoint("dir-swapped")
        elif _exchange(staging, target):
            checkpoint("dir-swapped")  # staging now holds the old folder: removed below
        else:
            retired = _temp_name(target, "old")
            os.rename(target, retired)
            checkpoint("dir-parked")
            try:
                os.rename(staging, target)
            except OSError:
                os.rename(retired, target)
                raise
            checkpoint("dir-swapped")
            _remove(retired)
        _fsync_dir(target.parent)
        done = True
    finally:
        _remove(staging)
        checkpoint("dir-old-removed")
        if not done:
            _remove_created(created)


def toplevel(path: str | Path, within: str | Path | None = None) -> Path | None:
    """The root of the git working tree holding `path`: the nearest folder at or above it with a `.git`
    entry (a folder, or a file in a worktree or submodule), else None. With `within`, the outermost such
    folder inside `within` (a submodule's package belongs to the repository that holds the submodule).
    Reads the file system only."""
    here = Path(path).absolute()
    folders = [here, *here.parents]
    if within is not None:
        limit = Path(within).absolute()
        folders = [f for f in folders if f == limit or limit in f.parents][::-1]
    for folder in folders:
        if (folder / ".git").exists():
            return folder
    return None


def relative_to_repository(path: str | Path, base: Path | None = None) -> str:
    """`path` relative to `base`, else to the root of the git working tree holding it, else to the current
    directory, with `/` separators: what editors, pre-commit and GitHub annotations expect. A path outside
    that folder is returned as given."""
    full = Path(path).absolute()
    anchor = base if base is not None else (toplevel(full) or Path.cwd())
    try:
        return full.resolve().relative_to(Path(anchor).resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


# -- where a write may go (links) -------------------------------------------------------------------
#
# The rule, for every command that writes (README, "Hostile input"): a link is followed only when the
# user named it. The package folder given on the command line and the exact output path given with
# `--out` may be (or sit behind) links; any other link on the way to a file nkru writes is refused:
# a link inside the package (`exports`, `docs`, `report`, `dist`, a parent of `--out` inside the package:
# a pull request can plant those) or below the output folder the user named. After the links, the
# resolved folder must still be inside the package (or the current directory, for outputs that
# default to it) or inside the folder the user named.


class OutsideWrite(OSError):
    """A write that would leave the package or the folder the user named, or pass through a link the user
    did not name. Its message is one line naming the path."""

    def __init__(self, message: str, path: str | Path):
        super().__init__(errno.EPERM, message, str(path))
        self.message = message

    def __str__(self) -> str:
        return self.message


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _link_refusal(path: Path) -> OutsideWrite:
    try:
        to = os.readlink(path)
    except OSError:
        to = "?"
    return OutsideWrite(f"{path}: is a link (to {to}) that was not named on the command line; nkru writes "
                        "through no link it was not given (name the output path itself with --out)", path)


def confine(target: str | Path, root: str | Path, *, named: str | Path | None = None) -> Path:
    """Check, before anything is written, that writing `target` stays where it belongs; return it (absolute).

    `root`: the package (or the folder a default output goes in, e.g. the current directory). `named`: the
    output path exactly as the user gave it (`--out`), or None for a default output. Raises OutsideWrite
    (an OSError) when a component below `root` (default) or below `named` is a link, when a parent of `named`
    inside `root` is a link, or when the resolved path leaves `root` / `named`."""
    root_abs = Path(os.path.abspath(root))
    target_abs = Path(os.path.abspath(target))
    for given in (target, named):  # `link/..` is resolved by the system, not as written: refuse when they differ
        if given is not None and ".." in Path(given).parts:
            parent = os.path.dirname(os.path.join(os.getcwd(), os.fspath(given)))
            if os.path.realpath(parent) != os.path.realpath(os.path.abspath(parent)):
                raise OutsideWrite(f"{given}: goes up ('..') out of a link; name the output without '..'", given)
    if named is not None:
        base = Path(os.path.abspath(named))
        for parent in reversed(base.parents):  # a parent of the named output inside the package: planted?
            if parent != root_abs and _within(parent, root_abs) and os.path.islink(parent):
                raise _link_refusal(parent)
        if not _within(target_abs, base):
            raise OutsideWrite(f"{target_abs}: is outside the output {base} given on the command line", target_abs)
        if target_abs == base:
            return target_abs  # the user named this very path (a link included)
        base_real = Path(os.path.realpath(base))
    else:
        base, base_real = root_abs, Path(os.path.realpath(root_abs))
        if not _within(target_abs, base) and _within(target_abs, base_real):
            base = base_real  # a target already resolved (the package's own path has a link, e.g. /tmp)
        if not _within(target_abs, base):
            raise OutsideWrite(f"{target_abs}: is outside the package {base}", target_abs)
    probe = base
    for part in target_abs.relative_to(base).parts:
        probe = probe / part
        if os.path.islink(probe):
            raise _link_refusal(probe)
    existing = target_abs.parent
    while not os.path.lexists(existing) and existing != base and existing != existing.parent:
        existing = existing.parent
    if os.path.lexists(existing) and _within(existing, base) and not _within(Path(os.path.realpath(existing)), base_real):
        where = "the package" if named is None else "the output given on the command line"
        raise OutsideWrite(f"{target_abs}: resolves outside {where} ({base_real})", target_abs)
    return target_abs


# -- one writer at a time ---------------------------------------------------------------------------

#: The lock file in the package root (git-ignored). Held by every command while it writes.
LOCK_NAME = ".nkru.lock"
#: Seconds a command waits for another nkru process writing to the same package (`NKRU_LOCK_WAIT`).
LOCK_WAIT_ENV = "NKRU_LOCK_WAIT"
_held: dict[str, int] = {}


class PackageBusy(OSError):
    """Another live process holds the package's lock."""

    def __init__(self, message: str, path: str | Path):
        super().__init__(errno.EBUSY, message, str(path))
        self.message = message

    def __str__(self) -> str:
        return self.message


def _lock_key(root: str | Path) -> str:
    return os.path.realpath(root)


def holds_lock(root: str | Path) -> bool:
    """Whether this process holds the lock of the package at `root`."""
    return _held.get(_lock_key(root), 0) > 0


def _lock_wait() -> float:
    try:
        return max(0.0, float(os.environ.get(LOCK_WAIT_ENV, "10")))
    except ValueError:
        return 10.0


@contextlib.contextmanager
def package_lock(root: str | Path, *, wait: float | None = None) -> Iterator[None]:
    """Hold the package's write lock (filelock, released by the OS if the process dies) for the block.
    Re-entrant within a process. Waits up to `wait` seconds (default `$NKRU_LOCK_WAIT`, 10), then raises
    PackageBusy; a lock file that cannot be created (read-only tree) raises that OSError."""
    from filelock import FileLock, Timeout

    key = _lock_key(root)
    if _held.get(key, 0) > 0:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    path = Path(key) / LOCK_NAME
    if os.path.islink(path):
        raise _link_refusal(path)
    lock = FileLock(str(path), timeout=_lock_wait() if wait is None else wait)
    try:
        lock.acquire()
    except Timeout:
        raise PackageBusy(f"{key}: another nkru process is writing to this package (it holds {path}); "
                          "nothing was done: run again when it has finished", key) from None
    _held[key] = 1
    try:
        yield
    finally:
        _held.pop(key, None)
        lock.release()


def lock_for(root: str | Path, *targets: str | Path):
    """The package's write lock when one of `targets` is inside the package at `root` (`package_lock`); else
    nothing to hold: a command whose output lies outside the package leaves the package untouched (it may be
    read-only, and the atomic writes already keep two writers of the same output apart)."""
    real = Path(os.path.realpath(root))
    for target in targets:
        where = Path(os.path.realpath(os.path.abspath(target)))
        if _within(where, real) or _within(Path(os.path.abspath(target)), Path(os.path.abspath(root))):
            return package_lock(root)
    return contextlib.nullcontext()


def lock_is_free(root: str | Path) -> bool:
    """Whether no live process holds the package's lock (checked without creating anything)."""
    if holds_lock(root):
        return True
    path = Path(_lock_key(root)) / LOCK_NAME
    if not path.is_file() or path.is_symlink():
        return True
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)  # closing releases a lock taken just now
    return True


# -- fault injection (tests) ------------------------------------------------------------------------

#: Test hook: `NKRU_TEST_FAULT=ENOSPC` (full disk) or `EROFS` (read-only file system) makes every write
#: of the atomic mechanisms fail with that error (tests run as root, where chmod stops nothing).
FAULT_ENV = "NKRU_TEST_FAULT"


def fault(path: str | Path) -> None:
    """Raise the OSError the test hook asks for, as the write of `path` would."""
    wanted = os.environ.get(FAULT_ENV)
    if wanted and hasattr(errno, wanted):
        code = getattr(errno, wanted)
        raise OSError(code, os.strerror(code), str(path))


def write_error(exc: OSError, target: str | Path | None = None) -> str:
    """One line for a write that failed: the refusal itself (a link, another writer), else the path (`target`, the
    output the user knows, rather than a temporary file beside it) and why."""
    if isinstance(exc, (OutsideWrite, PackageBusy)):
        return str(exc)
    where = target if target is not None else exc.filename if exc.filename is not None else "the output"
    return f"{where}: cannot be written: {exc.strerror or exc}"
