"""Expectations layer: great-expectations suites of dataset- and release-level expectations.

The suites are generated in memory (`nkru.suites.generate.suites_for`) from the package being
validated; validate/suites/*.json is the committed, reviewed record of the same suites for this
repository's package (a test keeps it current). They hold nothing a Table Schema states (the
structure layer owns that; tests/test_expectations.py compares them with the schemas):

- one suite per resource: its row count (at least one row; for a table whose rows carry an ID never
  fewer than in the last release, less the rows retracted since: `nkru.layers.metadata.row_floors`),
  run on a frame of that many rows and no columns;
- the package suite: every source contributes rows, every event is claimed, every actor is
  mentioned, run on a derived frame of reference counts (one row per source, event, actor);
- the distributions suite (warnings): the share of each category of a watched vocabulary moves by at
  most a bound from its share among the rows of the last release, run on a frame of one row per
  category.

great-expectations therefore works on small aggregate frames, never on the tables' cells. It is
imported (about 2 s) inside the functions that run it, never when this module is imported, and runs
in an ephemeral context with progress bars off; `Options.data_docs` builds the Data Docs site into
a directory.

Every failed expectation becomes findings with the code `expect-<type>` (for example
`expect-column-values-to-be-between`): one per offending row of a resource for the package rules
(placed at the row's line), one per table for a row count or a distribution.
"""

from __future__ import annotations

import contextlib
import math
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nkru.findings import CODES, Finding, LayerResult, define, sort_findings
from nkru.transaction import atomic_directory
from nkru.metadata import RETRACTIONS
from nkru.package import DESCRIPTOR, Package, Table
from nkru.options import Options
from nkru.suites import DISTRIBUTIONS_SUITE, PACKAGE_SUITE, suite_path

NAME = "expectations"
#: Data Docs site name inside the ephemeral context.
SITE = "nkru"


def code_for(expectation_type: str) -> str:
    """`expect_table_row_count_to_be_between` -> `expect-table-row-count-to-be-between`."""
    return "expect-" + expectation_type.removeprefix("expect_").replace("_", "-")


#: Message templates by expectation type. `{rule}` is the expectation's description in its suite.
TEMPLATES = {
    "expect_table_row_count_to_be_between": (
        "{resource}: {value} rows, {detail}",
        "A table has fewer rows than it must hold: at least one, and, for a table whose rows carry an ID, never fewer "
        "than in the last release less the rows retracted since (a released row is retracted, never deleted).",
        "error"),
    "expect_column_values_to_be_between": (
        "{resource} line {line}: {field}={value!r} breaks the rule: {rule} (found {observed})",
        "A package rule: a row that other tables must refer to is referred to nowhere.",
        "error"),
    "expect_column_max_to_be_between": (
        "{resource}: the share of {field} {value} moved by {observed} percentage points since release {release}, more "
        "than the {expected} watched ({detail}); check that the new or changed rows are coded alike",
        "A distribution worth watching between releases moved: the share of a category among a table's rows differs "
        "from its share among the rows of the last release by more than the suite's bound.",
        "warning"),
}
for _type, (_template, _description, _severity) in TEMPLATES.items():
    define(code_for(_type), NAME, _template, severity=_severity, description=f"great-expectations `{_type}`: {_description}")
ROW_TEMPLATE = "{resource} line {line}: {field}={value!r} fails {expectation} ({rule})"
TABLE_TEMPLATE = "{resource}: {expectation} failed ({rule}; observed {value})"
define("expectation-error", NAME, "{resource}: expectation {expectation} could not run: {detail}",
       description="great-expectations raised an error while evaluating an expectation.")
define("expectation-suite-invalid", NAME, "{path}: not a valid expectation suite: {detail}",
       description="A suite file in validate/suites/ cannot be loaded (regenerate it with `python -m nkru.suites.generate`).")
define("expectation-rule-unavailable", NAME, "an expectation cannot be built from the schemas: {detail}",
       severity="warning",
       description="A package rule, distribution or suite cannot be derived from the package's schemas (e.g. a foreign "
                   "key is missing), so it is not checked.")
define("expectation-resource-missing", NAME, "suite {value!r} checks resource {resource!r}, which datapackage.json does not declare",
       description="A resource the expectation suites check is missing from the descriptor.")


def _code(expectation_type: str, row_level: bool) -> str:
    """The finding code for a type; types added to the suites later get a generic template."""
    code = code_for(expectation_type)
    if code not in CODES:
        define(code, NAME, ROW_TEMPLATE if row_level else TABLE_TEMPLATE,
               description=f"great-expectations `{expectation_type}`.")
    return code


# -- great-expectations -------------------------------------------------------


def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


@dataclass
class Batch:
    """One aggregate frame (pandas) to validate with one suite, and how to place its findings in the package."""

    suite: str
    frame: Any
    expectations: list[dict[str, Any]]
    resource: str | None = None  # for a resource suite
    table: Table | None = None
    rows: Any = None  # package suite: frame row -> (resource, index) (`_RowMap`)
    tables: dict[str, Table] = field(default_factory=dict)  # package suite: the tables its rows come from
    floor: Any = None  # resource suite: its row-count floor (nkru.layers.metadata.RowFloor)
    shares: dict[str, Any] = field(default_factory=dict)  # distributions suite: column -> `Shares`

    @property
    def parameters(self) -> dict[str, Any] | None:
        """The expectation parameters of this batch's suite (the row-count floor), or None."""
        from nkru.suites.generate import ROW_FLOOR_PARAMETER

        return {ROW_FLOOR_PARAMETER: self.floor.minimum} if self.floor is not None else None


class GreatExpectations:
    """great-expectations: one ephemeral context with progress bars off, one pandas asset whose
    frame is a runtime parameter."""

    def __init__(self) -> None:
        self.context = _context()
        self.site: Path | None = None
        # One asset and batch definition for every frame: each one added makes the context
        # re-serialise its whole configuration.
        self.data = self.context.data_sources.add_pandas("nkru").add_dataframe_asset("frame") \
            .add_batch_definition_whole_dataframe("all")

    def open_site(self, site: str | Path) -> None:
        """Keep suites and results from now on and build Data Docs into `site` (`build_docs`)."""
        self.site = Path(site)
        self.context.add_data_docs_site(site_name=SITE, site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(self.site)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        })

    def validate(self, batch: Batch, suite: dict[str, Any]) -> dict[str, Any]:
        """{"checks": expectations evaluated, "failed": [outcome dicts]}, or {"invalid": why} when the
        suite cannot be built (a hand-edited suite file)."""
        import great_expectations as gx

        try:
            built = gx.ExpectationSuite(**{**suite, "expectations": batch.expectations})
        except Exception as exc:  # noqa: BLE001 -- a hand-edited suite file
            return {"invalid": (str(exc).splitlines() or [type(exc).__name__])[0][:300]}
        checks, failed = _validate(self.context, self.data, batch.suite, batch.frame, built, batch.parameters,
                                   store=self.site is not None)
        return {"checks": checks, "failed": [outcome(item, batch.frame) for item in failed]}

    def build_docs(self) -> None:
        self.context.build_data_docs(site_names=[SITE])


def _validate(context, data, name: str, frame, suite, parameters, *, store: bool) -> tuple[int, list[Any]]:
    """Run one suite on its frame with the batch definition `data`: (expectations evaluated, failed results)."""
    import great_expectations as gx

    if store:  # a validation definition keeps suite and results in the context, where Data Docs find them
        suite = context.suites.add(suite)
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, suite=suite, data=data))
        run = definition.run(batch_parameters={"dataframe": frame}, expectation_parameters=parameters,
                             result_format="COMPLETE")
        return len(run.results), [item for item in run.results if not item.success]
    run = data.get_batch(batch_parameters={"dataframe": frame}).validate(
        suite, result_format="COMPLETE", expectation_parameters=parameters)
    return len(run.results), [item for item in run.results if not item.success]


def outcome(item: Any, frame: Any) -> dict[str, Any]:
    """A failed expectation's result as plain JSON: what `_findings` reads, nothing more. For a
    row-level expectation `values` holds, for each offending row of `frame` (the pandas frame it
    ran on), the cells of the columns it names, as text: [[row, [cell, ...]], ...]."""
    from great_expectations.util import convert_to_json_serializable

    config = item.expectation_config
    kwargs = convert_to_json_serializable(dict(config.kwargs))
    result = convert_to_json_serializable(item.result or {})
    indices = result.get("unexpected_index_list")
    values = None
    if indices is not None:
        rows = sorted({int(i) for i in indices})
        cells = [_cells(frame, column, rows) for column in _columns_of({"type": config.type, "kwargs": kwargs})]
        values = [[row, [column[k] for column in cells]] for k, row in enumerate(rows)]
    return {
        "type": config.type,
        "kwargs": kwargs,
        "meta": convert_to_json_serializable(dict(config.meta or {})),
        "description": getattr(config, "description", None),
        "critical": str(getattr(config, "severity", "critical")).lower().endswith("critical"),
        "result": result,
        "values": values,
        "exception": _exception_message(item),
    }


def _cells(frame: Any, label: str, rows: list[int]) -> list[str | None]:
    """The cells of column `label` at `rows` as text (None when missing)."""
    return [None if _missing(value) else _plain(value) for value in frame[label].iloc[rows].tolist()]


def _missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def run_suites(package: Package, suites: dict[str, dict[str, Any]], *, data_docs: Path | None = None,
               options: Options | None = None) -> LayerResult:
    """Validate `package` with `suites` (name -> suite dict); build Data Docs into `data_docs` if given.
    Row-count floors and the distributions' released rows come from the previous release that
    `options.baseline` (else the newest manifest) names. Each batch's frame is built just before
    great-expectations validates it."""
    from nkru.layers.metadata import forget_baseline, row_floors

    result = LayerResult(NAME)
    target = prepare_data_docs(data_docs) if data_docs is not None else None
    if not suites:
        return result
    floors = row_floors(package, options)
    runner = None
    # Data Docs are built in a staging folder that replaces the target only when complete.
    with contextlib.ExitStack() as stack:
        if target:  # a site inside the package: one writer at a time (nkru.fsutil.lock_for)
            from nkru.fsutil import lock_for

            stack.enter_context(lock_for(package.root, target))
            runner = GreatExpectations()
            runner.open_site(stack.enter_context(atomic_directory(target, named=target)))  # --out may itself be a link
        for name, raw_suite in suites.items():
            if name == PACKAGE_SUITE:
                batch = _package_batch(package, raw_suite, options)
            elif name == DISTRIBUTIONS_SUITE:
                batch = _distributions_batch(package, raw_suite, options)
            else:
                batch = _resource_batch(package, name, raw_suite, result)
            if batch is None or not batch.expectations:
                continue
            batch.floor = floors.get(batch.resource) if batch.resource else None
            runner = runner or GreatExpectations()
            answer = runner.validate(batch, raw_suite)
            if "invalid" in answer:  # a hand-edited suite file: a finding, not a traceback
                result.findings.append(Finding.make("expectation-suite-invalid", path=_display(suite_path(name)),
                                                    value=name, detail=answer["invalid"]))
                continue
            result.checks += answer["checks"]
            for item in answer["failed"]:
                result.findings.extend(_findings(batch, item))
        if target:
            runner.build_docs()
    forget_baseline(package)  # its released IDs are not held through the coverage layer (85 MiB at a million claims)
    result.findings = sort_findings(result.findings)
    return result


_SUITES: "weakref.WeakKeyDictionary[Package, tuple[dict[str, dict[str, Any]], list[str]]]" = weakref.WeakKeyDictionary()


def _suites(package: Package) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """(suites by name, rules skipped) built from the package's own schemas, once per package;
    raises ValueError when they cannot be built."""
    from nkru.suites.generate import suites_for

    if package not in _SUITES:
        skipped: list[str] = []
        _SUITES[package] = (suites_for(package, skipped), skipped)
    return _SUITES[package]


def columns_read(package: Package) -> dict[str, set[str]]:
    """The columns the suites read, from the schemas (great-expectations is not loaded to say so): the
    primary key (row counts, released rows), both sides of every foreign key (the package suite counts
    references) and the watched distributions' fields. tests/test_release_columns.py checks this covers
    every column the generated suites name."""
    from nkru.suites.generate import DISTRIBUTIONS

    read: dict[str, set[str]] = {}
    for name, spec in package.resources.items():
        if spec.schema is None:
            continue
        read.setdefault(name, set()).update(package.primary_key(name))
    for name, fields in package.foreign_key_columns().items():
        read.setdefault(name, set()).update(fields)
    for watched in DISTRIBUTIONS:
        if watched.resource in read:
            read[watched.resource].add(watched.field)
    return read


def check(package: Package, options: Options | None = None) -> LayerResult:
    """Validate `package` with suites built in memory from its own schemas (so a fork's or an older
    release's rules are honoured; the committed JSON suites are only the reviewed record)."""
    data_docs = options.data_docs if options is not None else None
    target = prepare_data_docs(Path(data_docs)) if data_docs else None  # before the slow part: fail early
    try:
        suites, skipped = _suites(package)
    except ValueError as exc:
        result = LayerResult(NAME)
        result.findings.append(Finding.make("expectation-rule-unavailable", path=DESCRIPTOR, detail=str(exc)))
        return result
    result = run_suites(package, suites, data_docs=target, options=options)
    for reason in skipped:
        result.findings.append(Finding.make("expectation-rule-unavailable", path=DESCRIPTOR, detail=reason))
    return result


# -- aggregate frames ---------------------------------------------------------


def _columns_of(expectation: dict[str, Any]) -> list[str]:
    kwargs = expectation.get("kwargs") or {}
    if "column" in kwargs:
        return [kwargs["column"]]
    return list(kwargs.get("column_list") or [])


def _resource_batch(package: Package, name: str, suite: dict[str, Any], result: LayerResult) -> Batch | None:
    """A frame with as many rows as the resource and no columns: all a row-count expectation reads."""
    import pandas as pd

    resource = (suite.get("meta") or {}).get("resource", name)
    if resource not in package.resources:
        result.checks += 1
        result.findings.append(Finding.make("expectation-resource-missing", resource=resource, path="datapackage.json",
                                            value=name))
        return None
    table = package.table(resource)
    if table is None:
        return None  # unreadable: the structure layer says why
    return Batch(suite=name, frame=pd.DataFrame(index=pd.RangeIndex(len(table))),
                 expectations=list(suite.get("expectations", [])), resource=resource, table=table)


class _RowMap:
    """Row of the package suite's long frame -> (resource, row index), from each resource's offset."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.names: list[str] = []
        self.total = 0

    def add(self, name: str, length: int) -> None:
        self.starts.append(self.total)
        self.names.append(name)
        self.total += length

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, index: int) -> tuple[str, int]:
        import bisect

        position = bisect.bisect_right(self.starts, index) - 1
        return self.names[position], index - self.starts[position]


def _package_batch(package: Package, suite: dict[str, Any], options: Options | None = None) -> Batch | None:
    """One long frame: a row per row of each checked resource, a count column per package rule
    (counted with polars group-bys and joins, not row by row).

    A rule that would fail while a table it counts in lost released rows without a retraction (the
    stable-ID check's `released-id-missing`: those rows may have been the references) is not judged:
    the removal is the one mistake, and restoring the rows may settle the rule. Asked only when the
    rule would fail, so a passing package never expands the release's IDs here."""
    import numpy as np
    import polars as pl

    plans = []
    for expectation in suite.get("expectations", []):
        plan = _plan(package, expectation)
        if plan is not None:
            plans.append(plan)
    if not plans:
        return None
    rows = _RowMap()
    offsets: dict[str, int] = {}
    tables: dict[str, Table] = {}
    for _, resource, table, _, _ in plans:
        if resource not in offsets:
            offsets[resource] = len(rows)
            tables[resource] = table
            rows.add(resource, len(table))
    columns: dict[str, Any] = {}
    for expectation, resource, table, key, counts in plans:
        column = columns.setdefault(expectation["kwargs"]["column"], np.full(len(rows), np.nan))
        keys = table.text.select(pl.col(table.column_name(key)).fill_null("").alias("key"))
        counted = keys.join(counts, on="key", how="left", maintain_order="left").get_column("n").fill_null(0).cast(pl.Float64)
        values = counted.to_numpy().copy()
        values[(keys.get_column("key") == "").to_numpy()] = np.nan  # an empty key is a required-field error reported elsewhere
        rejected = package.rejected_rows(resource, [key])
        if rejected:  # a key the structure layer rejected (malformed, repeated): nothing can refer to it, that finding says why
            values[sorted(rejected)] = np.nan
        if (values == 0).any() and _references_removed(package, expectation, options):
            values[:] = np.nan
        column[offsets[resource]: offsets[resource] + len(table)] = values
    import pandas as pd

    return Batch(suite=PACKAGE_SUITE, frame=pd.DataFrame(columns), expectations=[p[0] for p in plans], rows=rows,
                 tables=tables)


def _references_removed(package: Package, expectation: dict[str, Any], options: Options | None) -> bool:
    """Whether a table a package rule counts in lost released rows without a retraction."""
    from nkru.layers.metadata import released_ids_gone

    counted = [reference.partition(".")[0] for reference in (expectation.get("meta") or {}).get("counted_in") or []]
    return any(released_ids_gone(package, options, list(dict.fromkeys(counted))).values())


def _plan(package: Package, expectation: dict[str, Any]):
    """(expectation, resource, table, key field, references counted per key (a polars frame: key, n))
    or None when it cannot run."""
    import polars as pl

    meta = expectation.get("meta") or {}
    resource, key = meta.get("resource"), meta.get("field")
    if resource not in package.resources or "column" not in (expectation.get("kwargs") or {}):
        return None
    table = package.checkable(resource)
    if table is None or key not in table.header:
        return None  # unreadable: the structure layer says why
    referenced = []
    for reference in meta.get("counted_in") or []:
        other, _, other_field = reference.partition(".")
        if other not in package.resources:
            continue  # a resource that is not there refers to nothing
        other_table = package.checkable(other)
        if other_table is None or other_field not in other_table.header:
            return None  # cannot count: better no finding than a false one
        if package.rejected_rows(other, [other_field]):
            # a reference the structure layer rejected (malformed, empty, no match) may have meant any row: that
            # finding is the mistake, and the rows it may have referred to are not judged until it is fixed
            return None
        referenced.append(other_table.text.select(pl.col(other_table.column_name(other_field)).alias("key")))
    if referenced:
        counts = pl.concat(referenced).filter(pl.col("key").is_not_null() & (pl.col("key") != "")).group_by("key").len("n")
    else:
        counts = pl.DataFrame(schema={"key": pl.String, "n": pl.UInt32})
    return expectation, resource, table, key, counts


@dataclass
class Shares:
    """A watched field's categories with their share (percent) now and among the released rows."""

    release: str
    path: str  # the table's file
    now: int  # rows with a value now
    then: int  # rows with a value among those in the release
    frame: Any  # polars: value, now, then, shift (percentage points), largest shift first


def _shares(package: Package, resource: str, field_name: str, release: str, released: Any) -> Shares | None:
    """The shares of each value of `field_name`, now and among the rows whose ID was released (`released`: a
    polars String Series, or None); None when the table or a column cannot be read or no released row is left."""
    import polars as pl

    if resource not in package.resources or released is None or released.is_empty():
        return None
    table = package.table(resource)
    key = package.primary_key(resource)
    if table is None or len(key) != 1 or field_name not in table.header or key[0] not in table.header:
        return None
    frame = table.text.select(pl.col(table.column_name(key[0])).alias("id"),
                              pl.col(table.column_name(field_name)).alias("value"))
    frame = frame.filter(pl.col("value").is_not_null() & (pl.col("value") != ""))
    frame = frame.with_columns(pl.col("id").is_in(released.implode()).alias("released"))
    now, then = frame.height, int(frame.get_column("released").sum())
    if not now or not then:
        return None
    counts = frame.group_by("value").agg(pl.len().alias("n"), pl.col("released").sum().alias("r"))
    counts = counts.select("value", (pl.col("n") * 100.0 / now).alias("now"), (pl.col("r") * 100.0 / then).alias("then"))
    counts = counts.with_columns((pl.col("now") - pl.col("then")).abs().alias("shift")).sort(["shift", "value"],
                                                                                              descending=[True, False])
    return Shares(release, table.path, now, then, counts)


def _distributions_batch(package: Package, suite: dict[str, Any], options: Any) -> Batch | None:
    """One frame: a row per category of the watched fields, a column per distribution holding each of
    its categories' shift (percentage points; missing on the other distributions' rows). A distribution
    without a previous release (or with none of its rows left) is not checked."""
    import numpy as np
    import pandas as pd

    from nkru.layers.metadata import released_ids

    baseline = released_ids(package, options)
    if baseline is None:
        return None
    release, ids = baseline
    expectations, shares = [], {}
    for expectation in suite.get("expectations", []):
        meta = expectation.get("meta") or {}
        column = (expectation.get("kwargs") or {}).get("column")
        found = _shares(package, meta.get("resource"), meta.get("field"), release, ids.get(meta.get("resource")))
        if found is not None and column:
            expectations.append(expectation)
            shares[column] = found
    if not expectations:
        return None
    total = sum(s.frame.height for s in shares.values())
    columns, at = {}, 0
    for column, found in shares.items():
        values = np.full(total, np.nan)
        values[at: at + found.frame.height] = found.frame.get_column("shift").to_numpy()
        columns[column] = values
        at += found.frame.height
    return Batch(suite=DISTRIBUTIONS_SUITE, frame=pd.DataFrame(columns), expectations=expectations, shares=shares)


# -- results -> findings ------------------------------------------------------


def _plain(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _findings(batch: Batch, item: dict[str, Any]) -> list[Finding]:
    """Findings from one failed expectation's outcome (`outcome`: plain JSON)."""
    kind = item["type"]
    kwargs = item["kwargs"] or {}
    meta = item["meta"] or {}
    rule = item.get("description") or kind
    severity = "error" if item.get("critical", True) else "warning"
    details = item.get("result") or {}
    indices = details.get("unexpected_index_list")
    resource = meta.get("resource", batch.resource)
    table = batch.table
    context = dict(rule=rule, expectation=kind, severity=severity)
    exception = item.get("exception")
    if exception and indices is None:
        return [Finding.make("expectation-error", resource=resource, path=table.path if table is not None else None,
                             value=kind, detail=exception, **context)]
    if kwargs.get("column") in batch.shares:  # a distribution: the categories that moved most
        return [_distribution_finding(batch.shares[kwargs["column"]], resource, meta.get("field"),
                                      kwargs.get("max_value"), context)]
    if indices is None:  # a table-level expectation
        observed = details.get("observed_value")
        shown = ", ".join(map(str, observed)) if isinstance(observed, list) else _plain(observed)
        return [Finding.make(_code(kind, row_level=False), resource=resource, path=table.path if table is not None else None,
                             value=shown, expected=", ".join(map(str, kwargs.get("column_list") or [])),
                             detail=_row_count_detail(resource, table.path if table is not None else None, batch.floor,
                                                     kwargs.get("min_value"), rule) if "min_value" in kwargs else None,
                             **context)]
    found = []
    cells = {row: values for row, values in item.get("values") or []}
    for index in sorted({int(i) for i in indices}):
        if batch.rows is None:  # an expectation added to a suite by hand: say which row of the frame
            found.append(Finding.make(_code(kind, row_level=True), resource=resource, field=", ".join(_columns_of(item)),
                                      value="|".join(v or "" for v in cells[index]), line=None, **context))
            continue
        name, position = batch.rows[index]  # a row of the package suite's frame stands for a row of a resource
        row_table = batch.tables[name]
        found.append(Finding.make(_code(kind, row_level=True), resource=name, path=row_table.path,
                                  line=row_table.lines[position], row_id=row_table.row_id(position),
                                  field=meta.get("field"), value=_cell(row_table, position, meta.get("field")),
                                  observed=cells[index][0], **context))
    return found


def _distribution_finding(shares: Shares, resource: str, field_name: str | None, bound: Any,
                          context: dict[str, Any]) -> Finding:
    import polars as pl

    moved = shares.frame.filter(pl.col("shift") > float(bound)) if bound is not None else shares.frame
    first = moved.row(0, named=True) if moved.height else shares.frame.row(0, named=True)
    parts = [f"{row['value']!r} {row['now']:.0f}% of {shares.now} now, {row['then']:.0f}% of {shares.then} then"
             for row in moved.head(3).iter_rows(named=True)]
    return Finding.make(code_for("expect_column_max_to_be_between"), resource=resource, path=shares.path, field=field_name,
                        value=repr(first["value"]), observed=f"{first['shift']:.0f}", expected=_plain(float(bound)),
                        release=shares.release, detail="; ".join(parts), **context)


def _row_count_detail(resource: str | None, path: str | None, floor: Any, minimum: Any, rule: str) -> str:
    """What a failed row-count expectation means and what to do about it (`floor`: a RowFloor, or None)."""
    if isinstance(minimum, dict) and floor is not None:  # the suite's parameter, not its value
        minimum = floor.minimum
    if floor is None or floor.released is None or floor.minimum != minimum \
            or floor.minimum != floor.released - floor.retracted - floor.missing:  # no release, or it held fewer than any table holds
        return f"expected at least {_plain(minimum)}: {rule}"
    less = [f"{floor.retracted} retracted since"] if floor.retracted else []
    less += [f"{floor.missing} released IDs gone (reported by ID)"] if floor.missing else []
    since = f" less {' and '.join(less)}, so at least {floor.minimum}" if less else ""
    if resource == RETRACTIONS:
        what = f"retractions are permanent: restore the removed rows of {path or resource}"
    else:
        what = ("released rows were deleted: restore them, or retract each one (remove the row and list its ID in "
                "data/retractions.csv; see docs/curation.md, 'Correcting and removing released rows')")
    return f"but {floor.released} in release {floor.release} ({floor.source}){since}; {what}"


def _cell(table: Table, index: int, label: str | None) -> str:
    name = table.column_name(label) if label else None
    return (table.text.get_column(name)[index] or "") if name is not None else ""


def _exception_message(item: Any) -> str | None:
    """The first exception message in a result's exception_info (a flat or a per-metric dict)."""
    info = getattr(item, "exception_info", None) or {}
    stack = [info]
    while stack:
        current = stack.pop()
        if not isinstance(current, dict):
            continue
        if current.get("raised_exception"):
            return str(current.get("exception_message") or "unknown error").splitlines()[0][:300]
        stack.extend(v for v in current.values() if isinstance(v, dict))
    return None


def _display(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


# -- Data Docs ----------------------------------------------------------------


def prepare_data_docs(target: Path) -> Path:
    """Check that `target` may be (re)built as a Data Docs site; raises ValueError if not.

    An existing directory is replaced only when it is empty or already a Data Docs site
    (index.html and static/), so a mistyped path never wipes unrelated files.
    """
    from nkru.fsutil import OutsideWrite, confine, fault

    named = target
    target = Path(target).absolute()
    try:
        confine(target, Path.cwd(), named=named)  # a parent of --out inside the package that is a link
        fault(target)
        if target.exists() and not target.is_dir():
            raise ValueError(f"Data Docs folder {target}: exists and is not a directory")
        if target.is_dir() and any(target.iterdir()) and not ((target / "index.html").is_file() and (target / "static").is_dir()):
            raise ValueError(f"Data Docs folder {target}: directory is not empty and is not a Data Docs site; choose another")
        target.parent.mkdir(parents=True, exist_ok=True)
        probe = target.parent / f".{target.name}.nkru-probe"
        probe.mkdir()
        probe.rmdir()
    except OutsideWrite as exc:
        raise ValueError(f"Data Docs folder {exc}") from None
    except OSError as exc:
        raise ValueError(f"Data Docs folder {target}: cannot be written ({exc.strerror or exc})") from None
    return target
