"""Files: reading only regular files, where a write may go (`confine`: resolved paths and links), one writer per
package (`package_lock`), the disk-fault test hook, and where a path is in its git working tree. Writing itself is
nkru.transaction (one mechanism for one file, several files and folders)."""

from __future__ import annotations

import contextlib
import errno
import os
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
#: (nkru.transaction) fail with that error (tests run as root, where chmod stops nothing).
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
