"""How the package is read: encodings, byte-order marks, blank lines, broken quoting, malformed schemas.

Each case is a copy of the real package broken in one way; the report must name the right place
and never end in a traceback.
"""

from __future__ import annotations

import json

from tests.helpers import line_of, read_table, run_cli, set_cell
from nkru.api import validate_package


def findings(package, *skip: str):
    report = validate_package(package, skip=list(skip) or ["expectations"])
    return report, [f for f in report.findings if f.severity == "error"]


def test_a_utf8_byte_order_mark_is_read_like_frictionless_reads_it(package_copy):
    path = package_copy / "data" / "events.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    report, errors = findings(package_copy)
    assert errors == []
    assert report.checks > 0


def test_a_declared_latin_1_table_is_still_checked_by_every_layer(package_copy):
    set_cell(package_copy, "actors", 1, "country", "XXX")
    path = package_copy / "data" / "actors.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1", errors="replace"))
    descriptor_path = package_copy / "datapackage.json"
    descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
    for resource in descriptor["resources"]:
        if resource["name"] == "actors":
            resource["encoding"] = "latin-1"
    descriptor_path.write_text(json.dumps(descriptor, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    _, errors = findings(package_copy)
    assert ("rules", "country-code", "actors", 3) in {(f.layer, f.code, f.resource, f.line) for f in errors}


def test_an_undeclared_encoding_error_is_reported_once_at_its_own_file(package_copy):
    path = package_copy / "data" / "actors.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1", errors="replace"))
    _, errors = findings(package_copy, "expectations", "rules", "coverage", "metadata")
    load_errors = [(f.code, f.resource) for f in errors if f.code in ("encoding-error", "table-unreadable")]
    assert load_errors == [("encoding-error", "actors")]


def test_a_blank_line_does_not_shift_later_findings(package_copy):
    _, rows = read_table(package_copy, "events")
    target = next(i for i, r in enumerate(rows) if r["event_id"] == "E008")
    set_cell(package_copy, "events", target, "event_type", "arms_sale")
    expected_line = line_of(package_copy, "events", target) + 1  # after the blank line inserted below
    path = package_copy / "data" / "events.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    lines.insert(4, "")  # a blank line 5, before E004
    path.write_text("\n".join(lines), encoding="utf-8")
    assert lines[expected_line - 1].startswith("E008,")
    _, errors = findings(package_copy, "expectations", "rules", "coverage", "metadata")
    located = {(f.code, f.line, f.row_id) for f in errors if f.resource == "events"}
    assert ("constraint-error", expected_line, "E008") in located
    assert ("blank-row", 5, None) in located


def test_an_unterminated_quote_is_not_a_silently_cut_cell(package_copy):
    path = package_copy / "data" / "claims.csv"
    text = path.read_text(encoding="utf-8").rstrip("\n")
    cut = text.rfind(',"')
    path.write_text(text[: cut + 6], encoding="utf-8")  # the last record ends inside a quoted cell
    _, errors = findings(package_copy, "expectations", "rules", "coverage", "metadata")
    unreadable = [f for f in errors if f.code == "table-unreadable"]
    assert [(f.resource, f.path) for f in unreadable] == [("claims", "data/claims.csv")]
    assert "unexpected end of data" in unreadable[0].message


def test_a_malformed_schema_shape_gives_findings_not_a_traceback(package_copy):
    schema_path = package_copy / "schemas" / "claims.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    schema["primaryKey"] = 5
    schema["foreignKeys"][0]["reference"] = "events"
    schema_path.write_text(json.dumps(schema), encoding="utf-8")
    result = run_cli("validate", str(package_copy), "--skip", "expectations", "--format", "json")
    assert result.exit_code == 1
    assert "Traceback" not in result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["errors"] > 0


def test_a_crashing_layer_becomes_a_finding_and_the_other_layers_still_report(package_copy, monkeypatch):
    from nkru.layers import rules

    def crash(package, options=None):
        raise KeyError("boom")

    monkeypatch.setattr(rules, "check", crash)
    set_cell(package_copy, "claims", 0, "claim_type", "rumour")
    report = validate_package(package_copy, only=["structure", "rules"])
    codes = {(f.layer, f.code) for f in report.findings}
    assert ("rules", "layer-error") in codes
    assert ("structure", "constraint-error") in codes
    assert not report.valid
