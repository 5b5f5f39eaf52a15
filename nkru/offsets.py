"""Addressable quotes: `quote_start`, `quote_end` locate each quote in its archived text.

The unit is the Unicode code point of the source's text file decoded as UTF-8
(a BOM, if any, is the first code point); `quote_end` is exclusive, so
``text[quote_start:quote_end]`` is the quoted passage. That slice must equal
the quote after the same folding every quote comparison uses (Unicode NFC,
whitespace runs as one space: `nkru.text.fold`), and must neither start nor end
with whitespace.

This module

- checks offsets (`slice_problem`), for the coverage layer, which then finds
  the sentences a quote covers from its offsets instead of searching for it;
- fills offsets for rows that lack them (`fill`, the `nkru offsets` command):
  a quote found exactly once in its text gets that place; a quote found more
  than once is reported with every candidate and left empty (never guessed); a
  quote not found is reported with the closest passage. The CSV file is
  rewritten atomically, and only the offset cells change: every other byte,
  the row order and the quoting of other cells stay as they were.

Which resources carry offsets is read from the schemas: those with a `quote`,
a `source_id` and both offset fields.
"""

from __future__ import annotations

import contextlib

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nkru.package import Package, csv_dialect, decode
from nkru.text import FoldedText, SourceTexts, fold

START, END = "quote_start", "quote_end"
OFFSET_FIELDS = (START, END)
QUOTE, SOURCE_ID = "quote", "source_id"
_DIGITS = re.compile(r"^[0-9]+$")

# Problems with a row's offsets (codes of the coverage layer's findings).
ORDER, OUT_OF_RANGE, MISMATCH = "quote-offsets-order", "quote-offsets-out-of-range", "quote-offsets-mismatch"


class OffsetsError(Exception):
    """The offsets cannot be filled at all (unreadable package or table): a usage error."""


def offset_resources(package: Package) -> list[str]:
    """Resources whose rows carry a quote from a source and its offsets (read from the schemas)."""
    wanted = {QUOTE, SOURCE_ID, *OFFSET_FIELDS}
    return [name for name in package.resources if wanted <= set(package.field_names(name))]


def parse_offset(value: Any) -> int | None:
    """A cell as a non-negative integer offset, or None when it is empty or not one (the structure layer's)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 else None
    if isinstance(value, str) and _DIGITS.match(value.strip()):
        return int(value.strip())
    return None


def offsets_of(row: dict[str, Any]) -> tuple[int, int] | None:
    """(quote_start, quote_end) of a row when both are set and integers; None otherwise."""
    start, end = parse_offset(row.get(START)), parse_offset(row.get(END))
    return None if start is None or end is None else (start, end)


def slice_problem(text: str, quote: str, start: int, end: int) -> tuple[str, str] | None:
    """(code, detail) when text[start:end] is not the quote; None when it is."""
    if start >= end:
        return ORDER, f"quote_start {start} is not before quote_end {end}"
    if end > len(text):
        return OUT_OF_RANGE, f"the text has {len(text)} code points, so quote_end {end} is past its end"
    passage = text[start:end]
    if passage == quote and passage == passage.strip():
        return None  # the common case, the quote verbatim: no need to fold either
    if fold(passage) != fold(quote):
        return MISMATCH, f"the text there reads {_short(passage)!r}"
    if passage != passage.strip():
        return MISMATCH, f"the passage there starts or ends with whitespace: {_short(passage)!r}"
    return None


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def candidates(text: FoldedText, quote: str) -> list[tuple[int, int]]:
    """Every place the quote occurs in the original text, as (quote_start, quote_end)."""
    return [text.original_range(span) for span in text.find_all(quote)]


def line_of_offset(text: str, offset: int) -> int:
    """1-based line of the text file on which code point `offset` lies."""
    return text.count("\n", 0, max(0, offset)) + 1


# -- filling -----------------------------------------------------------------------------------------


@dataclass
class Place:
    start: int
    end: int
    line: int  # line in the source text file

    def to_dict(self) -> dict[str, Any]:
        return {"quote_start": self.start, "quote_end": self.end, "text_line": self.line}


@dataclass
class RowResult:
    """What happened to one row that lacked offsets."""

    resource: str
    path: str
    line: int  # line in the CSV file
    row_id: str
    source_id: str
    quote: str
    status: str  # filled | ambiguous | not_found | no_text
    places: list[Place] = field(default_factory=list)
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "path": self.path, "line": self.line, "row_id": self.row_id,
                "source_id": self.source_id, "status": self.status, "quote": self.quote,
                "places": [p.to_dict() for p in self.places], "detail": self.detail}


@dataclass
class FillResult:
    rows: list[RowResult] = field(default_factory=list)
    kept: int = 0  # rows that already had offsets (left alone)
    written: list[str] = field(default_factory=list)  # files rewritten
    dry_run: bool = False

    def by_status(self, status: str) -> list[RowResult]:
        return [r for r in self.rows if r.status == status]

    @property
    def filled(self) -> list[RowResult]:
        return self.by_status("filled")

    @property
    def unresolved(self) -> list[RowResult]:
        return [r for r in self.rows if r.status != "filled"]

    @property
    def complete(self) -> bool:
        """Every row has offsets now (or would have, in a dry run)."""
        return not self.unresolved

    def to_dict(self) -> dict[str, Any]:
        return {"complete": self.complete, "dry_run": self.dry_run, "kept": self.kept,
                "filled": len(self.filled), "unresolved": len(self.unresolved), "written": self.written,
                "rows": [r.to_dict() for r in self.rows]}


@dataclass
class _Record:
    start: int  # offset of the record in the CSV text
    fields: list[tuple[int, int]]  # raw spans of its cells (quotes included)


def _records(text: str, delimiter: str = ",", quotechar: str = '"', escapechar: str | None = None,
             doublequote: bool = True) -> list[_Record]:
    """The CSV text's records with the raw span of every cell, so single cells can be replaced in place."""
    records: list[_Record] = []
    i, n = 0, len(text)
    while i < n:
        record = _Record(i, [])
        while True:
            cell = i
            if i < n and text[i] == quotechar:
                i += 1
                while i < n:
                    char = text[i]
                    if escapechar and char == escapechar:
                        i += 2
                    elif char == quotechar:
                        if doublequote and i + 1 < n and text[i + 1] == quotechar:
                            i += 2
                        else:
                            i += 1
                            break
                    else:
                        i += 1
            while i < n and text[i] not in (delimiter, "\r", "\n"):
                i += 2 if escapechar and text[i] == escapechar else 1
            record.fields.append((cell, min(i, n)))
            if i < n and text[i] == delimiter:
                i += 1
                continue
            i += 2 if text.startswith("\r\n", i) else 1
            break
        records.append(record)
    return records


def _check_records(text: str, records: list[_Record], dialect: dict[str, Any], path: str) -> list[list[str]]:
    """The parsed rows, after making sure the cell spans agree with Python's csv reader (else refuse)."""
    parsed = [row for row in csv.reader(io.StringIO(text, newline=""), strict=True, **dialect)]
    mine = [r for r in records if r.fields != [(r.start, r.start)]]  # blank lines
    parsed = [row for row in parsed if row]
    if len(mine) != len(parsed):
        raise OffsetsError(f"{path}: the CSV records cannot be located safely ({len(mine)} vs {len(parsed)} rows)")
    for record, row in zip(mine, parsed):
        if len(record.fields) != len(row):
            raise OffsetsError(f"{path} line {line_of_offset(text, record.start)}: the cells cannot be located safely")
    return parsed


def _fill_row(name: str, path: str, text: str, record: _Record, cells: dict[str, str], key: list[str], number: int,
              texts: SourceTexts, result: FillResult, edits: list[tuple[int, int, str]] | None) -> list[str]:
    """Find one row's place; record the outcome; add in-place edits (or return the cells to insert)."""
    if offsets_of(cells) is not None:
        result.kept += 1
        return [cells.get(START, ""), cells.get(END, "")]
    given = {f: cells.get(f, "") or "" for f in OFFSET_FIELDS}
    if any(v and parse_offset(v) is None for v in given.values()):
        result.kept += 1  # a malformed offset is the structure layer's to report, not ours to overwrite
        return [given[START], given[END]]
    quote, source_id = cells.get(QUOTE, ""), cells.get(SOURCE_ID, "")
    row_id = "|".join(cells.get(k, "") for k in key) if key else str(number)
    outcome = RowResult(name, path, line_of_offset(text, record.start), row_id, source_id, quote, "filled")
    result.rows.append(outcome)
    keep = [given[START], given[END]]
    folded = texts.get(source_id)
    if folded is None:
        outcome.status, outcome.detail = "no_text", f"source {source_id!r} has no readable text"
        return keep
    found = candidates(folded, quote) if quote else []
    known = {f: parse_offset(v) for f, v in given.items()}
    found = [(s, e) for s, e in found if known[START] in (None, s) and known[END] in (None, e)]
    outcome.places = [Place(s, e, line_of_offset(folded.original, s)) for s, e in found]
    if not found:
        outcome.status = "not_found"
        if any(v is not None for v in known.values()):
            outcome.detail = "the offset already set matches no place of the quote"
        else:
            closest, score, text_line = folded.closest(quote) if quote else ("", 0.0, 1)
            outcome.detail = f"closest passage ({score}% alike, text line {text_line}): {_short(closest)!r}"
        return keep
    if len(found) > 1:
        outcome.status = "ambiguous"
        outcome.detail = f"the quote occurs {len(found)} times in {source_id}; set the offsets by hand"
        return keep
    start, end = found[0]
    if edits is not None:
        header_position = list(cells)
        for column, value in ((START, start), (END, end)):
            cell_start, cell_end = record.fields[header_position.index(column)]
            edits.append((cell_start, cell_end, str(value)))
    return [str(start), str(end)]


def _fill_resource(package: Package, name: str, texts: SourceTexts, result: FillResult,
                   write: bool) -> None:
    spec = package.resources[name]
    path = spec.path
    if not path:
        raise OffsetsError(f"resource {name!r} has no path")
    full = package.resolve(path)
    try:
        data = full.read_bytes()
    except OSError as exc:
        raise OffsetsError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        text = decode(data, spec.descriptor.get("encoding") if isinstance(spec.descriptor, dict) else None, path=path)
    except ValueError as exc:
        raise OffsetsError(str(exc)) from None
    bom = data.startswith(b"\xef\xbb\xbf") and not text.startswith("\ufeff")
    dialect = csv_dialect(spec.descriptor if isinstance(spec.descriptor, dict) else {})
    records = _records(text, dialect.get("delimiter", ","), dialect.get("quotechar", '"'), dialect.get("escapechar"),
                       dialect.get("doublequote", True))
    try:
        rows = _check_records(text, records, dialect, path)
    except csv.Error as exc:
        raise OffsetsError(f"{path}: {exc}") from None
    records = [r for r in records if r.fields != [(r.start, r.start)]]
    if not rows:
        return
    header = rows[0]
    if QUOTE not in header or SOURCE_ID not in header:
        raise OffsetsError(f"{path}: the header has no {QUOTE!r} or {SOURCE_ID!r} column")
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement) in the CSV text
    delimiter = dialect.get("delimiter", ",")
    missing = [f for f in OFFSET_FIELDS if f not in header]
    if len(missing) == 1:
        raise OffsetsError(f"{path}: the header has {OFFSET_FIELDS[1 - OFFSET_FIELDS.index(missing[0])]!r} "
                           f"but not {missing[0]!r}; add the column first")
    anchor = -1
    header_cells = header
    if missing:
        # Insert both columns where the schema puts them: after the field that precedes quote_start there.
        schema_names = package.field_names(name)
        at = schema_names.index(START)
        before = schema_names[at - 1] if at > 0 else None
        anchor = header.index(before) if before in header else len(header) - 1
        header_cells = header[: anchor + 1] + list(OFFSET_FIELDS) + header[anchor + 1 :]
    position = {column: index for index, column in enumerate(header_cells)}
    key = package.primary_key(name)
    for number, (record, row) in enumerate(zip(records, rows)):
        inserted = list(OFFSET_FIELDS) if number == 0 else ["", ""]
        if number > 0:
            inserted = _fill_row(name, path, text, record, dict(zip(header, row)), key, number, texts, result,
                                 edits if not missing else None)
        if missing:
            cell_end = record.fields[min(anchor, len(record.fields) - 1)][1]
            edits.append((cell_end, cell_end, "".join(delimiter + v for v in inserted)))
    filled = [r for r in result.rows if r.resource == name and r.status == "filled"]
    if not (filled or missing) or not write:
        return
    new_text = _apply(text, edits)
    # Safety: the rewritten file parses to the same rows, only the offset cells changed.
    check = list(csv.reader(io.StringIO(new_text, newline=""), strict=True, **dialect))
    check = [row for row in check if row]
    if len(check) != len(rows) or check[0] != header_cells:
        raise OffsetsError(f"{path}: rewriting would change the table's shape; nothing written")
    offsets_at = {position[f] for f in OFFSET_FIELDS}
    for old, new in zip(rows[1:], check[1:]):
        old_full = dict(zip(header, old))
        new_full = dict(zip(header_cells, new))
        if any(old_full.get(c, "") != new_full.get(c, "") for c in header_cells if position[c] not in offsets_at):
            raise OffsetsError(f"{path}: rewriting would change other cells; nothing written")
    from nkru.fsutil import confine
    from nkru.transaction import atomic_write_bytes

    confine(full, package.root)  # a data file that is a link (or behind one) is not written through
    encoded = new_text.encode(spec.descriptor.get("encoding") or "utf-8" if isinstance(spec.descriptor, dict) else "utf-8")
    atomic_write_bytes(full, (b"\xef\xbb\xbf" if bom else b"") + encoded, root=package.root)
    result.written.append(path)


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    out: list[str] = []
    cursor = 0
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1])):
        out.append(text[cursor:start])
        out.append(replacement)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def read_texts(package: Package) -> SourceTexts:
    """Every readable source text by source_id (held column-wise; folded when one is asked for)."""
    paths = package.source_paths()  # once: `Package.source_text` builds this map on every call
    return SourceTexts.collect((source_id, text) for source_id, path in paths.items()
                               if path and (text := package.read_source(path).text) is not None)


def fill(path: str | Path = ".", *, write: bool = True, resources: list[str] | None = None) -> FillResult:
    """Fill `quote_start`/`quote_end` for every row that lacks them; see the module docstring.

    Raises OffsetsError (or PackageError) when the package or a table cannot be read.
    """
    package = Package.open(path)
    result = FillResult(dry_run=not write)
    texts = read_texts(package)
    names = offset_resources(package)
    from nkru.fsutil import package_lock

    with package_lock(package.root) if write else contextlib.nullcontext():
        for name in resources or names:
            if name not in names:
                raise OffsetsError(f"resource {name!r} has no {QUOTE}, {SOURCE_ID}, {START} and {END} fields "
                                   f"(resources with offsets: {', '.join(names) or 'none'})")
            _fill_resource(package, name, texts, result, write)
    return result
