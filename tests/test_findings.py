"""One finding per mistake: each kind of mistake has one owner (`nkru.layers.OWNS`), so nothing is merged after
the fact; only a genuine consequence (a source below the coverage threshold because of its uncovered
sentences) is folded into its cause. Lines are file lines everywhere; the text summary reads well.
tests/test_mutations.py breaks every constraint and rule once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nkru.api import validate_package
from nkru.findings import Finding, LayerResult, fold
from tests.helpers import REPO, line_of, read_table, run_cli, set_cell, write_table

#: Every layer that can see these mistakes (metadata adds only the baseline warning outside git).
#: INTEGRATOR: add "expectations" once i18gx (no expectation restating a schema constraint) is merged.
LAYERS = ["structure", "rules", "coverage"]


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


def test_a_duplicate_id_is_one_finding_by_the_primary_key_check(package_copy):
    value, first, second = _duplicate_id(package_copy)
    report = validate_package(package_copy, only=LAYERS)
    assert report.checks > 0
    about = [f for f in report.findings if f.value == value and f.field == "claim_id"]
    assert len(about) == 1, [(f.code, f.line) for f in about]
    (finding,) = about
    assert finding.code == "primary-key" and finding.line == second
    assert finding.aliases == ()  # the unique constraint on the key is the primary-key check's: not a second finding
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
    # The sentence it leaves uncovered is named where, not reported again (and nothing was folded).
    assert finding.aliases == ()
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
    assert finding.aliases == () and finding.also_at


def test_a_bad_vocabulary_value_is_one_finding(package_copy):
    line = set_cell(package_copy, "actors", 0, "actor_type", "alien")
    report = validate_package(package_copy, only=LAYERS)
    about = [f for f in report.findings if f.resource == "actors" and f.line == line and f.field == "actor_type"]
    assert [f.code for f in about] == ["constraint-error"] and about[0].aliases == ()


def test_an_uncovered_sentence_without_a_bad_quote_stays_its_own_finding(package_copy):
    from tests.test_coverage import uncover

    uncover(package_copy)
    report = validate_package(package_copy, only=["coverage"])
    codes = [f.code for f in report.errors]
    assert "uncovered-sentence" in codes
    # The threshold finding is a consequence of the uncovered sentence: folded into it, not dropped.
    assert "coverage-below-threshold" not in codes
    assert any("coverage-below-threshold" in f.aliases for f in report.errors)


def test_fold_merges_only_consequences_into_their_cause_with_the_worst_severity():
    cause = Finding("coverage", "uncovered-sentence", "m", severity="warning", resource="sources", path="s.txt", line=3,
                    row_id="S001")
    later = Finding("coverage", "uncovered-sentence", "m", resource="sources", path="s.txt", line=9, row_id="S001")
    consequence = Finding("coverage", "coverage-below-threshold", "m", resource="sources", path="sources.csv", line=2,
                          row_id="S001")
    other = Finding("coverage", "coverage-below-threshold", "m", resource="sources", path="sources.csv", line=3,
                    row_id="S002")  # no uncovered sentence of its own: stays
    same_place = [Finding("structure", "constraint-error", "m", resource="t", path="t.csv", line=3, field="x"),
                  Finding("rules", "date-order", "m", resource="t", path="t.csv", line=3, field="x")]
    layers = [LayerResult("structure", [same_place[0]]), LayerResult("rules", [same_place[1]]),
              LayerResult("coverage", [cause, later, consequence, other])]
    fold(layers)
    structure, rules, coverage = (layer.findings for layer in layers)
    assert structure == [same_place[0]] and rules == [same_place[1]]  # two owners' findings are never merged
    assert len(coverage) == 3 and coverage[1:] == [later, other]
    assert coverage[0].aliases == ("coverage-below-threshold",) and coverage[0].severity == "error"


def test_the_merging_of_duplicates_is_gone():
    import nkru.findings as findings

    assert not hasattr(findings, "SAME_MISTAKE")
    assert findings.CONSEQUENCES == {"coverage-below-threshold": "uncovered-sentence"}


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


def test_json_output_keeps_the_aliases_and_also_at_fields_empty(package_copy):
    value, _, _ = _duplicate_id(package_copy)
    result = run_cli("validate", str(package_copy), "--only", "structure", "--format", "json")
    data = json.loads(result.stdout)
    (finding,) = [f for f in data["findings"] if f["value"] == value]
    assert finding["code"] == "primary-key" and finding["aliases"] == [] and finding["also_at"] == []


def test_the_ownership_table_in_the_docs_is_generated_from_the_code():
    from cogapp import Cog

    from nkru.findings import CODES
    from nkru.layers import LAYERS, OWNS, ownership_markdown

    assert set(OWNS) == set(LAYERS)
    doc = (REPO / "docs" / "validation.md").read_text(encoding="utf-8")
    table = ownership_markdown()
    assert table in doc, "docs/validation.md is stale: run cog -r docs/validation.md"
    assert Cog().main(["cog", "--check", str(REPO / "docs" / "validation.md")]) == 0
    owned = [c for c in CODES.values() if c.layer in LAYERS]
    assert len(owned) > 50 and all(f"`{c.code}`" in table for c in owned)
    assert "(docs/validation.md)" in (REPO / "README.md").read_text(encoding="utf-8")
