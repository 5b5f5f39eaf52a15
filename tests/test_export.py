"""`nkru export`: SQLite, DuckDB, Parquet and Excel, each read back and compared with the CSVs."""

from __future__ import annotations

import functools
import json
import sqlite3
from datetime import date, datetime
from pathlib import Path

import pytest

from tests.conftest import copy_package
from tests.helpers import RESOURCES, covering, first, read_table, run_cli, set_cell
from tests.test_load import EDTF, SCHEMAS, loaded_names
from nkru.export import FORMATS, ExportRefused, ExportUsageError, export

# Text a spreadsheet would run as a formula (or show as an error value) if it were not written as text.
TRICKY = ["=1+1", "=HYPERLINK(\"http://example.org\",\"x\")", "+49 30 1234", "-2+3", "@SUM(A1)", "\tindented", "#N/A",
          "line one\nline two", "quotes \" and ' and „German“"]

FOREIGN_KEYS = [(resource, fk) for resource, schema in SCHEMAS.items() for fk in schema.get("foreignKeys") or []]
FK_IDS = [f"{resource}.{','.join(fk['fields'])}" for resource, fk in FOREIGN_KEYS]


def _free_text_field(resource: str) -> str | None:
    """A string field without enum or pattern, where any text is allowed (e.g. notes)."""
    for field in SCHEMAS[resource]["fields"]:
        constraints = field.get("constraints") or {}
        if field["type"] == "string" and not field.get("format") and not {"enum", "pattern", "unique"} & set(constraints):
            if field["name"] == "notes":
                return field["name"]
    return None


def _make_tricky(package: Path) -> None:
    """Put formula-like and multi-line text into the free-text cells of a package copy."""
    n = 0
    for resource in SCHEMAS:
        field = _free_text_field(resource)
        rows = read_table(package, resource)[1]
        if field is None or not rows:
            continue
        for index in range(min(len(rows), len(TRICKY))):
            set_cell(package, resource, index, field, TRICKY[(index + n) % len(TRICKY)])
        n += 1


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    root = copy_package(tmp_path_factory.mktemp("export") / "package")
    _make_tricky(root)
    return root


@pytest.fixture(scope="module")
def exports(package, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("out")
    return {fmt: export(package, to=fmt, out=out / f"nkru.{fmt}").path for fmt in FORMATS}


# -- reading the exports back ----------------------------------------------------------------------


def _field_types(resource: str) -> dict[str, str]:
    types = {f["name"]: f["type"] for f in SCHEMAS[resource]["fields"]}
    return {**types, **({EDTF: "string"} if EDTF in loaded_names(resource) else {})}


def _expected(package: Path, resource: str) -> list[dict]:
    """The CSV rows as typed values would read: empty -> None, integers as int, the rest as text; a dated
    resource also has its range as an EDTF string (`nkru.dates.edtf`, the scalar rule)."""
    from nkru.dates import edtf

    types = _field_types(resource)
    rows = read_table(package, resource)[1]
    out = [{k: (None if v == "" else int(v) if types[k] == "integer" else v) for k, v in row.items()} for row in rows]
    if EDTF in types:
        for row in out:
            row[EDTF] = edtf(*(date.fromisoformat(row[c]) if row[c] else None for c in ("date_start", "date_end")))
    return out


def _normal(value, kind: str):
    if value is None:
        return None
    if kind == "date":
        if isinstance(value, datetime):
            assert value.time() == datetime.min.time()
            value = value.date()
        assert isinstance(value, (date, str))
        return value.isoformat() if isinstance(value, date) else value
    if kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), value
        return value
    assert isinstance(value, str), (kind, value)
    return value


def _read_sqlite(path: Path, resource: str) -> list[dict]:
    with sqlite3.connect(path) as con:
        cursor = con.execute(f'SELECT * FROM "{resource}" ORDER BY rowid')
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor]


def _read_duckdb(path: Path, resource: str) -> list[dict]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        cursor = con.execute(f'SELECT * FROM "{resource}"')
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def _read_parquet(path: Path, resource: str) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(path / f"{resource}.parquet").to_pylist()


def _read_xlsx(path: Path, resource: str) -> list[dict]:
    sheet = _workbook(path)[resource]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    return [dict(zip(header, row)) for row in rows[1:]]


@functools.cache
def _workbook(path: Path):
    """The workbook at `path`, parsed once (the module's export is read back by a case per resource)."""
    from openpyxl import load_workbook

    return load_workbook(path, read_only=True)


READERS = {"sqlite": _read_sqlite, "duckdb": _read_duckdb, "parquet": _read_parquet, "xlsx": _read_xlsx}


def test_every_format_has_a_reader_here():
    assert set(READERS) == set(FORMATS)


@pytest.mark.parametrize("resource", list(SCHEMAS))
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_export_reads_back_as_the_csv(package, exports, fmt, resource):
    types = _field_types(resource)
    got = [{k: _normal(v, types[k]) for k, v in row.items()} for row in READERS[fmt](exports[fmt], resource)]
    expected = _expected(package, resource)
    assert [list(row) for row in got[:1]] == [list(types)][: len(got[:1])]  # columns in schema order
    if fmt == "duckdb":  # a database table has no order: compare by primary key
        key = SCHEMAS[resource]["primaryKey"]
        got = sorted(got, key=lambda r: tuple(r[k] for k in key))
        expected = sorted(expected, key=lambda r: tuple(r[k] for k in key))
    assert got == expected
    if resource == "actors":
        assert any(row["notes"] in TRICKY for row in got)  # the hard strings made the trip


# -- SQLite ------------------------------------------------------------------------------------------


def _one_row(package: Path, resource: str) -> dict[str, str]:
    rows = read_table(package, resource)[1]
    if not rows:
        pytest.skip(f"{resource} has no rows yet")
    return rows[0]


@pytest.mark.parametrize(("resource", "fk"), FOREIGN_KEYS, ids=FK_IDS)
def test_sqlite_declares_indexes_and_enforces_every_foreign_key(package, exports, resource, fk):
    target = fk["reference"].get("resource", resource)
    with sqlite3.connect(exports["sqlite"]) as con:
        declared = {(row[2], row[3], row[4]) for row in con.execute(f'PRAGMA foreign_key_list("{resource}")')}
        assert (target, fk["fields"][0], fk["reference"]["fields"][0]) in declared
        indexed = {con.execute(f'PRAGMA index_info("{index[1]}")').fetchone()[2]
                   for index in con.execute(f'PRAGMA index_list("{resource}")')}
        assert fk["fields"][0] in indexed
        con.execute("PRAGMA foreign_keys = ON")
        row = {k: (v or None) for k, v in _one_row(package, resource).items()}
        for key in SCHEMAS[resource]["primaryKey"]:
            if key not in fk["fields"]:
                row[key] = row[key][0] + "999" if key.endswith("_id") else "participant"
        row[fk["fields"][0]] = "NO-SUCH-ID"
        columns = ", ".join(f'"{k}"' for k in row)
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"):
            con.execute(f'INSERT INTO "{resource}" ({columns}) VALUES ({", ".join("?" * len(row))})', list(row.values()))


def test_sqlite_declares_types_keys_and_not_null(exports):
    with sqlite3.connect(exports["sqlite"]) as con:
        for resource, schema in SCHEMAS.items():
            info = {row[1]: row for row in con.execute(f'PRAGMA table_info("{resource}")')}
            assert list(info) == loaded_names(resource)
            for field in schema["fields"]:
                _, _, declared, notnull, _, pk = info[field["name"]]
                assert declared == ("INTEGER" if field["type"] == "integer" else "TEXT")
                assert bool(notnull) == bool((field.get("constraints") or {}).get("required")) or pk
                assert bool(pk) == (field["name"] in schema["primaryKey"])


def test_sqlite_ships_datasette_metadata_from_the_schemas(exports):
    path = exports["sqlite"]
    meta = json.loads(path.with_suffix(".metadata.json").read_text(encoding="utf-8"))
    tables = meta["databases"][path.stem]["tables"]
    descriptor = json.loads((Path(__file__).resolve().parents[1] / "datapackage.json").read_text(encoding="utf-8"))
    assert meta["license"] == descriptor["licenses"][0]["name"]
    assert "not included" in meta["description"]
    for res in descriptor["resources"]:
        table = tables[res["name"]]
        assert table["title"] == res["title"]
        assert table["description"] == res["description"]
        from nkru.loader import EDTF as DERIVED

        derived = {EDTF: DERIVED.description} if EDTF in loaded_names(res["name"]) else {}
        assert table["columns"] == {**{f["name"]: f["description"] for f in SCHEMAS[res["name"]]["fields"]}, **derived}


# -- DuckDB ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("resource", "fk"), FOREIGN_KEYS, ids=FK_IDS)
def test_duckdb_rejects_a_row_that_breaks_a_foreign_key(package, exports, tmp_path, resource, fk):
    import shutil

    import duckdb

    copy = tmp_path / "copy.duckdb"
    shutil.copy(exports["duckdb"], copy)
    with duckdb.connect(str(copy)) as con:
        row = {k: (v or None) for k, v in _one_row(package, resource).items()}
        for key in SCHEMAS[resource]["primaryKey"]:
            if key not in fk["fields"]:
                row[key] = row[key][0] + "999" if key.endswith("_id") else row[key]
        row[fk["fields"][0]] = "NO-SUCH-ID"
        columns = ", ".join(f'"{k}"' for k in row)
        with pytest.raises(duckdb.ConstraintException, match="foreign key"):
            con.execute(f'INSERT INTO "{resource}" ({columns}) VALUES ({", ".join("?" * len(row))})', list(row.values()))


def test_duckdb_declares_types_enums_keys_and_comments(exports):
    import duckdb

    with duckdb.connect(str(exports["duckdb"]), read_only=True) as con:
        for resource, schema in SCHEMAS.items():
            columns = {name: (dtype, comment) for name, dtype, comment in con.execute(
                "SELECT column_name, data_type, comment FROM duckdb_columns() WHERE table_name = ?", [resource]).fetchall()}
            for field in schema["fields"]:
                dtype, comment = columns[field["name"]]
                enum = (field.get("constraints") or {}).get("enum")
                if enum:
                    assert dtype == "ENUM(" + ", ".join(f"'{v}'" for v in enum) + ")"
                else:
                    assert dtype == {"date": "DATE", "integer": "BIGINT"}.get(field["type"], "VARCHAR")
                assert comment == field["description"]
            kinds = [c[0] for c in con.execute(
                "SELECT constraint_type FROM duckdb_constraints() WHERE table_name = ?", [resource]).fetchall()]
            assert kinds.count("PRIMARY KEY") == 1
            assert kinds.count("FOREIGN KEY") == len(schema.get("foreignKeys") or [])


# -- Parquet -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", list(SCHEMAS))
def test_parquet_types_and_descriptions_follow_the_schema(exports, resource):
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(exports["parquet"] / f"{resource}.parquet")
    for field in SCHEMAS[resource]["fields"]:
        column = schema.field(field["name"])
        if (field.get("constraints") or {}).get("enum"):
            assert pa.types.is_dictionary(column.type) and column.type.value_type == pa.string()
        else:
            assert column.type == {"date": pa.date32(), "integer": pa.int64()}.get(field["type"], pa.string())
        assert column.metadata[b"description"].decode() == field["description"]
    table = pq.read_table(exports["parquet"] / f"{resource}.parquet")
    for field in SCHEMAS[resource]["fields"]:
        enum = (field.get("constraints") or {}).get("enum")
        if enum and table.num_rows:
            assert table.column(field["name"]).chunk(0).dictionary.to_pylist() == enum


def test_parquet_reads_into_pandas_with_categoricals(exports):
    import pandas as pd

    frame = pd.read_parquet(exports["parquet"] / "events.parquet")
    assert isinstance(frame.event_type.dtype, pd.CategoricalDtype)


# -- Excel -------------------------------------------------------------------------------------------


def test_xlsx_formula_like_text_stays_text(exports):
    from openpyxl import load_workbook

    book = load_workbook(exports["xlsx"])
    seen = set()
    for resource in SCHEMAS:
        for row in book[resource].iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith(("=", "+", "-", "@", "\t", "#")):
                    assert cell.data_type == "s", (resource, cell.coordinate, cell.value)
                    seen.add(cell.value)
                    if cell.value[0] in "=+-@\t":
                        assert cell.quotePrefix
    assert {"=1+1", "+49 30 1234", "-2+3", "@SUM(A1)", "#N/A"} <= seen


def test_xlsx_cell_starting_with_equals_is_stored_as_a_string_not_a_formula(package_copy, tmp_path):
    import zipfile

    from openpyxl import load_workbook

    set_cell(package_copy, "sources", 0, "notes", "=1+1")
    path = export(package_copy, to="xlsx", out=tmp_path / "x.xlsx", check=False).path
    cell = load_workbook(path)["sources"].cell(row=2, column=list(_field_types("sources")).index("notes") + 1)
    assert (cell.value, cell.data_type) == ("=1+1", "s")
    sheets = [n for n in zipfile.ZipFile(path).namelist() if n.startswith("xl/worksheets/")]
    assert not any(b"<f>" in zipfile.ZipFile(path).read(n) for n in sheets)  # no formula anywhere


def test_xlsx_dates_are_dates_integers_numbers_and_a_readme_sheet(exports):
    from openpyxl import load_workbook

    book = load_workbook(exports["xlsx"])
    assert book.sheetnames[0] == "README"
    assert book.sheetnames[1:] == list(SCHEMAS)
    text = "\n".join(str(c.value) for row in book["README"].iter_rows() for c in row if c.value is not None)
    assert "CC-BY-4.0" in text and "not included" in text
    for resource in SCHEMAS:
        assert resource in text
    for resource, schema in SCHEMAS.items():
        sheet = book[resource]
        header = [c.value for c in sheet[1]]
        assert header == loaded_names(resource)
        for field in schema["fields"]:
            column = header.index(field["name"]) + 1
            for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
                if cell.value is None:
                    continue
                if field["type"] == "date":
                    assert cell.is_date and cell.number_format == "yyyy-mm-dd"
                elif field["type"] == "integer":
                    assert cell.data_type == "n" and isinstance(cell.value, int)
                else:
                    assert cell.data_type == "s"


# -- the command, default paths, atomic writes, failures ---------------------------------------------


# The fast loop: one export that is a file and one that is a folder.
@pytest.mark.parametrize("fmt", covering(list(FORMATS), lambda fmt: FORMATS[fmt].suffix.startswith(".")))
def test_cli_exports_into_a_temp_dir(package, tmp_path, fmt):
    result = run_cli("export", "--format", fmt, "--out", str(tmp_path) + "/", str(package))
    assert result.exit_code == 0, result.stderr
    written = [p for p in tmp_path.iterdir() if not p.name.endswith(".metadata.json")]
    assert len(written) == 1 and written[0].name == f"nkru{FORMATS[fmt].suffix}"
    assert f"to {written[0]}" in result.stdout
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_default_out_is_under_exports_with_a_fixed_name(package, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("export", "--format", "sqlite", str(package))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == ["nkru.metadata.json", "nkru.sqlite"]
    assert "nkru" in json.loads((tmp_path / "exports" / "nkru.metadata.json").read_text())["databases"]


@pytest.mark.slow
@pytest.mark.parametrize("field, value", [("name", "../../escaped"), ("version", "0.1.0/../../../escaped")])
def test_a_descriptor_name_or_version_never_steers_the_export(package_copy, tmp_path, monkeypatch, field, value):
    descriptor = json.loads((package_copy / "datapackage.json").read_text())
    descriptor[field] = value
    (package_copy / "datapackage.json").write_text(json.dumps(descriptor))
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    before = {p for p in tmp_path.rglob("*") if "package" not in p.parts}
    for fmt in FORMATS:
        result = run_cli("export", "--format", fmt, "--no-validate", str(package_copy))
        assert result.exit_code == 0, result.stderr
    after = {p for p in tmp_path.rglob("*") if "package" not in p.parts}
    assert {p.relative_to(work).as_posix() for p in after - before} == {
        "exports", "exports/nkru.sqlite", "exports/nkru.metadata.json", "exports/nkru.duckdb", "exports/nkru.xlsx",
        "exports/nkru-parquet", *(f"exports/nkru-parquet/{name}.parquet" for name in RESOURCES)}
    validation = run_cli("validate", "--only", "structure", "--format", "json", str(package_copy))
    assert validation.exit_code == 1
    found = [f for f in json.loads(validation.stdout)["findings"] if f["code"] == "unsafe-name"]
    assert [(f["field"], f["value"]) for f in found] == [(field, value)]
    assert value in found[0]["message"] and field in found[0]["message"]


def test_a_broken_package_exits_1_with_the_loaders_message(package_copy, tmp_path):
    line = set_cell(package_copy, "sources", 0, "date_start", "2024-02-30")
    result = run_cli("export", "--format", "sqlite", "--out", str(tmp_path / "x.sqlite"), str(package_copy))
    assert result.exit_code == 1
    assert f"data/sources.csv line {line}" in result.stderr and "'date_start'" in result.stderr and "'2024-02-30'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.sqlite").exists()


def test_a_package_that_does_not_validate_is_refused(package_copy, tmp_path):
    if not read_table(package_copy, "claims")[1]:
        pytest.skip("claims has no rows yet")
    line = set_cell(package_copy, "claims", 0, "event_id", "E999")
    result = run_cli("export", "--format", "duckdb", "--out", str(tmp_path / "x.duckdb"), str(package_copy))
    assert result.exit_code == 1
    assert f"data/claims.csv:{line}" in result.stderr and "foreign-key" in result.stderr
    with pytest.raises(ExportRefused):
        export(package_copy, to="parquet", out=tmp_path / "p")


@pytest.mark.parametrize("fmt", covering(["sqlite", "duckdb"], first))
def test_without_the_check_the_database_still_refuses_broken_keys_and_the_old_export_survives(package_copy, tmp_path, fmt):
    if not read_table(package_copy, "claims")[1]:
        pytest.skip("claims has no rows yet")
    target = tmp_path / "out" / f"x.{fmt}"
    export(package_copy, to=fmt, out=target)
    before = target.read_bytes()
    set_cell(package_copy, "claims", 0, "event_id", "E999")
    result = run_cli("export", "--format", fmt, "--no-validate", "--out", str(target), str(package_copy))
    assert result.exit_code == 1
    assert "data/claims.csv" in result.stderr and "foreign key" in result.stderr.lower()
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == sorted([target.name] + ([target.with_suffix(".metadata.json").name] if fmt == "sqlite" else []))


def test_unknown_format_exits_2(package):
    result = run_cli("export", "--format", "csv", str(package))
    assert result.exit_code == 2
    assert "unknown format 'csv'" in result.stderr


def test_missing_to_exits_2(package):
    assert run_cli("export", str(package)).exit_code == 2


def test_unwritable_path_exits_2(package, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run_cli("export", "--format", "sqlite", "--out", str(blocker / "x.sqlite"), str(package))
    assert result.exit_code == 2
    assert "is not a folder" in result.stderr
    with pytest.raises(ExportUsageError):
        export(package, to="parquet", out=blocker)


def test_parquet_never_replaces_a_folder_that_holds_other_files(package, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    result = run_cli("export", "--format", "parquet", "--out", str(tmp_path), str(package))
    assert result.exit_code == 2
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_parquet_replaces_its_own_previous_export(package, tmp_path):
    target = tmp_path / "nkru-parquet"
    export(package, to="parquet", out=target, check=False)
    (target / "stale.parquet").write_bytes(b"")
    export(package, to="parquet", out=target, check=False)
    assert sorted(p.name for p in target.iterdir()) == sorted(f"{r}.parquet" for r in SCHEMAS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nkru-parquet"]


def test_no_package_exits_2(tmp_path):
    result = run_cli("export", "--format", "sqlite", str(tmp_path))
    assert result.exit_code == 2
    assert "datapackage.json" in result.stderr


@pytest.mark.parametrize("fmt", covering(["duckdb", "sqlite"], first))  # DuckDB is the one that needs the order
def test_self_references_to_later_rows_are_exported(package_copy, tmp_path, fmt):
    """An actor may belong to an actor listed after it (DuckDB checks keys per statement: parents go first)."""
    header, rows = read_table(package_copy, "actors")
    if len(rows) < 3:
        pytest.skip("actors has fewer than three rows")
    ids = [r["actor_id"] for r in rows]
    set_cell(package_copy, "actors", 0, "affiliation_id", ids[1])
    set_cell(package_copy, "actors", 1, "affiliation_id", ids[-1])
    set_cell(package_copy, "actors", len(rows) - 1, "affiliation_id", "")
    path = export(package_copy, to=fmt, out=tmp_path / f"x.{fmt}").path
    got = {r["actor_id"]: r["affiliation_id"] for r in READERS[fmt](path, "actors")}
    assert got == {r["actor_id"]: (r["affiliation_id"] or None) for r in read_table(package_copy, "actors")[1]}


def test_generations_put_referenced_rows_first(package_copy):
    from nkru.export import generations
    from nkru.loader import read_package

    header, rows = read_table(package_copy, "actors")
    if len(rows) < 3:
        pytest.skip("actors has fewer than three rows")
    ids = [r["actor_id"] for r in rows]
    for index in range(len(rows)):  # a chain from the first row to the last: each references the next
        set_cell(package_copy, "actors", index, "affiliation_id", ids[index + 1] if index + 1 < len(rows) else "")
    table = read_package(package_copy, resources=["actors"]).tables["actors"]
    batches = generations(table)
    assert batches == [[i] for i in reversed(range(len(rows)))]


def test_usage_error_messages_are_escaped_once(package, tmp_path):
    """Review A7: `usage_error` escapes markup itself; a path with brackets is printed as it is."""
    blocker = tmp_path / "blk[x]"
    blocker.write_text("not a folder")
    out = blocker / "a.sqlite"
    result = run_cli("export", "--format", "sqlite", "--out", str(out), str(package))
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert f"{out}: {blocker} is not a folder" in message and "\\[" not in message


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")


MALFORMED = {
    "primaryKey is 5": ("schemas/claims.json", lambda s: s.update(primaryKey=5)),
    "reference is a string": ("schemas/claims.json", lambda s: s.update(foreignKeys=[{"fields": "event_id", "reference": "events"}])),
    "constraints is a string": ("schemas/claims.json", lambda s: s["fields"][0].update(constraints="no")),
    "resource name is 5": ("datapackage.json", lambda d: next(r for r in d["resources"] if r["name"] == "claims").update(name=5)),
    "licenses is an object": ("datapackage.json", lambda d: d.update(licenses={})),
}


@pytest.mark.parametrize("mutation", covering(list(MALFORMED), lambda mutation: MALFORMED[mutation][0]))
def test_a_malformed_descriptor_or_schema_is_refused_without_a_traceback(package_copy, tmp_path, mutation):
    """Review B3: the structure layer reports the shape (exit 1), or the loader names it; never a traceback."""
    path, edit = MALFORMED[mutation]
    _edit_json(package_copy / path, edit)
    out = tmp_path / "out.sqlite"
    result = run_cli("export", "--format", "sqlite", "--out", str(out), str(package_copy))
    assert isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1, result.output
    assert "error:" in result.stderr and not out.exists()


LEADING = ["\n=1+1", "\r\n=HYPERLINK(\"http://x\")", " =SUM(A1)", "\t+1", "a\r\nb\r\n"]


@pytest.fixture(scope="module")
def leading_xlsx(tmp_path_factory):
    """One xlsx export of a copy with LEADING[i] as the notes of claim row i (one export serves every case)."""
    from openpyxl import load_workbook

    package = copy_package(tmp_path_factory.mktemp("leading") / "package")
    for index, text in enumerate(LEADING):
        set_cell(package, "claims", index, "notes", text)
    out = tmp_path_factory.mktemp("leading-out") / "x.xlsx"
    export(package, to="xlsx", out=out, check=False)
    return load_workbook(out)["claims"]


@pytest.mark.parametrize("text", LEADING)
def test_xlsx_text_with_leading_breaks_and_formulas_comes_out_unchanged_as_text(leading_xlsx, text):
    sheet = leading_xlsx
    column = [c.value for c in sheet[1]].index("notes") + 1
    cell = sheet.cell(row=2 + LEADING.index(text), column=column)
    assert cell.value == text and cell.data_type == "s"
    assert cell.quotePrefix or not text.lstrip().startswith(("=", "+", "-", "@")), "a formula-like cell must stay text when edited"


def test_an_xlsx_error_names_where_the_value_comes_from(package_copy, tmp_path):
    descriptor = json.loads((package_copy / "datapackage.json").read_text())
    descriptor["description"] = "x" * 40_000
    (package_copy / "datapackage.json").write_text(json.dumps(descriptor))
    result = run_cli("export", "--format", "xlsx", "--no-validate", "--out", str(tmp_path / "x.xlsx"), str(package_copy))
    assert result.exit_code == 1
    assert "datapackage.json (description" in result.stderr and "40000 characters" in result.stderr
    assert "error: :" not in result.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "package"]  # nothing written


def test_only_web_addresses_become_datasette_links(package_copy, tmp_path):
    descriptor = json.loads((package_copy / "datapackage.json").read_text())
    descriptor["licenses"][0]["path"] = "javascript:alert(1)"
    (package_copy / "datapackage.json").write_text(json.dumps(descriptor))
    export(package_copy, to="sqlite", out=tmp_path / "x.sqlite", check=False)
    metadata = json.loads((tmp_path / "x.metadata.json").read_text())
    assert "license_url" not in metadata and metadata["license"]
