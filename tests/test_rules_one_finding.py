"""One mistake, one finding: every rule of the rules layer broken once in a copy of the real package gives
exactly the findings of that rule (from the structure and rules layers together, no folding of duplicates
needed); a mistake the structure layer owns (a cell that does not type, breaks its vocabulary or pattern,
a dangling key, a file that cannot be read as its schema says) gives no rules finding at all.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from nkru import api, dates
from nkru.findings import CODES
from nkru.layers import rules
from nkru.package import Package
from tests.helpers import REPO, covering, first, line_of, read_table, set_cell, write_table

REAL = Package.open(REPO)


def errors_of(package, layers=("structure", "rules")):
    report = api.validate_package(package, only=list(layers))
    for layer in report.layers:
        assert layer.checks > 0, layer.layer
    return [f for f in report.findings if f.severity == "error"], report


def _row_id(package, resource, index):
    _, rows = read_table(package, resource)
    return "|".join(rows[index][k] for k in REAL.primary_key(resource))


def _published(package, resource, index):
    _, sources = read_table(package, "sources")
    _, rows = read_table(package, resource)
    return dates.parse_date({s["source_id"]: s["date_end"] for s in sources}[rows[index]["source_id"]])


def _set_row(package, resource, index, **cells):
    header, rows = read_table(package, resource)
    rows[index].update(cells)
    write_table(package, resource, header, rows)
    return [(resource, line_of(package, resource, index), _row_id(package, resource, index))]


# -- every rule broken once: (package) -> [(resource, line, row_id)] of the rows it must be reported at,
#    with the field it is reported in -------------------------------------------------------------------


def date_unbounded(package):
    return _set_row(package, "events", 0, date_start="", date_end="", date_precision="range")


def date_order(package):
    return _set_row(package, "events", 1, date_start="2001-01-02", date_end="2001-01-01", date_precision="range")


def date_precision(package):
    return _set_row(package, "events", 2, date_start="2000-02-01", date_end="2000-02-29", date_precision="range")


def date_precision_open(package):
    return _set_row(package, "events", 2, date_start="", date_end="2000-02-29", date_precision="day")


def dated_after_source(package):
    after = (_published(package, "claims", 3) + timedelta(days=1)).isoformat()
    return _set_row(package, "claims", 3, date_start=after, date_end=after, date_precision="day")


def ends_after_source(package):
    published = _published(package, "denials", 0)
    return _set_row(package, "denials", 0, date_start=published.isoformat(),
                    date_end=(published + timedelta(days=1)).isoformat(), date_precision="range")


def claim_event_mismatch(package):
    _, claims = read_table(package, "claims")
    _, denials = read_table(package, "denials")
    other = next(c for c in claims if c["event_id"] != denials[1]["event_id"])
    return _set_row(package, "denials", 1, claim_id=other["claim_id"])


def self_reference(package):
    _, actors = read_table(package, "actors")
    return _set_row(package, "actors", 1, affiliation_id=actors[1]["actor_id"])


def reference_cycle(package):
    header, actors = read_table(package, "actors")
    actors[4]["affiliation_id"], actors[5]["affiliation_id"] = actors[5]["actor_id"], actors[4]["actor_id"]
    write_table(package, "actors", header, actors)
    return [("actors", line_of(package, "actors", 4), actors[4]["actor_id"])]  # one cycle: one finding, at its first member


def event_without_actors(package):
    _, events = read_table(package, "events")
    header, links = read_table(package, "event_actors")
    write_table(package, "event_actors", header, [r for r in links if r["event_id"] != events[3]["event_id"]])
    return [("events", line_of(package, "events", 3), events[3]["event_id"])]


def quantity_incomplete(package):
    _, claims = read_table(package, "claims")
    index = next(i for i, c in enumerate(claims) if c["quantity"] and c["quantity_unit"] and c["quantity_qualifier"])
    return _set_row(package, "claims", index, quantity_unit="")


def country_code(package):
    return _set_row(package, "actors", 0, country="DDR")


def language_tag(package):
    return _set_row(package, "sources", 2, language="xx")


def hygiene(value):
    def mutate(package):
        return _set_row(package, "actors", 2, notes=value)
    return mutate


#: (code, field, mutation): one per check of the layer (date-precision has two: a closed and an open range).
BROKEN = [
    ("date-unbounded", "date_start", date_unbounded),
    ("date-order", "date_start", date_order),
    ("date-precision", "date_precision", date_precision),
    ("date-precision", "date_precision", date_precision_open),
    ("dated-after-source", "date_start", dated_after_source),
    ("ends-after-source", "date_end", ends_after_source),
    ("claim-event-mismatch", "claim_id", claim_event_mismatch),
    ("self-reference", "affiliation_id", self_reference),
    ("reference-cycle", "affiliation_id", reference_cycle),
    ("event-without-actors", "event_id", event_without_actors),
    ("quantity-incomplete", "quantity_unit", quantity_incomplete),
    ("country-code", "country", country_code),
    ("language-tag", "language", language_tag),
    ("text-not-nfc", "notes", hygiene("Cafe\u0301")),
    ("text-whitespace", "notes", hygiene("trailing ")),
    ("text-control-character", "notes", hygiene("bell\x07")),
    ("text-formula", "notes", hygiene("=1+1")),
]


def test_every_check_of_the_layer_is_broken_once():
    """The corpus covers every named check the layer builds for the real package (and every code but rule-error)."""
    typed = rules.TypedTables(REAL)
    built = {(rule.check, rule.code) for name in typed for build in rules.RULES for rule in build(REAL, typed, name)}
    codes = {code for code, _, _ in BROKEN}
    assert {code for _, code in built} == codes
    assert {c.code for c in CODES.values() if c.layer == "rules"} - codes == {"rule-error"}
    assert {check for check, _ in built} == codes | {"date-open-precision"}


# Each case validates a copy with two layers: the fast loop breaks one rule (the full run: every rule).
@pytest.mark.parametrize(("code", "field", "mutate"), covering(BROKEN, first, ids=[f"{c}-{m.__name__}" for c, _, m in BROKEN]))
def test_a_broken_rule_gives_its_findings_and_nothing_else(package_copy, code, field, mutate):
    places = mutate(package_copy)
    found, _ = errors_of(package_copy)
    assert [(f.code, f.resource, f.line, f.row_id, f.field) for f in sorted(found, key=lambda f: f.line)] == \
        [(code, resource, line, row_id, field) for resource, line, row_id in places], [f.message for f in found]
    assert all(not f.aliases for f in found), "a finding was folded: two owners"


# -- what the structure layer owns: no rules finding on top ---------------------------------------------


def _cell(resource, index, **cells):
    return lambda package: _set_row(package, resource, index, **cells)


def _short_row(package):
    import csv
    import io

    path = package / "data" / "claims.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    rows[4] = rows[4][:-1]  # the last cell (notes) left out
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


STRUCTURE_OWNS = [
    ("type-error", "date_start", _cell("events", 2, date_start="soon", date_precision="day")),
    ("type-error", "date_start", _cell("events", 2, date_start="2023-02-30")),
    ("type-error", "date_end", _cell("sources", 1, date_end="2024-13-01")),  # claims look their source's date up
    ("type-error", "quantity", lambda p: _set_row(p, "claims", next(
        i for i, c in enumerate(read_table(p, "claims")[1]) if c["quantity"] and c["quantity_unit"]), quantity="five")),
    ("constraint-error", "country", _cell("actors", 0, country="de ")),  # a pattern, not also whitespace
    ("constraint-error", "actor_type", _cell("actors", 0, actor_type=" state")),  # a vocabulary, not also whitespace
    ("constraint-error", "role", _cell("event_actors", 0, role="=1+1")),  # a vocabulary, not also a formula
    ("constraint-error", "date_precision", _cell("events", 2, date_precision="week")),
    ("foreign-key", "claim_id", _cell("denials", 0, claim_id="C998")),  # not also a claim about another event
    ("missing-cell", "notes", _short_row),
    # a required date_end left empty: not also an unbounded or open range with a unit precision
    ("constraint-error", "date_end", _cell("claims", 0, date_end="", date_precision="day")),
    ("constraint-error", "date_end", _cell("denials", 0, date_start="", date_end="", date_precision="range")),
]


@pytest.mark.parametrize(("code", "field", "mutate"), covering(
    STRUCTURE_OWNS, first, ids=[f"{c}-{f}-{i}" for i, (c, f, _) in enumerate(STRUCTURE_OWNS)]))
def test_a_structure_mistake_gives_no_rules_finding(package_copy, code, field, mutate):
    mutate(package_copy)
    found, report = errors_of(package_copy)
    assert [(f.code, f.field) for f in found] == [(code, field)], [f.message for f in found]
    assert found[0].layer == "structure"


def _semicolons(package):
    path = package / "data" / "actors.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(",", ";"), encoding="utf-8")


def _cp1252(package):
    header, rows = read_table(package, "actors")
    rows[0]["notes"] = "Größe"
    write_table(package, "actors", header, rows)
    path = package / "data" / "actors.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("cp1252", errors="replace"))


def _column_dropped(package):
    header, rows = read_table(package, "claims")
    keep = [h for h in header if h != "notes"]
    write_table(package, "claims", keep, [{k: r[k] for k in keep} for r in rows])


def _column_renamed(package):
    path = package / "data" / "claims.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("quantity_unit", "unit", 1), encoding="utf-8")


@pytest.mark.parametrize("mutate", covering([_semicolons, _cp1252, _column_dropped, _column_renamed], first))
def test_a_table_that_cannot_be_read_as_its_schema_says_gets_no_rules_finding(package_copy, mutate):
    mutate(package_copy)
    found, report = errors_of(package_copy)
    layers = {layer.layer: layer for layer in report.layers}
    assert layers["structure"].findings, "the structure layer reports the file"
    assert layers["rules"].findings == []


# -- what `checks` counts -------------------------------------------------------------------------------


def test_checks_count_every_named_check_on_every_row():
    package = Package.open(REPO)
    result = rules.check(package)
    typed = rules.TypedTables(package)
    expected = 0
    for name, t in typed.items():
        built = [rule for build in rules.RULES for rule in build(package, typed, name)]
        expected += len(built) * t.frame.height
        assert sum(len(c.checks) for c in rules.schema(t, built).columns.values()) == len(built)
    assert result.checks == expected > 0
    text_fields = sum(t.frame.height * sum(dtype == pl.String for dtype in t.frame.schema.values()) for t in typed.values())
    assert result.checks > 4 * text_fields  # every text cell is judged by the four hygiene checks, and more


def test_a_typed_table_is_the_one_type_system_s():
    from nkru.loader import schema_field_specs, type_frame

    package = Package.open(REPO)
    for name in package.resources:
        t = rules._typed(package, name)
        frame, problems = type_frame(package.table(name), schema_field_specs(package, name))
        assert problems == [] and t.frame.equals(frame), name
        assert not t.untyped.to_numpy().any()
    assert rules._typed(package, "claims").frame.schema["date_start"] == pl.Date


def test_set_cell_line_numbers_still_count_multiline_cells(package_copy):
    set_cell(package_copy, "actors", 0, "notes", "two\nlines")
    line = set_cell(package_copy, "actors", 1, "country", "DDR")
    found, _ = errors_of(package_copy)
    assert [(f.code, f.line) for f in found] == [("text-control-character", 2), ("country-code", line)]
    assert line == 4


def test_a_rule_that_cannot_be_built_is_a_finding_and_the_other_rules_still_run(package_copy, monkeypatch):
    def broken(*args, **kwargs):
        raise TypeError("keys of different types")

    monkeypatch.setattr(rules, "_lookup", broken)
    set_cell(package_copy, "actors", 0, "country", "DDR")
    found, _ = errors_of(package_copy)
    errors = [(f.code, f.resource) for f in found if f.code == "rule-error"]
    assert ("rule-error", "claims") in errors and ("rule-error", "denials") in errors
    assert any("keys of different types" in f.message and "source_date_rules" in f.message for f in found)
    assert ("country-code", "actors") in [(f.code, f.resource) for f in found]
