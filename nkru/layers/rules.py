"""Rules layer: the project's rules a Table Schema cannot say, as pandera checks on the real typed tables.

Each resource is typed by the one type system (`_typed`: one column per schema field, a polars
Date for a date, an Int64 for an integer, ...) and validated by one pandera schema
(`pandera.polars.DataFrameSchema`) built for it from the rules below: every rule is one named
`pandera.Check` on the column it reports, validated lazily so that every failure is collected.
pandera's failure cases (check, column, row index, failing value) become findings directly: the
row index gives the CSV file line (`Table.lines`) and the row ID, the column the field, the failing
value the value; a rule adds only the other words of its message (`Rule.context`).

One mistake, one finding. Everything a Table Schema declares (types, required, enum, pattern,
min/max, unique, keys) is the structure layer's, and no rule restates it. A cell that did not type
(a wrong type, a value outside its vocabulary or its pattern, a row of the wrong width: a
structure finding) is null here, and a check whose inputs are null is not judged (pandera's
`ignore_na`): the rule stays silent on that row. A resource that could not be read, or whose header
does not match its schema, has no typed table and no rule runs on it.

The rules (which resources they apply to is read from the schemas):

- dates, every resource with the four date columns (`nkru.dates.DATE_COLUMNS`) typed as dates:
  `date-unbounded` (at least one side set), `date-order` (`date_start <= date_end`) and
  `date-precision` (the range's most specific true description: day, month, year when exactly that
  unit, range otherwise; `range` when one side is open);
- a dated resource with a foreign key to the sources: `dated-after-source` (not starting after its
  source's `date_end`) and `ends-after-source` (not ending after it);
- cross-table: `claim-event-mismatch` (a row's claim, a foreign key to the claims, is about the
  row's own `event_id`); `self-reference` and `reference-cycle` on a self-referencing foreign key
  (the actors' affiliation); `event-without-actors` (every event has a row in each link table: a
  resource whose primary key includes a foreign key to the events); `quantity-incomplete`
  (`quantity` and its `quantity_*` companions all set or all empty);
- codes: `country-code` (ISO 3166-1 alpha-3, pycountry) and `language-tag` (BCP 47, langcodes), each
  distinct value asked once;
- text hygiene, every text field: `text-not-nfc`, `text-whitespace` (leading or trailing),
  `text-control-character`, `text-formula` (a cell a spreadsheet would run as a formula). A typed
  number, date or boolean cannot hold any of these (it would not have typed). One regular
  expression per table (`_SUSPECT`, every column at once) finds the few cells that may fail one of
  them; the four checks judge those cells only (the others pass), not four more passes over the text.

`checks` counts the checks pandera runs: the checks of each resource's schema times its rows.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Callable

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaErrors

from nkru import dates
from nkru.findings import Finding, LayerResult, define
from nkru.options import Options
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


# -- pure predicates (shared by the checks and the messages) ----------------------------------------


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


def dated_resources(package: Package) -> list[str]:
    """Resources whose schema has all four date columns."""
    return [name for name in package.resources if set(dates.DATE_COLUMNS) <= set(package.field_names(name))]


# -- the real typed tables --------------------------------------------------------------------------


@dataclass
class Typed:
    """A resource as the rules see it: `frame` typed by the one type system (one column per schema
    field, null where a cell is empty or did not type) and `untyped` (the same columns, Boolean: True
    where a cell is not empty but did not type, which is a structure finding); `table` is the text
    table the file lines and row IDs come from."""

    name: str
    table: Table
    frame: pl.DataFrame
    untyped: pl.DataFrame


def _typed(package: Package, name: str, fields: Sequence[str] | None = None) -> Typed | None:
    """The resource typed by the project's one type system, or None when it has none: it could not be
    read, its schema does not load, or its header is not its schema's fields (the structure layer
    reports each; every rule on the resource then stays silent).

    A cell is untyped (null in `frame`, True in `untyped`) where the type system refuses it (a wrong
    type, an oversized cell, a value outside the field's vocabulary), where it breaks its field's
    `pattern`, where it is empty but required (or part of the primary key), and in every cell of a
    row of the wrong width: one mistake, reported once, by the structure layer. (The type system
    does not judge patterns yet; `_breaks_pattern` does it here until it does.) So is every cell the
    structure layer rejected when it ran first (`Package.rejected_rows`: a foreign key with no match,
    a repeated key).

    `fields`: only these columns (another table's keys and the value a rule looks up in it), typed
    apart from the whole table's `typed` frame, which a package that spills does not hold."""
    from nkru.reader import Uniform
    from nkru.types import type_frame

    table = package.checkable(name)  # None: unreadable or a wrong header (the structure layer says so)
    if table is None:
        return None
    specs = table.schema_fields  # empty when the schema does not load (an enum of the wrong type)
    if not specs or table.header != [spec.name for spec in specs]:
        return None
    if fields is None:
        frame = table.typed  # typed once per table, shared with the structure layer and load()
    else:
        specs = [spec for spec in specs if spec.name in fields]
        table.select([spec.name for spec in specs])  # read again at once when spilled
        frame = type_frame(table, specs)[0]
    width = len(table.header)
    if isinstance(table.widths, Uniform) and table.widths.value == width:
        wrong_width = pl.repeat(False, len(table), eager=True)
    else:
        wrong_width = pl.Series(table.widths, dtype=pl.Int64) != width
    patterns = {f["name"]: f["constraints"].get("pattern") for f in package.fields(name)
                if isinstance(f.get("constraints"), dict)}
    key = set(package.primary_key(name))
    typed, untyped = [], []
    for spec in specs:
        text = table.cells(spec.name).fill_null("")
        value = frame.get_column(spec.name)
        present = ~text.is_in(list(spec.missing_values)) if spec.missing_values else pl.repeat(True, len(text), eager=True)
        bad = (present & value.is_null()) | wrong_width
        if spec.required or spec.name in key:
            bad = bad | ~present
        pattern = patterns.get(spec.name)
        if isinstance(pattern, str) and spec.kind == "string":
            bad = bad | (present & _breaks_pattern(text, pattern))
        rejected = package.rejected_rows(name, [spec.name])  # e.g. a foreign key with no match: its finding
        if rejected:
            bad = bad | pl.Series(range(len(text))).is_in(sorted(rejected))
        bad = bad.fill_null(False)
        typed.append(value.set(bad, None) if bad.any() else value)
        untyped.append(bad.alias(spec.name))
    return Typed(name, table, pl.DataFrame(typed), pl.DataFrame(untyped))


class TypedTables(Mapping[str, Typed]):
    """The package's resources as the rules see them (`Typed`), each built when first asked for.

    In a package too large to hold at once (`Package.spills`) the layer checks one table at a time:
    `done` drops a checked table's typed frame and spills its text, and a rule that looks something up
    in another table asks for just those columns (`part`). Otherwise `part` is the whole `Typed` and
    `done` keeps everything, as a small package needs no more."""

    def __init__(self, package: Package):
        self.package = package
        self._whole: dict[str, Typed | None] = {}
        self._parts: dict[tuple[str, tuple[str, ...]], Typed | None] = {}

    def __getitem__(self, name: str) -> Typed:
        if name not in self._whole:
            self._whole[name] = _typed(self.package, name) if name in self.package.resources else None
        typed = self._whole[name]
        if typed is None:
            raise KeyError(name)
        return typed

    def __iter__(self) -> Iterator[str]:
        return (name for name in self.package.resources if self.get(name) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def part(self, name: str, fields: Sequence[str]) -> Typed | None:
        """`name` with only `fields` (the whole `Typed` unless the package spills)."""
        if not self.package.spills or name in self._whole:
            return self.get(name)
        key = (name, tuple(fields))
        if key not in self._parts:
            self._parts[key] = _typed(self.package, name, fields) if name in self.package.resources else None
            table = self.package.table(name)
            if table is not None:
                table.spill()  # the part holds what it needs
        return self._parts[key]

    def done(self, name: str) -> None:
        """The rules of `name` ran: in a package that spills, let go of its typed frame and its text."""
        if not self.package.spills:
            return
        self._whole.pop(name, None)
        table = self.package.table(name)
        if table is not None:
            table.spill()


def _breaks_pattern(text: pl.Series, pattern: str) -> pl.Series:
    """Per cell: does it not match the whole Table Schema `pattern` (`nkru.types.full_match`)?"""
    from nkru.types import full_match

    try:
        return ~full_match(text, pattern)
    except re.error:  # a pattern that does not compile: the structure layer reports the schema
        return pl.repeat(False, len(text), eager=True)


def _empty(typed: Typed, column: str) -> pl.Expr:
    """Per row: True where the cell is empty (an open bound), False where it is set, null where it did
    not type (not judged)."""
    return pl.when(pl.lit(typed.untyped.get_column(column))).then(None).otherwise(pl.col(column).is_null())


def _text(column: str | pl.Expr) -> pl.Expr:
    """A typed column as the text a message shows ("" for null); a date as YYYY-MM-DD."""
    expr = pl.col(column) if isinstance(column, str) else column
    return expr.cast(pl.String).fill_null("")


def _joined(columns: list[str]) -> pl.Expr:
    return pl.concat_str([_text(c) for c in columns], separator=",")


def _lookup(child: Typed, fields: list[str], parent: Typed, ref_fields: list[str], value: str) -> pl.Expr:
    """Per row of `child`: the `parent`'s `value` at the first parent row whose `ref_fields` equal the
    row's `fields` (null when there is none, or a key cell is null): a lookup by expression. Only the
    parent rows some child row refers to are kept in it (a semi-join first), so it is the size of the
    child, not of a million claims."""
    keys = [f"k{i}" for i in range(len(fields))]
    wanted = child.frame.select([pl.col(f).alias(k) for f, k in zip(fields, keys)]).drop_nulls().unique()
    table = parent.frame.select([pl.col(f).alias(k) for f, k in zip(ref_fields, keys)] + [pl.col(value)]) \
        .drop_nulls(keys).join(wanted, on=keys, how="semi", maintain_order="left") \
        .unique(subset=keys, keep="first", maintain_order=True)
    dtype = parent.frame.schema[value]
    if len(fields) == 1:
        return pl.col(fields[0]).replace_strict(table.get_column(keys[0]), table.get_column(value), default=None,
                                                return_dtype=dtype)
    old = table.select(pl.struct(keys)).to_series()
    return pl.struct([pl.col(f).alias(k) for f, k in zip(fields, keys)]).replace_strict(
        old, table.get_column(value), default=None, return_dtype=dtype)


# -- a rule: one named pandera check on one column -----------------------------------------------------

Test = Callable[[pl.LazyFrame], Any]


@dataclass
class Rule:
    """One named check on the column `field` of a typed table: `test` (a polars expression, or a function
    of the table's LazyFrame) gives one Boolean per row, True = passes, null = not judged. A failing row
    is one finding of `code` at `field`, whose value is the failing cell; `context` gives the message's
    other placeholders from the failing rows of the typed frame (one dict per row; a `field` or `value`
    there replaces the cell's). `check` names the pandera check (the code, unless a code has two checks)."""

    code: str
    field: str
    test: pl.Expr | Test
    context: Callable[[pl.DataFrame], list[dict[str, Any]]] | None = None
    check: str = ""

    def __post_init__(self) -> None:
        self.check = self.check or self.code

    def pandera_check(self) -> pa.Check:
        test = self.test

        def run(data: pa.PolarsData) -> Any:
            if isinstance(test, pl.Expr):
                return data.lazyframe.select(test)
            out = test(data.lazyframe)
            if isinstance(out, pl.Series):
                return pl.LazyFrame([out])
            return out.lazy() if isinstance(out, pl.DataFrame) else out

        return pa.Check(run, name=self.check)


def _context(**exprs: pl.Expr) -> Callable[[pl.DataFrame], list[dict[str, Any]]]:
    """A context of polars expressions over the failing rows."""
    return lambda rows: rows.select(**exprs).to_dicts()


# -- the rules, built from the schemas for one resource -------------------------------------------------


def _dated(package: Package, t: Typed | None) -> bool:
    """Whether the date rules apply: the resource has the four date columns, its two dates typed as dates."""
    return (t is not None and t.name in dated_resources(package)
            and all(t.frame.schema[c] == pl.Date for c in ("date_start", "date_end")))


def _date_rules(package: Package, typed: TypedTables, name: str) -> list[Rule]:
    t = typed[name]
    if not _dated(package, t):
        return []
    start_empty, end_empty = _empty(t, "date_start"), _empty(t, "date_end")

    def open_precision(rows: pl.DataFrame) -> list[dict[str, Any]]:
        out = []
        for start, end, precision in rows.select(_text("date_start"), _text("date_end"), "date_precision").iter_rows():
            side = "date_start" if not start else "date_end"
            out.append(dict(start=start or "..", end=end or "..",
                            detail=f"{side} is open (no bound in the text), so the range is not exactly one {precision} "
                                   "and its precision is 'range'"))
        return out

    def precision(rows: pl.DataFrame) -> list[dict[str, Any]]:
        return [dict(start=first.isoformat(), end=last.isoformat(), detail=dates.precision_problem(first, last, given))
                for first, last, given in rows.select("date_start", "date_end", "date_precision").iter_rows()]

    return [
        Rule("date-unbounded", "date_start", ~(start_empty & end_empty)),
        Rule("date-order", "date_start", dates.order_agrees_expr("date_start", "date_end"), _context(end=_text("date_end"))),
        Rule("date-precision", "date_precision", dates.open_precision_agrees_expr(start_empty, end_empty, "date_precision"),
             open_precision, check="date-open-precision"),
        Rule("date-precision", "date_precision", dates.precision_agrees_expr("date_start", "date_end", "date_precision"),
             precision),
    ]


def _source_date_rules(package: Package, typed: TypedTables, name: str) -> list[Rule]:
    t = typed[name]
    if name == SOURCES or not _dated(package, t):
        return []
    rules = []
    for fk in package.foreign_keys(name):
        if fk.resource != SOURCES:
            continue
        sources = typed.part(SOURCES, [*fk.reference_fields, "date_end"])
        if sources is None or sources.frame.schema.get("date_end") != pl.Date:
            continue
        published = _lookup(t, fk.fields, sources, fk.reference_fields, "date_end")
        context = _context(source_id=_joined(fk.fields), source_end=_text(published))
        starts_in_time = dates.order_agrees_expr("date_start", published)
        rules += [Rule("dated-after-source", "date_start", starts_in_time, context),
                  # a row that already starts after its source is the dated-after-source finding alone
                  Rule("ends-after-source", "date_end", dates.order_agrees_expr("date_end", published) | ~starts_in_time,
                       context)]
    return rules


def _claim_event_rules(package: Package, typed: TypedTables, name: str) -> list[Rule]:
    t = typed[name]
    if name == CLAIMS or EVENT_ID not in t.frame.columns:
        return []
    rules = []
    for fk in package.foreign_keys(name):
        if fk.resource != CLAIMS:
            continue
        claims = typed.part(CLAIMS, [*fk.reference_fields, EVENT_ID])
        if claims is None or EVENT_ID not in claims.frame.columns:
            continue
        claimed = _lookup(t, fk.fields, claims, fk.reference_fields, EVENT_ID)
        rules.append(Rule("claim-event-mismatch", fk.fields[0], pl.col(EVENT_ID) == claimed, _context(
            field=pl.lit(",".join(fk.fields)), value=_joined(fk.fields), event_field=pl.lit(EVENT_ID),
            expected=_text(claimed), actual=_text(EVENT_ID))))
    return rules


def _hierarchy_rules(package: Package, typed: TypedTables, name: str) -> list[Rule]:
    """A self-referencing key (the actors' affiliation): no row its own parent, no chain in a circle."""
    rules = []
    for fk in package.foreign_keys(name):
        if fk.resource != name or len(fk.fields) != 1 or fk.reference_fields[0] == fk.fields[0]:
            continue  # (a key referring to itself by definition: nothing to check)
        key, parent = fk.reference_fields[0], fk.fields[0]

        def off_cycles(frame: pl.LazyFrame, key: str = key, parent: str = parent) -> pl.LazyFrame:
            # one cycle is one mistake: it fails at one member, the first in file order
            first = _cycle_heads(frame.select(key, parent).collect(), key, parent)
            return frame.select(~(pl.col(key).is_in(first.implode()) & pl.col(key).is_first_distinct()))

        def cycle(rows: pl.DataFrame, key: str = key, parent: str = parent, t: Typed = typed[name]) -> list[dict[str, Any]]:
            parents = dict(_cycle_edges(t.frame.select(key, parent), key, parent).iter_rows())
            return [dict(cycle=" → ".join(_cycle(parents, start) or [])) for start in rows.get_column(key).to_list()]

        rules += [Rule("self-reference", parent, pl.col(parent) != pl.col(key)),
                  Rule("reference-cycle", parent, off_cycles, cycle)]
    return rules


def _cycle_edges(frame: pl.DataFrame, key: str, parent: str) -> pl.DataFrame:
    """The key -> parent edges (first row per key) whose key is on a cycle, self-references aside.

    Column-wise: rows whose key no remaining row names as parent cannot be on a cycle and are
    dropped, round after round (one round per level of the longest chain); what remains is cycles.
    """
    edges = frame.drop_nulls([key, parent]).filter(pl.col(parent) != pl.col(key))
    edges = edges.unique(subset=key, keep="first", maintain_order=True)
    while edges.height:
        kept = edges.filter(pl.col(key).is_in(edges.get_column(parent).implode()))
        kept = kept.filter(pl.col(parent).is_in(kept.get_column(key).implode()))
        if kept.height == edges.height:
            break
        edges = kept
    return edges


def _cycle_heads(frame: pl.DataFrame, key: str, parent: str) -> pl.Series:
    """The key of each cycle's first member in file order: one per cycle (labels spread along the
    cycle's edges, round after round, until each member holds the smallest row number on its cycle)."""
    edges = _cycle_edges(frame.with_row_index("_row"), key, parent)
    if not edges.height:
        return pl.Series(key, [], dtype=frame.schema[key])
    labels = edges.select(key, parent, pl.col("_row").alias("_label"))
    while True:
        spread = labels.join(labels.select(pl.col(key).alias(parent), pl.col("_label").alias("_next")), on=parent,
                             how="left", maintain_order="left").with_columns(pl.min_horizontal("_label", "_next").alias("_label")).drop("_next")
        if spread.get_column("_label").equals(labels.get_column("_label")):
            break
        labels = spread
    rows = edges.select(key, "_row").join(labels.select(key, "_label"), on=key)
    return rows.filter(pl.col("_row") == pl.col("_label")).get_column(key)


def _cycle(parents: dict[str, str], start: str) -> list[str] | None:
    """The cycle through `start` (start, ..., start) if following parents from it comes back to it."""
    path = [start]
    seen = {start}
    current = parents.get(start)
    while current:
        path.append(current)
        if current == start:
            return path
        if current in seen:
            return None  # a cycle further up the chain, not through `start`
        seen.add(current)
        current = parents.get(current)
    return None


def _link_rules(package: Package, typed: TypedTables, name: str) -> list[Rule]:
    """Every event has a row in each link table: a resource whose primary key includes a foreign key to
    the events. (A link table with a key cell that did not type cannot say which event that row links:
    the rule waits for the structure finding to be fixed.)"""
    if name != EVENTS:
        return []
    rules = []
    for child in package.resources:
        if child == EVENTS:
            continue
        key = set(package.primary_key(child))
        for fk in package.foreign_keys(child):
            fields, refs = fk.fields, fk.reference_fields
            if fk.resource != EVENTS or not set(fields) <= key:
                continue
            links = typed.part(child, fields)
            if links is None or links.untyped.select(fields).to_numpy().any():
                continue
            if len(fields) == 1:
                linked = pl.col(refs[0]).is_in(links.frame.get_column(fields[0]).drop_nulls().unique().implode())
            else:
                used = links.frame.select(pl.struct([pl.col(f).alias(r) for f, r in zip(fields, refs)])).to_series()
                linked = pl.struct(refs).is_in(used.unique().implode())
            rules.append(Rule("event-without-actors", refs[0], linked, _context(
                field=pl.lit(",".join(refs)), value=_joined(refs), child=pl.lit(child))))
    return rules


def _quantity_rules(package: Package, typed: TypedTables, name: str) -> list[Rule]:
    t = typed[name]
    if QUANTITY not in t.frame.columns:
        return []
    group = [QUANTITY] + [c for c in t.frame.columns if c.startswith(QUANTITY + "_")]
    if len(group) < 2:
        return []
    filled = pl.sum_horizontal([pl.col(c).is_not_null().cast(pl.Int64) for c in group])
    untyped = t.untyped.select(pl.any_horizontal(group)).to_series()
    together = pl.when(pl.lit(untyped)).then(None).otherwise((filled == 0) | (filled == len(group)))

    def parts(rows: pl.DataFrame) -> list[dict[str, Any]]:
        out = []
        for row in rows.select(group).iter_rows(named=True):
            out.append(dict(field=",".join(c for c in group if row[c] is None),
                            value=", ".join(f"{c}={row[c]}" for c in group if row[c] is not None),
                            group=", ".join(group)))
        return out

    return [Rule("quantity-incomplete", QUANTITY, together, parts)]


def _code_rules(package: Package, typed: TypedTables, name: str) -> list[Rule]:
    t = typed[name]
    rules = []
    for column, code, valid in ((COUNTRY, "country-code", lambda v: is_country(v)),
                                (LANGUAGE, "language-tag", lambda v: is_language(v))):
        if t.frame.schema.get(column) == pl.String:
            rules.append(Rule(code, column, lambda frame, c=column, ok=valid: _known(frame, c, ok)))
    return rules


def _known(frame: pl.LazyFrame, column: str, valid: Callable[[str], bool]) -> pl.LazyFrame:
    """Per cell: is it a value `valid` accepts? (null for an empty cell; `valid` asked once per distinct value)"""
    distinct = frame.select(pl.col(column).drop_nulls().unique()).collect().to_series()
    good = pl.Series([v for v in distinct.to_list() if valid(v)], dtype=pl.String)
    return frame.select(pl.col(column).is_in(good.implode()))


# -- text hygiene --------------------------------------------------------------------------------------

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
#: a control character, or a character outside `_ALWAYS_NFC`. Only those cells are judged by the checks.
_SUSPECT = f"^[{_WHITESPACE}=+\\-@]|[{_WHITESPACE}]$|{CONTROL_CHARACTERS}|[^{_ALWAYS_NFC}]"
#: A spreadsheet skips leading blanks and line breaks ("\n=1+1" runs as a formula too); a tab or CR
#: is a prefix only as the very first character (after stripping, the rest starts with a non-blank).
_FORMULA = f"^(?:[=+\\-@\t\r]|[{_WHITESPACE}]*[=+\\-@])"


def _not_nfc(cells: pl.Series) -> pl.Series:
    """Per cell: is it not in NFC? Only cells with a character outside `_ALWAYS_NFC` are normalised."""
    suspect = cells.str.contains(f"[^{_ALWAYS_NFC}]").fill_null(False)
    result = pl.repeat(False, len(cells), eager=True)
    if suspect.any():
        where = suspect.arg_true()
        subset = cells.gather(where)
        result = result.scatter(where, (subset != subset.str.normalize("NFC")).fill_null(False))
    return result


#: Hygiene check -> per cell (non-empty text): does it fail? In the order their findings are listed.
HYGIENE: dict[str, Callable[[pl.Series], pl.Series]] = {
    "text-control-character": lambda cells: cells.str.contains(CONTROL_CHARACTERS),
    "text-formula": lambda cells: cells.str.contains(_FORMULA),
    "text-not-nfc": _not_nfc,
    "text-whitespace": lambda cells: cells != cells.str.strip_chars(_WHITESPACE),
}
HYGIENE_CHECKS = tuple(HYGIENE)
_CHAR: dict[str, Callable[[str], str | None]] = {
    "text-control-character": _control_char,
    "text-formula": lambda value: repr(formula_prefix(value)),
}


def _hygiene_rules(package: Package, typed: TypedTables, name: str) -> list[Rule]:
    """Every text field (typed as text: a typed number, date or boolean cannot hold what these find)."""
    t = typed[name]
    columns = [c for c, dtype in t.frame.schema.items() if dtype == pl.String]
    if not columns or not t.frame.height:
        return []
    suspects: dict[str, pl.Series] = {}

    def suspect(column: str) -> pl.Series:
        """The rows of the column whose cell may fail a hygiene check: one pass over the table's text
        (every column at once) finds them for every column and check."""
        if not suspects:
            found = t.frame.select(pl.col(c).str.contains(_SUSPECT).fill_null(False) for c in columns)
            suspects.update((c, found.get_column(c).arg_true()) for c in columns)
        return suspects[column]

    def test(fails: Callable[[pl.Series], pl.Series], column: str) -> Test:
        def run(frame: pl.LazyFrame) -> Any:
            where = suspect(column)
            if not len(where):
                return True  # no cell of the column can fail the check
            failed = fails(frame.select(column).collect().to_series().gather(where)).fill_null(False)
            if not failed.any():
                return True
            return ~pl.repeat(False, t.frame.height, eager=True).scatter(where, failed)
        return run

    rules = []
    for column in columns:
        for code, fails in HYGIENE.items():
            char = _CHAR.get(code)
            context = None if char is None else (
                lambda rows, c=column, char=char: [dict(char=char(v)) for v in rows.get_column(c).to_list()])
            rules.append(Rule(code, column, test(fails, column), context))
    return rules


RULES = (_date_rules, _source_date_rules, _claim_event_rules, _hierarchy_rules, _link_rules, _quantity_rules,
         _code_rules, _hygiene_rules)


# -- the layer ---------------------------------------------------------------------------------------------


def check(package: Package, options: Options | None = None) -> LayerResult:
    result = LayerResult(NAME)
    typed = TypedTables(package)
    for name in package.resources:
        t = typed.get(name)
        if t is None:
            continue
        rules = []
        for build in RULES:
            try:
                rules += build(package, typed, name)
            except Exception as exc:  # noqa: BLE001 - a rule that cannot be built is a finding, not a traceback
                result.findings.append(_rule_error(t, build.__name__.strip("_"), exc))
        if rules and t.frame.height:
            result.findings += validate(t, rules, result)
        typed.done(name)
    return result


def _rule_error(typed: Typed, check: str, problem: Any) -> Finding:
    if isinstance(problem, BaseException):
        problem = f"{problem.__class__.__name__}: {problem}"
    return Finding.make("rule-error", resource=typed.name, path=typed.table.path, check=check, value=problem)


def schema(typed: Typed, rules: list[Rule]) -> pa.DataFrameSchema:
    """The pandera schema of one typed table: each rule a named check on its column."""
    columns: dict[str, list[pa.Check]] = {}
    for rule in rules:
        columns.setdefault(rule.field, []).append(rule.pandera_check())
    return pa.DataFrameSchema({column: pa.Column(None, checks=checks, nullable=True) for column, checks in columns.items()},
                              name=typed.name)


def validate(typed: Typed, rules: list[Rule], result: LayerResult) -> list[Finding]:
    """Validate the typed table against its rules' pandera schema, lazily; every failure case is one
    finding (at the file line of its row), every check that crashed one `rule-error`."""
    model = schema(typed, rules)
    by_place = {}
    for rule in rules:
        by_place.setdefault(rule.field, []).append(rule)
    result.checks += sum(len(column.checks) for column in model.columns.values()) * typed.frame.height
    try:
        model.validate(typed.frame, lazy=True)
        return []
    except SchemaErrors as exc:
        cases = exc.failure_cases
    except Exception as exc:  # noqa: BLE001 - pandera itself failed: a finding, not a traceback
        return [_rule_error(typed, "pandera", exc)]
    table = typed.table
    findings: list[tuple[int, int, Finding]] = []
    order = {id(rule): position for position, rule in enumerate(rules)}
    for (column, number), group in cases.group_by(["column", "check_number"], maintain_order=True):
        rule = by_place[column][number] if column in by_place and number is not None else None
        indices = group.get_column("index")
        if rule is None or indices.null_count():
            for case in group.iter_rows(named=True):
                findings.append((-1, 0, _rule_error(typed, case.get("check"), case.get("failure_case"))))
            continue
        contexts = rule.context(typed.frame[indices]) if rule.context else [{}] * len(indices)
        for index, value, extra in zip(indices.to_list(), group.get_column("failure_case").to_list(), contexts):
            place = dict(field=rule.field, value=value if value is not None else "")
            place.update(extra)
            findings.append((index, order[id(rule)], Finding.make(
                rule.code, resource=typed.name, path=table.path, line=table.lines[index], row_id=table.row_id(index),
                **place)))
    return [finding for _, _, finding in sorted(findings, key=lambda item: item[:2])]
