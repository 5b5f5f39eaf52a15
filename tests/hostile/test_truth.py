"""Messages tell the truth: for every command that writes, under a full disk (ENOSPC) and a read-only tree
(EROFS), the exit code and the last line agree: exit 2, the last line an error naming what could not be written,
no line claiming success, and nothing changed. Tests run as root, where chmod stops nothing, so the failure comes
from the fault hook of the one write mechanism (NKRU_TEST_FAULT, nkru.fsutil.fault); the same run without the
fault succeeds and says so last."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from nkru.fsutil import FAULT_ENV
from tests.conftest import copy_package
from tests.helpers import init_repo, run_cli, set_cell

pytestmark = pytest.mark.slow  # every writing command under two disk faults

#: Words a command uses to say it wrote something.
SUCCESS = ("Wrote", "Released", "exported", "rewrote", "Added", "filled")


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts and p.name != ".nkru.lock"}


def commands(package: Path, tmp: Path) -> dict[str, list[str]]:
    article = tmp / "article.txt"
    article.write_text("Kim Jong Un traf Putin in Wladiwostok. Ein zweiter Satz folgt hier.\n", encoding="utf-8")
    return {
        "export sqlite": ["export", "--format", "sqlite", "--no-validate", "--out", f"{package}/exports/"],
        "export parquet": ["export", "--format", "parquet", "--no-validate", "--out", f"{package}/exports/p"],
        "codebook": ["codebook", str(package)],
        "report": ["report", str(package), "--no-validate", "--out", str(package / "report")],
        "validate -o": ["validate", str(package), "--only", "expectations", "-o", str(package / "site")],
        "offsets": ["offsets", str(package)],
        "add-source": ["add-source", str(article), str(package), "--title", "T", "--publisher", "unknown",
                       "--date", "2024-11", "--date-basis", "inferred"],
        "release": ["release", "2.0.0", str(package), "--date", "2026-12-01"],
        "release -dev": ["release", "2.1.0-dev", str(package)],
    }


@pytest.fixture
def package(tmp_path):
    root = copy_package(tmp_path / "package")
    (root / "docs").mkdir(exist_ok=True)
    return init_repo(root, commit="the package")


def prepare(package: Path, name: str) -> None:
    if name == "offsets":  # something for `nkru offsets` to write
        set_cell(package, "claims", 0, "quote_start", "")
        set_cell(package, "claims", 0, "quote_end", "")


def last_line(result) -> str:
    lines = (result.stderr or "").strip().splitlines() or (result.stdout or "").strip().splitlines()
    return lines[-1] if lines else ""


@pytest.mark.parametrize("fault", ["ENOSPC", "EROFS"])
@pytest.mark.parametrize("name", ["export sqlite", "export parquet", "codebook", "report", "validate -o", "offsets",
                                  "add-source", "release", "release -dev"])
def test_exit_code_and_last_line_agree_when_the_write_fails(package, tmp_path, monkeypatch, name, fault):
    args = commands(package, tmp_path)[name]
    prepare(package, name)
    before = tree(package)
    monkeypatch.setenv(FAULT_ENV, fault)
    result = run_cli(*args)
    assert result.exit_code == 2, (name, fault, result.exit_code, result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    line = last_line(result)
    assert line.startswith("error:"), (name, line)
    assert not any(word in result.stdout for word in SUCCESS), (name, result.stdout)
    assert tree(package) == before, name


@pytest.mark.parametrize("name", ["export sqlite", "codebook", "offsets", "release -dev"])
def test_without_the_fault_the_same_command_succeeds_and_says_so_last(package, tmp_path, name):
    prepare(package, name)
    result = run_cli(*commands(package, tmp_path)[name])
    assert result.exit_code in (0, 1), (name, result.stdout, result.stderr)  # offsets: 1 when a row stays unplaced
    assert not result.stderr.strip().splitlines() or not last_line(result).startswith("error:")
    assert any(word in result.stdout for word in SUCCESS + ("Development version",)), result.stdout
