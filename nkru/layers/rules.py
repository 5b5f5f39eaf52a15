"""Rules layer: the semantic rules a Table Schema cannot say, as pandera DataFrameModels on polars frames.

Every rule is a check on a pandera model (`pandera.polars`: the checks are polars expressions),
validated lazily so that all failures are collected; each failure case becomes one Finding at the
CSV file line of its row. The frames are the one reader's polars frames (`Package.table`), columns
selected without copying; date columns are typed by the one type system (`nkru.loader.type_column`),
so a date the structure layer calls malformed is null here and a rule skips it. Which tables a rule
applies to is read from the schemas:

- dates: every resource with the four date columns (`nkru.dates.DATE_COLUMNS`):
  `date_start <= date_end`, and `date_precision` is the range's most specific true description
  (`nkru.dates`: day, month, year when exactly that unit, range otherwise);
  a dated resource with a foreign key to the sources is not dated after its source's `date_end`;
- cross-table: a row's `claim_id` (a foreign key to the claims) names a claim about the row's own
  `event_id`; a self-referencing foreign key (the actors' affiliation) has no self-reference and no
  cycle; every event has a row in each link table (a resource whose primary key includes a
  foreign key to the events, i.e. event_actors); `quantity` and its `quantity_*` companions are all
  set or all empty;
- codes: every `country` field holds an ISO 3166-1 alpha-3 code (pycountry), every `language`
  field a valid BCP 47 tag (langcodes), each distinct value asked once;
- text hygiene, every cell: NFC, no leading or trailing whitespace, no control characters; and,
  outside numeric fields (Table Schema types integer and number), no cell a spreadsheet would run as
  a formula. These are plain polars expressions, not a pandera model: they are the same four checks
  on every column of every table, and one regular expression per cell finds the few cells that may
  fail any of them, where pandera would run each check as its own pass over every column
  (four passes over all the text, the layer's largest cost).

Malformed values (a date that is not a date, an unknown reference) are the structure layer's to
report: a rule skips them rather than reporting the same problem twice.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

import numpy as np
import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaErrors

from nkru import dates
from nkru.findings import Finding, LayerResult, define
from nkru.package import SOURCES, Package, Table

NAME = "rules"

#: Resources some rules are about, by name (their fields and keys are read from the schemas).
EVENTS, CLAIMS = "events", "claims"
EVENT_ID = "event_id"
QUANTITY = "quantity"
COUNTRY, LANGUAGE = "country", "language"
#: Table Schema types whose cells are numbers (a leading "-" or "+" is a sign there, not a formula).
NUMERIC_TYPES = frozenset({"integer", "number"})
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Unicode category Cc: C0 controls, DEL and C1 controls.
CONTROL_CHARACTERS = "[\x00-\x1f\x7f-\x9f]"

define("date-order", NAME, "{resource} line {line}: {row_id} date_start {value} is after date_end {end}",
       description="A dated row's date_start is later than its date_end.")
define("date-precision", NAME, "{resource} line {line}: {row_id} date_precision {value!r} does not fit {start} to {end}: {detail}",
       description="date_precision is not the most specific true description of the range: day = one day, "
                   "month = first to last day of one month, year = 1 January to 31 December, "
                   "range = any other span (never exactly one day, month or year).")
define("dated-after-source", NAME,
       "{resource} line {line}: {row_id} date_start {value} is after its source {source_id} was published (source date_end {source_end})",
       description="A claim or denial is dated after the publication of the source it is taken from.")
define("date-unbounded", NAME, "{resource} line {line}: {row_id} has neither date_start nor date_end: "
       "a dated row needs at least one bound the text supports",
       description="A dated row leaves both date_start and date_end empty (open): at least one side must be bounded.")
define("ends-after-source", NAME,
       "{resource} line {line}: {row_id} date_end {value} is after its source {source_id} was published "
       "(source date_end {source_end}): a statement is made at or before its source's latest publication day",
       description="A claim or denial may end after the latest publication day of its source, so its range "
                   "includes impossible days.")
define("claim-event-mismatch", NAME,
       "{resource} line {line}: {row_id} {field}={value!r} is a claim about {event_field}={expected!r}, but this row has {event_field}={actual!r}",
       description="A denial rebuts a claim about another event than the denial's own event_id.")
define("self-reference", NAME, "{resource} line {line}: {row_id} {field}={value!r} refers to the row itself",
       description="A row is its own parent in a self-referencing key (an actor affiliated with itself).")
define("reference-cycle", NAME, "{resource} line {line}: {row_id} {field}={value!r} is part of a cycle: {cycle}",
       description="A chain of a self-referencing key (the actors' affiliation chain) runs in a circle.")
define("event-without-actors", NAME, "{resource} line {line}: event {row_id} has no row in {child}",
       description="An event has no row in event_actors.")
define("quantity-incomplete", NAME, "{resource} line {line}: {row_id} sets {value} but leaves {field} empty; "
       "{group} are all set or all empty",
       description="quantity, quantity_unit and quantity_qualifier are not all set or all empty.")
define("country-code", NAME, "{resource} line {line}: {row_id} {field} {value!r} is not an ISO 3166-1 alpha-3 country code",
       description="A country is not a current ISO 3166-1 alpha-3 code.")
define("language-tag", NAME, "{resource} line {line}: {row_id} {field} {value!r} is not a valid BCP 47 language tag",
       description="A language is not a valid BCP 47 tag.")
define("text-not-nfc", NAME, "{resource} line {line}: {row_id} {field} is not in Unicode NFC: {value!r}",
       description="A cell is not in Unicode normalisation form C.")
define("text-whitespace", NAME, "{resource} line {line}: {row_id} {field} has leading or trailing whitespace: {value!r}",
       description="A cell starts or ends with whitespace.")
define("text-control-character", NAME, "{resource} line {line}: {row_id} {field} contains the control character {char}: {value!r}",
       description="A cell contains a control character (Unicode category Cc: line breaks, tabs, NUL, ...).")
define("text-formula", NAME, "{resource} line {line}: {row_id} {field} starts with {char}, which a spreadsheet would run as a formula: {value!r}",
       hint="leave the leading character out (a quote may start later in the passage: docs/curation.md §4)",
       description="A non-numeric cell starts with =, +, -, @, tab or CR, also after leading whitespace and line breaks.")
define("rule-error", NAME, "{resource}: rule {check} could not run: {value}",
       description="A rule raised an error instead of judging the data (a bug in the rule; please report it).")


# -- pure predicates (shared by the models and the messages) ----------------------------------------


def formula_prefix(value: str) -> str | None:
    """The character that makes a spreadsheet run `value` as a formula: its first character, or the first
    after leading whitespace and line breaks (`"\\n=1+1"` gives `=`); None when there is none."""
    if value.startswith(FORMULA_PREFIXES):
        return value[:1]
    rest = value.lstrip()
    return rest[:1] if rest.startswith(FORMULA_PREFIXES) else None


def _control_char(value: str) -> str | None:
    for char in value:
        if unicodedata.category(char) == "Cc":
            return f"U+{ord(char):04X}"
    return None


def is_country(value: str) -> bool:
    import pycountry

    return pycountry.countries.get(alpha_3=value) is not None


def is_language(value: str) -> bool:
    import langcodes

    return langcodes.tag_is_valid(value)


# -- the models: each check gets the frame as a polars LazyFrame (`PolarsData`) and returns one
#    boolean column (True = the row passes) ------------------------------------------------------------


class _Model(pa.DataFrameModel):
    class Config:
        strict = False
        coerce = False


class DatedRows(_Model):
    """A dated row: the range is in order and its precision is the most specific true description of it
    (day, month, year when it is exactly that unit, range otherwise). Dates are typed: null = missing
    or malformed, and skipped. `start_open` / `end_open` are true where the cell is empty (an open
    bound): at least one side is bounded, and a range with one open side has precision ``range``."""

    date_start: pl.Date = pa.Field(nullable=True)
    date_end: pl.Date = pa.Field(nullable=True)
    date_precision: str
    start_open: bool
    end_open: bool

    @pa.dataframe_check(name="date-unbounded")
    def bounded(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(~(pl.col("start_open") & pl.col("end_open")))

    @pa.dataframe_check(name="date-open-precision")
    def open_precision(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(dates.open_precision_agrees_expr("start_open", "end_open", "date_precision"))

    @pa.dataframe_check(name="date-order")
    def order(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(dates.order_agrees_expr("date_start", "date_end"))

    @pa.dataframe_check(name="date-precision")
    def precision(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(dates.precision_agrees_expr("date_start", "date_end", "date_precision"))


class SourceDatedRows(_Model):
    """A row taken from a source (a claim or denial: a statement printed in it) is not dated after the
    source's publication (`source_date_end`): it neither starts after it nor may end after it. (An
    empty date_end is the structure layer's: the schemas make it required.)"""

    date_start: pl.Date = pa.Field(nullable=True)
    date_end: pl.Date = pa.Field(nullable=True)
    source_date_end: pl.Date = pa.Field(nullable=True)

    @pa.dataframe_check(name="dated-after-source")
    def not_after_source(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(dates.order_agrees_expr("date_start", "source_date_end"))

    @pa.dataframe_check(name="ends-after-source")
    def ends_by_source(cls, data: pa.PolarsData) -> pl.LazyFrame:
        # A row that already starts after its source is the dated-after-source finding alone.
        starts_in_time = dates.order_agrees_expr("date_start", "source_date_end")
        return data.lazyframe.select(dates.order_agrees_expr("date_end", "source_date_end") | ~starts_in_time)


class ClaimEventRows(_Model):
    """A row's claim is about the row's own event (`claim_event` is the referenced claim's event)."""

    event: str
    claim_event: str

    @pa.dataframe_check(name="claim-event-mismatch")
    def same_event(cls, data: pa.PolarsData) -> pl.LazyFrame:
        own, claimed = pl.col("event"), pl.col("claim_event")
        return data.lazyframe.select((own == "") | (claimed == "") | (own == claimed))


class HierarchyRows(_Model):
    """A self-referencing key (`key` -> `parent`) without self-references or cycles."""

    key: str
    parent: str

    @pa.dataframe_check(name="self-reference")
    def not_self(cls, data: pa.PolarsData) -> pl.LazyFrame:
        key, parent = pl.col("key"), pl.col("parent")
        return data.lazyframe.select((parent == "") | (parent != key))

    @pa.dataframe_check(name="reference-cycle")
    def no_cycle(cls, data: pa.PolarsData) -> pl.LazyFrame:
        key, parent = pl.col("key"), pl.col("parent")
        on_cycle = _cycle_edges(data.lazyframe.collect()).get_column("key")
        return data.lazyframe.select((parent == "") | (parent == key) | ~key.is_in(on_cycle.implode()))


class LinkedRows(_Model):
    """Every row is referenced by at least one row of a link table (`links` counts them)."""

    links: pl.Int64

    @pa.dataframe_check(name="event-without-actors")
    def has_links(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("links") > 0)


class QuantityRows(_Model):
    """`quantity` and its companions (every column of the frame) are all set or all empty."""

    @pa.dataframe_check(name="quantity-incomplete")
    def together(cls, data: pa.PolarsData) -> pl.LazyFrame:
        columns = data.lazyframe.collect_schema().names()
        filled = pl.sum_horizontal([(pl.col(c) != "").cast(pl.Int64) for c in columns])
        return data.lazyframe.select((filled == 0) | (filled == len(columns)))


class CountryCodes(_Model):
    code: str

    @pa.check("code", name="country-code")
    def real_country(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _valid_values(data, is_country)


class LanguageTags(_Model):
    tag: str

    @pa.check("tag", name="language-tag")
    def real_language(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _valid_values(data, is_language)


def _valid_values(data: pa.PolarsData, valid: Callable[[str], bool]) -> pl.LazyFrame:
    """Empty or valid per cell, asking `valid` once per distinct value."""
    column = pl.col(data.key)
    distinct = data.lazyframe.select(column.unique()).collect().to_series().to_list()
    good = pl.Series([v for v in distinct if not v or valid(v)], dtype=pl.String)
    return data.lazyframe.select(column.is_in(good.implode()))


def _cycle_edges(frame: pl.DataFrame) -> pl.DataFrame:
    """The key -> parent edges (first row per key) whose key is on a cycle, self-references aside.

    Column-wise: rows whose key no remaining row names as parent cannot be on a cycle and are
    dropped, round after round (one round per level of the longest chain); what remains is cycles.
    """
    edges = frame.select("key", "parent")
    edges = edges.filter((pl.col("key") != "") & (pl.col("parent") != "") & (pl.col("parent") != pl.col("key")))
    edges = edges.unique(subset="key", keep="first", maintain_order=True)
    while edges.height:
        named = edges.get_column("parent").unique()
        kept = edges.filter(pl.col("key").is_in(named.implode()))
        kept = kept.filter(pl.col("parent").is_in(kept.get_column("key").implode()))
        if kept.height == edges.height:
            break
        edges = kept
    return edges


def _cycle(parents: dict[str, str], start: str) -> list[str] | None:
    """The cycle through `start` (start, ..., start) if following parents from it comes back to it."""
    path = [start]
    seen = {start}
    current = parents.get(start, "")
    while current:
        path.append(current)
        if current == start:
            return path
        if current in seen:
            return None  # a cycle further up the chain, not through `start`
        seen.add(current)
        current = parents.get(current, "")
    return None


# -- running a model and mapping its failures ----------------------------------------------------------


@dataclass
class Failure:
    check: str
    index: int
    column: str | None
    value: Any


def _text(table: Table, columns: Iterable[str], rename: dict[str, str] | None = None) -> pl.DataFrame:
    """Some columns of a table as a polars frame of text ("" for an empty or absent cell); the reader's
    columns are selected, not copied."""
    labels = list(dict.fromkeys(columns))
    names = {label: (rename or {}).get(label, label) for label in labels}
    if not table.text.columns:
        return pl.DataFrame({name: pl.Series([], dtype=pl.String) for name in names.values()})
    return table.select(labels).fill_null("").rename(names)


def _date_specs(package: Package, name: str) -> dict[str, Any]:
    """Field name -> the FieldSpec its date cells are typed with: the schema's own for a date field
    (format, missingValues); a default date field (YYYY-MM-DD) for a field of another type."""
    from nkru.loader import FieldSpec, LoadError, schema_field_specs

    try:
        specs = {spec.name: spec for spec in schema_field_specs(package, name)}
    except LoadError:  # a malformed enum elsewhere in the schema: the structure layer reports it
        specs = {}
    out = {}
    for field in package.field_names(name):
        spec = specs.get(field)
        if spec is None:
            out[field] = FieldSpec(name=field, type="date")
        elif spec.kind != "date":
            out[field] = replace(spec, type="date", format=None, enum=None)
        else:
            out[field] = replace(spec, enum=None)
    return out


def _typed_dates(package: Package, name: str, table: Table, columns: Iterable[str]) -> pl.DataFrame:
    """Date columns of a table typed by the one type system (`nkru.loader.type_column`): a polars Date
    per cell, null where a cell is empty, missing or malformed (the structure layer's to report)."""
    from nkru.loader import FieldSpec, type_column

    columns = list(dict.fromkeys(columns))
    specs = _date_specs(package, name)
    text = _text(table, columns)
    typed = [type_column(specs.get(c) or FieldSpec(name=c, type="date"), text.get_column(c))[0].alias(c) for c in columns]
    return pl.DataFrame(typed, schema={c: pl.Date for c in columns}) if typed else pl.DataFrame()


def _open_flags(table: Table, columns: dict[str, str]) -> list[pl.Series]:
    """Per date column (name -> flag name): True where the cell is empty, an open bound (a malformed
    date is not open: it is the structure layer's to report)."""
    text = _text(table, columns)
    return [(text.get_column(c) == "").alias(flag) for c, flag in columns.items()]


def _row(table: Table, index: int) -> dict[str, str]:
    """One row as header label -> text (only for rows a rule reports)."""
    values = table.text.row(index)
    return {label: value or "" for label, value in zip(table.header, values)}


def _lookup(table: Table, fields: Iterable[str], parent: Table, ref_fields: Iterable[str],
            values: dict[str, pl.Series]) -> pl.DataFrame:
    """Per row of `table`: `values` (columns of `parent`) at the first `parent` row whose `ref_fields`
    equal the row's `fields` (null when there is none) — a left join, not a loop."""
    fields, ref_fields = list(fields), list(ref_fields)
    keys = [f"k{i}" for i in range(len(fields))]
    child = _text(table, fields).rename(dict(zip(fields, keys)))
    # Only the parent rows some child row refers to (a semi-join first): the hash tables stay the size
    # of the child, not of a million claims.
    lookup = _text(parent, ref_fields).rename(dict(zip(ref_fields, keys))).with_columns(**values) \
        .join(child.unique(), on=keys, how="semi", maintain_order="left") \
        .unique(subset=keys, keep="first", maintain_order=True)
    return child.join(lookup, on=keys, how="left", maintain_order="left").drop(keys)


def _checks_made(model: type[pa.DataFrameModel], frame: pl.DataFrame) -> int:
    schema = model.to_schema()
    per_row = len(schema.checks)
    for name, column in schema.columns.items():
        matched = sum(1 for c in frame.columns if re.match(name, str(c))) if column.regex else int(name in frame.columns)
        per_row += len(column.checks) * matched
    return per_row * frame.height


def run_model(model: type[pa.DataFrameModel], frame: pl.DataFrame, result: LayerResult, resource: str) -> list[Failure]:
    """Validate lazily; every failure once per (check, row, column). Rules that crash become `rule-error` findings."""
    if not frame.height:
        return []
    result.checks += _checks_made(model, frame)
    try:
        model.validate(frame, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return []
    failures: list[Failure] = []
    seen: set[tuple] = set()
    dataframe_checks = {check.name for check in model.to_schema().checks}
    for case in cases.iter_rows(named=True):
        check = str(case.get("check"))
        index = case.get("index")
        if index is None:
            result.findings.append(Finding.make("rule-error", resource=resource, value=case.get("failure_case"), check=check))
            continue
        column = None if check in dataframe_checks else case.get("column")
        key = (check, int(index), column)
        if key in seen:
            continue
        seen.add(key)
        failures.append(Failure(check, int(index), column, case.get("failure_case")))
    return sorted(failures, key=lambda f: (f.index, f.check, f.column or ""))


def _where(resource: str, table: Table, index: int) -> dict[str, Any]:
    return dict(resource=resource, path=table.path, line=table.lines[index], row_id=table.row_id(index))


# -- schema lookups -------------------------------------------------------------------------------------


def dated_resources(package: Package) -> list[str]:
    """Resources whose schema has all four date columns."""
    return [name for name in package.resources if set(dates.DATE_COLUMNS) <= set(package.field_names(name))]


# -- the rules ------------------------------------------------------------------------------------------


def check(package: Package, options: Any = None) -> LayerResult:
    result = LayerResult(NAME)
    tables: dict[str, Table] = {}
    for name in package.resources:
        table = package.table(name)
        if table is not None:
            tables[name] = table  # unreadable resources are reported by the structure layer
    for rule in (_date_rules, _source_date_rules, _claim_event_rules, _hierarchy_rules, _link_rules,
                 _quantity_rules, _code_rules, _hygiene_rules):
        rule(package, tables, result)
    return result


def _date_rules(package: Package, tables: dict[str, Table], result: LayerResult) -> None:
    for name in dated_resources(package):
        table = tables.get(name)
        if table is None:
            continue
        typed = _typed_dates(package, name, table, ["date_start", "date_end"])
        frame = typed.with_columns(_text(table, ["date_precision"]).get_column("date_precision"),
                                   *_open_flags(table, {"date_start": "start_open", "date_end": "end_open"}))
        for failure in run_model(DatedRows, frame, result, name):
            row = _row(table, failure.index)
            start, end, precision = (row.get(c, "") for c in ("date_start", "date_end", "date_precision"))
            where = _where(name, table, failure.index)
            if failure.check == "date-order":
                result.findings.append(Finding.make("date-order", field="date_start", value=start, end=end, **where))
            elif failure.check == "date-unbounded":
                result.findings.append(Finding.make("date-unbounded", field="date_start", value="", **where))
            elif failure.check == "date-open-precision":
                side = "date_start" if not start else "date_end"
                result.findings.append(Finding.make(
                    "date-precision", field="date_precision", value=precision, start=start or "..", end=end or "..",
                    detail=f"{side} is open (no bound in the text), so the range is not exactly one {precision} "
                           "and its precision is 'range'", **where))
            else:
                first, last = typed.row(failure.index)
                detail = dates.precision_problem(first, last, precision)
                result.findings.append(Finding.make("date-precision", field="date_precision", value=precision,
                                                    start=start, end=end, detail=detail, **where))


def _source_date_rules(package: Package, tables: dict[str, Table], result: LayerResult) -> None:
    sources = tables.get(SOURCES)
    if sources is None or SOURCES not in dated_resources(package):
        return
    source_end = {"source_end_text": _text(sources, ["date_end"]).get_column("date_end"),
                  "source_date_end": _typed_dates(package, SOURCES, sources, ["date_end"]).get_column("date_end")}
    for name in dated_resources(package):
        table = tables.get(name)
        if table is None or name == SOURCES:
            continue
        for fk in package.foreign_keys(name):
            fields, target, ref_fields = fk.fields, fk.resource, fk.reference_fields
            if target != SOURCES:
                continue
            joined = _lookup(table, fields, sources, ref_fields, source_end)
            frame = _typed_dates(package, name, table, ["date_start", "date_end"]) \
                .with_columns(joined.get_column("source_date_end"))
            for failure in run_model(SourceDatedRows, frame, result, name):
                row = _row(table, failure.index)
                source_key = ",".join(row.get(f, "") for f in fields)
                field = "date_start" if failure.check == "dated-after-source" else "date_end"
                result.findings.append(Finding.make(
                    failure.check, field=field, value=row.get(field, ""), source_id=source_key,
                    source_end=joined.get_column("source_end_text")[failure.index] or "",
                    **_where(name, table, failure.index)))


def _claim_event_rules(package: Package, tables: dict[str, Table], result: LayerResult) -> None:
    claims = tables.get(CLAIMS)
    if claims is None or EVENT_ID not in package.field_names(CLAIMS):
        return
    claims_events = _text(claims, [EVENT_ID]).get_column(EVENT_ID)
    for name, table in tables.items():
        if name == CLAIMS or EVENT_ID not in package.field_names(name):
            continue
        for fk in package.foreign_keys(name):
            fields, target, ref_fields = fk.fields, fk.resource, fk.reference_fields
            if target != CLAIMS:
                continue
            claim_event = _lookup(table, fields, claims, ref_fields, {"claim_event": claims_events}) \
                .get_column("claim_event").fill_null("")
            frame = _text(table, [EVENT_ID], rename={EVENT_ID: "event"}).with_columns(claim_event)
            field = ",".join(fields)
            for failure in run_model(ClaimEventRows, frame, result, name):
                row = _row(table, failure.index)
                result.findings.append(Finding.make(
                    "claim-event-mismatch", field=field, value=",".join(row.get(f, "") for f in fields),
                    event_field=EVENT_ID, expected=claim_event[failure.index], actual=row.get(EVENT_ID, ""),
                    **_where(name, table, failure.index)))


def _hierarchy_rules(package: Package, tables: dict[str, Table], result: LayerResult) -> None:
    for name, table in tables.items():
        for fk in package.foreign_keys(name):
            fields, target, ref_fields = fk.fields, fk.resource, fk.reference_fields
            if target != name or len(fields) != 1:
                continue
            if ref_fields[0] == fields[0]:
                continue  # a key referring to itself by definition: nothing to check
            frame = _text(table, [ref_fields[0], fields[0]], rename={ref_fields[0]: "key", fields[0]: "parent"})
            failures = run_model(HierarchyRows, frame, result, name)
            parents = dict(_cycle_edges(frame).iter_rows()) if failures else {}
            for failure in failures:
                row = _row(table, failure.index)
                where = _where(name, table, failure.index)
                value = row.get(fields[0], "")
                if failure.check == "self-reference":
                    result.findings.append(Finding.make("self-reference", field=fields[0], value=value, **where))
                else:
                    cycle = _cycle(parents, row.get(ref_fields[0], "")) or []
                    result.findings.append(Finding.make("reference-cycle", field=fields[0], value=value,
                                                        cycle=" → ".join(cycle), **where))


def _link_rules(package: Package, tables: dict[str, Table], result: LayerResult) -> None:
    """Every event has a row in each link table: a resource whose primary key includes a foreign key to the events."""
    events = tables.get(EVENTS)
    if events is None:
        return
    for child, child_table in tables.items():
        key = set(package.primary_key(child))
        for fk in package.foreign_keys(child):
            fields, target, ref_fields = fk.fields, fk.resource, fk.reference_fields
            if target != EVENTS or child == EVENTS or not set(fields) <= key:
                continue
            keys = [f"k{i}" for i in range(len(fields))]
            # Whether each event is linked (1) or not (0): a semi-join, not a count of every link per key.
            parents = _text(events, ref_fields).rename(dict(zip(ref_fields, keys))).with_row_index("row")
            linked = parents.join(_text(child_table, fields).rename(dict(zip(fields, keys))), on=keys, how="semi")
            links = np.zeros(len(events), dtype=np.int64)
            links[linked.get_column("row").to_numpy()] = 1
            frame = pl.DataFrame({"links": links})
            for failure in run_model(LinkedRows, frame, result, EVENTS):
                row = _row(events, failure.index)
                result.findings.append(Finding.make("event-without-actors", field=",".join(ref_fields),
                                                    value=",".join(row.get(f, "") for f in ref_fields), child=child,
                                                    **_where(EVENTS, events, failure.index)))


def _quantity_rules(package: Package, tables: dict[str, Table], result: LayerResult) -> None:
    for name, table in tables.items():
        names = package.field_names(name)
        if QUANTITY not in names:
            continue
        group = [QUANTITY] + [n for n in names if n.startswith(QUANTITY + "_")]
        if len(group) < 2:
            continue
        frame = _text(table, group)
        for failure in run_model(QuantityRows, frame, result, name):
            row = _row(table, failure.index)
            filled = [f for f in group if row.get(f)]
            empty = [f for f in group if not row.get(f)]
            result.findings.append(Finding.make(
                "quantity-incomplete", field=",".join(empty), value=", ".join(f"{f}={row.get(f)}" for f in filled),
                group=", ".join(group), **_where(name, table, failure.index)))


def _code_rules(package: Package, tables: dict[str, Table], result: LayerResult) -> None:
    for field, model, column, code in ((COUNTRY, CountryCodes, "code", "country-code"),
                                       (LANGUAGE, LanguageTags, "tag", "language-tag")):
        for name, table in tables.items():
            if field not in package.field_names(name):
                continue
            frame = _text(table, [field], rename={field: column})
            for failure in run_model(model, frame, result, name):
                result.findings.append(Finding.make(code, field=field, value=_row(table, failure.index).get(field, ""),
                                                    **_where(name, table, failure.index)))


# -- text hygiene: plain polars (see the module docstring) -------------------------------------------------

#: Every character Python calls whitespace (what `str.strip()` removes), for the polars strip.
#: (Written out: computing it at import walks every code point, about half a second.)
_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
               "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
#: Text made only of these characters is NFC whatever follows whatever: none of them changes under
#: NFC, and none is the second half of a canonical composition (checked in tests/test_rules.py).
#: Latin, Latin-1, IPA, general punctuation and currency signs: most German text.
_ALWAYS_NFC = "\x00-\u02ff\u2002-\u206f\u20a0-\u20cf"
#: A cell that may fail a hygiene check matches this (one scan per cell; most cells do not match):
#: a first character that is whitespace or a formula prefix, a last character that is whitespace,
#: a control character, or a character outside `_ALWAYS_NFC`. Only matching cells are checked in detail.
_SUSPECT = f"^[{_WHITESPACE}=+\\-@]|[{_WHITESPACE}]$|{CONTROL_CHARACTERS}|[^{_ALWAYS_NFC}]"


def _not_nfc(cells):
    """Per cell: is it not in NFC? Only cells with a character outside `_ALWAYS_NFC` are normalised."""
    suspect = cells.str.contains(f"[^{_ALWAYS_NFC}]").fill_null(False)
    result = pl.repeat(False, len(cells), eager=True)
    if suspect.any():
        where = suspect.arg_true()
        subset = cells.gather(where)
        result = result.scatter(where, (subset != subset.str.normalize("NFC")).fill_null(False))
    return result


HYGIENE_CHECKS = ("text-control-character", "text-formula", "text-not-nfc", "text-whitespace")


def _hygiene_failures(cells: pl.Series, numeric: bool) -> dict[str, pl.Series]:
    """Check name -> per cell: does it fail? (`cells`: non-empty text.)"""
    tests = {
        "text-not-nfc": _not_nfc(cells),
        "text-whitespace": cells != cells.str.strip_chars(_WHITESPACE),
        "text-control-character": cells.str.contains(CONTROL_CHARACTERS),
    }
    if not numeric:
        # A spreadsheet skips leading blanks and line breaks ("\n=1+1" runs as a formula too).
        stripped = cells.str.strip_chars_start(_WHITESPACE)
        starts = pl.repeat(False, len(cells), eager=True)
        for prefix in FORMULA_PREFIXES:
            starts = starts | cells.str.starts_with(prefix) | stripped.str.starts_with(prefix)
        tests["text-formula"] = starts
    return tests


def _hygiene_rules(package: Package, tables: dict[str, Table], result: LayerResult) -> None:
    """Every non-empty cell of every table: NFC, trimmed, no control characters, no formula outside
    numeric fields — one pass per table finds the suspect cells (`_SUSPECT`, every column at once);
    only those are checked in detail and visited."""
    for name, table in tables.items():
        if not len(table) or not table.header:
            continue
        types = package.field_types(name)
        labels = list(dict.fromkeys(table.header))
        columns = [table.column_name(label) for label in labels]
        filled = table.text.select((pl.col(c) != "").sum() for c in columns).row(0)
        suspect = table.text.select(pl.col(c).str.contains(_SUSPECT).fill_null(False) for c in columns)
        found: list[tuple[int, int, str, str]] = []
        for position, (label, column) in enumerate(zip(labels, columns)):
            numeric = types.get(label, "string") in NUMERIC_TYPES
            result.checks += int(filled[position] or 0) * (3 if numeric else 4)
            where = suspect.get_column(column).arg_true()
            if not len(where):
                continue
            cells = table.text.get_column(column).gather(where)
            for check, failed in _hygiene_failures(cells, numeric).items():
                failed = failed.fill_null(False)
                for at in failed.arg_true().to_list():
                    found.append((where[at], position, check, cells[at]))
        for index, position, check, value in sorted(found):
            column = table.header[position]
            extra: dict[str, Any] = {}
            if check == "text-control-character":
                extra["char"] = _control_char(value)
            elif check == "text-formula":
                extra["char"] = repr(formula_prefix(value))
            result.findings.append(Finding.make(check, field=column, value=value, **extra, **_where(name, table, index)))
