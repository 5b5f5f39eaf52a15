"""Each source text cut into highlighted segments: quoted by a claim or denial, excluded, or uncovered.

The quote-bearing resources are those `nkru.coverage.quote_resources` finds in the
schemas (a `quote` and a `source_id` field), so a new one shows up here without a change.

Passages are placed by their offsets (`quote_start`, `quote_end`) exactly as the
coverage layer places them (`nkru.coverage.quote_span`; searched for only in a
resource without offset fields) and mapped back to the text so line breaks are
kept. Sentence coverage (the percentage, and which sentences no quote
or exclusion touches) comes from the coverage library, `nkru.coverage`, so
the report shows exactly the numbers `nkru coverage` gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nkru.coverage import UNCOVERED as SENTENCE_UNCOVERED
from nkru.coverage import (EXCLUSIONS, SourceCoverage, nfc_range, package_coverage, quote_resources, quote_span,
                           read_texts, rounded_down)
from nkru.report.model import ACTORS, Model
from nkru.text import FoldedText, Span

QUOTED, EXCLUDED, UNCOVERED = "quoted", "excluded", "uncovered"


@dataclass
class Segment:
    text: str
    kind: str | None  # quoted | excluded | uncovered | None
    ids: list[str] = field(default_factory=list)  # rows whose passage covers this segment
    anchors: list[str] = field(default_factory=list)  # rows whose passage starts here


@dataclass
class Passage:
    row_id: str
    kind: str  # quoted | excluded
    label: str  # e.g. "claim C001 by John Kirby on E001" or "exclusion X001: headline"
    found: bool


@dataclass
class Excerpt:
    """A quote with its context (the rest of the sentences it is in): what the report shows of a text by default."""

    row_id: str
    label: str
    before: str
    quote: str
    after: str
    cut_before: bool  # the context starts inside the text (an ellipsis goes before it)
    cut_after: bool


#: Context around a quote when the text's sentences are not known: at most this many characters each side.
CONTEXT = 160


@dataclass
class SourceView:
    row: dict[str, Any]
    segments: list[Segment]
    passages: list[Passage]
    coverage: SourceCoverage | None
    quoted_percent: float = 0.0  # share of non-blank characters inside a claim or denial quote
    excluded_percent: float = 0.0  # ... inside an exclusion only
    missing_text: str | None = None
    excerpts: list[Excerpt] = field(default_factory=list)  # each claim's and denial's quote in its sentences

    @property
    def id(self) -> str:
        return self.row.get("source_id") or ""

    @property
    def coverage_percent(self) -> float | None:
        """Sentences covered or excluded, in percent (rounded down, as `nkru coverage` shows it)."""
        if self.coverage is None or self.coverage.problem:
            return None
        return rounded_down(self.coverage.percent, 1)

    def title_for(self, segment: Segment) -> str:
        """Tooltip of a highlighted segment: the rows whose passage covers it."""
        if segment.kind == UNCOVERED:
            return "no claim, denial or exclusion covers this sentence"
        labels = {p.row_id: p.label for p in self.passages}
        return "; ".join(labels.get(row_id, row_id) for row_id in segment.ids)

    @property
    def not_found(self) -> list[Passage]:
        return [p for p in self.passages if not p.found]


def _original_range(folded: FoldedText, start: int, end: int) -> tuple[int, int]:
    """A span of the folded text as offsets in the NFC text (whose characters are what the page shows)."""
    return folded.nfc_range(Span(start, end))


def _singular(resource: str) -> str:
    resource = str(resource)
    return resource[:-1] if resource.endswith("s") else resource


def passage_rows(model: Model) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(row_id, kind, label, row) for every row of every quote-bearing resource (`quote_resources`:
    those with a `quote` and a `source_id` field), in descriptor and file order.

    Rows of the exclusions resource are EXCLUDED, all others QUOTED; a row is named by its primary key.
    """
    package = model.package
    found = []
    for name in quote_resources(package):
        table = package.table(name)
        if table is None:
            continue
        kind = EXCLUDED if name == EXCLUSIONS else QUOTED
        people = [fk.fields[0] for fk in package.foreign_keys(name)
                  if fk.resource == ACTORS and len(fk.fields) == 1]
        for index, row in enumerate(model.tables.get(name, [])):
            row_id = table.row_id(index)
            if not row_id or not row.get("quote"):
                continue
            label = f"{_singular(name)} {row_id}"
            who = next((row[f] for f in people if row.get(f)), None)
            if who:
                label += f" by {model.actor_name(who)}"
            if row.get("event_id"):
                label += f" on {row['event_id']}"
            if kind == EXCLUDED:
                label += f": {row.get('reason') or ''}"
            found.append((row_id, kind, label, row))
    return found


def _passages(model: Model, source_id: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(row_id, kind, label, row) for every row quoting the source."""
    return [(row_id, kind, label, row) for row_id, kind, label, row in passage_rows(model)
            if row.get("source_id") == source_id]


def _offset_rows(model: Model) -> set[int]:
    """ids of the rows (of resources with offset fields) whose passage is placed by quote_start/quote_end."""
    from nkru.offsets import offset_resources

    return {id(row) for name in offset_resources(model.package) for row in model.tables.get(name, [])}


def view(model: Model, source: dict[str, Any], folded: FoldedText | None,
         sentence_coverage: SourceCoverage | None) -> SourceView:
    source_id = source.get("source_id") or ""
    if folded is None:
        problem = sentence_coverage.problem if sentence_coverage else None
        return SourceView(source, [], [], sentence_coverage, missing_text=f"The archived text cannot be read ({problem or 'no text'}).")
    nfc = folded.nfc
    kinds: list[str | None] = [None] * len(nfc)
    ids: list[list[str]] = [[] for _ in nfc]
    anchors: dict[int, list[str]] = {}
    if sentence_coverage is not None:
        for sentence, status in zip(sentence_coverage.units, sentence_coverage.statuses):
            if status == SENTENCE_UNCOVERED and sentence.end > sentence.start:
                start, end = nfc_range(folded, sentence.start, sentence.end)
                for index in range(start, end):
                    kinds[index] = UNCOVERED
    passages = []
    excerpts = []
    placed = _offset_rows(model)
    sentences = [nfc_range(folded, x.start, x.end) for x in sentence_coverage.units] if sentence_coverage else []
    for row_id, kind, label, row in _passages(model, source_id):
        spans = quote_span(row, folded, id(row) in placed)
        passages.append(Passage(row_id, kind, label, bool(spans)))
        if spans and kind == QUOTED:
            first, last = _original_range(folded, spans[0].start, spans[-1].end)
            excerpts.append(_excerpt(nfc, first, last, sentences, row_id, label))
        for number, span in enumerate(spans):
            start, end = _original_range(folded, span.start, span.end)
            if number == 0:
                anchors.setdefault(start, []).append(row_id)
            for index in range(start, end):
                if kind == QUOTED or kinds[index] != QUOTED:
                    kinds[index] = kind  # a quote wins over an exclusion where both overlap
                if row_id not in ids[index]:
                    ids[index].append(row_id)
    segments: list[Segment] = []
    for index, char in enumerate(nfc):
        key = (kinds[index], tuple(ids[index]))
        if not segments or index in anchors or (segments[-1].kind, tuple(segments[-1].ids)) != key:
            segments.append(Segment("", kinds[index], list(ids[index]), anchors.get(index, [])))
        segments[-1].text += char
    visible = [i for i, c in enumerate(nfc) if not c.isspace()]
    total = len(visible) or 1
    quoted = sum(1 for i in visible if kinds[i] == QUOTED)
    excluded = sum(1 for i in visible if kinds[i] == EXCLUDED)
    return SourceView(source, segments, passages, sentence_coverage,
                      round(100 * quoted / total, 1), round(100 * excluded / total, 1), excerpts=excerpts)


def _excerpt(nfc: str, start: int, end: int, sentences: list[tuple[int, int]], row_id: str, label: str) -> Excerpt:
    """The quote nfc[start:end] and its context: the rest of the sentences it overlaps, but never more than CONTEXT
    characters each side (without sentences: up to CONTEXT characters, cut at a space)."""
    touching = [(a, b) for a, b in sentences if a < end and b > start]
    sentence_left = min(a for a, _ in touching) if touching else None
    sentence_right = max(b for _, b in touching) if touching else None
    left = max(sentence_left if sentence_left is not None else 0, start - CONTEXT)
    right = min(sentence_right if sentence_right is not None else len(nfc), end + CONTEXT)
    if left != sentence_left and left > 0:
        space = nfc.find(" ", left, start)
        left = space + 1 if space != -1 else start
    if right != sentence_right and right < len(nfc):
        space = nfc.rfind(" ", end, right)
        right = space if space != -1 else end
    before, after = nfc[left:start], nfc[end:right]
    return Excerpt(row_id, label,
                   " ".join(before.split()) + (" " if before[-1:].isspace() else ""),
                   " ".join(nfc[start:end].split()),
                   (" " if after[:1].isspace() else "") + " ".join(after.split()),
                   cut_before=left > 0 and left != sentence_left, cut_after=right < len(nfc) and right != sentence_right)


def views(model: Model) -> list[SourceView]:
    texts = read_texts(model.package)
    by_source = {c.source_id: c for c in package_coverage(model.package, texts)}
    return [view(model, source, texts.get(source.get("source_id") or ""), by_source.get(source.get("source_id") or ""))
            for source in model.sources]
