"""Open a Data Package safely: the descriptor, resource paths, schemas, tables and source texts.

Nothing here judges the data; it only reads it, refusing paths that would
leave the package. Layers turn what it cannot read into findings. A package is a folder (or a
release zip unpacked into a private one) or, read-only, a `nkru.archive.Store`: a zip's or a git
commit's files read in place (`nkru.snapshot` opens a version by name). Either way the descriptor,
schemas and tables are read by the code here, and each table by the one reader (`nkru.reader`).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from nkru import safejson
from nkru.archive import SnapshotError, Store, unpack_zip
from nkru.fsutil import open_regular, read_regular, special_kind
from nkru.reader import ColumnReleased, ReadError, Table, csv_dialect, decode, read_csv_stream, read_resource, reread_columns
from nkru.types import LoadError, schema_field_specs

__all__ = ["Package", "PackageError", "UnsafePath", "Table", "ColumnReleased", "ReadError", "csv_dialect", "decode",
           "read_csv_text"]

#: Bytes of table files above which a package holds its tables one at a time (`Package.spills`).
SPILL_ABOVE = 256 << 20


def _identity(stat: os.stat_result) -> tuple[int, ...]:
    """What says a file is still the one read: a file replaced or written since differs in one of these."""
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


DESCRIPTOR = "datapackage.json"
#: The resource listing the archived source texts (source_id, text_path, text_sha256, language).
SOURCES = "sources"


#: Set in the descriptor of an open release, whose zip leaves the article texts out (see docs/releasing.md).
TEXTS_KEY, TEXTS_EXCLUDED = "nkru:texts", "excluded"


def texts_excluded(descriptor: Any) -> bool:
    """True for the descriptor of an open release built without the article texts."""
    return isinstance(descriptor, dict) and descriptor.get(TEXTS_KEY) == TEXTS_EXCLUDED


class PackageError(Exception):
    """The package cannot be opened at all (a usage error: exit code 2)."""


class UnsafePath(ValueError):
    """A path in the descriptor points outside the package, is hidden, absolute or remote."""


def _unsafe_in_path() -> frozenset[str]:
    from nkru.text import UNSAFE_CHARACTERS

    return frozenset(UNSAFE_CHARACTERS) | frozenset(chr(c) for c in range(0xD800, 0xE000))


#: Characters no path in a descriptor may hold: controls (NUL included), bidi controls, line separators
#: and lone surrogates.
_UNSAFE_IN_PATH = _unsafe_in_path()


def is_remote(path: str) -> bool:
    return path.lower().startswith(("http://", "https://", "ftp://", "ftps://"))


def check_relative_path(path: str) -> PurePosixPath:
    """Return the path if it is a safe relative POSIX path inside the package; raise UnsafePath if not."""
    if not isinstance(path, str) or not path:
        raise UnsafePath("path is empty or not a string")
    if is_remote(path):
        raise UnsafePath("remote URL")
    if "://" in path or path.lower().startswith("file:"):
        raise UnsafePath("URL scheme")
    if "\\" in path:
        raise UnsafePath("backslash in path (use POSIX separators)")
    unsafe = next((char for char in path if char in _UNSAFE_IN_PATH), None)
    if unsafe is not None:  # a NUL would end the path in the operating system; a bidi control hides its order
        raise UnsafePath(f"control or bidi character U+{ord(unsafe):04X} in path")
    if path.startswith(("/", "~")) or (len(path) > 1 and path[1] == ":"):
        raise UnsafePath("absolute path")
    if "$" in path:
        raise UnsafePath("variable in path")
    pure = PurePosixPath(path)
    if any(part == ".." for part in pure.parts):
        raise UnsafePath("path leaves the package ('..')")
    if any(part.startswith(".") for part in pure.parts):
        raise UnsafePath("hidden file or folder")
    return pure


def read_csv_text(text: str, *, name: str, path: str, primary_key: list[str] | None = None,
                  dialect: dict[str, Any] | None = None) -> Table:
    """Parse CSV text with the one reader (header = line 1); raises ReadError."""
    table = read_csv_stream(io.StringIO(text, newline=""), name=name, path=path, dialect=dialect)
    table.primary_key = list(primary_key or [])
    return table


@dataclass(frozen=True)
class ForeignKey:
    fields: tuple[str, ...]
    resource: str  # the referenced resource (the same one for a self-reference)
    reference_fields: tuple[str, ...]


def _names(value: Any) -> list[str] | None:
    """A Table Schema field list (`"a"` or `["a", "b"]`) as a list, or None when malformed."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def schema_fields(schema: Any) -> list[dict[str, Any]]:
    """The well-formed field descriptors of a schema (objects with a string name)."""
    if not isinstance(schema, dict) or not isinstance(schema.get("fields"), list):
        return []
    return [f for f in schema["fields"] if isinstance(f, dict) and isinstance(f.get("name"), str)]


def schema_primary_key(schema: Any) -> list[str]:
    return (_names(schema.get("primaryKey")) or []) if isinstance(schema, dict) else []


def schema_foreign_keys(schema: Any, resource: str) -> list[ForeignKey]:
    """Well-formed foreign keys of `resource`'s schema; malformed ones are left to the structure layer."""
    keys = []
    for fk in (schema.get("foreignKeys") if isinstance(schema, dict) else None) or []:
        if not isinstance(fk, dict) or not isinstance(fk.get("reference"), dict):
            continue
        fields = _names(fk.get("fields"))
        ref_fields = _names(fk["reference"].get("fields"))
        target = fk["reference"].get("resource") or resource
        if fields and ref_fields and isinstance(target, str) and len(fields) == len(ref_fields):
            keys.append(ForeignKey(tuple(fields), target, tuple(ref_fields)))
    return keys


@dataclass
class SourceFile:
    """A source text file: bytes and text when readable; otherwise the `kind` of problem
    ("unsafe", "missing", "unreadable" or "encoding"; bytes are kept for an encoding problem) and its `detail`."""

    path: str
    data: bytes | None = None
    text: str | None = None
    kind: str | None = None
    detail: str | None = None

    @property
    def problem(self) -> str | None:
        """Why the text cannot be had, as one sentence naming the path; None when it can."""
        if self.kind is None:
            return None
        return {
            "unsafe": f"text path {self.path!r} is not allowed: {self.detail}",
            "missing": f"no text file at {self.path!r}",
            "unreadable": f"{self.path}: cannot be read: {self.detail}",
        }.get(self.kind, f"{self.path} is not UTF-8 text ({self.detail})")


def parse_descriptor(data: bytes, where: str) -> dict[str, Any]:
    """A descriptor's JSON object (read by the safe JSON reader); PackageError naming `where` when it is not one."""
    try:
        descriptor = safejson.loads(data.decode("utf-8"), name=DESCRIPTOR)
    except UnicodeDecodeError as exc:
        raise PackageError(f"{where}: cannot be read ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise PackageError(f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    except safejson.JSONLimitError as exc:
        raise PackageError(f"{where}: refused: {exc}") from exc
    if not isinstance(descriptor, dict):
        raise PackageError(f"{where}: the descriptor must be a JSON object")
    return descriptor


@dataclass
class ResourceSpec:
    name: str
    path: str | None
    schema: dict[str, Any] | None
    descriptor: dict[str, Any]
    problem: str | None = None  # why the path or schema could not be used
    #: why the descriptor's own `name` could not be used (not a string, empty, or taken): the resource
    #: is then known as `resource-N`; the structure layer reports it, other commands refuse it
    name_problem: str | None = None


class Package:
    """A Data Package: a folder (`Package.open(path)`, a release zip too) or, read-only, the files of a
    `Store` (`Package.from_store`). `label` names it for people; use it as a context manager to close a store."""

    def __init__(self, root: Path, descriptor: dict[str, Any], *, allow_remote: bool = False,
                 store: Store | None = None, label: str | None = None):
        self.root = root
        self.descriptor = descriptor
        self.allow_remote = allow_remote
        #: where the files are read from when they are not in the folder `root` (a zip or a git commit)
        self.store = store
        self.label = label or (store.label if store is not None else str(root))
        self._tables: dict[str, Table | None] = {}
        self.read_errors: dict[str, str] = {}
        self.read_failures: dict[str, ReadError] = {}
        #: resource -> why its columns cannot be trusted: the file cannot be read as its dialect says
        #: (encoding, malformed CSV, another delimiter, too large) or its header is not its schema's
        #: fields. Filled as tables are read; see `checkable` (the seam every dependent check uses).
        self.unreadable: dict[str, str] = {}
        #: resources whose unreadability a finding already reports (the structure layer adds them): a layer
        #: that would otherwise say it could not check such a table stays silent
        self.reported: set[str] = set()
        #: resource -> field ("*": the whole row) -> indices of the data rows whose cell the structure layer
        #: rejected (type, constraint, primary or foreign key). Filled by that layer; see `rejected_rows`.
        self.rejected: dict[str, dict[str, set[int]]] = {}
        #: the release zip this package was unpacked from (None for a directory)
        self.origin: str | None = None
        #: text_path -> a file outside the package holding that source text (`--texts DIR`)
        self.text_files: dict[str, Path] = {}
        #: why a resource's fields could not be typed (an enum value of the wrong type), by resource
        self.field_errors: dict[str, LoadError] = {}

    @classmethod
    def from_store(cls, store: Store, root: Path | None = None) -> "Package":
        """The package whose files `store` reads (read-only); SnapshotError when its descriptor cannot be read."""
        try:
            data = store.read(DESCRIPTOR)
            if data is None:
                raise PackageError(f"{store.label}: no {DESCRIPTOR}")
            descriptor = parse_descriptor(data, f"{store.label}: {DESCRIPTOR}")
        except (PackageError, SnapshotError) as exc:
            store.close()
            raise SnapshotError(str(exc)) from None
        return cls(Path(root) if root is not None else Path(store.label), descriptor, store=store)

    @property
    def version(self) -> str | None:
        version = self.descriptor.get("version")
        return version if isinstance(version, str) else None

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> "Package":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    @classmethod
    def open(cls, path: str | Path = ".", *, allow_remote: bool = False) -> "Package":
        root = Path(path)
        if root.is_file() and root.name != DESCRIPTOR and zipfile.is_zipfile(root):
            return cls._open_zip(root, allow_remote=allow_remote)
        if root.is_file() and root.name == DESCRIPTOR:
            root = root.parent
        descriptor_path = root / DESCRIPTOR
        if not root.exists():
            raise PackageError(f"{root}: no such directory")
        kind = special_kind(descriptor_path)
        if kind is not None:
            raise PackageError(f"{descriptor_path}: is a {kind}, not a file; refused")
        if not descriptor_path.is_file():
            raise PackageError(f"{descriptor_path}: no {DESCRIPTOR} here (is this a nkru package?)")
        try:
            data = read_regular(descriptor_path)
        except OSError as exc:
            raise PackageError(f"{descriptor_path}: cannot be read ({exc})") from exc
        return cls(root.resolve(), parse_descriptor(data, str(descriptor_path)), allow_remote=allow_remote)

    @classmethod
    def _open_zip(cls, path: Path, *, allow_remote: bool = False) -> "Package":
        """A release zip, checked (nkru.archive.check_zip) and unpacked into a private temp folder that lives as
        long as the Package; `origin` names the zip. A refused or damaged zip is a PackageError naming why."""
        import tempfile
        import weakref

        temp = tempfile.TemporaryDirectory(prefix="nkru-release-")
        try:
            root = unpack_zip(path, Path(temp.name) / "package")
            package = cls.open(root, allow_remote=allow_remote)
        except (SnapshotError, PackageError, OSError) as exc:
            temp.cleanup()
            raise PackageError(str(exc)) from None
        package.origin = str(path)
        weakref.finalize(package, temp.cleanup)
        return package

    # -- paths -----------------------------------------------------------------

    def resolve(self, path: str) -> Path:
        """A safe path inside the package folder, or UnsafePath (always for a package read from a store)."""
        pure = check_relative_path(path)
        if self.store is not None:
            raise UnsafePath(f"the package is read from {self.store.label}, not from a folder")
        full = (self.root / pure).resolve()
        if full != self.root and self.root not in full.parents:
            raise UnsafePath("path leaves the package (through a link)")
        kind = special_kind(full)
        if kind is not None:
            raise UnsafePath(f"not a regular file: a {kind}")
        return full

    # -- resources -------------------------------------------------------------

    @cached_property
    def resources(self) -> dict[str, ResourceSpec]:
        specs: dict[str, ResourceSpec] = {}
        for index, res in enumerate(self.descriptor.get("resources") or []):
            if not isinstance(res, dict):
                continue
            name = res.get("name")
            name_problem = None
            if not isinstance(name, str) or not name:
                name_problem = f"resource {index + 1}: resource name {name!r} is not a non-empty string"
            elif name in specs:
                name_problem = f"resource {index + 1}: resource name {name!r} is already used by another resource"
            if name_problem:  # never used as a key (a list is not even hashable)
                name = f"resource-{index + 1}"
            spec = ResourceSpec(name=name, path=None, schema=None, descriptor=res, name_problem=name_problem)
            path = res.get("path")
            try:
                if not isinstance(path, str):
                    raise UnsafePath("resource path must be a single string")
                if is_remote(path) and self.allow_remote:
                    spec.path = path
                else:
                    self.resolve(path) if self.store is None else check_relative_path(path)
                    spec.path = path
            except UnsafePath as exc:
                spec.problem = f"path {path!r}: {exc}"
            spec.schema = self._load_schema(res.get("schema"), spec)
            specs[name] = spec
        return specs

    def read_bytes(self, path: str) -> bytes:
        """A file of the package by its relative path; raises UnsafePath, FileNotFoundError or OSError."""
        if self.store is None:
            return read_regular(self.resolve(path))
        check_relative_path(path)
        data = self.store.read(path)
        if data is None:
            raise FileNotFoundError(path)
        return data

    def _load_schema(self, schema: Any, spec: ResourceSpec) -> dict[str, Any] | None:
        if isinstance(schema, dict):
            return schema
        if not isinstance(schema, str):
            return None
        try:
            loaded = safejson.loads(self.read_bytes(schema).decode("utf-8"), name=schema)
            if not isinstance(loaded, dict):
                raise ValueError(f"holds a JSON {type(loaded).__name__}, not an object (a Table Schema)")
            return loaded
        except SnapshotError:
            raise  # a damaged zip member: the version cannot be read, not a resource without a schema
        except (UnsafePath, OSError, UnicodeDecodeError, ValueError) as exc:
            spec.problem = spec.problem or f"schema {schema!r}: {exc}"
            return None

    # -- schema lookups: the one place that reads schema shapes (malformed parts are skipped here
    #    and reported by the structure layer) ------------------------------------------------------

    def fields(self, resource: str) -> list[dict[str, Any]]:
        return schema_fields(self.resources[resource].schema)

    def field_names(self, resource: str) -> list[str]:
        return [f["name"] for f in self.fields(resource)]

    def field_types(self, resource: str) -> dict[str, str]:
        return {f["name"]: f["type"] if isinstance(f.get("type"), str) else "string" for f in self.fields(resource)}

    def enum(self, resource: str, field_name: str) -> list[Any] | None:
        """The field's controlled vocabulary (constraints.enum), or None."""
        for f in self.fields(resource):
            if f["name"] == field_name:
                constraints = f.get("constraints")
                values = constraints.get("enum") if isinstance(constraints, dict) else None
                return list(values) if isinstance(values, list) else None
        return None

    def schema(self, resource: str) -> dict[str, Any] | None:
        spec = self.resources.get(resource)
        return spec.schema if spec is not None else None

    def primary_key(self, resource: str) -> list[str]:
        return schema_primary_key(self.resources[resource].schema)

    def foreign_keys(self, resource: str) -> list[ForeignKey]:
        return schema_foreign_keys(self.resources[resource].schema, resource)

    def foreign_key_columns(self) -> dict[str, set[str]]:
        """resource -> the fields a foreign key compares in it, as the child or as the referenced table."""
        columns: dict[str, set[str]] = {}
        for name in self.resources:
            for fk in self.foreign_keys(name):
                columns.setdefault(name, set()).update(fk.fields)
                columns.setdefault(fk.resource, set()).update(fk.reference_fields)
        return columns

    def table(self, resource: str) -> Table | None:
        """The resource read by the one reader, or None when it cannot be read (see `read_errors`
        for the message and `read_failures` for the ReadError with its line and kind)."""
        if resource in self._tables:
            return self._tables[resource]
        spec = self.resources.get(resource)
        table = None
        if spec is None:
            self.read_errors[resource] = "no such resource in datapackage.json"
        elif spec.path is None or is_remote(spec.path):
            self.read_errors[resource] = spec.problem or "no local path"
        else:
            try:
                table = self._read_resource(spec)
                self._describe(table, spec)
            except ReadError as exc:
                self.read_failures[resource] = exc
                self.read_errors[resource] = f"{spec.path}: {exc}"
        if table is None:
            self.unreadable[resource] = self.read_errors.get(resource, "cannot be read")
        elif table.suspect_delimiter is not None:
            self.unreadable[resource] = f"separated by {table.suspect_delimiter!r}, not the declared delimiter"
        elif spec is not None and spec.schema is not None and table.header != self.field_names(resource):
            self.unreadable[resource] = "its header is not the schema's fields"
        self._tables[resource] = table
        return table

    def reject(self, resource: str, field: str | None, indices: Any) -> None:
        """Record that the structure layer reported the cells of `field` (None: the whole row) in these rows."""
        fields = self.rejected.setdefault(resource, {})
        for name in (field or "*").split(","):
            fields.setdefault(name.strip(), set()).update(indices)

    def rejected_rows(self, resource: str, fields: Sequence[str] | None = None) -> set[int]:
        """Indices of the rows of `resource` with a cell of `fields` (None: any field) the structure layer
        rejected: a check that reads those cells leaves those rows to that finding (`nkru.layers`)."""
        by_field = self.rejected.get(resource, {})
        names = by_field if fields is None else [*fields, "*"]
        return set().union(*(by_field.get(name, set()) for name in names))

    def checkable(self, resource: str) -> Table | None:
        """The table for every check that depends on its columns, or None when they cannot be trusted:
        the file cannot be read as its dialect says, or its header is not the schema's fields
        (`unreadable[resource]` says why). The structure layer reports that once; every other check of
        the table stays silent rather than report each row it could not read (`nkru.layers`)."""
        table = self.table(resource)
        return None if resource in self.unreadable else table

    def file_sizes(self) -> dict[str, int]:
        """Bytes of each resource's local file, by resource name; a resource whose path cannot be used
        (remote, unsafe, missing) is left out: reading it reports why."""
        sizes: dict[str, int] = {}
        if self.store is not None:
            return sizes
        for name, spec in self.resources.items():
            if spec.path is None or is_remote(spec.path):
                continue
            try:
                sizes[name] = self.resolve(spec.path).stat().st_size
            except (OSError, ValueError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
                continue
        return sizes

    def release_columns(self, keep: dict[str, set[str]]) -> None:
        """Release from memory the cells of every column of the tables read so far whose header label
        is not in `keep[resource]` (the primary key always stays; a resource not in `keep` keeps only its key)."""
        for name, table in self._tables.items():
            if table is not None:
                table.release(keep.get(name, set()))

    def _describe(self, table: Table, spec: ResourceSpec) -> None:
        """Set on a table what its schema and descriptor say: key, foreign keys, fields, title, description."""
        name, res, schema = spec.name, spec.descriptor, spec.schema or {}
        table.primary_key = self.primary_key(name)
        table.foreign_keys = self.foreign_keys(name)
        try:
            table.schema_fields = schema_field_specs(self, name)
        except LoadError as exc:  # an enum value of the wrong type: the structure layer says why
            self.field_errors[name] = exc
        table.title = res.get("title") if isinstance(res.get("title"), str) else None
        description = res.get("description") or schema.get("description")
        table.description = description if isinstance(description, str) else None

    def _read_resource(self, spec: ResourceSpec) -> Table:
        assert spec.path is not None
        try:
            handle = open_regular(self.resolve(spec.path)) if self.store is None else io.BytesIO(self.read_bytes(spec.path))
        except UnsafePath as exc:
            raise ReadError(f"refused: {exc}", kind="unreadable") from None
        except FileNotFoundError:
            raise ReadError("no such file", kind="missing") from None
        except OSError as exc:
            raise ReadError(f"cannot be read: {exc.strerror or exc}", kind="unreadable") from None
        encoding = spec.descriptor.get("encoding")
        encoding = encoding if isinstance(encoding, str) else None
        dialect = csv_dialect(spec.descriptor)
        with handle:
            table = read_resource(handle, name=spec.name, path=spec.path, encoding=encoding, dialect=dialect)
            if self.spills:
                table.reread = self._rereader(spec, table, _identity(os.fstat(handle.fileno())), encoding, dialect)
        return table

    @cached_property
    def spills(self) -> bool:
        """Whether this package holds its tables one at a time: a folder whose table files together exceed
        `SPILL_ABOVE` bytes. A layer done with a table then spills it (`Table.spill`), and a column asked
        for later is read again from its file (a million claims: 2.2 GiB of text held at once, else)."""
        return self.store is None and sum(self.file_sizes().values()) > SPILL_ABOVE

    def _rereader(self, spec: ResourceSpec, table: Table, identity: tuple[int, ...], encoding: str | None,
                  dialect: dict[str, Any]) -> Callable[[list[str]], Any]:
        path = self.resolve(spec.path or "")

        def reread(names: list[str]) -> Any:
            with open_regular(path) as handle:
                if _identity(os.fstat(handle.fileno())) != identity:
                    raise ReadError(f"{spec.path} changed while it was being validated; run again", kind="unreadable")
                return reread_columns(handle, table, names, encoding=encoding, dialect=dialect)
        return reread

    def read_text(self, resource: str) -> str:
        """A local resource file decoded with its declared encoding; raises ReadError."""
        spec = self.resources[resource]
        if spec.path is None or is_remote(spec.path):
            raise ReadError(spec.problem or f"resource {resource!r}: no local path")
        try:
            # Bytes, decoded here: read_text() would turn a CR inside a quoted cell into LF.
            data = self.read_bytes(spec.path)
        except UnsafePath as exc:
            raise ReadError(f"{spec.path}: refused: {exc}") from None
        except FileNotFoundError:
            raise ReadError(f"{spec.path}: no such file") from None
        except OSError as exc:
            raise ReadError(f"{spec.path}: cannot be read: {exc.strerror or exc}") from None
        encoding = spec.descriptor.get("encoding")
        return decode(data, encoding if isinstance(encoding, str) else None, path=spec.path)

    # -- source texts ----------------------------------------------------------

    def source_paths(self) -> dict[str, str]:
        """source_id -> text_path from the sources table."""
        table = self.table(SOURCES) if SOURCES in self.resources else None
        if table is None:
            return {}
        return dict(zip(table.column("source_id"), table.column("text_path")))

    def read_source(self, text_path: str) -> SourceFile:
        """A source text file by its text_path: its bytes and UTF-8 text, or why they cannot be had."""
        try:
            full = self.text_files.get(text_path) or (self.resolve(text_path) if self.store is None else None)
            if full is None:
                check_relative_path(text_path)
        except UnsafePath as exc:
            return SourceFile(text_path, kind="unsafe", detail=str(exc))
        if full is not None and not full.is_file():
            return SourceFile(text_path, kind="missing")
        try:
            data = read_regular(full) if full is not None else self.read_bytes(text_path)
        except FileNotFoundError:
            return SourceFile(text_path, kind="missing")
        except OSError as exc:
            return SourceFile(text_path, kind="unreadable", detail=str(exc.strerror or exc))
        try:
            return SourceFile(text_path, data=data, text=data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            return SourceFile(text_path, data=data, kind="encoding", detail=f"{exc.reason} at byte {exc.start}")

    def source_text_or_problem(self, source_id: str) -> tuple[str | None, str | None]:
        """(text, None) for a readable source text, else (None, why not)."""
        path = self.source_paths().get(source_id)
        if not path:
            return None, f"source {source_id!r} has no text_path in the {SOURCES} table"
        source = self.read_source(path)
        return source.text, source.problem

    def source_bytes(self, source_id: str) -> bytes | None:
        path = self.source_paths().get(source_id)
        return self.read_source(path).data if path else None

    def source_text(self, source_id: str) -> str | None:
        return self.source_text_or_problem(source_id)[0]
