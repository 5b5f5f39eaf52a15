"""The release workflow: `.github/workflows/release.yml` is well formed and runs one script, `.ci/release`,
which this test runs end to end on a shallow clone of a released temporary repository."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_package
from tests.helpers import REPO, git, init_repo
from nkru import release

pytestmark = pytest.mark.slow  # runs the release workflow's script end to end

WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
SCRIPT = REPO / ".ci" / "release"


def test_the_workflow_is_well_formed_and_runs_the_one_script():
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert on == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}
    assert workflow["permissions"] == {"contents": "write"}
    [job] = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest" and job["timeout-minutes"] > 0
    for step in job["steps"]:
        assert set(step) <= {"name", "uses", "with", "run", "env", "if"}, step
        assert ("uses" in step) != ("run" in step), step
    uses = [s["uses"] for s in job["steps"] if "uses" in s]
    assert uses == ["actions/checkout@v5", "actions/setup-python@v6"]
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert runs == ["pip install -e .", 'bash .ci/release "$TAG" dist']
    [publish] = [s for s in job["steps"] if s.get("run", "").startswith("bash .ci/release")]
    assert publish["env"] == {"GH_TOKEN": "${{ github.token }}", "NKRU_PUBLISH": "1", "TAG": "${{ github.ref_name }}"}
    # The tag reaches the script through the environment, never pasted into the shell command.
    assert "${{" not in publish["run"]
    if shutil.which("actionlint"):
        lint = subprocess.run(["actionlint", str(WORKFLOW)], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr
    if shutil.which("shellcheck"):
        check = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout


@pytest.fixture
def tagged(tmp_path: Path, monkeypatch) -> Path:
    """A repository with the package, the script and release 1.0.0 committed and tagged v1.0.0."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    root = copy_package(tmp_path / "origin")
    (root / ".ci").mkdir()
    shutil.copy2(SCRIPT, root / ".ci" / "release")
    init_repo(root, commit="the package")
    plan = release.plan_release(root, "1.0.0", date="2026-11-30", validate=False)
    assert plan.ok, plan.refusals
    release.write_release(plan)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "Release 1.0.0")
    git(root, "tag", "-a", "v1.0.0", "-m", "nkru 1.0.0")
    return root


def _run(clone: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("NKRU_PUBLISH", "GH_TOKEN", "SOURCE_DATE_EPOCH")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(["bash", ".ci/release", *args], cwd=clone, env=env, capture_output=True, text=True)


def test_the_release_script_end_to_end_on_a_shallow_clone(tagged, tmp_path):
    clone = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "v1.0.0", f"file://{tagged}", str(clone))
    assert (clone / ".git" / "shallow").is_file()
    result = _run(clone, "v1.0.0", "out")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = clone / "out"
    manifest = json.loads((clone / "releases" / "1.0.0.json").read_text(encoding="utf-8"))
    built = (out / "nkru-1.0.0.zip").read_bytes()
    assert hashlib.sha256(built).hexdigest() == manifest["archives"]["nkru-1.0.0.zip"]["sha256"]
    assert built == (tagged / "dist" / "nkru-1.0.0.zip").read_bytes()  # byte-identical rebuild
    assert (out / "SHA256SUMS").read_text() == f"{hashlib.sha256(built).hexdigest()}  nkru-1.0.0.zip\n"
    notes = (out / "RELEASE_NOTES.md").read_text(encoding="utf-8")
    assert "### Added" in notes
    assert "nkru-1.0.0.zip: OK" in result.stdout
    assert "out/nkru-1.0.0.zip is nkru 1.0.0 as out/nkru-1.0.0.manifest.json records it" in " ".join(result.stdout.split())
    assert "baseline-missing" not in result.stdout
    assert "would run: gh release create v1.0.0 out/nkru-1.0.0.zip out/SHA256SUMS out/nkru-1.0.0.manifest.json --title nkru 1.0.0 " \
           "--notes-file out/RELEASE_NOTES.md --verify-tag" in result.stdout


def test_the_release_script_refuses_a_wrong_tag_or_a_changed_tree(tagged, tmp_path):
    clone = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", f"file://{tagged}", str(clone))
    assert _run(clone, "1.0.0").returncode == 2
    wrong = _run(clone, "v1.0.1")
    assert wrong.returncode == 1 and "datapackage.json says version 1.0.0" in wrong.stderr
    # A commit after the release that edits a released file: the rebuild no longer matches the manifest.
    git(clone, "config", "user.name", "t")
    git(clone, "config", "user.email", "t@t.invalid")
    (clone / "README.md").write_text((clone / "README.md").read_text(encoding="utf-8") + "\nEdited after the release.\n",
                                     encoding="utf-8")
    git(clone, "commit", "-qam", "edit after the release")
    changed = _run(clone, "v1.0.0", "out")
    assert changed.returncode == 1
    # nkru validate stops it first: the tree claims to be 1.0.0 although README.md is no longer 1.0.0's.
    assert "version-claims-release" in changed.stdout and "README.md" in changed.stdout
    # Given that commit explicitly, --verify names the file that no longer rebuilds as released.
    rebuilt = subprocess.run([sys.executable, "-m", "nkru", "release", "--verify", "1.0.0", str(clone), "--ref", "HEAD"],
                             capture_output=True, text=True)
    assert rebuilt.returncode == 1 and "not reproduced" in rebuilt.stderr and "README.md: rebuilt SHA-256" in rebuilt.stderr
