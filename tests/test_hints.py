"""Findings that say the next step: each code with a usual fix carries a hint, made from data that triggers it,
and every output format shows it (the JSON report stays the library's: test_render.py)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from nkru.api import validate_package
from nkru.findings import CODES, Finding, LayerResult, Report, marked_difference
from nkru.render import github, junit, text
from tests.helpers import covering, read_table, run_cli, set_cell, write_table


def _empty_offsets(package: Path) -> None:
    header, rows = read_table(package, "claims")
    rows[0]["quote_start"] = rows[0]["quote_end"] = ""
    write_table(package, "claims", header, rows)


def _straight_quotes(package: Path) -> None:
    # The denial quoting „nichts zu sagen“ retyped with straight quotation marks (offsets left for `nkru offsets`).
    header, rows = read_table(package, "denials")
    row = next(r for r in rows if "„" in r["quote"])
    row["quote"] = row["quote"].replace("„", '"').replace("“", '"')
    row["quote_start"] = row["quote_end"] = ""
    write_table(package, "denials", header, rows)


def _drop_headline_exclusion(package: Path) -> None:
    header, rows = read_table(package, "exclusions")
    write_table(package, "exclusions", header, [r for r in rows if r["exclusion_id"] != "X001"])


def _semicolons(package: Path) -> None:
    path = package / "data" / "events.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _windows_1252(package: Path) -> None:
    path = package / "data" / "actors.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("cp1252", errors="replace"))


def _edited_text(package: Path) -> None:
    path = package / "data" / "sources" / "S001.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\nEin Satz mehr.\n", encoding="utf-8")


def _formula(package: Path) -> None:
    set_cell(package, "claims", 0, "notes", "=HYPERLINK(\"x\")")


# (breakage, layer to run, code, field of the finding, what the hint must say)
CASES = [
    (_empty_offsets, "structure", "constraint-error", "quote_start", ["`nkru offsets`"]),
    (_empty_offsets, "structure", "constraint-error", "quote_end", ["`nkru offsets`"]),
    (_straight_quotes, "coverage", "quote-not-in-source", "quote",
     ['["→„]', "U+0022 QUOTATION MARK", "U+201E DOUBLE LOW-9 QUOTATION MARK", "instead of retyping"]),
    (_drop_headline_exclusion, "coverage", "uncovered-sentence", None, ["coding sheet", "`nkru code S001`"]),
    (_semicolons, "structure", "wrong-delimiter", None, ["field delimiter ','", "CSV UTF-8 (Comma delimited)"]),
    (_windows_1252, "structure", "encoding-error", None, ["UTF-8", "iconv -f WINDOWS-1252 -t UTF-8 data/actors.csv"]),
    (_edited_text, "coverage", "source-text-hash", "text_sha256", ["git checkout -- data/sources/S001.txt"]),
    (_formula, "rules", "text-formula", "notes", ["leave the leading character out"]),
]


@pytest.mark.parametrize("breakage,layer,code,field,says", covering(
    CASES, lambda breakage, layer, code, field, says: layer, ids=[f"{c[2]}-{c[3] or ''}" for c in CASES]))  # a layer once
def test_a_finding_with_a_usual_fix_says_it(package_copy, breakage, layer, code, field, says):
    breakage(package_copy)
    report = validate_package(package_copy, only=[layer])
    found = [f for f in report.findings if f.code == code and (field is None or f.field == field)]
    assert found, [(f.code, f.field) for f in report.findings]
    for finding in found:
        assert finding.hint, finding
        for words in says:
            assert words in finding.hint, finding.hint
        assert finding.to_dict()["hint"] == finding.hint  # in the JSON report too
    # Every hint comes from the code's definition, never written at the call site.
    assert CODES[code].hint is not None


def test_a_required_cell_other_than_the_offsets_gets_no_offsets_hint(package_copy):
    set_cell(package_copy, "claims", 0, "statement", "")
    _empty_offsets(package_copy)
    report = validate_package(package_copy, only=["structure"])
    required = [f for f in report.findings if f.code == "constraint-error"]
    by_field = {f.field: f.hint for f in required}
    assert set(by_field) == {"statement", "quote_start", "quote_end"}, by_field
    assert by_field["statement"] is None
    assert all("nkru offsets" in by_field[name] for name in ("quote_start", "quote_end"))


def test_the_json_report_carries_the_hint_as_the_library_does(package_copy):
    _empty_offsets(package_copy)
    result = run_cli("validate", str(package_copy), "--format", "json", "--only", "structure")
    assert result.exit_code == 1
    cli = json.loads(result.stdout)
    library = validate_package(package_copy, only=["structure"]).to_dict()
    hints = [f["hint"] for f in cli["findings"] if f["field"] in ("quote_start", "quote_end")]
    assert len(hints) == 2 and all("nkru offsets" in h for h in hints)
    assert cli["findings"] == library["findings"]


@pytest.mark.parametrize("quote,passage,marks", [
    ('er habe "nichts zu sagen', " er habe „nichts zu sagen“", ['["→„]', "U+0022", "U+201E"]),
    ("Das Weisse Haus", "Das Weiße Haus", ["[ss→ß]", "U+0073 LATIN SMALL LETTER S", "U+00DF"]),
    ("Raketen - und Granaten", "Raketen – und Granaten", ["[-→–]", "U+2013 EN DASH"]),
    ("a b c d e f g h i j", "a x c d e f g y i j", ["2 places", "[b→x]", "[h→y]"]),
])
def test_the_differing_characters_are_marked(quote, passage, marks):
    shown = marked_difference(quote, passage)
    assert shown is not None
    for mark in marks:
        assert mark in shown, shown


@pytest.mark.parametrize("quote,passage", [
    ("identisch", "identisch"),
    ("ein Satz, der endet", " ein Satz, der ende"),  # only the alignment's cut at the ends differs
])
def test_nothing_certain_to_mark_gives_no_difference(quote, passage):
    assert marked_difference(quote, passage) is None


def _report_with_hint() -> Report:
    return Report("pkg", [LayerResult("structure", checks=1, findings=[
        Finding("structure", "constraint-error", "claims line 2: quote_start='' breaks a constraint", resource="claims",
                path="data/claims.csv", line=2, field="quote_start", hint="run `nkru offsets`, 100% sure"),
    ])])


def test_text_output_shows_the_hint_under_its_finding():
    buffer = io.StringIO()
    text.render(_report_with_hint(), Console(file=buffer, width=200, color_system=None))
    lines = buffer.getvalue().splitlines()
    at = next(i for i, line in enumerate(lines) if "constraint-error" in line)
    assert lines[at + 1].strip() == "hint: run `nkru offsets`, 100% sure"


def test_github_annotation_and_summary_carry_the_hint():
    report = _report_with_hint()
    annotation = github.annotation(report.findings[0], report, Path("."))
    assert annotation.endswith("%0Ahint: run `nkru offsets`, 100%25 sure")
    assert "— hint: run `nkru offsets`" in github.summary(report, Path("."))


def test_junit_failure_lists_the_hint():
    xml = junit.dumps(_report_with_hint())
    assert "hint: run `nkru offsets`, 100% sure" in xml
