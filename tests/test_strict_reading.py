"""The one reader is strict and says so: every case is a copy of the real package broken in one
way; `nkru validate` must name the file, the line and (where there is one) the field, and what to
do, and `load()` must refuse the same package (the gate and the loader never disagree)."""

from __future__ import annotations

import time

import pytest

from nkru import limits
from nkru.api import validate_package
from nkru.loader import LoadError, load
from tests.helpers import line_of, read_table, set_cell


def structure_errors(package):
    report = validate_package(package, only=["structure"])
    assert report.checks > 0
    return [f for f in report.findings if f.severity == "error"]


def test_an_unpadded_date_is_refused_by_the_gate_and_the_loader(package_copy):
    line = set_cell(package_copy, "claims", 0, "date_start", "2023-1-1")
    errors = structure_errors(package_copy)
    found = [f for f in errors if (f.code, f.line, f.field) == ("type-error", line, "date_start")]
    assert found and "YYYY-MM-DD" in found[0].message and "two-digit month" in found[0].message
    with pytest.raises(LoadError) as caught:
        load(package_copy)
    assert (caught.value.line, caught.value.field, caught.value.value) == (line, "date_start", "2023-1-1")


def test_a_semicolon_separated_file_names_the_delimiter_it_looks_like(package_copy):
    path = package_copy / "data" / "sources.csv"
    header, rows = read_table(package_copy, "sources")
    lines = [";".join(header)] + [";".join(row[h].replace(";", ",") for h in header) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    errors = [f for f in structure_errors(package_copy) if f.resource == "sources"]
    assert [(f.code, f.line) for f in errors] == [("wrong-delimiter", 1)]
    assert "';'" in errors[0].message and "semicolon" in errors[0].message
    with pytest.raises(LoadError, match="semicolon"):
        load(package_copy)


def test_an_encoding_error_names_the_line_and_says_save_as_utf8(package_copy):
    path = package_copy / "data" / "events.csv"
    data = path.read_bytes().split(b"\n")
    data[3] = data[3].replace(b"E", b"\xe9", 1)
    path.write_bytes(b"\n".join(data))
    errors = [f for f in structure_errors(package_copy) if f.code == "encoding-error"]
    assert [(f.resource, f.line) for f in errors] == [("events", 4)]
    assert "save the file as UTF-8" in errors[0].message


@pytest.mark.slow  # a 10 MB file through the gate and the loader
def test_a_ten_megabyte_cell_is_a_precise_finding_in_seconds(package_copy):
    line = set_cell(package_copy, "claims", 3, "notes", "x" * 10_000_000)
    started = time.perf_counter()
    errors = structure_errors(package_copy)
    assert time.perf_counter() - started < 30
    found = [f for f in errors if f.code == "cell-too-large"]
    assert [(f.resource, f.line, f.field) for f in found] == [("claims", line, "notes")]
    assert f"{limits.MAX_CELL_CHARS:,}" in found[0].message and "10,000,000" in found[0].message
    with pytest.raises(LoadError, match="more than a cell may hold"):
        load(package_copy)


@pytest.mark.slow  # a million lines through the gate
def test_a_million_blank_lines_are_one_finding_in_seconds(package_copy):
    path = package_copy / "data" / "claims.csv"
    text = path.read_text(encoding="utf-8")
    first = text.count("\n") + 1
    path.write_text(text + "\n" * 1_000_000, encoding="utf-8")
    started = time.perf_counter()
    errors = structure_errors(package_copy)
    assert time.perf_counter() - started < 30
    blank = [f for f in errors if f.code == "blank-row"]
    assert [(f.resource, f.line) for f in blank] == [("claims", first)]
    assert "1,000,000 blank rows" in blank[0].message


def test_a_blank_line_between_rows_keeps_later_lines_right(package_copy):
    index = len(read_table(package_copy, "events")[1]) - 1
    set_cell(package_copy, "events", index, "event_type", "not_a_type")
    line = line_of(package_copy, "events", index)
    path = package_copy / "data" / "events.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[2:2] = ["", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    errors = [f for f in structure_errors(package_copy) if f.resource == "events"]
    assert ("blank-row", 3) in {(f.code, f.line) for f in errors}
    assert ("constraint-error", line + 2, "event_type") in {(f.code, f.line, f.field) for f in errors}


@pytest.mark.slow  # a header of up to a million cells through the gate and the loader
@pytest.mark.parametrize("extra", [limits.MAX_COLUMNS, 1_000_000])
def test_a_header_wider_than_the_limit_is_one_finding_in_seconds(package_copy, extra):
    """A header of a million cells would make a frame of a million columns: refused before reading."""
    path = package_copy / "data" / "events.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[0] += "," * extra
    path.write_text("\n".join(lines), encoding="utf-8")
    started = time.perf_counter()
    errors = structure_errors(package_copy)
    assert time.perf_counter() - started < 30
    assert [(f.code, f.resource, f.line) for f in errors if f.resource == "events"] == [("too-many-columns", "events", 1)]
    found = [f for f in errors if f.code == "too-many-columns"][0]
    assert f"{limits.MAX_COLUMNS:,}" in found.message and f"{len(lines[0].split(',')):,}" in found.message
    with pytest.raises(LoadError, match="columns, more than nkru reads"):
        load(package_copy)


def test_a_header_at_the_limit_is_read(package_copy):
    """MAX_COLUMNS columns exactly: not refused (the schema check then reports the extra columns)."""
    path = package_copy / "data" / "events.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    width = len(lines[0].split(","))
    lines[0] += "".join(f",x{i}" for i in range(limits.MAX_COLUMNS - width))
    path.write_text("\n".join(lines), encoding="utf-8")
    codes = {f.code for f in structure_errors(package_copy) if f.resource == "events"}
    assert "too-many-columns" not in codes and codes
