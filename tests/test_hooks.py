"""Reusing the gate elsewhere: the pre-commit hooks (.pre-commit-hooks.yaml) and the composite action (action.yml).

The hooks run through `pre-commit try-repo` against a temporary clone of this repository, from another
repository that holds a package copy. The `language: python` hook builds its own environment from PyPI,
which takes a minute or two: it runs when NKRU_TEST_PRECOMMIT_PYTHON=1 (CI sets it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_package
from tests.helpers import REPO, git, init_repo, line_of, set_cell

HOOKS = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
ACTION = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
WORKFLOW = yaml.safe_load((REPO / ".github/workflows/validate.yml").read_text(encoding="utf-8"))


def _pre_commit() -> str:
    found = shutil.which("pre-commit") or str(Path(sys.executable).with_name("pre-commit"))
    if not Path(found).exists():
        pytest.skip("pre-commit is not installed (it is in the test extra: pip install -e '.[test]')")
    return found


@pytest.fixture
def hook_repo(tmp_path: Path) -> Path:
    """A clone of this repository's committed state with the working tree's hook files: what a user pins."""
    clone = tmp_path / "nkru-clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(clone)], check=True, capture_output=True)
    for name in (".pre-commit-hooks.yaml", "pyproject.toml", "hatch_build.py"):
        shutil.copy2(REPO / name, clone / name)
    for folder in ("nkru", "validate"):
        shutil.rmtree(clone / folder)
        shutil.copytree(REPO / folder, clone / folder, ignore=shutil.ignore_patterns("__pycache__"))
    init_repo(clone, commit=None)
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "working tree", "--allow-empty")
    return clone


@pytest.fixture
def data_repo(tmp_path: Path) -> Path:
    """Another repository holding a package, with everything committed."""
    repo = copy_package(tmp_path / "data-repo")
    return init_repo(repo, commit="data")


def _try_repo(hook_repo: Path, data_repo: Path, hook: str, home: Path, *files: str,
              our_nkru: bool = True) -> subprocess.CompletedProcess:
    """`pre-commit try-repo` in `data_repo`; `our_nkru`: put this environment's `nkru` on PATH (else it is not there)."""
    ours = str(Path(sys.executable).parent)
    path = [p for p in os.environ["PATH"].split(os.pathsep) if p != ours]
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PATH": os.pathsep.join([ours, *path] if our_nkru else path)}
    args = ["--files", *files] if files else ["--all-files"]
    return subprocess.run([_pre_commit(), "try-repo", str(hook_repo), hook, *args, "--verbose"], cwd=data_repo,
                          capture_output=True, text=True, env=env, timeout=1500)


def test_hook_definitions_are_well_formed():
    ids = {hook["id"]: hook for hook in HOOKS}
    assert {"nkru-validate", "nkru-validate-system"} <= set(ids)
    assert ids["nkru-validate"]["language"] == "python" and ids["nkru-validate-system"]["language"] == "system"
    for hook in ids.values():
        assert hook["entry"] == "nkru hook"
        pattern = re.compile(hook["files"])
        assert pattern.search("data/claims.csv") and pattern.search("pkg/datapackage.json")
        assert pattern.search("data/sources/S001.txt") and not pattern.search("nkru/api.py")


def test_the_system_hook_passes_a_valid_package_and_fails_a_broken_one(hook_repo, data_repo, tmp_path):
    home = tmp_path / "pre-commit-home"
    passed = _try_repo(hook_repo, data_repo, "nkru-validate-system", home, "data/claims.csv")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout and "valid" in passed.stdout
    line = set_cell(data_repo, "actors", 0, "actor_type", "alien")
    git(data_repo, "add", "-A")
    failed = _try_repo(hook_repo, data_repo, "nkru-validate-system", home, "data/actors.csv")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Failed" in failed.stdout and f"data/actors.csv:{line}" in failed.stdout
    # A change outside any package does not run the validation at all.
    (data_repo / "notes.md").write_text("x\n", encoding="utf-8")
    git(data_repo, "add", "-A")
    skipped = _try_repo(hook_repo, data_repo, "nkru-validate-system", home, "notes.md")
    assert skipped.returncode == 0 and "no files to check" in skipped.stdout.lower()


@pytest.mark.skipif(os.environ.get("NKRU_TEST_PRECOMMIT_PYTHON") != "1",
                    reason="builds pre-commit's own environment from PyPI (a minute or two): set NKRU_TEST_PRECOMMIT_PYTHON=1")
def test_the_python_hook_installs_nkru_in_its_own_environment(hook_repo, data_repo, tmp_path):
    home = tmp_path / "pre-commit-home"
    line = set_cell(data_repo, "actors", 0, "actor_type", "alien")
    git(data_repo, "add", "-A")
    # Without an nkru on PATH: the hook runs the one pre-commit installed from the clone into its own environment.
    failed = _try_repo(hook_repo, data_repo, "nkru-validate", home, "data/actors.csv", our_nkru=False)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"data/actors.csv:{line}" in failed.stdout


def test_the_action_has_path_layers_and_format_inputs_and_the_workflow_uses_it():
    assert ACTION["runs"]["using"] == "composite"
    assert {"path", "layers", "format"} <= set(ACTION["inputs"])
    steps = [step for job in WORKFLOW["jobs"].values() for step in job["steps"]]
    assert any(step.get("uses") == "./" for step in steps)
    # Inputs reach the scripts through env, never by pasting ${{ }} into shell code.
    for step in ACTION["runs"]["steps"]:
        assert "${{" not in step.get("run", "")


def _action_script() -> tuple[str, dict[str, str]]:
    (step,) = [s for s in ACTION["runs"]["steps"] if s.get("id") == "validate"]
    return step["run"], step["env"]


@pytest.mark.parametrize("broken", [False, True])
def test_the_action_validate_step_runs_as_github_would(tmp_path, broken):
    package = copy_package(tmp_path / "package")
    if broken:
        line = set_cell(package, "actors", 0, "actor_type", "alien")
    script, env_spec = _action_script()
    inputs = {"path": str(package), "layers": "structure,rules", "format": "github"}
    env = dict(os.environ)
    for name, expression in env_spec.items():
        env[name] = re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: inputs[m.group(1)], str(expression))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)
    if broken:
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"::error file=package/data/actors.csv,line={line}" in done.stdout  # relative to the workspace
    else:
        assert done.returncode == 0, done.stdout + done.stderr
        assert "::error" not in done.stdout
