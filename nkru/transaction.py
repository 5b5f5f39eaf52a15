"""Write several files as one transaction that survives being killed (kill -9) at any point.

`nkru release` writes the metadata files, the release manifest, the zip and SHA256SUMS: either all
of them change or none does. How:

1. `.nkru-release/state.json` (in the package root, git-ignored) is written, atomically, listing the
   targets and `"committed": false`;
2. each new file is written beside its target as `.NAME.nkru-staged` (same folder, so the final rename
   is atomic);
3. the state is rewritten with `"committed": true` (one atomic rename: the commit point);
4. each staged file is renamed over its target;
5. `.nkru-release/` is removed.

`recover()` (run by every `nkru release` and `nkru export` before it does anything else) finishes an
interrupted transaction: before the commit point it deletes the staged files (the previous state is
untouched), after it renames the remaining staged files into place. Either way no temporary file is left.
It runs only when no live process holds the package's lock (`nkru.fsutil.package_lock`): a transaction
whose writer is still running is never taken for an interrupted one. `pending()` says what a recovery
would do without doing it (`nkru release --dry-run` writes nothing, ever).
`NKRU_CRASH_AT=N` kills the process at the N-th step, `NKRU_TEST_STOP_AT=N` stops it there (SIGSTOP, so
that a test can start a second process while the first is alive); tests use them to prove the above.

`nkru export` writes a SQLite database and its Datasette metadata file the same way (its journal is
`.nkru-release/` in the output folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from pathlib import Path

from nkru.fsutil import PackageBusy, _fsync_dir, confine, fault, holds_lock, lock_is_free, package_lock

#: The transaction's folder in the package root (listed in .gitignore).
STATE_DIR = ".nkru-release"
STATE = "state.json"
SUFFIX = ".nkru-staged"
_steps = 0


def _checkpoint() -> None:
    """Fault injection for the crash tests: SIGKILL this process at step NKRU_CRASH_AT (1-based)."""
    global _steps
    _steps += 1
    crash = os.environ.get("NKRU_CRASH_AT")
    if crash and crash.isdigit() and int(crash) == _steps:
        os.kill(os.getpid(), signal.SIGKILL)
    stop = os.environ.get("NKRU_TEST_STOP_AT")
    if stop and stop.isdigit() and int(stop) == _steps:
        os.kill(os.getpid(), signal.SIGSTOP)


def staged_path(target: Path) -> Path:
    return target.with_name(f".{target.name}{SUFFIX}")


def _write(path: Path, data: bytes) -> None:
    fault(path)
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _write_state(folder: Path, targets: list[Path], committed: bool) -> None:
    temp = folder / (STATE + ".tmp")
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


def _recoverable(root: Path, target: Path, staged: Path) -> bool:
    """Whether an interrupted transaction's file may be put in place: its staged copy is a regular file (not a
    link) and, for a target inside the package, no link lies on the way (`confine`). A journal is data a pull
    request could plant; a target outside the package (a release's --out) needs a staged file beside it there."""
    import stat

    from nkru.fsutil import OutsideWrite

    try:
        if not stat.S_ISREG(os.lstat(staged).st_mode):
            return False
    except OSError:
        return True  # no staged file: nothing to do for this target
    inside = [Path(os.path.abspath(root)), Path(os.path.realpath(root))]
    if any(target == base or base in target.parents for base in inside):
        try:
            confine(target, root)
        except OutsideWrite:
            return False
    return True


def pending(root: str | Path) -> str | None:
    """What `recover(root)` would do, without doing it (None when there is nothing to recover)."""
    folder = Path(root) / STATE_DIR
    if not folder.is_dir() or folder.is_symlink():
        return None
    if not lock_is_free(root):
        return f"another nkru process is writing to {root} (its transaction in {folder} is not touched)"
    targets, committed = _read_state(folder)
    if committed:
        return (f"an interrupted release is pending in {folder}: the next `nkru release` completes it "
                f"({len(targets)} files)")
    return f"an interrupted release is pending in {folder}: the next `nkru release` undoes it (nothing had changed)"


def recover(root: str | Path) -> str | None:
    """Finish or undo an interrupted transaction in `root`; returns what was done, or None when there was none.

    Only when no live process holds the package's lock: taken here (without waiting) unless this process
    holds it already; PackageBusy when another process does."""
    folder = Path(root) / STATE_DIR
    if not folder.is_dir():
        return None
    if folder.is_symlink():
        raise PackageBusy(f"{folder}: is a link; nkru does not recover a transaction through a link", folder)
    if not holds_lock(root):
        with package_lock(root, wait=0):
            return recover(root)
    targets, committed = _read_state(folder)
    for target in targets:
        staged = staged_path(target)
        if not _recoverable(Path(root), target, staged):
            continue  # a journal planted in the package naming a path through a link: not followed
        if committed and staged.exists():
            os.replace(staged, target)
        elif staged.exists():
            staged.unlink()
    shutil.rmtree(folder, ignore_errors=True)
    if committed:
        return f"completed an interrupted release ({len(targets)} files written)"
    return "undid an interrupted release before it changed anything (its staged files removed)"


class Transaction:
    """`with Transaction(root) as t: t.add(path, data)`: every file written on exit, or none."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.folder = self.root / STATE_DIR
        self.files: dict[Path, bytes | Path] = {}

    @property
    def targets(self) -> list[Path]:
        return list(self.files)

    def add(self, target: str | Path, data: bytes, *, named: str | Path | None = None) -> None:
        """Write `data` to `target`: inside the transaction's root, or inside `named` (the output the user
        named on the command line); a link on the way is refused (`nkru.fsutil.confine`, OutsideWrite)."""
        self.files[confine(target, self.root, named=named).resolve()] = data

    def add_file(self, target: str | Path, source: str | Path, *, named: str | Path | None = None) -> None:
        """Move the finished file `source` (in `target`'s folder, e.g. a database built beside it) to `target`."""
        self.files[confine(target, self.root, named=named).resolve()] = Path(source)

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(self, kind, *_: object) -> None:
        if kind is None:
            self.commit()

    def commit(self) -> None:
        recover(self.root)
        targets = list(self.files)
        fault(self.folder)
        self.folder.mkdir(parents=True, exist_ok=False)
        try:
            _checkpoint()
            _write_state(self.folder, targets, committed=False)
            _checkpoint()
            for target, data in self.files.items():
                target.parent.mkdir(parents=True, exist_ok=True)
                staged = staged_path(target)
                if isinstance(data, Path):
                    fault(staged)
                    with open(data, "rb+") as handle:
                        os.fsync(handle.fileno())
                    os.replace(data, staged)
                else:
                    _write(staged, data)
                os.chmod(staged, (target.stat().st_mode & 0o777) if target.exists() else 0o644)
                _checkpoint()
            _write_state(self.folder, targets, committed=True)
        except BaseException:
            with contextlib.suppress(OSError):
                recover(self.root)  # not committed: remove what was staged
            raise
        _checkpoint()
        for target in targets:
            os.replace(staged_path(target), target)
            _checkpoint()
        for parent in {target.parent for target in targets}:
            _fsync_dir(parent)
        shutil.rmtree(self.folder, ignore_errors=True)
        _fsync_dir(self.root)
        _checkpoint()
