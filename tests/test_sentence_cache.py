"""Sentence splits: cached by the text's SHA-256 in a plain directory, and linear in a text's length."""

from __future__ import annotations

import json

import pytest

from nkru import coverage as cov
from tests.helpers import REPO

TEXTS = sorted((REPO / "data" / "sources").glob("*.txt"))


def spans(sentences):
    return [(s.text, s.start, s.end, s.line) for s in sentences]


def test_a_split_is_cached_under_the_configured_directory_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv(cov.CACHE_ENV, str(tmp_path / "cache"))
    text = TEXTS[0].read_text(encoding="utf-8")
    first = cov.split_sentences(text)
    files = list((tmp_path / "cache" / "sentences").glob("*.json"))
    assert len(files) == 1 and len(json.loads(files[0].read_text())) == len(first) > 0

    def no_split(*args, **kwargs):
        raise AssertionError("a cached text was split again")

    monkeypatch.setattr(cov, "_split", no_split)
    assert spans(cov.split_sentences(text)) == spans(first)


def test_an_edited_text_is_not_served_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(cov.CACHE_ENV, str(tmp_path))
    text = TEXTS[1].read_text(encoding="utf-8")
    cov.split_sentences(text)
    cov.split_sentences(text + "\nEin neuer Satz am Ende.")
    assert len(list((tmp_path / "sentences").glob("*.json"))) == 2


def test_a_damaged_cache_entry_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv(cov.CACHE_ENV, str(tmp_path))
    text = TEXTS[2].read_text(encoding="utf-8")
    expected = spans(cov.split_sentences(text))
    (entry,) = (tmp_path / "sentences").glob("*.json")
    entry.write_text("[[0, 5", encoding="utf-8")
    assert spans(cov.split_sentences(text)) == expected
    assert json.loads(entry.read_text())  # rewritten


@pytest.mark.parametrize("off", ["", "off"])
def test_the_cache_can_be_turned_off(tmp_path, monkeypatch, off):
    monkeypatch.setenv(cov.CACHE_ENV, off)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cov.cache_dir() is None
    cov.split_sentences(TEXTS[0].read_text(encoding="utf-8"))
    assert not any(tmp_path.rglob("*.json"))


def test_without_the_variable_the_cache_is_in_the_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.delenv(cov.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cov.cache_dir() == tmp_path / "nkru"


def test_many_texts_split_in_parallel_give_the_same_sentences(tmp_path, monkeypatch):
    monkeypatch.setenv(cov.CACHE_ENV, "off")
    monkeypatch.setattr(cov, "PARALLEL_FROM", 2)
    texts = {path.stem: (cov.FoldedText(path.read_text(encoding="utf-8")), "de") for path in TEXTS}
    together = cov.split_many(texts)
    assert {k: spans(v) for k, v in together.items()} == {k: spans(cov.split_sentences(t)) for k, (t, _) in texts.items()}


def test_a_long_line_is_split_in_windows_into_the_same_sentences(monkeypatch):
    monkeypatch.setenv(cov.CACHE_ENV, "off")
    one_line = " ".join(path.read_text(encoding="utf-8").replace("\n", " ") for path in TEXTS)
    monkeypatch.setattr(cov, "WINDOW", 10**9)
    whole = spans(cov.split_sentences(one_line))
    monkeypatch.setattr(cov, "WINDOW", 1000)  # longer than any quotation in the articles
    windowed = spans(cov.split_sentences(one_line))
    assert len(whole) > 50
    assert windowed == whole


@pytest.mark.slow
def test_a_warm_run_does_not_import_the_sentence_splitter(tmp_path):
    """With every text in the cache the coverage layer never imports pysbd (nor asks it which languages
    it knows: the cache key holds the source's primary language subtag); a cold run does."""
    import os
    import subprocess
    import sys

    script = (
        "import json, sys\n"
        "from nkru.api import validate_package\n"
        "report = validate_package(sys.argv[1], only=['coverage'])\n"
        "(layer,) = report.layers\n"
        "print(json.dumps([layer.checks, len(layer.findings), sorted(m for m in sys.modules if m.split('.')[0] == 'pysbd')]))\n"
    )
    env = {**os.environ, cov.CACHE_ENV: str(tmp_path / "cache")}

    def run():
        done = subprocess.run([sys.executable, "-c", script, str(REPO)], env=env, capture_output=True, text=True,
                              check=True, cwd=tmp_path)
        return json.loads(done.stdout.strip().splitlines()[-1])

    checks, findings, imported = run()
    assert "pysbd" in imported and len(list((tmp_path / "cache" / "sentences").glob("*.json"))) == len(TEXTS)
    assert run() == [checks, findings, []] and checks > 100
