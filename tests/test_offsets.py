"""Addressable quotes: quote_start/quote_end are checked by the coverage layer, place the sentences a quote
covers, and are filled by `nkru offsets` without touching any other byte.

The resources with offsets are read from the schemas, so a new one is tested without editing this file.
"""

from __future__ import annotations

import json
import unicodedata

import pytest

from tests.helpers import REPO, covering, line_of, read_table, run_cli, write_table
from nkru import api, offsets
from nkru import coverage as cov
from nkru.package import Package
from nkru.text import FoldedText, fold

REAL = Package.open(REPO)
WITH_OFFSETS = offsets.offset_resources(REAL)


def texts(package):
    return {s["source_id"]: (package / s["text_path"]).read_text(encoding="utf-8")
            for s in read_table(package, "sources")[1]}


def coverage_findings(package):
    (layer,) = api.validate_package(package, only=["coverage"]).layers
    assert layer.checks > 0
    return layer.findings


def validate_findings(package, *layers):
    report = api.validate_package(package, only=list(layers))
    assert sum(layer.checks for layer in report.layers) > 0
    return [f for layer in report.layers for f in layer.findings]


def find(findings, **expected):
    matches = [f for f in findings if all(getattr(f, k) == v for k, v in expected.items())]
    assert matches, f"no finding with {expected}; found: " + "\n".join(f"{f.code} {f.resource} {f.line} {f.field}: "
                                                                        f"{f.message}" for f in findings)
    return matches[0]


def test_the_quote_resources_have_offsets():
    assert set(WITH_OFFSETS) == {"claims", "denials", "exclusions"}
    assert set(WITH_OFFSETS) == set(cov.quote_resources(REAL))


@pytest.mark.parametrize("resource", WITH_OFFSETS)
def test_every_real_row_has_offsets_that_slice_its_quote(resource):
    _, rows = read_table(REPO, resource)
    sources = texts(REPO)
    assert rows
    for row in rows:
        start, end = int(row["quote_start"]), int(row["quote_end"])
        assert 0 <= start < end <= len(sources[row["source_id"]])
        passage = sources[row["source_id"]][start:end]
        assert fold(passage) == fold(row["quote"]) and passage == passage.strip(), row


def test_no_two_rows_of_one_kind_point_to_the_same_repeated_passage():
    """Repeated passages (a headline printed twice) are told apart by offsets, one row per printing."""
    _, rows = read_table(REPO, "exclusions")
    places = [(r["source_id"], r["quote_start"], r["quote_end"]) for r in rows]
    assert len(places) == len(set(places))


# -- the coverage layer checks offsets -------------------------------------------------------------------


def _edit(package, resource, index, **cells):
    header, rows = read_table(package, resource)
    rows[index].update({k: str(v) for k, v in cells.items()})
    write_table(package, resource, header, rows)
    return line_of(package, resource, index), rows[index]


@pytest.mark.parametrize("resource", WITH_OFFSETS)
def test_offsets_past_the_end_of_the_text_fail(package_copy, resource):
    _, rows = read_table(package_copy, resource)
    length = len(texts(package_copy)[rows[0]["source_id"]])
    line, _ = _edit(package_copy, resource, 0, quote_start=length + 1, quote_end=length + 40)
    found = find(coverage_findings(package_copy), code="quote-offsets-out-of-range", resource=resource, line=line,
                 field="quote_end")
    assert found.value == str(length + 40) and str(length) in found.message


@pytest.mark.parametrize(("how", "resource"), covering([(how, r) for how in ["equal", "reversed"] for r in WITH_OFFSETS]))
def test_start_not_before_end_fails(package_copy, resource, how):
    _, rows = read_table(package_copy, resource)
    start, end = int(rows[0]["quote_start"]), int(rows[0]["quote_end"])
    cells = dict(quote_end=start) if how == "equal" else dict(quote_start=end, quote_end=start)
    line, _ = _edit(package_copy, resource, 0, **cells)
    find(coverage_findings(package_copy), code="quote-offsets-order", resource=resource, line=line, field="quote_start")


@pytest.mark.parametrize(("shift", "resource"), covering([(shift, r) for shift in [-1, 1] for r in WITH_OFFSETS]))
def test_offsets_shifted_off_the_quote_fail(package_copy, resource, shift):
    _, rows = read_table(package_copy, resource)
    index = len(rows) - 1
    start, end = int(rows[index]["quote_start"]), int(rows[index]["quote_end"])
    if start + shift < 0:
        shift = -shift
    line, row = _edit(package_copy, resource, index, quote_start=start + shift, quote_end=end + shift)
    found = find(coverage_findings(package_copy), code="quote-offsets-mismatch", resource=resource, line=line)
    assert f"{start}-{end}" in found.message  # where the quote really is


@pytest.mark.parametrize("resource", WITH_OFFSETS)
def test_an_edited_quote_no_longer_matches_its_offsets(package_copy, resource):
    line, _ = _edit(package_copy, resource, 0, quote="Dieser Satz steht in keinem der Artikel.")
    found = find(coverage_findings(package_copy), code="quote-offsets-mismatch", resource=resource, line=line)
    assert "not in the text" in found.message


@pytest.mark.parametrize("resource", WITH_OFFSETS)
def test_offsets_that_take_in_surrounding_whitespace_fail(package_copy, resource):
    """A slice that folds to the quote but starts with the whitespace before it is not the quote's place."""
    _, rows = read_table(package_copy, resource)
    sources = texts(package_copy)
    for index, row in enumerate(rows):
        start = int(row["quote_start"])
        if start > 0 and sources[row["source_id"]][start - 1].isspace():
            break
    else:
        pytest.skip("no quote follows whitespace")
    line, _ = _edit(package_copy, resource, index, quote_start=start - 1)
    found = find(coverage_findings(package_copy), code="quote-offsets-mismatch", resource=resource, line=line)
    assert "whitespace" in found.message


@pytest.mark.parametrize(("field", "value", "resource"), covering(
    [(field, value, r) for field, value in [("quote_start", ""), ("quote_end", ""), ("quote_start", "-1"),
                                            ("quote_end", "12.5"), ("quote_start", "abc")] for r in WITH_OFFSETS],
    lambda field, value, resource: value == ""))  # the fast loop: an empty offset and a malformed one
def test_missing_or_malformed_offsets_fail_in_the_structure_layer(package_copy, resource, field, value):
    line, _ = _edit(package_copy, resource, 0, **{field: value})
    findings = validate_findings(package_copy, "structure", "coverage")
    found = find(findings, layer="structure", resource=resource, line=line, field=field)
    assert found.severity == "error"


def test_sentences_are_found_from_offsets_not_by_searching(package_copy):
    """X001 and X002 exclude the same headline, printed on S001's first and last line. Pointing both at the first
    printing leaves the last line uncovered, although the quote still occurs there."""
    _, rows = read_table(package_copy, "exclusions")
    x001 = next(r for r in rows if r["exclusion_id"] == "X001")
    index = next(i for i, r in enumerate(rows) if r["exclusion_id"] == "X002")
    _edit(package_copy, "exclusions", index, quote_start=x001["quote_start"], quote_end=x001["quote_end"])
    findings = coverage_findings(package_copy)
    uncovered = find(findings, code="uncovered-sentence", row_id="S001")
    assert uncovered.line == texts(package_copy)["S001"].count("\n") + 1  # the last line
    assert not [f for f in findings if f.code.startswith("quote-")]


def test_a_row_with_wrong_offsets_covers_nothing(package_copy):
    _, rows = read_table(package_copy, "exclusions")
    index = next(i for i, r in enumerate(rows) if r["exclusion_id"] == "X003")
    _edit(package_copy, "exclusions", index, quote_start=int(rows[index]["quote_start"]) + 1)
    findings = coverage_findings(package_copy)
    (finding,) = [f for f in findings if f.code == "quote-offsets-mismatch"]
    # The sentence it was meant to cover is left uncovered: named by this finding (`also_at`), not a second one.
    assert finding.also_at and finding.also_at[0].startswith("data/sources/")
    assert [f.code for f in findings if f.severity == "error"] == ["quote-offsets-mismatch"]


def test_offsets_count_code_points_of_the_file_not_of_its_nfc_form():
    """In a decomposed (NFD) text, offsets count the combining marks as the file has them."""
    original = unicodedata.normalize("NFD", "Grüße aus Pjöngjang. Die Größe zählt.")
    folded = FoldedText(original)
    (place,) = offsets.candidates(folded, "Die Größe zählt.")
    assert fold(original[place[0]:place[1]]) == fold("Die Größe zählt.")
    assert place[1] == len(original)
    assert offsets.slice_problem(original, "Die Größe zählt.", *place) is None
    span = folded.folded_span(*place)
    assert folded.text[span.start:span.end] == fold("Die Größe zählt.")


# -- nkru offsets ---------------------------------------------------------------------------------------


def _clear(package, resource, keep=()):
    header, rows = read_table(package, resource)
    for row in rows:
        if row[REAL.primary_key(resource)[0]] not in keep:
            row.update(quote_start="", quote_end="")
    write_table(package, resource, header, rows)
    return rows


def _ambiguous_ids(resource):
    _, rows = read_table(REPO, resource)
    sources = {sid: FoldedText(t) for sid, t in texts(REPO).items()}
    key = REAL.primary_key(resource)[0]
    return {r[key] for r in rows if len(offsets.candidates(sources[r["source_id"]], r["quote"])) > 1}


@pytest.mark.parametrize("resource", WITH_OFFSETS)
def test_fill_restores_every_unambiguous_offset_byte_for_byte(package_copy, resource):
    ambiguous = _ambiguous_ids(resource)
    _clear(package_copy, resource, keep=ambiguous)
    result = run_cli("offsets", str(package_copy))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert (package_copy / "data" / f"{resource}.csv").read_bytes() == (REPO / "data" / f"{resource}.csv").read_bytes()
    assert "filled" in result.stdout


def test_an_ambiguous_quote_is_reported_with_its_candidates_and_left_empty(package_copy):
    ambiguous = _ambiguous_ids("exclusions")
    assert {"X001", "X002", "X005"} <= ambiguous
    _clear(package_copy, "exclusions", keep=ambiguous - {"X001"})
    result = run_cli("offsets", str(package_copy), "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert not data["complete"]
    (row,) = [r for r in data["rows"] if r["row_id"] == "X001"]
    assert row["status"] == "ambiguous"
    text = texts(package_copy)["S001"]
    assert {(p["quote_start"], p["text_line"]) for p in row["places"]} == {(0, 1), (text.rindex("Nordkorea"), 17)}
    _, rows = read_table(package_copy, "exclusions")
    x001 = next(r for r in rows if r["exclusion_id"] == "X001")
    assert x001["quote_start"] == x001["quote_end"] == ""  # never guessed
    assert all(r["quote_start"] for r in rows if r["exclusion_id"] != "X001")


def test_a_quote_not_in_its_text_is_reported_and_left_empty(package_copy):
    _edit(package_copy, "denials", 0, quote="Dieser Satz steht in keinem der Artikel.", quote_start="", quote_end="")
    result = run_cli("offsets", str(package_copy))
    assert result.exit_code == 1
    assert "not found" in result.stdout and "closest passage" in result.stdout
    assert read_table(package_copy, "denials")[1][0]["quote_start"] == ""


def test_dry_run_writes_nothing(package_copy):
    _clear(package_copy, "claims")
    before = (package_copy / "data" / "claims.csv").read_bytes()
    result = run_cli("offsets", str(package_copy), "--dry-run")
    assert result.exit_code == 0, result.stdout
    assert "would fill" in result.stdout
    assert (package_copy / "data" / "claims.csv").read_bytes() == before


def test_fill_keeps_other_cells_byte_for_byte_however_they_are_quoted(package_copy):
    path = package_copy / "data" / "denials.csv"
    _clear(package_copy, "denials")
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    # Quote cells the csv module would leave bare, and use CRLF on one line: both must survive.
    lines[1] = lines[1].replace("D001,E014,C030,", '"D001","E014",C030,', 1)
    path.write_bytes("\n".join(lines).replace("\n", "\r\n", 1).encode("utf-8"))
    raw = path.read_bytes().decode("utf-8")
    result = offsets.fill(package_copy)
    assert result.complete and len(result.filled) == len(read_table(REPO, "denials")[1])
    after = path.read_bytes().decode("utf-8")
    assert after.startswith(raw.split("\r\n", 1)[0] + "\r\n")
    assert '"D001","E014",C030,' in after
    real = {r["denial_id"]: r for r in read_table(REPO, "denials")[1]}
    for row in read_table(package_copy, "denials")[1]:
        assert (row["quote_start"], row["quote_end"]) == (real[row["denial_id"]]["quote_start"],
                                                          real[row["denial_id"]]["quote_end"])
    # nothing but the offset cells changed
    stripped = after
    for row in real.values():
        stripped = stripped.replace(f",{row['quote_start']},{row['quote_end']},", ",,,", 1)
    assert stripped == raw


def test_fill_adds_missing_offset_columns_where_the_schema_puts_them(package_copy):
    header, rows = read_table(package_copy, "claims")
    keep = [h for h in header if h not in offsets.OFFSET_FIELDS]
    write_table(package_copy, "claims", keep, [{k: r[k] for k in keep} for r in rows])
    result = offsets.fill(package_copy, resources=["claims"])
    assert result.complete and len(result.filled) == len(rows)
    assert (package_copy / "data" / "claims.csv").read_bytes() == (REPO / "data" / "claims.csv").read_bytes()


def test_fill_leaves_existing_offsets_alone(package_copy):
    _edit(package_copy, "claims", 0, quote_start=1, quote_end=2)  # wrong, but set: validation's to report
    result = offsets.fill(package_copy)
    assert result.filled == [] and result.kept > 0
    assert read_table(package_copy, "claims")[1][0]["quote_start"] == "1"


def test_fill_refuses_a_resource_without_offsets(package_copy):
    with pytest.raises(offsets.OffsetsError, match="events"):
        offsets.fill(package_copy, resources=["events"])
    result = run_cli("offsets", str(package_copy / "nowhere"))
    assert result.exit_code == 2


def test_fill_then_validate_is_clean_on_a_copy(package_copy):
    _clear(package_copy, "claims")
    assert offsets.fill(package_copy).complete
    assert not [f for f in validate_findings(package_copy, "structure", "coverage") if f.severity == "error"]
