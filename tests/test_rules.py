"""The rules layer: every rule fails on a broken copy of the real package, at the right place.

Which resources a rule applies to is read from the schemas here too (dated resources,
foreign keys to the sources, numeric fields), so a new dated resource is tested without
editing this file.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import REPO, covering, examples, first, line_of, read_table, set_cell, write_table
from nkru import api, dates
from nkru.layers import rules
from nkru.package import Package

REAL = Package.open(REPO)
DATED = rules.dated_resources(REAL)
TABLES = [name for name in REAL.resources if REAL.table(name) is not None and len(REAL.table(name)) > 1]


def rule_findings(package):
    report = api.validate_package(package, only=["rules"])
    (layer,) = report.layers
    assert layer.checks > 0
    return layer.findings


def assert_finding(findings, **expected):
    """At least one finding matches every given attribute; shows what was found otherwise."""
    matches = [f for f in findings if all(getattr(f, k) == v for k, v in expected.items())]
    assert matches, f"no finding with {expected}; found: " + "\n".join(
        f"{f.code} {f.resource} {f.line} {f.row_id} {f.field}: {f.message}" for f in findings)
    return matches[0]


def row_id(package, resource, index):
    _, rows = read_table(package, resource)
    return "|".join(rows[index][k] for k in REAL.primary_key(resource))


def foreign_keys_to(resource_name, target):
    """(fields, reference fields) of every foreign key of `resource_name` to `target`, from its schema."""
    schema = REAL.resources[resource_name].schema or {}
    found = []
    for fk in schema.get("foreignKeys", []):
        if (fk["reference"].get("resource") or resource_name) == target:
            found.append((fk["fields"], fk["reference"]["fields"]))
    return found


# -- the real package ------------------------------------------------------------------------------


def test_real_package_passes_the_rules_layer():
    findings = rule_findings(REPO)
    assert [f.message for f in findings] == []


def test_rules_layer_runs_between_structure_and_coverage():
    from nkru.layers import names

    order = names()
    assert order.index("structure") < order.index("rules") < order.index("coverage")


def test_dated_resources_come_from_the_schemas():
    assert DATED, "no resource has the four date columns"
    for name in REAL.resources:
        fields = set(REAL.field_names(name))
        assert (name in DATED) == set(dates.DATE_COLUMNS).issubset(fields)


def test_every_precision_in_the_schemas_has_a_meaning():
    for name in DATED:
        (field,) = [f for f in REAL.resources[name].schema["fields"] if f["name"] == "date_precision"]
        assert set(field["constraints"]["enum"]) <= set(dates.PRECISIONS)


# -- dates ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", covering(DATED, first))
def test_date_start_after_date_end_fails(package_copy, resource):
    _, rows = read_table(package_copy, resource)
    later = dates.parse_date(rows[0]["date_end"]) + timedelta(days=1)
    line = set_cell(package_copy, resource, 0, "date_start", later.isoformat())
    found = assert_finding(rule_findings(package_copy), code="date-order", resource=resource, line=line,
                           row_id=row_id(package_copy, resource, 0), field="date_start")
    assert found.value == later.isoformat()


#: One span of each precision (2000 is a leap year).
SPANS = {"day": ("2000-02-29", "2000-02-29"), "month": ("2000-02-01", "2000-02-29"),
         "year": ("2000-01-01", "2000-12-31"), "range": ("2000-01-15", "2000-03-02")}

BAD_RANGES = [
    # every precision given to a span of every other precision (each direction)
    *[(precision, *SPANS[other]) for precision in SPANS for other in SPANS if other != precision],
    # a unit off by one day
    ("day", "2000-01-01", "2000-01-02"),
    ("day", "2000-01-01", "2000-12-31"),
    ("month", "2000-01-02", "2000-01-31"),
    ("month", "2000-01-01", "2000-01-30"),
    ("month", "2000-01-01", "2000-02-29"),
    ("month", "2000-02-01", "2000-02-28"),  # 2000 is a leap year
    ("year", "2000-01-01", "2000-12-30"),
    ("year", "2000-02-01", "2000-12-31"),
    ("year", "2000-01-01", "2001-12-31"),
]


@pytest.mark.parametrize(("precision", "start", "end", "resource"), covering(
    [(*bad, resource) for bad in BAD_RANGES for resource in DATED],
    # the fast loop: a unit precision and 'range' (the logic for every span: the property tests below)
    lambda precision, start, end, resource: precision == dates.RANGE))
def test_precision_that_disagrees_with_the_range_fails(package_copy, resource, precision, start, end):
    header, rows = read_table(package_copy, resource)
    index = len(rows) - 1
    rows[index].update(date_start=start, date_end=end, date_precision=precision)
    write_table(package_copy, resource, header, rows)
    found = assert_finding(rule_findings(package_copy), code="date-precision", resource=resource,
                           line=line_of(package_copy, resource, index), row_id=row_id(package_copy, resource, index),
                           field="date_precision")
    assert found.value == precision


@pytest.mark.parametrize(("precision", "resource"), covering([(p, r) for p in SPANS for r in DATED], first))
def test_each_precision_with_its_own_span_passes(package_copy, resource, precision):
    header, rows = read_table(package_copy, resource)
    index = len(rows) - 1
    start, end = SPANS[precision]
    rows[index].update(date_start=start, date_end=end, date_precision=precision)
    write_table(package_copy, resource, header, rows)
    line = line_of(package_copy, resource, index)
    assert not [f for f in rule_findings(package_copy) if f.code == "date-precision" and f.line == line
                and f.resource == resource]


def test_the_precision_message_names_the_right_precision(package_copy):
    header, rows = read_table(package_copy, "events")
    rows[0].update(date_start="2000-02-01", date_end="2000-02-29", date_precision="range")
    write_table(package_copy, "events", header, rows)
    found = assert_finding(rule_findings(package_copy), code="date-precision", resource="events")
    assert "'month'" in found.message


@pytest.mark.parametrize("resource", covering(DATED, first))
def test_reversed_range_is_reported_once_not_also_as_bad_precision(package_copy, resource):
    header, rows = read_table(package_copy, resource)
    rows[0].update(date_start="2000-01-31", date_end="2000-01-01", date_precision="month")
    write_table(package_copy, resource, header, rows)
    line = line_of(package_copy, resource, 0)
    at_row = [f.code for f in rule_findings(package_copy) if f.resource == resource and f.line == line]
    assert "date-order" in at_row and "date-precision" not in at_row


@pytest.mark.parametrize(("bad", "resource"), covering(
    [(bad, r) for bad in ["2023-02-30", "23-01-01", "20230101", "soon", "2023-W01-1"] for r in DATED], first))
def test_malformed_dates_are_left_to_the_structure_layer(package_copy, resource, bad):
    line = set_cell(package_copy, resource, 0, "date_start", bad)
    findings = rule_findings(package_copy)
    assert not [f for f in findings if f.resource == resource and f.line == line and f.field and f.field.startswith("date")]


SOURCE_DATED = [(name, fields[0]) for name in DATED for fields, _ in foreign_keys_to(name, "sources")]


def test_some_dated_resources_cite_sources():
    assert {name for name, _ in SOURCE_DATED} >= {"claims", "denials"}


@pytest.mark.parametrize(("resource", "field"), covering(SOURCE_DATED, first))
def test_dated_after_its_source_fails(package_copy, resource, field):
    _, sources = read_table(package_copy, "sources")
    _, rows = read_table(package_copy, resource)
    index = len(rows) - 1
    published = {s["source_id"]: s["date_end"] for s in sources}[rows[index][field]]
    after = (dates.parse_date(published) + timedelta(days=1)).isoformat()
    header, rows = read_table(package_copy, resource)
    rows[index].update(date_start=after, date_end=after, date_precision="day")
    write_table(package_copy, resource, header, rows)
    found = assert_finding(rule_findings(package_copy), code="dated-after-source", resource=resource,
                           line=line_of(package_copy, resource, index), row_id=row_id(package_copy, resource, index),
                           field="date_start")
    assert found.value == after and published in found.message


@pytest.mark.parametrize(("resource", "field"), covering(SOURCE_DATED, first))
def test_dated_on_the_day_of_publication_passes(package_copy, resource, field):
    _, sources = read_table(package_copy, "sources")
    published = {s["source_id"]: s["date_end"] for s in sources}
    header, rows = read_table(package_copy, resource)
    rows[0].update(date_start=published[rows[0][field]], date_end=published[rows[0][field]], date_precision="day")
    write_table(package_copy, resource, header, rows)
    assert not [f for f in rule_findings(package_copy) if f.code == "dated-after-source"]


# -- cross-table -------------------------------------------------------------------------------------


def test_denial_claim_about_another_event_fails(package_copy):
    _, claims = read_table(package_copy, "claims")
    _, denials = read_table(package_copy, "denials")
    other = next(c for c in claims if c["event_id"] != denials[0]["event_id"])
    line = set_cell(package_copy, "denials", 0, "claim_id", other["claim_id"])
    found = assert_finding(rule_findings(package_copy), code="claim-event-mismatch", resource="denials", line=line,
                           row_id=denials[0]["denial_id"], field="claim_id")
    assert found.value == other["claim_id"] and other["event_id"] in found.message


def test_denial_claim_about_the_same_event_passes(package_copy):
    _, claims = read_table(package_copy, "claims")
    _, denials = read_table(package_copy, "denials")
    same = next(c for c in claims if c["event_id"] == denials[-1]["event_id"])
    set_cell(package_copy, "denials", len(denials) - 1, "claim_id", same["claim_id"])
    assert not [f for f in rule_findings(package_copy) if f.code == "claim-event-mismatch"]


def test_self_affiliation_fails(package_copy):
    _, actors = read_table(package_copy, "actors")
    line = set_cell(package_copy, "actors", 1, "affiliation_id", actors[1]["actor_id"])
    assert_finding(rule_findings(package_copy), code="self-reference", resource="actors", line=line,
                   row_id=actors[1]["actor_id"], field="affiliation_id", value=actors[1]["actor_id"])


@pytest.mark.parametrize("length", covering([2, 3], first))
def test_an_affiliation_cycle_is_one_finding_at_its_first_member(package_copy, length):
    header, actors = read_table(package_copy, "actors")
    # two disjoint cycles, the second listed with its members out of file order
    cycles = [list(range(2, 2 + length)), list(range(2 + 2 * length, 2 + length, -1))]
    for members in cycles:
        for position, index in enumerate(members):
            actors[index]["affiliation_id"] = actors[members[(position + 1) % length]]["actor_id"]
    outsider = 3 + 2 * length
    actors[outsider]["affiliation_id"] = actors[cycles[0][0]]["actor_id"]  # leads into a cycle, not part of it
    write_table(package_copy, "actors", header, actors)
    findings = [f for f in rule_findings(package_copy) if f.code == "reference-cycle"]
    assert sorted(f.line for f in findings) == sorted(line_of(package_copy, "actors", min(m)) for m in cycles)
    for f in findings:
        assert f.resource == "actors" and f.field == "affiliation_id"
        assert f.message.count("→") == length


def test_event_without_actors_fails(package_copy):
    _, events = read_table(package_copy, "events")
    header, links = read_table(package_copy, "event_actors")
    event = events[3]["event_id"]
    write_table(package_copy, "event_actors", header, [r for r in links if r["event_id"] != event])
    found = assert_finding(rule_findings(package_copy), code="event-without-actors", resource="events",
                           line=line_of(package_copy, "events", 3), row_id=event, field="event_id")
    assert "event_actors" in found.message


QUANTITY_GROUP = [f for f in REAL.field_names("claims") if f == "quantity" or f.startswith("quantity_")]


def test_quantity_group_comes_from_the_schema():
    assert QUANTITY_GROUP == ["quantity", "quantity_unit", "quantity_qualifier"]


@pytest.mark.parametrize("cleared", covering(QUANTITY_GROUP, first))
def test_quantity_with_a_companion_missing_fails(package_copy, cleared):
    _, claims = read_table(package_copy, "claims")
    index = next(i for i, c in enumerate(claims) if all(c[f] for f in QUANTITY_GROUP))
    line = set_cell(package_copy, "claims", index, cleared, "")
    assert_finding(rule_findings(package_copy), code="quantity-incomplete", resource="claims", line=line,
                   row_id=claims[index]["claim_id"], field=cleared)


@pytest.mark.parametrize("only", covering(QUANTITY_GROUP, first))
def test_quantity_field_set_alone_fails(package_copy, only):
    _, claims = read_table(package_copy, "claims")
    index = next(i for i, c in enumerate(claims) if not any(c[f] for f in QUANTITY_GROUP))
    value = {"quantity": "5", "quantity_unit": "containers", "quantity_qualifier": "exact"}[only]
    line = set_cell(package_copy, "claims", index, only, value)
    assert_finding(rule_findings(package_copy), code="quantity-incomplete", resource="claims", line=line,
                   field=",".join(f for f in QUANTITY_GROUP if f != only))


# -- codes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", covering(["XXX", "QQQ", "ZZZ", "DDR"], first))
def test_country_that_is_not_iso_3166_fails(package_copy, bad):
    line = set_cell(package_copy, "actors", 0, "country", bad)
    assert_finding(rule_findings(package_copy), code="country-code", resource="actors", line=line,
                   row_id=row_id(package_copy, "actors", 0), field="country", value=bad)


@pytest.mark.parametrize("good", covering(["PRK", "RUS", "UKR", "KOR", "USA", ""], first))
def test_real_country_codes_pass(package_copy, good):
    set_cell(package_copy, "actors", 0, "country", good)
    assert not [f for f in rule_findings(package_copy) if f.code == "country-code"]


@pytest.mark.parametrize("bad", covering(["xx", "zz", "qq", "de-XYZW1"], first))
def test_language_that_is_not_bcp47_fails(package_copy, bad):
    line = set_cell(package_copy, "sources", 2, "language", bad)
    assert_finding(rule_findings(package_copy), code="language-tag", resource="sources", line=line,
                   row_id=row_id(package_copy, "sources", 2), field="language", value=bad)


@pytest.mark.parametrize("good", covering(["de", "de-DE", "de-CH-1996", "en-Latn-GB", "ko"], first))
def test_real_language_tags_pass(package_copy, good):
    set_cell(package_copy, "sources", 0, "language", good)
    assert not [f for f in rule_findings(package_copy) if f.code == "language-tag"]


# -- text hygiene ----------------------------------------------------------------------------------------


def write_quoted(package, resource, header, rows):
    """Like helpers.write_table, but quoting every cell: csv's minimal quoting leaves a lone CR unquoted."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writeheader()
    writer.writerows(rows)
    (package / "data" / f"{resource}.csv").write_text(buffer.getvalue(), encoding="utf-8", newline="")


def free_text_fields(resource):
    """The resource's text fields without a vocabulary or a pattern (from its schema): a hygiene problem
    in a field with one breaks it too, and is the structure layer's finding alone."""
    return [f["name"] for f in REAL.resources[resource].schema["fields"]
            if f.get("type", "string") == "string" and not {"enum", "pattern"} & set(f.get("constraints", {}))]


def text_field(resource):
    """The last free text field of a resource."""
    return free_text_fields(resource)[-1]


#: Tables with rows and a free text field (event_actors has only IDs and a vocabulary, units IDs and offsets).
TEXT_TABLES = [name for name in TABLES if free_text_fields(name)]


NUMERIC = [(name, f["name"]) for name in REAL.resources for f in (REAL.resources[name].schema or {}).get("fields", [])
           if f.get("type") in rules.NUMERIC_TYPES]

HYGIENE = [
    ("text-not-nfc", "Cafe\u0301 in Pjo\u0308ngjang"),
    ("text-whitespace", " leading space"),
    ("text-whitespace", "trailing space "),
    ("text-whitespace", "no-break space\u00a0"),
    ("text-control-character", "bell\x07inside"),
    ("text-control-character", "line\nbreak"),
    ("text-control-character", "nul\x00byte"),
    ("text-formula", "=HYPERLINK(\"http://example.org\")"),
    ("text-formula", "+1"),
    ("text-formula", "-1"),
    ("text-formula", "@SUM(A1)"),
    ("text-formula", "\tTAB"),
    ("text-formula", "\rCR"),
]


def test_most_tables_have_free_text():
    assert set(TABLES) - set(TEXT_TABLES) == {"event_actors", "units"}


@pytest.mark.parametrize(("code", "value", "resource"), covering(
    [(code, value, resource) for code, value in HYGIENE for resource in TEXT_TABLES],
    # the fast loop: NFC and one other check (each character: the property test below)
    lambda code, value, resource: code == "text-not-nfc"))
def test_text_hygiene_fails(package_copy, resource, code, value):
    field = text_field(resource)
    header, rows = read_table(package_copy, resource)
    rows[1][field] = value
    write_quoted(package_copy, resource, header, rows)
    line = line_of(package_copy, resource, 1)
    found = assert_finding(rule_findings(package_copy), code=code, resource=resource, line=line,
                           row_id=row_id(package_copy, resource, 1), field=field)
    assert found.value == value


def test_a_multiline_cell_does_not_shift_later_lines(package_copy):
    set_cell(package_copy, "actors", 0, "notes", "first line\nsecond line")
    line = set_cell(package_copy, "actors", 1, "notes", "=1+1")
    assert line == 4  # header, row 0 over two lines, then row 1
    assert_finding(rule_findings(package_copy), code="text-control-character", resource="actors", line=2, field="notes")
    assert_finding(rule_findings(package_copy), code="text-formula", resource="actors", line=4, field="notes")


def test_there_are_numeric_fields():
    assert ("claims", "quantity") in NUMERIC


@pytest.mark.parametrize(("resource", "field"), covering(NUMERIC, first))
def test_a_sign_in_a_numeric_field_is_not_a_formula(package_copy, resource, field):
    line = set_cell(package_copy, resource, 0, field, "-5")
    assert not [f for f in rule_findings(package_copy) if f.code == "text-formula" and f.line == line]


def test_every_code_of_the_layer_is_documented():
    from nkru.findings import CODES

    mine = {c.code: c for c in CODES.values() if c.layer == "rules"}
    assert {"date-order", "date-precision", "dated-after-source", "claim-event-mismatch", "self-reference",
            "reference-cycle", "event-without-actors", "quantity-incomplete", "country-code", "language-tag",
            "text-not-nfc", "text-whitespace", "text-control-character", "text-formula"} <= set(mine)
    assert all(c.description for c in mine.values())


def test_a_rule_that_crashes_becomes_a_finding_not_a_traceback(package_copy, monkeypatch):
    def broken(value):
        raise RuntimeError("boom")

    monkeypatch.setattr(rules, "is_country", broken)
    findings = rule_findings(package_copy)
    found = assert_finding(findings, code="rule-error", resource="actors")
    assert "country-code" in found.message and "boom" in found.message


def test_a_missing_or_unreadable_resource_does_not_crash_the_layer(package_copy):
    (package_copy / "data" / "events.csv").unlink()
    descriptor = json.loads((package_copy / "datapackage.json").read_text(encoding="utf-8"))
    descriptor["resources"][1]["path"] = "../outside.csv"
    (package_copy / "datapackage.json").write_text(json.dumps(descriptor), encoding="utf-8")
    findings = rule_findings(package_copy)
    assert not [f for f in findings if f.code == "event-without-actors"]


def test_a_missing_column_does_not_crash_the_layer(package_copy):
    header, rows = read_table(package_copy, "claims")
    keep = [h for h in header if h not in ("date_end", "quantity_unit")]
    write_table(package_copy, "claims", keep, [{k: r[k] for k in keep} for r in rows])
    rule_findings(package_copy)


# -- the date-precision logic, for any date ------------------------------------------------------------

DAYS = st.dates(min_value=date(2, 1, 1), max_value=date(9998, 12, 31))  # a whole year either side, shifted a day, stays a date
UNIT = st.sampled_from(dates.UNITS)


def _vector(start, end, precision):
    import pandas as pd

    return bool(dates.precision_agrees(pd.Series([start.isoformat()]), pd.Series([end.isoformat()]),
                                       pd.Series([precision]))[0])


@given(DAYS, UNIT)
def test_canonical_range_agrees_with_its_unit(day, unit):
    start, end = dates.canonical_range(day, unit)
    assert start <= day <= end
    assert dates.span_precision(start, end) == unit
    assert dates.agrees(start, end, unit) and _vector(start, end, unit)
    assert not dates.agrees(start, end, dates.RANGE) and not _vector(start, end, dates.RANGE)


@given(DAYS, UNIT, st.sampled_from(["start", "end"]), st.sampled_from([-1, 1]))
def test_a_unit_shifted_by_a_day_is_no_longer_that_unit(day, unit, which, shift):
    start, end = dates.canonical_range(day, unit)
    if which == "start":
        start += timedelta(days=shift)
    else:
        end += timedelta(days=shift)
    assert not dates.agrees(start, end, unit)
    if start <= end:
        assert dates.precision_problem(start, end, unit)
        assert not _vector(start, end, unit)
        actual = dates.span_precision(start, end)
        assert actual != unit and dates.agrees(start, end, actual) and _vector(start, end, actual)


@given(DAYS, DAYS)
def test_every_range_has_exactly_one_precision(first, second):
    start, end = min(first, second), max(first, second)
    agreeing = [p for p in dates.PRECISIONS if dates.agrees(start, end, p)]
    assert agreeing == [dates.span_precision(start, end)]
    assert [p for p in dates.PRECISIONS if _vector(start, end, p)] == agreeing
    for unit in dates.UNITS:
        assert (agreeing == [unit]) == ((start, end) == dates.canonical_range(start, unit))
    assert (agreeing == [dates.RANGE]) == all((start, end) != dates.canonical_range(start, u) for u in dates.UNITS)


@given(DAYS, DAYS)
def test_edtf_gives_back_the_range(first, second):
    start, end = min(first, second), max(first, second)
    text = dates.edtf(start, end)
    if "/" in text:
        assert dates.span_precision(start, end) == dates.RANGE
        assert text == f"{start.isoformat()}/{end.isoformat()}"
    else:
        unit = {10: dates.DAY, 7: dates.MONTH, 4: dates.YEAR}[len(text)]
        assert dates.canonical_range(start, unit) == (start, end) and start.isoformat().startswith(text)


@given(DAYS, DAYS)
def test_date_order_matches_date_comparison(first, second):
    import pandas as pd

    ok = dates.order_agrees(pd.Series([first.isoformat()]), pd.Series([second.isoformat()]))
    assert bool(ok[0]) == (first <= second)


@given(st.text(max_size=12))
@settings(max_examples=examples(200))
def test_parse_date_accepts_only_iso_calendar_dates(text):
    parsed = dates.parse_date(text)
    if parsed is not None:
        assert parsed.isoformat() == text


# -- schema shapes are read through the Package accessors (review C2) ---------------------------------------


@pytest.mark.parametrize("foreign_keys", covering([
    {"fields": "event_id"},  # a foreign key without a reference
    [{"fields": ["event_id", "actor_id"], "reference": {"resource": "events", "fields": "event_id"}}],  # unequal lengths
    [{"fields": 1, "reference": "events"}],
    "events",
], first))
def test_a_malformed_foreign_key_does_not_crash_the_rules_layer(package_copy, foreign_keys):
    path = package_copy / "schemas" / "event_actors.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema["foreignKeys"] = foreign_keys
    path.write_text(json.dumps(schema), encoding="utf-8")
    report = api.validate_package(package_copy, only=["rules"])
    [layer] = report.layers
    assert layer.checks > 0
    assert "layer-error" not in [f.code for f in layer.findings]


def test_a_field_without_a_type_is_a_string_to_the_rules(package_copy):
    path = package_copy / "schemas" / "events.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    for field in schema["fields"]:
        field.pop("type", None)
    path.write_text(json.dumps(schema), encoding="utf-8")
    [layer] = api.validate_package(package_copy, only=["rules"]).layers
    assert layer.checks > 0 and "layer-error" not in [f.code for f in layer.findings]


def test_the_whitespace_the_hygiene_rule_strips_is_what_python_calls_whitespace():
    from nkru.layers import rules as rules_layer

    assert set(rules_layer._WHITESPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}


def test_text_outside_the_always_nfc_ranges_is_still_checked():
    import unicodedata

    import polars as pl

    from nkru.layers import rules as rules_layer

    always = [c for c in range(0x110000) if any(lo <= c <= hi for lo, hi in ((0, 0x2FF), (0x2002, 0x206F), (0x20A0, 0x20CF)))]
    assert all(unicodedata.is_normalized("NFC", chr(c)) for c in always)
    seconds = {int(d.split()[1], 16) for d in map(unicodedata.decomposition, map(chr, range(0x110000)))
               if d and not d.startswith("<") and len(d.split()) == 2}
    assert not seconds & set(always)
    samples = ["Größe", "e\u0301", "\u2000", "A\u030a", "\u212b", "„Zitat“ – 5 €", "\u1100\u1161", "plain"]
    cells = pl.Series(samples)
    assert rules_layer._not_nfc(cells).to_list() == [not unicodedata.is_normalized("NFC", s) for s in samples]


#: Characters every hygiene check cares about, mixed with plain text: whitespace, controls, formula
#: prefixes, combining marks and other text outside the always-NFC ranges.
HYGIENE_ALPHABET = st.sampled_from(list("ab Z1-+=@.\t\r\n\x00\x07\x1f\x7f\x85\x9f\xa0\u00e9\u0301\u030a\u212b"
                                        "\u2000\u2028\u3000\u1100\u1161\u00c5\u20ac\u201e"))


@given(st.lists(st.text(alphabet=HYGIENE_ALPHABET, min_size=1, max_size=8), min_size=1, max_size=20))
@settings(max_examples=examples(200))
def test_the_hygiene_prefilter_misses_no_failing_cell(cells):
    """A column without a cell matching `_SUSPECT` passes every hygiene check at once: every cell that
    fails a check must match it. And each check says what Python says."""
    import unicodedata

    import polars as pl

    from nkru.layers import rules as rules_layer

    series = pl.Series(cells, dtype=pl.String)
    suspect = series.str.contains(rules_layer._SUSPECT).to_list()
    assert set(rules_layer.HYGIENE) == set(rules_layer.HYGIENE_CHECKS) and len(rules_layer.HYGIENE) == 4
    for check, fails in rules_layer.HYGIENE.items():
        for cell, failed, matched in zip(cells, fails(series).to_list(), suspect):
            assert not failed or matched, (check, cell)
    said = {
        "text-whitespace": [c != c.strip() for c in cells],
        "text-not-nfc": [not unicodedata.is_normalized("NFC", c) for c in cells],
        "text-control-character": [any(unicodedata.category(ch) == "Cc" for ch in c) for c in cells],
        "text-formula": [rules_layer.formula_prefix(c) is not None for c in cells],
    }
    for check, expected in said.items():
        assert rules_layer.HYGIENE[check](series).to_list() == expected, check


def test_the_rules_layer_converts_no_table_to_pandas(monkeypatch):
    """The models run on the reader's polars frames (pandera's polars backend): nothing becomes a pandas frame."""
    import polars as pl

    def refuse(*args, **kwargs):
        raise AssertionError("a table was converted to pandas")

    monkeypatch.setattr(pl.DataFrame, "to_pandas", refuse)
    monkeypatch.setattr(pl.Series, "to_pandas", refuse)
    package = Package.open(REPO)
    result = rules.check(package)
    assert result.checks > 0
    assert [f.message for f in result.findings] == []


# -- open bounds and the source's publication day ------------------------------------------------------


def _required(resource, field):
    spec = next(f for f in REAL.resources[resource].schema["fields"] if f["name"] == field)
    return bool(spec.get("constraints", {}).get("required"))


#: (resource, side) for every side a schema lets be open (not required).
OPENABLE = [(name, side) for name in DATED for side in ("date_start", "date_end") if not _required(name, side)]


def test_some_dated_sides_may_be_open_and_sources_may_not():
    assert ("events", "date_start") in OPENABLE and ("claims", "date_start") in OPENABLE
    assert ("events", "date_end") in OPENABLE
    assert not [side for name, side in OPENABLE if name == "sources"]
    # a claim or denial is printed by its source, so its end is always bounded
    assert ("claims", "date_end") not in OPENABLE and ("denials", "date_end") not in OPENABLE


def _open_row(package, resource, side, precision="range"):
    header, rows = read_table(package, resource)
    index = len(rows) - 1
    rows[index].update({side: "", "date_precision": precision})
    write_table(package, resource, header, rows)
    return index


@pytest.mark.parametrize(("resource", "side"), covering(OPENABLE, first))
def test_an_open_side_with_precision_range_passes(package_copy, resource, side):
    _open_row(package_copy, resource, side)
    report = api.validate_package(package_copy, only=["structure", "rules"])
    assert [f.message for f in report.findings if f.severity == "error"] == []


@pytest.mark.parametrize(("resource", "side", "unit"), covering(
    [(*openable, unit) for unit in ["day", "month", "year"] for openable in OPENABLE], first))
def test_an_open_side_with_a_unit_precision_fails(package_copy, resource, side, unit):
    index = _open_row(package_copy, resource, side, precision=unit)
    found = [f for f in rule_findings(package_copy) if f.code == "date-precision"]
    assert len(found) == 1, [f.message for f in found]
    assert found[0].row_id == row_id(package_copy, resource, index) and found[0].value == unit
    assert found[0].line == line_of(package_copy, resource, index)
    assert f"{side} is open" in found[0].message and "'range'" in found[0].message


@pytest.mark.parametrize("resource", sorted({name for name, _ in OPENABLE if (name, "date_end") in OPENABLE
                                             and (name, "date_start") in OPENABLE}))
def test_a_row_open_on_both_sides_fails_once(package_copy, resource):
    header, rows = read_table(package_copy, resource)
    rows[0].update(date_start="", date_end="", date_precision="range")
    write_table(package_copy, resource, header, rows)
    report = api.validate_package(package_copy, only=["structure", "rules"])
    errors = [f for f in report.findings if f.severity == "error"]
    assert [(f.code, f.row_id) for f in errors] == [("date-unbounded", row_id(package_copy, resource, 0))]
    assert errors[0].line == line_of(package_copy, resource, 0)


@pytest.mark.parametrize(("resource", "field"), covering(SOURCE_DATED, first))
def test_ending_after_its_source_fails_once(package_copy, resource, field):
    _, sources = read_table(package_copy, "sources")
    header, rows = read_table(package_copy, resource)
    index = len(rows) - 1
    published = {s["source_id"]: s["date_end"] for s in sources}[rows[index][field]]
    after = (dates.parse_date(published) + timedelta(days=1)).isoformat()
    start = rows[index]["date_start"] or published
    rows[index].update(date_start=start, date_end=after, date_precision="range" if start != after else "day")
    write_table(package_copy, resource, header, rows)
    findings = [f for f in rule_findings(package_copy) if f.severity == "error"]
    assert [(f.code, f.field, f.value) for f in findings] == [("ends-after-source", "date_end", after)]
    assert findings[0].row_id == row_id(package_copy, resource, index)
    assert published in findings[0].message


@pytest.mark.parametrize(("resource", "field"), covering(SOURCE_DATED, first))
def test_ending_on_the_day_of_publication_passes(package_copy, resource, field):
    _, sources = read_table(package_copy, "sources")
    header, rows = read_table(package_copy, resource)
    published = {s["source_id"]: s["date_end"] for s in sources}[rows[0][field]]
    rows[0].update(date_start="", date_end=published, date_precision="range")
    write_table(package_copy, resource, header, rows)
    assert [f.message for f in rule_findings(package_copy) if f.severity == "error"] == []


@pytest.mark.parametrize(("start", "end", "text"), [
    (None, date(2023, 11, 23), "../2023-11-23"),
    (date(2022, 2, 24), None, "2022-02-24/.."),
    (None, None, None),
])
def test_edtf_writes_open_bounds_as_open_intervals(start, end, text):
    import polars as pl

    assert dates.edtf(start, end) == text
    frame = pl.DataFrame({"date_start": [start], "date_end": [end]}, schema={"date_start": pl.Date, "date_end": pl.Date})
    assert frame.select(dates.edtf_expr()).item() == text
