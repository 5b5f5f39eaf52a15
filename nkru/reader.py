"""THE one reader: each resource read once into a `Table`, the one table type, with each row's file line.

    text   (`read_resource`)   every cell as text, a polars frame of String columns, plus the physical
                               file line each row starts on, each row's cell count and the blank lines
    typed  (`Table.typed`)     the text typed from the Table Schema by the one type system
                               (`nkru.types`), once, for every layer, `load()`, the exports and the report

Why polars: columnar String/Date/Int64/Enum columns with vectorised parsing (`str.to_date`,
casts, regex matches) and joins for keys, zero-copy to Arrow (parquet, DuckDB) and cheap to
pandas; one Python object per *column*, not per cell. Python's C `csv` module is the reference
tokenizer: it is the one frictionless uses (so the gate and the reference agree on what a cell is),
it is strict about quotes, and its line counting gives each record's physical line exactly. A
UTF-8 file is read by polars' Rust reader instead when its bytes prove the two read it alike
(`read_fast`: about five times faster at a million rows); line numbers then come from the line
breaks inside cells.

Limits (file size, header width, cell size) are in `nkru.limits`.
"""

from __future__ import annotations

import codecs
import csv
import io
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import islice
from typing import Any, BinaryIO, Callable, Sequence

from nkru import limits
from nkru.types import FieldSpec, Problem, derived_fields, type_frame, with_derived

#: Delimiters the reader recognises when a file does not use the declared one.
_OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe", ",": "comma"}
_LINE_BREAK = r"\r\n|\r|\n"


class ReadError(ValueError):
    """A resource file cannot be read, decoded or parsed as CSV.

    `kind` says what went wrong: "encoding", "csv", "delimiter", "too-large", "too-wide", "missing", "unreadable".
    """

    def __init__(self, message: str, *, line: int | None = None, kind: str = "csv", detail: str | None = None):
        super().__init__(message)
        self.line = line
        self.kind = kind
        self.detail = detail if detail is not None else message


def csv_dialect(resource: dict[str, Any]) -> dict[str, Any]:
    """`csv.reader` keyword arguments from a resource's Table Dialect (delimiter, quote char, escaping)."""
    dialect = resource.get("dialect") if isinstance(resource.get("dialect"), dict) else {}
    out: dict[str, Any] = {}
    if isinstance(dialect.get("delimiter"), str) and len(dialect["delimiter"]) == 1:
        out["delimiter"] = dialect["delimiter"]
    if isinstance(dialect.get("quoteChar"), str) and len(dialect["quoteChar"]) == 1:
        out["quotechar"] = dialect["quoteChar"]
    if dialect.get("doubleQuote") is False:
        out["doublequote"] = False
        out["escapechar"] = dialect.get("escapeChar") or "\\"
    return out


def codec_of(encoding: str | None) -> tuple[str, str]:
    """(declared name, Python codec) for a resource's encoding; UTF-8 tolerates a byte-order mark."""
    declared = (encoding or "utf-8").lower()
    codec = "utf-8-sig" if declared in ("utf-8", "utf8") else declared
    try:
        codecs.lookup(codec)
    except LookupError:
        raise ReadError(f"unknown encoding {declared!r}", kind="encoding") from None
    return declared, codec


def encoding_error(data: bytes, declared: str, exc: UnicodeDecodeError, *, offset: int = 0) -> ReadError:
    """A ReadError naming the line of the first undecodable byte, and what to do about it."""
    position = offset + exc.start
    line = data[:position].count(b"\n") + 1
    advice = "save the file as UTF-8" if declared in ("utf-8", "utf8") else f"save the file as {declared} or declare its real encoding"
    detail = f"line {line} is not valid {declared} ({exc.reason} at byte {position}); {advice}"
    return ReadError(detail, line=line, kind="encoding", detail=detail)


def decode(data: bytes, encoding: str | None, *, path: str) -> str:
    """Decode a whole resource (small files: schemas' neighbours, tests); raises ReadError."""
    declared, codec = codec_of(encoding)
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise encoding_error(data, declared, exc) from None


class ColumnReleased(RuntimeError):
    """A layer read a column that was released from memory because no layer declared it."""


class Table:
    """THE table type: a CSV resource as the reader read it, used by every layer, `load()` and the exports.

    As text: `text`, a polars frame of String columns (one per header cell, named by `columns`; data rows
    only, blank lines left out, short rows padded with ""), the file line each row starts on (`lines`),
    each row's cell count (`widths`) and the blank lines. Typed: `typed`, the same rows typed by the one
    type system (`nkru.types`) from the schema's fields, computed once when first asked for, with the
    derived columns (`fields` lists them all); `problems` lists the cells that do not type. The package that
    reads a table sets what its schema says (`schema_fields`, `primary_key`, `foreign_keys`, `title`,
    `description`).
    """

    def __init__(self, name: str, path: str, header: list[str], text: Any, lines: Sequence[int], widths: Sequence[int],
                 record_lines: Sequence[int], blank_runs: list[tuple[int, int]] | None = None,
                 columns: list[str] | None = None, suspect_delimiter: str | None = None):
        self.name, self.path, self.header, self._text = name, path, header, text
        #: file line on which each data row starts (the header is line 1)
        self.lines = lines
        #: cells each data row really had (a `Uniform` when every row has the header's width)
        self.widths = widths
        #: start line of every record after the header, blank ones included (frictionless counts them)
        self.record_lines = record_lines
        #: runs of blank lines: (first line, how many)
        self.blank_runs = list(blank_runs or [])
        #: the column names of `text` (the header, made unique and non-empty)
        self.columns = list(columns) if columns is not None else _column_names(header)
        #: a delimiter the header looks separated by, when it is not the declared one
        self.suspect_delimiter = suspect_delimiter
        # what the schema says (set by the package that read the table)
        #: the schema's fields, in order (`fields` adds the derived ones)
        self.schema_fields: list[FieldSpec] = []
        self.primary_key: list[str] = []
        self.foreign_keys: list[Any] = []
        self.title: str | None = None
        self.description: str | None = None
        #: header labels whose cells were released from memory (`release`); asking for one is a bug
        self.released: set[str] = set()
        #: `text` columns dropped from memory by `spill`, read again from the file when asked for
        self.spilled: set[str] = set()
        #: reads the named `text` columns again from the file (set by a package that spills: `Package.spills`;
        #: None: `spill` keeps everything)
        self.reread: Callable[[list[str]], Any] | None = None
        #: read by polars (`read_fast`), so its columns can be read again one by one (`reread_columns`)
        self.read_fast = False

    def __len__(self) -> int:
        return len(self.lines)

    def __repr__(self) -> str:
        return f"<Table {self.name} {self.path}: {len(self)} rows>"

    # -- text --------------------------------------------------------------------

    @property
    def text(self) -> Any:
        """Every column's cells as text: a polars frame of String columns named by `columns` (a
        spilled column is read again first: ask `cells` or `select` for only what you need)."""
        if self.spilled:
            self._restore(self.spilled)
        return self._text

    def cells(self, label: str) -> Any:
        """One column's cells as a polars String Series, by header label (read again if it was spilled)."""
        name = self.column_name(label)
        if name is None:
            raise KeyError(f"{self.name}: no column {label!r}")
        if name in self.spilled:
            self._restore({name})
        return self._text.get_column(name)

    def spill(self, keep: set[str] = frozenset()) -> None:
        """Drop from memory the cells of every column whose header label is not in `keep` (the primary
        key always stays) and the typed frame, to be read again from the file when next asked for.
        Does nothing unless the package set `reread` (it does for a package too large to hold: its
        tables are then held one at a time, `Package.spills`)."""
        if self.reread is None:
            return
        keep = set(keep) | set(self.primary_key)
        for cached in ("_typing", "values", "rows"):
            self.__dict__.pop(cached, None)
        drop = [name for name, label in zip(self.columns, self.header) if label not in keep and name in self._text.columns]
        if drop:
            self._text = self._text.drop(drop)
            self.spilled.update(drop)

    def _restore(self, names: set[str]) -> None:
        """Read spilled columns again (the file must be unchanged: `reread` raises ReadError if not)."""
        assert self.reread is not None
        wanted = [name for name in self.columns if name in names]
        frame = self.reread(wanted)
        if frame.height != len(self) or frame.columns != wanted:
            raise ReadError(f"{self.path} changed while it was being validated; run again", kind="unreadable")
        present = set(self._text.columns) | set(wanted)
        self._text = self._text.with_columns(frame.get_columns()).select([c for c in self.columns if c in present])
        self.spilled.difference_update(wanted)

    def release(self, keep: set[str]) -> None:
        """Drop from memory the cells of every column whose header label is not in `keep` (the
        primary key always stays), and the typed frame (`typed`: typed again from the text kept if
        asked for later). The header is unchanged: it is the file's. Reading a released column
        afterwards raises ColumnReleased, never gives empty cells."""
        keep = set(keep) | set(self.primary_key)
        for cached in ("_typing", "values"):  # the typed copy holds every column (a million claims: ~0.1 GB)
            self.__dict__.pop(cached, None)
        gone = {name for name, label in zip(self.columns, self.header) if label not in keep}
        self.spilled -= gone  # never read again
        drop = [name for name in self._text.columns if name in gone]
        if drop:
            self._text = self._text.drop(drop)
        if gone:
            self.released.update(label for label in self.header if label not in keep)
            self.__dict__.pop("rows", None)

    @cached_property
    def rows(self) -> list[dict[str, str]]:
        """Every data row as a dict of text cells (header label -> cell; short rows padded with "")."""
        if not self.header:
            return []
        if self.released:
            raise ColumnReleased(f"{self.name}: rows asked for after columns {sorted(self.released)} were released")
        labels = dict(zip(self.columns, self.header))
        return [{labels[k]: v for k, v in row.items()} for row in self.text.iter_rows(named=True)]

    def column_name(self, label: str) -> str | None:
        """The `text` column holding header label `label`, or None (raises ColumnReleased for a released one)."""
        if label in self.released:
            raise ColumnReleased(f"{self.name}: column {label!r} was released after the last layer that declared it "
                                 "(a layer reading it must list it in its columns_read)")
        return self.columns[self.header.index(label)] if label in self.header else None

    def select(self, labels: Sequence[str]):
        """The columns with header labels `labels`, as a polars frame of String columns named by
        label, sharing the reader's buffers (no copy); a label the header lacks gives a column of ""."""
        import polars as pl

        names = {self.column_name(label) for label in labels} - {None}
        if names & self.spilled:
            self._restore(names & self.spilled)
        return self._text.select([(pl.col(name) if (name := self.column_name(label)) is not None
                                   else pl.repeat("", len(self), dtype=pl.String)).alias(label) for label in labels])

    def column(self, label: str) -> list[str]:
        """One column's cells as text; "" for every row when the header has no such label."""
        return self.cells(label).to_list() if self.column_name(label) is not None else [""] * len(self)

    @cached_property
    def record_rows(self) -> list[int | None]:
        """Record index (after the header, blank lines included) -> data row index (None for a blank line)."""
        blank = {line for start, count in self.blank_runs for line in range(start, start + count)}
        out: list[int | None] = []
        index = 0
        for line in self.record_lines:
            if line in blank:
                out.append(None)
            else:
                out.append(index)
                index += 1
        return out

    def row_ids(self) -> list[str | None]:
        """The primary key of every row as text joined by "|" (None everywhere without a primary key)."""
        names = [self.column_name(k) for k in self.primary_key]
        if not names or any(n is None for n in names):
            return [None] * len(self)
        import polars as pl

        return self._text.select(pl.concat_str([pl.col(n) for n in names], separator="|")).to_series().to_list()

    def row_id(self, index: int) -> str | None:
        if not self.primary_key:
            return None
        cells = []
        for key in self.primary_key:
            name = self.column_name(key)
            cells.append((self.cells(key)[index] or "") if name is not None else "")
        return "|".join(cells)

    def locate_record(self, row_number: int) -> tuple[int | None, str | None]:
        """(file line, row id) of frictionless' `row_number` (the header is row 1; blank rows count)."""
        index = row_number - 2
        if not 0 <= index < len(self.record_lines):
            return None, None
        row = self.record_rows[index]
        return self.record_lines[index], (self.row_id(row) if row is not None else None)

    # -- typed (one type system: nkru.types) -------------------------------------

    @property
    def fields(self) -> list[FieldSpec]:
        """The typed table's columns: the schema's fields and the derived ones (`nkru.types.derived_fields`)."""
        return [*self.schema_fields, *derived_fields(self.schema_fields)]

    @cached_property
    def _typing(self) -> tuple[Any, list[Problem]]:
        if self.spilled:  # every spilled column read again at once, not one reading per field
            self._restore(self.spilled)
        frame, problems = type_frame(self, self.schema_fields)
        return with_derived(list(self.schema_fields), frame)[1], problems

    @property
    def typed(self) -> Any:
        """The rows typed from the schema's fields (a polars frame, null = missing or not parsed), with
        the derived columns: one column per `fields`. Assumes the header matches the schema's fields."""
        return self._typing[0]

    @property
    def problems(self) -> list[Problem]:
        """Every cell or row that does not type (see `nkru.types.type_frame`)."""
        return self._typing[1]

    @cached_property
    def values(self) -> dict[str, list[Any]]:
        """Typed column name -> list of Python values (None = missing)."""
        return {spec.name: self.typed.get_column(spec.name).to_list() for spec in self.fields}

    def typed_rows(self) -> Iterator[dict[str, Any]]:
        """The typed rows as dicts of Python values."""
        names = [f.name for f in self.fields]
        for values in zip(*(self.values[n] for n in names)):
            yield dict(zip(names, values))

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)


def int_array(values: Any) -> array:
    """Row numbers as a compact array of 64-bit ints (8 bytes a row, where a list of ints takes
    about 36); indexing still gives Python ints."""
    import numpy as np

    out = array("q")
    out.frombytes(np.ascontiguousarray(values, dtype=np.int64).tobytes())
    return out


class Uniform(Sequence[int]):
    """`length` copies of one int, held as one: the row widths of a file whose rows all have the
    header's width (3 million rows: 24 MB less than an array)."""

    def __init__(self, value: int, length: int):
        self.value, self.length = int(value), int(length)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self.value] * len(range(*index.indices(self.length)))
        if not -self.length <= index < self.length:
            raise IndexError(index)
        return self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and len(other) == self.length and all(v == self.value for v in other)

    def __repr__(self) -> str:
        return f"Uniform({self.value}, {self.length})"


def _column_names(header: list[str]) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for index, label in enumerate(header):
        name = label if label else f"column {index + 1}"
        while name in seen:
            name = f"{name} ({index + 1})"
        seen.add(name)
        names.append(name)
    return names


def _suspect_delimiter(header: list[str], declared: str) -> str | None:
    """The delimiter a one-cell header is really split by (e.g. ';' from a German Excel), or None."""
    if len(header) != 1:
        return None
    counts = {d: header[0].count(d) for d in _OTHER_DELIMITERS if d != declared}
    best = max(counts, key=lambda d: counts[d]) if counts else None
    return best if best and counts[best] > 0 else None


def delimiter_name(delimiter: str) -> str:
    return f"{_OTHER_DELIMITERS.get(delimiter, 'character')} {delimiter!r}"


def read_csv_stream(stream: io.TextIOBase, *, name: str, path: str, dialect: dict[str, Any] | None = None) -> Table:
    """Tokenise CSV text (a text stream opened with newline="") into a Table.

    Strict: an unterminated quote raises ReadError with the line the broken record starts on.
    """
    import numpy as np
    import polars as pl

    dialect = dict(dialect or {})
    csv.field_size_limit(min(limits.MAX_FILE_BYTES, 2**31 - 1))
    reader = csv.reader(stream, strict=True, **dialect)
    consumed = 0
    try:
        header = next(reader, None)
        if header is None:
            return Table(name, path, [], pl.DataFrame(), int_array([]), int_array([]), int_array([]), columns=[])
        header_lines = reader.line_num
        width = len(header)
        columns = _column_names(header)
        frames = []
        record_spans: list[Any] = []  # per chunk: (numpy widths of every record)
        while True:
            consumed = reader.line_num
            chunk = list(islice(reader, limits.CHUNK_ROWS))
            if not chunk:
                break
            widths = np.fromiter(map(len, chunk), dtype=np.int64, count=len(chunk))
            record_spans.append(widths)
            rows = [r if len(r) == width else (r + [""] * (width - len(r)))[:width] for r in chunk if r]
            if rows:
                frames.append(pl.DataFrame(list(zip(*rows)) if width else [], schema={c: pl.String for c in columns},
                                           orient="col"))
            del chunk, rows
    except csv.Error as exc:
        line = _error_line(reader, consumed)
        raise ReadError(f"line {line}: {exc}", line=line, kind="csv", detail=f"malformed CSV: {exc}") from None
    text = pl.concat(frames, rechunk=False) if frames else pl.DataFrame(schema={c: pl.String for c in columns})
    widths_all = np.concatenate(record_spans) if record_spans else np.zeros(0, dtype=np.int64)
    # Each record spans one line plus the line breaks inside its quoted cells; blank records one line.
    breaks = np.zeros(len(text), dtype=np.int64)
    for column in text.columns:
        series = text.get_column(column)
        if series.str.contains(r"[\r\n]").any():
            breaks += series.str.count_matches(_LINE_BREAK).fill_null(0).to_numpy()
    spans = np.ones(len(widths_all), dtype=np.int64)
    nonblank = widths_all > 0
    spans[nonblank] += breaks
    starts = header_lines + 1 + np.concatenate([[0], np.cumsum(spans)[:-1]]) if len(spans) else spans
    if header_lines + int(spans.sum()) != reader.line_num:  # a line break the count above does not see
        return _read_exact(stream, name=name, path=path, dialect=dialect)
    blank_lines = starts[~nonblank]
    runs: list[tuple[int, int]] = []
    if len(blank_lines):
        cut = np.flatnonzero(np.diff(blank_lines) != 1) + 1
        for group in np.split(blank_lines, cut):
            runs.append((int(group[0]), int(len(group))))
    return Table(name=name, path=path, header=header, text=text, lines=int_array(starts[nonblank]),
                     widths=int_array(widths_all[nonblank]), record_lines=int_array(starts), blank_runs=runs,
                     columns=columns, suspect_delimiter=_suspect_delimiter(header, dialect.get("delimiter", ",")))


def _error_line(reader: Any, consumed: int) -> int:
    """The line a record the tokenizer refused starts on (approximately: the line it stopped at)."""
    return max(consumed + 1, reader.line_num)


def _read_exact(stream: io.TextIOBase, *, name: str, path: str, dialect: dict[str, Any]) -> Table:
    """The slow, exact path (a line break the vectorised count cannot see, e.g. a lone CR inside
    an escaped cell): one record at a time, taking the tokenizer's own line numbers."""
    import polars as pl

    stream.seek(0)
    reader = csv.reader(stream, strict=True, **dialect)
    header: list[str] = []
    rows: list[list[str]] = []
    lines: list[int] = []
    widths: list[int] = []
    record_lines: list[int] = []
    blank: list[int] = []
    previous_end = 0
    try:
        for index, record in enumerate(reader):
            start, previous_end = previous_end + 1, reader.line_num
            if index == 0:
                header = record
                continue
            record_lines.append(start)
            if not record:
                blank.append(start)
                continue
            rows.append((record + [""] * (len(header) - len(record)))[: len(header)])
            lines.append(start)
            widths.append(len(record))
    except csv.Error as exc:
        line = previous_end + 1
        raise ReadError(f"line {line}: {exc}", line=line, kind="csv", detail=f"malformed CSV: {exc}") from None
    columns = _column_names(header)
    text = pl.DataFrame(list(zip(*rows)) if rows else [[] for _ in columns], schema={c: pl.String for c in columns}, orient="col")
    runs: list[tuple[int, int]] = []
    for line in blank:
        if runs and runs[-1][0] + runs[-1][1] == line:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((line, 1))
    return Table(name, path, header, text, int_array(lines), int_array(widths), int_array(record_lines), runs, columns,
                     _suspect_delimiter(header, dialect.get("delimiter", ",")))


_SCAN_BYTES = 1 << 22


@dataclass
class _Scan:
    """What one pass over a file's raw bytes counts (see `_scan`)."""

    delimiters: int = 0
    lfs: int = 0
    crs: int = 0
    crlfs: int = 0
    ends_with_lf: bool = False
    quotes_well_formed: bool = True


def _scan(handle: BinaryIO, delimiter: bytes, quote: bytes) -> _Scan:
    """Count delimiters, LFs, CRs and CRLFs of a whole file in 4 MiB chunks (C-speed `bytes.count`,
    memory bounded by the chunk), and check that its quotes are well formed. Counted in order, an
    even-numbered quote opens a cell: it must stand at the file's start (after a byte-order mark),
    after a delimiter or a LF, or right after the previous quote (`""`, an escaped quote); an
    odd-numbered one closes it: it must stand before a delimiter, CR, LF, the end of the file or
    the next quote; and the count must be even. That is exactly a file in which `csv` takes every
    quote as quoting, never as a literal character of an unquoted cell, and never refuses one.
    Stops at the first badly placed quote (the exact path then reads the file)."""
    import numpy as np

    scan = _Scan()
    delimiter_byte, quote_byte = delimiter[0], quote[0]
    before_opening = np.array([-1, delimiter_byte, 10, quote_byte], dtype=np.int16)
    after_closing = np.array([delimiter_byte, 13, 10, quote_byte], dtype=np.int16)
    offset = quotes = 0
    previous = -1  # the last byte of the previous chunk; -1: the start of the file
    closing_at_end = False  # the previous chunk ended with a closing quote: the next byte decides
    bom = False
    while chunk := handle.read(_SCAN_BYTES):
        if offset == 0 and chunk.startswith(codecs.BOM_UTF8):
            bom = True
        scan.delimiters += chunk.count(delimiter)
        scan.lfs += chunk.count(b"\n")
        cr = chunk.count(b"\r")
        if cr or previous == 13:
            scan.crs += cr
            scan.crlfs += chunk.count(b"\r\n") + (previous == 13 and chunk[:1] == b"\n")
        if closing_at_end and chunk[0] not in after_closing:
            scan.quotes_well_formed = False
            return scan
        closing_at_end = False
        if quote in chunk:
            data = np.frombuffer(chunk, dtype=np.uint8)
            where = np.flatnonzero(data == quote_byte)
            opening = (np.arange(len(where)) + quotes) % 2 == 0
            prior = data[np.maximum(where - 1, 0)].astype(np.int16)
            if where[0] == 0:
                prior[0] = previous
            if bom and offset <= len(codecs.BOM_UTF8):
                prior[where + offset == len(codecs.BOM_UTF8)] = -1
            closing = where[~opening]
            inside = closing + 1 < len(data)
            if not (np.isin(prior[opening], before_opening).all()
                    and np.isin(data[closing[inside] + 1], after_closing).all()):
                scan.quotes_well_formed = False
                return scan
            closing_at_end = not inside.all()
            quotes += len(where)
        previous = chunk[-1]
        offset += len(chunk)
    scan.ends_with_lf = previous == 10
    scan.quotes_well_formed = quotes % 2 == 0
    return scan


def read_fast(handle: BinaryIO, *, name: str, path: str, dialect: dict[str, Any]) -> Table | None:
    """The fast path: a UTF-8 file tokenised by polars' Rust CSV reader (multithreaded, no Python
    object per cell), used only when it provably reads the file as Python's `csv` module would.

    The two differ: polars ends a quote left open at the end of the file and keeps a character
    after an empty quoted cell, where `csv` (strict) refuses both; it refuses a bare quote inside an
    unquoted cell, which `csv` keeps as text; it pads short rows, reads blank lines as rows of empty
    cells and does not end a line at a lone CR. So the result is kept only when the raw bytes show
    well-placed quotes (`_scan`) and no lone CR, the file holds exactly as many delimiters as the
    cells plus `width - 1` per record (no short record, no blank line) and exactly as many lines as
    the records span (line breaks inside quoted cells included), and `csv` reads the last record
    alike. Otherwise (and for a header of fewer than two cells, or any other dialect than
    double-quote escaping) it returns None and the exact `csv` path reads the file, giving the
    precise finding. tests/test_reader_fast.py fuzzes the two paths against each other.
    """
    import numpy as np
    import polars as pl

    delimiter = dialect.get("delimiter", ",")
    quote = dialect.get("quotechar", '"')
    if dialect.get("doublequote") is False or len(delimiter.encode()) != 1 or len(quote.encode()) != 1 \
            or delimiter in "\r\n" or quote in "\r\n" or delimiter == quote:
        return None
    handle.seek(0)
    scan = _scan(handle, delimiter.encode(), quote.encode())
    if scan.crs != scan.crlfs or not scan.quotes_well_formed:
        return None
    handle.seek(0)
    try:
        frame = pl.read_csv(handle, has_header=False, infer_schema=False, separator=delimiter, quote_char=quote,
                            empty_string_is_null=False, raise_if_empty=False, truncate_ragged_lines=False,
                            encoding="utf8")
    except Exception:  # polars' refusal (ragged, quotes, encoding): the exact path says precisely what
        return None
    if frame.height == 0 or frame.width < 2:
        return None
    # One pass of parallel column expressions: missing cells, delimiters inside cells, and which
    # columns hold line breaks.
    stats = frame.select(
        pl.sum_horizontal(pl.all().null_count()).alias("missing"),
        pl.sum_horizontal(pl.all().str.count_matches(delimiter, literal=True).sum()).alias("delimiters"),
        *[pl.col(c).str.contains("\n", literal=True).any().alias(f"breaks {i}") for i, c in enumerate(frame.columns)],
    ).row(0)
    if stats[0] or stats[1] + frame.height * (frame.width - 1) != scan.delimiters:
        return None
    broken = [c for c, has in zip(frame.columns, stats[2:]) if has]
    if broken:
        breaks = frame.select(pl.sum_horizontal(pl.col(broken).str.count_matches("\n", literal=True))).to_series().to_numpy()
    else:
        breaks = np.zeros(frame.height, dtype=np.int64)
    spans = breaks.astype(np.int64) + 1
    lines_in_file = scan.lfs + (0 if scan.ends_with_lf else 1)
    if int(spans.sum()) != lines_in_file:
        return None
    if not _last_record_agrees(handle, frame, int(spans[-1]), scan.ends_with_lf, dialect):
        return None
    header = [str(cell) for cell in frame.row(0)]
    columns = _column_names(header)
    text = frame.slice(1).rename(dict(zip(frame.columns, columns)))
    starts = int_array(int(spans[0]) + 1 + np.concatenate([[0], np.cumsum(spans[1:])[:-1]]) if len(text) else [])
    table = Table(name=name, path=path, header=header, text=text, lines=starts, widths=Uniform(len(header), len(text)),
                  record_lines=starts, blank_runs=[], columns=columns, suspect_delimiter=None)
    table.read_fast = True
    return table


def reread_columns(handle: BinaryIO, table: Table, names: list[str], *, encoding: str | None = None,
                   dialect: dict[str, Any] | None = None) -> Any:
    """The `text` columns `names` of `table` read again from its file, which must be the file it was
    read from, unchanged: cell for cell what `read_resource` gave. A file the fast path read is read
    again by polars, these columns only (the proof that polars reads it as `csv` does holds for every
    column); any other is read again whole."""
    import polars as pl

    dialect = dict(dialect or {})
    if not table.read_fast:
        return read_resource(handle, name=table.name, path=table.path, encoding=encoding, dialect=dialect)._text.select(names)
    handle.seek(0)
    frame = pl.read_csv(handle, has_header=False, infer_schema=False, separator=dialect.get("delimiter", ","),
                        quote_char=dialect.get("quotechar", '"'), empty_string_is_null=False, raise_if_empty=False,
                        truncate_ragged_lines=False, encoding="utf8", columns=[table.columns.index(n) for n in names])
    return frame.slice(1).rename(dict(zip(frame.columns, names)))


def _last_record_agrees(handle: BinaryIO, frame: Any, span: int, ends_with_lf: bool, dialect: dict[str, Any]) -> bool:
    """Whether `csv` reads the file's last record (its last `span` lines) as polars did.

    polars ends a quoted cell that is still open at the end of the file, where `csv` refuses the
    file ("unexpected end of data"); a quote left open anywhere else runs to the end of the file, so
    the last record is the one place to look."""
    size = handle.seek(0, io.SEEK_END)
    wanted = span + (1 if ends_with_lf else 0)  # line ends to walk back over: the record's own, and the one before it
    tail_size = 1 << 16
    while True:
        tail_size = min(tail_size, size)
        handle.seek(size - tail_size)
        tail = handle.read(tail_size)
        cut = len(tail)
        for _ in range(wanted):
            cut = tail.rfind(b"\n", 0, cut)
            if cut < 0:
                break
        if cut >= 0 or tail_size == size:
            break
        if tail_size >= _LAST_RECORD_BYTES:  # a last record this long is not worth a second copy: the exact path reads it
            return False
        tail_size *= 4
    start = cut + 1 if cut >= 0 else 0
    record = tail[start:]
    try:
        text = record.decode("utf-8-sig" if start == 0 and tail_size == size else "utf-8")
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True, **dialect))
    except (UnicodeDecodeError, csv.Error):
        return False
    return records == [[str(cell) for cell in frame.row(frame.height - 1)]]


#: The longest last record the fast path compares with `csv` (the longest legitimate record is a few MB).
_LAST_RECORD_BYTES = 1 << 26
#: How much of a file's start `_check_width` looks at for the header.
_HEADER_PEEK = 1 << 20


def _check_width(handle: BinaryIO, codec: str, dialect: dict[str, Any]) -> None:
    """Refuse a header of more than `limits.MAX_COLUMNS` cells (ReadError, kind "too-wide"), before
    any reader makes a frame of it. Looks at the first MiB: a header that long that is still within
    the limit is left to the readers."""
    handle.seek(0)
    head = handle.read(_HEADER_PEEK)
    handle.seek(0)
    delimiter = dialect.get("delimiter", ",")
    if head.count(delimiter.encode("utf-8", "replace")) < limits.MAX_COLUMNS:
        return  # fewer delimiters in the whole first MiB than the limit: the header is narrower
    text = head.decode(codec, errors="replace")
    try:
        record = next(csv.reader(io.StringIO(text, newline=""), **dialect), [])
    except csv.Error:
        return  # the readers report what is wrong with it
    if len(record) > limits.MAX_COLUMNS:
        shown = f"{len(record):,}" + (" or more" if len(text) >= _HEADER_PEEK - 4 and "\n" not in text else "")
        raise ReadError(f"the header has {shown} columns, more than nkru reads ({limits.MAX_COLUMNS:,})",
                        line=1, kind="too-wide")


def read_resource(handle: BinaryIO, *, name: str, path: str, encoding: str | None = None,
                  dialect: dict[str, Any] | None = None) -> Table:
    """Read one CSV resource from a seekable binary file: decoded as declared while it is
    tokenised (never held twice in memory), every cell kept as text.

    Raises ReadError (kind "encoding" with the line and what to do, "csv" with the line,
    "too-large" for a file over `limits.MAX_FILE_BYTES`).
    """
    declared, codec = codec_of(encoding)
    size = handle.seek(0, io.SEEK_END)
    handle.seek(0)
    if size > limits.MAX_FILE_BYTES:
        raise ReadError(f"the file has {size:,} bytes, more than nkru reads ({limits.MAX_FILE_BYTES:,})", kind="too-large")
    _check_width(handle, codec, dict(dialect or {}))
    if codec == "utf-8-sig" and size:
        fast = read_fast(handle, name=name, path=path, dialect=dict(dialect or {}))
        if fast is not None:
            return fast
        handle.seek(0)
    stream = io.TextIOWrapper(handle, encoding=codec, errors="strict", newline="")
    try:
        return read_csv_stream(stream, name=name, path=path, dialect=dialect)
    except UnicodeDecodeError:
        handle.seek(0)
        data = handle.read()
        try:
            data.decode(codec)
        except UnicodeDecodeError as exc:
            raise encoding_error(data, declared, exc) from None
        raise
    finally:
        stream.detach()
