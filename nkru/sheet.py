"""The coding sheet: `nkru code S006` writes one, `nkru code S006 --apply SHEET` applies it.

A coding sheet is a CSV file a curator fills in a spreadsheet instead of editing six CSV files by hand.
`write_sheet` lists every unit (sentence, `data/units.csv`) of one source that no claim, denial or exclusion
covers yet, one row each, with its text and offsets; the curator marks each row's `kind` and fills the
fields that kind needs. `apply_sheet` checks the sheet and the package it would make, and only when both
are clean appends every row to its table in one atomic step (`nkru.transaction.Transaction`, under the
package's lock). docs/curation.md ("The coding sheet") is the curator's guide; in short:

- **kind** says what a row becomes: `claim`, `denial` or `exclusion` (a row about a unit), `actor`, `event`
  or `event_actor` (a row of its own; add as many as needed). A row whose kind starts with `#` is a note.
- **columns** are the fields of those tables, by name, read from their Table Schemas (the one source of
  truth): `event_id`, `claimant_id`, `date_start`, `statement`, `reason`, `name`, `event_type`, `role` …; a
  column means the field of that name in the row's table (`role` is an actor's position on an `actor`
  row and the role in the event on an `event_actor` row). A cell a kind does not use must stay empty.
- **id** is the row's own ID. Empty on a claim, denial or exclusion: the next free ID, in sheet order. New
  actors and events need one, so that other rows can refer to them: the sheet proposes the next free ones
  in its template rows (`actor`/`event` rows with only an ID are unused templates and are ignored).
- **quote** is empty for the whole unit (less any leading `=`, `+`, `-`, `@`, which a spreadsheet would run),
  or the part of the unit the row is about, copied from `unit_text`; `quote`, `quote_start` and `quote_end`
  are then taken from the archived text, never from the sheet. A unit may have several rows (two claims
  in one sentence, a claim and an excluded clause).
- `source_id` is the sheet's source; `unit_id`, `unit_start`, `unit_end` and `unit_text` say which unit a
  row is about and are not data (a unit whose offsets changed since the sheet was written is refused).

The file: UTF-8 with a byte-order mark (so that Excel shows umlauts and „“ right when it opens the file),
comma-separated, a header row. A sheet saved back with `;` or tabs (a German Excel) or without the mark
reads as well. A cell the sheet writes that a spreadsheet would run as a formula (`+++ Liveblog +++`) is
written behind an apostrophe, which reading drops again.

Findings name the sheet's own lines and columns: the sheet's checks (`sheet-*` codes) first, then those of
`nkru validate` (structure, rules and coverage layers) on the package as it would be, each moved from
its table line to the sheet line the row came from, with its own code and hint.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nkru.findings import Finding, define, marked_difference

NAME = "sheet"
#: Where `nkru code S006` writes its sheet by default, inside the package.
SHEET_DIR = "coding"
#: kind -> the table its rows go to.
KINDS = {"claim": "claims", "denial": "denials", "exclusion": "exclusions", "actor": "actors", "event": "events",
         "event_actor": "event_actors"}
#: Kinds whose rows are about a unit and carry its quote.
QUOTED = ("claim", "denial", "exclusion")
#: Kinds a curator adds as rows of their own (their template rows are ignored when left empty).
STANDALONE = ("actor", "event", "event_actor")
KIND, ID, UNIT, UNIT_START, UNIT_END, UNIT_TEXT, QUOTE = "kind", "id", "unit_id", "unit_start", "unit_end", "unit_text", "quote"
FIXED = (KIND, ID, UNIT, UNIT_START, UNIT_END, UNIT_TEXT, QUOTE)
#: Fields of the tables that the sheet derives (from its source and the archived text), never reads.
DERIVED = ("source_id", "quote", "quote_start", "quote_end")
NOTE = "#"
#: A cell starting with one of these (also after blanks) may run as a formula in a spreadsheet.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"
#: Where `read_sheet` keeps the first cell past the header's columns (a row longer than the header).
_EXTRA = "\0extra"

define("sheet-unreadable", NAME, "{path}: {detail}",
       description="The coding sheet cannot be read (missing, not UTF-8, not CSV).",
       hint="save it as CSV in UTF-8: LibreOffice Calc 'Save As… › Text CSV', character set Unicode (UTF-8); "
            "Excel 'CSV UTF-8 (Comma delimited)'")
define("sheet-header", NAME, "{path} line 1: {detail}",
       description="The coding sheet's header lacks a column it needs or has one no table knows.",
       hint="keep the header `nkru code` wrote (write a new sheet to see it); a column is a field of the tables, by name")
define("sheet-unmarked", NAME, "{path} line {line}: unit {value} is not marked: kind is empty",
       description="A row of the coding sheet about a unit has no kind: every unit not yet covered must become a "
                   "claim, a denial or an exclusion.",
       hint="set kind to claim, denial or exclusion (an exclusion needs a reason, e.g. background or boilerplate)")
define("sheet-kind", NAME, "{path} line {line}: kind {value!r} is not one of {kinds}",
       description="A coding-sheet row's kind is not one the sheet knows.")
define("sheet-field-unused", NAME, "{path} line {line}: {field}={value!r} is not used by a {kind} row",
       description="A coding-sheet row fills a column its kind does not use (the value would be lost).",
       hint="{advice}")
define("sheet-unit-missing", NAME, "{path} line {line}: a {kind} row needs the unit it is about (unit_id is empty)",
       description="A claim, denial or exclusion row of the coding sheet names no unit.",
       hint="copy the row of its unit (a unit may have several rows) and change kind and quote there")
define("sheet-unit-unknown", NAME, "{path} line {line}: unit {value!r} is not a unit of {source_id}",
       description="A coding-sheet row names a unit that data/units.csv does not hold for the sheet's source.",
       hint="write the sheet again (`nkru code {source_id}`) and copy your entries over")
define("sheet-unit-changed", NAME, "{path} line {line}: unit {value} is now {start}-{end} in data/units.csv, "
       "not {sheet_start}-{sheet_end} as in the sheet",
       description="A unit was changed after the coding sheet was written, so the row's quote may be about other text.",
       hint="write the sheet again (`nkru code {source_id} --out NEW.csv`) and copy your entries over")
define("sheet-quote-not-in-unit", NAME, "{path} line {line}: quote {value!r} is not part of unit {unit_id}: {unit_text!r}",
       description="A coding-sheet row's quote does not occur in its unit's text (after NFC and whitespace folding).",
       hint=lambda v: "; ".join(filter(None, [marked_difference(str(v["value"]), str(v["closest"])),
                                              "copy the part from unit_text, or leave quote empty for the whole unit"])))
define("sheet-quote-ambiguous", NAME, "{path} line {line}: quote {value!r} occurs {count} times in unit {unit_id}",
       description="A coding-sheet row's quote occurs more than once in its unit, so its place is not known.",
       hint="quote more of the unit, so that the part occurs once")
define("sheet-id-taken", NAME, "{path} line {line}: {value} is already {where}",
       description="A coding-sheet row gives an ID that a row of the package, a retraction or another sheet row has.",
       hint="leave id empty on a claim, denial or exclusion (it gets the next free one); a new actor or event "
            "takes the next free ID the sheet proposes")
define("sheet-applied-before", NAME, "{path} line {line}: {row_id} in {resource} already quotes {source_id} at "
       "{start}-{end}; was this sheet applied before?",
       description="A coding-sheet row would add a quote that its table holds already, at the same place.",
       hint="write a new sheet (`nkru code {source_id}`): it lists only the units not yet covered")


class SheetError(ValueError):
    """The sheet cannot be written or applied at all (a usage problem; the message says why)."""


# -- the sheet's columns, from the Table Schemas -----------------------------------------------------------


def _key(package: Any, resource: str) -> str | None:
    key = package.primary_key(resource)
    return key[0] if len(key) == 1 else None


def columns(package: Any) -> list[str]:
    """The sheet's header: the fixed columns, then every field of the tables a row can go to (by name, in the
    order of KINDS and of each Table Schema), less each table's own key and the derived fields."""
    out = list(FIXED)
    for resource in KINDS.values():
        if resource not in package.resources:
            continue
        key = _key(package, resource)
        out += [name for name in package.field_names(resource) if name != key and name not in DERIVED and name not in out]
    return out


def used(package: Any, kind: str) -> set[str]:
    """The sheet columns a row of `kind` takes."""
    resource = KINDS[kind]
    key = _key(package, resource)
    names = {name for name in package.field_names(resource) if name != key and name not in DERIVED}
    names.add(KIND)
    if key:
        names.add(ID)
    if kind in QUOTED:
        names |= {UNIT, UNIT_START, UNIT_END, UNIT_TEXT, QUOTE}
    return names


# -- IDs -----------------------------------------------------------------------------------------------------


def _prefix(package: Any, resource: str, key: str) -> str | None:
    """The letters of a table's IDs, from its key's pattern (`^C([0-9]{3}|…)$` -> "C")."""
    for spec in package.fields(resource):
        if spec.get("name") == key:
            pattern = (spec.get("constraints") or {}).get("pattern")
            match = re.match(r"^\^([A-Z]+)", pattern) if isinstance(pattern, str) else None
            return match.group(1) if match else None
    return None


def _number(value: str, prefix: str) -> int | None:
    match = re.fullmatch(rf"{re.escape(prefix)}([0-9]+)", value or "")
    return int(match.group(1)) if match else None


def _format(prefix: str, number: int) -> str:
    return f"{prefix}{number:03d}"


@dataclass
class _Ids:
    """The IDs a table holds or held (retracted), and the next free number: IDs grow numerically, never reused."""

    prefix: str
    taken: set[str]
    retracted: set[str]
    next: int

    def where(self, value: str) -> str | None:
        if value in self.taken:
            return "an ID in the package"
        if value in self.retracted:
            return "a retracted ID (retracted IDs are never reused)"
        return None

    def take(self) -> str:
        value = _format(self.prefix, self.next)
        self.next += 1
        return value


def _ids(package: Any) -> dict[str, _Ids]:
    retracted_table = package.table("retractions") if "retractions" in package.resources else None
    retracted = set(retracted_table.column("id")) if retracted_table is not None and "id" in retracted_table.header else set()
    out = {}
    for resource in KINDS.values():
        if resource not in package.resources:
            continue
        key = _key(package, resource)
        prefix = _prefix(package, resource, key) if key else None
        table = package.table(resource)
        if not key or not prefix or table is None:
            continue
        taken = set(table.column(key))
        numbers = [n for n in (_number(v, prefix) for v in taken | retracted) if n is not None]
        out[resource] = _Ids(prefix, taken, {v for v in retracted if _number(v, prefix) is not None},
                             max(numbers, default=0) + 1)
    return out


def next_ids(package: Any) -> dict[str, str]:
    """The next free ID of each table a sheet row can go to that has IDs (resource -> ID)."""
    return {resource: _format(ids.prefix, ids.next) for resource, ids in _ids(package).items()}


# -- cells -----------------------------------------------------------------------------------------------------


def guard(value: str) -> str:
    """A cell as the sheet writes it: behind an apostrophe when a spreadsheet would run it as a formula."""
    return "'" + value if value.lstrip(" ").startswith(FORMULA_TRIGGERS) else value


def unguard(value: str) -> str:
    """A cell as the sheet reads it: without the apostrophe `guard` put before a formula-like value; trimmed."""
    value = value.strip()
    if value.startswith("'") and value[1:].lstrip(" ").startswith(FORMULA_TRIGGERS[:4]):
        value = value[1:]
    return value


def whole_unit(text: str, start: int, end: int) -> tuple[int, int]:
    """The unit [start, end) less leading characters a spreadsheet would run as a formula, and blanks (a quote
    never starts with them: the rules layer's text-formula), so that "+++ Liveblog +++" is quoted "Liveblog +++"."""
    while start < end and (text[start] in "=+-@" or text[start].isspace()):
        start += 1
    return (start, end) if start < end else (start, start)


# -- writing a sheet ------------------------------------------------------------------------------------------


@dataclass
class WrittenSheet:
    path: Path
    source_id: str
    units: int  # unit rows written (0: every unit is covered, and no sheet was written)
    next_ids: dict[str, str]


def _open(path: str | Path):
    from nkru.package import Package, PackageError

    try:
        return Package.open(path)
    except PackageError as exc:
        raise SheetError(str(exc)) from None


def _source(package: Any, source_id: str):
    """The source's text (a FoldedText) and its units [(unit_id, start, end)], or SheetError."""
    from nkru.coverage import units_problem
    from nkru.text import FoldedText

    paths = package.source_paths()
    if source_id not in paths:
        known = ", ".join(sorted(paths)[-3:])
        raise SheetError(f"{source_id!r} is not a source in the sources table" + (f" (the last ones: {known})" if known else ""))
    text, problem = package.source_text_or_problem(source_id)
    if text is None:
        raise SheetError(f"the text of {source_id} cannot be read: {problem}")
    problem = units_problem(package)
    if problem:
        raise SheetError(problem)
    from nkru.units import units_frame

    import polars as pl

    frame = units_frame(package).filter(pl.col("source_id") == source_id).sort("start")
    units = [(u, s, e) for u, s, e in frame.select("unit_id", "start", "end").iter_rows() if s is not None and e is not None]
    return FoldedText(text), units


def uncovered_units(package: Any, source_id: str) -> list[Any]:
    """The units of `source_id` that no claim, denial or exclusion covers (`nkru.coverage.Unit`), in text order."""
    from nkru.coverage import package_coverage

    text, _ = _source(package, source_id)
    for source in package_coverage(package, texts={source_id: text}):
        if source.source_id == source_id:
            return sorted(source.uncovered_sentences(), key=lambda unit: unit.start)
    return []


def default_sheet(root: Path, source_id: str) -> Path:
    return root / SHEET_DIR / f"{source_id}.csv"


def write_sheet(path: str | Path, source_id: str, out: str | Path | None = None, *, force: bool = False) -> WrittenSheet:
    """Write the coding sheet of `source_id`'s uncovered units to `out` (default `coding/SOURCE.csv` in the
    package); SheetError when it cannot (an existing file is kept unless `force`)."""
    from nkru.fsutil import confine, write_error
    from nkru.transaction import atomic_write_bytes

    package = _open(path)
    text, _ = _source(package, source_id)
    units = uncovered_units(package, source_id)
    target = Path(out) if out is not None else default_sheet(package.root, source_id)
    if not units:
        return WrittenSheet(target, source_id, 0, next_ids(package))  # nothing to code: no sheet
    if target.exists() and not force:
        raise SheetError(f"{target} exists (it may hold your coding): name another file with --out, or pass --force "
                         "to write over it")
    header = columns(package)
    proposed = next_ids(package)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180, as spreadsheets write CSV
    writer.writerow(header)
    free = ", ".join(f"{resource} {value}" for resource, value in proposed.items())
    writer.writerow(_row(header, {KIND: f"{NOTE} {source_id}: mark each unit claim, denial or exclusion and fill its "
                                        f"fields (docs/curation.md, 'The coding sheet'); next free IDs: {free}"}))
    for unit in units:
        passage = text.original[unit.start:unit.end]
        writer.writerow(_row(header, {UNIT: unit.unit_id, UNIT_START: str(unit.start), UNIT_END: str(unit.end),
                                      UNIT_TEXT: guard(" ".join(passage.split()))}))
    for kind in ("actor", "event"):
        resource = KINDS[kind]
        if resource in proposed:  # templates: left as they are, they are ignored
            writer.writerow(_row(header, {KIND: kind, ID: proposed[resource]}))
    data = (BOM + buffer.getvalue()).encode("utf-8")
    try:
        if out is None:
            confine(target, package.root)
        else:
            confine(target, Path.cwd(), named=target)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data, named=target if out is not None else None)
    except OSError as exc:
        raise SheetError(write_error(exc, target)) from None
    return WrittenSheet(target, source_id, len(units), proposed)


def _row(header: list[str], values: dict[str, str]) -> list[str]:
    return [values.get(name, "") for name in header]


# -- reading a sheet ------------------------------------------------------------------------------------------


@dataclass
class SheetRow:
    line: int
    cells: dict[str, str]


def read_sheet(sheet: str | Path) -> tuple[list[str], list[SheetRow], list[Finding]]:
    """The sheet's header and rows (with their first physical line), or findings saying why it cannot be read."""
    shown = str(sheet)
    try:
        data = Path(sheet).read_bytes()
    except OSError as exc:
        return [], [], [Finding.make("sheet-unreadable", path=shown, detail=f"cannot be read ({exc.strerror or exc})")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return [], [], [Finding.make("sheet-unreadable", path=shown, line=line,
                                     detail=f"line {line} is not UTF-8 (byte {exc.start}: {exc.reason})")]
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)  # as written (,) or saved back by a German Excel (;)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        records = []
        end = 0
        for record in reader:
            records.append((end + 1, record))
            end = reader.line_num
    except csv.Error as exc:
        return [], [], [Finding.make("sheet-unreadable", path=shown, line=reader.line_num, detail=f"not CSV: {exc}")]
    if not records:
        return [], [], [Finding.make("sheet-unreadable", path=shown, detail="the file is empty")]
    header = [cell.strip() for cell in records[0][1]]
    rows = []
    for line, record in records[1:]:
        cells = {name: unguard(record[index]) if index < len(record) else "" for index, name in enumerate(header)}
        extra = [cell for cell in record[len(header):] if cell.strip()]
        if extra:
            cells[_EXTRA] = extra[0]
        if any(cells.values()):
            rows.append(SheetRow(line, cells))
    return header, rows, []


# -- checking and applying ------------------------------------------------------------------------------------


@dataclass
class _Built:
    """One row for a table, made from a sheet row."""

    resource: str
    kind: str
    sheet_line: int
    values: dict[str, str]
    key: str | None


@dataclass
class Applied:
    """What applying a sheet found and (unless `findings` has errors or it was a dry run) wrote."""

    sheet: str
    source_id: str
    findings: list[Finding] = field(default_factory=list)
    #: resource -> the IDs (or, for event_actors, the number of rows) added
    added: dict[str, list[str]] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    dry_run: bool = False
    #: resource -> (the table file's new bytes, the table line of each new row, what was added): what is written
    staged: dict[str, tuple[bytes, dict[int, Any], list[str]]] = field(default_factory=dict, repr=False)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


def apply_sheet(path: str | Path, source_id: str, sheet: str | Path, *, dry_run: bool = False) -> Applied:
    """Check the coding sheet `sheet` of `source_id` and, when it and the package it would make are clean, append
    its rows to the package's tables in one atomic step (nothing is written otherwise, nor with `dry_run`).
    SheetError for a usage problem (no such package or source)."""
    from nkru.fsutil import package_lock, write_error

    package = _open(path)
    root = package.root
    try:
        with package_lock(root):
            package = _open(root)  # read again under the lock: another writer may have finished meanwhile
            result = _check(package, source_id, Path(sheet), dry_run)
            if result.ok and not dry_run:
                _commit(root, result)
    except OSError as exc:  # a planted link, another writer, a full disk or a read-only tree
        raise SheetError(write_error(exc)) from None
    return result


def _check(package: Any, source_id: str, sheet: Path, dry_run: bool) -> Applied:
    result = Applied(str(sheet), source_id, dry_run=dry_run)
    text, units = _source(package, source_id)
    header, rows, problems = read_sheet(sheet)
    shown = str(sheet)
    if problems:
        result.findings = problems
        return result
    known = columns(package)
    missing = [name for name in (KIND, UNIT, QUOTE) if name not in header]
    unknown = [name for name in header if name not in known]
    if missing or unknown or len(set(header)) != len(header):
        detail = "; ".join(filter(None, [
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}" if missing else "",
            f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(repr(u) for u in unknown)}" if unknown else "",
            "a column appears twice" if len(set(header)) != len(header) else ""]))
        result.findings = [Finding.make("sheet-header", path=shown, line=1, detail=detail)]
        return result
    findings: list[Finding] = []
    built: list[_Built] = []
    by_id = {unit_id: (start, end) for unit_id, start, end in units}
    ids = _ids(package)
    claimed: dict[tuple[str, str], int] = {}  # (resource, id) -> sheet line, for IDs given in the sheet
    uses = {kind: used(package, kind) for kind in KINDS if KINDS[kind] in package.resources}
    for row in rows:
        cells, line = row.cells, row.line
        where = dict(path=shown, line=line)
        if _EXTRA in cells:
            findings.append(Finding.make("sheet-header", path=shown, line=line,
                                         detail=f"line {line} has more cells than the header ({cells[_EXTRA]!r})"))
            continue
        kind = cells.get(KIND, "").strip().lower()
        if kind.startswith(NOTE):
            continue
        if not kind:
            if cells.get(UNIT):
                findings.append(Finding.make("sheet-unmarked", field=KIND, value=cells[UNIT], **where))
            else:
                findings.append(Finding.make("sheet-kind", field=KIND, value="", kinds=", ".join(KINDS), **where))
            continue
        if kind not in uses:
            findings.append(Finding.make("sheet-kind", field=KIND, value=cells.get(KIND), kinds=", ".join(uses), **where))
            continue
        resource = KINDS[kind]
        if kind in STANDALONE and not any(v for name, v in cells.items() if name not in (KIND, ID)):
            continue  # an unused template row
        for name, value in cells.items():
            if value and name not in uses[kind]:
                advice = ("a unit's row becomes a claim, denial or exclusion; add actors, events and event_actors as "
                          "rows of their own" if name in (UNIT, QUOTE) else
                          f"{name} belongs to a {' or '.join(k for k in uses if name in uses[k] and k != kind) or 'other'} row")
                findings.append(Finding.make("sheet-field-unused", field=name, value=value, kind=kind, advice=advice, **where))
        key = _key(package, resource)
        values = {name: cells.get(name, "") for name in package.field_names(resource) if name in cells}
        own = cells.get(ID, "")
        if key and own:
            taken = ids[resource].where(own) if resource in ids else None
            if taken is None and (resource, own) in claimed:
                taken = f"the ID of line {claimed[(resource, own)]} of this sheet"
            if taken:
                findings.append(Finding.make("sheet-id-taken", field=ID, value=own, where=taken, **where))
            claimed.setdefault((resource, own), line)
        if key:
            values[key] = own
        if "source_id" in package.field_names(resource):
            values["source_id"] = source_id
        if kind in QUOTED:
            place = _place(cells, by_id, text, source_id, findings, where)
            quote = cells.get(QUOTE, "")
            if place is not None:
                start, end = place
                values.update(quote=text.original[start:end], quote_start=str(start), quote_end=str(end))
            else:
                values.update(quote=quote, quote_start="", quote_end="")
        built.append(_Built(resource, kind, line, values, key))
    for (resource, value) in claimed:  # empty IDs get the next free ones, past every ID given in the sheet
        number = _number(value, ids[resource].prefix) if resource in ids else None
        if number is not None:
            ids[resource].next = max(ids[resource].next, number + 1)
    for item in built:  # in sheet order
        if item.key and not item.values[item.key] and item.resource in ids:
            item.values[item.key] = ids[item.resource].take()
    findings += _applied_before(package, built, shown)
    result.findings = findings
    staged = _stage(package, built)
    result.added = {resource: ids_added for resource, (_, _, ids_added) in staged.items()}
    sheet_errors = any(f.severity == "error" for f in findings)
    result.findings += _validate_staged(package, staged, shown, with_coverage=not sheet_errors, known=findings)
    result.staged = staged
    return result


def _place(cells: dict[str, str], units: dict[str, tuple[int, int]], text: Any, source_id: str,
           findings: list[Finding], where: dict[str, Any]) -> tuple[int, int] | None:
    """The [start, end) in the text of a quoted row's quote: the whole unit, or the one place in it of its quote."""
    from nkru.offsets import candidates
    from nkru.text import FoldedText

    unit_id = cells.get(UNIT, "")
    if not unit_id:
        findings.append(Finding.make("sheet-unit-missing", field=UNIT, kind=cells.get(KIND, "").lower(), **where))
        return None
    if unit_id not in units:
        findings.append(Finding.make("sheet-unit-unknown", field=UNIT, value=unit_id, source_id=source_id, **where))
        return None
    start, end = units[unit_id]
    said = (cells.get(UNIT_START, ""), cells.get(UNIT_END, ""))
    if any(said) and said != (str(start), str(end)):
        findings.append(Finding.make("sheet-unit-changed", field=UNIT, value=unit_id, start=start, end=end,
                                     sheet_start=said[0], sheet_end=said[1], source_id=source_id, **where))
        return None
    quote = cells.get(QUOTE, "")
    passage = text.original[start:end]
    if not quote:
        return whole_unit(text.original, start, end)
    places = candidates(FoldedText(passage), quote)
    if len(places) == 1:
        return start + places[0][0], start + places[0][1]
    shown = " ".join(passage.split())
    if not places:
        closest = _aligned(shown, " ".join(quote.split()))
        findings.append(Finding.make("sheet-quote-not-in-unit", field=QUOTE, value=quote, unit_id=unit_id,
                                     unit_text=shown, closest=closest, **where))
    else:
        findings.append(Finding.make("sheet-quote-ambiguous", field=QUOTE, value=quote, unit_id=unit_id,
                                     count=len(places), **where))
    return None


def _aligned(unit: str, quote: str) -> str:
    """The part of `unit` a mistyped `quote` was meant to be: from where their first common run starts (less the
    quote's characters before it) to where their last one ends (plus the quote's characters after it)."""
    import difflib

    blocks = [b for b in difflib.SequenceMatcher(None, quote, unit, autojunk=False).get_matching_blocks() if b.size]
    if not blocks:
        return ""
    first, last = blocks[0], blocks[-1]
    start = max(0, first.b - first.a)
    end = min(len(unit), last.b + last.size + (len(quote) - last.a - last.size))
    return unit[start:end]


def _applied_before(package: Any, built: list[_Built], shown: str) -> list[Finding]:
    """A quoted row whose table already holds a row quoting the same source at the same place."""
    findings = []
    existing: dict[str, dict[tuple[str, str, str], str]] = {}
    for item in built:
        if item.kind not in QUOTED or not item.values.get("quote_start"):
            continue
        if item.resource not in existing:
            table = package.table(item.resource)
            places: dict[tuple[str, str, str], str] = {}
            if table is not None and {"source_id", "quote_start", "quote_end"} <= set(table.header):
                keys = table.column(item.key) if item.key else [""] * len(table.rows)
                for key, *place in zip(keys, table.column("source_id"), table.column("quote_start"), table.column("quote_end")):
                    places.setdefault(tuple(place), key)
            existing[item.resource] = places
        place = (item.values["source_id"], item.values["quote_start"], item.values["quote_end"])
        if place in existing[item.resource]:
            findings.append(Finding.make("sheet-applied-before", path=shown, line=item.sheet_line, field=QUOTE,
                                         value=item.values["quote"], row_id=existing[item.resource][place],
                                         resource=item.resource, source_id=place[0], start=place[1], end=place[2]))
    return findings


# -- the package as it would be ---------------------------------------------------------------------------------


def _number_of(item: _Built) -> tuple[int, str]:
    value = item.values.get(item.key or "", "")
    digits = re.search(r"[0-9]+$", value)
    return (int(digits.group()) if digits else 1 << 62, value)


def _stage(package: Any, built: list[_Built]) -> dict[str, tuple[bytes, dict[int, _Built], list[str]]]:
    """Per table with new rows: its file's bytes with the rows appended (in ID order, after every existing row;
    the file's dialect, line ending and encoding kept), the table line of each new row, and what was added."""
    from nkru.curate import _appended

    staged = {}
    for resource in KINDS.values():
        items = [item for item in built if item.resource == resource]
        if not items:
            continue
        if items[0].key:
            items.sort(key=_number_of)
        spec = package.resources[resource]
        table = package.table(resource)
        header = list(table.header) if table is not None else package.field_names(resource)
        path = package.resolve(spec.path)
        data = _appended(path, spec.descriptor, header, [item.values for item in items])
        original = path.read_bytes()
        line = original.count(b"\n") + (0 if not original or original.endswith(b"\n") else 1) + 1
        lines: dict[int, _Built] = {}
        for item in items:
            lines[line] = item
            line += sum(value.count("\n") for value in item.values.values()) + 1
        added = [item.values[item.key] for item in items] if items[0].key else [f"{len(items)} rows"]
        staged[resource] = (data, lines, added)
    return staged


def _field_in_sheet(resource_field: str | None, item: _Built) -> str | None:
    if resource_field is None:
        return None
    if resource_field == item.key:
        return ID
    if resource_field in ("quote", "quote_start", "quote_end"):
        return QUOTE
    return resource_field


def _validate_staged(package: Any, staged: dict[str, tuple[bytes, dict[int, _Built], list[str]]], shown: str, *,
                     with_coverage: bool, known: list[Finding]) -> list[Finding]:
    """`nkru validate`'s structure, rules and (when the sheet itself is clean) coverage layers on the package as it
    would be; findings on a new row are moved to the sheet line it came from, the others kept as they are. A
    finding at a sheet line and column that a sheet check already reported is left out (one finding per mistake)."""
    from nkru.api import Options, validate_package

    if not staged:
        return []
    root = package.root
    with tempfile.TemporaryDirectory(dir=root, prefix=".nkru-sheet-") as folder:
        stage = Path(folder)
        _copy_package(package, stage, {package.resources[r].path: data for r, (data, _, _) in staged.items()})
        layers = ["structure", "rules"] + (["coverage"] if with_coverage else [])
        report = validate_package(stage, only=layers, options=Options())
    places = {(f.line, QUOTE if f.field == UNIT else f.field) for f in known}  # no unit: no quote either
    out = []
    for finding in report.findings:
        entry = staged.get(finding.resource or "")
        item = entry[1].get(finding.line) if entry and finding.line else None
        if item is None:
            out.append(finding)
            continue
        column = _field_in_sheet(finding.field, item)
        if (item.sheet_line, column) in places:
            continue
        before = f"{finding.resource} line {finding.line}"
        after = f"{shown} line {item.sheet_line} ({item.kind}{' ' + item.values[item.key] if item.key else ''})"
        message = finding.message.replace(before, after, 1) if before in finding.message else f"{after}: {finding.message}"
        out.append(dataclasses.replace(finding, path=shown, line=item.sheet_line, field=column, message=message,
                                       resource=None, row_id=item.values.get(item.key or "") or finding.row_id))
    return out


def _copy_package(package: Any, stage: Path, replaced: dict[str, bytes]) -> None:
    """The files validation reads, in `stage`: the descriptor, schemas, pyproject.toml (the coverage threshold),
    every table (`replaced` ones with their new bytes) and every source text. Files are hard-linked where the
    file system allows it (the stage is inside the package), so that a large package costs no copy."""
    names = {"datapackage.json", "pyproject.toml"}
    for spec in package.resources.values():
        for value in (spec.path, spec.descriptor.get("schema")):
            if isinstance(value, str):
                names.add(value)
    names |= set(package.source_paths().values())
    for name in sorted(names):
        if name in replaced:
            continue
        try:
            source = package.resolve(name)
        except ValueError:
            continue
        if not source.is_file():
            continue
        target = stage / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.hardlink_to(source)
        except OSError:
            shutil.copy2(source, target)
    for name, data in replaced.items():
        target = stage / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _commit(root: Path, result: Applied) -> None:
    """Write every changed table in one transaction (all or none, also when killed)."""
    from nkru.package import Package
    from nkru.transaction import Transaction

    package = Package.open(root)
    with Transaction(root) as transaction:
        for resource, (data, _, _) in result.staged.items():
            transaction.add(package.resolve(package.resources[resource].path), data)
            result.written.append(package.resources[resource].path)
