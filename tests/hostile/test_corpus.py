"""The hostile-input corpus: each case in cases/*.json is a small diff against a copy of the real package,
with the exit code (and findings) each command must give. Every command run must keep the promise
(tests/hostile/harness.py): exit 0/1/2 in bounded time, no traceback, no raw control or bidi
characters, valid JSON, nothing written outside its output folder, no temporary files left.

By default each case runs the commands its file names; `NKRU_HOSTILE_ALL=1` runs every command on
every case (slow: minutes).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import copy_package
from tests.hostile.harness import COMMANDS, check_promise, mutate, run, tree

CASES = sorted((Path(__file__).parent / "cases").glob("*.json"))
ALL = os.environ.get("NKRU_HOSTILE_ALL") == "1"


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _runs():
    for path in CASES:
        case = _load(path)
        for command in COMMANDS:
            if command in case["expect"] or ALL:
                yield pytest.param(path, command, id=f"{path.stem}-{command}")


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """An untouched copy of the real package (the OLD side of `nkru diff`)."""
    return copy_package(tmp_path_factory.mktemp("base") / "package")


def test_the_corpus_is_not_empty_and_every_case_expects_something():
    assert len(CASES) >= 25
    for path in CASES:
        case = _load(path)
        assert case["description"] and case["mutations"] and case["expect"], path.name
        assert set(case["expect"]) <= set(COMMANDS), path.name


@pytest.mark.slow
@pytest.mark.parametrize("path, command", list(_runs()))
def test_case(path: Path, command: str, tmp_path: Path, base: Path):
    case = _load(path)
    package = copy_package(tmp_path / "package")
    for step in case["mutations"]:
        mutate(package, step)
    out = tmp_path / "out"
    out.mkdir()
    expect = case["expect"].get(command, {})
    formats = ["json", *expect.get("also", [])]
    for fmt in formats:
        before = tree(tmp_path, out)
        outcome = run(command, package, out, base, fmt=fmt)
        check_promise(outcome, before, tmp_path)
        if "exit" in expect:
            assert outcome.exit_code == expect["exit"], f"{case['description']}: expected exit {expect['exit']}\n{outcome}"
        if expect.get("stderr"):
            assert expect["stderr"] in outcome.stderr, str(outcome)
        if fmt == "json" and command == "validate" and outcome.exit_code != 2:
            findings = json.loads(outcome.stdout)["findings"]
            codes = {f["code"] for f in findings}
            assert set(expect.get("codes", [])) <= codes, f"expected {expect.get('codes')}, got {sorted(codes)}"
            assert not set(expect.get("absent", [])) & codes, sorted(codes)
            for text in expect.get("messages", []):
                assert any(text in f["message"] for f in findings), text
            if outcome.exit_code == 1:
                assert findings, "exit 1 without a finding"
        if command == "report" and outcome.exit_code == 0:
            html = (out / "report" / "index.html").read_text(encoding="utf-8")
            for text in expect.get("html_absent", []):
                assert text not in html
        if command == "diff" and fmt == "markdown" and outcome.exit_code != 2:
            for text in expect.get("markdown_absent", []):
                assert text not in outcome.stdout, f"{text!r} in the diff\n{outcome}"
        if command == "codebook" and outcome.exit_code == 0:
            markdown = (out / "codebook.md").read_text(encoding="utf-8")
            for text in expect.get("codebook_absent", []):
                assert text not in markdown, f"{text!r} in the codebook"
        if command == "export" and outcome.exit_code != 0:
            assert not any(out.rglob("*.sqlite")), "a refused export left a file behind"
    shutil.rmtree(out, ignore_errors=True)
