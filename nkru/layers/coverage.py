"""Coverage layer (provenance): source texts exist and match their hashes, every quote is in its
source at its offsets (`quote_start`, `quote_end`; searched for where a row has none), the units
(`data/units.csv`) tile each text, and every unit is covered by a quote or an exclusion, placed by
those offsets.

Quote-bearing resources are found from the schemas (a `quote` and a
`source_id` field), not from a list written here. Units are data: no sentence
splitter runs here (nor is one imported); tiling and coverage are judged
column-wise by `nkru.units.tiling` and `nkru.coverage.statuses` (a join). A
source below the threshold (`[tool.nkru] coverage-threshold` in
pyproject.toml, default 100, or `Options.coverage_threshold`) fails, with one
finding per uncovered unit at its line in the text file.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterator

from nkru import coverage as sentence_coverage
from nkru.coverage import quote_resources
from nkru.findings import Finding, LayerResult, define, near_miss_hint
from nkru.units import UNITS
from nkru.package import DESCRIPTOR, SOURCES, Package, texts_excluded
from nkru.options import Options
from nkru.text import FoldedText, SourceTexts, fold

NAME = "coverage"

define("source-text-missing", NAME, "{resource} line {line}: source {row_id} {field} {value!r}: no such file",
       description="A source's text_path does not point to a readable file.")
define("source-text-unsafe", NAME, "{resource} line {line}: source {row_id} text_path {value!r} is not allowed: {detail}",
       description="A source's text_path leaves the package or is hidden.")
define("source-text-hash", NAME, "{resource} line {line}: source {row_id} text {text_path} has SHA-256 {actual}, but text_sha256 says {value}",
       description="The archived text was edited after it was archived (or the recorded hash is wrong).",
       hint="an archived text is never edited: restore it (`git checkout -- {text_path}`); a new text is a new source (`nkru add-source`)")
define("source-text-encoding", NAME, "{resource} line {line}: source {row_id} text {value} is not UTF-8",
       description="A source text cannot be decoded as UTF-8.")
define("sources-unreadable", NAME, "{detail}; no quote or sentence coverage can be checked",
       description="The sources table is missing or cannot be read, so no source text can be checked.")
define("source-text-unreadable", NAME, "{resource} line {line}: source {row_id} text {value!r} cannot be read: {detail}",
       description="A source text file exists but cannot be read (permissions, I/O error).")
define("quote-not-in-source", NAME,
       "{resource} line {line}: {row_id} quote not found in {source_id} ({value!r}); closest passage ({score}% alike, text line {text_line}): {closest!r}",
       description="A quote does not occur in its source text after NFC and whitespace folding.", hint=near_miss_hint)
define("quote-offsets-order", NAME, "{resource} line {line}: {row_id} quote_start {value} is not before quote_end {end}",
       description="A quote's offsets are empty or reversed (quote_end is exclusive, so it must be greater than quote_start).")
define("quote-offsets-out-of-range", NAME,
       "{resource} line {line}: {row_id} quote_end {value} lies past the end of {source_id}, whose text has {length} code points",
       description="A quote's offsets point past the end of its source text (Unicode code points of the file decoded as UTF-8).")
define("quote-offsets-mismatch", NAME,
       "{resource} line {line}: {row_id} the text of {source_id} at quote_start {start} to quote_end {end} (text line {text_line}) "
       "is not the quote: {detail}; the quote occurs at {places}",
       description="The passage of the source text at a quote's offsets is not the quote (after NFC and whitespace folding), "
                   "or starts or ends with whitespace. `nkru offsets` fills offsets for rows that lack them.",
       hint="if the quote is right, empty quote_start and quote_end and run `nkru offsets`; if the offsets are right, copy the quote from the text there")
define("quote-source-unknown", NAME, "{resource} line {line}: {row_id} quotes source {value!r}, which has no readable text",
       description="A quote's source has no text to check it against.")

define("uncovered-sentence", NAME,
       "source {row_id} text line {line}: unit {unit_id} (offsets {start}-{end}) covered by no quote or exclusion: {value!r}",
       description="A unit (sentence) of a source text, a row of units, overlaps no claim or denial quote and no exclusion "
                   "(an error while the source is below the coverage threshold, a warning otherwise).",
       hint="add it to the coding sheet: `nkru code {row_id}`, mark it, then `nkru code {row_id} --apply coding/{row_id}.csv`")
define("unit-gap", NAME,
       "source {row_id} text line {line}: offsets {start}-{end} ({between}) hold {value!r}, which no unit covers; "
       "add a unit for it to data/units.csv or widen a neighbour",
       description="Text between two units of a source, or before its first or after its last, holds a word character "
                   "(regex \\w): the units do not tile the text, so part of it could go uncurated unseen.")
define("unit-overlap", NAME,
       "{resource} line {line}: {row_id} ({source_id} offsets {start}-{end}) overlaps {other_id} ({other_start}-{other_end}); "
       "units of one text must not overlap",
       description="Two units of one source text share a code point.")
define("unit-out-of-range", NAME,
       "{resource} line {line}: {row_id} end {value} lies past the end of {source_id}, whose text has {length} code points",
       description="A unit's end lies past the end of its source text (Unicode code points of the file decoded as UTF-8).")
define("unit-offsets-order", NAME, "{resource} line {line}: {row_id} start {value} is not before end {end}",
       description="A unit's start is not before its end (end is exclusive, so a unit holds at least one code point).")
define("units-missing", NAME, "{detail}; sentence coverage not checked", severity="warning",
       description="The package declares no units resource, so sentence coverage cannot be judged.")
define("coverage-below-threshold", NAME,
       "{resource} line {line}: source {row_id} has {covered} of {sentences} sentences covered or excluded "
       "({value}%), below the threshold of {threshold}%; {uncovered} uncovered",
       description="A source text's sentence coverage is below the threshold ([tool.nkru] coverage-threshold).",
       hint="`nkru code {row_id}` writes a coding sheet of its uncovered sentences")
define("coverage-threshold-invalid", NAME, "invalid coverage threshold: {detail}; using {threshold}%",
       description="The configured coverage threshold is not a number from 0 to 100.")


define("texts-not-included", NAME,
       "the article texts are not in this open release ({missing} of {total} missing: {sources}), so the checks that "
       "need them did not run: {checks}. Pass --texts DIR (the files of data/sources/ in the repository; matched by "
       "the SHA-256 in sources.csv) to run them", severity="warning",
       description="An open release (datapackage.json says texts are excluded) is validated without its article texts.")

#: The checks that read the article texts (said once when an open release is validated without them).
TEXT_CHECKS = "text SHA-256, quotes found in their source, quote offsets, units tiling their texts, sentence coverage"


def columns_read(package: Package) -> dict[str, set[str]]:
    """Every column of the sources table (a small one, read as rows); source, quote and offsets of
    the resources with quotes."""
    from nkru.offsets import END, START

    sources = package.table(SOURCES) if SOURCES in package.resources else None
    read = {SOURCES: set(sources.header)} if sources is not None else {}
    for name in quote_resources(package):
        read.setdefault(name, set()).update({"source_id", "quote", START, END})
    if UNITS in package.resources:
        from nkru.units import FIELDS

        read.setdefault(UNITS, set()).update(FIELDS)
    return read


def check(package: Package, options: Options | None = None) -> LayerResult:
    result = LayerResult(NAME)
    result.checks += 1
    if SOURCES in package.reported and package.checkable(SOURCES) is None:
        return result  # the structure layer reports the unreadable sources table, once
    problem = sentence_coverage.sources_problem(package)
    if problem is not None:
        spec = package.resources.get(SOURCES)
        result.findings.append(Finding.make("sources-unreadable", resource=SOURCES,
                                            path=(spec.path if spec else None) or DESCRIPTOR, detail=problem))
        return result
    if texts_excluded(package.descriptor):
        paths = package.source_paths()
        missing = sorted(source_id for source_id, path in paths.items() if package.read_source(path).kind == "missing")
        if missing:
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            result.findings.append(Finding.make("texts-not-included", resource=SOURCES, path=package.resources[SOURCES].path,
                                                missing=len(missing), total=len(paths), sources=shown, checks=TEXT_CHECKS))
            return result
    texts = _check_sources(package, result)
    places = _check_quotes(package, texts, result)
    _check_sentences(package, texts, places, options, result)
    return result


#: The cells a quote is placed by: a row with one of them rejected by the structure layer is not judged here.
QUOTE_CELLS = ("source_id", "quote", "quote_start", "quote_end")
#: The cells of the sources table a text is checked and split by.
SOURCE_CELLS = ("source_id", "text_path", "text_sha256", "language")


def _left_to_structure(package: Package) -> tuple[dict[str, set[int]], set[str] | None]:
    """The rows this layer leaves to a structure finding (`Package.rejected_rows`): per quote resource, the
    rows with a rejected placing cell; and the sources whose sentences are then not judged (None: all of
    them, when a rejected row's source is not known)."""
    rows = {name: package.rejected_rows(name, QUOTE_CELLS) for name in quote_resources(package)}
    sources: set[str] | None = set()
    for name, indices in rows.items():
        if not indices:
            continue
        if package.rejected_rows(name, ["source_id"]) & indices:
            return rows, None
        table = package.checkable(name)
        column = table.column("source_id") if table is not None else []
        sources.update(column[i] for i in indices if i < len(column))
    if package.rejected_rows(SOURCES, ["source_id"]):
        return rows, None
    return rows, sources


def _threshold(package: Package, options: Options | None, result: LayerResult) -> float:
    override = options.coverage_threshold if options is not None else None
    try:
        return sentence_coverage.threshold_for(package, override)
    except sentence_coverage.ThresholdError as exc:
        fallback = sentence_coverage.DEFAULT_THRESHOLD
        where = None if override is not None else sentence_coverage.PYPROJECT
        result.findings.append(Finding.make("coverage-threshold-invalid", path=where, field=sentence_coverage.THRESHOLD_KEY,
                                            value=override, detail=str(exc), threshold=f"{fallback:g}"))
        return fallback


def _check_sentences(package: Package, texts: SourceTexts, places: sentence_coverage.QuotePlaces,
                     options: Options | None, result: LayerResult) -> None:
    """The units tile every readable source text, and every unit is covered by a quote or an exclusion."""
    import polars as pl

    from nkru import units as units_module
    from nkru.offsets import line_of_offset

    if any(name in package.unreadable for name in quote_resources(package)):
        return  # a quote table the structure layer could not read covers nothing: its units are not judged
    _, unjudged = _left_to_structure(package)
    if unjudged is None:
        return  # a quote row the structure layer rejected may belong to any source
    threshold = _threshold(package, options, result)
    if UNITS not in package.resources:
        result.findings.append(Finding.make("units-missing", path=DESCRIPTOR, detail=sentence_coverage.units_problem(package)))
        return
    table = package.checkable(UNITS)
    if table is None:
        return  # an unreadable units table (or one with a wrong header): the structure layer reports it
    # A units row with a cell the structure layer rejected (a malformed ID, an offset that is not a
    # non-negative integer, an unknown source) is that finding's: the tiling and coverage of its source
    # are not judged (a gap or an overlap it leaves is the same mistake), of every source when the rejected
    # cell is the one naming it.
    rejected_units = package.rejected_rows(UNITS, units_module.FIELDS)
    if rejected_units:
        if rejected_units & package.rejected_rows(UNITS, [units_module.SOURCE_ID]):
            return
        column = table.column(units_module.SOURCE_ID)
        unjudged = unjudged | {column[i] for i in rejected_units if i < len(column)}
    judged = sentence_coverage.judge(package, texts, places)
    if judged is None:
        return
    good, bad, gaps = judged
    bad = bad.filter(~pl.col("source_id").is_in(sorted(unjudged)))
    gaps = gaps.filter(~pl.col("source_id").is_in(sorted(unjudged)))
    sources = package.table(SOURCES)
    paths = dict(zip(sources.column("source_id"), sources.column("text_path")))
    result.checks += good.height + bad.height + 1
    for i, unit_id, source_id, start, end, length, code, other_id, other_start, other_end in bad.select(
            "i", "unit_id", "source_id", "start", "end", "_length", "code", "other_id", "other_start", "other_end").iter_rows():
        where = dict(resource=UNITS, path=table.path, line=table.lines[i], row_id=unit_id)
        if code == units_module.ORDER:
            result.findings.append(Finding.make(code, **where, field="start", value=start, end=end))
        elif code == units_module.OUT_OF_RANGE:
            result.findings.append(Finding.make(code, **where, field="end", value=end, source_id=source_id, length=length))
        else:
            result.findings.append(Finding.make(code, **where, field="start", value=start, source_id=source_id, start=start,
                                                end=end, other_id=other_id, other_start=other_start, other_end=other_end))
    for source_id, gap_start, gap_end, before_id, after_id in gaps.iter_rows():
        text = texts[source_id].original
        stretch = text[gap_start:gap_end]
        first_word = gap_start + next((k for k, c in enumerate(stretch) if c.isalnum() or c == "_"), 0)
        between = (f"between {before_id} and {after_id}" if before_id and after_id else f"before {after_id}" if after_id
                   else f"after {before_id}" if before_id else "the text has no units")
        result.findings.append(Finding.make("unit-gap", resource=UNITS, path=paths.get(source_id),
                                            line=line_of_offset(text, first_word), row_id=source_id,
                                            value=" ".join(stretch.split()), start=gap_start, end=gap_end, between=between))
    # A unit a wrong quote was meant to cover is that quote's finding (its `also_at`), not another one.
    accounted = {where for finding in result.findings for where in finding.also_at}
    uncovered = []
    for unit_id, source_id, start, end in good.filter(pl.col("status") == sentence_coverage.UNCOVERED) \
            .sort("source_id", "start").select("unit_id", "source_id", "start", "end").iter_rows():
        if source_id in unjudged:
            continue  # a quote of it is rejected by the structure layer: what it covers is not known
        text = texts[source_id].original
        line = line_of_offset(text, start)
        if f"{paths.get(source_id)}:{line}" not in accounted:
            uncovered.append((unit_id, source_id, start, end, line))
    left = {source_id for _, source_id, *_ in uncovered}
    # Counted only for the sources with an uncovered unit (the others pass): not a group_by of every unit.
    counts = good.filter(pl.col("source_id").is_in(sorted(left))).group_by("source_id").agg(
        pl.len().alias("total"), (pl.col("status") != sentence_coverage.UNCOVERED).sum().alias("counted"))
    counted = {row[0]: row[1:] for row in counts.iter_rows()}
    failing = set()
    for index, source_id in enumerate(sources.column("source_id")):
        if source_id not in texts or source_id in unjudged or source_id not in left:
            continue  # a missing or unreadable text is reported by _check_sources; every unit covered passes
        total, done = counted.get(source_id, (0, 0))
        share = sentence_coverage.percent(done, total)
        if share >= threshold:
            continue
        failing.add(source_id)
        result.findings.append(Finding.make(
            "coverage-below-threshold", resource=SOURCES, path=sources.path, line=sources.lines[index],
            row_id=source_id, field="text_path", value=f"{sentence_coverage.rounded_down(share):g}",
            covered=done, sentences=total, uncovered=total - done, threshold=f"{threshold:g}"))
    for unit_id, source_id, start, end, line in uncovered:
        text = texts[source_id].original
        result.findings.append(Finding.make("uncovered-sentence", resource=SOURCES, path=paths.get(source_id),
                                            line=line, row_id=source_id, value=fold(text[start:end]),
                                            unit_id=unit_id, start=start, end=end,
                                            severity="error" if source_id in failing else "warning"))


def _check_sources(package: Package, result: LayerResult) -> SourceTexts:
    """Check every source text; return the readable ones by source_id, held column-wise (`SourceTexts`:
    a text is folded only when a check needs it)."""
    return SourceTexts.collect(_readable_texts(package, result))


def _readable_texts(package: Package, result: LayerResult) -> Iterator[tuple[str, str]]:
    """Check every source text, one file at a time (its bytes are let go before the next is read), and
    yield (source_id, text) for the readable ones."""
    table = package.table(SOURCES)
    if table is None:
        return
    rejected = package.rejected_rows(SOURCES, SOURCE_CELLS)
    # Three columns, not `table.rows` (every cell of every source as a dict: 0.1 GB at 60,000 sources).
    cells = table.select(["source_id", "text_path", "text_sha256"]).iter_rows()
    for index, (source_id, text_path, expected) in enumerate(cells):
        if index in rejected:
            continue  # a cell it is checked by is reported by the structure layer
        where = dict(resource=SOURCES, path=table.path, line=table.lines[index], row_id=source_id)
        result.checks += 1
        source = package.read_source(text_path)
        if source.kind == "unsafe":
            result.findings.append(Finding.make("source-text-unsafe", field="text_path", value=text_path,
                                                detail=source.detail, **where))
            continue
        if source.kind == "missing":
            result.findings.append(Finding.make("source-text-missing", field="text_path", value=text_path, **where))
            continue
        if source.data is None:
            result.findings.append(Finding.make("source-text-unreadable", field="text_path", value=text_path,
                                                detail=source.detail, **where))
            continue
        actual = hashlib.sha256(source.data).hexdigest()
        result.checks += 1
        if actual != expected and source.text is not None:  # a text saved in another encoding: that finding says it
            result.findings.append(Finding.make("source-text-hash", field="text_sha256", value=expected, actual=actual,
                                                text_path=text_path, **where))
        if source.text is None:
            result.findings.append(Finding.make("source-text-encoding", field="text_path", value=text_path, **where))
        else:
            yield source_id, source.text


def _check_offsets(row: dict[str, str], text: FoldedText, place: tuple[int, int], where: dict[str, Any],
                   result: LayerResult, text_path: str | None = None) -> None:
    """The passage at a row's offsets is its quote."""
    from nkru import offsets

    start, end = place
    quote = row.get("quote", "")
    problem = offsets.slice_problem(text.original, quote, start, end)
    if problem is None:
        return
    code, detail = problem
    source_id = row.get("source_id", "")
    # The sentence the offsets were meant to place the quote in is then left uncovered: this finding's too.
    text_line = offsets.line_of_offset(text.original, start) if 0 <= start <= len(text.original) else None
    also = (f"{text_path}:{text_line}",) if text_path and text_line else ()
    if code == offsets.ORDER:
        result.findings.append(Finding.make(code, **{**where, "field": offsets.START}, value=start, end=end, also_at=also))
    elif code == offsets.OUT_OF_RANGE:
        result.findings.append(Finding.make(code, **{**where, "field": offsets.END}, value=end, source_id=source_id,
                                            length=len(text.original), also_at=also))
    else:
        found = offsets.candidates(text, quote)
        places = ", ".join(f"{s}-{e} (text line {offsets.line_of_offset(text.original, s)})" for s, e in found[:5])
        text_line = offsets.line_of_offset(text.original, start)
        # The sentence at the offsets is then left uncovered: the same mistake, shown there too (_check_sentences).
        also = (f"{text_path}:{text_line}",) if text_path and text_line else ()
        result.findings.append(Finding.make(code, **{**where, "field": offsets.START}, value=start, start=start, end=end,
                                            source_id=source_id, detail=detail, text_line=text_line, also_at=also,
                                            places=places or "no place (it is not in the text)"))


def _check_quotes(package: Package, texts: SourceTexts, result: LayerResult) -> sentence_coverage.QuotePlaces:
    """Every quote is in its source text: at its offsets where the resource has them, otherwise anywhere
    (each distinct (source, quote, offsets) checked once: `nkru.coverage.place_quotes`, whose places the
    sentence check then uses); only the rows with a problem are visited, found by a join."""
    import polars as pl

    places = sentence_coverage.place_quotes(package, texts)
    sources = package.table(SOURCES)
    texts_paths = dict(zip(sources.column("source_id"), sources.column("text_path"))) if sources is not None else {}
    rejected, _ = _left_to_structure(package)
    # A source the table lists (its text is judged by _check_sources), or any when a source's ID is itself
    # rejected: an unknown source is the structure layer's foreign-key finding.
    listed = set(texts_paths) if not package.rejected_rows(SOURCES, ["source_id"]) else None
    for check in places.checks:
        result.checks += check.rows + check.offsets_checked
        problems, columns = check.problems, check.columns
        if not problems:
            continue
        table = package.table(check.resource)
        bad = check.frame.join(pl.DataFrame(list(problems), schema={c: pl.String for c in columns}, orient="row"),
                               on=columns, how="semi").sort("i")
        closest: dict[tuple[str, str], tuple[str, float, int]] = {}
        for record in bad.iter_rows():
            index, cells = record[0], tuple(record[1:])
            if index in rejected.get(check.resource, ()):
                continue  # a cell it is placed by is reported by the structure layer
            row = dict(zip(columns, cells))
            source_id, quote = cells[0], cells[1]
            where = dict(resource=check.resource, path=table.path, line=table.lines[index], row_id=table.row_id(index),
                         field="quote")
            problem = problems[cells]
            if problem == sentence_coverage.UNKNOWN_SOURCE:
                if listed is None or source_id in listed:
                    continue  # the source's own text finding (or the structure layer's) says why
                result.findings.append(Finding.make("quote-source-unknown", **{**where, "field": "source_id"}, value=source_id))
            elif problem == sentence_coverage.NOT_FOUND:
                if (source_id, quote) not in closest:
                    closest[(source_id, quote)] = texts[source_id].closest(quote)
                passage, score, text_line = closest[(source_id, quote)]
                # The sentence the quote was meant to cover is then uncovered: the same mistake, shown there too.
                text_path = texts_paths.get(source_id)
                also = (f"{text_path}:{text_line}",) if text_path and text_line else ()
                result.findings.append(Finding.make("quote-not-in-source", value=quote, source_id=source_id,
                                                    closest=passage, score=score, text_line=text_line, also_at=also,
                                                    **where))
            else:
                _check_offsets(row, texts[source_id], problem, where, result, texts_paths.get(source_id))
    return places
