"""The codebook is generated from the Table Schemas only, documents every controlled value exactly once, and never drifts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import REPO, run_cli
from nkru import codebook
from nkru.package import Package


def _schema_fields() -> list[tuple[str, str, dict]]:
    """(resource, schema path, field) for every field of every schema the descriptor lists."""
    package = Package.open(REPO)
    found = []
    for name, spec in package.resources.items():
        for field in (spec.schema or {}).get("fields", []):
            found.append((name, spec.descriptor.get("schema"), field))
    return found


FIELDS = _schema_fields()
ENUM_FIELDS = [(r, s, f) for r, s, f in FIELDS if "enum" in (f.get("constraints") or {})]


def test_there_are_enum_fields_to_check():
    assert len(ENUM_FIELDS) >= 10, "the schemas declare controlled vocabularies; none were found"


@pytest.mark.parametrize(("resource", "schema", "field"), ENUM_FIELDS,
                         ids=[f"{r}.{f['name']}" for r, _, f in ENUM_FIELDS])
def test_every_enum_value_is_documented_exactly_once(resource, schema, field):
    prose, terms = codebook.parse_vocabulary(field["description"])
    documented = [t.value for t in terms]
    for value in field["constraints"]["enum"]:
        assert documented.count(value) == 1, f"{schema} {field['name']}: {value!r} documented {documented.count(value)} times"
    assert set(documented) == set(field["constraints"]["enum"]), f"{schema} {field['name']}: documents values not in the enum"
    assert all(t.meaning for t in terms), f"{schema} {field['name']}: a controlled value has no meaning"
    assert all(t.example for t in terms), f"{schema} {field['name']}: a controlled value has no example"
    assert prose and codebook.VOCABULARY_HEADING not in prose
    assert codebook.vocabulary_problems(field) == []


def test_no_field_documents_a_vocabulary_without_an_enum():
    for resource, schema, field in FIELDS:
        assert codebook.vocabulary_problems(field) == [], f"{schema} {field['name']}"


def test_committed_codebook_is_what_the_schemas_give_now():
    generated = codebook.to_markdown(codebook.build(REPO))
    committed = (REPO / "docs" / "codebook.md").read_text(encoding="utf-8")
    assert committed == generated, "docs/codebook.md is out of date: run `nkru codebook` and commit it"


def test_codebook_lists_every_resource_field_and_controlled_value():
    book = codebook.build(REPO)
    text = codebook.to_markdown(book)
    package = Package.open(REPO)
    assert [r.name for r in book.resources] == [n for n, s in package.resources.items() if s.schema]
    checked = 0
    for resource, schema, field in FIELDS:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{field['name']}` | {field.get('title', '')} |"))
        assert f"| {field['type']} |" in row
        checked += 1
        for term in codebook.parse_vocabulary(field.get("description") or "")[1]:
            assert f"| `{term.value}` | {codebook._cell(term.meaning)} | {codebook._cell(term.example)} |" in text
    assert checked == len(FIELDS) > 0
    for res in book.resources:
        assert f"## {res.name}\n" in text
        assert f"- Primary key: {', '.join(f'`{k}`' for k in res.primary_key)}" in text


def test_resource_keys_come_from_the_schemas():
    book = {r.name: r for r in codebook.build(REPO).resources}
    claims = json.loads((REPO / "schemas" / "claims.json").read_text(encoding="utf-8"))
    assert book["claims"].primary_key == claims["primaryKey"]
    assert [(fk.fields, fk.resource, fk.reference_fields) for fk in book["claims"].foreign_keys] == [
        (fk["fields"], fk["reference"].get("resource", "claims"), fk["reference"]["fields"]) for fk in claims["foreignKeys"]]
    # a self-reference (no `resource`) points at the resource itself
    assert any(fk.resource == "actors" for fk in book["actors"].foreign_keys)


def test_constraints_are_shown():
    text = codebook.to_markdown(codebook.build(REPO))
    assert r"pattern `^C([0-9]{3}\|[1-9][0-9]{3,})$`" in text  # the pipe escaped inside a table cell
    assert "minimum 0" in text  # claims.quantity
    assert "format uri" in text  # sources.url
    assert "one of 4 [controlled values](#values-of-date_precision-in-claims)" in text
    assert "### Values of date_precision in claims" in text


def test_parse_vocabulary_splits_meaning_and_example():
    prose, terms = codebook.parse_vocabulary(
        "What it is.\n\nControlled vocabulary:\n- `a`: the first. Example: one.\n- `b_c`: the second; no example.")
    assert prose == "What it is."
    assert terms == [codebook.Term("a", "the first.", "one."), codebook.Term("b_c", "the second; no example.", "")]
    assert codebook.parse_vocabulary("Plain text.") == ("Plain text.", [])


def test_parse_vocabulary_refuses_a_malformed_line():
    with pytest.raises(ValueError, match="not '- `value`: meaning"):
        codebook.parse_vocabulary("X.\n\nControlled vocabulary:\n- a: no backticks")


def _edit_field(package: Path, resource: str, field_name: str, edit) -> None:
    path = package / "schemas" / f"{resource}.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    for field in schema["fields"]:
        if field["name"] == field_name:
            edit(field)
    path.write_text(json.dumps(schema, ensure_ascii=False, indent=2), encoding="utf-8")


@pytest.mark.parametrize(("change", "expected"), [
    ("drop", "enum value 'deflection' is documented 0 times"),
    ("double", "enum value 'deflection' is documented 2 times"),
    ("extra", "documented value 'retraction' is not in constraints.enum"),
])
def test_vocabulary_problems_are_found(package_copy, change, expected):
    def edit(field):
        lines = field["description"].split("\n")
        line = next(l for l in lines if l.startswith("- `deflection`"))
        if change == "drop":
            lines.remove(line)
        elif change == "double":
            lines.append(line)
        else:
            lines.append("- `retraction`: withdraws an earlier statement. Example: none.")
        field["description"] = "\n".join(lines)

    _edit_field(package_copy, "denials", "response_type", edit)
    spec = next(f for f in Package.open(package_copy).resources["denials"].schema["fields"] if f["name"] == "response_type")
    problems = codebook.vocabulary_problems(spec)
    assert any(p.startswith(expected) for p in problems), problems


def test_codebook_follows_the_schemas(package_copy, tmp_path):
    _edit_field(package_copy, "claims", "claim_type",
                lambda f: f.update(description=f["description"].replace("an analytic judgement", "an analyst's judgement")))
    out = tmp_path / "codebook.md"
    result = run_cli("codebook", str(package_copy), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert "| `assessment` | an analyst's judgement or interpretation." in out.read_text(encoding="utf-8")


def test_cli_writes_the_default_file_and_checks_it(package_copy):
    target = package_copy / "docs" / "codebook.md"
    result = run_cli("codebook", str(package_copy))
    assert result.exit_code == 0, result.stderr
    assert "resources" in result.stdout
    assert target.read_text(encoding="utf-8") == codebook.to_markdown(codebook.build(package_copy))
    assert run_cli("codebook", str(package_copy), "--check").exit_code == 0
    _edit_field(package_copy, "events", "title", lambda f: f.update(description="Short English title, changed."))
    result = run_cli("codebook", str(package_copy), "--check")
    assert result.exit_code == 1
    assert "out of date" in result.stderr
    assert target.read_text(encoding="utf-8") != codebook.to_markdown(codebook.build(package_copy))  # --check wrote nothing


def test_cli_prints_to_stdout():
    result = run_cli("codebook", str(REPO), "--out", "-")
    assert result.exit_code == 0
    assert result.stdout == codebook.to_markdown(codebook.build(REPO))


def test_cli_usage_errors(tmp_path, package_copy):
    result = run_cli("codebook", str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert "no such directory" in result.stderr
    _edit_field(package_copy, "claims", "claim_type",
                lambda f: f.update(description=f["description"] + "\n- broken line"))
    result = run_cli("codebook", str(package_copy), "--out", str(tmp_path / "c.md"))
    assert result.exit_code == 2
    assert "schemas/claims.json" in result.stderr and "claim_type" in result.stderr and "broken line" in result.stderr
    assert not (tmp_path / "c.md").exists()


# -- the library's staleness check and unwritable or unreadable targets (review B2, E) -----------------------


def test_check_says_ok_missing_or_stale(package_copy, tmp_path):
    target = tmp_path / "codebook.md"
    assert codebook.check(package_copy, target) == codebook.MISSING
    written, book = codebook.write(package_copy, target)
    assert written == target and book.resources
    assert codebook.check(package_copy, target) == codebook.OK
    target.write_text(target.read_text(encoding="utf-8") + "edited by hand\n", encoding="utf-8")
    assert codebook.check(package_copy, target) == codebook.STALE


@pytest.mark.parametrize("where", ["parent is a file", "under /proc"])
def test_an_unwritable_out_is_a_usage_error(package_copy, tmp_path, where):
    if where == "parent is a file":
        (tmp_path / "afile").write_text("x", encoding="utf-8")
        out = tmp_path / "afile" / "cb.md"
    else:
        out = Path("/proc/nkru-no-such/codebook.md")
    result = run_cli("codebook", str(package_copy), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert "error:" in result.stderr and str(out) in result.stderr and "cannot be written" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_check_of_a_file_that_is_not_utf8_is_a_usage_error(package_copy, tmp_path):
    target = tmp_path / "latin1.md"
    target.write_bytes("Größe\n".encode("latin-1"))
    result = run_cli("codebook", str(package_copy), "--check", "--out", str(target))
    assert result.exit_code == 2
    assert f"{target}: is not UTF-8 text" in result.stderr
    assert isinstance(result.exception, SystemExit)


def _set_schema(package: Path, resource: str, edit) -> None:
    path = package / "schemas" / f"{resource}.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    edit(schema)
    path.write_text(json.dumps(schema, ensure_ascii=False, indent=2), encoding="utf-8")


def _rename_resource(package: Path) -> None:
    path = package / "datapackage.json"
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    descriptor["resources"][0]["name"] = 5
    path.write_text(json.dumps(descriptor), encoding="utf-8")


MALFORMED = {
    "primaryKey is 5": lambda p: _set_schema(p, "claims", lambda s: s.update(primaryKey=5)),
    "reference is a string": lambda p: _set_schema(p, "claims", lambda s: s.update(
        foreignKeys=[{"fields": "event_id", "reference": "events"}])),
    "constraints is a string": lambda p: _set_schema(p, "claims", lambda s: s["fields"][0].update(constraints="no")),
    "resource name is 5": _rename_resource,
}


@pytest.mark.parametrize("mutation", list(MALFORMED))
def test_a_malformed_schema_shape_is_a_clear_error_not_a_traceback(package_copy, tmp_path, mutation):
    MALFORMED[mutation](package_copy)
    out = tmp_path / "codebook.md"
    result = run_cli("codebook", str(package_copy), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "run `nkru validate --only structure`" in result.stderr
    expected = {"primaryKey is 5": ("schemas/claims.json", "primaryKey 5"),
                "reference is a string": ("schemas/claims.json", "foreignKeys"),
                "constraints is a string": ("schemas/claims.json", "constraints 'no'"),
                "resource name is 5": ("resource name 5",)}[mutation]
    assert all(part in result.stderr for part in expected), result.stderr
    assert not out.exists()
