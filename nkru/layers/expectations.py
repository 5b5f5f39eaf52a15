"""Expectations layer: declarative great-expectations suites, built from the validated package's schemas.

The suites are generated in memory (`nkru.suites.generate.suites_for`) from the package being
validated, so its own vocabularies count; validate/suites/*.json is the committed, reviewed record
of the same suites for this repository's package (a test keeps it current).

One suite per resource (columns, row count, required fields, unique keys, the
controlled vocabularies, all generated from the schemas) and a package suite of
cross-table rules (every source cited by a claim, every event claimed, every
actor mentioned), which runs on a derived frame of reference counts.

great-expectations (about 2 s and 235 MB to import) is imported inside the
functions that run it, never when this module is imported, and for a small
package in a worker process that `nkru.api` starts at once (`nkru.layers.gx_worker`),
so that the import overlaps the structure and rules layers. Either way
`GreatExpectations` runs the suites, in an ephemeral context with progress bars
off, on the same polars frames converted to pandas the same way (`to_pandas`);
`Options.data_docs` builds the Data Docs site into a directory.

Every failed expectation becomes findings with the code `expect-<type>` (for
example `expect-column-values-to-be-in-set`), one per offending row, placed at
the row's line in the CSV file.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import sys
import threading
import types
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from nkru.findings import CODES, Finding, LayerResult, define, sort_findings
from nkru.transaction import atomic_directory
from nkru.metadata import RETRACTIONS
from nkru.package import DESCRIPTOR, Package, Table
from nkru.suites import PACKAGE_SUITE, suite_path
from nkru.options import Options

NAME = "expectations"
#: Data Docs site name inside the ephemeral context.
SITE = "nkru"


def code_for(expectation_type: str) -> str:
    """`expect_column_values_to_be_in_set` -> `expect-column-values-to-be-in-set`."""
    return "expect-" + expectation_type.removeprefix("expect_").replace("_", "-")


#: Message templates by expectation type. `{rule}` is the expectation's description in its suite.
TEMPLATES = {
    "expect_column_values_to_be_in_set": (
        "{resource} line {line}: {field}={value!r} is not in its vocabulary ({allowed})",
        "A value is not in the controlled vocabulary its schema lists."),
    "expect_column_values_to_not_be_null": (
        "{resource} line {line}: {field} is empty ({rule})",
        "A required field is empty."),
    "expect_column_values_to_be_unique": (
        "{resource} line {line}: {field}={value!r} occurs in more than one row ({rule})",
        "A field that must be unique repeats a value."),
    "expect_compound_columns_to_be_unique": (
        "{resource} line {line}: ({field}) = {value!r} occurs in more than one row ({rule})",
        "A composite primary key repeats."),
    "expect_table_row_count_to_be_between": (
        "{resource}: {value} rows, {detail}",
        "A table has fewer rows than it must hold: at least one, and, for a table whose rows carry an ID, never fewer "
        "than in the last release less the rows retracted since (a released row is retracted, never deleted)."),
    "expect_table_columns_to_match_ordered_list": (
        "{resource}: the columns are {value}, expected {expected} ({rule})",
        "A table's header differs from its schema's fields."),
    "expect_column_values_to_be_between": (
        "{resource} line {line}: {field}={value!r} breaks the rule: {rule} (found {observed})",
        "A package rule: a row that other tables must refer to is referred to nowhere."),
}
for _type, (_template, _description) in TEMPLATES.items():
    define(code_for(_type), NAME, _template, description=f"great-expectations `{_type}`: {_description}")
ROW_TEMPLATE = "{resource} line {line}: {field}={value!r} fails {expectation} ({rule})"
TABLE_TEMPLATE = "{resource}: {expectation} failed ({rule}; observed {value})"
define("expectation-error", NAME, "{resource}: expectation {expectation} could not run: {detail}",
       description="great-expectations raised an error while evaluating an expectation.")
define("expectation-suite-invalid", NAME, "{path}: not a valid expectation suite: {detail}",
       description="A suite file in validate/suites/ cannot be loaded (regenerate it with `python -m nkru.suites.generate`).")
define("expectation-rule-unavailable", NAME, "an expectation cannot be built from the schemas: {detail}",
       severity="warning",
       description="A package rule or suite cannot be derived from the package's schemas (e.g. a foreign key is missing), so it is not checked.")
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


#: Modules great-expectations imports when it is imported but nkru's suites never use: scipy.stats
#: (for the KL-divergence and Kolmogorov-Smirnov expectations) and altair (their charts). Together
#: about 0.9 s of its 2.3 s import. They are loaded when first used (`_Deferred`), never before.
DEFERRED_MODULES = ("scipy.stats", "altair")


_DEFERRED_LOCK = threading.RLock()


class _Deferred(types.ModuleType):
    """Stands in `sys.modules` for a module not yet imported; the first attribute asked of it (other
    than the import system's own `__spec__`, `__name__`, `__file__`, `__loader__`) imports the
    real module, which takes its place in `sys.modules`; this stand-in forwards to it from then on.

    (The standard library's `importlib.util.LazyLoader` does not help: an `import` statement reads
    the module's `__spec__`, which loads a lazy module at once.)"""

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._real(), attribute)

    def __dir__(self) -> list[str]:
        return dir(self._real())

    def _real(self) -> types.ModuleType:
        real = self.__dict__.get("_deferred_real")
        if real is None:
            with _DEFERRED_LOCK:  # two threads asking at once import it once
                real = self.__dict__.get("_deferred_real")
                if real is None:
                    name = self.__name__
                    if sys.modules.get(name) is self:
                        del sys.modules[name]
                    try:
                        real = importlib.import_module(name)
                    except BaseException:
                        sys.modules.setdefault(name, self)
                        raise
                    self.__dict__["_deferred_real"] = real
        return real


def _defer(name: str) -> None:
    """Put a `_Deferred` stand-in for `name` in `sys.modules` unless it is imported already (or missing)."""
    if name in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return
    if spec is None:
        return
    stand_in = _Deferred(name)
    stand_in.__spec__ = spec
    stand_in.__loader__ = spec.loader
    stand_in.__file__ = spec.origin
    sys.modules[name] = stand_in


def _gx():
    if "great_expectations" not in sys.modules:
        for name in DEFERRED_MODULES:
            _defer(name)
    import great_expectations as gx

    return gx


def _context():
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


@dataclass
class Batch:
    """One frame to validate with one suite, and how to place its rows back in the package."""

    suite: str
    frame: Any  # polars.DataFrame, handed over (`Handover`) when sent; great-expectations gets it as pandas
    expectations: list[dict[str, Any]]
    resource: str | None = None  # for a resource suite
    table: Table | None = None
    rows: list[tuple[str, int]] = field(default_factory=list)  # package suite: frame row -> (resource, index)
    tables: dict[str, Table] = field(default_factory=dict)  # package suite: the tables its rows come from
    floor: Any = None  # resource suite: its row-count floor (nkru.layers.metadata.RowFloor)
    labels: list[str] | None = None  # resource suite: the header labels, in the frame's column order
    numeric: bool = False  # package suite: counts as numpy floats (NaN for an empty key), not Arrow

    @property
    def parameters(self) -> dict[str, Any] | None:
        """The expectation parameters of this batch's suite (the row-count floor), or None."""
        from nkru.suites.generate import ROW_FLOOR_PARAMETER

        return {ROW_FLOOR_PARAMETER: self.floor.minimum} if self.floor is not None else None


def run_suites(package: Package, suites: dict[str, dict[str, Any]], *, data_docs: Path | None = None,
               options: Options | None = None) -> LayerResult:
    """Validate `package` with `suites` (name -> suite dict); build Data Docs into `data_docs` if given.
    Row-count floors come from the previous release that `options.baseline` (else the newest manifest) names."""
    return start_suites(package, suites, data_docs=data_docs, options=options)()


def start_suites(package: Package, suites: dict[str, dict[str, Any]], *, data_docs: Path | None = None,
                 options: Options | None = None) -> Callable[[], LayerResult]:
    """Start validating `package` with `suites`; returns the function that finishes and gives the result.

    great-expectations runs in the worker process `options.gx_worker` when `nkru.api` started one
    (`nkru.layers.gx_worker`), else in this process; both run `GreatExpectations` on the same frames.
    In this process every batch is validated here and now, one at a time, its frame dropped before the
    next is built (a million-row package never holds two); with a worker every batch is sent at once
    and the caller runs other layers while the worker validates them."""
    from nkru.layers.metadata import row_floors

    result = LayerResult(NAME)
    target = prepare_data_docs(data_docs) if data_docs is not None else None
    floors = row_floors(package, options)
    if not suites:
        return lambda: result
    runner = (options.gx_worker if options is not None else None) or GreatExpectations()
    pending: list[tuple[Batch | None, int]] = []  # (batch, ticket) sent and not yet mapped to findings

    def settle(wait: bool) -> None:
        while pending:
            outcome = runner.result(pending[0][1], wait=wait)
            if outcome is None:
                return  # not there yet
            batch, _ = pending.pop(0)
            if batch is None:
                continue  # opening the site, building the docs: nothing to report
            if "invalid" in outcome:  # a hand-edited suite file: a finding, not a traceback
                result.findings.append(Finding.make("expectation-suite-invalid", path=_display(suite_path(batch.suite)),
                                                    value=batch.suite, detail=outcome["invalid"]))
                continue
            result.checks += outcome["checks"]
            for item in outcome["failed"]:
                result.findings.extend(_findings(batch, item))

    # Data Docs are built in a staging folder that replaces the target only when complete.
    stack = contextlib.ExitStack()
    if target:  # a site inside the package: one writer at a time (nkru.fsutil.lock_for)
        from nkru.fsutil import lock_for

        stack.enter_context(lock_for(package.root, target))
    site = stack.enter_context(atomic_directory(target)) if target else None
    with contextlib.ExitStack() as on_error:
        on_error.push(stack)  # an error while starting: the staging folder goes, the target stays
        if site is not None:
            pending.append((None, runner.submit("open_site", site=str(site))))
        for name, raw_suite in suites.items():
            batch = _package_batch(package, raw_suite) if name == PACKAGE_SUITE else _resource_batch(package, name, raw_suite, result)
            if batch is None or not batch.expectations:
                continue
            batch.floor = floors.get(batch.resource) if batch.resource else None
            frame, batch.frame = Handover(batch.frame), None  # nothing here holds it while it is validated
            pending.append((batch, runner.submit("validate", name=batch.suite, suite=suites[batch.suite],
                                                 expectations=batch.expectations, frame=frame,
                                                 labels=batch.labels, numeric=batch.numeric,
                                                 parameters=batch.parameters)))
            del batch, frame
            settle(wait=False)  # in this process: the batch is done; map it now
        if site is not None:
            pending.append((None, runner.submit("build_docs")))
        on_error.pop_all()

    def finish() -> LayerResult:
        with stack:
            settle(wait=True)
        result.findings = sort_findings(result.findings)
        return result

    return finish


class Handover:
    """A frame given away: the receiver `take`s it and no other reference is left, so a million rows
    are never held twice (as polars and as pandas) while great-expectations works on them."""

    def __init__(self, frame: Any):
        self._frame = frame

    def take(self) -> Any:
        frame, self._frame = self._frame, None
        return frame


def to_pandas(frame: Any, labels: list[str] | None, numeric: bool):
    """The pandas frame great-expectations validates: a resource's text columns as Arrow-backed
    strings (missing for an empty cell) under its header labels, or the package suite's counts as
    numpy floats. Both the in-process and the worker path convert here, from the same polars frame."""
    import pandas as pd

    if labels is not None and not labels:
        return pd.DataFrame()
    pandas = frame.to_pandas() if numeric else frame.to_pandas(use_pyarrow_extension_array=True)
    if labels is not None:
        pandas.columns = labels  # header labels may repeat; polars' column names may not
    return pandas


class GreatExpectations:
    """great-expectations in this process: one ephemeral context with progress bars off, one
    pandas asset whose frame is a runtime parameter. The worker process serves the same methods."""

    def __init__(self) -> None:
        self.context = _context()
        self.site: Path | None = None
        self._answers: dict[int, dict[str, Any]] = {}  # ticket -> answer not yet taken (`submit`, `result`)
        self._submitted = 0
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

    def validate(self, *, name: str, suite: dict[str, Any], expectations: list[dict[str, Any]], frame: Any,
                 labels: list[str] | None, numeric: bool, parameters: dict[str, Any] | None) -> dict[str, Any]:
        """{"checks": expectations evaluated, "failed": [outcome dicts]}, or {"invalid": why} when the
        suite cannot be built. Outcomes are plain JSON (`outcome`), so both paths map them alike."""
        gx = _gx()
        try:
            built = gx.ExpectationSuite(**{**suite, "expectations": expectations})
        except Exception as exc:  # noqa: BLE001 -- a hand-edited suite file
            return {"invalid": (str(exc).splitlines() or [type(exc).__name__])[0][:300]}
        if isinstance(frame, Handover):
            frame = frame.take()
        pandas = to_pandas(frame, labels, numeric)
        del frame  # the polars frame: pandas has its own copy now
        checks, failed = _validate(self.context, self.data, name, pandas, built, parameters, store=self.site is not None)
        return {"checks": checks, "failed": [outcome(item, pandas) for item in failed]}

    def build_docs(self) -> None:
        self.context.build_data_docs(site_names=[SITE])

    def submit(self, call: str, **arguments: Any) -> int:
        """Run `call` (open_site, validate, build_docs) now; `result` gives its answer. The worker
        (`nkru.layers.gx_worker.Worker`) has the same two methods and runs the calls in order."""
        answer = getattr(self, call)(**arguments)
        ticket = self._submitted
        self._submitted += 1
        self._answers[ticket] = answer if isinstance(answer, dict) else {}
        return ticket

    def result(self, ticket: int, *, wait: bool = True) -> dict[str, Any] | None:
        return self._answers.pop(ticket)


def _validate(context, data, name: str, frame, suite, parameters, *, store: bool) -> tuple[int, list[Any]]:
    """Run one suite on its frame with the batch definition `data`: (expectations evaluated, failed results)."""
    gx = _gx()
    if store:  # a validation definition keeps suite and results in the context, where Data Docs find them
        suite = context.suites.add(suite)
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, suite=suite, data=data))
        run = definition.run(batch_parameters={"dataframe": frame}, expectation_parameters=parameters,
                             result_format="COMPLETE")
        return len(run.results), [item for item in run.results if not item.success]
    # Nothing stored: pass/fail first (about half the cost of full results), details only for what failed.
    frame_batch = data.get_batch(batch_parameters={"dataframe": frame})
    run = frame_batch.validate(suite, result_format="BOOLEAN_ONLY", expectation_parameters=parameters)
    failed = [item.expectation_config.to_domain_obj() for item in run.results if not item.success]
    if not failed:
        return len(run.results), []
    details = frame_batch.validate(gx.ExpectationSuite(name=name, expectations=failed), result_format="COMPLETE",
                                   expectation_parameters=parameters)
    return len(run.results), [item for item in details.results if not item.success]


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
    """The cells of column `label` at `rows` as text (None when missing); the first of repeated labels."""
    import pandas as pd

    column = frame[label]
    if isinstance(column, pd.DataFrame):
        column = column.iloc[:, 0]
    return [None if _missing(value) else _plain(value) for value in column.iloc[rows].tolist()]


def _missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


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
    """The columns the suites can name, read from the schemas (the suites are generated from them;
    great-expectations is not loaded to say so): required, unique and enum fields, the primary key,
    and both sides of every foreign key (the package suite counts references). The header
    expectations need only the header. tests/test_release_columns.py checks this covers every
    column the generated suites name."""
    from nkru.package import schema_fields

    read: dict[str, set[str]] = {}
    for name, spec in package.resources.items():
        if spec.schema is None:
            continue
        wanted = read.setdefault(name, set(package.primary_key(name)))
        for field in schema_fields(spec.schema):
            constraints = field.get("constraints") if isinstance(field.get("constraints"), dict) else {}
            if any(constraints.get(c) for c in ("required", "unique", "enum")):
                wanted.add(field["name"])
        for fk in package.foreign_keys(name):
            wanted.update(fk.fields)
            read.setdefault(fk.resource, set()).update(fk.reference_fields)
    return read


def start(package: Package, options: Options | None = None) -> Callable[[], LayerResult]:
    """Start validating `package` with suites built in memory from its own schemas (so a fork's or an
    older release's vocabularies are honoured; the committed JSON suites are only the reviewed record);
    returns the function that finishes and gives the result (see `start_suites`)."""
    data_docs = options.data_docs if options is not None else None
    target = prepare_data_docs(Path(data_docs)) if data_docs else None  # before the slow part: fail early
    try:
        suites, skipped = _suites(package)
    except ValueError as exc:
        result = LayerResult(NAME)
        result.findings.append(Finding.make("expectation-rule-unavailable", path=DESCRIPTOR, detail=str(exc)))
        return lambda: result
    finish = start_suites(package, suites, data_docs=target, options=options)

    def done() -> LayerResult:
        result = finish()
        for reason in skipped:
            result.findings.append(Finding.make("expectation-rule-unavailable", path=DESCRIPTOR, detail=reason))
        return result

    return done


def check(package: Package, options: Options | None = None) -> LayerResult:
    """Validate `package` with suites built from its own schemas (`start`, finished at once)."""
    return start(package, options)()


# -- frames -------------------------------------------------------------------


def _columns_of(expectation: dict[str, Any]) -> list[str]:
    kwargs = expectation.get("kwargs") or {}
    if "column" in kwargs:
        return [kwargs["column"]]
    if expectation.get("type") == "expect_table_columns_to_match_ordered_list":
        return []  # about the header itself
    return list(kwargs.get("column_list") or [])


def _resource_batch(package: Package, name: str, suite: dict[str, Any], result: LayerResult) -> Batch | None:
    resource = (suite.get("meta") or {}).get("resource", name)
    if resource not in package.resources:
        result.checks += 1
        result.findings.append(Finding.make("expectation-resource-missing", resource=resource, path="datapackage.json",
                                            value=name))
        return None
    table = package.table(resource)
    if table is None:
        return None  # unreadable: the structure layer says why
    # An expectation on a column the file lacks cannot run; the header expectation reports the column.
    present = set(table.header)
    expectations = [e for e in suite.get("expectations", []) if set(_columns_of(e)) <= present]
    uses: dict[str, set[str]] = {}
    for e in expectations:
        for column in _columns_of(e):
            uses.setdefault(column, set()).add(e.get("type"))
    presence = {column for column, types in uses.items() if types == {NOT_NULL}}
    return Batch(suite=name, frame=_text_frame(table, set(uses), presence), expectations=expectations, resource=resource,
                 table=table, labels=list(table.header))


NOT_NULL = "expect_column_values_to_not_be_null"


def _text_frame(table: Table, needed: set[str] | None = None, presence: set[str] = frozenset()):
    """The reader's text frame as great-expectations should see it (empty cells missing), in the
    reader's column names; `to_pandas` gives it the header labels and shares its Arrow data
    rather than copying it into one Python string per cell.

    Only the `needed` columns (those the suite's expectations name; all when None) carry their
    cells; every other column is there by name only, as an all-missing column of Arrow's null type
    (no buffers), so the header expectations still see every column while a million claims'
    free-text notes are never copied. A column in `presence` (one that only not-null
    expectations name) carries whether each cell is there (true, or missing), not its text: all
    such an expectation reads, at one bit a cell instead of a copy of every statement."""
    import polars as pl

    if not table.header:
        return pl.DataFrame()
    labels = dict(zip(table.columns, table.header))
    def column(name: str):
        if labels[name] in presence:
            return pl.when(pl.col(name) != "").then(True).alias(name)  # "" and null -> missing
        if needed is None or labels[name] in needed:
            return pl.col(name).replace("", None)
        return pl.repeat(None, table.text.height, dtype=pl.Null).alias(name)

    return table.text.select([column(c) for c in table.columns])


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


def _package_batch(package: Package, suite: dict[str, Any]) -> Batch | None:
    """One long frame: a row per row of each checked resource, a count column per package rule
    (counted with polars group-bys and joins, not row by row)."""
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
        column[offsets[resource]: offsets[resource] + len(table)] = values
    frame = pl.DataFrame({name: pl.Series(name, values, dtype=pl.Float64, nan_to_null=False) for name, values in columns.items()})
    return Batch(suite=PACKAGE_SUITE, frame=frame, expectations=[p[0] for p in plans], rows=rows, tables=tables,
                 numeric=True)


def _plan(package: Package, expectation: dict[str, Any]):
    """(expectation, resource, table, key field, references counted per key (a polars frame: key, n))
    or None when it cannot run."""
    import polars as pl

    meta = expectation.get("meta") or {}
    resource, key = meta.get("resource"), meta.get("field")
    if resource not in package.resources or "column" not in (expectation.get("kwargs") or {}):
        return None
    table = package.table(resource)
    if table is None or key not in table.header:
        return None
    referenced = []
    for reference in meta.get("counted_in") or []:
        other, _, other_field = reference.partition(".")
        if other not in package.resources:
            continue  # a resource that is not there refers to nothing
        other_table = package.table(other)
        if other_table is None or other_field not in other_table.header:
            return None  # cannot count: better no finding than a false one
        referenced.append(other_table.text.select(pl.col(other_table.column_name(other_field)).alias("key")))
    if referenced:
        counts = pl.concat(referenced).filter(pl.col("key").is_not_null() & (pl.col("key") != "")).group_by("key").len("n")
    else:
        counts = pl.DataFrame(schema={"key": pl.String, "n": pl.UInt32})
    return expectation, resource, table, key, counts


# -- results -> findings ------------------------------------------------------


def _plain(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _findings(batch: Batch, item: dict[str, Any]) -> list[Finding]:
    """Findings from one failed expectation's outcome (`outcome`: plain JSON, whichever process ran it)."""
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
        return [Finding.make("expectation-error", resource=resource, path=table.path if table else None,
                             value=kind, detail=exception, **context)]
    if indices is None:  # a table-level expectation
        observed = details.get("observed_value")
        shown = ", ".join(map(str, observed)) if isinstance(observed, list) else _plain(observed)
        return [Finding.make(_code(kind, row_level=False), resource=resource, path=table.path if table else None,
                             value=shown, expected=", ".join(map(str, kwargs.get("column_list") or [])),
                             detail=_row_count_detail(resource, table.path if table else None, batch.floor,
                                                     kwargs.get("min_value"), rule) if "min_value" in kwargs else None,
                             **context)]
    found = []
    columns = _columns_of({"type": kind, "kwargs": kwargs})
    cells = {row: values for row, values in item.get("values") or []}
    for index in sorted({int(i) for i in indices}):
        if batch.rows:  # the package suite: a row of the derived frame stands for a row of a resource
            name, position = batch.rows[index]
            row_table = batch.tables[name]
            where = dict(resource=name, path=row_table.path, line=row_table.lines[position],
                         row_id=row_table.row_id(position))
            observed = cells[index][0]
            found.append(Finding.make(_code(kind, row_level=True), field=meta.get("field"),
                                      value=_cell(row_table, position, meta.get("field")),
                                      observed=observed, **where, **context))
            continue
        where = dict(resource=resource, path=table.path, line=table.lines[index], row_id=table.row_id(index))
        values = cells[index]
        value = values[0] if len(values) == 1 else "|".join(v or "" for v in values)
        found.append(Finding.make(_code(kind, row_level=True), field=", ".join(columns), value=value,
                                  allowed=", ".join(map(str, kwargs.get("value_set") or [])), **where, **context))
    return found


def _row_count_detail(resource: str | None, path: str | None, floor: Any, minimum: Any, rule: str) -> str:
    """What a failed row-count expectation means and what to do about it (`floor`: a RowFloor, or None)."""
    if isinstance(minimum, dict) and floor is not None:  # the suite's parameter, not its value
        minimum = floor.minimum
    if floor is None or floor.released is None or floor.minimum != minimum \
            or floor.minimum != floor.released - floor.retracted:  # no release, or it held fewer than any table holds
        return f"expected at least {_plain(minimum)}: {rule}"
    since = f" less {floor.retracted} retracted since, so at least {floor.minimum}" if floor.retracted else ""
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
