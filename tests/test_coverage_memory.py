"""The coverage layer holds the source texts once, column-wise (`nkru.text.SourceTexts`), folds a text only
when a check needs it, and judges the units a range of sources at a time (issue 18: memory at 1M claims;
the figures are benchmarks/memory_by_layer.py's, not a test's). What it finds must not change."""

from __future__ import annotations

import json

import pytest

from tests.helpers import read_table, set_cell, write_table
from nkru import api
from nkru import coverage as cov
from nkru import text as text_module
from nkru.layers import coverage as layer
from nkru.offsets import read_texts
from nkru.package import Package
from nkru.text import FoldedText, SourceTexts


@pytest.fixture
def folded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The original of every FoldedText SourceTexts makes, in order."""
    made: list[str] = []

    class Counted(FoldedText):
        def __init__(self, original: str):
            made.append(original)
            super().__init__(original)

    monkeypatch.setattr(text_module, "FoldedText", Counted)
    return made


def test_source_texts_fold_a_text_only_when_it_is_asked_for(folded, monkeypatch):
    texts = SourceTexts.collect([("S1", "Erster  Satz."), ("S2", "Zweiter Satz."), ("S3", "Dritter Satz.")])
    assert "S1" in texts and "S9" not in texts and len(texts) == 3
    assert texts.get("S9") is None and folded == []
    with pytest.raises(KeyError):
        texts["S9"]
    assert texts["S1"].text == "Erster Satz." and texts.get("S1").original == "Erster  Satz."
    assert folded == ["Erster  Satz."]  # made once, then kept
    monkeypatch.setattr(SourceTexts, "CACHED", 2)
    for source_id in ("S2", "S3", "S1"):
        texts[source_id]
    assert folded == ["Erster  Satz.", "Zweiter Satz.", "Dritter Satz.", "Erster  Satz."]  # S1 was let go


def test_source_texts_collected_in_batches_are_one_frame_and_a_source_listed_twice_keeps_its_last_text():
    pairs = [(f"S{n}", "„Zitat“ – " * n) for n in range(7)] + [("S2", "später")]
    one = SourceTexts.collect(pairs)
    batched = SourceTexts.collect(iter(pairs), batch=2)
    assert batched.frame.equals(one.frame)
    assert one.frame.height == 7 and one["S2"].original == "später"
    assert dict(one.frame.select("source_id", "_length").iter_rows())["S3"] == len("„Zitat“ – " * 3)
    assert SourceTexts.collect([]).frame.columns == ["source_id", "_text", "_length"]


def test_the_layer_folds_no_text_whose_quotes_are_verbatim(package_copy, folded):
    assert not layer.check(Package.open(package_copy)).findings
    assert folded == []  # every quote of the real package is its text at its offsets
    header, rows = read_table(package_copy, "claims")
    index = next(i for i, row in enumerate(rows) if row["source_id"] == "S002")
    set_cell(package_copy, "claims", index, "quote", rows[index]["quote"].replace(" ", "  ", 1))  # equal once folded
    del folded[:]
    assert not layer.check(Package.open(package_copy)).findings
    originals = {path.stem: path.read_text(encoding="utf-8") for path in (package_copy / "data" / "sources").glob("S*.txt")}
    assert set(folded) == {originals["S002"]}


def _broken(package):
    """Findings in several sources: units that overlap, leave a gap or pass the end, a quote at the wrong place,
    exclusions gone (uncovered units below and above a 90% threshold)."""
    (package / "pyproject.toml").write_text((package / "pyproject.toml").read_text(encoding="utf-8")
                                            .replace("coverage-threshold = 100", "coverage-threshold = 90"), encoding="utf-8")
    header, units = read_table(package, "units")
    units[100]["end"] = str(int(units[101]["start"]) + 3)
    units[-1]["end"] = "888888"
    del units[60], units[5]
    write_table(package, "units", header, units)
    header, exclusions = read_table(package, "exclusions")
    sources = sorted({row["source_id"] for row in exclusions})
    first = next(i for i, row in enumerate(exclusions) if row["source_id"] == sources[0])
    write_table(package, "exclusions", header,
                [row for i, row in enumerate(exclusions) if i != first and row["source_id"] != sources[1]])
    header, claims = read_table(package, "claims")
    last = max(i for i, row in enumerate(claims) if row["source_id"] == claims[0]["source_id"])
    set_cell(package, "claims", last, "quote_start", claims[0]["quote_start"])
    set_cell(package, "claims", last, "quote_end", claims[0]["quote_end"])
    return package


def _findings(package) -> str:
    report = api.validate_package(package)
    layers = [(result.layer, result.checks, [finding.to_dict() for finding in result.findings]) for result in report.layers]
    return json.dumps([layers, api.coverage(package).to_dict()], sort_keys=True, default=str)


def test_judging_a_few_sources_and_quotes_at_a_time_finds_what_judging_all_at_once_finds(package_copy, monkeypatch):
    package = _broken(package_copy)
    whole = _findings(package)
    report = json.loads(whole)
    coverage = [finding for name, _, findings in report[0] if name == "coverage" for finding in findings]
    assert {"unit-overlap", "unit-gap", "unit-out-of-range", "quote-offsets-mismatch", "uncovered-sentence"} \
        <= {finding["code"] for finding in coverage}
    assert len({finding["row_id"] for finding in coverage if finding["code"] == "uncovered-sentence"}) >= 2
    assert {finding["severity"] for finding in coverage if finding["code"] == "uncovered-sentence"} == {"error", "warning"}
    for sources, rows in ((1, 1), (2, 3), (3, 1000)):
        monkeypatch.setattr(cov, "SOURCES_AT_A_TIME", sources)
        monkeypatch.setattr(cov, "BATCH_ROWS", rows)
        assert _findings(package) == whole, (sources, rows)


def test_a_dict_of_folded_texts_is_judged_as_the_texts_read_from_the_package(package_copy):
    package = Package.open(_broken(package_copy))
    texts = read_texts(package)
    as_dict = {source_id: FoldedText(texts[source_id].original) for source_id in package.source_paths()}
    assert [s.to_dict() for s in cov.package_coverage(package, as_dict)] == \
        [s.to_dict() for s in cov.package_coverage(package, texts)]


def test_read_texts_reads_the_map_of_text_paths_once(package_copy, monkeypatch):
    calls = []
    original = Package.source_paths
    monkeypatch.setattr(Package, "source_paths", lambda self: calls.append(1) or original(self))
    texts = read_texts(Package.open(package_copy))
    assert len(texts) == len(read_table(package_copy, "sources")[1]) and len(calls) == 1
