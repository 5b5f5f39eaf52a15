"""Sentence coverage: is every unit (sentence) of every source text curated or deliberately excluded?

The units are data (`data/units.csv`: `nkru.units`), code-point offsets into each archived text; no
splitter runs here. A unit is

- **covered** when a claim or denial quote overlaps it (shares at least one code point),
- **excluded** when only an exclusion overlaps it,
- **uncovered** otherwise.

A quote is placed by its offsets (`quote_start`, `quote_end`: `nkru.offsets`) where its resource has
them, and covers exactly that place; a row whose offsets are missing or do not point to the quote
covers nothing. Only a resource without offset fields falls back to searching (in folded space:
NFC, whitespace runs collapsed, `nkru.text.FoldedText`), and then a quote covers every place it
occurs. Units and quotes are compared in the original text's offsets, column-wise: an as-of join of
each unit's end with the quotes sorted by start and the furthest end reached so far (`statuses`).
Units that do not tile their text (overlapping, out of range: `nkru.units.tiling`) are reported by
the coverage layer and not counted.

The threshold (percentage of units covered or excluded that each source must reach) is
`[tool.nkru] coverage-threshold` in the package's pyproject.toml, 100 when there is none.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

from nkru.offsets import read_texts
from nkru.package import SOURCES, Package
from nkru.text import FoldedText, SourceTexts, Span, fold
from nkru.units import texts_frame as units_texts_frame
from nkru.units import DEFAULT_LANGUAGE, UNITS  # noqa: F401  (DEFAULT_LANGUAGE: the language a source defaults to)

#: The resource whose quotes are passages deliberately not curated (by name; its fields come from its schema).
EXCLUSIONS = "exclusions"
DEFAULT_THRESHOLD = 100.0
PYPROJECT = "pyproject.toml"
THRESHOLD_KEY = "coverage-threshold"

COVERED, EXCLUDED, UNCOVERED = "covered", "excluded", "uncovered"
STATUSES = (COVERED, EXCLUDED, UNCOVERED)


class ThresholdError(ValueError):
    """The configured coverage threshold is not a number from 0 to 100."""


# -- units -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """One unit of a source text: its ID, its [start, end) offsets in the original text (code points),
    its 1-based line in the text file, and its text (folded: NFC, whitespace runs as one space)."""

    unit_id: str
    start: int
    end: int
    line: int
    text: str

    @property
    def span(self) -> Span:
        return Span(self.start, self.end)


def unit_of(text: FoldedText, unit_id: str, start: int, end: int) -> Unit:
    from nkru.offsets import line_of_offset

    return Unit(unit_id, start, end, line_of_offset(text.original, start), fold(text.original[start:end]))


def nfc_range(text: FoldedText, start: int, end: int) -> tuple[int, int]:
    """Original [start, end) offsets as offsets in the text's NFC form (the same in an NFC text)."""
    return text._to_nfc(start, end=False), text._to_nfc(end, end=True)


# -- the judgement, column-wise ----------------------------------------------------------------------


def _overlapped(units: Any, spans: Any) -> Any:
    """A Boolean Series in `units`' row order: some span of the same source overlaps the unit.

    Spans sorted by start with the furthest end reached so far (per source); each unit is joined as of
    its end with the last span starting before it (strictly): it is overlapped when that furthest end
    passes the unit's start. Empty spans overlap nothing; an empty unit is overlapped by nothing.
    """
    import polars as pl

    if spans.height == 0 or units.height == 0:
        return pl.Series("overlapped", [False] * units.height, dtype=pl.Boolean)
    reach = (spans.filter(pl.col("end") > pl.col("start")).sort("source_id", "start")
             .with_columns(pl.col("end").cum_max().over("source_id").alias("_reach"))
             .group_by("source_id", "start").agg(pl.col("_reach").max())
             .rename({"start": "_span_start"}).sort("_span_start"))
    left = units.select(pl.col("source_id"), pl.col("start").cast(pl.Int64), pl.col("end").cast(pl.Int64)) \
        .with_row_index("_row").sort("end")
    joined = left.join_asof(reach, left_on="end", right_on="_span_start", by="source_id", strategy="backward",
                            allow_exact_matches=False, check_sortedness=False)
    hit = (pl.col("end") > pl.col("start")) & (pl.col("_reach") > pl.col("start"))
    return joined.select("_row", hit.fill_null(False).alias("overlapped")).sort("_row").get_column("overlapped")


def statuses(units: Any, quotes: Any, exclusions: Any) -> Any:
    """`units` (source_id, start, end, ...) with `status`: covered, excluded or uncovered, given the
    quote and exclusion spans (frames of source_id, start, end)."""
    import polars as pl

    quoted, excluded = _overlapped(units, quotes), _overlapped(units, exclusions)
    status = pl.when(quoted).then(pl.lit(COVERED)).when(excluded).then(pl.lit(EXCLUDED)).otherwise(pl.lit(UNCOVERED))
    return units.with_columns(status.alias("status"))


def _spans(spans: Iterable[Span | tuple[int, int]], source_id: str = "") -> Any:
    import polars as pl

    pairs = [(s.start, s.end) if isinstance(s, Span) else tuple(s) for s in spans]
    return pl.DataFrame({"source_id": [source_id] * len(pairs), "start": [a for a, _ in pairs],
                         "end": [b for _, b in pairs]}, schema={"source_id": pl.String, "start": pl.Int64, "end": pl.Int64})


def classify(units: Sequence[Unit] | Sequence[Span], quotes: Iterable[Span], exclusions: Iterable[Span]) -> list[str]:
    """covered / excluded / uncovered for each unit of one text, given the spans of quotes and of exclusions
    (`statuses` on one text)."""
    spans = [u.span if isinstance(u, Unit) else u for u in units]
    return statuses(_spans(spans), _spans(quotes), _spans(exclusions)).get_column("status").to_list()


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
    """Coverage of one source text: its units (those that tile the text; see `nkru.units.tiling`) and their statuses."""

    source_id: str
    text_path: str
    units: list[Unit] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    line: int | None = None  # the source's line in sources.csv
    problem: str | None = None  # why the text could not be read

    def count(self, status: str) -> int:
        return sum(1 for s in self.statuses if s == status)

    @property
    def total(self) -> int:
        return len(self.units)

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

    def uncovered_sentences(self) -> list[Unit]:
        return [s for s, status in zip(self.units, self.statuses) if status == UNCOVERED]

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
        data["uncovered_sentences"] = [{"unit_id": s.unit_id, "start": s.start, "end": s.end, "line": s.line, "text": s.text}
                                       for s in self.uncovered_sentences()]
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
    """Where a row's quote lies in the folded text (for the report's highlighting).

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


def locate(texts: SourceTexts | dict[str, FoldedText], pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[Span]]:
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

    `rows` counts the rows with a quote; `frame` holds those that may have a problem, every one but those
    verbatim at their offsets (`i`: the row's index in the table, then `columns`, nulls as "");
    `problems` maps each distinct combination of `columns` that is wrong to what is wrong with it:
    UNKNOWN_SOURCE (no readable text), NOT_FOUND (no offsets, and not in the text), or the
    (quote_start, quote_end) at which the text is not the quote.
    """

    resource: str
    columns: list[str]
    placed: bool  # the resource has offset fields
    rows: int
    frame: Any
    problems: dict[tuple[str, ...], Any]
    offsets_checked: int = 0  # rows with a quote_start set


@dataclass
class QuotePlaces:
    """Every quote checked once: the problems per resource, and where the good ones lie in the original
    texts for unit coverage (`quotes`: claim and denial quotes, `exclusions`: frames of source_id, start, end)."""

    checks: list[QuoteCheck] = field(default_factory=list)
    pieces: list[tuple[bool, Any]] = field(default_factory=list)  # (is an exclusion, frame of source_id, start, end)

    def add(self, exclusion: bool, source_ids: Any, starts: Any, ends: Any) -> None:
        import polars as pl

        self.pieces.append((exclusion, pl.DataFrame({"source_id": source_ids, "start": starts, "end": ends},
                                                    schema={"source_id": pl.String, "start": pl.Int64, "end": pl.Int64})))

    def _frame(self, exclusion: bool) -> Any:
        import polars as pl

        frames = [frame for kind, frame in self.pieces if kind == exclusion]
        return pl.concat(frames, how="vertical") if frames else _spans([])

    @property
    def quotes(self) -> Any:
        return self._frame(False)

    @property
    def exclusions(self) -> Any:
        return self._frame(True)


def place_quotes(package: Package, texts: SourceTexts | dict[str, FoldedText]) -> QuotePlaces:
    """Check every quote against its source text: column-wise where it is the passage at its offsets
    verbatim, otherwise each distinct (source, quote[, offsets]) once.

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
        check = QuoteCheck(name, columns, placed, frame.height, frame, {})
        exclusion = name == EXCLUSIONS
        search: list[tuple[str, str]] = []
        unplaced: list[tuple[str, ...]] = []
        if placed:  # the passages that are their quotes verbatim, found column-wise; the others one by one below
            if texts_frame is None:
                texts_frame = units_texts_frame(texts)
            # Rows, not distinct combos: at scale nearly every row is its own combo, and finding the
            # distinct ones of a million quotes costs more than marking them all (0.4 GB at 1M).
            marked = _verbatim_marked(frame, texts_frame)
            good = marked.filter(pl.col(_VERBATIM))
            places.pieces.append((exclusion, good.select("source_id", pl.col(_START).alias("start"), pl.col(_END).alias("end"))))
            check.offsets_checked = frame.filter(pl.col(START) != "").height
            check.frame = frame = marked.filter(~pl.col(_VERBATIM)).select("i", *columns)
            combos = frame.select(columns).unique()
            del marked, good
        else:
            combos = frame.select(columns).unique()
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
                        verbatim.append((exclusion, source_id, start, end))
                    continue
                unplaced.append(combo)
            search.append((source_id, quote))
        found = locate(texts, search)
        if not placed:  # every place a quote occurs, in the original text's offsets
            located = [(source_id, texts[source_id].original_range(span)) for (source_id, _), spans in found.items()
                       for span in spans]
            places.add(exclusion, [s for s, _ in located], [a for _, (a, _) in located], [b for _, (_, b) in located])
        missing = {pair for pair in search if not found.get(pair)}
        for combo in unplaced if placed else search:  # searched for: a known source, and no offsets
            if (combo[0], combo[1]) in missing:
                check.problems[combo] = NOT_FOUND
        places.checks.append(check)
    for kind in (False, True):
        rows = [row for row in verbatim if row[0] == kind]
        places.add(kind, [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])
    return places


_START, _END, _VERBATIM, _TEXT, _LENGTH = "_start", "_end", "_verbatim", "_text", "_length"
#: Rows whose passages `in_batches` copies out of their texts at a time.
BATCH_ROWS = 100_000


def in_batches(frame: Any, step: Any) -> Any:
    """`step(part)` for every BATCH_ROWS rows of `frame`, concatenated. For a step that slices a passage
    out of each row's text (polars' `str.slice` copies it): only one batch of copies is alive at a time
    (all the quotes of a 1M-claim package at once were about 0.2 GB)."""
    import polars as pl

    if frame.height <= BATCH_ROWS:
        return step(frame)
    return pl.concat([step(part) for part in frame.iter_slices(BATCH_ROWS)], how="vertical")


@lru_cache(maxsize=None)
def _edge_space() -> str:
    """A regex: the text starts or ends with whitespace (`str.isspace`, which is not the regex engine's `\\s`)."""
    import re

    from nkru.text import LAST_SPACE

    spaces = "".join(re.escape(chr(c)) for c in range(LAST_SPACE + 1) if chr(c).isspace())
    return f"^[{spaces}]|[{spaces}]$"


def _verbatim_marked(rows: Any, texts_frame: Any) -> Any:
    """The rows of (source_id, quote, quote_start, quote_end, ...) with `_start`, `_end` (the offsets when both
    cells are plain digits) and `_verbatim`: the text at those offsets is the quote itself, and neither
    starts nor ends with whitespace -- then `slice_problem` has nothing to say (code points, as polars
    slices strings). Everything else is left to `slice_problem` (folding, odd cells, problems)."""
    import polars as pl

    from nkru.offsets import END, START

    def digits(column: str) -> Any:
        cell = pl.col(column)
        return pl.when(cell.str.contains(r"^[0-9]{1,18}$")).then(cell.cast(pl.Int64, strict=False))

    start, end = pl.col(_START), pl.col(_END)
    verbatim = (start.is_not_null() & end.is_not_null() & (start < end) & (end <= pl.col(_LENGTH))
                & pl.col(_TEXT).is_not_null())
    length = pl.when(start < end).then(end - start).otherwise(0)  # every branch is evaluated: never negative
    verbatim = verbatim & (pl.col(_TEXT).str.slice(start.fill_null(0), length.fill_null(0)) == pl.col("quote"))
    verbatim = verbatim & ~pl.col("quote").str.contains(_edge_space())

    def mark(part: Any) -> Any:  # the passages are copies: a batch of rows at a time
        part = part.join(texts_frame, on="source_id", how="left").with_columns(digits(START).alias(_START),
                                                                              digits(END).alias(_END))
        return part.with_columns(verbatim.fill_null(False).alias(_VERBATIM)).drop(_TEXT, _LENGTH)

    return in_batches(rows, mark)


def source_coverage(source_id: str, text: FoldedText, units: Sequence[tuple[str, int, int]], quotes: Iterable[Span],
                    exclusions: Iterable[Span], *, text_path: str = "", line: int | None = None) -> SourceCoverage:
    """Coverage of one text given its units ((unit_id, start, end)) and quote and exclusion spans (original offsets)."""
    found = [unit_of(text, *unit) for unit in units]
    return SourceCoverage(source_id, text_path, found, classify(found, quotes, exclusions), line=line)


def _table_problem(package: Package, name: str, absent: str) -> str | None:
    """Why the table `name` cannot be read (`absent` when the descriptor has no such resource), or None."""
    if name not in package.resources:
        return absent
    if package.table(name) is None:
        reason = package.read_errors.get(name) or "cannot be read"
        return f"the {name} table cannot be read: {reason}"
    return None


def sources_problem(package: Package) -> str | None:
    """Why the sources table cannot be read (then no coverage can be measured), or None."""
    return _table_problem(package, SOURCES, f"datapackage.json has no {SOURCES!r} resource, so there are no source texts "
                                            "to measure")


#: Sources whose units `judge` tiles and joins with the quotes at a time: all 1.4M units of a 1M-claim
#: package at once held several sorted and joined copies of them (0.3 GB above the texts).
SOURCES_AT_A_TIME = 4_096


def judge(package: Package, texts: SourceTexts | dict[str, FoldedText], places: QuotePlaces) -> tuple[Any, Any, Any] | None:
    """The package's units judged against their texts and quotes, column-wise: (good units with `status`,
    bad units, gaps) as `nkru.units.tiling` gives them; None when the package has no readable units table.

    A range of SOURCES_AT_A_TIME source IDs at a time (each unit is judged within its own text, so the
    ranges are independent); the ranges follow the order of source IDs, as `good` and `gaps` are sorted."""
    import polars as pl

    from nkru import units as units_module

    units = units_module.units_frame(package)
    if units is None:
        return None
    frame = units_module.texts_frame(texts)
    quotes, exclusions = places.quotes, places.exclusions
    ids = frame.get_column("source_id").sort()
    judged = []
    for first in range(0, max(len(ids), 1), SOURCES_AT_A_TIME):  # no text at all: one pass, with nothing to judge
        last = min(first + SOURCES_AT_A_TIME, len(ids)) - 1
        within = pl.col("source_id").is_between(pl.lit(ids[first]), pl.lit(ids[last])) if len(ids) else pl.lit(True)
        good, bad, gaps = units_module.tiling(units.filter(within), frame.filter(within))
        judged.append((statuses(good, quotes.filter(within), exclusions.filter(within)), bad, gaps))
    good, bad, gaps = (pl.concat(part, how="vertical") for part in zip(*judged))
    return good, bad.sort("i"), gaps


def units_problem(package: Package) -> str | None:
    """Why the units table cannot be read (then no unit coverage can be measured), or None."""
    return _table_problem(package, UNITS, f"datapackage.json has no {UNITS!r} resource, so there are no units to measure "
                                          "sentence coverage by")


def package_coverage(package: Package, texts: SourceTexts | dict[str, FoldedText] | None = None,
                     places: QuotePlaces | None = None) -> list[SourceCoverage]:
    """Coverage of every source in the sources table, in table order (empty when that table is unreadable:
    see `sources_problem`), judged from the package's units (none when there is no readable units table:
    see `units_problem`).

    `texts` (folded texts by source_id) saves reading them again when the caller has them, and `places`
    (`place_quotes` of those texts) checking the quotes again.
    A source whose text cannot be read gets a `problem` and no units.
    """
    table = package.table(SOURCES) if SOURCES in package.resources else None
    if table is None:
        return []
    texts = read_texts(package) if texts is None else texts
    places = place_quotes(package, texts) if places is None else places
    judged = judge(package, texts, places)
    by_source: dict[str, list[tuple[str, int, int, str]]] = {}
    if judged is not None:
        ordered = judged[0].sort("source_id", "start", "end")
        for unit_id, source_id, start, end, status in ordered.select("unit_id", "source_id", "start", "end", "status").iter_rows():
            by_source.setdefault(source_id, []).append((unit_id, start, end, status))
    results = []
    for index, (source_id, text_path) in enumerate(zip(table.column("source_id"), table.column("text_path"))):
        text = texts.get(source_id)
        if text is None:
            results.append(SourceCoverage(source_id, text_path, line=table.lines[index],
                                          problem=package.read_source(text_path).problem or "no readable text"))
            continue
        rows = by_source.get(source_id, [])
        results.append(SourceCoverage(source_id, text_path, [unit_of(text, u, a, b) for u, a, b, _ in rows],
                                      [status for *_, status in rows], line=table.lines[index]))
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
                    texts: SourceTexts | dict[str, FoldedText] | None = None) -> CoverageReport:
    """The coverage of every source of the package against the threshold (raises ThresholdError if it is invalid)."""
    return CoverageReport(str(package.root), threshold_for(package, threshold), package_coverage(package, texts),
                          problem=sources_problem(package) or units_problem(package))
