"""Sentence coverage from units: the library, the coverage layer's checks, and `nkru coverage` (tiling: tests/test_units.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import REPO, examples, line_of, read_table, run_cli, write_table
from nkru import api
from nkru import coverage as cov
from nkru import units as units_module
from nkru.package import Package
from nkru.text import FoldedText, Span

# -- the arithmetic, for any spans ----------------------------------------------------------------------


@st.composite
def layouts(draw):
    """Non-overlapping sentences in a text of length n, and quote and exclusion spans anywhere in it."""
    n = draw(st.integers(min_value=1, max_value=400))
    cuts = sorted(set(draw(st.lists(st.integers(min_value=0, max_value=n), max_size=30))) | {0, n})
    sentences = [Span(a, b) for a, b in zip(cuts, cuts[1:]) if b > a and draw(st.booleans())]
    span = st.tuples(st.integers(0, n), st.integers(0, n)).map(lambda t: Span(min(t), max(t)))
    return sentences, draw(st.lists(span, max_size=12)), draw(st.lists(span, max_size=12)), draw(span)


def counts(sentences, quotes, exclusions):
    statuses = cov.classify(sentences, quotes, exclusions)
    result = {status: statuses.count(status) for status in cov.STATUSES}
    result["percent"] = cov.percent(result["covered"] + result["excluded"], len(sentences))
    return result


@pytest.mark.slow
@given(layouts())
@settings(max_examples=300)
def test_every_sentence_is_counted_once_and_percent_is_a_percentage(layout):
    sentences, quotes, exclusions, _ = layout
    result = counts(sentences, quotes, exclusions)
    assert result["covered"] + result["excluded"] + result["uncovered"] == len(sentences)
    assert 0 <= result["percent"] <= 100
    if not result["uncovered"]:
        assert result["percent"] == 100


@pytest.mark.slow
@given(layouts())
@settings(max_examples=300)
def test_adding_a_quote_never_decreases_coverage(layout):
    sentences, quotes, exclusions, extra = layout
    before = counts(sentences, quotes, exclusions)
    with_quote = counts(sentences, quotes + [extra], exclusions)
    with_exclusion = counts(sentences, quotes, exclusions + [extra])
    assert with_quote["covered"] >= before["covered"]
    assert with_quote["percent"] >= before["percent"]
    assert with_exclusion["covered"] == before["covered"]
    assert with_exclusion["percent"] >= before["percent"]


@pytest.mark.slow
@given(layouts())
@settings(max_examples=300)
def test_classify_agrees_with_pairwise_overlap(layout):
    sentences, quotes, exclusions, _ = layout
    for sentence, status in zip(sentences, cov.classify(sentences, quotes, exclusions)):
        if any(sentence.overlaps(q) for q in quotes if q.end > q.start):
            assert status == cov.COVERED
        elif any(sentence.overlaps(x) for x in exclusions if x.end > x.start):
            assert status == cov.EXCLUDED
        else:
            assert status == cov.UNCOVERED


REAL = Package.open(REPO)
REAL_TEXT = FoldedText(REAL.source_text("S001"))
REAL_UNITS = [(u, int(a), int(b)) for u, source, a, b in REAL.table("units").select(["unit_id", "source_id", "start", "end"]).rows()
              if source == "S001"]


@given(st.lists(st.tuples(st.integers(0, len(REAL_TEXT.text)), st.integers(1, 80)), max_size=8))
@settings(max_examples=examples(100), deadline=None)
def test_quotes_cut_from_a_real_text_only_ever_add_coverage(cuts):
    previous = -1.0
    quotes: list[Span] = []
    for start, length in cuts:
        quotes.extend(Span(*REAL_TEXT.original_range(span)) for span in REAL_TEXT.find_all(REAL_TEXT.text[start : start + length]))
        result = cov.source_coverage("S001", REAL_TEXT, REAL_UNITS, quotes, [])
        assert result.covered + result.excluded + result.uncovered == result.total > 0
        assert result.percent >= previous
        previous = result.percent


def test_no_sentences_is_full_coverage():
    assert cov.percent(0, 0) == 100


@pytest.mark.parametrize(("value", "shown"), [(99.96, 99.9), (100.0, 100.0), (100 * 2 / 3, 66.6), (28.000000000000004, 28.0)])
def test_percentages_are_rounded_down(value, shown):
    assert cov.rounded_down(value) == shown


# -- the real package -------------------------------------------------------------------------------------


def test_real_package_is_fully_covered():
    report = cov.coverage_report(Package.open(REPO))
    assert report.threshold == 100
    assert len(report.sources) == 5 and all(s.total > 0 for s in report.sources)
    uncovered = {s.source_id: [(x.line, x.text) for x in s.uncovered_sentences()] for s in report.sources}
    assert report.passed, uncovered


def test_real_package_passes_the_coverage_layer():
    report = api.validate_package(REPO, only=["coverage"])
    (layer,) = report.layers
    assert [f.message for f in layer.findings] == []
    sentences = sum(s.total for s in cov.package_coverage(Package.open(REPO)))
    assert layer.checks > sentences > 0


# -- broken copies --------------------------------------------------------------------------------------


def uncover(package_path, source_id="S001", nth=1):
    """Remove every quote and exclusion overlapping the nth unit of a source (by start); returns that unit."""
    package = Package.open(package_path)
    text = FoldedText(package.source_text(source_id))
    _, units = read_table(package_path, "units")
    row = sorted((u for u in units if u["source_id"] == source_id), key=lambda u: int(u["start"]))[nth]
    unit = cov.unit_of(text, row["unit_id"], int(row["start"]), int(row["end"]))
    removed = 0
    for resource in cov.quote_resources(package):
        header, rows = read_table(package_path, resource)
        kept = [r for r in rows if not (r["source_id"] == source_id
                                        and Span(int(r["quote_start"]), int(r["quote_end"])).overlaps(unit.span))]
        removed += len(rows) - len(kept)
        write_table(package_path, resource, header, kept)
    assert removed > 0
    return unit


def coverage_findings(package_path, **options):
    report = api.validate_package(package_path, only=["coverage"], options=api.Options(**options))
    return report, report.layers[0].findings


def test_an_uncovered_sentence_is_reported_at_its_text_line(package_copy):
    sentence = uncover(package_copy)
    report, findings = coverage_findings(package_copy)
    found = [f for f in findings if f.code == "uncovered-sentence" and f.value == sentence.text]
    assert len(found) == 1
    f = found[0]
    assert (f.resource, f.path, f.line, f.row_id, f.severity) == ("sources", "data/sources/S001.txt", sentence.line, "S001", "error")
    assert f"unit {sentence.unit_id} (offsets {sentence.start}-{sentence.end})" in f.message
    assert not report.valid


def test_a_source_below_the_threshold_gets_a_summary_at_its_sources_line(package_copy):
    from nkru.layers import coverage as coverage_layer

    uncover(package_copy)
    # The layer itself reports the summary; the report folds it into the uncovered sentence it follows from.
    findings = coverage_layer.check(api.open_package(package_copy), api.Options()).findings
    (summary,) = [f for f in findings if f.code == "coverage-below-threshold"]
    _, folded = coverage_findings(package_copy)
    assert [f.aliases for f in folded if f.code == "uncovered-sentence"] == [("coverage-below-threshold",)]
    assert (summary.resource, summary.path, summary.line, summary.row_id, summary.field) == (
        "sources", "data/sources.csv", line_of(package_copy, "sources", 0), "S001", "text_path")
    assert "threshold of 100%" in summary.message


def test_the_threshold_in_pyproject_toml_is_honoured(package_copy):
    sentence = uncover(package_copy)
    pyproject = package_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8").replace("coverage-threshold = 100", "coverage-threshold = 50"),
                         encoding="utf-8")
    assert cov.read_threshold(package_copy) == 50
    report, findings = coverage_findings(package_copy)
    assert report.valid
    assert {(f.code, f.severity) for f in findings} == {("uncovered-sentence", "warning")}
    assert sentence.text in [f.value for f in findings]


def test_options_override_the_pyproject_threshold(package_copy):
    uncover(package_copy)
    report, findings = coverage_findings(package_copy, coverage_threshold=0)
    assert report.valid and findings and {f.severity for f in findings} == {"warning"}


def test_without_pyproject_the_threshold_is_100(package_copy):
    uncover(package_copy)
    (package_copy / "pyproject.toml").unlink()
    assert cov.read_threshold(package_copy) == 100
    _, findings = coverage_findings(package_copy)
    assert [f for f in findings if "coverage-below-threshold" in (f.code, *f.aliases)]


@pytest.mark.parametrize("setting", ['"high"', "101", "-1", "true", "nan"])
def test_an_invalid_threshold_is_a_finding(package_copy, setting):
    pyproject = package_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8").replace("coverage-threshold = 100", f"coverage-threshold = {setting}"),
                         encoding="utf-8")
    with pytest.raises(cov.ThresholdError):
        cov.read_threshold(package_copy)
    _, findings = coverage_findings(package_copy)
    (found,) = [f for f in findings if f.code == "coverage-threshold-invalid"]
    assert found.path == "pyproject.toml" and "coverage-threshold" in found.message


def test_an_exclusion_alone_counts_as_excluded(package_copy):
    sentence = uncover(package_copy)
    start, end = sentence.start, sentence.end
    header, rows = read_table(package_copy, "exclusions")
    rows.append({**{h: "" for h in header}, "exclusion_id": "X999", "source_id": "S001", "quote": sentence.text,
                 "quote_start": str(start), "quote_end": str(end), "reason": "background"})
    write_table(package_copy, "exclusions", header, rows)
    (s001,) = [s for s in cov.package_coverage(Package.open(package_copy)) if s.source_id == "S001"]
    index = [x.unit_id for x in s001.units].index(sentence.unit_id)
    assert s001.statuses[index] == cov.EXCLUDED
    assert sentence not in s001.uncovered_sentences()


def test_a_missing_text_is_not_reported_twice(package_copy):
    (package_copy / "data" / "sources" / "S002.txt").unlink()
    _, findings = coverage_findings(package_copy)
    s002 = [f for f in findings if f.row_id == "S002" or (f.path or "").endswith("S002.txt")]
    assert [f.code for f in s002] == ["source-text-missing"]


# -- nkru coverage ------------------------------------------------------------------------------------------


def test_cli_text_output_on_the_real_package():
    result = run_cli("coverage", str(REPO))
    assert result.exit_code == 0, result.stdout + result.stderr
    for header in ("sentences", "covered", "excluded", "uncovered", "percent"):
        assert header in result.stdout
    for source in ("S001", "S002", "S003", "S004", "S005"):
        assert source in result.stdout
    assert "passed" in result.stdout


def test_cli_json_is_the_library_report():
    result = run_cli("coverage", str(REPO), "--format", "json")
    assert result.exit_code == 0
    expected = cov.coverage_report(Package.open(REPO)).to_dict()
    assert json.loads(result.stdout) == expected
    assert set(expected["sources"][0]) >= {"source_id", "sentences", "covered", "excluded", "uncovered", "percent",
                                           "uncovered_sentences"}


def test_cli_lists_uncovered_sentences_and_fails_below_the_threshold(package_copy):
    sentence = uncover(package_copy)
    result = run_cli("coverage", str(package_copy))
    assert result.exit_code == 1
    assert f"data/sources/S001.txt:{sentence.line}" in result.stdout
    assert sentence.text[:40] in result.stdout.replace("\n", " ")
    data = json.loads(run_cli("coverage", str(package_copy), "-f", "json").stdout)
    (s001,) = [s for s in data["sources"] if s["source_id"] == "S001"]
    assert {"unit_id": sentence.unit_id, "start": sentence.start, "end": sentence.end, "line": sentence.line,
            "text": sentence.text} in s001["uncovered_sentences"]
    assert s001["passed"] is False and data["passed"] is False
    assert s001["covered"] + s001["excluded"] + s001["uncovered"] == s001["sentences"]


def test_cli_threshold_option_overrides(package_copy):
    uncover(package_copy)
    assert run_cli("coverage", str(package_copy), "--threshold", "0").exit_code == 0
    assert run_cli("coverage", str(package_copy), "--threshold", "100").exit_code == 1


def test_cli_missing_text_fails(package_copy):
    (package_copy / "data" / "sources" / "S004.txt").unlink()
    result = run_cli("coverage", str(package_copy), "--threshold", "0")
    assert result.exit_code == 1 and "S004" in result.stdout and "no text file" in result.stdout


@pytest.mark.parametrize("args", [["--threshold", "101"], ["--threshold", "-5"], ["--threshold", "lots"], ["--format", "xml"]])
def test_cli_usage_errors_exit_2(args):
    result = run_cli("coverage", str(REPO), *args)
    assert result.exit_code == 2


def test_cli_no_package_exits_2(tmp_path):
    result = run_cli("coverage", str(tmp_path))
    assert result.exit_code == 2 and "datapackage.json" in result.stderr


def test_cli_invalid_threshold_in_pyproject_exits_2(package_copy):
    pyproject = package_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8").replace("coverage-threshold = 100", "coverage-threshold = 200"),
                         encoding="utf-8")
    result = run_cli("coverage", str(package_copy))
    assert result.exit_code == 2 and "coverage-threshold" in result.stderr


def test_validate_coverage_threshold_option(package_copy):
    uncover(package_copy)
    assert run_cli("validate", str(package_copy), "--only", "coverage").exit_code == 1
    assert run_cli("validate", str(package_copy), "--only", "coverage", "--threshold", "0").exit_code == 0
    assert run_cli("validate", str(package_copy), "--only", "coverage", "--threshold", "101").exit_code == 2


# -- an unreadable or missing sources table (review A3) and unreadable texts (C4) ---------------------------


def _latin1_sources(package_path):
    path = package_path / "data" / "sources.csv"
    text = path.read_text(encoding="utf-8")
    path.write_bytes(text.replace("S001", "S001", 1).encode("utf-8") + "\nS9,é\n".encode("latin-1"))


def _drop_sources_resource(package_path):
    descriptor = json.loads((package_path / "datapackage.json").read_text(encoding="utf-8"))
    descriptor["resources"] = [r for r in descriptor["resources"] if r.get("name") != "sources"]
    (package_path / "datapackage.json").write_text(json.dumps(descriptor), encoding="utf-8")


def _delete_sources_file(package_path):
    (package_path / "data" / "sources.csv").unlink()


BREAK_SOURCES = {"latin-1": _latin1_sources, "no-resource": _drop_sources_resource, "no-file": _delete_sources_file}


@pytest.mark.parametrize("breaker", BREAK_SOURCES, ids=list(BREAK_SOURCES))
def test_cli_fails_when_the_sources_table_cannot_be_read(package_copy, breaker):
    BREAK_SOURCES[breaker](package_copy)
    result = run_cli("coverage", str(package_copy))
    assert result.exit_code == 1, result.output
    assert "sources" in result.stdout and "failed" in result.stdout and "passed" not in result.stdout
    assert "Traceback" not in result.output
    data = json.loads(run_cli("coverage", str(package_copy), "--format", "json").stdout)
    assert data["passed"] is False and data["problem"]


@pytest.mark.parametrize("breaker", BREAK_SOURCES, ids=list(BREAK_SOURCES))
def test_layer_reports_one_finding_when_the_sources_table_cannot_be_read(package_copy, breaker):
    BREAK_SOURCES[breaker](package_copy)
    report, findings = coverage_findings(package_copy)
    assert [f.code for f in findings] == ["sources-unreadable"]
    finding = findings[0]
    assert finding.resource == "sources" and finding.severity == "error"
    assert finding.path == ("datapackage.json" if breaker == "no-resource" else "data/sources.csv")
    assert report.layers[0].checks > 0 and not report.valid


def test_latin1_sources_message_names_the_line(package_copy):
    _latin1_sources(package_copy)
    _, findings = coverage_findings(package_copy)
    lines = (package_copy / "data" / "sources.csv").read_bytes().count(b"\n")
    assert f"line {lines}" in findings[0].message and "utf-8" in findings[0].message


def test_an_unreadable_source_text_is_a_finding_not_a_traceback(package_copy, monkeypatch):
    import nkru.package

    real = nkru.package.read_regular

    def read_bytes(path):  # a PermissionError even when the tests run as root (chmod 0 would not stop root)
        if path.name == "S003.txt":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(nkru.package, "read_regular", read_bytes)
    _, findings = coverage_findings(package_copy)
    s003 = [f for f in findings if f.row_id == "S003"]
    assert [f.code for f in s003] == ["source-text-unreadable"]
    assert s003[0].field == "text_path" and s003[0].line == line_of(package_copy, "sources", 2)
    assert "Permission denied" in s003[0].message
    result = run_cli("coverage", str(package_copy), "--threshold", "0")
    assert result.exit_code == 1 and "S003" in result.stdout and "cannot be read" in result.stdout


def test_source_text_or_problem_says_why(package_copy):
    (package_copy / "data" / "sources" / "S002.txt").write_bytes(b"caf\xe9\n")
    package = Package.open(package_copy)
    text, problem = package.source_text_or_problem("S002")
    assert text is None and "not UTF-8" in problem and "S002.txt" in problem
    assert package.source_text_or_problem("S001")[1] is None
    assert package.source_bytes("S002") == b"caf\xe9\n"


def test_one_sources_constant():
    from nkru import package
    from nkru.layers import rules

    assert cov.SOURCES is package.SOURCES and rules.SOURCES is package.SOURCES


# -- settings are checked by the library (review E) ---------------------------------------------------------


@pytest.mark.parametrize("options, message", [
    ({"coverage_threshold": 101}, "coverage threshold: 101 is not between 0 and 100"),
    ({"baseline": "no-such-release.zip"}, "no-such-release.zip: no such release zip or directory"),
])
def test_validate_package_refuses_impossible_settings(package_copy, options, message):
    with pytest.raises(ValueError, match=message):
        api.validate_package(package_copy, options=api.Options(**options))
    flag = "--threshold" if "coverage_threshold" in options else "--baseline"
    result = run_cli("validate", str(package_copy), flag, str(next(iter(options.values()))))
    assert result.exit_code == 2 and message in " ".join(result.stderr.split()) and "Traceback" not in result.output


def test_data_docs_without_the_expectations_layer_is_refused_by_the_library(package_copy, tmp_path):
    with pytest.raises(ValueError, match="needs the expectations layer"):
        api.validate_package(package_copy, only=["coverage"], options=api.Options(data_docs=tmp_path / "dd"))


def test_render_json_is_the_report_dict():
    from nkru.render import coverage as render_coverage

    report = api.coverage(REPO)
    assert json.loads(render_coverage.render_json(report)) == report.to_dict()


_BOUNDS = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=12)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_BOUNDS, _BOUNDS, _BOUNDS), min_size=1, max_size=6))
def test_judging_all_texts_in_one_join_is_judging_each_by_pairwise_overlap(sources):
    """Units of many texts judged in one as-of join get the status pairwise overlap gives within their own
    text (spans of other texts at the same offsets never count; empty and reversed spans overlap nothing)."""
    import polars as pl

    def frame(rows):
        return pl.DataFrame(rows, schema={"source_id": pl.String, "start": pl.Int64, "end": pl.Int64}, orient="row")

    units, quotes, exclusions, expected = [], [], [], []
    for number, (unit_spans, quote_spans, exclusion_spans) in enumerate(sources):
        source = f"S{number:03d}"
        units += [(source, a, b) for a, b in unit_spans]
        quotes += [(source, a, b) for a, b in quote_spans]
        exclusions += [(source, a, b) for a, b in exclusion_spans]
        for a, b in unit_spans:
            unit = Span(a, b)
            hit = lambda spans: any(unit.overlaps(Span(x, y)) and y > x and b > a for x, y in spans)  # noqa: E731
            expected.append(cov.COVERED if hit(quote_spans) else cov.EXCLUDED if hit(exclusion_spans) else cov.UNCOVERED)
    judged = cov.statuses(frame(units), frame(quotes), frame(exclusions))
    assert judged.get_column("status").to_list() == expected
    assert judged.select("source_id", "start", "end").rows() == units  # in the units' own order


_CHARS = st.sampled_from(["a", "b", "é", "e\u0301", " ", "\n", "\x1c", "\u3000", "\u00a0", "😀", "."])


@settings(max_examples=examples(150), deadline=None)
@given(st.lists(st.tuples(st.lists(_CHARS, max_size=30).map("".join), st.integers(0, 35), st.integers(0, 35),
                          st.sampled_from(["", " ", "0", "x", "99999999999999999999"]), st.booleans()),
                min_size=1, max_size=25))
def test_passages_marked_verbatim_column_wise_are_the_quotes(rows):
    """What polars marks verbatim (offsets plain digits, the text there the quote itself, no whitespace at
    its ends) is exactly what slice_problem accepts without folding; everything else goes to slice_problem."""
    import re

    import polars as pl

    from nkru.offsets import parse_offset, slice_problem

    texts, combos = {}, []
    for index, (original, start, end, odd, sliced) in enumerate(rows):
        texts[f"S{index}"] = FoldedText(original)
        quote = original[start:end] if sliced else original[end:start] + "a"
        cells = (f"{start}", f"{end}") if odd == "" else (f"{start}{odd}" if odd != " " else f" {start}", f"{end}")
        combos.append((f"S{index}", quote or "q", *cells))
    combos.append(("S-unknown", "q", "0", "1"))
    frame = pl.DataFrame(combos, schema={c: pl.String for c in ("source_id", "quote", "quote_start", "quote_end")},
                         orient="row")
    marked = cov._verbatim_marked(frame, units_module.texts_frame(texts))
    assert marked.height == len(combos)
    for source_id, quote, start_cell, end_cell, start, end, verbatim in marked.rows():
        text = texts.get(source_id)
        parsed = (parse_offset(start_cell), parse_offset(end_cell))
        plain = all(re.fullmatch("[0-9]{1,18}", cell) for cell in (start_cell, end_cell))  # else: slice_problem
        expected = (plain and text is not None and text.original[parsed[0]:parsed[1]] == quote
                    and slice_problem(text.original, quote, *parsed) is None)
        assert verbatim == expected, (source_id, quote, start_cell, end_cell)
        if verbatim:
            assert (start, end) == parsed
