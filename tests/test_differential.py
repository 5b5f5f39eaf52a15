"""Differential test: stock frictionless is the reference for row constraints.

For every package in a corpus of broken copies of the real package (one kind of break each,
chosen from the schemas), stock `frictionless.validate` runs over the files and every error it
reports must also be reported by nkru's structure layer at the same file line and field, with
the same error type. nkru may report more (it is stricter: unpadded dates, wrong delimiters,
oversized cells), never less.
"""

from __future__ import annotations

import frictionless
import pytest

from nkru.api import validate_package
from nkru.package import Package
from tests.helpers import REPO, covering, first, read_table, set_cell, write_table

REAL = Package.open(REPO)


def _first_field(resource, predicate):
    for field in REAL.fields(resource):
        if predicate(field):
            return field["name"]
    return None


def _constraint(field, key):
    constraints = field.get("constraints")
    return constraints.get(key) if isinstance(constraints, dict) else None


def break_enum(package):
    for name in REAL.resources:
        field = _first_field(name, lambda f: _constraint(f, "enum") is not None)
        if field and len(REAL.table(name)):
            set_cell(package, name, 0, field, "not_in_the_vocabulary")


def break_required(package):
    for name in REAL.resources:
        field = _first_field(name, lambda f: _constraint(f, "required") and f["name"] not in REAL.primary_key(name))
        if field and len(REAL.table(name)) > 1:
            set_cell(package, name, 1, field, "")


def break_pattern(package):
    for name in REAL.resources:
        field = _first_field(name, lambda f: _constraint(f, "pattern") and f["name"] not in REAL.primary_key(name))
        if field and len(REAL.table(name)):
            set_cell(package, name, 0, field, "does not match")


def break_primary_key(package):
    for name in REAL.resources:
        header, rows = read_table(package, name)
        if len(rows) > 2:
            rows.append(dict(rows[1]))
            write_table(package, name, header, rows)


def break_foreign_keys(package):
    for name in REAL.resources:
        for fk in REAL.foreign_keys(name):
            if len(REAL.table(name)) > 2:
                set_cell(package, name, 2, fk.fields[0], "X999")


def break_types(package):
    for name in REAL.resources:
        for kind, bad in (("date", "2023-02-30"), ("integer", "1.5")):
            field = _first_field(name, lambda f: f.get("type") == kind)
            if field and len(REAL.table(name)) > 3:
                set_cell(package, name, 3, field, bad)


def break_widths(package):
    for name in ("events", "claims", "actors"):
        path = package / "data" / f"{name}.csv"
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        lines.insert(2, "X1,only two\n")
        lines.insert(3, "\n")
        lines.append(lines[-1].rstrip("\n") + ",one too many\n")
        path.write_text("".join(lines), encoding="utf-8")


def break_unique(package):
    for name in REAL.resources:
        field = _first_field(name, lambda f: _constraint(f, "unique") and f["name"] not in REAL.primary_key(name))
        if field and len(REAL.table(name)) > 1:
            header, rows = read_table(package, name)
            rows[1][field] = rows[0][field]
            write_table(package, name, header, rows)


CORPUS = [break_enum, break_required, break_pattern, break_primary_key, break_foreign_keys, break_types,
          break_widths, break_unique]


def _expected(package, task, error):
    """(resource, line, field, type) of one frictionless error, located with the one reader's record lines."""
    table = Package.open(package).table(task.name)
    line = table.locate_record(error.row_number)[0] if getattr(error, "row_number", None) else None
    if error.type == "foreign-key":
        field = ",".join(error.field_names)
    elif error.type in ("primary-key", "extra-cell", "blank-row"):
        field = None  # nkru names the key's fields / none: compared by line and type
    else:
        field = getattr(error, "field_name", None)
    return task.name, line, field, error.type


@pytest.mark.parametrize("mutate", covering(CORPUS, first, ids=[m.__name__ for m in CORPUS]))
def test_nkru_reports_every_error_stock_frictionless_reports(package_copy, mutate):
    mutate(package_copy)
    reference = frictionless.validate(str(package_copy / "datapackage.json"))
    expected = {_expected(package_copy, task, error) for task in reference.tasks for error in task.errors}
    assert expected, f"{mutate.__name__} broke nothing frictionless sees"
    report = validate_package(package_copy, only=["structure"])
    ours = set()
    for f in report.findings:
        for code in (f.code, *f.aliases):
            ours.add((f.resource, f.line, f.field, code))
            ours.add((f.resource, f.line, None, code))
        if f.code == "blank-row":  # one finding per run of blank lines
            count = 1
            if "blank rows, lines" in f.message:
                count = int(f.message.split(" blank rows")[0].rsplit(" ", 1)[-1].replace(",", ""))
            ours.update((f.resource, f.line + i, None, "blank-row") for i in range(count))
    # frictionless also calls a blank row a primary key of empty cells; nkru's blank-row finding names it.
    blank = {(r, line) for r, line, _, code in ours if code == "blank-row"}
    expected = {e for e in expected if not (e[3] == "primary-key" and (e[0], e[1]) in blank)}
    # One owner per check (nkru/layers/__init__.py): a repeated one-field primary key is `primary-key` only, and a
    # foreign key is not checked from a cell already reported, nor against a referenced key that is.
    key_lines = {(r, line) for r, line, _, code in ours if code == "primary-key"}
    cells = {(r, line, field) for r, line, field, code in ours if code != "foreign-key" and field}
    reported = {(f.resource, name) for f in report.findings if f.field for name in f.field.split(",")}

    def owned_elsewhere(error) -> bool:
        resource, line, field, code = error
        if code == "unique-error":
            return (resource, line) in key_lines and [field] == REAL.primary_key(resource)
        if code != "foreign-key":
            return False
        if (resource, line, field) in cells:
            return True
        fk = next(fk for fk in REAL.foreign_keys(resource) if ",".join(fk.fields) == field)
        return any((fk.resource, name) in reported for name in fk.reference_fields)

    missing = {e for e in expected - ours if not owned_elsewhere(e)}
    assert not missing, f"frictionless reports what nkru does not: {sorted(missing, key=str)}"
