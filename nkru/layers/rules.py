"""Rules layer: the semantic rules a Table Schema cannot say, as pandera DataFrameModels.

Every rule is a check on a pandera model, validated lazily so that all
failures are collected; each failure case becomes one Finding at the CSV file
line of its row. Which tables a rule applies to is read from the schemas:

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
  field a valid BCP 47 tag (langcodes);
- text hygiene, every cell: NFC, no leading or trailing whitespace, no control characters; and,
  outside numeric fields (Table Schema types integer and number), no cell a spreadsheet would run as
  a formula.

Malformed values (a date that is not a date, an unknown reference) are the structure layer's to
report: a rule skips them rather than reporting the same problem twice.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors
from pandera.typing import Series

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
       description="A non-numeric cell starts with =, +, -, @, tab or CR.")
define("rule-error", NAME, "{resource}: rule {check} could not run: {value}",
       description="A rule raised an error instead of judging the data (a bug in the rule; please report it).")


# -- pure predicates (shared by the models and the messages) ----------------------------------------


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


# -- the models ---------------------------------------------------------------------------------------


class _Model(pa.DataFrameModel):
    class Config:
        strict = False
        coerce = False


class DatedRows(_Model):
    """A dated row: the range is in order and its precision is the most specific true description of it
    (day, month, year when it is exactly that unit, range otherwise). Column-wise (`nkru.dates`)."""

    date_start: Series[str]
    date_end: Series[str]
    date_precision: Series[str]

    @pa.dataframe_check(name="date-order")
    def order(cls, df: pd.DataFrame) -> pd.Series:
        return dates.order_agrees(df["date_start"], df["date_end"])

    @pa.dataframe_check(name="date-precision")
    def precision(cls, df: pd.DataFrame) -> pd.Series:
        return dates.precision_agrees(df["date_start"], df["date_end"], df["date_precision"])


class SourceDatedRows(_Model):
    """A row taken from a source is not dated after the source's publication (`source_date_end`)."""

    date_start: Series[str]
    source_date_end: Series[str]

    @pa.dataframe_check(name="dated-after-source")
    def not_after_source(cls, df: pd.DataFrame) -> pd.Series:
        return dates.order_agrees(df["date_start"], df["source_date_end"])


class ClaimEventRows(_Model):
    """A row's claim is about the row's own event (`claim_event` is the referenced claim's event)."""

    event: Series[str]
    claim_event: Series[str]

    @pa.dataframe_check(name="claim-event-mismatch")
    def same_event(cls, df: pd.DataFrame) -> pd.Series:
        own, claimed = df["event"].fillna(""), df["claim_event"].fillna("")
        return ((own == "") | (claimed == "") | (own == claimed)).astype(bool)


class HierarchyRows(_Model):
    """A self-referencing key (`key` -> `parent`) without self-references or cycles."""

    key: Series[str]
    parent: Series[str]

    @pa.dataframe_check(name="self-reference")
    def not_self(cls, df: pd.DataFrame) -> pd.Series:
        key, parent = df["key"].fillna(""), df["parent"].fillna("")
        return ((parent == "") | (parent != key)).astype(bool)

    @pa.dataframe_check(name="reference-cycle")
    def no_cycle(cls, df: pd.DataFrame) -> pd.Series:
        key, parent = df["key"].fillna(""), df["parent"].fillna("")
        on_cycle = pd.Series(_on_cycle(key, parent), index=df.index)
        return ((parent == "") | (parent == key) | ~on_cycle).astype(bool)


class LinkedRows(_Model):
    """Every row is referenced by at least one row of a link table (`links` counts them)."""

    links: Series[int]

    @pa.dataframe_check(name="event-without-actors")
    def has_links(cls, df: pd.DataFrame) -> pd.Series:
        return df["links"] > 0


class QuantityRows(_Model):
    """`quantity` and its companions (every column of the frame) are all set or all empty."""

    @pa.dataframe_check(name="quantity-incomplete")
    def together(cls, df: pd.DataFrame) -> pd.Series:
        filled = (df != "").sum(axis=1)
        return (filled == 0) | (filled == len(df.columns))


class CountryCodes(_Model):
    code: Series[str]

    @pa.check("code", name="country-code")
    def real_country(cls, values: pd.Series) -> pd.Series:
        return _valid_values(values, is_country)


class LanguageTags(_Model):
    tag: Series[str]

    @pa.check("tag", name="language-tag")
    def real_language(cls, values: pd.Series) -> pd.Series:
        return _valid_values(values, is_language)


def _valid_values(values: pd.Series, valid: Callable[[str], bool]) -> pd.Series:
    """Empty or valid per cell, asking `valid` once per distinct value."""
    text = values.fillna("")
    good = [v for v in text.unique().tolist() if not v or valid(v)]
    return text.isin(good).astype(bool)


def _on_cycle(key: pd.Series, parent: pd.Series) -> list[bool]:
    """Per row: is its key on a cycle of the key -> parent graph (self-references aside)?

    Column-wise: rows whose key no remaining row names as parent cannot be on a cycle and are
    dropped, round after round (one round per level of the longest chain); what remains is cycles.
    """
    import polars as pl

    edges = pl.DataFrame({"key": key.tolist(), "parent": parent.tolist()}, schema={"key": pl.String, "parent": pl.String})
    edges = edges.filter((pl.col("key") != "") & (pl.col("parent") != "") & (pl.col("parent") != pl.col("key")))
    edges = edges.unique(subset="key", keep="first", maintain_order=True)
    while edges.height:
        named = edges.get_column("parent").unique()
        kept = edges.filter(pl.col("key").is_in(named.implode()))
        kept = kept.filter(pl.col("parent").is_in(kept.get_column("key").implode()))
        if kept.height == edges.height:
            break
        edges = kept
    return key.fillna("").isin(edges.get_column("key").to_list()).tolist()


def _parent_map(df: pd.DataFrame) -> dict[str, str]:
    parents: dict[str, str] = {}
    for key, parent in zip(df["key"].tolist(), df["parent"].tolist()):
        if key and key not in parents:  # a duplicate key is the structure layer's to report
            parents[key] = parent or ""
    return parents


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


def _text(table: Table, columns: Iterable[str], rename: dict[str, str] | None = None):
    """Some columns of a table as a polars frame of text ("" for an empty or absent cell)."""
    import polars as pl

    exprs = []
    for column in dict.fromkeys(columns):
        name = table.column_name(column)
        value = pl.col(name).fill_null("") if name is not None else pl.lit("", dtype=pl.String)
        exprs.append(value.alias((rename or {}).get(column, column)))
    if not table.text.columns:
        return pl.DataFrame({e.meta.output_name(): pl.Series([], dtype=pl.String) for e in exprs})
    return table.text.select(exprs)


def _frame(table: Table, columns: Iterable[str], rename: dict[str, str] | None = None) -> pd.DataFrame:
    """Some columns of a table as a pandas frame of strings (a column missing from the file reads as empty cells)."""
    frame = _text(table, columns, rename).to_pandas().astype("string")
    frame.index = pd.RangeIndex(len(frame))
    return frame


def _row(table: Table, index: int) -> dict[str, str]:
    """One row as header label -> text (only for rows a rule reports)."""
    values = table.text.row(index)
    return {label: value or "" for label, value in zip(table.header, values)}


def _joined(table: Table, fields: Iterable[str], parent: Table, ref_fields: Iterable[str], wanted: str) -> pd.Series:
    """Per row of `table`: `wanted` of the first `parent` row whose `ref_fields` equal the row's `fields`
    ("" when there is none) — a left join, not a loop."""
    import polars as pl

    fields, ref_fields = list(fields), list(ref_fields)
    keys = [f"k{i}" for i in range(len(fields))]
    lookup = _text(parent, [*ref_fields, wanted]).rename(dict(zip(ref_fields, keys))) \
        .unique(subset=keys, keep="first", maintain_order=True).select(*keys, pl.col(wanted).alias("_wanted"))
    child = _text(table, fields).rename(dict(zip(fields, keys)))
    joined = child.join(lookup, on=keys, how="left", maintain_order="left").get_column("_wanted").fill_null("")
    return pd.Series(joined.to_list(), index=pd.RangeIndex(len(joined)), dtype="string")


def _checks_made(model: type[pa.DataFrameModel], frame: pd.DataFrame) -> int:
    schema = model.to_schema()
    per_row = len(schema.checks)
    for name, column in schema.columns.items():
        matched = sum(1 for c in frame.columns if re.match(name, str(c))) if column.regex else int(name in frame.columns)
        per_row += len(column.checks) * matched
    return per_row * len(frame)


def run_model(model: type[pa.DataFrameModel], frame: pd.DataFrame, result: LayerResult, resource: str) -> list[Failure]:
    """Validate lazily; every failure once per (check, row, column). Rules that crash become `rule-error` findings."""
    if frame.empty:
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
    for case in cases.to_dict("records"):
        check = str(case.get("check"))
        index = case.get("index")
        if index is None or (isinstance(index, float) and index != index):
            result.findings.append(Finding.make("rule-error", resource=resource, value=case.get("failure_case"), check=check))
            continue
        column = None if check in dataframe_checks else case.get("column")
        key = (check, int(index), column)
        if key in seen:
            continue  # a dataframe check lists one case per column of the failing row
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
        frame = _frame(table, dates.DATE_COLUMNS)
        for failure in run_model(DatedRows, frame, result, name):
            row = _row(table, failure.index)
            start, end, precision = (row.get(c, "") for c in ("date_start", "date_end", "date_precision"))
            where = _where(name, table, failure.index)
            if failure.check == "date-order":
                result.findings.append(Finding.make("date-order", field="date_start", value=start, end=end, **where))
            else:
                detail = dates.precision_problem(dates.parse_date(start), dates.parse_date(end), precision)
                result.findings.append(Finding.make("date-precision", field="date_precision", value=precision,
                                                    start=start, end=end, detail=detail, **where))


def _source_date_rules(package: Package, tables: dict[str, Table], result: LayerResult) -> None:
    sources = tables.get(SOURCES)
    if sources is None or SOURCES not in dated_resources(package):
        return
    for name in dated_resources(package):
        table = tables.get(name)
        if table is None or name == SOURCES:
            continue
        for fk in package.foreign_keys(name):
            fields, target, ref_fields = fk.fields, fk.resource, fk.reference_fields
            if target != SOURCES:
                continue
            frame = _frame(table, ["date_start"])
            frame["source_date_end"] = _joined(table, fields, sources, ref_fields, "date_end")
            for failure in run_model(SourceDatedRows, frame, result, name):
                row = _row(table, failure.index)
                source_key = ",".join(row.get(f, "") for f in fields)
                result.findings.append(Finding.make(
                    "dated-after-source", field="date_start", value=row.get("date_start", ""), source_id=source_key,
                    source_end=frame.at[failure.index, "source_date_end"], **_where(name, table, failure.index)))


def _claim_event_rules(package: Package, tables: dict[str, Table], result: LayerResult) -> None:
    claims = tables.get(CLAIMS)
    if claims is None or EVENT_ID not in package.field_names(CLAIMS):
        return
    for name, table in tables.items():
        if name == CLAIMS or EVENT_ID not in package.field_names(name):
            continue
        for fk in package.foreign_keys(name):
            fields, target, ref_fields = fk.fields, fk.resource, fk.reference_fields
            if target != CLAIMS:
                continue
            frame = _frame(table, [EVENT_ID], rename={EVENT_ID: "event"})
            frame["claim_event"] = _joined(table, fields, claims, ref_fields, EVENT_ID)
            field = ",".join(fields)
            for failure in run_model(ClaimEventRows, frame, result, name):
                row = _row(table, failure.index)
                result.findings.append(Finding.make(
                    "claim-event-mismatch", field=field, value=",".join(row.get(f, "") for f in fields),
                    event_field=EVENT_ID, expected=frame.at[failure.index, "claim_event"], actual=row.get(EVENT_ID, ""),
                    **_where(name, table, failure.index)))


def _hierarchy_rules(package: Package, tables: dict[str, Table], result: LayerResult) -> None:
    for name, table in tables.items():
        for fk in package.foreign_keys(name):
            fields, target, ref_fields = fk.fields, fk.resource, fk.reference_fields
            if target != name or len(fields) != 1:
                continue
            if ref_fields[0] == fields[0]:
                continue  # a key referring to itself by definition: nothing to check
            frame = _frame(table, [ref_fields[0], fields[0]], rename={ref_fields[0]: "key", fields[0]: "parent"})
            failures = run_model(HierarchyRows, frame, result, name)
            parents = _parent_map(frame) if failures else {}
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
            import polars as pl

            keys = [f"k{i}" for i in range(len(fields))]
            counts = _text(child_table, fields).rename(dict(zip(fields, keys))).group_by(keys).len("links")
            links = _text(events, ref_fields).rename(dict(zip(ref_fields, keys))) \
                .join(counts, on=keys, how="left", maintain_order="left").get_column("links").fill_null(0)
            frame = pd.DataFrame({"links": links.cast(pl.Int64).to_numpy()}, index=pd.RangeIndex(len(links)))
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
        frame = _frame(table, group)
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
            frame = _frame(table, [field], rename={field: column})
            for failure in run_model(model, frame, result, name):
                result.findings.append(Finding.make(code, field=field, value=_row(table, failure.index).get(field, ""),
                                                    **_where(name, table, failure.index)))


#: Every character Python calls whitespace (what `str.strip()` removes), for the polars strip.
#: (Written out: computing it at import walks every code point, about half a second.)
_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
               "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
#: Text made only of these characters is NFC whatever follows whatever: none of them changes under
#: NFC, and none is the second half of a canonical composition (checked in tests/test_rules.py).
#: Latin, Latin-1, IPA, general punctuation and currency signs: most German text.
_ALWAYS_NFC = "\x00-\u02ff\u2002-\u206f\u20a0-\u20cf"


def _not_nfc(cells):
    """Per cell: is it not in NFC? Only cells with a character outside `_ALWAYS_NFC` are normalised."""
    import polars as pl

    suspect = cells.str.contains(f"[^{_ALWAYS_NFC}]").fill_null(False)
    result = pl.repeat(False, len(cells), eager=True)
    if suspect.any():
        where = suspect.arg_true()
        subset = cells.gather(where)
        result = result.scatter(where, (subset != subset.str.normalize("NFC")).fill_null(False))
    return result


HYGIENE_CHECKS = ("text-control-character", "text-formula", "text-not-nfc", "text-whitespace")


def _hygiene_rules(package: Package, tables: dict[str, Table], result: LayerResult) -> None:
    """Every non-empty cell of every table: NFC, trimmed, no control characters, no formula outside
    numeric fields — column-wise with polars, one column at a time; only failing cells are visited."""
    import polars as pl

    for name, table in tables.items():
        if not len(table) or not table.header:
            continue
        types = package.field_types(name)
        found: list[tuple[int, int, str, str]] = []
        for position, column in enumerate(dict.fromkeys(table.header)):
            cells = table.text.get_column(table.column_name(column)).fill_null("")
            numeric = types.get(column, "string") in NUMERIC_TYPES
            present = cells != ""
            result.checks += int(present.sum()) * (3 if numeric else 4)
            tests = {
                "text-not-nfc": _not_nfc(cells),
                "text-whitespace": cells != cells.str.strip_chars(_WHITESPACE),
                "text-control-character": cells.str.contains(CONTROL_CHARACTERS),
            }
            if not numeric:
                starts = pl.repeat(False, len(cells), eager=True)
                for prefix in FORMULA_PREFIXES:
                    starts = starts | cells.str.starts_with(prefix)
                tests["text-formula"] = starts
            for check, failed in tests.items():
                failed = (failed & present).fill_null(False)
                if failed.any():
                    for index in failed.arg_true().to_list():
                        found.append((index, position, check, cells[index]))
        for index, position, check, value in sorted(found):
            column = table.header[position]
            extra: dict[str, Any] = {}
            if check == "text-control-character":
                extra["char"] = _control_char(value)
            elif check == "text-formula":
                extra["char"] = repr(value[:1])
            result.findings.append(Finding.make(check, field=column, value=value, **extra, **_where(name, table, index)))
