"""Every write nkru makes, as one transaction: one file, several files or a folder change all together or not
at all, even when the process is killed (kill -9) at any point.

A transaction writes into its `root` folder (the package, or the output folder; `nkru.fsutil.confine` checks every
target, links included). How:

1. begin: `ROOT/.nkru-release/` (the journal; git-ignored) appears in one rename, already holding
   `state.json` (`"committed": false`) and already locked (flock, released by the system when the process dies);
2. each target is listed in the state *before* anything is written for it, then staged beside it as
   `.NAME.nkru-staged` (a file, or a folder the caller fills), in its own folder so that the last rename is atomic;
3. commit point: every staged item is fsynced, then the state is rewritten with `"committed": true`
   (one atomic rename);
4. each staged item is renamed over its target (a folder being replaced is first parked as `.NAME.nkru-old`,
   then removed);
5. the journal is removed.

`recover(root)` (run by every transaction before it begins in the same root, by `nkru release` and `nkru export`)
finishes an interrupted one: before the commit point it deletes the staged items (the previous state is
untouched), after it puts the remaining staged items in place. Either way no temporary file is left. It runs only
when no live process holds the journal (its flock) or the package's lock (`nkru.fsutil.package_lock`): a
transaction whose writer is still running is never taken for an interrupted one. `pending()` says what a recovery
would do without doing it (`nkru release --dry-run` writes nothing, ever).

A single file is a transaction of one (`atomic_write_bytes`, `atomic_write_text`, `atomic_path`), a folder too
(`atomic_directory`: the report, Data Docs, the Parquet export).

Folders are swapped by two renames (park the old one, move the new one in), not by Linux's renameat2
RENAME_EXCHANGE: killed between the two, the journal is committed and names the folder, so the next write
to that root puts the new folder in place, exactly as it completes the renames of several files. The
exchange would only shorten the moment in which the folder is missing, at the cost of ctypes and a
per-platform fallback that needed this recovery anyway.

Test hook: `NKRU_TEST_KILL_AT=STEP[:N][:STOP]` kills the process (SIGKILL; SIGSTOP with `:STOP`) at the N-th
pass (default 1) of STEP, one of `STEPS`, or of any step with `*`, in the first transaction that gets that far
(`*:12` is the twelfth step of a transaction, whatever it is: a sentence-cache file, five steps, never gets there).
Disk faults are a different hook: `NKRU_TEST_FAULT` (`nkru.fsutil.fault`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import signal
import stat
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

from nkru.fsutil import PackageBusy, _lock_wait, confine, fault, lock_is_free

#: The journal's folder in the transaction's root (listed in .gitignore).
STATE_DIR = ".nkru-release"
STATE = "state.json"
SUFFIX = ".nkru-staged"
OLD = ".nkru-old"

#: The one test hook: `NKRU_TEST_KILL_AT=STEP[:N][:STOP]` (see the module's docstring).
KILL_ENV = "NKRU_TEST_KILL_AT"
#: The steps of a transaction, in order: `staged` and `replaced` come once per target, `parked` once per folder
#: that replaces a folder.
STEPS = ("begun", "staged", "committed", "parked", "replaced", "done")
_passed: Counter[str] = Counter()


def step(name: str) -> None:
    """Die (or stop) here, at once and without cleaning up, when the test hook asks for it."""
    wanted = os.environ.get(KILL_ENV)
    if not wanted:
        return
    _passed[name] += 1
    _passed["*"] += 1
    point, *rest = wanted.split(":")
    count = int(rest[0]) if rest and rest[0].isdigit() else 1
    if point in (name, "*") and _passed[point] == count:
        os.kill(os.getpid(), signal.SIGSTOP if "STOP" in rest else signal.SIGKILL)


def staged_path(target: Path) -> Path:
    return target.with_name(f".{target.name}{SUFFIX}")


def old_path(target: Path) -> Path:
    return target.with_name(f".{target.name}{OLD}")


# -- files and folders ---------------------------------------------------------------------------------


def _is_dir(path: Path) -> bool:
    """A real folder (not a link to one)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _remove(path: Path) -> None:
    if _is_dir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(path)


def _remove_staged(target: Path) -> None:
    """The staged item of `target` and what a library made beside it (SQLite's `-journal`, DuckDB's `.wal`)."""
    staged = staged_path(target)
    _remove(staged)
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):
            if entry.name.startswith(staged.name) and entry.name[len(staged.name):][:1] in ("-", "."):
                _remove(Path(entry.path))


def _fsync(path: Path, *, folder: bool = False) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if folder else 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _sync(staged: Path) -> None:
    """Make a staged file, or every file of a staged folder, durable."""
    if not _is_dir(staged):
        _fsync(staged)
        return
    for folder, _, files in os.walk(staged):
        for name in files:
            _fsync(Path(folder) / name)
        _fsync(Path(folder), folder=True)


def _write(path: Path, data: bytes) -> None:
    fault(path)
    with open(path, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


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


def _remove_old(target: Path) -> None:
    if _is_dir(old_path(target)):
        _remove(old_path(target))


def _put_in_place(target: Path) -> None:
    """Step 4 for one target, from wherever a killed run stopped (also used by recovery)."""
    staged, old = staged_path(target), old_path(target)
    if os.path.lexists(staged):
        if _is_dir(staged) and _is_dir(target):
            _remove(old)  # a stale one: the folder in place is the one to keep until the new one is in
            os.rename(target, old)
            step("parked")
        os.replace(staged, target)
        step("replaced")
    elif _is_dir(old) and not os.path.lexists(target):
        os.rename(old, target)  # nothing to put in its place (never after a commit): the old folder stays


# -- the journal -------------------------------------------------------------------------------------


def _write_state(folder: Path, targets: list[Path], committed: bool) -> None:
    temp = folder / (STATE + ".tmp")
    _remove(temp)
    _write(temp, json.dumps({"committed": committed, "targets": [str(t) for t in targets]}, indent=1).encode("utf-8"))
    os.replace(temp, folder / STATE)


def _read_state(folder: Path) -> tuple[list[Path], bool]:
    from nkru import safejson
    from nkru.fsutil import read_regular

    try:
        data = read_regular(folder / STATE) if (folder / STATE).stat().st_size <= 1_000_000 else b""
        state = safejson.loads(data, name=str(folder / STATE))  # bounded like every JSON nkru reads
        listed = state.get("targets", [])
        if not isinstance(listed, list) or not all(isinstance(t, str) for t in listed):
            raise TypeError("targets is not a list of paths")
        targets = [Path(t) for t in listed]
        committed = state.get("committed") is True
    except (OSError, ValueError, AttributeError, TypeError, RecursionError):
        targets, committed = [], False  # killed before the state was written: nothing was staged
    return targets, committed


def _lock(folder: Path) -> int | None:
    """An open descriptor of `folder` holding its flock, or None when a live process holds it."""
    import fcntl

    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _remove_journal(folder: Path) -> None:
    for name in (STATE, STATE + ".tmp"):
        with contextlib.suppress(OSError):
            os.unlink(folder / name)
    with contextlib.suppress(OSError):
        os.rmdir(folder)  # not with rmtree: a journal is only ever these files


def _begun(root: Path) -> list[Path]:
    """Journals of writers killed before theirs was renamed into place (`.nkru-release.XXXXXXXX.tmp`)."""
    with contextlib.suppress(OSError):
        return [Path(e.path) for e in os.scandir(root) if e.name.startswith(STATE_DIR + ".") and e.name.endswith(".tmp")]
    return []


def _recoverable(root: Path, target: Path) -> bool:
    """Whether an interrupted transaction's target may be touched: its staged item is a regular file or a folder
    (not a link) and, for a target inside the root, no link lies on the way (`confine`). A journal is data a pull
    request could plant; a target outside the root (a release's --out) needs a staged item beside it there."""
    from nkru.fsutil import OutsideWrite

    if not target.is_absolute():
        return False
    with contextlib.suppress(OSError):
        mode = os.lstat(staged_path(target)).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            return False
    inside = [Path(os.path.abspath(root)), Path(os.path.realpath(root))]
    if any(target == base or base in target.parents for base in inside):
        try:
            confine(target, root)
        except OutsideWrite:
            return False
    return True


def _busy(root: Path) -> PackageBusy:
    return PackageBusy(f"{root}: another nkru process is writing here (its journal {root / STATE_DIR} is not "
                       "touched); nothing was done: run again when it has finished", root)


def pending(root: str | Path) -> str | None:
    """What `recover(root)` would do, without doing it (None when there is nothing to recover)."""
    folder = Path(root) / STATE_DIR
    if not _is_dir(folder):
        return None
    if not lock_is_free(root):
        return f"another nkru process is writing to {root} (its transaction in {folder} is not touched)"
    targets, committed = _read_state(folder)
    if committed:
        return f"an interrupted write is pending in {folder}: the next write completes it ({len(targets)} files)"
    return f"an interrupted write is pending in {folder}: the next write undoes it (nothing had changed)"


def recover(root: str | Path) -> str | None:
    """Finish or undo an interrupted transaction in `root`; returns what was done, or None when there was none.

    Only when no live process holds its journal or the package's lock; PackageBusy when one does."""
    root = Path(root)
    for begun in _begun(root):
        fd = _lock(begun)
        if fd is not None:
            try:
                _remove_journal(begun)
            finally:
                os.close(fd)
    folder = root / STATE_DIR
    if not os.path.lexists(folder):
        return None
    if not _is_dir(folder):
        raise PackageBusy(f"{folder}: is a link; nkru does not recover a transaction through a link", folder)
    fd = _lock(folder) if lock_is_free(root) else None
    if fd is None:
        raise _busy(root)
    try:
        targets, committed = _read_state(folder)
        for target in targets:
            if not _recoverable(root, target):
                continue  # a journal planted in the package naming a path through a link: not followed
            if committed:
                _put_in_place(target)
                _remove_staged(target)  # what a library left beside it
            else:
                _remove_staged(target)
                if _is_dir(old_path(target)) and not os.path.lexists(target):
                    os.rename(old_path(target), target)  # a parked folder goes back
            _remove_old(target)
        _remove_journal(folder)
    finally:
        os.close(fd)
    if committed:
        return f"completed an interrupted write ({len(targets)} files written)"
    return "undid an interrupted write before it changed anything (its staged files removed)"


# -- the transaction ---------------------------------------------------------------------------------


class Transaction:
    """`with Transaction(root) as t: t.add(path, data)`: every target written when the block ends, or none (an
    error in the block, or a kill at any point). `t.path(target)` / `t.folder(target)` give a staged file name /
    folder that the caller fills (a database, a site) instead of bytes."""

    def __init__(self, root: str | Path, *, named: str | Path | None = None):
        self.root = Path(root)
        self.named = named  # the output as the user named it (`--out`): a link there is followed
        self.folder = self.root / STATE_DIR
        self._targets: list[Path] = []
        self._created: list[Path] = []
        self._fd: int | None = None

    @property
    def targets(self) -> list[Path]:
        return list(self._targets)

    def __enter__(self) -> "Transaction":
        self.begin()
        return self

    def __exit__(self, kind, *_: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()

    # -- 1. begin
    def begin(self) -> None:
        """Recover what a killed writer left in the root (waiting up to `$NKRU_LOCK_WAIT` seconds for a live one),
        then put this transaction's journal in place."""
        self._created = _make_parents(self.root)
        deadline = time.monotonic() + _lock_wait()
        try:
            while True:
                try:
                    recover(self.root)
                    if self._open_journal():
                        break
                except PackageBusy:
                    if time.monotonic() >= deadline:
                        raise
                time.sleep(0.05)
        except BaseException:
            _remove_created(self._created)
            raise
        _passed.clear()  # the test hook counts the steps of one transaction
        step("begun")

    def _open_journal(self) -> bool:
        temp = self.root / f"{STATE_DIR}.{secrets.token_hex(4)}.tmp"
        temp.mkdir(mode=0o700)
        fd = _lock(temp)
        try:
            if fd is None:
                raise PackageBusy(f"{temp}: cannot be locked", temp)
            _write_state(temp, [], committed=False)
            os.rename(temp, self.folder)  # the journal appears whole, and already locked
        except OSError as exc:
            if fd is not None:
                os.close(fd)
            _remove_journal(temp)
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                return False  # another transaction began first: wait for it
            raise
        self._fd = fd
        _fsync(self.root, folder=True)
        return True

    # -- 2. stage
    def _stage(self, target: str | Path, named: str | Path | None) -> Path:
        fault(target)
        if self._fd is None:
            raise RuntimeError("a transaction stages files between begin() and commit()")
        path = confine(target, self.root, named=named if named is not None else self.named).resolve()
        if path in self._targets:
            raise ValueError(f"{path}: written twice in one transaction")
        self._created += _make_parents(path.parent)
        self._targets.append(path)
        _write_state(self.folder, self._targets, committed=False)  # listed before anything is staged
        _remove_staged(path)  # a stale one, from no live transaction
        return staged_path(path)

    def add(self, target: str | Path, data: bytes, *, named: str | Path | None = None) -> Path:
        """Write `data` to `target` (inside the root, or inside `named`, the output the user named on the command
        line; a link on the way is refused: `nkru.fsutil.confine`, OutsideWrite)."""
        staged = self._stage(target, named)
        _write(staged, data)
        return staged

    def path(self, target: str | Path, *, named: str | Path | None = None) -> Path:
        """A staged name for `target` (not yet existing): write the new file there (a database, a workbook)."""
        return self._stage(target, named)

    def folder_for(self, target: str | Path, *, named: str | Path | None = None) -> Path:
        """A staged, empty folder for `target`: fill it; it replaces `target` (a folder, or nothing) on commit."""
        staged = self._stage(target, named)
        staged.mkdir(mode=0o700)
        return staged

    # -- 3.-5. commit
    def commit(self) -> None:
        try:
            for target in self._targets:
                staged = staged_path(target)
                if not os.path.lexists(staged):
                    raise FileNotFoundError(errno.ENOENT, "nothing was staged for it", str(target))
                _sync(staged)
                keep = os.stat(target).st_mode & 0o777 if target.is_file() and not _is_dir(staged) else None
                os.chmod(staged, 0o755 if _is_dir(staged) else keep if keep is not None else 0o644)
                step("staged")
            _write_state(self.folder, self._targets, committed=True)
        except BaseException:
            self.abort()
            raise
        step("committed")
        changed = False
        try:
            for target in self._targets:
                try:
                    _put_in_place(target)
                except OSError:
                    if changed:
                        raise  # some targets are new: the journal stays, the next write completes the rest
                    if _is_dir(old_path(target)) and not os.path.lexists(target):
                        os.rename(old_path(target), target)  # the parked folder goes back
                    self.abort()  # nothing changed yet: undone here and now
                    raise
                changed = True
            for target in self._targets:
                _remove_old(target)
            for parent in {target.parent for target in self._targets}:
                _fsync(parent, folder=True)
            _remove_journal(self.folder)
            _fsync(self.root, folder=True)
        finally:  # past the commit point: a failed rename leaves the journal for the next run to complete
            self._release()
        step("done")

    def abort(self) -> None:
        """Before the commit point: remove everything staged and the journal; the targets are untouched."""
        for target in self._targets:
            _remove_staged(target)
        if self._fd is not None:
            _remove_journal(self.folder)
        self._release()
        _remove_created(self._created)

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _remove_created(created: list[Path]) -> None:
    for path in reversed(created):
        with contextlib.suppress(OSError):
            path.rmdir()  # only if still empty


# -- a transaction of one ----------------------------------------------------------------------------


def atomic_write_bytes(target: str | Path, data: bytes, *, root: str | Path | None = None,
                       named: str | Path | None = None) -> None:
    """Write one file as a transaction of one (its journal in `root`, default the file's folder)."""
    target = Path(target)
    with Transaction(target.parent if root is None else root, named=named) as transaction:
        transaction.add(target, data)


def atomic_write_text(target: str | Path, text: str, *, root: str | Path | None = None,
                      named: str | Path | None = None) -> None:
    """Write UTF-8 text (as given: LF line endings stay LF), atomically."""
    atomic_write_bytes(target, text.encode("utf-8"), root=root, named=named)


@contextlib.contextmanager
def atomic_path(target: str | Path, *, root: str | Path | None = None,
                named: str | Path | None = None) -> Iterator[Path]:
    """Yield a staged file name for `target` (not yet existing); the file written there replaces `target` when the
    block ends without an error."""
    target = Path(target)
    with Transaction(target.parent if root is None else root, named=named) as transaction:
        yield transaction.path(target)


@contextlib.contextmanager
def atomic_directory(target: str | Path, *, root: str | Path | None = None,
                     named: str | Path | None = None) -> Iterator[Path]:
    """Yield an empty staged folder for `target`; filled, it takes `target`'s place when the block ends without an
    error (an existing folder is parked, replaced and removed; see the module's docstring)."""
    target = Path(target)
    with Transaction(target.parent if root is None else root, named=named) as transaction:
        yield transaction.folder_for(target)
