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
from tests.helpers import REPO, git, init_repo, line_of, run_cli, set_cell

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


@pytest.mark.slow
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


@pytest.mark.slow
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


def test_the_action_has_its_inputs_and_the_workflow_uses_it():
    assert ACTION["runs"]["using"] == "composite"
    assert {"path", "layers", "skip", "format", "baseline", "texts", "threshold", "python-version"} <= set(ACTION["inputs"])
    assert "sentence-cache" not in ACTION["inputs"]  # removed: a shared cache entry cannot be checked
    steps = [step for job in WORKFLOW["jobs"].values() for step in job["steps"]]
    assert any(step.get("uses") == "./" for step in steps)
    # Inputs reach the scripts through env, never by pasting ${{ }} into shell code.
    for step in ACTION["runs"]["steps"]:
        assert "${{" not in step.get("run", "")


def test_third_party_actions_are_pinned_by_commit_sha_with_the_tag_in_a_comment():
    text = (REPO / "action.yml").read_text(encoding="utf-8")
    uses = re.findall(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", text, flags=re.M)
    assert len(uses) >= 2
    for target, comment in uses:
        name, _, ref = target.partition("@")
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{target}: not pinned by commit SHA"
        assert re.fullmatch(r"\s*# v\d+\.\d+\.\d+", comment), f"{target}: no '# vX.Y.Z' comment"
    # One SHA per action: the same tag everywhere.
    pins = {}
    for target, comment in uses:
        name, _, ref = target.partition("@")
        assert pins.setdefault(name, (ref, comment.strip())) == (ref, comment.strip())


def test_the_action_installs_from_the_lock_with_a_pip_cache():
    steps = {step.get("id") or step.get("name"): step for step in ACTION["runs"]["steps"]}
    assert '-c "$NKRU_LOCK"' in steps["install"]["run"]
    caches = [step for step in ACTION["runs"]["steps"] if step.get("uses", "").startswith("actions/cache@")]
    pip = [step for step in caches if "pip-cache" in step["with"]["path"]]
    assert pip and "lock-hash" in pip[0]["with"]["key"] and "python-version" in pip[0]["with"]["key"]
    assert [step["with"]["path"] for step in caches] == ["${{ steps.prepare.outputs.pip-cache }}"]  # no sentence cache


def _step(step_id: str) -> tuple[str, dict[str, str]]:
    (step,) = [s for s in ACTION["runs"]["steps"] if s.get("id") == step_id]
    return step["run"], step["env"]


def _run_step(step_id: str, inputs: dict[str, str], cwd: Path, **extra_env: str) -> subprocess.CompletedProcess:
    """Run one of the action's shell steps as GitHub would: inputs reach it through its env block."""
    script, env_spec = _step(step_id)
    values = {**inputs, "github.action_path": str(REPO)}

    def expand(expression: str) -> str:
        expression = re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: values.get(m.group(1), ""), str(expression))
        return re.sub(r"\$\{\{\s*(github\.action_path)\s*\}\}", lambda m: values[m.group(1)], expression)

    env = dict(os.environ)
    env.pop("GITHUB_OUTPUT", None)
    env.update({name: expand(expression) for name, expression in env_spec.items()})
    env.update(extra_env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


def _outputs(done: subprocess.CompletedProcess) -> dict[str, str]:
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line and not line.startswith("::"))


@pytest.fixture
def nested_repo(tmp_path: Path) -> Path:
    """A scratch repository whose package is in a subfolder (data/pkg), everything committed."""
    repo = tmp_path / "scratch"
    copy_package(repo / "data" / "pkg")
    (repo / "README.md").write_text("a repository that keeps a package in data/pkg\n", encoding="utf-8")
    return init_repo(repo, commit="package in a subfolder")


def test_the_prepare_step_finds_the_lock(nested_repo):
    folder = _outputs(_run_step("prepare", {"path": "data/pkg"}, nested_repo))
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert folder["lock"] == f"{REPO}/requirements/py{version}.txt" and Path(folder["lock"]).is_file()
    assert re.fullmatch(r"[0-9a-f]{64}", folder["lock-hash"]) and folder["pip-cache"]
    assert "texts-hash" not in folder  # no sentence cache to key any more


def test_the_prepare_step_warns_without_a_lock_for_this_python(nested_repo, tmp_path):
    action = tmp_path / "action-without-locks"
    action.mkdir()
    done = _run_step("prepare", {"path": "data/pkg"}, nested_repo, NKRU_ACTION_PATH=str(action))
    assert done.returncode == 0, done.stderr
    assert "::warning title=nkru::no dependency lock for Python" in done.stdout
    assert _outputs(done)["lock"] == "" and _outputs(done)["lock-hash"] == "unlocked"


@pytest.mark.slow
@pytest.mark.parametrize("path", ["data/pkg", "data/pkg/datapackage.json"])
def test_the_validate_step_annotates_files_from_the_repository_root(nested_repo, path):
    line = set_cell(nested_repo / "data" / "pkg", "actors", 0, "actor_type", "alien")
    done = _run_step("validate", {"path": path, "layers": "structure,rules", "format": "github"}, nested_repo,
                     GITHUB_WORKSPACE=str(nested_repo))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"::error file=data/pkg/data/actors.csv,line={line}" in done.stdout


@pytest.mark.slow  # runs the action's step (bash, then nkru in a process of its own)
def test_annotations_name_the_repository_root_even_when_it_is_checked_out_below_the_workspace(nested_repo):
    # actions/checkout with `path: scratch`: the workspace is the repository's parent folder, and GitHub
    # still wants paths from the repository's root.
    line = set_cell(nested_repo / "data" / "pkg", "actors", 0, "actor_type", "alien")
    workspace = nested_repo.parent
    done = _run_step("validate", {"path": "scratch/data/pkg", "layers": "structure", "format": "github"}, workspace,
                     GITHUB_WORKSPACE=str(workspace))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"::error file=data/pkg/data/actors.csv,line={line}" in done.stdout


@pytest.mark.slow
def test_the_validate_step_passes_a_valid_package_and_its_inputs_reach_nkru(nested_repo, tmp_path):
    inputs = {"path": "data/pkg", "layers": "structure,rules,coverage", "format": "json", "skip": "rules", "threshold": "50"}
    done = _run_step("validate", inputs, nested_repo)
    assert done.returncode == 0, done.stdout + done.stderr
    import json

    report = json.loads(done.stdout)
    assert [layer["layer"] for layer in report["layers"]] == ["structure", "coverage"]
    # The threshold input is the CLI's --threshold: an impossible one is a usage error.
    refused = _run_step("validate", {**inputs, "threshold": "101"}, nested_repo)
    assert refused.returncode == 2 and "threshold" in refused.stderr
    # The baseline input is --baseline: one that cannot be read is reported as such.
    baseline = _run_step("validate", {"path": "data/pkg", "layers": "metadata", "format": "text",
                                      "baseline": str(tmp_path / "no-such-release.zip")}, nested_repo)
    assert baseline.returncode == 2 and "no-such-release.zip" in baseline.stderr


@pytest.mark.slow  # pre-commit try-repo on a clone of this repository
def test_the_hook_names_files_from_the_repository_root(hook_repo, nested_repo, tmp_path):
    home = tmp_path / "pre-commit-home"
    line = set_cell(nested_repo / "data" / "pkg", "actors", 0, "actor_type", "alien")
    git(nested_repo, "add", "-A")
    failed = _try_repo(hook_repo, nested_repo, "nkru-validate-system", home, "data/pkg/data/actors.csv")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"data/pkg/data/actors.csv:{line}" in failed.stdout


def test_the_hook_in_github_format_annotates_from_the_repository_root(nested_repo, monkeypatch):
    line = set_cell(nested_repo / "data" / "pkg", "actors", 0, "actor_type", "alien")
    monkeypatch.chdir(nested_repo)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    result = run_cli("hook", "--format", "github", "--only", "structure", "data/pkg/data/actors.csv")
    assert result.exit_code == 1, result.output
    assert f"::error file=data/pkg/data/actors.csv,line={line}" in result.stdout


@pytest.mark.skipif(os.environ.get("NKRU_TEST_INSTALL") != "1",
                    reason="resolves the action's install against the package index (about 15 s): set NKRU_TEST_INSTALL=1 (.ci/run does)")
def test_the_install_step_installs_the_base_install_at_the_locked_versions(nested_repo, tmp_path):
    """The install step as the action runs it, in a fresh venv, with pip's --dry-run: what it would install is
    nkru's base install, every package at the version in the lock."""
    import json
    import venv

    from tests.test_lock import pins

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    prepared = _outputs(_run_step("prepare", {"path": "data/pkg"}, nested_repo))
    script, env_spec = _step("install")
    report = tmp_path / "report.json"
    dry = script.replace("python -m pip install", f"python -m pip install --dry-run --report {report}")
    assert dry != script
    env = {**os.environ, "NKRU_ACTION_PATH": str(REPO), "NKRU_LOCK": prepared["lock"],
           "PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    assert set(env_spec) == {"NKRU_ACTION_PATH", "NKRU_LOCK"}
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", dry], capture_output=True, text=True, env=env,
                          cwd=nested_repo, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    installed = {canonical(item["metadata"]["name"]): item["metadata"]["version"]
                 for item in json.loads(report.read_text(encoding="utf-8"))["install"]}
    locked = pins(Path(prepared["lock"]).read_text(encoding="utf-8"))
    assert "nkru" in installed and "great-expectations" in installed
    assert not {"duckdb", "vl-convert-python", "datasette", "pytest"} & set(installed)  # the base install only
    assert {name: version for name, version in installed.items() if name != "nkru" and locked.get(name) != version} == {}


def canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)


@pytest.mark.slow
def test_annotations_of_a_package_in_a_submodule_name_the_outer_repository(nested_repo):
    # A package in a submodule (a folder with its own .git entry) inside the checked-out repository:
    # GitHub wants the path from the outer repository's root, the workspace.
    package = nested_repo / "data" / "pkg"
    (package / ".git").write_text("gitdir: ../../.git/modules/pkg\n", encoding="utf-8")
    line = set_cell(package, "actors", 0, "actor_type", "alien")
    done = _run_step("validate", {"path": "data/pkg", "layers": "structure", "format": "github"}, nested_repo,
                     GITHUB_WORKSPACE=str(nested_repo))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"::error file=data/pkg/data/actors.csv,line={line}" in done.stdout


def test_toplevel_is_the_nearest_git_root_or_the_outermost_within_a_folder(tmp_path):
    from nkru.fsutil import toplevel

    outer, inner = tmp_path / "outer", tmp_path / "outer" / "sub" / "inner"
    (inner / "deep").mkdir(parents=True)
    (outer / ".git").mkdir()
    (inner / ".git").write_text("gitdir: x\n", encoding="utf-8")
    assert toplevel(inner / "deep") == inner
    assert toplevel(inner / "deep", within=tmp_path) == outer
    assert toplevel(inner / "deep", within=inner) == inner
    assert toplevel(tmp_path) is None
