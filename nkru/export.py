"""Export the package to SQLite, DuckDB, Parquet or Excel, typed from its Table Schemas.

    export(".", to="sqlite")            # exports/nkru.sqlite + exports/nkru.metadata.json (Datasette)
    export(".", to="duckdb")            # exports/nkru.duckdb
    export(".", to="parquet")           # exports/nkru-parquet/<resource>.parquet
    export(".", to="xlsx")              # exports/nkru.xlsx (README sheet + one per resource)

File names are fixed, never taken from the descriptor: a package's `name` or `version` (data
from whoever wrote the package) cannot steer a write, and Datasette needs a database name
without dots. The version is inside every export (metadata, README sheet, Parquet metadata).

The data is read with the loader (`nkru.loader.read_package`), so every export has the
same typed values: a cell that does not parse stops the export with a `LoadError`. By default
the structure layer of `nkru validate` runs first and an invalid package is refused
(`ExportRefused`): a database with declared keys cannot hold broken keys anyway.

Writers, and why:
- SQLite via sqlite-utils: it declares types, primary keys, NOT NULL and foreign keys
  (self-references included), and `index_foreign_keys()` indexes every foreign key column.
  frictionless' SQL adapter needs SQLAlchemy, indexes no foreign key and turns `pattern`
  into `REGEXP` checks that fail on any connection without a REGEXP function (Datasette,
  the sqlite3 shell), so it is not used. Rows are inserted in file order with enforcement
  off, then `PRAGMA foreign_key_check` must come back empty; the declared keys are enforced
  by every connection that sets `PRAGMA foreign_keys=ON`.
- DuckDB: its own DDL (PRIMARY KEY, FOREIGN KEY, NOT NULL, UNIQUE, ENUM types, COMMENTs),
  rows inserted from Arrow tables; DuckDB checks foreign keys per statement, so tables are
  created in dependency order and rows of a self-referencing table parents first.
- Parquet via pyarrow: date32, int64, dictionary-encoded strings for controlled values, field
  descriptions as Parquet field metadata.
- Excel via openpyxl: every text cell is written as text (never a formula or an error
  value), dates as dates, integers as numbers.

Every export is written to a temporary file or folder beside its target and moved into place.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Callable

from nkru import extras
from nkru.fsutil import confine, lock_for, write_error
from nkru.loader import FieldSpec, LoadError, Table, TypedPackage, read_package
from nkru.package import Package
from nkru.text import safe_url
from nkru.transaction import Transaction, atomic_directory, atomic_path

__all__ = ["export", "FORMATS", "ExportError", "ExportRefused", "ExportUsageError", "ExportResult", "default_out", "STEM"]

DEFAULT_DIR = Path("exports")


class ExportError(ValueError):
    """The export could not be written from this package."""


class ExportRefused(ExportError):
    """The package does not validate (structure layer); `.report` holds the findings."""

    def __init__(self, report: Any, limit: int = 10):
        self.report = report
        errors = report.errors
        lines = [f"{f.location}: [{f.code}] {f.message}" for f in errors[:limit]]
        if len(errors) > limit:
            lines.append(f"… and {len(errors) - limit} more (run `nkru validate --only structure`)")
        super().__init__("the package does not validate, nothing exported:\n" + "\n".join(lines))


class ExportUsageError(ExportError):
    """A usage problem: unknown format, or an output path that cannot be written."""


@dataclass
class ExportResult:
    format: str
    path: Path
    files: list[Path] = field(default_factory=list)  # everything written (the target first)
    rows: dict[str, int] = field(default_factory=dict)


# -- helpers shared by the writers --------------------------------------------


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_paragraph(text: str | None) -> str:
    return (text or "").split("\n\n")[0].strip()


def _license(package: TypedPackage) -> tuple[str, str]:
    from nkru.metadata import descriptor_license

    first = descriptor_license(package.descriptor)
    return str(first.get("name") or first.get("title") or ""), str(first.get("path") or "")


SOURCE_TEXTS_NOTE = ("The archived article texts (data/sources/*.txt in the package) are not included in this export; "
                     "they remain the copyright of their publishers and are not covered by the data licence.")


def generations(table: Table) -> list[list[int]]:
    """Row indexes in batches: rows that reference their own table come in a later batch than the rows
    they reference (DuckDB checks foreign keys against the table as it was before each statement).
    Without a self-reference: one batch in file order."""
    own = [fk for fk in table.foreign_keys if fk.resource == table.name]
    if not own:
        return [list(range(len(table)))]

    def values(columns: tuple[str, ...], i: int) -> tuple:
        return tuple(table.values[c][i] for c in columns)

    keys = {fk.reference_fields: {values(fk.reference_fields, i) for i in range(len(table))} for fk in own}
    placed: dict[tuple[str, ...], set[tuple]] = {fk.reference_fields: set() for fk in own}
    batches: list[list[int]] = []
    remaining = list(range(len(table)))
    while remaining:
        batch, rest = [], []
        for i in remaining:
            waiting = False
            for fk in own:
                ref = values(fk.fields, i)
                if None not in ref and ref in keys[fk.reference_fields] and ref not in placed[fk.reference_fields] \
                        and ref != values(fk.reference_fields, i):
                    waiting = True
            (rest if waiting else batch).append(i)
        if not batch:  # a cycle: insert the rest and let the database report it
            batch, rest = rest, []
        for i in batch:
            for fk in own:
                placed[fk.reference_fields].add(values(fk.reference_fields, i))
        batches.append(batch)
        remaining = rest
    return batches


# -- Arrow (Parquet and DuckDB) ------------------------------------------------


def arrow_type(spec: FieldSpec):
    import pyarrow as pa

    if spec.enum is not None and spec.kind == "string":
        return pa.dictionary(pa.int32(), pa.string())
    return {
        "integer": pa.int64(),
        "year": pa.int64(),
        "number": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "datetime": pa.timestamp("us", tz="UTC"),
        "time": pa.time64("us"),
    }.get(spec.kind, pa.string())


def arrow_table(package: TypedPackage, table: Table, order: list[int] | None = None):
    """The table as a pyarrow Table typed from its schema, with titles and descriptions as metadata."""
    import pyarrow as pa

    order = list(range(len(table))) if order is None else order
    arrays, fields = [], []
    for spec in table.fields:
        values = [table.values[spec.name][i] for i in order]
        kind = arrow_type(spec)
        if pa.types.is_dictionary(kind):
            categories = list(spec.enum or ())
            position = {v: n for n, v in enumerate(categories)}
            indices = pa.array([None if v is None else position[v] for v in values], pa.int32())
            array = pa.DictionaryArray.from_arrays(indices, pa.array(categories, pa.string()))
        else:
            array = pa.array(values, kind)
        metadata = {"type": spec.type}
        if spec.title:
            metadata["title"] = spec.title
        if spec.description:
            metadata["description"] = spec.description
        if spec.enum is not None:
            metadata["enum"] = json.dumps([str(v) for v in spec.enum], ensure_ascii=False)
        nullable = not spec.required or array.null_count > 0
        fields.append(pa.field(spec.name, kind, nullable=nullable, metadata=metadata))
        arrays.append(array)
    schema_meta = {
        "resource": table.name,
        "title": table.title or "",
        "description": table.description or "",
        "primary_key": json.dumps(table.primary_key),
        "package": f"{package.name} {package.version or ''}".strip(),
    }
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=schema_meta))


# -- SQLite --------------------------------------------------------------------

SQLITE_TYPES = {"integer": int, "year": int, "number": float, "boolean": int}


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    return value


def datasette_metadata(package: TypedPackage, database: str) -> dict[str, Any]:
    """Datasette metadata: the package's title and licence, each table's title and description,
    every column's description, all taken from the descriptor and the Table Schemas."""
    name, url = _license(package)
    tables = {}
    for table in package.tables.values():
        tables[table.name] = {
            "title": table.title or table.name,
            "description": table.description or "",
            "columns": {spec.name: spec.description or spec.title or "" for spec in table.fields},
        }
        if table.primary_key:
            tables[table.name]["sort"] = table.primary_key[0]
    title = package.descriptor.get("title") or package.name
    metadata: dict[str, Any] = {
        "title": f"{title} ({package.version})" if package.version else title,
        "description": f"{_first_paragraph(package.descriptor.get('description'))} {SOURCE_TEXTS_NOTE}".strip(),
        "databases": {database: {"tables": tables}},
    }
    if name:
        metadata["license"] = name
    if safe_url(url):  # Datasette shows it as a link: http(s) only
        metadata["license_url"] = url
    return metadata


def _write_sqlite(package: TypedPackage, target: Path) -> list[Path]:
    import sqlite_utils

    # The database and its metadata change together or not at all, even when killed between the two renames
    # (one transaction; its journal is `.nkru-release/` in the output folder).
    meta = target.with_suffix(".metadata.json")
    with Transaction(target.parent) as transaction:
        db = sqlite_utils.Database(str(transaction.path(target)))
        try:
            db.execute("PRAGMA foreign_keys = OFF")  # inserted in file order, checked as a whole below
            for name in package.dependency_order():
                table = package.tables[name]
                columns = {spec.name: SQLITE_TYPES.get(spec.kind, str) for spec in table.fields}
                foreign_keys = []
                for fk in table.foreign_keys:
                    if len(fk.fields) == 1:
                        foreign_keys.append((fk.fields[0], fk.resource, fk.reference_fields[0]))
                    else:
                        foreign_keys.append((fk.fields, fk.resource, fk.reference_fields))
                pk = table.primary_key[0] if len(table.primary_key) == 1 else (tuple(table.primary_key) or None)
                db.create_table(
                    name,
                    columns,
                    pk=pk,
                    foreign_keys=foreign_keys or None,
                    not_null=[spec.name for spec in table.fields if spec.required] or None,
                    column_order=[spec.name for spec in table.fields],
                )
                for spec in table.fields:
                    if spec.unique and table.primary_key != [spec.name]:
                        db[name].create_index([spec.name], unique=True, index_name=f"uq_{name}_{spec.name}")
            db.index_foreign_keys()
            with db.conn:
                for name in package.dependency_order():
                    table = package.tables[name]
                    rows = ({k: _sqlite_value(v) for k, v in row.items()} for row in table.typed_rows())
                    try:
                        db[name].insert_all(rows, batch_size=500)
                    except Exception as exc:  # sqlite3.IntegrityError and friends
                        raise ExportError(f"{table.path}: SQLite refused the rows: {exc}") from exc
            try:
                broken = db.execute("PRAGMA foreign_key_check").fetchall()
            except Exception as exc:  # sqlite3.OperationalError: "foreign key mismatch"
                raise ExportError(f"SQLite cannot check the foreign keys: {exc} (a foreign key must reference "
                                  "the primary key or a unique field of its table)") from exc
            if broken:
                child, rowid, parent, _ = broken[0]
                table = package.tables[child]
                line = table.lines[rowid - 1] if 0 < rowid <= len(table) else None
                raise ExportError(f"{table.path} line {line}: a foreign key into {parent} has no match "
                                  f"({len(broken)} rows break foreign keys)")
        finally:
            db.close()
        metadata = json.dumps(datasette_metadata(package, target.stem), ensure_ascii=False, indent=2) + "\n"
        transaction.add(meta, metadata.encode("utf-8"))
    return [target, meta]


# -- DuckDB --------------------------------------------------------------------

DUCKDB_TYPES = {"integer": "BIGINT", "year": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE",
                "datetime": "TIMESTAMPTZ", "time": "TIME"}


def duckdb_type(spec: FieldSpec) -> str:
    if spec.enum is not None and spec.kind == "string":
        return "ENUM(" + ", ".join(_literal(str(v)) for v in spec.enum) + ")"
    return DUCKDB_TYPES.get(spec.kind, "VARCHAR")


def duckdb_ddl(table: Table) -> str:
    parts = []
    for spec in table.fields:
        column = f"{_quote(spec.name)} {duckdb_type(spec)}"
        if spec.required:
            column += " NOT NULL"
        if spec.unique and table.primary_key != [spec.name]:
            column += " UNIQUE"
        parts.append(column)
    if table.primary_key:
        parts.append("PRIMARY KEY (" + ", ".join(map(_quote, table.primary_key)) + ")")
    for fk in table.foreign_keys:
        parts.append(f"FOREIGN KEY ({', '.join(map(_quote, fk.fields))}) REFERENCES {_quote(fk.resource)} "
                     f"({', '.join(map(_quote, fk.reference_fields))})")
    return f"CREATE TABLE {_quote(table.name)} (\n  " + ",\n  ".join(parts) + "\n)"


def _write_duckdb(package: TypedPackage, target: Path) -> list[Path]:
    import duckdb

    with atomic_path(target) as temp:
        wal = temp.with_name(temp.name + ".wal")
        con = duckdb.connect(str(temp))
        try:
            for name in package.dependency_order():
                table = package.tables[name]
                try:
                    con.execute(duckdb_ddl(table))
                except duckdb.Error as exc:
                    raise ExportError(f"{table.path}: DuckDB cannot create table {name!r}: {exc}") from exc
                if table.title or table.description:
                    con.execute(f"COMMENT ON TABLE {_quote(name)} IS {_literal(table.description or table.title or '')}")
                for spec in table.fields:
                    if spec.description:
                        con.execute(f"COMMENT ON COLUMN {_quote(name)}.{_quote(spec.name)} IS {_literal(spec.description)}")
                for fk in table.foreign_keys:
                    index = "idx_" + "_".join([name, *fk.fields])
                    con.execute(f"CREATE INDEX {_quote(index)} ON {_quote(name)} ({', '.join(map(_quote, fk.fields))})")
                columns = ", ".join(_quote(spec.name) for spec in table.fields)
                for batch in generations(table):
                    con.register("nkru_source", arrow_table(package, table, batch))
                    try:
                        con.execute(f"INSERT INTO {_quote(name)} ({columns}) SELECT {columns} FROM nkru_source")
                    except duckdb.Error as exc:
                        raise ExportError(f"{table.path}: DuckDB refused the rows: {exc}") from exc
                    finally:
                        con.unregister("nkru_source")
            con.execute("CHECKPOINT")
        finally:
            con.close()
            with contextlib.suppress(FileNotFoundError):
                wal.unlink()
    return [target]


# -- Parquet -------------------------------------------------------------------


def _write_parquet(package: TypedPackage, target: Path) -> list[Path]:
    import pyarrow.parquet as pq

    for name in package.tables:  # a resource name becomes a file name: it must not leave the folder
        if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", name) or ".." in name:
            raise ExportError(f"datapackage.json: resource name {name!r} cannot name a Parquet file "
                              "(letters, digits, '.', '_' and '-' only)")
    with atomic_directory(target) as temp:
        for name, table in package.tables.items():
            pq.write_table(arrow_table(package, table), temp / f"{name}.parquet")
    return [target, *(target / f"{name}.parquet" for name in package.tables)]


# -- Excel ---------------------------------------------------------------------

#: A text cell starting with one of these may be run as a formula when a spreadsheet (or a CSV made from it) is opened.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
XLSX_CELL_LIMIT = 32767
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def _sheet_names(names: list[str]) -> dict[str, str]:
    used = {"readme"}
    out = {}
    for name in names:
        base = _SHEET_BAD.sub("_", name)[:31] or "sheet"
        candidate, n = base, 2
        while candidate.lower() in used:
            suffix = f"~{n}"
            candidate, n = base[: 31 - len(suffix)] + suffix, n + 1
        used.add(candidate.lower())
        out[name] = candidate
    return out


def _put(ws, row: int, column: int, value: Any, *, where: str = "") -> Any:
    """Write one cell: text always as text (never a formula or an error value), dates as dates.

    `where` names the value's origin for an error (file, line, field); by default the sheet's cell."""
    from openpyxl.utils import get_column_letter
    from openpyxl.utils.exceptions import IllegalCharacterError

    where = where or f"sheet {ws.title!r} cell {get_column_letter(column)}{row}"
    if isinstance(value, datetime):
        value = value.replace(tzinfo=None)  # UTC, as Excel has no time zones
    if isinstance(value, str) and len(value) > XLSX_CELL_LIMIT:
        raise ExportError(f"{where}: text of {len(value)} characters is longer than an Excel cell holds ({XLSX_CELL_LIMIT})")
    try:
        cell = ws.cell(row=row, column=column, value=value)
    except IllegalCharacterError:
        raise ExportError(f"{where}: value {value[:60]!r} holds a control character Excel cannot store") from None
    if isinstance(value, str):
        cell.data_type = "s"
        if value.lstrip().startswith(FORMULA_TRIGGERS) or value.startswith(FORMULA_TRIGGERS):
            cell.quotePrefix = True  # stays text when edited in Excel or LibreOffice (also after leading blanks)
    elif isinstance(value, datetime):
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
    elif isinstance(value, date):
        cell.number_format = "yyyy-mm-dd"
    return cell


def _write_xlsx(package: TypedPackage, target: Path) -> list[Path]:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    bold = Font(bold=True)
    wb = Workbook()
    readme = wb.active
    readme.title = "README"
    sheets = _sheet_names(list(package.tables))
    lic_name, lic_url = _license(package)

    row = 1
    _put(readme, row, 1, package.descriptor.get("title") or package.name).font = Font(bold=True, size=14)
    facts = [
        ("Package", package.name),
        ("Version", package.version or ""),
        ("Licence", f"{lic_name} {lic_url}".strip() + " (the curated tables)"),
        ("Not included", SOURCE_TEXTS_NOTE),
        ("Description", package.descriptor.get("description") or ""),
        ("Types", "Dates are real dates, integers numbers; every text cell is text (never a formula). "
                  "Controlled values are listed under Fields."),
    ]
    row += 2
    for label, value in facts:
        _put(readme, row, 1, label).font = bold
        _put(readme, row, 2, value, where=f"datapackage.json ({label.lower()}, README sheet)").alignment = \
            Alignment(wrap_text=True, vertical="top")
        row += 1
    row += 1
    for column, label in enumerate(["Sheet", "Resource", "Title", "Rows", "Description"], 1):
        _put(readme, row, column, label).font = bold
    for name, table in package.tables.items():
        row += 1
        for column, value in enumerate([sheets[name], name, table.title or "", len(table), table.description or ""], 1):
            _put(readme, row, column, value, where=f"datapackage.json resource {name!r} (README sheet)")
    row += 2
    for column, label in enumerate(["Sheet", "Field", "Type", "Required", "Title", "Description", "Controlled values"], 1):
        _put(readme, row, column, label).font = bold
    for name, table in package.tables.items():
        for spec in table.fields:
            row += 1
            values = [sheets[name], spec.name, spec.type, "yes" if spec.required else "", spec.title or "", spec.summary,
                      ", ".join(str(v) for v in spec.enum) if spec.enum else ""]
            for column, value in enumerate(values, 1):
                _put(readme, row, column, value, where=f"resource {name!r} schema, field {spec.name!r} (README sheet)")
    for column, width in zip("ABCDEFG", (18, 22, 28, 10, 28, 80, 40)):
        readme.column_dimensions[column].width = width

    for name, table in package.tables.items():
        ws = wb.create_sheet(sheets[name])
        widths = []
        for column, spec in enumerate(table.fields, 1):
            _put(ws, 1, column, spec.name).font = bold
            widths.append(len(spec.name))
        for index, values in enumerate(table.typed_rows()):
            line = table.lines[index]
            for column, spec in enumerate(table.fields, 1):
                value = values[spec.name]
                _put(ws, index + 2, column, value,
                     where=f"resource {name!r}, {table.path} line {line}, row {index + 1}, field {spec.name!r}")
                if value is not None:
                    widths[column - 1] = max(widths[column - 1], min(len(str(value)), 60))
        ws.freeze_panes = "A2"
        if table.fields:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(table.fields))}{len(table) + 1}"
        for column, width in enumerate(widths, 1):
            ws.column_dimensions[get_column_letter(column)].width = max(10, width + 2)

    buffer = io.BytesIO()
    wb.save(buffer)
    with atomic_path(target) as temp:
        temp.write_bytes(_keep_carriage_returns(buffer.getvalue()))
    return [target]


def _keep_carriage_returns(xlsx: bytes) -> bytes:
    """openpyxl writes a carriage return in a cell as a raw CR, which every XML parser turns into a
    line feed (so `\r\n=...` would come back as `\n=...`); written as the reference `&#13;` it survives."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(xlsx))
    if not any(b"\r" in source.read(info) for info in source.infolist() if info.filename.endswith(".xml")):
        return xlsx
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith(".xml"):
                data = data.replace(b"\r", b"&#13;")
            target.writestr(info, data)
    return out.getvalue()


# -- registry ------------------------------------------------------------------


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str  # file suffix, or the folder name's ending for a folder format
    folder: bool
    write: Callable[[TypedPackage, Path], list[Path]]
    description: str


#: export format -> writer. Add a format here and nowhere else.
#: The libraries each format's writer imports (pyarrow is in the base install; the others come with the
#: `export` extra, nkru.extras).
NEEDS: dict[str, tuple[str, ...]] = {"sqlite": ("sqlite_utils",), "duckdb": ("duckdb",), "parquet": ("pyarrow",),
                                     "xlsx": ("openpyxl",)}

FORMATS: dict[str, Format] = {
    "sqlite": Format("sqlite", ".sqlite", False, _write_sqlite, "SQLite database (+ Datasette metadata)"),
    "duckdb": Format("duckdb", ".duckdb", False, _write_duckdb, "DuckDB database"),
    "parquet": Format("parquet", "-parquet", True, _write_parquet, "one Parquet file per resource in a folder"),
    "xlsx": Format("xlsx", ".xlsx", False, _write_xlsx, "Excel workbook, README sheet + one sheet per resource"),
}


#: The stem of every export's file name: fixed, never derived from the package's data.
STEM = "nkru"


def default_out(to: str, base: Path = DEFAULT_DIR) -> Path:
    """`exports/nkru.<format>` (`exports/nkru-parquet/` for parquet), relative to the current directory."""
    return base / (STEM + FORMATS[to].suffix)


def resolve_out(fmt: Format, out: str | Path | None) -> Path:
    """The path to write, or ExportUsageError when it cannot be written."""
    if out is None:
        target = default_out(fmt.name)
    else:
        target = Path(out)
        container = str(out).endswith(("/", os.sep))  # `--out exports/`: the export goes inside, named by default
        if container or (not fmt.folder and target.is_dir()):
            target = target / (STEM + fmt.suffix)
    if fmt.folder:
        if target.exists() and not target.is_dir():
            raise ExportUsageError(f"{target}: exists and is not a folder (a {fmt.name} export is a folder)")
        if target.is_dir():
            foreign = [p.name for p in target.iterdir() if p.suffix != ".parquet"]
            if foreign:
                raise ExportUsageError(f"{target}: folder holds other files ({', '.join(sorted(foreign)[:3])}); "
                                       "choose an empty or new folder")
    ancestor = target.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ExportUsageError(f"{target}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ExportUsageError(f"{target}: {ancestor} is not writable")
    if target.exists() and not os.access(target, os.W_OK):
        raise ExportUsageError(f"{target}: not writable")
    return target


def _refuse_unsafe_names(package: TypedPackage) -> None:
    """Every table is named by its resource: a name outside the Data Package name pattern (a final
    newline, a quote, a slash) never becomes a table, sheet or file name, even with `--no-validate`."""
    import json

    from nkru.findings import Finding
    from nkru.layers.structure import SAFE_NAME

    for index, name in enumerate(package.tables, 1):
        if not (isinstance(name, str) and SAFE_NAME.match(name) and ".." not in name and "+" not in name):
            finding = Finding.make("resource-name", path="datapackage.json", value=json.dumps(name), index=index)
            raise ExportError(finding.message)


def export(path: str | Path = ".", to: str = "sqlite", out: str | Path | None = None, *, check: bool = True) -> ExportResult:
    """Export the package at `path` to format `to`; returns what was written.

    Raises ExportUsageError (unknown format, unwritable output), PackageError (no package at
    `path`), LoadError (a cell that does not parse) or ExportRefused (the structure layer finds errors).
    """
    fmt = FORMATS.get(to)
    if fmt is None:
        raise ExportUsageError(f"unknown export format {to!r} (choose from {', '.join(FORMATS)})")
    try:
        extras.require("export", f"nkru export --format {to}", NEEDS[to])
    except extras.MissingExtra as exc:
        raise ExportUsageError(str(exc)) from None
    root = Package.open(path).root  # PackageError when there is none; usage problems come before the slow work
    target = resolve_out(fmt, out)
    try:  # a planted `exports` link (or one above --out inside the package) is refused before any work
        confine(target, Path.cwd(), named=out)
    except OSError as exc:
        raise ExportUsageError(write_error(exc)) from None
    package = read_package(path)
    _refuse_unsafe_names(package)
    if check:
        from nkru.api import validate_package

        report = validate_package(path, only=["structure"])
        if not report.valid:
            raise ExportRefused(report)
    try:
        with lock_for(root, target):
            confine(target, Path.cwd(), named=out)  # again: the folder may have changed while the data was read
            # `--out LINK` names the link itself: it is followed (the writers refuse any other link)
            files = fmt.write(package, Path(os.path.realpath(target)) if os.path.islink(target) else target)
    except (ExportError, LoadError):
        raise
    except OSError as exc:
        raise ExportUsageError(write_error(exc, target)) from exc
    except Exception as exc:  # a database or Arrow library refusing what the schemas declare
        if type(exc).__module__.split(".")[0] not in ("sqlite3", "duckdb", "_duckdb", "pyarrow", "openpyxl", "sqlite_utils"):
            raise
        raise ExportError(f"the {fmt.name} writer refused the package: {type(exc).__name__}: {exc}") from exc
    return ExportResult(format=fmt.name, path=target, files=files, rows={n: len(t) for n, t in package.tables.items()})
