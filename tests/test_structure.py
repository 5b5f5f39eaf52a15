"""The foundation's checks, through the CLI: `nkru validate` on broken copies of the real package.

Each case breaks one thing and expects exit 1 and a finding that names the resource, the file
line and the field. Cases are generated from the schemas (every foreign key, every primary key,
every controlled vocabulary, every dated resource), so they follow the schemas as they change.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from tests.helpers import REPO, covering, first, line_of, read_table, run_cli, set_cell, write_table
from nkru.package import Package

REAL = Package.open(REPO)
RESOURCES = [name for name in REAL.resources if REAL.table(name) is not None and len(REAL.table(name)) > 0]


def schema(resource):
    return REAL.resources[resource].schema or {}


def validate(package, *args):
    """Run `nkru validate PACKAGE --format json ARGS`; returns (exit code, findings)."""
    result = run_cli("validate", str(package), "--format", "json", *args)
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    return result.exit_code, json.loads(result.stdout)["findings"]


def expect(package, *args, code, resource, line=None, field=None, row_id=None, message_names_field=True):
    """Exit 1 and a finding with this code at this place, whose message names the resource, line and field."""
    exit_code, findings = validate(package, *args)
    assert exit_code == 1
    matches = [f for f in findings if f["code"] == code and f["resource"] == resource
               and (line is None or f["line"] == line) and (field is None or f["field"] == field)
               and (row_id is None or f["row_id"] == row_id)]
    assert matches, f"no {code} at {resource} line {line} field {field}; found:\n" + "\n".join(
        f"{f['code']} {f['resource']} {f['line']} {f['field']}: {f['message']}" for f in findings)
    message = matches[0]["message"]
    assert resource in message
    if line is not None:
        assert f"line {line}" in message
    if field is not None and message_names_field:
        assert all(part in message for part in field.split(","))
    return matches[0], findings


# -- the real package -------------------------------------------------------------------------------


def test_real_package_is_valid():
    result = run_cli("validate", str(REPO))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


# -- foreign keys: every one in every schema ------------------------------------------------------------

FOREIGN_KEYS = [
    pytest.param(name, fk["fields"], fk["reference"].get("resource") or name, fk["reference"]["fields"],
                 id=f"{name}.{','.join(fk['fields'])}")
    for name in RESOURCES for fk in schema(name).get("foreignKeys", [])
]


def test_every_resource_with_references_is_covered():
    assert len(FOREIGN_KEYS) >= 9
    assert {p.values[0] for p in FOREIGN_KEYS} >= {"actors", "event_actors", "claims", "denials", "exclusions"}


def unknown_key(resource, field, target_rows, target_field):
    """An identifier of the referenced kind (same prefix, width and pattern) that no row has."""
    existing = {row[target_field] for row in target_rows}
    prefix, digits = re.fullmatch(r"([A-Za-z]+)(\d+)", sorted(existing)[0]).groups()
    pattern = next(f for f in schema(resource)["fields"] if f["name"] == field).get("constraints", {}).get("pattern", ".*")
    for number in range(10 ** len(digits) - 1, 0, -1):
        candidate = f"{prefix}{number:0{len(digits)}d}"
        if candidate not in existing and re.fullmatch(pattern, candidate):
            return candidate
    raise AssertionError("no free identifier")


@pytest.mark.parametrize(("resource", "fields", "target", "target_fields"),
                         covering(FOREIGN_KEYS, lambda resource, fields, target, target_fields: target == resource))
def test_unknown_foreign_key_fails(package_copy, resource, fields, target, target_fields):
    (field,), (target_field,) = fields, target_fields
    _, rows = read_table(package_copy, resource)
    _, target_rows = read_table(package_copy, target)
    index = next((i for i, row in enumerate(rows) if row[field]), 0)
    value = unknown_key(resource, field, target_rows, target_field)
    line = set_cell(package_copy, resource, index, field, value)
    found, _ = expect(package_copy, "--only", "structure", code="foreign-key", resource=resource, line=line, field=field)
    assert found["value"] == value and target in found["message"]


# -- primary keys, controlled values, dates -------------------------------------------------------------

KEYED = [name for name in RESOURCES if schema(name).get("primaryKey")]


@pytest.mark.parametrize("resource", covering(KEYED, lambda resource: len(REAL.primary_key(resource))))
def test_duplicate_primary_key_fails(package_copy, resource):
    header, rows = read_table(package_copy, resource)
    write_table(package_copy, resource, header, rows + [dict(rows[0])])
    key = "|".join(rows[0][k] for k in REAL.primary_key(resource))
    expect(package_copy, "--only", "structure", code="primary-key", resource=resource,
           line=line_of(package_copy, resource, len(rows)), row_id=key)


@pytest.mark.parametrize("resource", covering([r for r in KEYED if len(REAL.primary_key(r)) > 1] + ["claims"], first))
def test_many_duplicate_keys_each_name_the_first_row(package_copy, resource):
    """Hundreds of repeated keys (compound ones hashed first, then compared exactly): one finding each,
    naming the line of the key's first row; keys that only share a prefix are not duplicates."""
    from nkru import api

    header, rows = read_table(package_copy, resource)
    key = REAL.primary_key(resource)
    copies = [dict(row) for row in rows[:3] for _ in range(100)]
    near = dict(rows[0], **{key[-1]: rows[0][key[-1]] + "x"})  # differs in the last key field only
    write_table(package_copy, resource, header, rows + copies + [near])
    findings = [f for f in api.validate_package(package_copy, only=["structure"]).findings if f.code == "primary-key"]
    assert len(findings) == len(copies)
    first_lines = {i: line_of(package_copy, resource, i) for i in range(3)}
    for offset, finding in enumerate(findings):
        source = offset // 100
        assert finding.line == line_of(package_copy, resource, len(rows) + offset)
        assert finding.row_id == "|".join(rows[source][k] for k in key)
        assert f"the same key as the row on line {first_lines[source]}" in finding.message


CONTROLLED = [(name, f["name"]) for name in RESOURCES for f in schema(name)["fields"] if "enum" in f.get("constraints", {})]


def test_controlled_vocabularies_are_found():
    assert ("events", "event_type") in CONTROLLED and ("exclusions", "reason") in CONTROLLED


@pytest.mark.parametrize(("resource", "field"), covering(CONTROLLED, first))
def test_value_outside_the_controlled_vocabulary_fails(package_copy, resource, field):
    line = set_cell(package_copy, resource, 0, field, "not_in_the_vocabulary")
    found, _ = expect(package_copy, "--only", "structure", code="constraint-error", resource=resource, line=line, field=field)
    assert found["value"] == "not_in_the_vocabulary"


DATED = [name for name in RESOURCES if {"date_start", "date_end", "date_precision", "date_basis"} <= set(REAL.field_names(name))]


@pytest.mark.parametrize(("bad", "resource"), covering(
    [(bad, resource) for bad in ["2023-02-30", "2023/01/01", "soon"] for resource in DATED], first))
def test_malformed_date_fails_once(package_copy, resource, bad):
    line = set_cell(package_copy, resource, 0, "date_start", bad)
    found, findings = expect(package_copy, "--only", "structure,rules", code="type-error", resource=resource, line=line,
                             field="date_start")
    assert found["value"] == bad
    at_cell = [f["code"] for f in findings if f["resource"] == resource and f["line"] == line and f["field"] == "date_start"]
    assert at_cell == ["type-error"]


@pytest.mark.parametrize("resource", covering(DATED, first))
def test_reversed_date_fails(package_copy, resource):
    header, rows = read_table(package_copy, resource)
    rows[0]["date_start"], rows[0]["date_end"] = "2000-12-31", "2000-01-01"
    rows[0]["date_precision"] = "year"
    write_table(package_copy, resource, header, rows)
    expect(package_copy, "--only", "rules", code="date-order", resource=resource, line=line_of(package_copy, resource, 0),
           field="date_start")


# -- provenance: quotes and source texts ----------------------------------------------------------------

QUOTED = [name for name in RESOURCES if {"quote", "source_id"} <= set(REAL.field_names(name))]


@pytest.mark.parametrize("resource", covering(QUOTED, first))
def test_quote_not_in_its_source_fails(package_copy, resource):
    header, rows = read_table(package_copy, resource)
    rows[0].update(quote="Dieser Satz steht in keinem der Artikel.", quote_start="", quote_end="")
    write_table(package_copy, resource, [h for h in header], rows)
    line = line_of(package_copy, resource, 0)
    found, _ = expect(package_copy, "--only", "coverage", code="quote-not-in-source", resource=resource, line=line,
                   field="quote")
    assert "closest passage" in found["message"]


def test_edited_source_text_fails(package_copy):
    text = package_copy / "data" / "sources" / "S001.txt"
    text.write_bytes(text.read_bytes().replace("Wagner".encode(), "Wagnr".encode(), 1))
    expect(package_copy, "--only", "coverage", code="source-text-hash", resource="sources",
           line=line_of(package_copy, "sources", 0), field="text_sha256", row_id="S001")


def test_missing_source_text_fails(package_copy):
    (package_copy / "data" / "sources" / "S002.txt").unlink()
    expect(package_copy, "--only", "coverage", code="source-text-missing", resource="sources",
           line=line_of(package_copy, "sources", 1), field="text_path", row_id="S002")


# -- columns --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", covering(RESOURCES, first))
def test_missing_column_fails(package_copy, resource):
    header, rows = read_table(package_copy, resource)
    dropped = header[1]
    keep = [h for h in header if h != dropped]
    write_table(package_copy, resource, keep, [{k: row[k] for k in keep} for row in rows])
    # frictionless matches columns by position; the layer turns its cascade into one finding per
    # real header problem and no row errors for that resource.
    exit_code, findings = validate(package_copy, "--only", "structure")
    assert exit_code == 1
    mine = [f for f in findings if f["resource"] == resource]
    assert [(f["code"], f["field"], f["line"]) for f in mine] == [("missing-label", dropped, 1)]


def test_reordered_columns_fail_with_one_finding(package_copy):
    header, rows = read_table(package_copy, "claims")
    swapped = [header[1], header[0], *header[2:]]
    write_table(package_copy, "claims", swapped, rows)
    exit_code, findings = validate(package_copy, "--only", "structure")
    assert exit_code == 1
    assert [(f["resource"], f["code"], f["line"]) for f in findings] == [("claims", "column-order", 1)]


# -- resource paths ---------------------------------------------------------------------------------------


def set_resource(package, name, key, value):
    path = package / "datapackage.json"
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    (resource,) = [r for r in descriptor["resources"] if r["name"] == name]
    resource[key] = value
    path.write_text(json.dumps(descriptor, ensure_ascii=False, indent=2), encoding="utf-8")


UNSAFE = ["/etc/passwd", "../outside.csv", "data/../../outside.csv", "data/.hidden.csv", ".git/config",
          "~/actors.csv", "$HOME/actors.csv", "file:///etc/passwd", "data\\actors.csv"]


@pytest.mark.parametrize("path", UNSAFE)
def test_unsafe_resource_path_is_refused(package_copy, path):
    set_resource(package_copy, "actors", "path", path)
    found, findings = expect(package_copy, "--only", "structure", code="unsafe-path", resource="actors", field="path",
                             message_names_field=False)
    assert found["value"] == path and found["path"] == "datapackage.json"
    assert not [f for f in findings if f["code"] in ("scheme-error", "source-error", "type-error")], \
        "frictionless must not open an unsafe path"


@pytest.mark.parametrize("path", ["/etc/passwd", "../schemas/actors.json", "schemas/.actors.json"])
def test_unsafe_schema_path_is_refused(package_copy, path):
    set_resource(package_copy, "actors", "schema", path)
    found, _ = expect(package_copy, "--only", "structure", code="unsafe-path", resource="actors", field="schema",
                      message_names_field=False)
    assert found["value"] == path and found["path"] == "datapackage.json"


@pytest.mark.skipif(os.name == "nt", reason="symbolic links")
def test_a_link_out_of_the_package_is_refused(package_copy, tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text((package_copy / "data" / "actors.csv").read_text(encoding="utf-8"), encoding="utf-8")
    (package_copy / "data" / "linked.csv").symlink_to(outside)
    set_resource(package_copy, "actors", "path", "data/linked.csv")
    found, _ = expect(package_copy, "--only", "structure", code="unsafe-path", resource="actors", field="path",
                      message_names_field=False)
    assert "link" in found["message"]


def test_remote_path_is_refused_without_allow_remote(package_copy):
    url = "http://127.0.0.1:9/actors.csv"  # the discard port: nothing is ever fetched
    set_resource(package_copy, "actors", "path", url)
    found, _ = expect(package_copy, "--only", "structure", code="remote-path", resource="actors", field="path")
    assert found["value"] == url and "--allow-remote" in found["message"]
    _, findings = validate(package_copy, "--only", "structure", "--allow-remote")
    assert not [f for f in findings if f["code"] in ("remote-path", "unsafe-path")]


# -- the human output ------------------------------------------------------------------------------------


def test_text_output_names_file_line_field_and_value(package_copy):
    line = set_cell(package_copy, "events", 2, "event_type", "invasion")
    result = run_cli("validate", str(package_copy), "--only", "structure")
    assert result.exit_code == 1
    out = " ".join(result.stdout.split())
    assert f"data/events.csv:{line}" in out and "event_type" in out and "invasion" in out


def test_no_package_is_a_usage_error(tmp_path):
    result = run_cli("validate", str(tmp_path))
    assert result.exit_code == 2 and "datapackage.json" in result.stderr


# -- the seams other layers use to stay silent about what the structure layer reports (nkru/layers/__init__.py) --


# The fast loop: the source texts' table, which the coverage layer reads besides its rows.
@pytest.mark.parametrize("resource", covering(RESOURCES, lambda resource: resource == "sources"))
def test_a_table_saved_with_semicolons_is_not_checkable_and_reported_once(package_copy, resource):
    path = package_copy / "data" / f"{resource}.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(",", ";"), encoding="utf-8")
    package = Package.open(package_copy)
    assert package.table(resource) is not None and package.checkable(resource) is None
    assert "separated by ';'" in package.unreadable[resource]
    exit_code, findings = validate(package_copy, "--skip", "expectations")
    assert exit_code == 1
    assert [f["code"] for f in findings if f["severity"] == "error"] == ["wrong-delimiter"]


def test_a_renamed_header_is_one_incorrect_label(package_copy):
    header, rows = read_table(package_copy, "actors")
    old = header[-2]
    write_table(package_copy, "actors", [h if h != old else "Rolle" for h in header],
                [{("Rolle" if k == old else k): v for k, v in r.items()} for r in rows])
    exit_code, findings = validate(package_copy, "--only", "structure")
    assert exit_code == 1
    assert [(f["code"], f["field"], f["value"]) for f in findings if f["severity"] == "error"] == [
        ("incorrect-label", old, "Rolle")]


def test_rejected_cells_are_recorded_for_the_other_layers(package_copy):
    from nkru.layers import structure

    line = set_cell(package_copy, "claims", 2, "source_id", "#S001")
    header, rows = read_table(package_copy, "claims")
    rows[4]["claim_id"] = rows[3]["claim_id"]
    write_table(package_copy, "claims", header, rows)
    package = Package.open(package_copy)
    result = structure.check(package)
    assert {(f.code, f.line) for f in result.findings} == {("constraint-error", line),
                                                          ("primary-key", line_of(package_copy, "claims", 4))}
    assert package.rejected_rows("claims", ["source_id"]) == {2}
    assert package.rejected_rows("claims", ["claim_id"]) == {3, 4}  # both rows holding the repeated key
    assert package.rejected_rows("claims", ["quote"]) == set()


def test_a_byte_order_mark_is_a_warning(package_copy):
    path = package_copy / "data" / "events.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    exit_code, findings = validate(package_copy, "--only", "structure")
    assert exit_code == 0
    assert [(f["code"], f["severity"], f["line"]) for f in findings if f["resource"] == "events"] == [
        ("byte-order-mark", "warning", 1)]
