"""Sentence coverage: is every sentence of every source text curated or deliberately excluded?

Each source text is split into sentences with pysbd, line by line (so a heading
never merges with the paragraph below it); segments without a letter or digit
("-", "+++") are not sentences. A sentence is

- **covered** when a claim or denial quote overlaps it,
- **excluded** when only an exclusion overlaps it,
- **uncovered** otherwise.

Quotes and sentences are compared in folded space (NFC, whitespace runs
collapsed: `nkru.text.FoldedText`), like the quote checks. A quote is placed
by its offsets (`quote_start`, `quote_end`: `nkru.offsets`) where its resource
has them, and covers exactly that place; a row whose offsets are missing or do
not point to the quote covers nothing. Only a resource without offset fields
falls back to searching, and then a quote covers every place it occurs.

The threshold (percentage of sentences covered or excluded that each source
must reach) is `[tool.nkru] coverage-threshold` in the package's
pyproject.toml, 100 when there is none.
"""

from __future__ import annotations

import bisect
import math
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

from nkru.package import SOURCES, Package
from nkru.text import FoldedText, Span, fold, verbatim_bounds

#: The resource whose quotes are passages deliberately not curated (by name; its fields come from its schema).
EXCLUSIONS = "exclusions"
DEFAULT_THRESHOLD = 100.0
DEFAULT_LANGUAGE = "de"
PYPROJECT = "pyproject.toml"
THRESHOLD_KEY = "coverage-threshold"

COVERED, EXCLUDED, UNCOVERED = "covered", "excluded", "uncovered"
STATUSES = (COVERED, EXCLUDED, UNCOVERED)


class ThresholdError(ValueError):
    """The configured coverage threshold is not a number from 0 to 100."""


# -- sentences ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    """One sentence: its folded text, its span in the folded source text, and its line in the file."""

    text: str
    start: int
    end: int
    line: int

    @property
    def span(self) -> Span:
        return Span(self.start, self.end)


@lru_cache(maxsize=None)
def _segmenter(language: str):
    import pysbd

    return pysbd.Segmenter(language=language, clean=False, char_span=False)


def primary_subtag(tag: str | None) -> str:
    """A BCP 47 tag's primary subtag, lower case ("" for none)."""
    return (tag or "").split("-")[0].lower()


def segment_language(tag: str | None) -> str:
    """The pysbd language for a BCP 47 tag (its primary subtag), German when pysbd has no rules for it."""
    from pysbd.languages import LANGUAGE_CODES

    primary = primary_subtag(tag)
    return primary if primary in LANGUAGE_CODES else DEFAULT_LANGUAGE


def _is_sentence(text: str) -> bool:
    return any(char.isalnum() for char in text)


# -- the sentence cache --------------------------------------------------------------------------------

#: Part of every cache key: change it whenever splitting may give other sentences (splitter, its
#: version, or the code below), so that no stale split is ever used.
SPLITTER = "pysbd-0.3.4+nkru-lines-1"
#: The cache directory: `$NKRU_CACHE_DIR` when set ("" or "off" turns the cache off), otherwise
#: `$XDG_CACHE_HOME/nkru` or `~/.cache/nkru`. Sentence splits live in its `sentences/` folder, one
#: JSON file per (text SHA-256, language, splitter); a CI job can keep the folder between runs.
#: The language of the key is the source's primary language subtag (the pysbd language it stands
#: for is a function of it and the splitter), so a text found in the cache needs no pysbd at all.
CACHE_ENV = "NKRU_CACHE_DIR"


def cache_dir() -> Path | None:
    """Where sentence splits are cached, or None when caching is off."""
    import os

    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return None if configured.strip().lower() in ("", "off") else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nkru"


@lru_cache(maxsize=None)
def _key_suffix(language: str) -> str:
    import hashlib

    return hashlib.sha256(f"{language}\0{SPLITTER}".encode()).hexdigest()[:12]


def _cache_file(text: str, language: str) -> Path | None:
    """The cache entry of a text split for `language` (a primary language subtag: `primary_subtag`)."""
    import hashlib

    root = cache_dir()
    if root is None:
        return None
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return root / "sentences" / f"{digest}-{_key_suffix(language)}.json"


#: A cache entry larger than this is not read (a real entry is a few bytes per sentence).
CACHE_ENTRY_LIMIT = 4_000_000


def _entry_bytes(path: Path, limit: int) -> bytes | None:
    """The bytes of a cache entry, read like any other input: a regular file only (a link, FIFO, device or
    folder is ignored: opened without following links and without blocking), at most `limit` bytes."""
    import os
    import stat

    try:
        info = os.lstat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:  # a link swapped in (ELOOP), gone, unreadable
        return None
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or opened.st_size > limit:
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
        return data if len(data) <= limit else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _valid_spans(spans: Any, text: str) -> bool:
    """Whether a cached split can be this text's: [start, end, line] triples of ints, in order, inside the text,
    and no letter or digit outside every sentence (an entry that drops a sentence is not taken)."""
    if not isinstance(spans, list):
        return False
    cursor = 0
    for span in spans:
        if not (isinstance(span, list) and len(span) == 3 and all(type(v) is int for v in span)):
            return False
        start, end, line = span
        if not (cursor <= start < end <= len(text)) or line < 1:
            return False
        if any(c.isalnum() for c in text[cursor:start]):
            return False
        cursor = end
    return not any(c.isalnum() for c in text[cursor:])


def _cached(folded: FoldedText, path: Path | None) -> list[Sentence] | None:
    """A cached split of `folded`, or None (then it is recomputed): no entry, or an entry that is not a regular
    file, too large (`CACHE_ENTRY_LIMIT`, and a few dozen bytes per character of the text), nested deeper than
    a split is, not well formed, or one that cannot be this text's split (`_valid_spans`). Never fatal."""
    import json

    if path is None:
        return None
    data = _entry_bytes(path, min(CACHE_ENTRY_LIMIT, 64 + 64 * (len(folded.text) + 1)))
    if data is None or b"[[[" in data.replace(b" ", b""):  # a split is two levels deep, never three
        return None
    try:
        spans = json.loads(data)
    except (ValueError, RecursionError):
        return None  # a damaged entry: recomputed (and rewritten)
    if not _valid_spans(spans, folded.text):
        return None
    return [Sentence(folded.text[start:end], start, end, line) for start, end, line in spans]


def _store(path: Path | None, sentences: list[Sentence]) -> None:
    import json

    from nkru.fsutil import atomic_write_text

    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps([[s.start, s.end, s.line] for s in sentences]))
    except OSError:
        pass  # a read-only or full cache only costs time


#: Lines longer than this are split in windows of about this many characters (see `_pieces`).
WINDOW = 2_000


def _pieces(segmenter: Any, line: str) -> list[str]:
    """pysbd's sentences of one line.

    pysbd rewrites the whole line once per abbreviation it meets, so its time grows with the
    square of the line's length. A long line is therefore split in windows: each window's last
    sentence may be cut by the window's end, so it is dropped and the next window starts where it
    began; a window with a single sentence grows until that sentence ends. The rules pysbd applies
    look only at a sentence's neighbourhood — the furthest reach is a quotation, which pysbd keeps
    whole — so as long as no quotation is longer than a window the sentences are the same as for
    the whole line (no line of the real articles is even a quarter of a window long).
    """
    if len(line) <= WINDOW:
        return segmenter.processor(line).process() or [line]
    pieces: list[str] = []
    start = 0
    size = WINDOW
    while start < len(line):
        window = line[start : start + size]
        found = segmenter.processor(window).process() or [window]
        if start + size >= len(line):
            pieces.extend(found)
            break
        if len(found) < 2:
            size *= 2  # one sentence longer than the window: widen it
            continue
        keep = found[:-1]
        pieces.extend(keep)
        last = found[-1].strip()
        offset = window.rfind(last) if last else -1
        if offset <= 0:
            size *= 2
            pieces = pieces[: len(pieces) - len(keep)]
            continue
        start += offset
        size = WINDOW
    return pieces


def _split(folded: FoldedText, language: str) -> list[Sentence]:
    """Split with pysbd, line by line, and locate each sentence in the folded text, left to right.

    pysbd's own `segment` finds every sentence again with a fresh regex over the whole line (quadratic
    in a long line); its processor gives the same sentences, which are located here with one
    forward search each.
    """
    segmenter = _segmenter(language)
    sentences: list[Sentence] = []
    cursor = 0
    for raw_line in folded.nfc.splitlines():
        line = fold(raw_line)
        if not line:
            continue
        for piece in _pieces(segmenter, line):
            needle = fold(piece)
            if not needle or not _is_sentence(needle):
                continue
            start = folded.text.find(needle, cursor)
            if start == -1:  # the segmenter altered the text; never lose a sentence: locate it around the line
                start = folded.text.find(needle, max(0, cursor - len(line) - len(needle)))
                if start == -1:
                    continue
            end = start + len(needle)
            cursor = max(cursor, end)
            sentences.append(Sentence(needle, start, end, folded.line_of(start)))
    return sentences


def split_sentences(text: FoldedText | str, language: str = DEFAULT_LANGUAGE) -> list[Sentence]:
    """The sentences of a source text, in order, located in its folded form (cached by the text's SHA-256)."""
    folded = text if isinstance(text, FoldedText) else FoldedText(text)
    path = _cache_file(folded.original, primary_subtag(language))
    found = _cached(folded, path)
    if found is None:
        found = _split(folded, segment_language(language))
        _store(path, found)
    return found


def _split_in_worker(original: str, language: str) -> list[tuple[int, int, int]]:
    sentences = _split(FoldedText(original), language)
    return [(s.start, s.end, s.line) for s in sentences]


#: Below this many uncached texts, splitting in this process is faster than starting workers.
PARALLEL_FROM = 8


def split_many(texts: dict[str, tuple[FoldedText, str]]) -> dict[str, list[Sentence]]:
    """Sentences of many texts (key -> (folded text, language)): cached ones read, the others split
    in parallel worker processes (one per CPU) when there are enough of them, and cached."""
    import os

    done: dict[str, list[Sentence]] = {}
    todo: list[tuple[str, Path | None, FoldedText, str]] = []
    for key, (folded, tag) in texts.items():
        path = _cache_file(folded.original, primary_subtag(tag))
        found = _cached(folded, path)
        if found is None:
            todo.append((key, path, folded, segment_language(tag)))
        else:
            done[key] = found
    workers = min(os.cpu_count() or 1, len(todo))
    if len(todo) >= PARALLEL_FROM and workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = pool.map(_split_in_worker, [f.original for _, _, f, _ in todo], [lang for *_, lang in todo],
                               chunksize=max(1, len(todo) // (workers * 4)))
            for (key, path, folded, _), spans in zip(todo, results):
                sentences = [Sentence(folded.text[start:end], start, end, line) for start, end, line in spans]
                _store(path, sentences)
                done[key] = sentences
    else:
        for key, path, folded, language in todo:
            done[key] = _split(folded, language)
            _store(path, done[key])
    return done


def classify(sentences: Sequence[Sentence] | Sequence[Span], quotes: Iterable[Span], exclusions: Iterable[Span]) -> list[str]:
    """covered / excluded / uncovered for each sentence, given the spans of quotes and of exclusions."""
    quote_index = _SpanIndex(quotes)
    exclusion_index = _SpanIndex(exclusions)
    statuses = []
    for sentence in sentences:
        span = sentence.span if isinstance(sentence, Sentence) else sentence
        if quote_index.overlaps(span):
            statuses.append(COVERED)
        elif exclusion_index.overlaps(span):
            statuses.append(EXCLUDED)
        else:
            statuses.append(UNCOVERED)
    return statuses


class _SpanIndex:
    """Answers "does any span overlap this one?" without comparing every pair."""

    def __init__(self, spans: Iterable[Span]):
        ordered = sorted((s for s in spans if s.end > s.start), key=lambda s: s.start)
        self.starts = [s.start for s in ordered]
        self.max_end: list[int] = []
        furthest = -1
        for s in ordered:
            furthest = max(furthest, s.end)
            self.max_end.append(furthest)

    def overlaps(self, span: Span) -> bool:
        if span.end <= span.start:
            return False
        # spans starting before span.end; the furthest of their ends must pass span.start
        count = bisect.bisect_left(self.starts, span.end)
        return count > 0 and self.max_end[count - 1] > span.start


def percent(counted: int, total: int) -> float:
    """Share of sentences covered or excluded, 0-100; a text without sentences is fully covered."""
    return 100.0 if total == 0 else 100.0 * counted / total


def rounded_down(value: float, decimals: int = 1) -> float:
    """A percentage rounded down, so that 99.96 is never shown as 100 (which would hide a failing source)."""
    scale = 10**decimals
    return math.floor(value * scale + 1e-9) / scale


# -- per source and per package ----------------------------------------------------------------------


@dataclass
class SourceCoverage:
    """Coverage of one source text."""

    source_id: str
    text_path: str
    sentences: list[Sentence] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    line: int | None = None  # the source's line in sources.csv
    problem: str | None = None  # why the text could not be read

    def count(self, status: str) -> int:
        return sum(1 for s in self.statuses if s == status)

    @property
    def total(self) -> int:
        return len(self.sentences)

    @property
    def covered(self) -> int:
        return self.count(COVERED)

    @property
    def excluded(self) -> int:
        return self.count(EXCLUDED)

    @property
    def uncovered(self) -> int:
        return self.count(UNCOVERED)

    @property
    def percent(self) -> float:
        return percent(self.covered + self.excluded, self.total)

    def uncovered_sentences(self) -> list[Sentence]:
        return [s for s, status in zip(self.sentences, self.statuses) if status == UNCOVERED]

    def passes(self, threshold: float) -> bool:
        return self.problem is None and self.percent >= threshold

    def to_dict(self, threshold: float | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "source_id": self.source_id,
            "text_path": self.text_path,
            "sentences": self.total,
            "covered": self.covered,
            "excluded": self.excluded,
            "uncovered": self.uncovered,
            "percent": None if self.problem else rounded_down(self.percent, 2),
        }
        if threshold is not None:
            data["passed"] = self.passes(threshold)
        data["problem"] = self.problem
        data["uncovered_sentences"] = [{"line": s.line, "text": s.text} for s in self.uncovered_sentences()]
        return data


@dataclass
class CoverageReport:
    """Coverage of every source of a package, against a threshold."""

    package: str
    threshold: float
    sources: list[SourceCoverage] = field(default_factory=list)
    #: why coverage could not be measured at all (no readable sources table); the report then fails
    problem: str | None = None

    @property
    def failing(self) -> list[SourceCoverage]:
        return [s for s in self.sources if not s.passes(self.threshold)]

    @property
    def passed(self) -> bool:
        return self.problem is None and not self.failing

    def totals(self) -> dict[str, Any]:
        sentences = sum(s.total for s in self.sources)
        covered = sum(s.covered for s in self.sources)
        excluded = sum(s.excluded for s in self.sources)
        return {
            "sentences": sentences,
            "covered": covered,
            "excluded": excluded,
            "uncovered": sum(s.uncovered for s in self.sources),
            "percent": rounded_down(percent(covered + excluded, sentences), 2),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "threshold": self.threshold,
            "passed": self.passed,
            "problem": self.problem,
            "totals": self.totals(),
            "sources": [s.to_dict(self.threshold) for s in self.sources],
        }


def quote_resources(package: Package) -> list[str]:
    """Resources whose rows carry a verbatim quote from a source (a `quote` and a `source_id` field)."""
    return [name for name in package.resources if {"quote", "source_id"} <= set(package.field_names(name))]


def quote_span(row: dict[str, Any], text: FoldedText, with_offsets: bool) -> list[Span]:
    """Where a row's quote lies in the folded text.

    In a resource with offsets (`with_offsets`) that is the one place its `quote_start`/`quote_end` point to,
    provided the text there is the quote; a row whose offsets are missing or wrong covers nothing (the
    structure and coverage layers report why). Without offset fields, every place the quote occurs.
    """
    quote = row.get("quote", "")
    if not quote:
        return []
    if not with_offsets:
        return text.find_all(quote)
    from nkru.offsets import offsets_of, slice_problem

    place = offsets_of(row)
    if place is None or slice_problem(text.original, quote, *place) is not None:
        return []
    return [text.folded_span(*place)]


def locate(texts: dict[str, FoldedText], pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[Span]]:
    """(source_id, quote) -> every occurrence of the folded quote in that source's folded text.

    Each text is scanned once for all its distinct quotes (an Aho-Corasick automaton, pyahocorasick),
    so the work grows with the text plus the quotes, not with their product. Pairs whose source
    has no text are left out.
    """
    import ahocorasick

    needles: dict[str, dict[str, list[str]]] = {}
    for source_id, quote in pairs:
        if source_id in texts and quote:
            needle = fold(quote)
            if needle:
                needles.setdefault(source_id, {}).setdefault(needle, []).append(quote)
    found: dict[tuple[str, str], list[Span]] = {}
    for source_id, by_needle in needles.items():
        automaton = ahocorasick.Automaton()
        for needle in by_needle:
            automaton.add_word(needle, needle)
        automaton.make_automaton()
        spans: dict[str, list[Span]] = {needle: [] for needle in by_needle}
        for end, needle in automaton.iter(texts[source_id].text):
            spans[needle].append(Span(end - len(needle) + 1, end + 1))
        for needle, quotes in by_needle.items():
            ordered = sorted(spans[needle], key=lambda s: s.start)
            for quote in quotes:
                found[(source_id, quote)] = ordered
    return found


def quote_pairs(package: Package, name: str, columns: Sequence[str] = ("source_id", "quote")) -> list[tuple[str, ...]]:
    """The distinct combinations of `columns` (text cells) in a quote-bearing resource (column-wise)."""
    table = package.table(name)
    if table is None or len(table) == 0:
        return []
    return list(table.select(columns).unique().fill_null("").iter_rows())


#: What a distinct quote of `QuoteCheck.problems` has wrong.
UNKNOWN_SOURCE, NOT_FOUND = "unknown", "missing"


@dataclass
class QuoteCheck:
    """The quotes of one quote-bearing resource, checked against their source texts.

    `frame` holds the rows with a quote (`i`: the row's index in the table, then `columns`, nulls as "");
    `problems` maps each distinct combination of `columns` that is wrong to what is wrong with it:
    UNKNOWN_SOURCE (no readable text), NOT_FOUND (no offsets, and not in the text), or the
    (quote_start, quote_end) at which the text is not the quote.
    """

    resource: str
    columns: list[str]
    placed: bool  # the resource has offset fields
    frame: Any
    problems: dict[tuple[str, ...], Any]
    offsets_checked: int = 0  # rows with a quote_start set


@dataclass
class QuotePlaces:
    """Every quote checked once: the problems per resource, and where the good ones lie in the folded
    texts for sentence coverage (claim and denial quotes, exclusions: (start, end) by source_id)."""

    checks: list[QuoteCheck] = field(default_factory=list)
    quotes: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    exclusions: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


def place_quotes(package: Package, texts: dict[str, FoldedText]) -> QuotePlaces:
    """Check every quote against its source text, each distinct (source, quote[, offsets]) once.

    In a resource with offsets (`nkru.offsets.offset_resources`) a row's quote must be the passage at its
    offsets and covers exactly that place; a row without offsets is searched for (to say whether it is
    in the text at all) but covers nothing. Without offset fields a quote must occur in its text and
    covers every place it occurs (each text scanned once for all its quotes: `locate`).
    """
    import polars as pl

    from nkru.offsets import END, START, offset_resources, parse_offset, slice_problem

    with_offsets = set(offset_resources(package))
    places = QuotePlaces()
    verbatim: list[tuple[str, str, int, int]] = []  # (resource, source_id, offsets) at which the text is the quote
    texts_frame = None
    for name in quote_resources(package):
        table = package.checkable(name)
        if table is None or len(table) == 0:
            continue  # the structure layer reports unreadable resources
        placed = name in with_offsets
        columns = ["source_id", "quote", *([START, END] if placed else [])]
        frame = table.select(columns).fill_null("")
        frame = frame.with_row_index("i").filter(pl.col("quote") != "")  # an empty quote: structure layer
        check = QuoteCheck(name, columns, placed, frame, {})
        bucket = places.exclusions if name == EXCLUSIONS else places.quotes
        search: list[tuple[str, str]] = []
        unplaced: list[tuple[str, ...]] = []
        combos = frame.select(columns).unique()
        if placed:  # the passages that are their quotes verbatim, found column-wise; the others one by one below
            if texts_frame is None:
                texts_frame = _texts_frame(texts)
            combos = _verbatim_marked(combos, texts_frame)
            verbatim += [(name, *row) for row in combos.filter(pl.col(_VERBATIM)).select("source_id", _START, _END).rows()]
            combos = combos.filter(~pl.col(_VERBATIM)).select(columns)
        for combo in combos.iter_rows():
            source_id, quote = combo[0], combo[1]
            text = texts.get(source_id)
            if text is None:
                check.problems[combo] = UNKNOWN_SOURCE
                continue
            if placed:
                start, end = parse_offset(combo[2]), parse_offset(combo[3])
                if start is not None and end is not None:
                    if slice_problem(text.original, quote, start, end) is not None:
                        check.problems[combo] = (start, end)
                    else:
                        verbatim.append((name, source_id, start, end))
                    continue
                unplaced.append(combo)
            search.append((source_id, quote))
        if placed:
            check.offsets_checked = frame.filter(pl.col(START) != "").height
        found = locate(texts, search)
        if not placed:
            for (source_id, _), spans in found.items():
                bucket.setdefault(source_id, []).extend((span.start, span.end) for span in spans)
        missing = {pair for pair in search if not found.get(pair)}
        for combo in unplaced if placed else search:  # searched for: a known source, and no offsets
            if (combo[0], combo[1]) in missing:
                check.problems[combo] = NOT_FOUND
        places.checks.append(check)
    bounds = verbatim_bounds([(texts[source_id], start, end) for _, source_id, start, end in verbatim])
    for (name, source_id, _, _), bound in zip(verbatim, bounds):
        (places.exclusions if name == EXCLUSIONS else places.quotes).setdefault(source_id, []).append(bound)
    return places


_START, _END, _VERBATIM, _TEXT, _LENGTH = "_start", "_end", "_verbatim", "_text", "_length"


def _texts_frame(texts: dict[str, FoldedText]):
    """source_id, the original text and its length in code points (texts that are not valid UTF-8, which
    no text read from a file is, are left out: their quotes are checked one by one)."""
    import polars as pl

    ids, originals = [], []
    for source_id, text in texts.items():
        try:
            text.original.encode("utf-8")
        except UnicodeEncodeError:
            continue
        ids.append(source_id)
        originals.append(text.original)
    frame = pl.DataFrame({"source_id": ids, _TEXT: originals}, schema={"source_id": pl.String, _TEXT: pl.String})
    return frame.with_columns(pl.col(_TEXT).str.len_chars().cast(pl.Int64).alias(_LENGTH))


@lru_cache(maxsize=None)
def _edge_space() -> str:
    """A regex: the text starts or ends with whitespace (`str.isspace`, which is not the regex engine's `\\s`)."""
    import re

    from nkru.text import LAST_SPACE

    spaces = "".join(re.escape(chr(c)) for c in range(LAST_SPACE + 1) if chr(c).isspace())
    return f"^[{spaces}]|[{spaces}]$"


def _verbatim_marked(combos: Any, texts_frame: Any) -> Any:
    """The distinct (source_id, quote, quote_start, quote_end) with `_start`, `_end` (the offsets when both
    cells are plain digits) and `_verbatim`: the text at those offsets is the quote itself, and neither
    starts nor ends with whitespace -- then `slice_problem` has nothing to say (code points, as polars
    slices strings). Everything else is left to `slice_problem` (folding, odd cells, problems)."""
    import polars as pl

    from nkru.offsets import END, START

    def digits(column: str) -> Any:
        cell = pl.col(column)
        return pl.when(cell.str.contains(r"^[0-9]{1,18}$")).then(cell.cast(pl.Int64, strict=False))

    marked = combos.join(texts_frame, on="source_id", how="left").with_columns(digits(START).alias(_START),
                                                                              digits(END).alias(_END))
    start, end = pl.col(_START), pl.col(_END)
    verbatim = (start.is_not_null() & end.is_not_null() & (start < end) & (end <= pl.col(_LENGTH))
                & pl.col(_TEXT).is_not_null())
    length = pl.when(start < end).then(end - start).otherwise(0)  # every branch is evaluated: never negative
    verbatim = verbatim & (pl.col(_TEXT).str.slice(start.fill_null(0), length.fill_null(0)) == pl.col("quote"))
    verbatim = verbatim & ~pl.col("quote").str.contains(_edge_space())
    return marked.with_columns(verbatim.fill_null(False).alias(_VERBATIM)).drop(_TEXT, _LENGTH)


def _classify_all(sources: list[tuple[FoldedText, list[Sentence], list[tuple[int, int]], list[tuple[int, int]]]]
                  ) -> list[list[str]]:
    """`classify` of many texts at once: (text, sentences, quote bounds, exclusion bounds) each.

    The texts are laid end to end in folded space (each a position past the one before, so no span
    reaches into the next): a sentence is covered when some quote starting before its end ends after its
    start (quotes sorted by start, with the furthest end so far), excluded likewise by an exclusion;
    empty spans overlap nothing.
    """
    import numpy as np

    widths = np.fromiter((len(text.text) + 1 for text, *_ in sources), dtype=np.int64, count=len(sources))
    bases = np.cumsum(widths) - widths

    def laid(lists: list[list[tuple[int, int]]]):
        counts = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        pairs = np.array([pair for spans in lists for pair in spans], dtype=np.int64).reshape(-1, 2)
        return pairs + np.repeat(bases, counts)[:, None]

    sentence_lists = [[(s.start, s.end) for s in sentences] for _, sentences, _, _ in sources]
    sentences = laid(sentence_lists)
    starts, ends = sentences[:, 0], sentences[:, 1]

    def overlapped(spans):
        spans = spans[spans[:, 1] > spans[:, 0]]
        if not len(spans):
            return np.zeros(len(starts), dtype=bool)
        spans = spans[np.argsort(spans[:, 0], kind="stable")]
        furthest = np.maximum.accumulate(spans[:, 1])
        count = np.searchsorted(spans[:, 0], ends, side="left")
        return (ends > starts) & (count > 0) & (furthest[np.maximum(count, 1) - 1] > starts)

    quoted = overlapped(laid([quotes for _, _, quotes, _ in sources]))
    excluded = overlapped(laid([exclusions for _, _, _, exclusions in sources]))
    codes = np.where(quoted, 0, np.where(excluded, 1, 2)).tolist()
    statuses, at = [], 0
    for spans in sentence_lists:
        statuses.append([STATUSES[code] for code in codes[at : at + len(spans)]])
        at += len(spans)
    return statuses


def source_coverage(source_id: str, text: FoldedText, quotes: Iterable[Span], exclusions: Iterable[Span], *,
                    text_path: str = "", language: str | None = None, line: int | None = None,
                    sentences: list[Sentence] | None = None) -> SourceCoverage:
    if sentences is None:
        sentences = split_sentences(text, language or DEFAULT_LANGUAGE)
    return SourceCoverage(source_id, text_path, sentences, classify(sentences, quotes, exclusions), line=line)


def read_texts(package: Package) -> dict[str, FoldedText]:
    """Every readable source text, folded, by source_id."""
    texts = {}
    for source_id in package.source_paths():
        text = package.source_text(source_id)
        if text is not None:
            texts[source_id] = FoldedText(text)
    return texts


def sources_problem(package: Package) -> str | None:
    """Why the sources table cannot be read (then no coverage can be measured), or None."""
    if SOURCES not in package.resources:
        return f"datapackage.json has no {SOURCES!r} resource, so there are no source texts to measure"
    if package.table(SOURCES) is None:
        reason = package.read_errors.get(SOURCES) or "cannot be read"
        return f"the {SOURCES} table cannot be read: {reason}"
    return None


def package_coverage(package: Package, texts: dict[str, FoldedText] | None = None,
                     places: QuotePlaces | None = None) -> list[SourceCoverage]:
    """Coverage of every source in the sources table, in table order (empty when that table is unreadable:
    see `sources_problem`).

    `texts` (folded texts by source_id) saves reading them again when the caller has them, and `places`
    (`place_quotes` of those texts) checking the quotes again.
    A source whose text cannot be read gets a `problem` and no sentences.
    """
    table = package.table(SOURCES) if SOURCES in package.resources else None
    if table is None:
        return []
    texts = read_texts(package) if texts is None else texts
    places = place_quotes(package, texts) if places is None else places
    ids, paths, languages = table.column("source_id"), table.column("text_path"), table.column("language")
    split = split_many({source_id: (texts[source_id], language) for source_id, language in zip(ids, languages)
                        if source_id in texts})
    readable = [source_id for source_id in ids if source_id in texts]
    classified = _classify_all([(texts[source_id], split[source_id], places.quotes.get(source_id, []),
                                 places.exclusions.get(source_id, [])) for source_id in readable])
    statuses = dict(zip(readable, classified))
    results = []
    for index, (source_id, text_path, language) in enumerate(zip(ids, paths, languages)):
        text = texts.get(source_id)
        if text is None:
            results.append(SourceCoverage(source_id, text_path, line=table.lines[index],
                                          problem=package.read_source(text_path).problem or "no readable text"))
            continue
        results.append(SourceCoverage(source_id, text_path, split[source_id], statuses[source_id], line=table.lines[index]))
    return results


# -- the threshold -------------------------------------------------------------------------------------


def read_threshold(root: str | Path) -> float:
    """`[tool.nkru] coverage-threshold` from `root/pyproject.toml`; 100 when the file or the key is absent."""
    path = Path(root) / PYPROJECT
    if not path.is_file():
        return DEFAULT_THRESHOLD
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ThresholdError(f"{path}: cannot be read ({exc})") from exc
    value = config.get("tool", {}).get("nkru", {}).get(THRESHOLD_KEY, DEFAULT_THRESHOLD)
    try:
        return check_threshold(value)
    except ThresholdError as exc:
        raise ThresholdError(f"{path}: [tool.nkru] {THRESHOLD_KEY}: {exc}") from None


def check_threshold(value: Any) -> float:
    """A threshold as a float from 0 to 100, or ThresholdError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ThresholdError(f"{value!r} is not a number")
    if not 0 <= value <= 100:
        raise ThresholdError(f"{value:g} is not between 0 and 100")
    return float(value)


def threshold_for(package: Package, override: float | None = None) -> float:
    """The threshold to apply: `override` when given, else the package's pyproject.toml, else 100."""
    if override is not None:
        return check_threshold(override)
    return read_threshold(package.root)


def coverage_report(package: Package, *, threshold: float | None = None,
                    texts: dict[str, FoldedText] | None = None) -> CoverageReport:
    """The coverage of every source of the package against the threshold (raises ThresholdError if it is invalid)."""
    return CoverageReport(str(package.root), threshold_for(package, threshold), package_coverage(package, texts),
                          problem=sources_problem(package))
