"""Adding an article to the package: `nkru add-source FILE`.

The text is archived byte for byte as `data/sources/S###.txt` (the next free ID), its SHA-256 is
computed, one row is appended to `sources.csv`, and the text's units (its sentences, proposed by the
splitter: `nkru.units.propose_units`) are appended to `units.csv` with the next free U IDs. The row is filled by column name from the
table's own header (read through the package reader), so columns this module does not know stay
empty and a schema change elsewhere needs no change here. Every other byte of `sources.csv` is kept
as it was: the row is appended to the original bytes. The text and the table are written as one transaction
(nkru.transaction): killed at any point, the package has both or neither.
"""

from __future__ import annotations

import calendar
import csv
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from nkru.coverage import Unit, unit_of
from nkru.dates import parse_date, span_precision
from nkru.fsutil import confine, package_lock, write_error
from nkru.package import SOURCES, Package, UnsafePath, csv_dialect
from nkru.transaction import Transaction

#: The values a curator must give (or be asked for); the rest of the row is derived or optional.
REQUIRED = ("title", "publisher", "date", "date_basis", "language")

_ID = re.compile(r"^S([0-9]{3}|[1-9][0-9]{3,})$")
_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


class AddSourceError(ValueError):
    """The source cannot be added; the message says why (nothing was written)."""


class DuplicateText(AddSourceError):
    """The text is already archived (same SHA-256)."""

    def __init__(self, source_id: str, path: str):
        self.source_id, self.path = source_id, path
        super().__init__(f"this text is already archived as {source_id} ({path}, same SHA-256): nothing added")


@dataclass
class NewSource:
    """Everything a curator says about a new article."""

    title: str
    publisher: str
    date: str  # YYYY, YYYY-MM, YYYY-MM-DD, or START/END with each a YYYY-MM-DD
    date_basis: str  # stated | inferred (the schema's vocabulary)
    language: str
    attribution: str = ""
    url: str = ""
    notes: str = ""


@dataclass
class AddedSource:
    source_id: str
    text_path: str
    sha256: str
    row: dict[str, str]
    sentences: list[Unit] = field(default_factory=list)  # the units proposed and written for the text


def parse_date_range(value: str, precisions: list[str]) -> tuple[date, date, str]:
    """`2024`, `2024-11`, `2024-11-22` or `START/END` -> (start, end, precision).

    A START/END range that is exactly one day, month or year gets that precision; any other span gets
    `range` when the schema's vocabulary has it. ValueError names what is wrong.
    """
    text = (value or "").strip()
    if "/" in text:
        first, _, last = text.partition("/")
        start, end = parse_date(first.strip()), parse_date(last.strip())
        if start is None or end is None:
            raise ValueError(f"--date {value!r}: START/END must be two dates YYYY-MM-DD")
        if end < start:
            raise ValueError(f"--date {value!r}: the end is before the start")
        precision = span_precision(start, end)  # the most specific true description: day, month, year or range
        if precision in precisions:
            return start, end, precision
        raise ValueError(f"--date {value!r} is not one whole day, month or year, and the schema's date_precision "
                         f"({', '.join(precisions)}) has no value for other spans")
    match = _PARTIAL.match(text)
    if not match:
        raise ValueError(f"--date {value!r}: give YYYY, YYYY-MM, YYYY-MM-DD or START/END")
    year, month, day = match.groups()
    try:
        if day:
            start = end = date(int(year), int(month), int(day))
            precision = "day"
        elif month:
            start = date(int(year), int(month), 1)
            end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
            precision = "month"
        else:
            start, end, precision = date(int(year), 1, 1), date(int(year), 12, 31), "year"
    except ValueError as exc:
        raise ValueError(f"--date {value!r}: {exc}") from None
    if precision not in precisions:
        raise ValueError(f"--date {value!r}: precision {precision!r} is not in the schema's vocabulary ({', '.join(precisions)})")
    return start, end, precision


def vocabulary(package: Package, resource: str, name: str) -> list[str]:
    """The controlled values of a field, from its Table Schema (`constraints.enum`)."""
    for spec in package.fields(resource):
        if spec.get("name") == name:
            enum = (spec.get("constraints") or {}).get("enum")
            return [str(v) for v in enum] if isinstance(enum, list) else []
    return []


def default_language(package: Package) -> str | None:
    """The language of the archived sources when they all share one (a sensible prompt default)."""
    table = package.table(SOURCES)
    languages = Counter(row.get("language", "") for row in table.rows) if table else Counter()
    return next(iter(languages)) if len(languages) == 1 else None


def _next_id(package: Package, ids: list[str]) -> str:
    """The next `S###`: past every ID in the table, every retracted one and every archived text file."""
    numbers = [int(m.group(1)) for m in map(_ID.match, ids) if m]
    retractions = package.table("retractions") if "retractions" in package.resources else None
    if retractions is not None:
        numbers += [int(m.group(1)) for m in (_ID.match(row.get("id", "")) for row in retractions.rows) if m]
    folder = package.root / "data" / "sources"
    if folder.is_dir():
        numbers += [int(m.group(1)) for m in (_ID.match(p.stem) for p in folder.glob("S*.txt")) if m]
    return f"S{max(numbers, default=0) + 1:03d}"


def _row_bytes(header: list[str], row: dict[str, str], dialect: dict, newline: str, encoding: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=dialect.get("delimiter", ","), quotechar=dialect.get("quotechar", '"'),
                        lineterminator=newline, quoting=csv.QUOTE_MINIMAL)
    writer.writerow([row.get(name, "") for name in header])
    return buffer.getvalue().encode(encoding)


def archived_as(package: Package, data: bytes) -> tuple[str, str] | None:
    """(source_id, text_path) of the source whose recorded SHA-256 is that of `data`, if any."""
    digest = hashlib.sha256(data).hexdigest()
    table = package.table(SOURCES)
    for row in table.rows if table else []:
        if row.get("text_sha256", "").strip().lower() == digest:
            return row.get("source_id", "?"), row.get("text_path", "?")
    return None


def add_source(path: str | Path, text_file: str | Path, info: NewSource) -> AddedSource:
    """Archive `text_file` as the next source and append its row; AddSourceError (nothing written) if it cannot.
    Holds the package's write lock throughout (two runs never take the same ID)."""
    package = Package.open(path)
    try:
        with package_lock(package.root):
            return _add_source(package.root, text_file, info)
    except OSError as exc:  # a planted link, another writer, a full disk or a read-only tree
        raise AddSourceError(write_error(exc)) from None


def _add_source(path: Path, text_file: str | Path, info: NewSource) -> AddedSource:
    package = Package.open(path)
    spec = package.resources.get(SOURCES)
    if spec is None or spec.path is None:
        raise AddSourceError(f"{package.root}: the package declares no readable {SOURCES} resource")
    table = package.table(SOURCES)
    if table is None:
        raise AddSourceError(f"{spec.path} cannot be read ({package.read_errors.get(SOURCES, 'see nkru validate')}); "
                             "fix it before adding a source")
    try:
        data = Path(text_file).read_bytes()
    except OSError as exc:
        raise AddSourceError(f"{text_file}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AddSourceError(f"{text_file}: not UTF-8 (byte {exc.start}); convert it first, e.g. iconv -t UTF-8") from None
    if not text.strip():
        raise AddSourceError(f"{text_file}: the text is empty")
    digest = hashlib.sha256(data).hexdigest()
    existing = archived_as(package, data)
    if existing:
        raise DuplicateText(*existing)

    missing = [name for name in ("title", "publisher", "date", "date_basis", "language") if not str(getattr(info, name) or "").strip()]
    if missing:
        raise AddSourceError(f"missing: {', '.join(missing)}")
    start, end, precision = parse_date_range(info.date, vocabulary(package, SOURCES, "date_precision"))
    bases = vocabulary(package, SOURCES, "date_basis")
    if bases and info.date_basis not in bases:
        raise AddSourceError(f"--date-basis {info.date_basis!r}: choose from {', '.join(bases)}")

    source_id = _next_id(package, [row.get("source_id", "") for row in table.rows])
    text_path = f"data/sources/{source_id}.txt"
    try:
        target = package.resolve(text_path)
    except UnsafePath as exc:  # data/sources (or a parent) is a link out of the package
        raise AddSourceError(f"{package.root / text_path}: {exc}; nothing written") from None
    if target.exists():
        raise AddSourceError(f"{text_path} already exists")
    values = {
        "source_id": source_id, "title": info.title.strip(), "publisher": info.publisher.strip(),
        "attribution": info.attribution.strip(), "language": info.language.strip(),
        "date_start": start.isoformat(), "date_end": end.isoformat(), "date_precision": precision,
        "date_basis": info.date_basis, "url": info.url.strip(), "text_path": text_path, "text_sha256": digest,
        "notes": info.notes.strip(),
    }
    header = list(table.header)
    row = {name: values.get(name, "") for name in header}  # by name; columns not known here stay empty

    csv_path = package.resolve(spec.path)
    appended = _appended(csv_path, spec.descriptor, header, [row])
    units, unit_writes = _proposed_units(package, source_id, text, info.language)

    confine(target, package.root)
    confine(csv_path, package.root)
    for unit_path, _ in unit_writes:
        confine(unit_path, package.root)
    # the text, its row and its units: all or nothing, even when killed
    with Transaction(package.root) as transaction:
        transaction.add(target, data)
        transaction.add(csv_path, appended)
        for unit_path, unit_bytes in unit_writes:
            transaction.add(unit_path, unit_bytes)
    return AddedSource(source_id, text_path, digest, row, units)


def _encoding(descriptor: dict) -> str:
    return descriptor.get("encoding") if isinstance(descriptor.get("encoding"), str) else "utf-8"


def _newline(original: bytes) -> str:
    return "\r\n" if b"\r\n" in original else "\n"


def _appended(csv_path: Path, descriptor: dict, header: list[str], rows: list[dict[str, str]]) -> bytes:
    """The CSV file's bytes with `rows` appended (every other byte kept; the file's line ending and dialect)."""
    original = csv_path.read_bytes()
    encoding = _encoding(descriptor)
    newline = _newline(original)
    prefix = original if not original or original.endswith((b"\n", b"\r")) else original + newline.encode(encoding)
    return prefix + b"".join(_row_bytes(header, row, csv_dialect(descriptor), newline, encoding) for row in rows)


def _proposed_units(package: Package, source_id: str, text: str, language: str) -> tuple[list[Unit], list[tuple[Path, bytes]]]:
    """The units the splitter proposes for a new text (next free U IDs), and the write of units.csv that adds
    them; no write when the package declares no units resource (then nothing is proposed either)."""
    from nkru.text import FoldedText
    from nkru.units import UNITS, next_unit_ids, propose_units

    spec = package.resources.get(UNITS)
    if spec is None or spec.path is None:
        return [], []
    table = package.table(UNITS)
    if table is None:
        raise AddSourceError(f"{spec.path} cannot be read ({package.read_errors.get(UNITS, 'see nkru validate')}); "
                             "fix it before adding a source")
    spans = propose_units(text, language)
    ids = next_unit_ids(package, len(spans))
    folded = FoldedText(text)
    units = [unit_of(folded, unit_id, start, end) for unit_id, (start, end) in zip(ids, spans)]
    values = [{"unit_id": u.unit_id, "source_id": source_id, "start": str(u.start), "end": str(u.end)} for u in units]
    header = list(table.header)
    rows = [{name: row.get(name, "") for name in header} for row in values]
    path = package.resolve(spec.path)
    return units, [(path, _appended(path, spec.descriptor, header, rows))]


def next_steps(added: AddedSource) -> list[str]:
    """What the curator does next, in order (docs/curation.md explains each step)."""
    return [
        f"Check the row in data/sources.csv: the date ({added.row.get('date_start')} to {added.row.get('date_end')}, "
        f"{added.row.get('date_precision')}, {added.row.get('date_basis')}) and, for an inferred date, the reasoning in notes.",
        "Where the splitter cut a sentence wrongly (an ordinal date such as \"22.\" cut off), correct its rows in "
        "data/units.csv: units must tile the text (no overlap, no word character left outside every unit).",
        f"Run `nkru code {added.source_id}`: it writes coding/{added.source_id}.csv, one row per sentence. Mark each "
        f"claim, denial or exclusion and fill its fields (new actors and events as rows of their own), then run "
        f"`nkru code {added.source_id} --apply coding/{added.source_id}.csv` (docs/curation.md, 'The coding sheet').",
        "Run `nkru validate` (`nkru coverage` lists any sentence still uncovered).",
        "Add a line to CHANGELOG.md under ## [Unreleased], commit data/ and open a pull request.",
    ]
