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
foreign keys) are validation, not loading: `nkru.load(..., validate=True)` (in `nkru.api`)
refuses an invalid package (it runs `nkru validate`'s layers first).

The tables are the one table type (`nkru.reader.Table`) as the package's one reader read them,
typed by the one type system (`nkru.types`); `read_package()` gives them (the exports use it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from nkru.package import DESCRIPTOR, Package, ReadError, Table, is_remote
from nkru.reader import delimiter_name
from nkru.types import (  # noqa: F401 - FieldSpec, EDTF, type_column, type_frame, schema_field_specs: the old home
    EDTF,
    FieldSpec,
    LoadError,
    Problem,
    polars_dtype,
    schema_field_specs,
    type_column,
    type_frame,
)

__all__ = ["load", "read_package", "Data", "LoadError", "PackageInvalid", "TypedPackage", "ENGINES"]

ENGINES = ("pandas", "polars")


class PackageInvalid(LoadError):
    """`nkru.load(..., validate=True)` refused a package that does not validate; `.report` is the validation report."""

    def __init__(self, report: Any):
        self.report = report
        problems = [
            Problem(path=f.path or DESCRIPTOR, line=f.line, field=f.field, value=f.value, reason=f"[{f.code}] {f.message}", resource=f.resource)
            for f in report.errors
        ]
        super().__init__(problems or "the package does not validate")


# -- reading -------------------------------------------------------------------


@dataclass
class TypedPackage:
    """The package's descriptor and its tables, typed."""

    root: Path
    descriptor: dict[str, Any]
    tables: dict[str, Table]

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


def header_problem(table: Table, names: list[str]) -> Problem | None:
    """Why the header does not match the schema's fields, or None when it does."""
    if not table.header:
        return Problem(table.path, 1, None, None, "file is empty (no header row)", table.name)
    if table.header == names:
        return None
    missing = [n for n in names if n not in table.header]
    extra = [h for h in table.header if h not in names]
    detail = []
    if table.suspect_delimiter:
        detail.append(f"the file looks separated by {delimiter_name(table.suspect_delimiter)}, not by the "
                      f"declared delimiter (save it comma-separated or declare the dialect)")
    if missing:
        detail.append(f"missing {', '.join(missing)}")
    if extra:
        detail.append(f"not in the schema: {', '.join(extra)}")
    if not detail:
        detail.append(f"columns out of order (schema order: {', '.join(names)})")
    return Problem(table.path, 1, None, ",".join(table.header), "(the header) does not match the schema: " + "; ".join(detail), table.name)


def read_table(package: Package, name: str) -> Table:
    """Read and type one resource; LoadError lists every cell that does not parse."""
    _, table = _read(package, name)
    if name in package.field_errors:
        raise package.field_errors[name]
    problem = header_problem(table, [f.name for f in table.schema_fields])
    if problem is not None:
        raise LoadError(problem)
    if table.problems:
        raise LoadError(table.problems)
    return table


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
    tables: dict[str, Table] = {}
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


def to_pandas(table: Table):
    """A pandas DataFrame with the schema's dtypes (see the module docstring)."""
    import pandas as pd

    data = {spec.name: _pandas_column(spec, table.values[spec.name]) for spec in table.fields}
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(table)))
    frame.attrs["resource"] = table.name
    frame.attrs["path"] = table.path
    return frame


def to_polars(table: Table):
    """A polars DataFrame: pl.Date, pl.Int64, pl.Enum for controlled values, pl.String."""
    import polars as pl

    frame = table.typed
    casts = [pl.col(spec.name).cast(polars_dtype(spec)) for spec in table.fields
             if frame.schema[spec.name] != polars_dtype(spec)]
    return frame.with_columns(casts) if casts else frame


CONVERTERS: dict[str, Callable[[Table], Any]] = {"pandas": to_pandas, "polars": to_polars}


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

    def table(self, resource: str) -> Table:
        """The table behind a frame (typed values as Python objects in `values`, file lines in `lines`)."""
        return self._package.tables[resource]


def load(path: str | Path = ".", engine: str = "pandas", *, resources: Sequence[str] | None = None) -> Data:
    """Load the package at `path` as DataFrames typed from its Table Schemas (see the module docstring;
    `nkru.load`, in `nkru.api`, also validates first when asked).

    engine: "pandas" (default) or "polars". resources: load only these resources (default: every table).

    Raises LoadError (a ValueError) naming file, line, field and value for a cell that does
    not parse, PackageError when there is no datapackage.json at `path`.
    """
    if engine not in CONVERTERS:
        raise ValueError(f"unknown engine {engine!r} (choose from {', '.join(CONVERTERS)})")
    package = read_package(path, resources=resources)
    convert = CONVERTERS[engine]
    frames = {name: convert(table) for name, table in package.tables.items()}
    return Data(frames, package, engine)
