"""No cached answer that cannot be checked. A sentence-cache entry is read like any input (regular file only: a
FIFO or a link is ignored; a size and a depth limit) and a bad entry is recomputed, never trusted or fatal. An
entry that drops a sentence cannot hide it: locally the split is checked against the text (no letter outside every
sentence), and the composite Action, whose gate a pull request must not steer, reads no cache at all."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nkru import coverage
from nkru.text import FoldedText
from tests.conftest import REPO, copy_package
from tests.helpers import set_cell

pytestmark = pytest.mark.slow  # hostile cache entries, runs in subprocesses

UNCOVERED = "Diese unbelegte Behauptung über Raketen steht in keiner Zeile der Tabelle."


@pytest.fixture
def package(tmp_path) -> Path:
    """A package copy whose first text ends with a sentence no quote covers (so it must fail)."""
    root = copy_package(tmp_path / "package")
    text = root / "data" / "sources" / "S001.txt"
    text.write_bytes(text.read_bytes() + f"\n{UNCOVERED}\n".encode("utf-8"))
    set_cell(root, "sources", 0, "text_sha256", hashlib.sha256(text.read_bytes()).hexdigest())
    return root


def entry(cache: Path, package: Path, source: str = "S001", language: str = "de") -> tuple[Path, FoldedText]:
    """The cache file nkru reads for a source's text, and the text."""
    folded = FoldedText((package / "data" / "sources" / f"{source}.txt").read_text(encoding="utf-8"))
    os.environ[coverage.CACHE_ENV], previous = str(cache), os.environ.get(coverage.CACHE_ENV)
    try:
        path = coverage._cache_file(folded.original, coverage.primary_subtag(language))
    finally:
        os.environ[coverage.CACHE_ENV] = previous if previous is not None else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, folded


def validate(package: Path, env: dict[str, str], timeout: int = 120) -> dict:
    """`nkru validate --only coverage` in its own process (a hang fails the test instead of blocking it)."""
    environment = {**os.environ, **env}
    done = subprocess.run([sys.executable, "-m", "nkru", "validate", str(package), "--only", "coverage", "--format", "json"],
                          capture_output=True, text=True, env=environment, timeout=timeout)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def uncovered(report: dict) -> list[str]:
    return [f["message"] for f in report["findings"] if f["code"] == "uncovered-sentence"]


def poison(path: Path, folded: FoldedText) -> None:
    """An entry under the right key whose split leaves out the uncovered sentence."""
    sentences = coverage._split(folded, "de")
    kept = [[s.start, s.end, s.line] for s in sentences if "unbelegte" not in s.text]
    assert len(kept) == len(sentences) - 1
    path.write_text(json.dumps(kept), encoding="utf-8")


def action_env() -> dict[str, str]:
    """The environment the composite Action's gate step sets for nkru (action.yml, step Validate)."""
    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    [step] = [s for s in action["runs"]["steps"] if s.get("id") == "validate"]
    return {k: str(v) for k, v in step["env"].items() if "${{" not in str(v)}


def test_an_entry_that_drops_a_sentence_hides_nothing_locally(package, tmp_path):
    cache = tmp_path / "cache"
    path, folded = entry(cache, package)
    poison(path, folded)
    report = validate(package, {coverage.CACHE_ENV: str(cache)})
    assert any("unbelegte" in m for m in uncovered(report)), report["findings"]
    assert json.loads(path.read_text(encoding="utf-8")) != []  # recomputed and rewritten
    assert len(json.loads(path.read_text(encoding="utf-8"))) == len(coverage._split(folded, "de"))


def test_an_entry_that_drops_a_sentence_hides_nothing_when_run_as_the_action_runs_it(package, tmp_path):
    home = tmp_path / "home"
    cache = home / ".cache" / "nkru"  # where actions/cache would have restored it
    path, folded = entry(cache, package)
    poison(path, folded)
    env = {"HOME": str(home), "XDG_CACHE_HOME": "", **action_env()}
    env.pop("XDG_CACHE_HOME")
    environment = {k: v for k, v in os.environ.items() if k not in (coverage.CACHE_ENV, "XDG_CACHE_HOME")}
    done = subprocess.run([sys.executable, "-m", "nkru", "validate", str(package), "--only", "coverage", "--format", "json"],
                          capture_output=True, text=True, env={**environment, **env}, timeout=120)
    report = json.loads(done.stdout)
    assert done.returncode == 1 and any("unbelegte" in m for m in uncovered(report)), report["findings"]


@pytest.mark.parametrize("kind", ["fifo", "50 MB", "link", "deep", "folder", "not a split"])
def test_a_hostile_entry_neither_hangs_nor_hides_nor_fails(package, tmp_path, kind):
    cache = tmp_path / "cache"
    path, folded = entry(cache, package)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "50 MB":
        with open(path, "wb") as handle:
            handle.write(b"[" + b" " * (50 * 1024 * 1024 - 2) + b"]")
    elif kind == "link":
        outside = tmp_path / "planted.json"
        sentences = coverage._split(folded, "de")
        outside.write_text(json.dumps([[s.start, s.end, s.line] for s in sentences if "unbelegte" not in s.text]))
        path.symlink_to(outside)
    elif kind == "deep":
        path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    elif kind == "folder":
        path.mkdir()
    else:
        path.write_text(json.dumps({"spans": "none"}), encoding="utf-8")
    report = validate(package, {coverage.CACHE_ENV: str(cache)}, timeout=60)
    assert any("unbelegte" in m for m in uncovered(report)), (kind, report["findings"])


def test_a_split_is_checked_against_its_text():
    folded = FoldedText("One sentence here. Another one there.")
    good = [[0, 18, 1], [19, 37, 1]]
    assert coverage._valid_spans(good, folded.text)
    assert not coverage._valid_spans([[0, 18, 1]], folded.text)  # drops a sentence
    assert not coverage._valid_spans([[19, 37, 1], [0, 18, 1]], folded.text)  # out of order
    assert not coverage._valid_spans([[0, 99, 1]], folded.text)  # past the end
    assert not coverage._valid_spans([[0, 18, True], [19, 37, 1]], folded.text)
    assert not coverage._valid_spans("[]", folded.text)
