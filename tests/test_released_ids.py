"""A release's IDs read column-wise: `nkru.manifest.id_series` expands a manifest's ID lists into one polars
Series (what `compress_ids` wrote, each ID once), refuses a malformed range with the same messages as
before, and refuses ranges spanning more than `MAX_RELEASED_IDS` IDs before expanding any."""

from __future__ import annotations

import json
import re
import shutil

import polars as pl
import pytest

from tests.helpers import REPO, read_table, write_table
from nkru import manifest as manifest_module
from nkru.api import Options, validate_package
from nkru.layers.metadata import _IdIndex
from nkru.manifest import MAX_RELEASED_IDS, Manifest, ManifestError, compress_ids, expand_ids, id_series

MALFORMED = "malformed ID range {!r} (expected e.g. C001..C084: one prefix, one width, ascending)"


def ids(ranges, literals=(), **kwargs) -> list[str]:
    series = id_series(ranges, literals, **kwargs)
    assert series.dtype == pl.String and series.name == "id"
    return series.to_list()


def test_ranges_expand_to_what_compress_ids_wrote_widths_and_literals_kept():
    written = [f"C{i:03d}" for i in range(995, 1000)] + [f"C{i}" for i in range(1000, 1004)] + ["X-01", "X-02", "ZZ", "A..B", "C1..C3"]
    ranges, literals = compress_ids(written)
    assert ranges == ["C995..C999", "C1000..C1003", "X-01", "X-02", "ZZ"]  # one width per range: C999, then C1000
    assert literals == ["A..B", "C1..C3"]  # an ID containing `..` is never read as a range
    assert ids(ranges, literals) == sorted(written)  # each once, sorted as text
    assert expand_ids(ranges, literals) == set(written)


def test_each_id_is_listed_once_whatever_the_lists_repeat():
    assert ids(["C001..C003", "C002", "C002..C004", "C004"], ["C003"]) == ["C001", "C002", "C003", "C004"]
    assert ids([]) == [] and ids([], ["A..B"]) == ["A..B"]


def test_numbers_wider_than_an_int64_and_a_final_newline_read_as_before():
    wide = "9" * 25
    assert ids([f"C{wide[:-1]}7..C{wide}"]) == [f"C{wide[:-1]}7", f"C{wide[:-1]}8", f"C{wide}"]
    assert ids(["C1..C3\n"]) == ["C1", "C2", "C3"]  # Python's `$` matched before a final newline: so does this


@pytest.mark.parametrize("bad", ["C009..C001", "C01..C100", "A1..B3", "C999..C1000", "C1..C999999999"])
def test_a_malformed_range_is_refused_with_the_same_message(bad):
    with pytest.raises(ManifestError) as caught:
        id_series(["C001..C002", bad, "C005"])
    assert str(caught.value) == MALFORMED.format(bad)


def test_the_first_problem_in_the_list_is_the_one_reported():
    with pytest.raises(ManifestError, match=r"an ID must be a string, not 5$"):
        id_series(["C1", 5, "A1..B3"])
    with pytest.raises(ManifestError, match=r"malformed ID range 'A1..B3'"):
        id_series(["A1..B3", 5])
    with pytest.raises(ManifestError, match=r"an ID must be a string, not None$"):
        id_series(["C1"], [None])


def test_ranges_spanning_more_than_the_limit_are_refused_before_expanding():
    assert len(ids(["C001..C100"], limit=100)) == 100
    with pytest.raises(ManifestError, match=r"span 101 IDs, more than the 100 a manifest may list"):
        id_series(["C001..C100", "D1"], limit=100)
    # ten billion IDs (hundreds of GB as text): refused at once, whatever the width of the numbers
    for hostile in ("C0000000000..C9999999999", f"C{'0' * 30}..C{'9' * 30}"):
        with pytest.raises(ManifestError, match=r"a manifest may list \(nkru.manifest.MAX_RELEASED_IDS\)"):
            id_series([hostile])


def test_the_limit_counts_every_resource_of_a_manifest(monkeypatch):
    monkeypatch.setattr(manifest_module, "MAX_RELEASED_IDS", 150)
    released = Manifest(version="1.0.0", date="2026-11-30", resources={
        "claims": {"primaryKey": ["claim_id"], "ids": ["C001..C100"]},
        "actors": {"primaryKey": ["actor_id"], "ids": ["A001..A060"]}})
    with pytest.raises(ManifestError, match=r"span 160 IDs, more than the 150"):
        released.ids("claims")  # 100 alone is under the limit; with the actors' 60 it is over
    monkeypatch.setattr(manifest_module, "MAX_RELEASED_IDS", 160)
    assert released.ids("claims").len() == 100


def test_the_ceiling_is_above_a_million_claims_release():
    assert MAX_RELEASED_IDS >= 4_000_000  # 3.9M IDs at a million claims (benchmarks/scale_package.py)


def test_a_released_id_is_present_in_any_resource_and_missing_only_from_all():
    present = _IdIndex({"claims": pl.Series(["C001", None, "C003"], dtype=pl.String),
                        "actors": pl.Series(["A001", "C002"], dtype=pl.String)})
    assert sorted(present.missing("claims", pl.Series(["C001", "C002", "C004"], dtype=pl.String)).to_list()) == ["C004"]
    assert present.missing("gone", pl.Series(["A001", "X1"], dtype=pl.String)).to_list() == ["X1"]
    assert present.contains(pl.Series(["C003", "", "A001", "C009"], dtype=pl.String)).to_list() == [True, False, True, False]
    first = present.first_rows(pl.Series(["C003", "C002", "C009"], dtype=pl.String))
    assert first.select("id", "resource", "index").rows() == [("C003", "claims", 2), ("C002", "actors", 1)]


def test_a_hostile_manifest_is_a_finding_not_a_hang(package_copy):
    shutil.copytree(REPO / "releases", package_copy / "releases")
    newest = max((package_copy / "releases").glob("*.json"), key=lambda p: [int(n) for n in p.stem.split(".")])
    data = json.loads(newest.read_text(encoding="utf-8"))
    data["resources"]["claims"]["ids"].append("C0000000000..C9999999999")
    newest.write_text(json.dumps(data), encoding="utf-8")
    header, rows = read_table(package_copy, "claims")
    write_table(package_copy, "claims", header, rows[:-1])  # a released row gone: not reported, the IDs are not trusted
    report = validate_package(package_copy, only=["expectations", "metadata"], options=Options())
    findings = [f for layer in report.layers for f in layer.findings]
    [unreadable] = [f for f in findings if f.code == "manifest-unreadable"]
    assert unreadable.path == f"releases/{newest.name}"
    assert re.search(r"its ID ranges span 10,000,000,[0-9]{3} IDs, more than the 10,000,000 a manifest may list "
                     r"\(nkru.manifest.MAX_RELEASED_IDS\)", unreadable.message)
    assert not [f for f in findings if f.code in ("layer-error", "released-id-missing")]
