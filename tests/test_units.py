"""Units: each text's sentences as data (data/units.csv). The splitter only proposes them; validation reads
them, checks that they tile their text and judges coverage from them with no splitter imported."""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata

import pytest

from nkru import api
from nkru import coverage as cov
from nkru import units
from nkru.package import Package
from nkru.text import FoldedText, fold
from tests.helpers import REPO, line_of, read_table, run_cli, write_table

REAL = Package.open(REPO)
SOURCE_IDS = REAL.table("sources").column("source_id")


def _units_of(package_path, source_id):
    _, rows = read_table(package_path, "units")
    return [(r["unit_id"], int(r["start"]), int(r["end"])) for r in rows if r["source_id"] == source_id]


# -- the migration: units are the sentences pysbd gave before ---------------------------------------------


@pytest.mark.migration
@pytest.mark.parametrize("source_id", SOURCE_IDS)
def test_migration_units_are_the_pysbd_sentences_of_each_source(source_id):
    """The five sources' units are exactly the sentences the splitter gives (pysbd, run here in the test)."""
    language = dict(zip(SOURCE_IDS, REAL.table("sources").column("language")))[source_id]
    text = REAL.source_text(source_id)
    proposed = units.propose_units(text, language)
    rows = _units_of(REPO, source_id)
    assert [(start, end) for _, start, end in sorted(rows, key=lambda r: r[1])] == proposed
    assert len(proposed) > 5
    for start, end in proposed:
        assert text[start:end] == text[start:end].strip() and units.is_sentence(text[start:end])


@pytest.mark.migration
def test_migration_coverage_figures_per_source_are_unchanged():
    """Judged from the units, every source has the figures it had when judged from pysbd's sentences: the
    sentences are computed here and classified against the same quote places."""
    texts = cov.read_texts(REAL)
    places = cov.place_quotes(REAL, texts)
    quotes, exclusions = places.quotes, places.exclusions
    languages = dict(zip(SOURCE_IDS, REAL.table("sources").column("language")))
    compared = 0
    for source in cov.package_coverage(REAL, texts, places):
        spans = units.propose_units(texts[source.source_id].original, languages[source.source_id])
        own = lambda frame: [(a, b) for s, a, b in frame.rows() if s == source.source_id]  # noqa: E731
        before = cov.source_coverage(source.source_id, texts[source.source_id], [("", a, b) for a, b in spans],
                                     own(quotes), own(exclusions))
        assert (source.total, source.covered, source.excluded, source.uncovered) == (
            before.total, before.covered, before.excluded, before.uncovered)
        assert source.percent == before.percent == 100
        compared += 1
    assert compared == len(SOURCE_IDS) == 5


# -- validation imports no splitter -----------------------------------------------------------------------


@pytest.mark.slow  # a fresh interpreter imports everything validate needs
def test_validate_does_not_import_the_splitter(tmp_path):
    """In a fresh interpreter, validating the package (every layer) and measuring coverage never import pysbd."""
    script = (
        "import sys, json\n"
        "from nkru import api\n"
        f"report = api.validate_package({str(REPO)!r})\n"
        f"coverage = api.coverage({str(REPO)!r})\n"
        "print(json.dumps({'valid': report.valid, 'checks': report.checks, 'coverage': coverage.passed,\n"
        "                  'layers': [l.layer for l in report.layers],\n"
        "                  'splitters': sorted(m for m in sys.modules if m.split('.')[0] == 'pysbd')}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["valid"] and result["coverage"] and result["checks"] > 0
    assert "coverage" in result["layers"]
    assert result["splitters"] == []


# -- tiling: each broken in a copy, one finding each ----------------------------------------------------


def _edit_unit(package_path, unit_id, **cells):
    header, rows = read_table(package_path, "units")
    index = next(i for i, r in enumerate(rows) if r["unit_id"] == unit_id)
    rows[index].update({k: str(v) for k, v in cells.items()})
    write_table(package_path, "units", header, rows)
    return line_of(package_path, "units", index)


def _findings(package_path, code):
    report = api.validate_package(package_path, only=["coverage"])
    (layer,) = report.layers
    assert layer.checks > 0
    return report, [f for f in layer.findings if f.code == code]


def test_a_gap_holding_a_word_is_reported_at_its_text_line(package_copy):
    header, rows = read_table(package_copy, "units")
    index = next(i for i, r in enumerate(rows) if r["unit_id"] == "U005")
    gone = rows.pop(index)
    write_table(package_copy, "units", header, rows)
    text = (package_copy / "data/sources/S001.txt").read_text(encoding="utf-8")
    report, (gap,) = _findings(package_copy, "unit-gap")
    assert not report.valid
    assert (gap.resource, gap.path, gap.row_id) == ("units", "data/sources/S001.txt", "S001")
    assert gap.line == text.count("\n", 0, int(gone["start"])) + 1
    assert gap.value == fold(text[int(gone["start"]):int(gone["end"])])
    assert "between U004 and U006" in gap.message


def test_a_text_without_units_is_one_gap(package_copy):
    header, rows = read_table(package_copy, "units")
    write_table(package_copy, "units", header, [r for r in rows if r["source_id"] != "S002"])
    _, (gap,) = _findings(package_copy, "unit-gap")
    assert gap.row_id == "S002" and gap.line == 1 and "the text has no units" in gap.message


def test_whitespace_and_punctuation_between_units_are_no_gap(package_copy):
    """Shrinking a unit to drop its final full stop leaves a gap of "." only: allowed (no word character)."""
    (unit_id, start, end) = _units_of(package_copy, "S001")[1]
    text = (package_copy / "data/sources/S001.txt").read_text(encoding="utf-8")
    assert text[end - 1] == "."
    _edit_unit(package_copy, unit_id, end=end - 1)
    report, gaps = _findings(package_copy, "unit-gap")
    assert gaps == [] and report.valid


def test_overlapping_units_are_reported_on_the_units_line(package_copy):
    (_, _, first_end), (second, second_start, second_end) = _units_of(package_copy, "S003")[2:4]
    line = _edit_unit(package_copy, second, start=first_end - 3)
    _, (overlap,) = _findings(package_copy, "unit-overlap")
    assert (overlap.resource, overlap.path, overlap.line, overlap.row_id, overlap.field) == (
        "units", "data/units.csv", line, second, "start")
    assert str(first_end) in overlap.message


@pytest.mark.parametrize(("cells", "code", "field"), [
    ({"end": 10**6}, "unit-out-of-range", "end"),
    ({"start": 30, "end": 30}, "unit-offsets-order", "start"),
    ({"start": 40, "end": 12}, "unit-offsets-order", "start"),
])
def test_a_unit_outside_its_text_or_reversed_is_reported(package_copy, cells, code, field):
    unit_id = _units_of(package_copy, "S004")[-1][0]
    line = _edit_unit(package_copy, unit_id, **cells)
    report, (found,) = _findings(package_copy, code)
    assert (found.resource, found.line, found.row_id, found.field) == ("units", line, unit_id, field)
    assert not report.valid


def test_a_package_without_units_says_coverage_was_not_checked(package_copy):
    descriptor = json.loads((package_copy / "datapackage.json").read_text(encoding="utf-8"))
    descriptor["resources"] = [r for r in descriptor["resources"] if r["name"] != "units"]
    (package_copy / "datapackage.json").write_text(json.dumps(descriptor), encoding="utf-8")
    _, (found,) = _findings(package_copy, "units-missing")
    assert found.severity == "warning" and "units" in found.message
    result = run_cli("coverage", str(package_copy))
    assert result.exit_code == 1 and "units" in result.stdout


def test_a_corrected_split_is_judged_as_given(package_copy):
    """A curator merges two units (a wrong split): one unit, covered as before; coverage follows the data."""
    (first, start, _), (second, _, end) = _units_of(package_copy, "S005")[:2]
    header, rows = read_table(package_copy, "units")
    rows = [r for r in rows if r["unit_id"] != second]
    for r in rows:
        if r["unit_id"] == first:
            r["end"] = str(end)
    write_table(package_copy, "units", header, rows)
    report = cov.coverage_report(Package.open(package_copy))
    (s005,) = [s for s in report.sources if s.source_id == "S005"]
    assert s005.total == len(_units_of(REPO, "S005")) - 1 and report.passed
    assert [u for u in s005.units if u.unit_id == first][0].end == end


# -- proposing units ------------------------------------------------------------------------------------

TEXT = (
    "Überschrift ohne Punkt\n"
    "Erster Satz des Absatzes. Zweiter Satz folgt hier!\n"
    "\n"
    "-\n"
    "+++\n"
    "Zwischentitel\n"
    "Ein  Satz   mit\tLeerraum.\n"
)


def test_proposed_units_keep_headings_apart_and_skip_segments_without_letters():
    spans = units.propose_units(TEXT)
    assert [fold(TEXT[a:b]) for a, b in spans] == ["Überschrift ohne Punkt", "Erster Satz des Absatzes.",
                                                   "Zweiter Satz folgt hier!", "Zwischentitel", "Ein Satz mit Leerraum."]
    assert [TEXT.count("\n", 0, a) + 1 for a, _ in spans] == [1, 2, 2, 6, 7]


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_proposed_offsets_count_code_points_of_the_text_as_given(form):
    text = unicodedata.normalize(form, "Grüße aus Pjöngjang.\r\nDie Größe zählt.  Köln folgt.\n")
    spans = units.propose_units(text)
    assert [unicodedata.normalize("NFC", text[a:b]) for a, b in spans] == [
        "Grüße aus Pjöngjang.", "Die Größe zählt.", "Köln folgt."]
    assert spans[-1][1] == len(text) - 1


@pytest.mark.parametrize(("tag", "language"), [("de", "de"), ("de-CH", "de"), ("en-GB", "en"), ("xx", "de"), (None, "de")])
def test_segmenter_language_follows_the_source_language(tag, language):
    assert units.segment_language(tag) == language


def test_a_real_heading_without_a_blank_line_is_its_own_unit():
    text = REAL.source_text("S003")
    found = [u for u in _units_of(REPO, "S003") if text[u[1]:u[2]] == "Verteidigungskooperation zwischen Moskau und Pjöngjang"]
    assert len(found) == 1 and text.count("\n", 0, found[0][1]) + 1 == 13


def test_next_unit_ids_pass_every_unit_and_every_retracted_id(package_copy):
    header, rows = read_table(package_copy, "retractions")
    rows.append({"id": "U999", "retracted_in": "1.1.0", "reason": "test: a re-split", "replaced_by": ""})
    write_table(package_copy, "retractions", header, rows)
    assert units.next_unit_ids(Package.open(REPO), 2) == ["U116", "U117"]
    assert units.next_unit_ids(Package.open(package_copy), 2) == ["U1000", "U1001"]


def test_a_long_line_is_split_as_a_whole_would_be():
    """Windows over a long line (pysbd is quadratic in a line's length) give the sentences of the whole line."""
    sentence = "Am 22. März sagte der Sprecher, die Lieferung sei am 3. April eingetroffen. "
    line = sentence * (3 * units.WINDOW // len(sentence))
    spans = units.propose_units(line)
    assert len(spans) == line.count("eingetroffen.") > 60
    assert all(line[a:b] == sentence.strip() for a, b in spans)
