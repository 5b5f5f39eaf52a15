"""Load the package's tables with the types their Table Schemas declare.

    >>> from nkru import load
    >>> data = load(".")                      # pandas by default
    >>> data.claims.dtypes["date_start"]      # datetime64[s]
    >>> data["events"].event_type.cat.categories
    >>> pl = load(".", engine="polars")       # polars DataFrames

Everything is derived from the schemas (`schemas/*.json` via `datapackage.json`):
dates become dates, integers nullable integers, fields with `constraints.enum`
categoricals whose categories are the enum (in schema order), other strings
string columns; a missing value (by default an empty cell) is missing (NA/null).
One column is added that is not in the CSV: a resource with `date_start` and
`date_end` also gets `date_edtf`, its range as an EDTF / ISO 8601-2 string
(`2024-11-22`, `2022-11`, `2017`, `2022-12-01/2023-12-31`), which the exports carry too.

A cell that does not parse as its field's type, or a controlled value that is not in
the vocabulary, raises `LoadError` naming file, line, field and value: nothing is
silently dropped or coerced to NaN. Other constraints (required, unique, patterns,
foreign keys) are validation, not loading: pass `validate=True` to refuse an invalid
package (it runs `nkru validate`'s layers first).

`read_package()` gives the same typed values as plain Python objects (used by the exports).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any, Callable

from nkru.package import DESCRIPTOR, ForeignKey, Package, ReadError, Table, is_remote
from nkru.reader import delimiter_name

__all__ = ["load", "read_package", "Data", "LoadError", "PackageInvalid", "FieldSpec", "TypedTable", "TypedPackage", "ENGINES"]

ENGINES = ("pandas", "polars")
_MAX_LISTED = 10


# -- errors --------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One cell (or row, or header) that cannot be loaded."""

    path: str
    line: int | None
    field: str | None
    value: str | None
    reason: str
    resource: str | None = None

    def __str__(self) -> str:
        where = f"{self.path} line {self.line}" if self.line else self.path
        what = []
        if self.field is not None:
            what.append(f"field {self.field!r}")
        if self.value is not None:
            what.append(f"value {_short(self.value)!r}")
        return f"{where}: {' '.join([*what, self.reason])}"


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class LoadError(ValueError):
    """The package's data cannot be loaded with its declared types.

    `path`, `line`, `field`, `value` and `resource` describe the first problem;
    `problems` lists all of them (for a resource, every bad cell is collected).
    """

    def __init__(self, problems: Sequence[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem(path=DESCRIPTOR, line=None, field=None, value=None, reason=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        first = self.problems[0]
        self.path, self.line, self.field, self.value, self.resource = first.path, first.line, first.field, first.value, first.resource
        lines = [str(p) for p in self.problems[:_MAX_LISTED]]
        if len(self.problems) > _MAX_LISTED:
            lines.append(f"… and {len(self.problems) - _MAX_LISTED} more")
        super().__init__("\n".join(lines))


class PackageInvalid(LoadError):
    """`load(..., validate=True)` refused a package that does not validate; `.report` is the validation report."""

    def __init__(self, report: Any):
        self.report = report
        problems = [
            Problem(path=f.path or DESCRIPTOR, line=f.line, field=f.field, value=f.value, reason=f"[{f.code}] {f.message}", resource=f.resource)
            for f in report.errors
        ]
        super().__init__(problems or "the package does not validate")


class _CellError(ValueError):
    pass


# -- fields --------------------------------------------------------------------

_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DATETIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?$")
_TIME = re.compile(r"^[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?$")
_YEAR = re.compile(r"^[+-]?[0-9]{4}$")
_DEFAULT_TRUE = ("true", "True", "TRUE", "1")
_DEFAULT_FALSE = ("false", "False", "FALSE", "0")

#: Table Schema types read into typed values; any other type (yearmonth, duration, geopoint,
#: object, array, ...) is kept as text.
TYPED = ("string", "integer", "number", "boolean", "date", "datetime", "time", "year")


def _parse_string(text: str, spec: "FieldSpec") -> str:
    return text


def _parse_integer(text: str, spec: "FieldSpec") -> int:
    value = text
    group = spec.options.get("groupChar")
    if group:
        value = value.replace(group, "")
    if spec.options.get("bareNumber", True) is False:
        value = re.sub(r"^[^0-9+-]+|[^0-9]+$", "", value)
    if not _INTEGER.match(value):
        raise _CellError("is not an integer")
    return int(value)


def _parse_number(text: str, spec: "FieldSpec") -> float:
    value = text
    group = spec.options.get("groupChar")
    if group:
        value = value.replace(group, "")
    decimal = spec.options.get("decimalChar", ".")
    if decimal != ".":
        value = value.replace(decimal, ".")
    if spec.options.get("bareNumber", True) is False:
        value = re.sub(r"^[^0-9+.-]+|[^0-9.]+$", "", value)
    if value in ("NaN", "INF", "-INF", "+INF"):
        return float(value.replace("INF", "inf").replace("NaN", "nan"))
    if not _NUMBER.match(value):
        raise _CellError("is not a number")
    return float(value)


def _parse_boolean(text: str, spec: "FieldSpec") -> bool:
    if text in spec.options.get("trueValues", _DEFAULT_TRUE):
        return True
    if text in spec.options.get("falseValues", _DEFAULT_FALSE):
        return False
    raise _CellError("is not a boolean")


def _parse_date(text: str, spec: "FieldSpec") -> date:
    fmt = spec.format or "default"
    try:
        if fmt in ("default", "any"):
            if not _DATE.match(text):
                raise ValueError
            return date.fromisoformat(text)
        return datetime.strptime(text, fmt).date()
    except ValueError:
        shown = ("the form YYYY-MM-DD: a four-digit year, a two-digit month and a two-digit day, e.g. 2024-06-01"
                 if fmt in ("default", "any") else f"the form {fmt}")
        raise _CellError(f"is not a date in {shown}") from None


def _parse_datetime(text: str, spec: "FieldSpec") -> datetime:
    fmt = spec.format or "default"
    try:
        if fmt in ("default", "any"):
            if not _DATETIME.match(text):
                raise ValueError
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        else:
            value = datetime.strptime(text, fmt)
    except ValueError:
        raise _CellError("is not a datetime (YYYY-MM-DDThh:mm:ss[Z])") from None
    # Table Schema datetimes are UTC unless they carry an offset.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _parse_time(text: str, spec: "FieldSpec") -> time:
    fmt = spec.format or "default"
    try:
        if fmt in ("default", "any"):
            if not _TIME.match(text):
                raise ValueError
            return time.fromisoformat(text)
        return datetime.strptime(text, fmt).time()
    except ValueError:
        raise _CellError("is not a time (hh:mm:ss)") from None


def _parse_year(text: str, spec: "FieldSpec") -> int:
    if not _YEAR.match(text):
        raise _CellError("is not a year (YYYY)")
    return int(text)


PARSERS: dict[str, Callable[[str, "FieldSpec"], Any]] = {
    "string": _parse_string,
    "integer": _parse_integer,
    "number": _parse_number,
    "boolean": _parse_boolean,
    "date": _parse_date,
    "datetime": _parse_datetime,
    "time": _parse_time,
    "year": _parse_year,
}


def _missing_values(raw: Any) -> frozenset[str]:
    values = [""] if raw is None else raw
    if not isinstance(values, list):  # a malformed missingValues: the structure layer reports it
        values = [""]
    out = set()
    for item in values:
        if isinstance(item, dict):  # Data Package v2: {"value": "-99", "label": "..."}
            item = item.get("value")
        if isinstance(item, str):
            out.add(item)
    return frozenset(out)


@dataclass(frozen=True)
class FieldSpec:
    """One Table Schema field, as the loader and the exports use it."""

    name: str
    type: str
    format: str | None = None
    title: str | None = None
    description: str | None = None
    required: bool = False
    unique: bool = False
    enum: tuple[Any, ...] | None = None
    missing_values: frozenset[str] = frozenset({""})
    options: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def kind(self) -> str:
        """The type the value is loaded as: one of TYPED ('string' for types kept as text)."""
        return self.type if self.type in PARSERS else "string"

    @property
    def is_categorical(self) -> bool:
        return self.enum is not None

    @property
    def summary(self) -> str:
        """The description's first paragraph (the vocabulary list that may follow is left out)."""
        return (self.description or "").split("\n\n")[0].strip()

    def parse(self, text: str) -> Any:
        """The typed value of a cell (None when missing); raises _CellError with a reason."""
        if text in self.missing_values:
            return None
        value = PARSERS[self.kind](text, self)
        if self.enum is not None and value not in self.enum:
            shown = ", ".join(str(v) for v in self.enum)
            raise _CellError(f"is not in the field's controlled vocabulary ({shown})")
        return value

    @classmethod
    def from_descriptor(cls, descriptor: dict[str, Any], schema_missing: frozenset[str], *,
                        type: str | None = None, enum: list[Any] | None = None) -> "FieldSpec":
        """A field from its descriptor; `type` and `enum` as `Package.field_types`/`Package.enum` give them
        (read from the descriptor, tolerantly, when not given)."""
        name = descriptor.get("name")
        ftype = type if type is not None else (descriptor["type"] if isinstance(descriptor.get("type"), str) else "string")
        constraints = descriptor.get("constraints") if isinstance(descriptor.get("constraints"), dict) else {}
        if enum is None and isinstance(constraints.get("enum"), list):
            enum = constraints["enum"]
        options = {k: descriptor[k] for k in ("trueValues", "falseValues", "groupChar", "decimalChar", "bareNumber")
                   if k in descriptor and isinstance(descriptor[k], (str, bool, list))}
        missing = _missing_values(descriptor["missingValues"]) if "missingValues" in descriptor else schema_missing
        text = lambda key: descriptor[key] if isinstance(descriptor.get(key), str) else None  # noqa: E731
        spec = cls(
            name=name,
            type=ftype,
            format=text("format"),
            title=text("title"),
            description=text("description"),
            required=bool(constraints.get("required")),
            unique=bool(constraints.get("unique")),
            missing_values=missing,
            options=options,
        )
        if enum is not None:
            parsed = []
            for item in enum:
                if isinstance(item, (list, dict)) or item is None:  # not one value: polars and SQL cannot hold it
                    raise LoadError(f"field {name!r}: enum value {item!r} is not a single value (text, number or boolean)")
                if spec.kind == "string" and not isinstance(item, str):
                    raise LoadError(f"field {name!r}: enum value {item!r} is not text, as the field's type is string")
                try:
                    parsed.append(PARSERS[spec.kind](item, spec) if isinstance(item, str) else item)
                except _CellError as exc:
                    raise LoadError(f"field {name!r}: enum value {item!r} {exc}") from None
            if len({value.__class__ for value in parsed}) > 1:  # (`type` is a parameter here)
                raise LoadError(f"field {name!r}: enum values are of mixed types ({', '.join(repr(v) for v in parsed[:5])})")
            spec = cls(**{**spec.__dict__, "enum": tuple(parsed)})
        return spec


# -- typed tables --------------------------------------------------------------


@dataclass
class TypedTable:
    """One resource typed from its Table Schema: `frame` is a polars DataFrame (one column per
    field, null = missing); `columns` gives the same values as Python objects."""

    name: str
    path: str
    fields: list[FieldSpec]
    frame: Any  # polars.DataFrame
    lines: list[int]
    title: str | None = None
    description: str | None = None
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.lines)

    @cached_property
    def columns(self) -> dict[str, list[Any]]:
        """Column name -> list of Python values (None = missing)."""
        return {spec.name: self.frame.get_column(spec.name).to_list() for spec in self.fields}

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def rows(self) -> Iterator[dict[str, Any]]:
        names = [f.name for f in self.fields]
        for values in zip(*(self.columns[n] for n in names)):
            yield dict(zip(names, values))


@dataclass
class TypedPackage:
    """The package's descriptor and its tables, typed."""

    root: Path
    descriptor: dict[str, Any]
    tables: dict[str, TypedTable]

    @property
    def name(self) -> str:
        return str(self.descriptor.get("name") or self.root.name)

    @property
    def version(self) -> str | None:
        version = self.descriptor.get("version")
        return str(version) if version else None

    def dependency_order(self) -> list[str]:
        """Table names so that every table comes after the tables its foreign keys reference."""
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                raise LoadError(f"resource {name!r}: foreign keys form a cycle between resources")
            state[name] = 1
            for fk in self.tables[name].foreign_keys:
                if fk.resource != name and fk.resource in self.tables:
                    visit(fk.resource)
            state[name] = 2
            order.append(name)

        for name in self.tables:
            visit(name)
        return order


def _is_table(spec: Any) -> bool:
    res = spec.descriptor
    if res.get("type") == "table" or isinstance(res.get("schema"), (dict, str)):
        return True
    return False


# -- the one type system: text columns typed from the Table Schema, column-wise -----------------

_UNIQUE_PARSED = ("date", "datetime", "time", "year")  # few distinct values: parsed once per distinct text


def _cell_problems(mask, reason, spec: "FieldSpec", text, lines, out: list[tuple[int, int, Problem]], order: int,
                   path: str, resource: str) -> None:
    """Append a Problem for every row where `mask` is true (`reason` a string or a per-row Series)."""
    import polars as pl

    frame = pl.DataFrame({"i": pl.int_range(0, len(mask), eager=True), "bad": mask, "value": text,
                          "reason": reason if isinstance(reason, pl.Series) else pl.repeat(reason, len(mask), eager=True)})
    for index, value, why in frame.filter(pl.col("bad")).select("i", "value", "reason").iter_rows():
        out.append((lines[index], order, Problem(path, lines[index], spec.name, value, why, resource)))


def type_column(spec: "FieldSpec", text) -> tuple[Any, Any, Any]:
    """(typed polars Series, mask of cells that do not parse, reason per cell) for one text column.

    Missing values (the schema's `missingValues`) become null and are never bad. The reasons are
    the ones `FieldSpec.parse` gives, so the loader, the exports and the structure layer agree.
    """
    import polars as pl

    text = text.fill_null("")
    missing = text.is_in(list(spec.missing_values)) if spec.missing_values else pl.repeat(False, len(text), eager=True)
    present = text.set(missing, None) if missing.any() else text
    kind = spec.kind
    reason: Any = ""
    if kind == "string":
        values, bad = present, pl.repeat(False, len(text), eager=True)
    elif kind in ("integer", "number"):
        cleaned = present
        group = spec.options.get("groupChar")
        if group:
            cleaned = cleaned.str.replace_all(group, "", literal=True)
        if kind == "number" and spec.options.get("decimalChar", ".") != ".":
            cleaned = cleaned.str.replace_all(spec.options["decimalChar"], ".", literal=True)
        if spec.options.get("bareNumber", True) is False:
            cleaned = cleaned.str.replace_all(r"^[^0-9+.-]+|[^0-9.]+$" if kind == "number" else r"^[^0-9+-]+|[^0-9]+$", "")
        if kind == "integer":
            shape = cleaned.str.contains(_INTEGER.pattern)
            values = cleaned.str.strip_prefix("+").cast(pl.Int64, strict=False)
            reason = "is not an integer"
        else:
            special = cleaned.is_in(["NaN", "INF", "-INF", "+INF"])
            shape = cleaned.str.contains(_NUMBER.pattern) | special
            values = (cleaned.str.replace("INF", "inf", literal=True).str.strip_prefix("+")
                      .cast(pl.Float64, strict=False))
            reason = "is not a number"
        bad = (present.is_not_null() & (~shape.fill_null(False) | values.is_null())).fill_null(False)
        values = values.set(bad, None) if bad.any() else values
    elif kind == "boolean":
        true = list(spec.options.get("trueValues", _DEFAULT_TRUE))
        false = list(spec.options.get("falseValues", _DEFAULT_FALSE))
        values = pl.Series(text.name, [None] * len(text), dtype=pl.Boolean)
        values = values.set(present.is_in(true).fill_null(False), True).set(present.is_in(false).fill_null(False), False)
        bad = (present.is_not_null() & values.is_null()).fill_null(False)
        reason = "is not a boolean"
    else:  # dates and times: few distinct texts, each parsed once by the field's parser
        distinct = present.drop_nulls().unique().to_list()
        parsed: list[Any] = []
        why: list[str | None] = []
        for item in distinct:
            try:
                parsed.append(PARSERS[kind](item, spec))
                why.append(None)
            except _CellError as exc:
                parsed.append(None)
                why.append(str(exc))
        dtype = {"date": pl.Date, "datetime": pl.Datetime("us", "UTC"), "time": pl.Time, "year": pl.Int64}[kind]
        lookup = pl.DataFrame({"text": pl.Series(distinct, dtype=pl.String), "value": pl.Series(parsed, dtype=dtype),
                               "why": pl.Series(why, dtype=pl.String)})
        joined = pl.DataFrame({"text": present}).join(lookup, on="text", how="left", maintain_order="left")
        values = joined.get_column("value").alias(text.name)
        reason = joined.get_column("why").fill_null("")
        bad = joined.get_column("why").is_not_null()
    if spec.enum is not None:
        outside = (values.is_not_null() & ~values.is_in(list(spec.enum))).fill_null(False)
        if outside.any():
            shown = ", ".join(str(v) for v in spec.enum)
            text_reason = f"is not in the field's controlled vocabulary ({shown})"
            reason = pl.when(outside).then(pl.lit(text_reason)).otherwise(reason if isinstance(reason, pl.Series) else pl.lit(reason))
            reason = pl.select(reason.alias("r")).to_series()
            bad = bad | outside
            values = values.set(outside, None)
    return values.alias(spec.name), bad.fill_null(False), reason


def type_frame(table: Table, fields: list["FieldSpec"]) -> tuple[Any, list[Problem]]:
    """The resource's typed polars frame (one column per schema field) and every cell or row that
    does not load: wrong row width, a cell over `nkru.limits.MAX_CELL_CHARS`, a value that does not
    parse as its type or is outside its controlled vocabulary. Assumes the header matches the fields."""
    import polars as pl

    from nkru import limits

    from nkru.reader import Uniform

    width = len(table.header)
    found: list[tuple[int, int, Problem]] = []
    uniform = isinstance(table.widths, Uniform) and table.widths.value == width
    wrong_width = [] if uniform else (pl.Series("w", table.widths, dtype=pl.Int64) != width).arg_true().to_list()
    for index in wrong_width:
        line = table.lines[index]
        found.append((line, -1, Problem(table.path, line, None, None, f"row has {table.widths[index]} cells, the header {width}", table.name)))
    columns = []
    for order, spec in enumerate(fields):
        text = table.text.get_column(table.column_name(spec.name))
        too_long = (text.str.len_chars() > limits.MAX_CELL_CHARS).fill_null(False)
        if too_long.any():
            where = too_long.arg_true()
            lengths = text.str.len_chars().gather(where).to_list()
            reason = pl.repeat("", len(text), eager=True, dtype=pl.String).scatter(
                where, [f"has {n:,} characters, more than a cell may hold ({limits.MAX_CELL_CHARS:,})" for n in lengths])
            shown = text.str.slice(0, 60) + "…"
            _cell_problems(too_long, reason, spec, shown, table.lines, found, order, table.path, table.name)
            text = text.set(too_long, "")
        values, bad, reason = type_column(spec, text)
        bad = bad & ~too_long  # cells of a row of the wrong width are checked too (padded with "", as frictionless does)
        if bad.any():
            _cell_problems(bad, reason, spec, text, table.lines, found, order, table.path, table.name)
        columns.append(values)
    found.sort(key=lambda item: (item[0], item[1]))
    return pl.DataFrame(columns) if columns else pl.DataFrame(), [problem for _, _, problem in found]


def _read_problem(exc: ReadError, path: str, name: str) -> Problem:
    """A ReadError from the one reader as a Problem naming file and line."""
    reason = exc.detail
    if exc.line is not None:
        reason = re.sub(r"^line [0-9]+:? ", "", reason)
    return Problem(path, exc.line, None, None, f"{reason} (resource {name!r})", name)


def _read(package: Package, name: str) -> tuple[str, Table]:
    """(path, text table) of a resource, read by the package's one reader, or LoadError."""
    spec = package.resources[name]
    if not isinstance(name, str) or spec.name_problem:
        raw = spec.descriptor.get("name")
        raise LoadError(Problem(DESCRIPTOR, None, "name", str(raw),
                                f"a resource name must be a string, used once ({spec.name_problem})"))
    if spec.problem and (spec.path is None or spec.schema is None):
        raise LoadError(Problem(DESCRIPTOR, None, None, None, f"resource {name!r}: {spec.problem}", name))
    if spec.path is None or is_remote(spec.path):
        raise LoadError(Problem(DESCRIPTOR, None, None, None, f"resource {name!r}: no local path to load", name))
    if spec.schema is None:
        raise LoadError(Problem(DESCRIPTOR, None, None, None, f"resource {name!r}: no Table Schema", name))
    table = package.table(name)
    if table is None:
        raise LoadError(_read_problem(package.read_failures[name], spec.path, name))
    return spec.path, table


def schema_field_specs(package: Package, name: str) -> list[FieldSpec]:
    """The resource's fields as FieldSpecs (raises LoadError for an enum value of the wrong type)."""
    schema = package.resources[name].schema or {}
    schema_missing = _missing_values(schema.get("missingValues"))
    types = package.field_types(name)
    return [FieldSpec.from_descriptor(f, schema_missing, type=types[f["name"]], enum=package.enum(name, f["name"]))
            for f in package.fields(name)]


def header_problem(table: Table, names: list[str]) -> Problem | None:
    """Why the header does not match the schema's fields, or None when it does."""
    if not table.header:
        return Problem(table.path, 1, None, None, "file is empty (no header row)", table.name)
    if table.header == names:
        return None
    missing = [n for n in names if n not in table.header]
    extra = [h for h in table.header if h not in names]
    detail = []
    if table.read.suspect_delimiter:
        detail.append(f"the file looks separated by {delimiter_name(table.read.suspect_delimiter)}, not by the "
                      f"declared delimiter (save it comma-separated or declare the dialect)")
    if missing:
        detail.append(f"missing {', '.join(missing)}")
    if extra:
        detail.append(f"not in the schema: {', '.join(extra)}")
    if not detail:
        detail.append(f"columns out of order (schema order: {', '.join(names)})")
    return Problem(table.path, 1, None, ",".join(table.header), "(the header) does not match the schema: " + "; ".join(detail), table.name)


#: A column the loader derives (it is not in the CSV): the date range as an EDTF / ISO 8601-2 string.
EDTF = FieldSpec(
    name="date_edtf", type="string", title="Date (EDTF)",
    description="Derived from date_start and date_end by the loader (not stored in the CSV): the date range as an "
                "Extended Date/Time Format (ISO 8601-2) string: the unit itself for a day, month or year (2024-11-22, "
                "2022-11, 2017), an interval otherwise (2022-12-01/2023-12-31).")


def with_derived(fields: list[FieldSpec], frame: Any) -> tuple[list[FieldSpec], Any]:
    """The fields and frame with the derived columns added: `date_edtf` for a resource whose schema has the
    dates `date_start` and `date_end` (and no field of that name). Column-wise (`nkru.dates.edtf_expr`)."""
    from nkru.dates import edtf_expr

    kinds = {spec.name: spec.kind for spec in fields}
    if kinds.get("date_start") != "date" or kinds.get("date_end") != "date" or EDTF.name in kinds:
        return fields, frame
    return [*fields, EDTF], frame.with_columns(edtf_expr().alias(EDTF.name))


def read_table(package: Package, name: str) -> TypedTable:
    """Read and type one resource; LoadError lists every cell that does not parse."""
    path, text = _read(package, name)
    spec = package.resources[name]
    res, schema = spec.descriptor, spec.schema or {}
    fields = schema_field_specs(package, name)
    problem = header_problem(text, [f.name for f in fields])
    if problem is not None:
        raise LoadError(problem)
    frame, problems = type_frame(text, fields)
    if problems:
        raise LoadError(problems)
    fields, frame = with_derived(fields, frame)
    description = res.get("description") or schema.get("description")
    return TypedTable(
        name=name,
        path=path,
        fields=fields,
        frame=frame,
        lines=list(text.lines),
        title=res.get("title") if isinstance(res.get("title"), str) else None,
        description=description if isinstance(description, str) else None,
        primary_key=package.primary_key(name),
        foreign_keys=package.foreign_keys(name),
    )


def read_package(path: str | Path = ".", *, resources: Sequence[str] | None = None) -> TypedPackage:
    """Every tabular resource (or those named) read with its schema's types, as Python values.

    Raises PackageError when there is no package at `path` and LoadError when a table cannot be loaded.
    """
    package = Package.open(path)
    names = [n for n, spec in package.resources.items() if _is_table(spec)]
    if resources is not None:
        unknown = [n for n in resources if n not in package.resources]
        if unknown:
            raise LoadError(f"unknown resource(s): {', '.join(unknown)} (known: {', '.join(package.resources)})")
        names = [n for n in names if n in resources]
    tables: dict[str, TypedTable] = {}
    problems: list[Problem] = []
    for name in names:
        try:
            tables[name] = read_table(package, name)
        except LoadError as exc:  # report every resource's problems at once
            problems.extend(exc.problems)
    if problems:
        raise LoadError(problems)
    return TypedPackage(root=package.root, descriptor=package.descriptor, tables=tables)


# -- frames --------------------------------------------------------------------


def _pandas_column(spec: FieldSpec, values: list[Any]):
    import pandas as pd

    if spec.enum is not None:
        return pd.Categorical(values, categories=list(spec.enum))
    kind = spec.kind
    if kind in ("integer", "year"):
        return pd.array(values, dtype="Int64")
    if kind == "number":
        return pd.array(values, dtype="Float64")
    if kind == "boolean":
        return pd.array(values, dtype="boolean")
    if kind == "date":
        return pd.Series(values, dtype="datetime64[s]").array
    if kind == "datetime":
        return pd.Series(values, dtype="datetime64[us, UTC]").array
    if kind == "time":
        return pd.Series(values, dtype="object").array
    return pd.array(values, dtype="string")


def to_pandas(table: TypedTable):
    """A pandas DataFrame with the schema's dtypes (see the module docstring)."""
    import pandas as pd

    data = {spec.name: _pandas_column(spec, table.columns[spec.name]) for spec in table.fields}
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(table)))
    frame.attrs["resource"] = table.name
    frame.attrs["path"] = table.path
    return frame


def polars_dtype(spec: FieldSpec):
    import polars as pl

    if spec.enum is not None and spec.kind == "string":
        return pl.Enum(list(spec.enum))
    return {
        "integer": pl.Int64,
        "year": pl.Int64,
        "number": pl.Float64,
        "boolean": pl.Boolean,
        "date": pl.Date,
        "datetime": pl.Datetime("us", "UTC"),
        "time": pl.Time,
    }.get(spec.kind, pl.String)


def to_polars(table: TypedTable):
    """A polars DataFrame: pl.Date, pl.Int64, pl.Enum for controlled values, pl.String."""
    import polars as pl

    casts = [pl.col(spec.name).cast(polars_dtype(spec)) for spec in table.fields
             if table.frame.schema[spec.name] != polars_dtype(spec)]
    return table.frame.with_columns(casts) if casts else table.frame


CONVERTERS: dict[str, Callable[[TypedTable], Any]] = {"pandas": to_pandas, "polars": to_polars}


class Data(Mapping[str, Any]):
    """Resource name -> DataFrame, with attribute access (`data.claims` is `data["claims"]`).

    `descriptor`, `name`, `version` and `schema(resource)` describe the package the frames came from.
    """

    def __init__(self, frames: dict[str, Any], package: TypedPackage, engine: str):
        self._frames = frames
        self._package = package
        self.engine = engine

    def __getitem__(self, name: str) -> Any:
        try:
            return self._frames[name]
        except KeyError:
            raise KeyError(f"no resource {name!r} (resources: {', '.join(self._frames)})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    def __getattr__(self, name: str) -> Any:
        frames = self.__dict__.get("_frames", {})
        if name in frames:
            return frames[name]
        raise AttributeError(f"no resource {name!r} (resources: {', '.join(frames)})")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._frames))

    def __repr__(self) -> str:
        shapes = ", ".join(f"{name}: {len(self._package.tables[name])} rows" for name in self._frames)
        return f"<nkru data {self.name} {self.version or ''} ({self.engine}) {shapes}>"

    @property
    def descriptor(self) -> dict[str, Any]:
        return self._package.descriptor

    @property
    def name(self) -> str:
        return self._package.name

    @property
    def version(self) -> str | None:
        return self._package.version

    @property
    def root(self) -> Path:
        return self._package.root

    def fields(self, resource: str) -> list[FieldSpec]:
        """The resource's fields (name, type, title, description, enum, ...)."""
        return list(self._package.tables[resource].fields)

    def table(self, resource: str) -> TypedTable:
        """The typed table behind a frame (values as Python objects, file lines)."""
        return self._package.tables[resource]


def load(
    path: str | Path = ".",
    engine: str = "pandas",
    *,
    resources: Sequence[str] | None = None,
    validate: bool | Sequence[str] = False,
) -> Data:
    """Load the package at `path` as DataFrames typed from its Table Schemas.

    engine: "pandas" (default) or "polars".
    resources: load only these resources (default: every table).
    validate: False (default, fast) only parses types; True runs all `nkru validate` layers
        first, a list runs those layers (e.g. ["structure"]); an invalid package raises PackageInvalid.

    Raises LoadError (a ValueError) naming file, line, field and value for a cell that does
    not parse, PackageError when there is no datapackage.json at `path`.
    """
    if engine not in CONVERTERS:
        raise ValueError(f"unknown engine {engine!r} (choose from {', '.join(CONVERTERS)})")
    if validate:
        from nkru.api import validate_package

        only = None if validate is True else list(validate)  # type: ignore[arg-type]
        report = validate_package(path, only=only)
        if not report.valid:
            raise PackageInvalid(report)
    package = read_package(path, resources=resources)
    convert = CONVERTERS[engine]
    frames = {name: convert(table) for name, table in package.tables.items()}
    return Data(frames, package, engine)
