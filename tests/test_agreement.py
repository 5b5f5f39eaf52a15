"""`nkru agreement`: alignment by quote span, unit recall, Krippendorff's alpha per variable.

The alphas below are worked out by hand from Krippendorff's definition (coincidence matrix, observed
and expected disagreement), so the library call and the way units become a reliability matrix are
both checked.
"""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from nkru import agreement as ag
from tests.helpers import REPO, covering, run_cli

BASE = date(2023, 1, 1)


def unit(uid, start, end, *, source="S001", kind="claim", claimant="A", event_type="arms_transfer", type="report",
         date_start=0, date_end=0):
    day = lambda offset: None if offset is None else BASE + timedelta(days=offset)  # noqa: E731
    return ag.Unit(uid, source, kind, claimant, event_type, type, day(date_start), day(date_end), start, end)


def coding(name, *units):
    return ag.Coding(name, tuple(units))


def by_name(result, variable):
    (found,) = [v for v in result.variables if v.variable == variable]
    return found


# -- alpha, worked out by hand --------------------------------------------------------------------------


def test_nominal_alpha_matches_the_hand_computation():
    # A: a a b b, B: a a b a. Coincidences o_aa=4, o_bb=2, o_ab=o_ba=1; n_a=5, n_b=3, n=8:
    # alpha = 1 - (n-1) * (o_ab+o_ba) / (n_a n_b + n_b n_a) = 1 - 7*2/30 = 16/30.
    a = coding("A", *(unit(f"a{i}", 10 * i, 10 * i + 5, claimant=c) for i, c in enumerate("aabb")))
    b = coding("B", *(unit(f"b{i}", 10 * i, 10 * i + 5, claimant=c) for i, c in enumerate("aaba")))
    result = ag.compare(a, b, bootstrap=0)
    claimant = by_name(result, "claimant")
    assert claimant.alpha == round(16 / 30, 3) and claimant.level == "nominal"
    assert (claimant.pairs, claimant.agree) == (4, 3)
    assert claimant.verdict == "unreliable"


def test_interval_alpha_of_dates_matches_the_hand_computation():
    # Days 1 2 3 4 vs 1 2 3 5: D_o = 2/8, D_e = 222/56, alpha = 1 - 14/222 = 208/222.
    a = coding("A", *(unit(f"a{i}", 10 * i, 10 * i + 5, date_start=d) for i, d in enumerate([1, 2, 3, 4])))
    b = coding("B", *(unit(f"b{i}", 10 * i, 10 * i + 5, date_start=d) for i, d in enumerate([1, 2, 3, 5])))
    start = by_name(ag.compare(a, b, bootstrap=0), "date_start")
    assert start.level == "interval" and start.alpha == round(208 / 222, 3)
    assert start.verdict == "reliable"


def test_open_bounds_are_missing_values_not_disagreements():
    a = coding("A", *(unit(f"a{i}", 10 * i, 10 * i + 5, date_start=d) for i, d in enumerate([1, 2, 3, 4])))
    b = coding("B", *(unit(f"b{i}", 10 * i, 10 * i + 5, date_start=d) for i, d in enumerate([1, 2, None, 4])))
    start = by_name(ag.compare(a, b, bootstrap=0), "date_start")
    assert (start.pairs, start.agree, start.alpha) == (3, 3, 1.0)


def test_claim_and_response_types_are_compared_only_within_their_kind():
    a = coding("A", unit("a1", 0, 5, type="report"), unit("a2", 10, 15, kind="denial", type="denial"),
               unit("a3", 20, 25, type="warning"))
    b = coding("B", unit("b1", 0, 5, type="report"), unit("b2", 10, 15, type="assessment"),
               unit("b3", 20, 25, type="warning"))
    result = ag.compare(a, b, bootstrap=0)
    assert (by_name(result, "claim_type").pairs, by_name(result, "response_type").pairs) == (2, 0)
    assert by_name(result, "response_type").verdict == "not computable"
    kind = by_name(result, "kind")
    assert (kind.pairs, kind.agree) == (3, 2)


def test_no_variation_is_not_computable_rather_than_perfect():
    a = coding("A", unit("a1", 0, 5), unit("a2", 10, 15))
    b = coding("B", unit("b1", 0, 5), unit("b2", 10, 15))
    event = by_name(ag.compare(a, b, bootstrap=0), "event_type")
    assert event.alpha is None and event.verdict == "not computable" and (event.pairs, event.agree) == (2, 2)


# -- alignment and unit recall --------------------------------------------------------------------------


def test_units_align_one_to_one_by_the_largest_overlap_in_the_same_source():
    a = coding("A", unit("a1", 0, 100), unit("a2", 100, 200), unit("a3", 300, 400), unit("a4", 0, 100, source="S002"))
    b = coding("B", unit("b1", 90, 200),  # overlaps a1 by 10 and a2 by 100: goes with a2
               unit("b2", 0, 50),         # a1 is free: pairs with it
               unit("b3", 500, 600),      # overlaps nothing
               unit("b4", 0, 100, source="S003"))  # same span, another source
    result = ag.compare(a, b, bootstrap=0)
    assert [(p["a"], p["b"]) for p in result.pairs] == [("a1", "b2"), ("a2", "b1")]
    assert (result.units_a, result.units_b, result.aligned) == (4, 4, 2)
    assert (result.recall_a, result.recall_b) == (0.5, 0.5)
    assert result.unmatched_a == ["a3", "a4"] and result.unmatched_b == ["b3", "b4"]
    assert [s.source_id for s in result.sources] == ["S001", "S002", "S003"]
    assert [(s.units_a, s.units_b, s.aligned) for s in result.sources] == [(3, 3, 2), (1, 0, 0), (0, 1, 0)]


def test_recall_differs_by_direction():
    a = coding("A", unit("a1", 0, 10), unit("a2", 20, 30))
    b = coding("B", unit("b1", 0, 10), unit("b2", 20, 30), unit("b3", 40, 50), unit("b4", 60, 70))
    result = ag.compare(a, b, bootstrap=0)
    assert (result.recall_a, result.recall_b) == (1.0, 0.5)


def test_the_bootstrap_is_reproducible_and_brackets_alpha():
    claimants_a, claimants_b = "aabbcabcab", "aabbcabcba"
    a = coding("A", *(unit(f"a{i}", 10 * i, 10 * i + 5, claimant=c) for i, c in enumerate(claimants_a)))
    b = coding("B", *(unit(f"b{i}", 10 * i, 10 * i + 5, claimant=c) for i, c in enumerate(claimants_b)))
    first, second = (by_name(ag.compare(a, b, bootstrap=300, seed=7), "claimant") for _ in range(2))
    assert first == second
    assert first.low is not None and first.low <= first.alpha <= first.high
    other = by_name(ag.compare(a, b, bootstrap=300, seed=8), "claimant")
    assert other.alpha == first.alpha


def test_disagreements_are_listed_with_both_values():
    a = coding("A", unit("a1", 0, 10, claimant="x", date_end=3))
    b = coding("B", unit("b1", 0, 10, claimant="y", date_end=None))
    (pair,) = ag.compare(a, b, bootstrap=0).pairs
    assert pair["differ"] == {"claimant": ["x", "y"], "date_end": [(BASE + timedelta(days=3)).isoformat(), None]}


# -- reading a second coding ----------------------------------------------------------------------------

UNIT_HEADER = ["unit_id", "source_id", "kind", "claimant", "event_type", "type", "date_start", "date_end",
               "quote", "quote_start", "quote_end", "statement", "notes"]


def write(path: Path, header, rows):
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def second_coding(package_copy):
    """A small valid second coding of S001 in the package copy: two claims with the text's own quotes."""
    text = (package_copy / "data/sources/S001.txt").read_text(encoding="utf-8")
    folder = package_copy / "reliability/coder2"
    folder.mkdir(parents=True, exist_ok=True)  # replaces the copied coding's files
    write(folder / "actors.csv", ["actor_key", "name", "name_de", "actor_type", "country"],
          [["B001", "White House", "Weißes Haus", "government_body", "USA"]])
    write(folder / "actor_map.csv", ["actor_key", "actor_id"], [["B001", "A001"]])
    rows = []
    for i, (start, end) in enumerate([(46, 205), (381, 451)], 1):
        rows.append([f"U{i:03d}", "S001", "claim", "B001", "arms_transfer", "allegation", "2022-11-01", "2023-12-31",
                     text[start:end], str(start), str(end), "s", ""])
    write(folder / "units.csv", UNIT_HEADER, rows)
    return package_copy, folder


def test_a_valid_second_coding_reads_with_mapped_claimants(second_coding):
    package, folder = second_coding
    coding_b = ag.read_coding(folder, package)
    assert [u.unit_id for u in coding_b.units] == ["U001", "U002"]
    assert {u.claimant for u in coding_b.units} == {"A001"}  # mapped onto the package's actor
    result = ag.agreement(package, bootstrap=0)  # the package's own reliability/coder2
    assert result.aligned == 2 and result.units_b == 2


BROKEN = [
    ("kind", "opinion", "kind='opinion'"),
    ("source_id", "S999", "source_id='S999'"),
    ("claimant", "B999", "claimant='B999'"),
    ("quote_start", "47", "do not hold the quote"),
    ("quote_end", "x1", "quote_end='x1'"),
    ("date_start", "2023-02-30", "date_start='2023-02-30'"),
    ("date_end", "2022-01-01", "is after date_end=2022-01-01"),
    ("unit_id", "", "unit_id=''"),
]


# The fast loop: a value outside the vocabulary and one other (the full run: every column).
@pytest.mark.parametrize(("column", "value", "says"), covering(BROKEN, lambda column, value, says: column == "kind"))
def test_a_broken_unit_names_file_line_field_and_value(second_coding, column, value, says):
    package, folder = second_coding
    with (folder / "units.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    rows[2][UNIT_HEADER.index(column)] = value
    write(folder / "units.csv", rows[0], rows[1:])
    with pytest.raises(ag.AgreementError) as raised:
        ag.read_coding(folder, package)
    message = str(raised.value)
    assert "units.csv line 3" in message and says in message
    result = run_cli("agreement", str(package), "--bootstrap", "0")
    assert result.exit_code == 2 and "units.csv line 3" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("damage", covering(["missing-column", "ragged", "latin-1", "no-actors", "map-unknown-key"],
                                            # the fast loop: a damaged file and a damaged actor map
                                            lambda damage: damage in ("missing-column", "ragged", "latin-1")))
def test_a_broken_coding_file_is_one_clear_error(second_coding, damage):
    package, folder = second_coding
    units = folder / "units.csv"
    if damage == "missing-column":
        units.write_text(units.read_text(encoding="utf-8").replace("claimant,", "speaker,", 1), encoding="utf-8")
        says = "missing column(s) claimant"
    elif damage == "ragged":
        units.write_text(units.read_text(encoding="utf-8") + "U009,S001\n", encoding="utf-8")
        says = "line 4: 2 cells"
    elif damage == "latin-1":
        units.write_bytes(units.read_text(encoding="utf-8").encode("latin-1", "replace"))
        says = "not UTF-8"
    elif damage == "no-actors":
        (folder / "actors.csv").unlink()
        says = "actors.csv: not found"
    else:
        write(folder / "actor_map.csv", ["actor_key", "actor_id"], [["B404", "A001"]])
        says = "actor_key='B404'"
    result = run_cli("agreement", str(package), "--bootstrap", "0")
    assert result.exit_code == 2, result.stdout
    assert says in result.stderr and "Traceback" not in result.stderr


# -- the committed second coding ---------------------------------------------------------------------------

COMMITTED = REPO / "reliability" / "coder2"


@pytest.mark.skipif(not (COMMITTED / "units.csv").exists(), reason="no committed second coding")
def test_the_committed_coding_reads_and_the_json_is_the_library_result():
    result = run_cli("agreement", str(REPO), "--format", "json", "--bootstrap", "50")
    assert result.exit_code == 0, result.stderr
    expected = ag.agreement(REPO, bootstrap=50).to_dict()
    assert json.loads(result.stdout) == json.loads(json.dumps(expected))
    assert expected["aligned"] > 0 and expected["units_b"] > 0


@pytest.mark.slow
@pytest.mark.skipif(not (COMMITTED / "units.csv").exists(), reason="no committed second coding")
def test_docs_reliability_carries_the_recomputed_figures():
    docs = (REPO / "docs" / "reliability.md").read_text(encoding="utf-8")
    assert ag.to_markdown(ag.agreement(REPO)) in docs, (
        "docs/reliability.md is stale: run `nkru agreement --format markdown` and paste the block")


def test_an_unknown_format_is_a_usage_error():
    result = run_cli("agreement", str(REPO), "--format", "xml")
    assert result.exit_code == 2 and "unknown format 'xml'" in result.stderr


def test_a_missing_coding_folder_is_a_usage_error(tmp_path):
    package = tmp_path / "package"
    shutil.copytree(REPO / "data", package / "data")
    for item in ("datapackage.json", "schemas"):
        (shutil.copytree if (REPO / item).is_dir() else shutil.copy2)(REPO / item, package / item)
    result = run_cli("agreement", str(package), "--coding", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "units.csv: not found" in result.stderr


def test_a_negative_bootstrap_is_a_usage_error():
    result = run_cli("agreement", str(REPO), "--bootstrap", "-1")
    assert result.exit_code == 2 and "bootstrap=-1 must be 0 or more" in result.stderr
