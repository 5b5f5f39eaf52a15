"""THE one type system: a Table Schema field (`FieldSpec`) and the vectorised parsers that type a
column of text cells with it (`type_column`, `type_frame`).

Every reader of typed values goes through here: the structure layer (type errors are its findings),
the rules layer (dates), `load()`, the exports and the report. Parsing is column-wise (polars string
expressions: regex shape checks, casts, `str.to_date`); there is no per-cell parser. To parse one
value (a schema's `minimum`, an enum entry), `FieldSpec.parse` types a one-element column.

A cell that does not parse is null in the typed column, flagged in the mask `type_column` returns
and named with its reason ("is not an integer", "is not a date in the form YYYY-MM-DD ...");
`type_frame` turns those into `Problem`s naming file, line, field and value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FieldSpec", "TYPED", "type_column", "type_frame", "schema_field_specs", "Problem", "LoadError",
           "CellError", "EDTF", "derived_fields", "with_derived", "polars_dtype", "missing_values"]

DESCRIPTOR = "datapackage.json"
_MAX_LISTED = 10


# -- problems ------------------------------------------------------------------


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


class CellError(ValueError):
    """One value does not parse as its field's type (`FieldSpec.parse`); the message is the reason."""


# -- fields --------------------------------------------------------------------

_INTEGER = r"^[+-]?[0-9]+$"
_NUMBER = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_DATETIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?$"
_OFFSET = r"(?:Z|[+-][0-9]{2}:?[0-9]{2})$"
_TIME = r"^[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?$"
_YEAR = r"^[+-]?[0-9]{4}$"
_DEFAULT_TRUE = ("true", "True", "TRUE", "1")
_DEFAULT_FALSE = ("false", "False", "FALSE", "0")

#: Table Schema types read into typed values; any other type (yearmonth, duration, geopoint,
#: object, array, ...) is kept as text.
TYPED = ("string", "integer", "number", "boolean", "date", "datetime", "time", "year")


def missing_values(raw: Any) -> frozenset[str]:
    """A schema's or field's `missingValues` as a set of texts (v2 `{"value": ...}` objects too)."""
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
    """One Table Schema field, as every reader of typed values uses it."""

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
        return self.type if self.type in TYPED else "string"

    @property
    def is_categorical(self) -> bool:
        return self.enum is not None

    @property
    def summary(self) -> str:
        """The description's first paragraph (the vocabulary list that may follow is left out)."""
        return (self.description or "").split("\n\n")[0].strip()

    def parse(self, text: str) -> Any:
        """The typed value of one cell (None when missing), by the vectorised parser on a one-element
        column; raises CellError with the reason."""
        import polars as pl

        values, bad, reason = type_column(self, pl.Series(self.name, [text], dtype=pl.String))
        if bad[0]:
            raise CellError(reason if isinstance(reason, str) else reason[0])
        return values[0]

    @classmethod
    def from_descriptor(cls, descriptor: dict[str, Any], schema_missing: frozenset[str], *,
                        type: str | None = None, enum: list[Any] | None = None) -> "FieldSpec":
        """A field from its descriptor; `type` and `enum` as `Package.field_types`/`Package.enum` give them
        (read from the descriptor, tolerantly, when not given). Raises LoadError for an enum entry that is
        not one value of the field's type."""
        name = descriptor.get("name")
        ftype = type if type is not None else (descriptor["type"] if isinstance(descriptor.get("type"), str) else "string")
        constraints = descriptor.get("constraints") if isinstance(descriptor.get("constraints"), dict) else {}
        if enum is None and isinstance(constraints.get("enum"), list):
            enum = constraints["enum"]
        options = {k: descriptor[k] for k in ("trueValues", "falseValues", "groupChar", "decimalChar", "bareNumber")
                   if k in descriptor and isinstance(descriptor[k], (str, bool, list))}
        missing = missing_values(descriptor["missingValues"]) if "missingValues" in descriptor else schema_missing
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
            spec = cls(**{**spec.__dict__, "enum": _parse_enum(spec, enum)})
        return spec


def _parse_enum(spec: FieldSpec, enum: list[Any]) -> tuple[Any, ...]:
    """The enum's entries as values of the field's type (text entries typed in one column)."""
    import polars as pl

    for item in enum:
        if isinstance(item, (list, dict)) or item is None:  # not one value: polars and SQL cannot hold it
            raise LoadError(f"field {spec.name!r}: enum value {item!r} is not a single value (text, number or boolean)")
        if spec.kind == "string" and not isinstance(item, str):
            raise LoadError(f"field {spec.name!r}: enum value {item!r} is not text, as the field's type is string")
    texts = [item for item in enum if isinstance(item, str)]
    plain = FieldSpec(name=spec.name, type=spec.type, format=spec.format, missing_values=frozenset(), options=spec.options)
    values, bad, reason = type_column(plain, pl.Series(spec.name, texts, dtype=pl.String))
    if bad.any():
        index = bad.arg_true()[0]
        why = reason if isinstance(reason, str) else reason[index]
        raise LoadError(f"field {spec.name!r}: enum value {texts[index]!r} {why}")
    typed = iter(values.to_list())
    parsed = [next(typed) if isinstance(item, str) else item for item in enum]
    if len({value.__class__ for value in parsed}) > 1:
        raise LoadError(f"field {spec.name!r}: enum values are of mixed types ({', '.join(repr(v) for v in parsed[:5])})")
    return tuple(parsed)


def schema_field_specs(package: Any, name: str) -> list[FieldSpec]:
    """A package resource's fields as FieldSpecs (`package` a `nkru.package.Package`); raises LoadError
    for an enum value of the wrong type."""
    schema = package.resources[name].schema or {}
    schema_missing = missing_values(schema.get("missingValues"))
    types = package.field_types(name)
    return [FieldSpec.from_descriptor(f, schema_missing, type=types[f["name"]], enum=package.enum(name, f["name"]))
            for f in package.fields(name)]


# -- the vectorised parsers ------------------------------------------------------


def _numbers(spec: FieldSpec, present: Any) -> tuple[Any, Any, str]:
    import polars as pl

    kind = spec.kind
    cleaned = present
    group = spec.options.get("groupChar")
    if group:
        cleaned = cleaned.str.replace_all(group, "", literal=True)
    if kind == "number" and spec.options.get("decimalChar", ".") != ".":
        cleaned = cleaned.str.replace_all(spec.options["decimalChar"], ".", literal=True)
    if spec.options.get("bareNumber", True) is False:
        cleaned = cleaned.str.replace_all(r"^[^0-9+.-]+|[^0-9.]+$" if kind == "number" else r"^[^0-9+-]+|[^0-9]+$", "")
    if kind == "integer":
        shape = cleaned.str.contains(_INTEGER)
        values = cleaned.str.strip_prefix("+").cast(pl.Int64, strict=False)
        return values, shape, "is not an integer"
    special = cleaned.is_in(["NaN", "INF", "-INF", "+INF"])
    shape = cleaned.str.contains(_NUMBER) | special
    values = cleaned.str.replace("INF", "inf", literal=True).str.strip_prefix("+").cast(pl.Float64, strict=False)
    return values, shape, "is not a number"


def _temporal(spec: FieldSpec, present: Any) -> tuple[Any, Any, str]:
    """(values, shape ok, reason) for date, datetime, time and year, by polars' (chrono's) parsers."""
    import polars as pl

    kind = spec.kind
    fmt = spec.format or "default"
    default = fmt in ("default", "any")
    if kind == "year":
        return present.cast(pl.Int64, strict=False), present.str.contains(_YEAR), "is not a year (YYYY)"
    if kind == "date":
        shown = ("the form YYYY-MM-DD: a four-digit year, a two-digit month and a two-digit day, e.g. 2024-06-01"
                 if default else f"the form {fmt}")
        values = present.str.to_date("%Y-%m-%d" if default else fmt, strict=False)
        shape = present.str.contains(_DATE) if default else pl.repeat(True, len(present), eager=True)
        return values, shape & (values.dt.year() >= 1), f"is not a date in {shown}"  # year 0: not a Python date
    if kind == "time":
        values = present.str.to_time("%H:%M:%S%.f" if default else fmt, strict=False)
        shape = present.str.contains(_TIME) if default else pl.repeat(True, len(present), eager=True)
        return values, shape, "is not a time (hh:mm:ss)"
    # datetime: UTC unless the value carries an offset (Table Schema)
    dtype = pl.Datetime("us", "UTC")
    if default:
        shape = present.str.contains(_DATETIME)
        offset = present.str.contains(_OFFSET)
        local = present.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us").dt.replace_time_zone("UTC")
        aware = present.str.replace(r"Z$", "+00:00").str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False,
                                                                       time_unit="us", time_zone="UTC")
        values = pl.select(pl.when(offset).then(aware).otherwise(local)).to_series().cast(dtype)
    else:
        shape = pl.repeat(True, len(present), eager=True)
        values = present.str.to_datetime(fmt, strict=False, time_unit="us")
        values = values.dt.convert_time_zone("UTC") if values.dtype.time_zone else values.dt.replace_time_zone("UTC")
    return values, shape & (values.dt.year() >= 1), "is not a datetime (YYYY-MM-DDThh:mm:ss[Z])"


def type_column(spec: FieldSpec, text: Any) -> tuple[Any, Any, Any]:
    """(typed polars Series, mask of cells that do not parse, reason: a string or one per cell) for one
    text column.

    Missing values (the schema's `missingValues`) become null and are never bad; a value outside the
    field's enum is bad ("is not in the field's controlled vocabulary (...)") and null.
    """
    import polars as pl

    text = text.fill_null("")
    missing = text.is_in(list(spec.missing_values)) if spec.missing_values else pl.repeat(False, len(text), eager=True)
    present = text.set(missing, None) if missing.any() else text
    kind = spec.kind
    reason: Any = ""
    if kind == "string":
        values, bad = present, pl.repeat(False, len(text), eager=True)
    else:
        if kind in ("integer", "number"):
            values, shape, reason = _numbers(spec, present)
        elif kind == "boolean":
            true = list(spec.options.get("trueValues", _DEFAULT_TRUE))
            false = list(spec.options.get("falseValues", _DEFAULT_FALSE))
            values = pl.Series(text.name, [None] * len(text), dtype=pl.Boolean)
            values = values.set(present.is_in(true).fill_null(False), True).set(present.is_in(false).fill_null(False), False)
            shape, reason = values.is_not_null(), "is not a boolean"
        else:
            try:
                values, shape, reason = _temporal(spec, present)
            except pl.exceptions.PolarsError:  # a format polars cannot use: no value parses
                values = pl.Series(text.name, [None] * len(text), dtype=polars_dtype(spec))
                shape, reason = pl.repeat(False, len(text), eager=True), f"is not a {kind} in the form {spec.format}"
        bad = (present.is_not_null() & (~shape.fill_null(False) | values.is_null())).fill_null(False)
        values = values.set(bad, None) if bad.any() else values
    if spec.enum is not None:
        outside = (values.is_not_null() & ~values.is_in(list(spec.enum))).fill_null(False)
        if outside.any():
            shown = ", ".join(str(v) for v in spec.enum)
            text_reason = f"is not in the field's controlled vocabulary ({shown})"
            reason = pl.select(pl.when(outside).then(pl.lit(text_reason)).otherwise(
                reason if isinstance(reason, pl.Series) else pl.lit(reason)).alias("r")).to_series()
            bad = bad | outside
            values = values.set(outside, None)
    return values.alias(spec.name), bad.fill_null(False), reason


def _cell_problems(mask: Any, reason: Any, spec: FieldSpec, text: Any, lines: Any,
                   out: list[tuple[int, int, Problem]], order: int, path: str, resource: str) -> None:
    """Append a Problem for every row where `mask` is true (`reason` a string or a per-row Series)."""
    import polars as pl

    frame = pl.DataFrame({"i": pl.int_range(0, len(mask), eager=True), "bad": mask, "value": text,
                          "reason": reason if isinstance(reason, pl.Series) else pl.repeat(reason, len(mask), eager=True)})
    for index, value, why in frame.filter(pl.col("bad")).select("i", "value", "reason").iter_rows():
        out.append((lines[index], order, Problem(path, lines[index], spec.name, value, why, resource)))


def type_frame(table: Any, fields: list[FieldSpec]) -> tuple[Any, list[Problem]]:
    """A table's typed polars frame (one column per schema field; `table` a `nkru.reader.Table`) and
    every cell or row that does not load: wrong row width, a cell over `nkru.limits.MAX_CELL_CHARS`, a
    value that does not parse as its type or is outside its controlled vocabulary. Assumes the header
    matches the fields."""
    import polars as pl

    from nkru import limits

    width = len(table.header)
    found: list[tuple[int, int, Problem]] = []
    uniform = getattr(table.widths, "value", None) == width  # a reader.Uniform: every row has the header's width
    wrong_width = [] if uniform else (pl.Series("w", table.widths, dtype=pl.Int64) != width).arg_true().to_list()
    for index in wrong_width:
        line = table.lines[index]
        found.append((line, -1, Problem(table.path, line, None, None, f"row has {table.widths[index]} cells, the header {width}", table.name)))
    columns = []
    for order, spec in enumerate(fields):
        text = table.cells(spec.name)
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


def polars_dtype(spec: FieldSpec) -> Any:
    """The polars dtype a field loads as: pl.Enum for a text field with a vocabulary."""
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


# -- derived columns ------------------------------------------------------------

#: A column derived from the typed values (it is not in the CSV): the date range as an EDTF / ISO 8601-2 string.
EDTF = FieldSpec(
    name="date_edtf", type="string", title="Date (EDTF)",
    description="Derived from date_start and date_end by the loader (not stored in the CSV): the date range as an "
                "Extended Date/Time Format (ISO 8601-2) string: the unit itself for a day, month or year (2024-11-22, "
                "2022-11, 2017), an interval otherwise (2022-12-01/2023-12-31).")


def derived_fields(fields: list[FieldSpec]) -> list[FieldSpec]:
    """The derived columns a table with these fields gets: `date_edtf` for the dates `date_start` and
    `date_end` (unless a field has that name)."""
    kinds = {spec.name: spec.kind for spec in fields}
    if kinds.get("date_start") != "date" or kinds.get("date_end") != "date" or EDTF.name in kinds:
        return []
    return [EDTF]


def with_derived(fields: list[FieldSpec], frame: Any) -> tuple[list[FieldSpec], Any]:
    """The fields and typed frame with the derived columns added, column-wise (`nkru.dates.edtf_expr`)."""
    extra = derived_fields(fields)
    if not extra:
        return fields, frame
    from nkru.dates import edtf_expr

    return [*fields, *extra], frame.with_columns(edtf_expr().alias(EDTF.name))


def full_match(text: Any, pattern: str) -> Any:
    """Per cell (a polars String Series): does it match the whole Table Schema `pattern` (an XML Schema regex,
    implicitly anchored)? Python's `re` decides, once per distinct cell, where the Rust engine cannot compile
    the pattern; a pattern neither compiles raises `re.error`."""
    import re

    import polars as pl

    try:
        return text.str.contains(f"^(?:{pattern})$")
    except pl.exceptions.ComputeError:
        compiled = re.compile(pattern)
        distinct = text.unique().to_list()
        return text.replace_strict(distinct, [compiled.fullmatch(v) is not None for v in distinct], return_dtype=pl.Boolean)
