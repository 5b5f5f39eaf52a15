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

`recover()` (run by every `nkru release` before it does anything else) finishes an interrupted
transaction: before the commit point it deletes the staged files (the previous state is untouched),
after it renames the remaining staged files into place. Either way no temporary file is left.
`NKRU_CRASH_AT=N` kills the process at the N-th step (tests use it to prove the above).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from pathlib import Path

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


def staged_path(target: Path) -> Path:
    return target.with_name(f".{target.name}{SUFFIX}")


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _write_state(folder: Path, targets: list[Path], committed: bool) -> None:
    temp = folder / (STATE + ".tmp")
    _write(temp, json.dumps({"committed": committed, "targets": [str(t) for t in targets]}, indent=1).encode("utf-8"))
    os.replace(temp, folder / STATE)


def recover(root: str | Path) -> str | None:
    """Finish or undo an interrupted transaction in `root`; returns what was done, or None when there was none."""
    folder = Path(root) / STATE_DIR
    if not folder.is_dir():
        return None
    try:
        state = json.loads((folder / STATE).read_text(encoding="utf-8"))
        targets = [Path(t) for t in state.get("targets", [])]
        committed = state.get("committed") is True
    except (OSError, ValueError, AttributeError):
        targets, committed = [], False  # killed before the state was written: nothing was staged
    for target in targets:
        staged = staged_path(target)
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
        self.files: dict[Path, bytes] = {}

    @property
    def targets(self) -> list[Path]:
        return list(self.files)

    def add(self, target: str | Path, data: bytes) -> None:
        self.files[Path(target).resolve()] = data

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(self, kind, *_: object) -> None:
        if kind is None:
            self.commit()

    def commit(self) -> None:
        recover(self.root)
        targets = list(self.files)
        self.folder.mkdir(parents=True, exist_ok=False)
        try:
            _checkpoint()
            _write_state(self.folder, targets, committed=False)
            _checkpoint()
            for target, data in self.files.items():
                target.parent.mkdir(parents=True, exist_ok=True)
                staged = staged_path(target)
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
        shutil.rmtree(self.folder, ignore_errors=True)
        _checkpoint()
