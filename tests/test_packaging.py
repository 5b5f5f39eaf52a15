"""The import package is `nkru`: it does not collide with other packages' `validate`.

configobj (a common dependency) ships a top-level `validate` package; the toolkit must work with it
first on sys.path, must not import any `validate` module itself, and an installed wheel must carry
everything it needs at run time (the vendored profiles).
"""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import copy_package
from tests.helpers import REPO

OLD_IMPORT = re.compile(r"^\s*(from|import)\s+validate(\.|\s|$)", re.MULTILINE)


def _python_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "*.py"], cwd=REPO,
                            capture_output=True, text=True, check=False)
    if listed.returncode == 0 and listed.stdout.strip():
        return [REPO / line for line in listed.stdout.splitlines() if (REPO / line).is_file()]
    return [p for p in REPO.rglob("*.py") if ".venv" not in p.parts and ".git" not in p.parts]


def test_nothing_imports_the_old_package_name():
    files = _python_files()
    assert len(files) > 20, "the scan must see the project's modules"
    offenders = [str(p.relative_to(REPO)) for p in files if OLD_IMPORT.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_the_old_name_is_caught_by_the_scan():
    # The pattern above must actually match what it is meant to forbid.
    assert OLD_IMPORT.search("from validate import load\n")
    assert OLD_IMPORT.search("import validate.cli\n")
    assert not OLD_IMPORT.search("from nkru import validate_package\n")


def _shadow(tmp_path: Path) -> Path:
    """A foreign top-level `validate` package, as configobj installs it."""
    shadow = tmp_path / "shadow"
    (shadow / "validate").mkdir(parents=True)
    (shadow / "validate" / "__init__.py").write_text("FOREIGN = True\n", encoding="utf-8")
    return shadow


@pytest.mark.slow
def test_cli_works_with_a_foreign_validate_package_first_on_sys_path(tmp_path):
    shadow = _shadow(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow), str(REPO)])}
    code = ("import validate, sys\n"
            "assert validate.FOREIGN\n"
            "from nkru.cli import main\n"
            "sys.argv = ['nkru', 'validate', sys.argv[1], '--only', 'structure']\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code, str(REPO)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "valid" in done.stdout


def test_python_m_nkru_with_a_foreign_validate_package(tmp_path):
    shadow = _shadow(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow), str(REPO)])}
    done = subprocess.run([sys.executable, "-m", "nkru", "--version"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert re.search(r"\d+\.\d+\.\d+", done.stdout)


def test_import_validate_outside_the_repository_does_not_find_this_project(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import validate, sys; print(getattr(validate, '__file__', None), list(getattr(validate, '__path__', [])))"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    # Either no `validate` at all, or a foreign one (configobj's): never this repository's folder.
    assert str(REPO / "validate") not in done.stdout


@pytest.mark.slow
def test_built_wheel_installed_in_a_fresh_venv_validates_a_copy(tmp_path):
    """`pip wheel .`, install it in a fresh venv (dependencies taken from this environment), then
    `nkru --help` and `nkru validate` on a copy of the package, from outside the repository."""
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO)],
                           capture_output=True, text=True, timeout=600, check=False)
    if built.returncode != 0 and "hatchling" in built.stderr:
        built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels), str(REPO)],
                               capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stderr
    wheel = next(wheels.glob("nkru-*.whl"))
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "nkru/_profiles/datapackage-2.0.json" in names
    assert "nkru/_profiles/cff-1.2.0.json" in names
    assert not any(n.startswith("validate/") for n in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # The dependencies come from this environment (appended after the new venv's own site-packages,
    # so the wheel's nkru wins); a .pth line adds a directory without running its .pth files, so this
    # environment's editable nkru stays invisible.
    site_dir = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   capture_output=True, text=True, check=True).stdout.strip())
    (site_dir / "outer-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n", encoding="utf-8")
    installed = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
                               capture_output=True, text=True, timeout=600, check=False)
    assert installed.returncode == 0, installed.stderr
    nkru = env_dir / "bin" / "nkru"
    package = copy_package(tmp_path / "package")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    # The wheel's nkru, not the checkout's: nothing of the repository is on the path.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([str(python), "-c", "import nkru; print(nkru.__file__)"], cwd=outside, env=env,
                           capture_output=True, text=True, timeout=120, check=False)
    assert str(env_dir) in where.stdout, where.stdout + where.stderr
    helped = subprocess.run([str(nkru), "--help"], cwd=outside, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert helped.returncode == 0 and "validate" in helped.stdout
    checked = subprocess.run([str(nkru), "validate", str(package), "--skip", "expectations", "--skip", "metadata"],
                             cwd=outside, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "0 errors" in checked.stdout
    shutil.rmtree(env_dir, ignore_errors=True)


def test_the_toolkit_version_is_declared_once_in_agreement():
    import tomllib

    import nkru

    declared = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", declared)
    assert nkru.__version__ == declared
