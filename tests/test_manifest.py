"""Release manifests: compact ID lists that expand to exactly the IDs written, and stay small at a million rows."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, strategies as st

from nkru.manifest import Manifest, ManifestError, compress_ids, expand_ids, keys_digest, latest_manifest, resource_entry


def test_runs_are_ranges_and_everything_else_is_kept():
    ids = [f"C{i:03d}" for i in range(1, 85)] + ["C090", "C091", "A1", "A2", "A3", "C1000", "ZZ", "X..Y", "C099", "C100"]
    ranges, literals = compress_ids(ids)
    assert ranges == ["A1..A3", "C001..C084", "C090", "C091", "C099", "C100", "C1000", "ZZ"]
    assert literals == ["X..Y"]
    assert expand_ids(ranges, literals) == set(ids)


@given(st.lists(st.one_of(
    st.builds(lambda p, n, w: f"{p}{n:0{w}d}", st.sampled_from(["C", "E", "", "X-"]), st.integers(0, 3000), st.integers(1, 5)),
    st.text(alphabet="AB.19", max_size=6))))
def test_compress_then_expand_gives_the_same_ids(ids):
    ranges, literals = compress_ids(ids)
    assert expand_ids(ranges, literals) == set(ids)
    assert len(ranges) + len(literals) <= len(set(ids))


@pytest.mark.slow
def test_a_million_row_release_stays_small():
    ids = [f"C{i:07d}" for i in range(1, 1_000_001)]
    random.Random(1).shuffle(ids)
    entry = resource_entry("data/claims.csv", ["claim_id"], [ids], len(ids))
    assert entry["ids"] == ["C0000001..C1000000"] and entry["rows"] == 1_000_000
    assert len(json.dumps(entry)) < 200
    # Gaps (retracted rows) cost one range each.
    del ids[:1000]
    assert len(json.dumps(resource_entry("x", ["claim_id"], [ids], len(ids)))) < 60_000


def test_composite_keys_are_a_digest_of_the_sorted_keys():
    one = resource_entry("x", ["a", "b"], [["1", "2"], ["x", "y"]], 2)
    two = resource_entry("x", ["a", "b"], [["2", "1"], ["y", "x"]], 2)
    assert one["keysSha256"] == two["keysSha256"] == keys_digest([("1", "x"), ("2", "y")])
    assert "ids" not in one


@pytest.mark.parametrize("data, message", [
    ([], "must be a JSON object"),
    ({"manifest": 2}, "unknown manifest format 2"),
    ({"manifest": 1, "version": "1.0"}, "is not X.Y.Z"),
    ({"manifest": 1, "version": "1.0.0", "archives": [], "files": {}, "resources": {}}, "'archives' must be an object"),
    ({"manifest": 1, "version": "1.0.0", "archives": {}, "files": {}, "resources": {"c": {"ids": "C1"}}}, "resource 'c' is malformed"),
])
def test_malformed_manifests_are_refused(data, message):
    with pytest.raises(ManifestError, match=message):
        Manifest.from_dict(data, "releases/1.0.0.json")


@pytest.mark.parametrize("bad", ["C009..C001", "C01..C100", "A1..B3"])
def test_malformed_ranges_are_refused(bad):
    with pytest.raises(ManifestError, match="malformed ID range"):
        expand_ids([bad])


def test_the_newest_manifest_wins_and_its_name_must_match(tmp_path):
    folder = tmp_path / "releases"
    folder.mkdir()
    for version in ("1.0.0", "1.10.0", "1.9.3"):
        (folder / f"{version}.json").write_text(Manifest(version=version, date="2026-11-30").dumps(), encoding="utf-8")
    (folder / "notes.json").write_text("{}", encoding="utf-8")
    assert latest_manifest(tmp_path).version == "1.10.0"
    (folder / "2.0.0.json").write_text(Manifest(version="1.0.0", date="2026-11-30").dumps(), encoding="utf-8")
    with pytest.raises(ManifestError, match="says version '1.0.0', but its name says 2.0.0"):
        latest_manifest(tmp_path)
