"""Text normalisation shared by every check that compares quotes with source texts.

Quotes are compared after Unicode NFC and whitespace folding (every run of
whitespace becomes one space), so line breaks and double spaces in an article
never decide whether a quote is found.
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Iterable, Sequence

_WORD = re.compile(r"\S+")


def fold(text: str) -> str:
    """NFC, whitespace runs collapsed to one space, ends stripped.

    (`str.split()` splits at exactly the characters `\\s` matches, those for which `str.isspace()`
    holds: tests/test_text.py checks every code point.)"""
    return " ".join(unicodedata.normalize("NFC", text).split())


def _space_mask(text: str):
    """A numpy array of booleans: which characters of `text` are whitespace (`str.isspace`)."""
    import numpy as np

    table = _space_table()
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return table[np.minimum(points, len(table) - 1)]


#: The last code point that is whitespace (U+3000 IDEOGRAPHIC SPACE; tests/test_text.py checks every one).
LAST_SPACE = 0x3000


@lru_cache(maxsize=None)
def _space_table():
    """`str.isspace` of every code point up to LAST_SPACE, then False for all beyond."""
    import numpy as np

    return np.array([chr(c).isspace() for c in range(LAST_SPACE + 1)] + [False])


@dataclass(frozen=True)
class Span:
    start: int
    end: int

    def overlaps(self, other: "Span") -> bool:
        return self.start < other.end and other.start < self.end


def _nfc_chunks(original: str) -> tuple[str, list[int], list[int]]:
    """NFC of `original` normalised chunk by chunk (a chunk starts at every character of combining class 0),
    with the chunk starts in the original and in the NFC text (each list ends with the text's length)."""
    original_starts: list[int] = []
    nfc_starts: list[int] = []
    pieces: list[str] = []
    length = 0
    chunk_start = 0
    for index in range(1, len(original) + 1):
        if index == len(original) or unicodedata.combining(original[index]) == 0:
            piece = unicodedata.normalize("NFC", original[chunk_start:index])
            original_starts.append(chunk_start)
            nfc_starts.append(length)
            pieces.append(piece)
            length += len(piece)
            chunk_start = index
    original_starts.append(len(original))
    nfc_starts.append(length)
    return "".join(pieces), original_starts, nfc_starts


class FoldedText:
    """A source text in folded form, able to map folded offsets back to original lines and offsets.

    Three coordinate systems: the original text (Unicode code points of the file decoded as UTF-8:
    what `quote_start`/`quote_end` count), its NFC form, and the folded form (NFC, whitespace runs
    as one space, ends stripped) in which quotes and sentences are compared.

    Linear in the text's length: the folded text is its words joined by single spaces, and the
    map back to the NFC text (built when first needed: quotes placed by their offsets in an NFC text
    and cached sentences need none) keeps one entry per word (not per character). The NFC and folded
    forms are made when first read too: a check that only slices the original makes neither.
    """

    def __init__(self, original: str):
        self.original = original

    @cached_property
    def _normal(self) -> tuple[str, tuple[list[int], list[int]] | None]:
        """The NFC text and the chunk starts mapping it to the original (None: original offsets are NFC offsets)."""
        if unicodedata.is_normalized("NFC", self.original):
            return self.original, None
        nfc, original_starts, nfc_starts = _nfc_chunks(self.original)
        return nfc, (original_starts, nfc_starts)

    @property
    def nfc(self) -> str:
        return self._normal[0]

    @property
    def _chunks(self) -> tuple[list[int], list[int]] | None:
        return self._normal[1]

    @cached_property
    def text(self) -> str:
        """The folded text: NFC, whitespace runs as one space, ends stripped."""
        return " ".join(self.nfc.split())

    @cached_property
    def _words(self) -> tuple[list[int], list[int], list[int]]:
        """Per word: its offset in the folded text, its offset and its end in the NFC text."""
        words = [(m.start(), m.end()) for m in _WORD.finditer(self.nfc)]
        folded_starts, position = [], 0
        for start, end in words:
            folded_starts.append(position)
            position += end - start + 1
        return folded_starts, [start for start, _ in words], [end for _, end in words]

    @property
    def _folded_starts(self) -> list[int]:
        return self._words[0]

    @property
    def _nfc_starts(self) -> list[int]:
        return self._words[1]

    @property
    def _nfc_ends(self) -> list[int]:
        return self._words[2]

    def _origin(self, folded_offset: int) -> int:
        """The NFC offset of a folded offset (a folding space maps to the first whitespace it stands for)."""
        import bisect

        word = bisect.bisect_right(self._folded_starts, folded_offset) - 1
        if word < 0:
            return 0
        inside = folded_offset - self._folded_starts[word]
        length = self._nfc_ends[word] - self._nfc_starts[word]
        return self._nfc_starts[word] + inside if inside < length else self._nfc_ends[word]

    def _folded_at_or_after(self, nfc_offset: int) -> int:
        """The first folded offset whose NFC offset is at or after `nfc_offset` (len(text) when none is)."""
        import bisect

        word = bisect.bisect_right(self._nfc_starts, nfc_offset) - 1
        if word < 0:
            return 0
        if nfc_offset <= self._nfc_ends[word]:
            at = self._folded_starts[word] + (nfc_offset - self._nfc_starts[word])
            return min(at, len(self.text))
        return self._folded_starts[word + 1] if word + 1 < len(self._folded_starts) else len(self.text)

    def find_all(self, quote: str) -> list[Span]:
        """Every occurrence of the folded quote in the folded text."""
        needle = fold(quote)
        spans: list[Span] = []
        if not needle:
            return spans
        start = self.text.find(needle)
        while start != -1:
            spans.append(Span(start, start + len(needle)))
            start = self.text.find(needle, start + 1)
        return spans

    def nfc_range(self, span: Span) -> tuple[int, int]:
        """The folded span as [start, end) offsets in the NFC text (what a reader sees)."""
        return self._origin(span.start), self._origin(span.end - 1) + 1

    # -- original offsets (quote_start, quote_end) ------------------------------------------------------

    def _to_nfc(self, offset: int, *, end: bool) -> int:
        if self._chunks is None:
            return offset
        import bisect

        original_starts, nfc_starts = self._chunks
        index = bisect.bisect_right(original_starts, offset) - 1
        if original_starts[index] == offset or index + 1 >= len(nfc_starts):
            return nfc_starts[index]
        return nfc_starts[index + 1] if end else nfc_starts[index]  # inside a chunk: widen to the whole chunk

    def _to_original(self, offset: int) -> int:
        if self._chunks is None:
            return offset
        import bisect

        original_starts, nfc_starts = self._chunks
        index = min(bisect.bisect_left(nfc_starts, offset), len(original_starts) - 1)
        return original_starts[index]

    def original_range(self, span: Span) -> tuple[int, int]:
        """The folded span as [start, end) offsets in the original text (what quote_start/quote_end hold)."""
        start, end = self.nfc_range(span)
        return self._to_original(start), self._to_original(end)

    def folded_span(self, start: int, end: int) -> Span:
        """Original [start, end) offsets as a span of the folded text (whitespace at its ends left out)."""
        import bisect

        nfc_start, nfc_end = self._to_nfc(start, end=False), self._to_nfc(end, end=True)
        first = self._folded_at_or_after(nfc_start)
        last = self._folded_at_or_after(nfc_end)
        while first < last and self.text[first] == " ":
            first += 1
        while last > first and self.text[last - 1] == " ":
            last -= 1
        return Span(first, last)

    @cached_property
    def _line_starts(self) -> list[int]:
        return [0, *(m.end() for m in re.finditer("\n", self.nfc))]

    def line_of(self, folded_offset: int) -> int:
        """1-based line in the original text of a folded offset."""
        import bisect

        if not self.text:
            return 1
        offset = self._origin(min(max(folded_offset, 0), len(self.text) - 1))
        return bisect.bisect_right(self._line_starts, offset)

    def closest(self, quote: str) -> tuple[str, float, int]:
        """The passage most like the quote: (passage, similarity 0-100, line)."""
        from rapidfuzz import fuzz

        needle = fold(quote)
        if not needle or not self.text:
            return "", 0.0, 1
        match = fuzz.partial_ratio_alignment(needle, self.text)
        passage = self.text[match.dest_start : match.dest_end]
        return passage, round(match.score, 1), self.line_of(match.dest_start)


class SourceTexts:
    """Readable source texts by source_id, each held once, column-wise: `frame` has `source_id`, `_text`
    (the original text) and `_length` (its length in code points), which the coverage checks read in
    polars (verbatim quotes, units tiling their texts). `texts[source_id]` makes the FoldedText of one
    text only when a check needs it (a quote to search for or to fold, a finding's line or passage), and
    keeps the last CACHED made, so memory does not grow with the texts a report visits.

    A narrow mapping: `in`, `[]`, `get`, `len`; a source listed twice keeps its last text (as a dict would).
    """

    #: FoldedTexts kept (the most recently asked for)
    CACHED = 256
    #: texts turned into one polars frame at a time while collecting (their Python strings are then released)
    BATCH = 1_000

    def __init__(self, frame: Any):
        self.frame = frame
        ids = frame.get_column("source_id").to_list()
        self._rows = {source_id: row for row, source_id in enumerate(ids)}
        if len(self._rows) < len(ids):  # a source listed twice: keep its last text only
            frame = frame[sorted(self._rows.values())]
            self.frame = frame
            self._rows = {source_id: row for row, source_id in enumerate(frame.get_column("source_id").to_list())}
        self._made: OrderedDict[str, FoldedText] = OrderedDict()

    @classmethod
    def collect(cls, texts: Iterable[tuple[str, str]], batch: int | None = None) -> "SourceTexts":
        """The (source_id, original text) pairs of `texts` (an iterator: a caller reading files one by one
        holds only `batch` texts as Python strings at a time)."""
        import polars as pl

        size = batch or cls.BATCH
        frames, ids, originals = [], [], []

        def flush() -> None:
            frame = pl.DataFrame({"source_id": ids, "_text": originals}, schema={"source_id": pl.String, "_text": pl.String})
            frames.append(frame.with_columns(pl.col("_text").str.len_chars().cast(pl.Int64).alias("_length")))
            ids.clear()
            originals.clear()

        for source_id, original in texts:
            ids.append(source_id)
            originals.append(original)
            if len(ids) >= size:
                flush()
        if ids or not frames:
            flush()
        return cls(pl.concat(frames, how="vertical", rechunk=True))

    def __contains__(self, source_id: object) -> bool:
        return source_id in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, source_id: str) -> FoldedText:
        made = self._made.get(source_id)
        if made is not None:
            self._made.move_to_end(source_id)
            return made
        made = FoldedText(self.frame.get_column("_text")[self._rows[source_id]])
        self._made[source_id] = made
        if len(self._made) > self.CACHED:
            self._made.popitem(last=False)
        return made

    def get(self, source_id: str, default: FoldedText | None = None) -> FoldedText | None:
        return self[source_id] if source_id in self._rows else default


def verbatim_bounds(places: Sequence[tuple[FoldedText, int, int]]) -> list[tuple[int, int]]:
    """`FoldedText.folded_span` of each (text, quote_start, quote_end), as (start, end), all at once. Each
    passage must neither start nor end with whitespace (as a quote's must: `nkru.offsets.slice_problem`).

    In an NFC text (original offsets are NFC offsets) the folded offset of a character that is not
    whitespace is the number of characters before it that the folded text keeps: those that are not
    whitespace, and the first of each run of whitespace after a word. So the texts are laid end to end
    and counted with one cumulative sum; a text that is not NFC is mapped span by span.
    """
    import numpy as np

    bounds: list[tuple[int, int]] = [(0, 0)] * len(places)
    batch: dict[int, int] = {}  # id(text) -> its position among the NFC texts laid end to end
    laid: list[str] = []
    rows: list[int] = []
    positions: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    for row, (text, start, end) in enumerate(places):
        if text._chunks is not None:
            span = text.folded_span(start, end)
            bounds[row] = (span.start, span.end)
            continue
        position = batch.get(id(text))
        if position is None:
            position = batch[id(text)] = len(laid)
            laid.append(text.nfc)
        rows.append(row)
        positions.append(position)
        starts.append(start)
        ends.append(end)
    if not rows:
        return bounds
    lengths = np.fromiter(map(len, laid), dtype=np.int64, count=len(laid))
    bases = np.cumsum(lengths) - lengths  # where each text begins
    solid = ~_space_mask("".join(laid))
    kept = solid.copy()
    kept[1:] |= solid[:-1]  # a space right after a word stands for its whole run
    kept[bases] = solid[bases]  # ... within its own text
    counted = np.cumsum(kept)  # kept characters up to and including each one
    before = counted[bases] - kept[bases]  # kept characters of the texts laid before each one
    where = np.asarray(positions, dtype=np.int64)
    base, offset = bases[where], before[where]
    folded_starts = counted[base + np.asarray(starts, dtype=np.int64)] - 1 - offset
    folded_ends = counted[base + np.asarray(ends, dtype=np.int64) - 1] - offset
    for row, start, end in zip(rows, folded_starts.tolist(), folded_ends.tolist()):
        bounds[row] = (start, end)
    return bounds


def markdown_cell(value: object) -> str:
    """Text safe inside a Markdown table cell: HTML escaped, pipes, backslashes and brackets escaped (no
    link such as `[x](javascript:...)`), line breaks as <br>."""
    import html

    text = "" if value is None else str(value)
    text = html.escape(text, quote=False).replace("\\", "\\\\").replace("|", "\\|")
    text = text.replace("[", "\\[").replace("]", "\\]")
    text = text.replace("\r\n", "<br>").replace("\n", "<br>").replace("\r", "<br>")
    return escape_controls(text, keep="")


#: Characters never written raw to any output: C0 controls (tab and line feed included; callers keep
#: what their format needs), DEL, C1 controls, the bidirectional formatting characters (they reorder
#: what a terminal or browser shows) and the Unicode line and paragraph separators.
UNSAFE_CHARACTERS = "".join(
    [chr(c) for c in range(0x00, 0x20)] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)]
    + ["\u061c", "\u200e", "\u200f", "\u2028", "\u2029"] + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
)
_UNSAFE = re.compile("[" + re.escape(UNSAFE_CHARACTERS) + "]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str, keep: str = "\n") -> str:
    """Every unsafe character (UNSAFE_CHARACTERS) not in `keep` as a visible `\\uXXXX` escape.

    The escape is valid inside a JSON string (it decodes back to the character), plain text in
    HTML, XML and Markdown, and inert on a terminal.
    """
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(lambda m: m.group() if m.group() in keep else f"\\u{ord(m.group()):04x}", text)


def visible(value: object) -> str:
    """A value shown on one line: line breaks and tabs as `\\n`, `\\r`, `\\t`; other unsafe characters as `\\uXXXX`."""
    text = "" if value is None else str(value)
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(lambda m: _SHORT.get(m.group()) or f"\\u{ord(m.group()):04x}", text)


_WEB_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f\"'<>\\`]+", re.IGNORECASE)


def safe_url(value: object) -> str | None:
    """The value when it is an `http://` or `https://` address a page may link to, else None.

    Nothing else becomes a link anywhere (no `javascript:`, `data:`, `file:`, no scheme-relative
    `//host`); whitespace or control characters anywhere refuse it too, since browsers drop them
    from inside a scheme (`java\\tscript:`).
    """
    if not isinstance(value, str) or not _WEB_URL.fullmatch(value):
        return None
    return value
