"""Open a Data Package safely: the descriptor, resource paths, schemas, tables and source texts.

Nothing here judges the data; it only reads it, refusing paths that would
leave the package. Layers turn what it cannot read into findings.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

DESCRIPTOR = "datapackage.json"


class PackageError(Exception):
    """The package cannot be opened at all (a usage error: exit code 2)."""


class UnsafePath(ValueError):
    """A path in the descriptor points outside the package, is hidden, absolute or remote."""


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


@dataclass
class Table:
    """A CSV resource read as text, with the file line where every row starts."""

    name: str
    path: str
    header: list[str]
    rows: list[dict[str, str]]
    lines: list[int]
    primary_key: list[str] = field(default_factory=list)

    def row_id(self, index: int) -> str | None:
        if not self.primary_key:
            return None
        row = self.rows[index]
        return "|".join(row.get(key, "") or "" for key in self.primary_key)

    def frame(self):
        """The table as a pandas DataFrame of strings (empty cells are empty strings)."""
        import pandas as pd

        frame = pd.DataFrame(self.rows, columns=self.header, dtype="string")
        return frame.fillna("")

    def __len__(self) -> int:
        return len(self.rows)


def read_csv_text(text: str, *, name: str, path: str, primary_key: list[str] | None = None) -> Table:
    """Parse CSV text, remembering the line each record starts on (header = line 1)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] = []
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    previous_end = 0
    for index, record in enumerate(reader):
        start = previous_end + 1
        previous_end = reader.line_num
        if index == 0:
            header = record
            continue
        if not record:
            continue  # csv yields [] for a blank line; frictionless reports it as blank-row
        padded = record + [""] * (len(header) - len(record))
        rows.append(dict(zip(header, padded)))
        lines.append(start)
    return Table(name=name, path=path, header=header, rows=rows, lines=lines, primary_key=list(primary_key or []))


@dataclass
class ResourceSpec:
    name: str
    path: str | None
    schema: dict[str, Any] | None
    descriptor: dict[str, Any]
    problem: str | None = None  # why the path or schema could not be used


class Package:
    """A Data Package on disk. Open with `Package.open(path)`."""

    def __init__(self, root: Path, descriptor: dict[str, Any], *, allow_remote: bool = False):
        self.root = root
        self.descriptor = descriptor
        self.allow_remote = allow_remote
        self._tables: dict[str, Table | None] = {}
        self.read_errors: dict[str, str] = {}

    @classmethod
    def open(cls, path: str | Path = ".", *, allow_remote: bool = False) -> "Package":
        root = Path(path)
        if root.is_file() and root.name == DESCRIPTOR:
            root = root.parent
        descriptor_path = root / DESCRIPTOR
        if not root.exists():
            raise PackageError(f"{root}: no such directory")
        if not descriptor_path.is_file():
            raise PackageError(f"{descriptor_path}: no {DESCRIPTOR} here (is this a nkru package?)")
        try:
            descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise PackageError(f"{descriptor_path}: cannot be read ({exc})") from exc
        except json.JSONDecodeError as exc:
            raise PackageError(f"{descriptor_path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
        if not isinstance(descriptor, dict):
            raise PackageError(f"{descriptor_path}: the descriptor must be a JSON object")
        return cls(root.resolve(), descriptor, allow_remote=allow_remote)

    # -- paths -----------------------------------------------------------------

    def resolve(self, path: str) -> Path:
        """A safe path inside the package, or UnsafePath."""
        pure = check_relative_path(path)
        full = (self.root / pure).resolve()
        if full != self.root and self.root not in full.parents:
            raise UnsafePath("path leaves the package (through a link)")
        return full

    # -- resources -------------------------------------------------------------

    @cached_property
    def resources(self) -> dict[str, ResourceSpec]:
        specs: dict[str, ResourceSpec] = {}
        for index, res in enumerate(self.descriptor.get("resources") or []):
            if not isinstance(res, dict):
                continue
            name = res.get("name") or f"resource-{index + 1}"
            spec = ResourceSpec(name=name, path=None, schema=None, descriptor=res)
            path = res.get("path")
            try:
                if not isinstance(path, str):
                    raise UnsafePath("resource path must be a single string")
                if is_remote(path) and self.allow_remote:
                    spec.path = path
                else:
                    self.resolve(path)
                    spec.path = path
            except UnsafePath as exc:
                spec.problem = f"path {path!r}: {exc}"
            spec.schema = self._load_schema(res.get("schema"), spec)
            specs[name] = spec
        return specs

    def _load_schema(self, schema: Any, spec: ResourceSpec) -> dict[str, Any] | None:
        if isinstance(schema, dict):
            return schema
        if not isinstance(schema, str):
            return None
        try:
            full = self.resolve(schema)
            loaded = json.loads(full.read_text(encoding="utf-8"))
            return loaded if isinstance(loaded, dict) else None
        except (UnsafePath, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            spec.problem = spec.problem or f"schema {schema!r}: {exc}"
            return None

    def field_names(self, resource: str) -> list[str]:
        schema = self.resources[resource].schema or {}
        return [f.get("name") for f in schema.get("fields", []) if isinstance(f, dict)]

    def primary_key(self, resource: str) -> list[str]:
        schema = self.resources[resource].schema or {}
        key = schema.get("primaryKey") or []
        return [key] if isinstance(key, str) else list(key)

    def table(self, resource: str) -> Table | None:
        """The resource read as text, or None when it cannot be read (see `read_errors`)."""
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
                # Decode bytes ourselves: read_text() would turn a CR inside a quoted cell into LF.
                text = self.resolve(spec.path).read_bytes().decode("utf-8")
                table = read_csv_text(text, name=resource, path=spec.path, primary_key=self.primary_key(resource))
            except (OSError, UnicodeDecodeError, csv.Error, UnsafePath) as exc:
                self.read_errors[resource] = f"{spec.path}: {exc}"
        self._tables[resource] = table
        return table

    # -- source texts ----------------------------------------------------------

    def source_paths(self) -> dict[str, str]:
        """source_id -> text_path from the sources table."""
        table = self.table("sources") if "sources" in self.resources else None
        if table is None:
            return {}
        return {row.get("source_id", ""): row.get("text_path", "") for row in table.rows}

    def source_bytes(self, source_id: str) -> bytes | None:
        path = self.source_paths().get(source_id)
        if not path:
            return None
        try:
            return self.resolve(path).read_bytes()
        except (UnsafePath, OSError):
            return None

    def source_text(self, source_id: str) -> str | None:
        data = self.source_bytes(source_id)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None
