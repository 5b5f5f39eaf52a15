"""One finding per mistake: a problem that several layers find is reported once, by the most specific check,
with the others' codes kept as aliases; lines are file lines everywhere; the text summary reads well."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nkru.api import validate_package
from nkru.findings import Finding, LayerResult, fold
from tests.helpers import line_of, read_table, run_cli, set_cell, write_table

#: Every layer that can see these mistakes (metadata adds only the baseline warning outside git).
LAYERS = ["structure", "rules", "expectations", "coverage"]


def _duplicate_id(package: Path) -> tuple[str, int, int]:
    header, rows = read_table(package, "claims")
    rows[3]["claim_id"] = rows[2]["claim_id"]
    write_table(package, "claims", header, rows)
    return rows[2]["claim_id"], line_of(package, "claims", 2), line_of(package, "claims", 3)


def _bad_quote(package: Path) -> tuple[str, int]:
    header, rows = read_table(package, "claims")
    rows[5]["quote"] += " erfunden"
    write_table(package, "claims", header, rows)
    return rows[5]["claim_id"], line_of(package, "claims", 5)


def test_a_duplicate_id_is_one_finding_with_the_other_layers_codes_as_aliases(package_copy):
    value, first, second = _duplicate_id(package_copy)
    report = validate_package(package_copy, only=LAYERS)
    assert report.checks > 0
    about = [f for f in report.findings if f.value == value and f.field == "claim_id"]
    assert len(about) == 1, [(f.code, f.line) for f in about]
    (finding,) = about
    assert finding.code == "primary-key" and finding.line == second
    assert set(finding.aliases) == {"unique-error"}  # the expectations layer no longer restates `unique`
    # The other row is named by its file line, never by a position.
    assert f"line {first}" in finding.message and "position" not in finding.message
    # Every layer's count agrees with the findings it keeps.
    assert sum(layer.errors for layer in report.layers) == len(report.errors)


def test_a_bad_quote_is_one_finding(package_copy):
    claim_id, line = _bad_quote(package_copy)
    report = validate_package(package_copy, only=LAYERS)
    # With offsets the quote is checked at its place (quote-offsets-mismatch); without, it is searched for.
    assert [f.code for f in report.errors] in (["quote-offsets-mismatch"], ["quote-not-in-source"]), [
        (f.code, f.location) for f in report.errors]
    (finding,) = report.errors
    assert finding.row_id == claim_id and finding.line == line
    assert set(finding.aliases) == {"uncovered-sentence", "coverage-below-threshold"}
    assert finding.also_at and finding.also_at[0].startswith("data/sources/S")


def test_a_bad_quote_without_offsets_is_one_finding_too(package_copy):
    claim_id, line = _bad_quote(package_copy)
    header, rows = read_table(package_copy, "claims")
    for row in rows:
        if row["claim_id"] == claim_id:
            row["quote_start"] = row["quote_end"] = ""
    write_table(package_copy, "claims", header, rows)
    report = validate_package(package_copy, only=["coverage"])
    (finding,) = [f for f in report.errors if f.row_id == claim_id or f.resource == "sources"]
    assert finding.code == "quote-not-in-source" and finding.line == line
    assert set(finding.aliases) == {"uncovered-sentence", "coverage-below-threshold"}


def test_a_bad_vocabulary_value_is_one_finding(package_copy):
    line = set_cell(package_copy, "actors", 0, "actor_type", "alien")
    report = validate_package(package_copy, only=LAYERS)
    about = [f for f in report.findings if f.resource == "actors" and f.line == line and f.field == "actor_type"]
    assert [f.code for f in about] == ["constraint-error"]  # the structure layer's alone: no expectation restates `enum`


def test_an_uncovered_sentence_without_a_bad_quote_stays_its_own_finding(package_copy):
    from tests.test_coverage import uncover

    uncover(package_copy)
    report = validate_package(package_copy, only=["coverage"])
    codes = [f.code for f in report.errors]
    assert "uncovered-sentence" in codes
    # The threshold finding is a consequence of the uncovered sentence: folded into it, not dropped.
    assert "coverage-below-threshold" not in codes
    assert any("coverage-below-threshold" in f.aliases for f in report.errors)


def test_fold_keeps_different_mistakes_apart_and_takes_the_worst_severity():
    a = Finding("expectations", "expect-column-values-to-not-be-null", "m", resource="t", path="t.csv", line=3, field="x")
    b = Finding("structure", "constraint-error", "m", severity="warning", resource="t", path="t.csv", line=3, field="x")
    c = Finding("structure", "constraint-error", "m", resource="t", path="t.csv", line=4, field="x")
    d = Finding("rules", "date-order", "m", resource="t", path="t.csv", line=3, field="x")
    layers = [LayerResult("structure", [b, c]), LayerResult("rules", [d]), LayerResult("expectations", [a])]
    fold(layers)
    structure, rules, expectations = (layer.findings for layer in layers)
    assert expectations == [] and rules == [d] and len(structure) == 2
    assert structure[0].aliases == ("expect-column-values-to-not-be-null",) and structure[0].severity == "error"
    assert structure[1] == c


def test_text_output_names_groups_and_counts_in_the_singular(package_copy):
    _duplicate_id(package_copy)
    cff = package_copy / "CITATION.cff"  # a repository URL, so that the one warning is baseline-missing
    cff.write_text(cff.read_text(encoding="utf-8") + 'repository-code: "https://github.com/nkru-curators/nkru"\n', encoding="utf-8")
    result = run_cli("validate", str(package_copy), "--only", "structure,metadata")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "table claims: 1 error", lines[:3]
    assert not any(line.startswith("(package)") for line in lines)
    assert any(line.startswith("package (datapackage.json") and line.endswith("1 warning") for line in lines)
    assert lines[-1].endswith("1 error, 1 warning"), lines[-1]


def test_json_output_carries_the_aliases(package_copy):
    value, _, _ = _duplicate_id(package_copy)
    result = run_cli("validate", str(package_copy), "--only", "structure", "--format", "json")
    data = json.loads(result.stdout)
    (finding,) = [f for f in data["findings"] if f["value"] == value]
    assert finding["aliases"] == ["unique-error"] and finding["also_at"] == []
