"""`nkru release` writes its files as one transaction: killed (SIGKILL) at any step it leaves the previous state
(or, after its commit point, a state its next run completes), and the rerun ends in exactly the state of an
uninterrupted release with no temporary file left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_package
from tests.helpers import git, init_repo, run_cli
from nkru import release
from nkru.api import validate_package
from nkru.transaction import KILL_ENV, OLD, STATE_DIR, SUFFIX

RELEASE = (
    "import sys; from nkru import release; "
    "plan = release.plan_release(sys.argv[1], '2.0.0', date='2026-12-01', validate=False); "
    "assert plan.ok, plan.refusals; release.write_release(plan)"
)
pytestmark = pytest.mark.slow  # a release killed (kill -9) at every step, each in a process of its own

# 2.0.0 is above any version the real package has, so that every metadata file changes (seven files written).
WATCHED = ["CHANGELOG.md", "CITATION.cff", ".zenodo.json", "datapackage.json", "docs/codebook.md", "releases/2.0.0.json",
           "dist/nkru-2.0.0.zip", "dist/SHA256SUMS", "dist/nkru-0.9.0.zip"]


def state(root: Path) -> dict[str, bytes | None]:
    return {name: (root / name).read_bytes() if (root / name).is_file() else None for name in WATCHED}


def leftovers(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if ".git" not in p.relative_to(root).parts
                  and (p.name.endswith((SUFFIX, OLD)) or any(part.startswith(STATE_DIR) for part in p.parts)))


def fresh(tmp_path: Path, name: str) -> Path:
    root = init_repo(copy_package(tmp_path / name), commit="the package")
    (root / "dist").mkdir()
    (root / "dist" / "nkru-0.9.0.zip").write_bytes(b"an earlier zip")  # dist/ is not tracked
    (root / "dist" / "SHA256SUMS").write_text("old sums\n", encoding="utf-8")
    return root


def run(root: Path, crash_at: int | None) -> int:
    """The release in a process of its own, killed at its `crash_at`-th step (`NKRU_TEST_KILL_AT=*:N`)."""
    env = {k: v for k, v in os.environ.items() if k not in (KILL_ENV, "SOURCE_DATE_EPOCH")}
    if crash_at is not None:
        env[KILL_ENV] = f"*:{crash_at}"
    return subprocess.run([sys.executable, "-c", RELEASE, str(root)], env=env, capture_output=True).returncode


def run_here(root: Path) -> int:
    """The release of RELEASE, uninterrupted, in this process (only a run that is killed needs its own)."""
    assert KILL_ENV not in os.environ and "SOURCE_DATE_EPOCH" not in os.environ
    plan = release.plan_release(root, "2.0.0", date="2026-12-01", validate=False)
    assert plan.ok, plan.refusals
    release.write_release(plan)
    return 0


def test_a_release_killed_at_any_step_leaves_the_old_state_or_is_completed_by_the_rerun(tmp_path, monkeypatch):
    # Every fresh repository gets the same commit (the manifest records the commit a release was built on).
    monkeypatch.setenv("GIT_AUTHOR_DATE", "2026-11-30T12:00:00Z")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-11-30T12:00:00Z")
    monkeypatch.delenv(KILL_ENV, raising=False)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    reference = fresh(tmp_path, "reference")
    before = state(reference)
    assert run(reference, None) == 0  # the reference in a fresh process, as the killed runs
    after = state(reference)
    assert after != before and leftovers(reference) == []
    assert after["dist/nkru-0.9.0.zip"] == before["dist/nkru-0.9.0.zip"]
    assert b"nkru-0.9.0.zip" in after["dist/SHA256SUMS"] and b"nkru-2.0.0.zip" in after["dist/SHA256SUMS"]

    steps = recovered_after_commit = 0
    for crash_at in range(1, 40):
        root = fresh(tmp_path, f"crash{crash_at}")
        code = run(root, crash_at)
        if code == 0:  # fewer steps than crash_at: every step has been tried
            break
        steps += 1
        assert code == -signal.SIGKILL, code
        now = state(root)
        # Every file is either as before or as after, never torn.
        assert all(now[name] in (before[name], after[name]) for name in WATCHED), crash_at
        assert all(before[name] != after[name] for name in WATCHED if name != "dist/nkru-0.9.0.zip")
        if any(now[name] != before[name] for name in WATCHED):
            # Past the commit point: the validate layer says so, and the rerun completes it.
            layer = validate_package(root, only=["metadata"]).layers[0]
            assert ("release-interrupted" in [f.code for f in layer.findings]) == bool(leftovers(root))
            recovered_after_commit += 1
        else:
            assert now == before
        # The rerun recovers first, then ends exactly where an uninterrupted release does.
        assert run_here(root) == 0
        assert state(root) == after, crash_at
        assert leftovers(root) == [], (crash_at, leftovers(root))
        assert git(root, "status", "--porcelain", "--", ".") == git(reference, "status", "--porcelain", "--", ".")
    assert recovered_after_commit >= 7
    assert steps >= 17  # journal, staged files (7), commit, renames (7), journal removed


def test_the_cli_says_it_recovered(tmp_path):
    root = fresh(tmp_path, "cli")
    assert run(root, 12) == -signal.SIGKILL
    left = leftovers(root)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}
    # A dry run writes nothing, ever: it says a recovery is pending and leaves the journal as it is.
    result = run_cli("release", "2.0.0", str(root), "--date", "2026-12-01", "--dry-run")
    assert "Recovery pending" in result.stdout and "completes it" in result.stdout, result.stdout
    assert "Recovered" not in result.stdout
    assert leftovers(root) == left != []
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts} == before
    result = run_cli("release", "2.0.0", str(root), "--date", "2026-12-01")
    assert "Recovered: completed an interrupted write" in result.stdout
    assert leftovers(root) == []


@pytest.mark.parametrize("state", [b"[" * 100_000 + b"]" * 100_000, b'{"committed": true, "targets": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                                   b"\xff\xfe not utf-8", b'{"committed": true, "targets": "x"}'])
def test_a_hostile_journal_state_is_read_as_nothing_staged(tmp_path, state):
    from nkru.transaction import STATE, _read_state

    folder = tmp_path / STATE_DIR
    folder.mkdir()
    (folder / STATE).write_bytes(state)
    assert _read_state(folder) == ([], False)  # never a traceback, never a target made up from a string
