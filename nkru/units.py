"""Units: the sentences of each archived text, as data (`data/units.csv`, `schemas/units.json`).

Sentence coverage is judged against the package's units, never against a splitter's output, so a
splitter upgrade cannot change the verdict on a released package and a curator can correct a bad split
by editing rows. A unit is `unit_id`, `source_id`, `start`, `end`: code-point offsets into the archived
text as decoded from UTF-8 (the convention of `quote_start`/`quote_end`: `nkru.offsets`), end exclusive.

The splitter (pysbd) lives here only as a proposal tool: `propose_units` gives the sentences of a new
text, which `nkru add-source` writes as units with the next free IDs (`next_unit_ids`) and a coding
sheet may offer. Nothing that validation imports imports pysbd: `nkru validate` reads units
(`units_frame`) and checks that they tile each text (`tiling`) and are covered (`nkru.coverage`).

What a unit is (what the proposal lists): pysbd's sentences, line by line (so a heading never merges
with the paragraph below it), trimmed of whitespace; a segment without a letter or digit ("-", "+++")
is not a sentence and is not listed. The tiling rule matches: the text between and around units may
hold anything but a word character (regex `\\w`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

#: The resource of units (by name; its fields come from schemas/units.json).
UNITS = "units"
UNIT_ID, SOURCE_ID, START, END = "unit_id", "source_id", "start", "end"
FIELDS = (UNIT_ID, SOURCE_ID, START, END)
DEFAULT_LANGUAGE = "de"
#: What the text outside every unit must not hold (the same for polars' regex engine and Python's `re`).
WORD = r"\w"
_ID = re.compile(r"^U([0-9]{3}|[1-9][0-9]{3,})$")

# Problems with how a source's units tile its text (codes of the coverage layer's findings).
ORDER, OUT_OF_RANGE, OVERLAP, GAP = "unit-offsets-order", "unit-out-of-range", "unit-overlap", "unit-gap"


# -- proposing units (the splitter) ---------------------------------------------------------------------


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


def is_sentence(text: str) -> bool:
    """A segment with a letter or digit is a sentence; "-" or "+++" is not."""
    return any(char.isalnum() for char in text)


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


def propose_units(text: str, language: str | None = DEFAULT_LANGUAGE) -> list[tuple[int, int]]:
    """The sentences of `text` as (start, end) code-point offsets into it (end exclusive), in order.

    pysbd splits the text line by line in folded form (`nkru.text.FoldedText`: NFC, whitespace runs as
    one space), each sentence is located with one forward search and mapped back to the original
    text, so `text[start:end]` folds to the sentence and neither starts nor ends with whitespace.
    `language` is a BCP 47 tag (German rules when pysbd has none for it).
    """
    from nkru.text import FoldedText, Span, fold

    folded = FoldedText(text)
    segmenter = _segmenter(segment_language(language))
    spans: list[tuple[int, int]] = []
    cursor = 0
    for raw_line in folded.nfc.splitlines():
        line = fold(raw_line)
        if not line:
            continue
        for piece in _pieces(segmenter, line):
            needle = fold(piece)
            if not needle or not is_sentence(needle):
                continue
            start = folded.text.find(needle, cursor)
            if start == -1:  # the segmenter altered the text; never lose a sentence: locate it around the line
                start = folded.text.find(needle, max(0, cursor - len(line) - len(needle)))
                if start == -1:
                    continue
            end = start + len(needle)
            cursor = max(cursor, end)
            spans.append(folded.original_range(Span(start, end)))
    return spans


# -- IDs ------------------------------------------------------------------------------------------------


def next_unit_ids(package: Any, count: int) -> list[str]:
    """`count` unit IDs past every unit ID in the units table and every retracted one (U001 … U999, U1000 …)."""
    numbers: list[int] = []
    for name, column in ((UNITS, UNIT_ID), ("retractions", "id")):
        table = package.table(name) if name in package.resources else None
        if table is not None:
            numbers += [int(m.group(1)) for m in map(_ID.match, table.column(column)) if m]
    first = max(numbers, default=0) + 1
    return [f"U{number:03d}" for number in range(first, first + count)]


# -- reading and tiling ----------------------------------------------------------------------------------


def units_frame(package: Any):
    """The units table as a polars frame: `i` (row index), unit_id, source_id, start, end (Int64; null where
    the cell is not a plain non-negative integer: the structure layer reports those). None when the
    package declares no units resource or it cannot be read."""
    import polars as pl

    table = package.table(UNITS) if UNITS in package.resources else None
    if table is None:
        return None

    def integer(column: str) -> Any:
        cell = pl.col(column).str.strip_chars()
        return pl.when(cell.str.contains(r"^[0-9]{1,18}$")).then(cell.cast(pl.Int64, strict=False)).alias(column)

    frame = table.select(list(FIELDS)).fill_null("").with_row_index("i")
    return frame.with_columns(integer(START), integer(END))


def texts_frame(texts: Any):
    """source_id, `_text` (the original text) and `_length` (its length in code points) of readable texts
    (`nkru.text.SourceTexts`, whose frame it is, or `nkru.text.FoldedText` by source_id); texts that are not
    valid UTF-8 (none read from a file) are left out."""
    import polars as pl

    from nkru.text import SourceTexts

    if isinstance(texts, SourceTexts):
        return texts.frame
    ids, originals = [], []
    for source_id, text in texts.items():
        original = text.original if hasattr(text, "original") else text
        try:
            original.encode("utf-8")
        except UnicodeEncodeError:
            continue
        ids.append(source_id)
        originals.append(original)
    frame = pl.DataFrame({"source_id": ids, "_text": originals}, schema={"source_id": pl.String, "_text": pl.String})
    return frame.with_columns(pl.col("_text").str.len_chars().cast(pl.Int64).alias("_length"))


def tiling(units: Any, texts: Any) -> tuple[Any, Any, Any]:
    """How the units tile their texts, column-wise (no splitter, no loop over units).

    `units` is `units_frame`, `texts` is `texts_frame`. Returns (good, bad, gaps):

    - good: the units of a readable text with 0 <= start < end <= length (i, unit_id, source_id, start, end);
    - bad: the others of a readable text, with `code` ORDER (start not before end) or OUT_OF_RANGE
      (end past the text), and `_length`; plus the good units with code OVERLAP that begin before an earlier
      unit (by start) ends, with `other_id`, `other_start`, `other_end` (the earlier unit reaching furthest);
    - gaps: source_id, `gap_start`, `gap_end`, `before_id`, `after_id` (null at the text's ends): stretches of
      text outside every good unit that hold a word character (`WORD`); a text with no units at all is one.
    """
    import polars as pl

    start, end, length = pl.col(START), pl.col(END), pl.col("_length")
    placed = units.filter(start.is_not_null() & end.is_not_null()).join(texts.select("source_id", "_length"),
                                                                        on="source_id", how="inner")
    order = placed.filter(start >= end).with_columns(pl.lit(ORDER).alias("code"))
    outside = placed.filter((start < end) & (end > length)).with_columns(pl.lit(OUT_OF_RANGE).alias("code"))
    good = placed.filter((start < end) & (end <= length)).sort(SOURCE_ID, START, END, "i")
    good = good.with_columns(end.cum_max().over(SOURCE_ID).alias("_furthest"))
    furthest = pl.col("_furthest")
    good = good.with_columns(pl.when(end == furthest).then(pl.col(UNIT_ID)).alias("_holder"),
                             pl.when(end == furthest).then(start).alias("_holder_start"))
    good = good.with_columns(pl.col("_holder", "_holder_start").forward_fill().over(SOURCE_ID))
    good = good.with_columns(furthest.shift(1).over(SOURCE_ID).alias("_reach"),
                             pl.col("_holder").shift(1).over(SOURCE_ID).alias("other_id"),
                             pl.col("_holder_start").shift(1).over(SOURCE_ID).alias("other_start"))
    good = good.with_columns(pl.col("_reach").alias("other_end"))
    overlap = good.filter(start < pl.col("_reach")).with_columns(pl.lit(OVERLAP).alias("code"))
    columns = ["i", UNIT_ID, SOURCE_ID, START, END, "_length", "code"]
    extra = {"other_id": pl.String, "other_start": pl.Int64, "other_end": pl.Int64}
    bad = pl.concat([frame.select(columns).with_columns(*(pl.lit(None, dtype=t).alias(n) for n, t in extra.items()))
                     for frame in (order, outside)] + [overlap.select(*columns, *extra)], how="vertical").sort("i")
    # The stretches between units (and before the first, after the last), per source.
    between = good.select(SOURCE_ID, pl.col("_reach").fill_null(0).alias("gap_start"), start.alias("gap_end"),
                          pl.col("other_id").alias("before_id"), pl.col(UNIT_ID).alias("after_id"))
    last = good.group_by(SOURCE_ID).agg(end.max().alias("gap_start"), pl.col(UNIT_ID).sort_by(end).last().alias("before_id"))
    tails = texts.select(SOURCE_ID, "_length").join(last, on=SOURCE_ID, how="left").select(
        SOURCE_ID, pl.col("gap_start").fill_null(0), length.alias("gap_end"), "before_id",
        pl.lit(None, dtype=pl.String).alias("after_id"))
    gaps = pl.concat([between, tails], how="vertical").filter(pl.col("gap_end") > pl.col("gap_start"))
    gaps = gaps.join(texts.select(SOURCE_ID, "_text"), on=SOURCE_ID, how="inner")
    gaps = gaps.filter(pl.col("_text").str.slice(pl.col("gap_start"), pl.col("gap_end") - pl.col("gap_start"))
                       .str.contains(WORD)).drop("_text").sort(SOURCE_ID, "gap_start")
    return good.select("i", UNIT_ID, SOURCE_ID, START, END), bad, gaps
