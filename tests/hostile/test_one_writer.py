"""One writer at a time: every command that writes holds the package's lock (filelock), and an interrupted
release is recovered only when no live process holds it. Two real processes: the first `nkru release` is stopped
(SIGSTOP, by the test hook NKRU_TEST_KILL_AT=*:12:STOP) after its commit point, with its journal on disk and its lock held;
a second `nkru release` refuses clearly and leaves the journal alone; the first then finishes as if alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nkru.fsutil import PackageBusy, package_lock
from nkru.transaction import KILL_ENV, STATE_DIR, recover
from tests.test_release_atomic import fresh, leftovers

pytestmark = pytest.mark.slow  # real nkru processes, stopped and resumed


def nkru(*args: str, **env: str) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if k != KILL_ENV}
    environment.update(env)
    return subprocess.Popen([sys.executable, "-m", "nkru", *args], env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_stopped(process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        state = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "T":
            return
        time.sleep(0.1)
    raise AssertionError("the first release never reached its stop point")


def journal(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and (STATE_DIR in p.parts or p.name.endswith(".nkru-staged"))}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process state from /proc")
def test_a_second_release_never_completes_a_live_first_ones_journal(tmp_path):
    root = fresh(tmp_path, "busy")
    first = nkru("release", "2.0.0", str(root), "--date", "2026-12-01", NKRU_TEST_KILL_AT="*:12:STOP")
    try:
        wait_stopped(first)
        during = journal(root)
        assert during, "the first release should be mid-transaction"
        # A second release: refuses at once (one line, exit 2), touches nothing.
        second = nkru("release", "2.0.0", str(root), "--date", "2026-12-01", NKRU_LOCK_WAIT="0.5")
        out, err = second.communicate(timeout=300)
        assert second.returncode == 2, (out, err)
        assert "Released" not in out and "Recovered" not in out
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "another nkru process is writing" in lines[0], lines
        assert journal(root) == during
        # A dry run says so, and touches nothing either.
        dry = nkru("release", "2.0.0", str(root), "--date", "2026-12-01", "--dry-run")
        out, err = dry.communicate(timeout=300)
        assert "another nkru process is writing" in out, (out, err)
        assert journal(root) == during
        # Recovery called directly, from this process, refuses too.
        with pytest.raises(PackageBusy):
            recover(root)
        assert journal(root) == during
    finally:
        first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, (out, err)
    assert "Released nkru 2.0.0" in out and "Recovered" not in out
    assert leftovers(root) == []


def test_the_lock_is_released_when_its_holder_dies(tmp_path):
    root = tmp_path / "pkg"
    root.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from nkru.fsutil import package_lock\n"
        "with package_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)"), str(root)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(PackageBusy):
            with package_lock(root, wait=0.2):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with package_lock(root, wait=0):  # the OS released it with the process
        pass
