"""Light installs: the base install validates, loads and cites; the exporters and the report come with an
extra (pyproject.toml), and without it the command says which extra to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from nkru import extras
from tests.helpers import REPO, run_cli

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
BASE = {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]}
OPTIONAL = {extra: {canonicalize_name(Requirement(r).name) for r in items}
            for extra, items in PROJECT["optional-dependencies"].items()}


def _distribution(module: str) -> str:
    return canonicalize_name(extras.DISTRIBUTIONS.get(module, module))


@pytest.mark.parametrize("extra", list(extras.EXTRAS))
def test_each_extra_declares_the_modules_nkru_needs_from_it(extra):
    assert {_distribution(m) for m in extras.EXTRAS[extra]} <= OPTIONAL[extra]
    assert OPTIONAL[extra] - {"nkru"} <= {_distribution(m) for m in extras.EXTRAS[extra]} | {"pyarrow"}


def test_the_heavy_libraries_are_not_in_the_base_install():
    for extra in extras.EXTRAS:
        heavy = {_distribution(m) for m in extras.EXTRAS[extra]} - {"jinja2", "altair"}  # great-expectations needs these two
        assert not heavy & BASE, heavy & BASE
    assert {"nkru"} <= OPTIONAL["all"] and {"nkru"} <= OPTIONAL["test"]
    (everything,) = [Requirement(r) for r in PROJECT["optional-dependencies"]["test"] if r.startswith("nkru[")]
    assert everything.extras == set(extras.EXTRAS)  # the tests get every extra


@pytest.mark.parametrize("fmt, module", [("duckdb", "duckdb"), ("sqlite", "sqlite_utils"), ("xlsx", "openpyxl")])
def test_export_without_its_extra_says_which_to_install(package_copy, tmp_path, monkeypatch, fmt, module):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails, as in a base install
    target = tmp_path / "out" / "x"
    result = run_cli("export", str(package_copy), "--format", fmt, "--out", str(target))
    assert result.exit_code == 2, result.output
    assert f"needs {extras.DISTRIBUTIONS.get(module, module)}, which comes with the export extra: pip install 'nkru[export]'" in result.stderr
    assert not (tmp_path / "out").exists() and "Traceback" not in result.output


def test_report_without_its_extra_says_which_to_install(package_copy, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vl_convert", None)
    result = run_cli("report", str(package_copy), "--out", str(tmp_path / "report"), "--no-validate")
    assert result.exit_code == 2, result.output
    assert "needs vl-convert-python, which comes with the report extra: pip install 'nkru[report]'" in result.stderr
    assert not (tmp_path / "report").exists()


BLOCKER = """
import sys
from importlib.abc import MetaPathFinder

BLOCKED = set(sys.argv[1].split(","))

class Blocker(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: not in the base install)", name=name)
        return None

sys.meta_path.insert(0, Blocker())
"""


@pytest.mark.slow
def test_the_base_install_validates_loads_and_cites_without_any_extra(tmp_path):
    """The modules only the extras bring cannot be imported; validate (every layer), load() and cite still work."""
    blocked = sorted({m for extra in extras.EXTRAS for m in extras.EXTRAS[extra]} - {"jinja2", "altair"})
    code = BLOCKER + """
import contextlib, io, json
from nkru import load
data = load(sys.argv[2])
from nkru.cli import app
from typer.testing import CliRunner
runner = CliRunner()
validated = runner.invoke(app, ["validate", sys.argv[2], "--in-process"])
cited = runner.invoke(app, ["cite", sys.argv[2]])
print(json.dumps({"claims": len(data.claims), "validate": validated.exit_code, "tail": validated.stdout[-200:],
                  "cite": cited.exit_code, "citation": cited.stdout,
                  "loaded": sorted(m for m in BLOCKED if m in sys.modules)}))
"""
    done = subprocess.run([sys.executable, "-c", code, ",".join(blocked), str(REPO)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["claims"] > 0
    assert result["validate"] == 0 and "0 errors" in result["tail"], result["tail"]
    assert result["cite"] == 0 and "nkru" in result["citation"]
    assert result["loaded"] == []
