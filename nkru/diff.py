"""Row-level and schema-level differences between two versions of the package.

Rows are matched by primary key (composite keys are joined with `|`, as in
findings) and compared with csv-diff (`csv_diff.compare`), which yields the
added, removed and changed rows with old → new values per field. Schemas are
compared field by field. `required_bump()` applies the versioning policy in
docs/releasing.md to the result.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from nkru.metadata import RETRACTIONS
from nkru.package import Table
from nkru.snapshot import Snapshot, open_snapshot
from nkru.text import escape_controls, markdown_cell

#: Version bumps, weakest first.
BUMPS = ("patch", "minor", "major")

# Type changes that every old value survives: reading the column as the new type never fails.
_WIDENINGS = {("integer", "number"), ("year", "integer"), ("year", "number")}


def widens(old: str, new: str) -> bool:
    if not isinstance(old, str) or not isinstance(new, str):  # a malformed type (a list, say) widens nothing
        return False
    return new in ("string", "any") or (old, new) in _WIDENINGS


def stronger(a: str | None, b: str | None) -> str | None:
    """The stronger of two bumps (None = no change)."""
    if a is None:
        return b
    if b is None:
        return a
    return a if BUMPS.index(a) >= BUMPS.index(b) else b


@dataclass
class SchemaChange:
    """One change to a resource's schema, with the bump it needs."""

    kind: str  # resource-added, resource-removed, table-missing, table-unreadable, field-added, field-removed, field-retyped, field-edited, field-optional, fields-reordered, primary-key-changed, schema-edited
    bump: str
    field: str | None = None
    old: Any = None
    new: Any = None

    def describe(self) -> str:
        # Only this change's template is filled: old/new hold whatever the schemas held (a hostile
        # schema's type may be a list, a number, null), so every value is shown with str().
        f = self.field

        def names(values: Any) -> str:
            return ", ".join(map(str, values)) if isinstance(values, (list, tuple)) else str(values)

        templates = {
            "resource-added": lambda: "table added",
            "resource-removed": lambda: "table removed",
            "table-missing": lambda: f"table file {f} missing in {self.new}",
            "table-unreadable": lambda: f"table file {f} cannot be read in {self.new}",
            "field-added": lambda: f"field {f} added ({self.new})",
            "field-removed": lambda: f"field {f} removed (was {self.old})",
            "field-retyped": lambda: f"field {f} retyped {self.old} → {self.new}"
                                     + (" (narrowed)" if self.bump == "major" else " (widened)"),
            "field-edited": lambda: f"field {f}: {names(self.new or [])} changed",
            "field-optional": lambda: f"field {f} may now be empty (constraint required dropped)",
            "fields-reordered": lambda: f"fields reordered: {names(self.old or [])} → {names(self.new or [])}",
            "primary-key-changed": lambda: f"primary key changed {self.old} → {self.new}",
            "schema-edited": lambda: f"schema {names(self.new or [])} changed",
        }
        return templates[self.kind]()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "field": self.field, "old": self.old, "new": self.new, "bump": self.bump,
                "description": self.describe()}


@dataclass
class RowChange:
    key: str
    changes: dict[str, tuple[str, str]]  # field -> (old, new)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "changes": {f: {"old": o, "new": n} for f, (o, n) in self.changes.items()}}


@dataclass
class ResourceDiff:
    name: str
    status: str  # "added", "removed" or "kept"
    key: list[str]
    added: list[dict[str, str]] = field(default_factory=list)
    removed: list[dict[str, str]] = field(default_factory=list)
    changed: list[RowChange] = field(default_factory=list)
    schema: list[SchemaChange] = field(default_factory=list)
    note: str | None = None  # e.g. why rows could not be matched by key
    compared: bool = True  # False when the table could not be read on one side (or both)

    def key_of(self, row: dict[str, str]) -> str:
        return _key(row, self.key) if self.key else _row_hash(row)

    @property
    def added_keys(self) -> list[str]:
        return [self.key_of(r) for r in self.added]

    @property
    def removed_keys(self) -> list[str]:
        return [self.key_of(r) for r in self.removed]

    @property
    def unchanged(self) -> bool:
        return self.compared and not (self.added or self.removed or self.changed or self.schema)

    def bumps(self) -> list[tuple[str, str]]:
        """(bump, reason) for every kind of change in this resource."""
        found = [(c.bump, f"{self.name}: {c.describe()}") for c in self.schema]
        if self.status == "kept":
            if self.added:
                found.append(("minor", f"{self.name}: {_count(len(self.added))} added"))
            if self.removed:
                found.append(("minor", f"{self.name}: {_count(len(self.removed))} removed"))
            if self.changed:
                found.append(("patch", f"{self.name}: {_count(len(self.changed))} changed"))
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.name,
            "status": self.status,
            "primary_key": self.key,
            "added": [{"key": self.key_of(r), "row": r} for r in self.added],
            "removed": [{"key": self.key_of(r), "row": r} for r in self.removed],
            "changed": [c.to_dict() for c in self.changed],
            "schema": [c.to_dict() for c in self.schema],
            "note": self.note,
            "compared": self.compared,
        }


@dataclass
class PackageDiff:
    old: str
    new: str
    old_version: str | None
    new_version: str | None
    resources: list[ResourceDiff] = field(default_factory=list)

    def resource(self, name: str) -> ResourceDiff | None:
        return next((r for r in self.resources if r.name == name), None)

    @property
    def changed(self) -> list[ResourceDiff]:
        return [r for r in self.resources if not r.unchanged]

    def required_bump(self) -> tuple[str | None, list[str]]:
        """The smallest version bump the policy allows for these changes, and why (None: nothing changed)."""
        found = [item for r in self.resources for item in r.bumps()]
        bump = None
        for level, _ in found:
            bump = stronger(bump, level)
        return bump, [reason for level, reason in found if level == bump]

    def to_dict(self) -> dict[str, Any]:
        bump, reasons = self.required_bump()
        return {
            "old": {"label": self.old, "version": self.old_version},
            "new": {"label": self.new, "version": self.new_version},
            "required_bump": bump,
            "reasons": reasons,
            "resources": [r.to_dict() for r in self.resources],
        }


def _count(n: int, noun: str = "row") -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _key(row: dict[str, str], key: list[str]) -> str:
    return "|".join(row.get(k, "") or "" for k in key)


def _row_hash(row: dict[str, str]) -> str:
    # What csv-diff's load_csv uses when there is no key: the row's content.
    return hashlib.sha1(json.dumps(row, sort_keys=True).encode("utf-8")).hexdigest()[:12]


# -- computing ---------------------------------------------------------------------


def diff_snapshots(old: Snapshot, new: Snapshot) -> PackageDiff:
    result = PackageDiff(old.label, new.label, old.version, new.version)
    named = [n for side in (old, new) for n, spec in side.resources.items() if not spec.name_problem]
    names = list(dict.fromkeys(named))
    for name in names:
        result.resources.append(_diff_resource(old, new, name))
    return result


def diff(old: str | Path, new: str | Path = ".", *, root: Path = Path(".")) -> PackageDiff:
    """Open OLD and NEW (directories, release zips or git refs of the repository at `root`) and diff them.

    Raises SnapshotError when either cannot be opened.
    """
    with open_snapshot(old, root=root) as before, open_snapshot(new, root=root) as after:
        return diff_snapshots(before, after)


def _diff_resource(old: Snapshot, new: Snapshot, name: str) -> ResourceDiff:
    in_old, in_new = name in old.resources, name in new.resources
    old_table = old.table(name) if in_old else None
    new_table = new.table(name) if in_new else None
    key = _match_key(old, new, name, old_table, new_table)
    if not in_old:
        rd = ResourceDiff(name, "added", key, added=list(new_table.rows) if new_table else [])
        rd.schema.append(SchemaChange("resource-added", "minor"))
        return rd
    if not in_new:
        rd = ResourceDiff(name, "removed", key, removed=list(old_table.rows) if old_table else [])
        rd.schema.append(SchemaChange("resource-removed", "major"))
        return rd
    rd = ResourceDiff(name, "kept", key)
    rd.schema = _schema_changes(old, new, name)
    if old_table is None or new_table is None:
        # A table missing or unreadable on one side is a change in its own right: shown in every format and
        # counted toward the bump (its rows are gone from NEW: major; they appear only in NEW: minor).
        for side, table, bump in ((old, old_table, "minor"), (new, new_table, "major")):
            if table is None:
                path = side.resources[name].descriptor.get("path")
                shown = path if isinstance(path, str) else f"of {name}"
                failure = side.read_failures.get(name)
                kind = "table-unreadable" if failure is not None and failure.kind != "missing" else "table-missing"
                if old_table is None and new_table is None:
                    rd.note = f"table file {shown} cannot be read in either version: rows not compared"
                else:
                    rd.schema.append(SchemaChange(kind, bump, shown, new=side.label))
        rd.compared = False
        return rd
    if not key:
        rd.note = "no primary key shared by both versions: rows are matched by their whole content"
    _diff_rows(rd, old_table, new_table)
    return rd


def _match_key(old: Snapshot, new: Snapshot, name: str, old_table: Table | None, new_table: Table | None) -> list[str]:
    """The primary key to match rows by: the new one, else the old one, if both tables have its columns."""
    candidates = []
    if name in new.resources:
        candidates.append(new.primary_key(name))
    if name in old.resources:
        candidates.append(old.primary_key(name))
    for key in candidates:
        if key and all(t is None or set(key) <= set(t.header) for t in (old_table, new_table)):
            return key
    return []


def _diff_rows(rd: ResourceDiff, old_table: Table, new_table: Table) -> None:
    from csv_diff import compare

    previous = {rd.key_of(row): row for row in old_table.rows}
    current = {rd.key_of(row): row for row in new_table.rows}
    if not previous or not current:
        # csv-diff needs a row on each side to learn the columns; with an empty side every row is added or removed.
        rd.added = list(current.values())
        rd.removed = list(previous.values())
        return
    result = compare(previous, current)
    rd.added = result["added"]
    rd.removed = result["removed"]
    rd.changed = [RowChange(str(item["key"]), {f: (old, new) for f, (old, new) in item["changes"].items()})
                  for item in result["changed"]]


def _required(field: dict) -> bool:
    constraints = field.get("constraints")
    return isinstance(constraints, dict) and constraints.get("required") is True


def _schema_changes(old: Snapshot, new: Snapshot, name: str) -> list[SchemaChange]:
    changes: list[SchemaChange] = []
    before = {f["name"]: f for f in old.fields(name)}
    after = {f["name"]: f for f in new.fields(name)}
    for fname, spec in before.items():
        if fname not in after:
            changes.append(SchemaChange("field-removed", "major", fname, old=spec.get("type", "any")))
    for fname, spec in after.items():
        if fname not in before:
            changes.append(SchemaChange("field-added", "minor", fname, new=spec.get("type", "any")))
            continue
        was = before[fname]
        old_type, new_type = was.get("type", "any"), spec.get("type", "any")
        if old_type != new_type:
            bump = "minor" if widens(old_type, new_type) else "major"
            changes.append(SchemaChange("field-retyped", bump, fname, old=old_type, new=new_type))
        edited = sorted(k for k in set(was) | set(spec) if k not in ("name", "type") and was.get(k) != spec.get(k))
        if _required(was) and not _required(spec):
            # Readers that relied on a value in every row now meet empty cells: a widened domain, as a type widened.
            changes.append(SchemaChange("field-optional", "minor", fname))
        if edited:
            changes.append(SchemaChange("field-edited", "patch", fname, new=edited))
    common_old = [f for f in before if f in after]
    common_new = [f for f in after if f in before]
    if common_old != common_new:
        changes.append(SchemaChange("fields-reordered", "minor", old=common_old, new=common_new))
    old_key, new_key = old.primary_key(name), new.primary_key(name)
    if old_key != new_key:
        changes.append(SchemaChange("primary-key-changed", "major", old=old_key, new=new_key))
    old_schema, new_schema = old.schema(name) or {}, new.schema(name) or {}
    edited = sorted(k for k in set(old_schema) | set(new_schema)
                    if k not in ("fields", "primaryKey") and old_schema.get(k) != new_schema.get(k))
    if edited:
        changes.append(SchemaChange("schema-edited", "patch", new=edited))
    return changes


# -- rendering ---------------------------------------------------------------------


#: schema-change kinds about the table file rather than the schema: their label in the text output
_TABLE_KINDS = {"table-missing": "table", "table-unreadable": "table"}


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def render_text(d: PackageDiff) -> str:
    out = [f"{d.old} ({d.old_version or 'no version'}) → {d.new} ({d.new_version or 'no version'})"]
    for rd in d.resources:
        if rd.unchanged:
            continue
        out.append("")
        out.append(f"{rd.name} [{rd.status}]: {len(rd.added)} added, {len(rd.removed)} removed, {len(rd.changed)} changed"
                   + (f" (key: {', '.join(rd.key)})" if rd.key else ""))
        if rd.note:
            out.append(f"  note: {rd.note}")
        for change in rd.schema:
            out.append(f"  {_TABLE_KINDS.get(change.kind, 'schema')}: {change.describe()}")
        for key in rd.added_keys:
            out.append(f"  + {key}")
        for key in rd.removed_keys:
            out.append(f"  - {key}")
        for change in rd.changed:
            out.append(f"  ~ {change.key}")
            for fname, (old, new) in change.changes.items():
                out.append(f"      {fname}: {_show(old)} → {_show(new)}")
    unchanged = [rd.name for rd in d.resources if rd.unchanged]
    if unchanged:
        out.append("")
        out.append(f"unchanged: {', '.join(unchanged)}")
    bump, reasons = d.required_bump()
    out.append("")
    out.append(f"required version bump: {bump or 'none (no changes)'}" + (f" ({'; '.join(reasons)})" if reasons else ""))
    return "\n".join(out) + "\n"


def _md(value: Any) -> str:
    return markdown_cell(value) or " "


def _code(value: str) -> str:
    # A code span outside tables: backslashes would show, so nothing is escaped; line breaks are folded and
    # control and bidi characters shown as \uXXXX. A value holding a backtick (it could end the span and
    # start markup) is written as <code> with HTML entities instead.
    import html

    text = escape_controls(" ".join(str(value).split("\n")), keep="")
    return f"<code>{html.escape(text, quote=False)}</code>" if "`" in text else f"`{text}`"


def render_markdown(d: PackageDiff) -> str:
    bump, reasons = d.required_bump()
    out = [f"## Changes from {_md(d.old)} ({_md(d.old_version or 'no version')}) to {_md(d.new)} "
           f"({_md(d.new_version or 'no version')})", ""]
    out.append(f"Required version bump: **{bump or 'none'}**" + (f" ({_md('; '.join(reasons))})" if reasons else ""))
    for rd in d.resources:
        if rd.unchanged:
            continue
        out += ["", f"### {_md(rd.name)}", "",
                f"{len(rd.added)} added, {len(rd.removed)} removed, {len(rd.changed)} changed"
                + (f" (key: {_code(', '.join(rd.key))})" if rd.key else "")]
        if rd.note:
            out += ["", f"Note: {_md(rd.note)}"]
        if rd.schema:
            files = [c for c in rd.schema if c.kind in _TABLE_KINDS]
            if files:
                out += ["", "**Table file:** " + "; ".join(_md(c.describe()) for c in files) + " (rows not compared)"]
            if len(files) < len(rd.schema):
                out += ["", "Schema:", ""] + [f"- {_md(c.describe())}" for c in rd.schema if c.kind not in _TABLE_KINDS]
        if rd.added:
            out += ["", f"Added: {', '.join(_code(k) for k in rd.added_keys)}"]
        if rd.removed:
            out += ["", f"Removed: {', '.join(_code(k) for k in rd.removed_keys)}"]
        if rd.changed:
            out += ["", "| key | field | old | new |", "| --- | --- | --- | --- |"]
            for change in rd.changed:
                for fname, (old, new) in change.changes.items():
                    out.append(f"| {_md(change.key)} | {_md(fname)} | {_md(old)} | {_md(new)} |")
    unchanged = [rd.name for rd in d.resources if rd.unchanged]
    if unchanged:
        out += ["", f"Unchanged: {', '.join(_md(name) for name in unchanged)}"]
    return "\n".join(out) + "\n"


def render_json(d: PackageDiff) -> str:
    return json.dumps(d.to_dict(), ensure_ascii=False, indent=2) + "\n"


#: output format -> renderer
FORMATS: dict[str, Callable[[PackageDiff], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
}


# -- CHANGELOG entries -------------------------------------------------------------

_NUMBERED = re.compile(r"^(.*?)([0-9]+)$")


def compress_ids(keys: list[str]) -> str:
    """'E001, E002, E003, E007' -> 'E001–E003, E007' (runs of consecutive numbers with the same prefix)."""
    parsed = []
    for key in keys:
        match = _NUMBERED.match(key)
        parsed.append((match.group(1), len(match.group(2)), int(match.group(2)), key) if match else (key, 0, -1, key))
    parsed.sort()
    runs: list[list[tuple]] = []
    for item in parsed:
        last = runs[-1][-1] if runs else None
        if last and item[2] >= 0 and last[:2] == item[:2] and item[2] == last[2] + 1:
            runs[-1].append(item)
        else:
            runs.append([item])
    return ", ".join(run[0][3] if len(run) == 1 else f"{run[0][3]}–{run[-1][3]}" for run in runs)


def changelog_entries(d: PackageDiff, reasons: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Keep a Changelog bullets (Added, Changed, Removed) for the differences, one per resource and kind.

    `reasons` maps retracted IDs to the reason recorded in the retractions table; removed rows show it.
    New rows of the retractions table itself are not listed: they show up as the removed rows they explain.
    """
    reasons = reasons or {}
    added: list[str] = []
    changed: list[str] = []
    removed: list[str] = []

    def ids(rd: ResourceDiff, keys: list[str]) -> str:
        return f" ({compress_ids(keys)})" if len(rd.key) == 1 else ""

    for rd in d.resources:
        if rd.status == "added":
            added.append(f"- Table `{rd.name}` ({_count(len(rd.added))}).")
            continue
        if rd.status == "removed":
            removed.append(f"- Table `{rd.name}` ({_count(len(rd.removed))}).")
            continue
        for c in rd.schema:
            if c.kind == "field-added":
                added.append(f"- `{rd.name}`: field `{c.field}` ({c.new}).")
            elif c.kind == "field-removed":
                removed.append(f"- `{rd.name}`: field `{c.field}`.")
            else:
                changed.append(f"- `{rd.name}`: {c.describe()}.")
        if rd.added and rd.name != RETRACTIONS:
            added.append(f"- `{rd.name}`: {_count(len(rd.added))}{ids(rd, rd.added_keys)}.")
        if rd.changed:
            details = ""
            if len(rd.key) == 1:
                details = " (" + "; ".join(f"{c.key}: {', '.join(c.changes)}" for c in rd.changed) + ")"
            changed.append(f"- `{rd.name}`: {_count(len(rd.changed))} corrected{details}.")
        if rd.removed:
            keys = rd.removed_keys
            if len(rd.key) == 1 and any(k in reasons for k in keys):
                listed = "; ".join(f"{k} (retracted: {reasons[k]})" if k in reasons else k for k in keys)
                removed.append(f"- `{rd.name}`: {_count(len(keys))}: {listed}.")
            else:
                removed.append(f"- `{rd.name}`: {_count(len(keys))}{ids(rd, keys)}.")
    return {"Added": added, "Changed": changed, "Removed": removed}
