"""`nkru report`: a self-contained offline HTML page, checked as data and in headless Chromium.

Expected values are computed from the package's CSVs in each test (never written
down), so the same tests hold for the small fixture dataset (tests/report_fixture.py)
and for the real, growing one.

Screenshots: the Chromium tests take a screenshot of each report. It goes to the
test's temp dir, unless the environment variable NKRU_TEST_ARTIFACTS names a folder
(e.g. `NKRU_TEST_ARTIFACTS=test-artifacts pytest tests/test_report.py`, as CI does to
keep the picture as a build artifact); then `report-fixture.png` and `report-real.png`
are written there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from tests.conftest import copy_package
from tests.helpers import REPO, read_table, run_cli, write_table
from tests.report_fixture import write_fixture
from nkru.coverage import package_coverage, rounded_down
from nkru import layers
from nkru.package import Package
from nkru.report import MARKER, ReportError, render, write_report
from nkru.report.model import SUPPLY_FROM, SUPPLY_TO
from nkru.report.offline import external_references

ARTIFACTS_VARIABLE = "NKRU_TEST_ARTIFACTS"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium not found (install the Debian package `chromium`: apt-get install -y chromium)")
SKIP = ["expectations"] if "expectations" in layers.names() else []  # great-expectations is slow; not needed here


# -- fixtures: build each report once per test module -------------------------------------


@pytest.fixture(scope="module")
def fixture_package(tmp_path_factory) -> Path:
    return write_fixture(copy_package(tmp_path_factory.mktemp("fixture") / "package"))


@pytest.fixture(scope="module")
def fixture_report(fixture_package, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "report"
    result = write_report(out, fixture_package, skip=SKIP, texts=True)  # a private build, with the full texts
    return fixture_package, result


def _real_package_has_data() -> bool:
    return all((REPO / "data" / f"{name}.csv").is_file() for name in ("actors", "events", "claims"))


@pytest.fixture(scope="module")
def real_report(tmp_path_factory):
    if not _real_package_has_data():
        pytest.fail("the real package has no curated data yet (data/events.csv, claims.csv, actors.csv)")
    out = tmp_path_factory.mktemp("real") / "report"
    return REPO, write_report(out, REPO, skip=SKIP)


# The real package's report is a build of its own (seconds): the fast loop reads the fixture dataset's, which
# shows every feature; the full run reads both.
@pytest.fixture(params=["fixture", pytest.param("real", marks=pytest.mark.slow)])
def built(request):
    """(package, ReportResult) for the fixture dataset and for the real package."""
    return request.getfixturevalue(f"{request.param}_report")


_SOUPS: dict[Path, BeautifulSoup] = {}


def soup_of(result) -> BeautifulSoup:
    """The report page, parsed once per report (tests only read it)."""
    if result.index not in _SOUPS:
        _SOUPS[result.index] = BeautifulSoup(result.index.read_text(encoding="utf-8"), "html.parser")
    return _SOUPS[result.index]


# -- expected values, from the CSVs ---------------------------------------------------------


def rows(package: Path, resource: str) -> list[dict[str, str]]:
    return read_table(package, resource)[1]


def expected_contested(package: Path) -> set[str]:
    """Events whose claims give more than one distinct quantity."""
    figures = defaultdict(set)
    for row in rows(package, "claims"):
        if row["quantity"]:
            figures[row["event_id"]].add(int(row["quantity"]))
    return {event_id for event_id, found in figures.items() if len(found) > 1}


# -- the page as data ----------------------------------------------------------------------------


def test_report_files(fixture_report):
    package, result = fixture_report
    assert sorted(p.name for p in result.out.iterdir()) == sorted(["index.html", MARKER])
    marker = json.loads((result.out / MARKER).read_text(encoding="utf-8"))
    assert marker["generator"] == "nkru report"
    assert [p for p in result.out.parent.iterdir() if p.name.startswith(".")] == []  # no staging left


@pytest.mark.slow
def test_no_reference_leaves_the_page_static(built):
    _, result = built
    html = result.index.read_text(encoding="utf-8")
    assert external_references(html) == []
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("script") is None  # nothing to run, nothing to fetch
    assert soup.find("style") is not None  # styles are inlined
    assert soup.find("link") is None


def test_offline_checker_finds_every_kind_of_leak():
    page = """<html><head><link rel="stylesheet" href="https://cdn.example/x.css">
    <meta http-equiv="refresh" content="5; url=https://example.org/">
    <style>@import "//fonts.example/f.css"; body { background: url('http://img.example/b.png') }</style></head>
    <body><script src="https://cdn.example/vega.js"></script><img srcset="a.png 1x, https://x.example/b.png 2x">
    <svg><image href="https://x.example/i.png"/><use xlink:href="http://x.example/s.svg#a"/></svg>
    <div style="background-image: url(https://x.example/c.png)"></div><iframe src="//x.example/"></iframe>
    <a href="https://example.org/article">a link to follow is fine</a><img src="data:image/png;base64,AAAA">
    <svg><path marker-end="url(#arrow)"/><rect fill="url(https://x.example/p.svg#grad)"/></svg></body></html>"""
    found = external_references(page)
    assert len(found) == 11, found
    assert not any("example.org/article" in f or "data:" in f or "#arrow" in f for f in found)


def test_timeline_has_one_linked_mark_per_dated_event(built):
    package, result = built
    events = rows(package, "events")
    assert events, "no events to draw"
    soup = soup_of(result)
    marks = soup.select("#timeline .event-mark")
    ids = [mark["data-event-id"] for mark in marks]
    assert sorted(ids) == sorted(row["event_id"] for row in events)
    for mark in marks:
        link = mark.find_parent("a")
        assert link is not None and link["href"] == f"#event-{mark['data-event-id']}"
        assert soup.find(id=f"event-{mark['data-event-id']}") is not None
        assert mark.find("title").get_text().startswith(mark["data-event-id"])  # tooltip


def test_timeline_bars_span_the_date_range(fixture_report):
    """A range is drawn as a bar whose width grows with its length: a month is wider than a day."""
    _, result = fixture_report
    soup = soup_of(result)
    widths = {}
    for mark in soup.select("#timeline .event-mark"):
        path = mark["d"]  # M x,y h W v H h -W Z
        widths[mark["data-event-id"]] = float(path.split("h")[1].split("v")[0])
    events = {row["event_id"]: row for row in rows(_, "events")}
    by_precision = defaultdict(list)
    for event_id, width in widths.items():
        by_precision[events[event_id]["date_precision"]].append(width)
    assert min(by_precision["month"]) > 10 * max(by_precision["day"]) > 0


def test_every_event_section_lists_its_claims_and_denials(built):
    package, result = built
    soup = soup_of(result)
    checked = 0
    for resource, key, kind in (("claims", "claim_id", "claim"), ("denials", "denial_id", "denial")):
        for row in rows(package, resource):
            section = soup.find(id=f"event-{row['event_id']}")
            card = section.find(attrs={f"data-{kind}-id": row[key]})
            assert card is not None, f"{row[key]} missing from event {row['event_id']}"
            assert " ".join(row["quote"].split()) in " ".join(card.blockquote.get_text().split())
            assert card.find("a", href=f"#source-{row['source_id']}") is not None
            checked += 1
    assert checked > 0


def test_contested_facts_are_the_events_whose_claims_give_different_quantities(built):
    package, result = built
    expected = expected_contested(package)
    assert expected, "no event has claims with different quantities (the S004 container counts should be one)"
    soup = soup_of(result)
    shown = [block["data-event-id"] for block in soup.select("#contested .contested")]
    assert sorted(shown) == sorted(expected)
    assert len(shown) == len(set(shown))
    claims = rows(package, "claims")
    for block in soup.select("#contested .contested"):
        quantified = [c for c in claims if c["event_id"] == block["data-event-id"] and c["quantity"]]
        cards = block.select(".claim-card")
        assert sorted(card["data-claim-id"] for card in cards) == sorted(c["claim_id"] for c in quantified)
        for claim in quantified:  # side by side: figure, quote and source of every claim
            card = block.find(attrs={"data-claim-id": claim["claim_id"]})
            assert f"{int(claim['quantity']):,}" in card.select_one(".figure").get_text()
            assert card.find("a", href=f"#source-{claim['source_id']}") is not None
    assert result.contested == [e for e in result.contested if e in expected]


def test_network_shows_who_supplies_whom(built):
    package, result = built
    soup = soup_of(result)
    roles = defaultdict(lambda: defaultdict(list))
    for row in rows(package, "event_actors"):
        roles[row["event_id"]][row["role"]].append(row["actor_id"])
    expected = {(giver, taker) for by_role in roles.values()
                for giver in sum((by_role[r] for r in SUPPLY_FROM), []) for taker in sum((by_role[r] for r in SUPPLY_TO), [])
                if giver != taker}
    # Unnamed sources are drawn as one node per type when there are several: map actors to their node.
    home = {member: node["data-actor-id"] for node in soup.select("#network .network-node.folded")
            for member in node["data-members"].split()}
    fold = lambda pairs: {(home.get(a, a), home.get(b, b)) for a, b in pairs} - {(n, n) for n in home.values()}  # noqa: E731
    edges = {(e["data-source"], e["data-target"]) for e in soup.select("#network .network-edge[data-kind=supplies]")}
    assert expected and edges == fold(expected)
    # a claimant is linked to every other actor of the event its claim is about
    expected_claims = {(claim["claimant_id"], actor) for claim in rows(package, "claims")
                       for by_role in [roles[claim["event_id"]]] for actor in sum(by_role.values(), [])
                       if actor != claim["claimant_id"]}
    claim_edges = {(e["data-source"], e["data-target"]) for e in soup.select("#network .network-edge[data-kind=claims]")}
    assert expected_claims and claim_edges == fold(expected_claims)
    if rows(package, "denials"):
        assert soup.select("#network .network-edge[data-kind=denies]")
    for node in soup.select("#network .network-node"):
        assert node["href"].startswith("#actor-") and soup.find(id=node["href"][1:]) is not None


def test_network_folds_unnamed_sources_and_filters_by_event_type(built):
    package, result = built
    soup = soup_of(result)
    actors = {row["actor_id"]: row for row in rows(package, "actors")}
    drawn = {node["data-actor-id"] for node in soup.select("#network .network-node")}
    unnamed = {a for a, row in actors.items() if row["actor_type"] == "unnamed_source"}
    folded = soup.select("#network .network-node.folded")
    if len(unnamed & {m for n in folded for m in n["data-members"].split()}) > 1:
        assert not unnamed & drawn, "an unnamed source is drawn on its own besides its group"
    # Every link names the event types behind it; the filter has a rule for each type shown.
    types = {row["event_id"]: row["event_type"] for row in rows(package, "events")}
    css = " ".join(style.get_text() for style in soup.select("#network style"))
    edges = soup.select("#network .network-edge")
    assert edges
    for edge in edges:
        shown = edge["data-event-types"].split()
        assert shown and set(shown) <= set(types.values())
        for kind in shown:
            assert soup.find(id=f"net-type-{kind}") is not None
            assert f'#net-type-{kind}:checked) .network-edge:not([data-event-types~="{kind}"])' in css
    # The default view is not a hairball: claims (a claimant -> every actor of the event) start hidden.
    toggle = soup.find(id="show-claims")
    assert toggle is not None and not toggle.has_attr("checked")
    assert soup.find(id="show-supplies").has_attr("checked")
    visible = [e for e in edges if e["data-kind"] != "claims"]
    assert len(visible) < len(edges)


def test_charts_scale_with_the_window(built):
    _, result = built
    soup = soup_of(result)
    for selector in ("#timeline svg.timeline-chart", "#network svg.network-chart"):
        svg = soup.select_one(selector)
        assert svg is not None and svg.get("viewbox" if svg.get("viewbox") else "viewBox")
        assert svg["width"] == "100%" and not svg.get("height")
        assert "max-width" in svg["style"]
        # ... but never below (most of) its own size: at 390 px the chart scrolls sideways (.chart overflow-x)
        # and its text stays readable instead of shrinking to a few pixels.
        view_width = float((svg.get("viewbox") or svg.get("viewBox")).split()[2])
        min_width = float(svg["style"].split("min-width:")[1].split("px")[0])
        assert min_width >= 0.9 * view_width
        assert svg.find_parent(class_="chart") is not None


def _bar_extent(mark) -> tuple[float, float]:
    """(left, right) of a bar in the SVG's own coordinates: its path plus every translate() above it."""
    import re

    x = float(mark["d"][1:].split(",")[0])
    width = float(mark["d"].split("h")[1].split("v")[0])
    for parent in mark.parents:
        found = re.match(r"translate\(([-\d.]+)", parent.get("transform", "") if hasattr(parent, "get") else "")
        if found:
            x += float(found.group(1))
    return x, x + width


@pytest.mark.slow
def test_a_lone_early_event_gets_its_own_lane(package_copy, tmp_path):
    """Events years before the rest must not squeeze them into a sliver: they get a lane left of an axis break."""
    from nkru.report import charts, model

    header, events = read_table(package_copy, "events")
    outlier = events[0]["event_id"]
    events[0].update(date_start="1990-01-01", date_end="1990-12-31", date_precision="year")
    write_table(package_copy, "events", header, events)
    cut = charts.timeline_break(model.build(Package.open(package_copy)).dated_events)
    assert cut is not None and cut[0].year <= cut[1].year
    result = write_report(tmp_path / "report", package_copy, validate=False)
    soup = soup_of(result)
    svg = soup.select_one("#timeline svg.timeline-chart")
    assert "earlier" in svg.get_text()
    marks = {mark["data-event-id"]: _bar_extent(mark) for mark in soup.select("#timeline .event-mark")}
    assert sorted(marks) == sorted(e["event_id"] for e in events)  # one mark per event (continued parts aside)
    # Bars that cross the break are clipped at the lane edges; their paths run on, so measure the others.
    crossing = {piece["data-event-id"] for piece in soup.select("#timeline .event-continued")}
    left = min(a for event_id, (a, _) in marks.items() if event_id not in crossing)
    right = max(b for event_id, (_, b) in marks.items() if event_id not in crossing)
    main = [marks[e["event_id"]] for e in events if e["date_start"] >= cut[1].isoformat() and e["event_id"] not in crossing]
    assert main
    main_width = max(b for _, b in main) - min(a for a, _ in main)
    # Without the lane, 2022-2025 would take a tenth of the time axis (1990-2025); with it, most of it.
    assert main_width > 0.5 * (right - left), (main_width, right - left)
    assert marks[outlier][1] < min(a for a, _ in main)  # the early lane is left of the break
    # A bar that starts early and runs on is drawn in both lanes: its second part is a continuation.
    for piece in soup.select("#timeline .event-continued"):
        assert piece["data-event-id"] in marks and piece.find_parent("a")["href"] == f"#event-{piece['data-event-id']}"


def test_timeline_break_needs_a_long_gap():
    from datetime import date

    from nkru.report.charts import timeline_break

    class E:
        def __init__(self, start, end):
            self.start, self.end_exclusive = start, end

    close = [E(date(2022, 1, 1), date(2023, 1, 1)), E(date(2023, 6, 1), date(2024, 1, 1))]
    assert timeline_break(close) is None
    lone = [E(date(2017, 1, 1), date(2018, 1, 1)), *close]
    assert timeline_break(lone) == (date(2018, 1, 1), date(2022, 1, 1))


def test_the_page_names_no_local_paths(fixture_report):
    package, result = fixture_report
    html = result.index.read_text(encoding="utf-8")
    for form in {str(package), str(package.resolve()), package.resolve().as_posix()}:
        assert form not in html
    assert "/tmp/" not in html and "/home/" not in html


def test_sources_show_coverage_and_highlighted_passages(fixture_report):
    """With --texts (a private build) the page shows each whole text with its passages highlighted."""
    package, result = fixture_report
    soup = soup_of(result)
    opened = Package.open(package)
    coverage = {c.source_id: c for c in package_coverage(opened)}
    sources = rows(package, "sources")
    assert sources
    for source in sources:
        section = soup.find(id=f"source-{source['source_id']}")
        shown = float(section.select_one(".coverage")["data-coverage"])
        assert shown == rounded_down(coverage[source["source_id"]].percent, 1)
        article = section.select_one(".article")
        # the page shows the whole text, in order
        assert " ".join(article.get_text().split()) == " ".join(opened.source_text(source["source_id"]).split())
    highlighted = defaultdict(list)  # (source_id, row id) -> the spans it highlights, in order
    for source in sources:
        for span in soup.find(id=f"source-{source['source_id']}").select(".article span[data-ids]"):
            for row_id in span["data-ids"].split():
                highlighted[source["source_id"], row_id].append(span)
    checked = 0
    for resource, key, kind in (("claims", "claim_id", "quoted"), ("denials", "denial_id", "quoted"),
                                ("exclusions", "exclusion_id", "excluded")):
        for row in rows(package, resource):
            spans = highlighted[row["source_id"], row[key]]
            assert spans, f"{row[key]} not highlighted in {row['source_id']}"
            text = " ".join("".join(s.get_text() for s in spans).split())
            assert " ".join(row["quote"].split()) in text
            if kind == "quoted":
                assert all(s["class"] == ["quoted"] for s in spans)
            assert soup.find(id=f"quote-{row[key]}") is not None
            checked += 1
    assert checked > 0
    assert soup.select(".article .excluded")
    assert "nkru report --texts" in soup.select_one("#sources .notice").get_text() and result.texts


@pytest.mark.slow  # the real package's report
def test_the_default_report_shows_quotes_in_context_not_the_article_texts(real_report):
    """What the open release leaves out, the default page leaves out too: no article text, only each claim's and
    denial's quote in its sentences. A sentence that no quote touches never appears."""
    package, result = real_report
    assert not result.texts
    soup = soup_of(result)
    page = " ".join(soup.get_text().split())
    assert not soup.select("#sources .article")
    opened = Package.open(package)
    coverage = {c.source_id: c for c in package_coverage(opened)}

    unquoted_sentences = 0
    for source in rows(package, "sources"):
        text = opened.source_text(source["source_id"])
        assert " ".join(text.split()) not in page
        section = soup.find(id=f"source-{source['source_id']}")
        excerpts = section.select("li.excerpt")
        quoted_rows = {f"quote-{r[key]}": r for name, key in (("claims", "claim_id"), ("denials", "denial_id"))
                       for r in rows(package, name) if r["source_id"] == source["source_id"]}
        assert sorted(x["id"] for x in excerpts) == sorted(quoted_rows)
        for excerpt in excerpts:
            row = quoted_rows[excerpt["id"]]
            assert " ".join(row["quote"].split()) in " ".join(excerpt.select_one(".quoted").get_text().split())
        # Sentences no quote overlaps (excluded or uncovered) are not on the page.
        cov = coverage[source["source_id"]]  # units: offsets into the text as decoded
        for sentence, status in zip(cov.units, cov.statuses):
            if status != "covered":
                words = " ".join(text[sentence.start:sentence.end].split())
                if words in " ".join(source["title"].split()):
                    continue  # the headline is the source's title (sources.csv, shown as the section's heading)
                if len(words) > 30:
                    unquoted_sentences += 1
                    assert words not in page, words
    assert unquoted_sentences > 0  # the check above checked something
    # The CLI writes the same page by default, and says so when --texts puts the texts in.
    marker = json.loads((result.out / MARKER).read_text(encoding="utf-8"))
    assert marker["texts"] == "excluded"


def test_codebook_section(built):
    package, result = built
    soup = soup_of(result)
    from nkru import codebook

    book = codebook.build(package)
    for res in book.resources:
        section = soup.find(id=f"codebook-{res.name}")
        assert section is not None
        assert [row.td.get_text() for row in section.select("table.codebook-fields tbody tr")] == [f.name for f in res.fields]
        for f in res.vocabulary_fields:
            table = soup.find(id=codebook.field_anchor(res.name, f.name)).find_next("table")
            assert [tr.td.get_text() for tr in table.select("tbody tr")] == [t.value for t in f.vocabulary]


def test_validation_summary(built):
    _, result = built
    soup = soup_of(result)
    report = result.validation
    assert report is not None and report.checks > 0
    shown = {row["data-layer"]: [td.get_text() for td in row.find_all("td")] for row in soup.select("#validation table.layers tbody tr")}
    assert list(shown) == [layer.layer for layer in report.layers]
    assert not set(SKIP) & set(shown)
    for layer in report.layers:
        assert shown[layer.layer][1:3] == [str(layer.checks), str(layer.errors)]
    assert len(soup.select("#validation table.findings tbody tr")) == min(len(report.findings), 500)


def test_ids_are_unique(built):
    _, result = built
    ids = [tag["id"] for tag in soup_of(result).find_all(id=True)]
    assert len(ids) == len(set(ids))


def test_internal_links_resolve(built):
    _, result = built
    soup = soup_of(result)
    ids = {tag["id"] for tag in soup.find_all(id=True)}
    links = [a["href"][1:] for a in soup.find_all("a", href=True) if a["href"].startswith("#")]
    assert links
    assert sorted(set(links) - ids) == []


@pytest.mark.slow
def test_same_data_same_pictures(fixture_package):
    first, _ = render(fixture_package, validate=False)
    second, _ = render(fixture_package, validate=False)
    pick = lambda html: [str(BeautifulSoup(html, "html.parser").select_one(s)) for s in ("#timeline-chart", "#network-chart")]  # noqa: E731
    assert pick(first) == pick(second)


# -- writing -------------------------------------------------------------------------------------


def test_cli(fixture_package, tmp_path):
    out = tmp_path / "site"
    result = run_cli("report", str(fixture_package), "--out", str(out), "--no-validate")
    assert result.exit_code == 0, result.stderr
    assert "Wrote" in result.stdout and (out / "index.html").is_file()
    assert "Validation was not run" in (out / "index.html").read_text(encoding="utf-8")


def test_cli_replaces_an_earlier_report(fixture_package, tmp_path):
    out = tmp_path / "report"
    assert run_cli("report", str(fixture_package), "--out", str(out), "--no-validate").exit_code == 0
    first = (out / "index.html").stat().st_mtime_ns
    assert run_cli("report", str(fixture_package), "--out", str(out), "--no-validate").exit_code == 0
    assert (out / "index.html").stat().st_mtime_ns != first
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "nkru-report.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


@pytest.fixture(scope="module")
def cli_report(fixture_package, tmp_path_factory) -> Path:
    """A report folder as `nkru report` wrote it (once per module; tests edit copies of it)."""
    out = tmp_path_factory.mktemp("cli-report") / "report"
    assert run_cli("report", str(fixture_package), "--out", str(out), "--no-validate").exit_code == 0
    return out


@pytest.mark.parametrize("change", ["edited index", "extra file", "forged marker", "marker only plus a folder"])
def test_cli_never_replaces_a_folder_holding_files_it_did_not_write(fixture_package, cli_report, tmp_path, change):
    out = shutil.copytree(cli_report, tmp_path / "report")
    if change == "edited index":
        (out / "index.html").write_text("my own notes", encoding="utf-8")
    elif change == "extra file":
        (out / "thesis.tex").write_text("precious", encoding="utf-8")
    elif change == "forged marker":  # a marker copied next to a user's own page
        (out / "index.html").unlink()
        (out / "index.html").write_text("<p>my page</p>", encoding="utf-8")
    else:
        (out / "index.html").unlink()
        (out / "drafts").mkdir()
    before = {p.relative_to(out): p.read_bytes() if p.is_file() else None for p in out.rglob("*")}
    result = run_cli("report", str(fixture_package), "--out", str(out), "--no-validate")
    assert result.exit_code == 2 and "never replaces files it did not write" in result.stderr
    assert {p.relative_to(out): p.read_bytes() if p.is_file() else None for p in out.rglob("*")} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # nothing left beside it either


def test_cli_refuses_a_directory_that_is_not_a_report(fixture_package, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious", encoding="utf-8")
    result = run_cli("report", str(fixture_package), "--out", str(out), "--no-validate")
    assert result.exit_code == 2
    assert "not empty" in result.stderr
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]
    (tmp_path / "file").write_text("x", encoding="utf-8")
    result = run_cli("report", str(fixture_package), "--out", str(tmp_path / "file"), "--no-validate")
    assert result.exit_code == 2 and "not a directory" in result.stderr


def test_cli_usage_errors(tmp_path, fixture_package):
    result = run_cli("report", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and "no such directory" in result.stderr
    result = run_cli("report", str(fixture_package), "--out", str(tmp_path / "out"), "--skip", "nosuchlayer")
    assert result.exit_code == 2 and "unknown layer" in result.stderr
    assert not (tmp_path / "out").exists()


def test_failed_write_keeps_the_earlier_report(fixture_package, tmp_path, monkeypatch):
    out = tmp_path / "report"
    write_report(out, fixture_package, validate=False)
    before = (out / "index.html").read_text(encoding="utf-8")

    import nkru.transaction as transaction

    real = transaction.os.replace

    def broken(source, target):
        if str(source).endswith(transaction.SUFFIX):
            raise OSError(28, "disk full")  # the new report moving into place
        return real(source, target)

    monkeypatch.setattr(transaction.os, "replace", broken)
    with pytest.raises(ReportError, match="cannot be written: disk full"):
        write_report(out, fixture_package, validate=False)
    assert (out / "index.html").read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_refuses_to_write_a_page_that_would_go_online(fixture_package, tmp_path, monkeypatch):
    import nkru.report.charts as charts

    real = charts.timeline_svg
    monkeypatch.setattr(charts, "timeline_svg", lambda *a: real(*a).replace(
        "</svg>", '<image href="https://vega.github.io/x.png"/></svg>', 1))
    with pytest.raises(ReportError, match="from the network"):
        write_report(tmp_path / "report", fixture_package, validate=False)
    assert not (tmp_path / "report").exists()


def test_report_of_a_package_without_curated_data(package_copy, tmp_path):
    for name in ("events", "claims", "denials", "event_actors", "exclusions", "actors"):
        (package_copy / "data" / f"{name}.csv").unlink(missing_ok=True)
    result = write_report(tmp_path / "report", package_copy, skip=SKIP)
    html = result.index.read_text(encoding="utf-8")
    assert result.events == 0 and "No events yet." in html
    assert not result.validation.valid  # the missing files are reported in the validation section
    assert "not readable" in html


def test_tables_are_read_once_as_text_and_typed_with_the_schema(fixture_package, package_copy):
    """One path: `Package.table` (the package's CSV reader) + the schema's types; an unreadable table is a note."""
    from nkru.report import model

    tables, notes = model.read_tables(Package.open(fixture_package))
    assert notes == []
    claims = rows(fixture_package, "claims")
    assert [r["quantity"] for r in tables["claims"]] == [int(r["quantity"]) if r["quantity"] else None for r in claims]
    assert [r["date_start"] for r in tables["events"]] == [r["date_start"] or None for r in rows(fixture_package, "events")]
    path = package_copy / "data" / "claims.csv"
    path.write_bytes(path.read_bytes() + "Größe\n".encode("latin-1"))
    tables, notes = model.read_tables(Package.open(package_copy))
    assert tables["claims"] == [] and len(notes) == 1
    assert notes[0].startswith("claims: not readable (data/claims.csv: line ") and "not valid utf-8" in notes[0]


def _enum(package: Package, resource: str, field_name: str) -> list:
    enum = package.enum(resource, field_name)
    assert enum, f"{resource}.{field_name} has no vocabulary in the schema"
    return enum


def test_report_vocabulary_words_are_in_the_schema_enums():
    from nkru.report.model import QUALIFIER, QUANTITY_QUALIFIERS, ROLE

    package = Package.open(REPO)
    assert set(SUPPLY_FROM) | set(SUPPLY_TO) <= set(_enum(package, *ROLE))
    assert set(QUANTITY_QUALIFIERS) <= set(_enum(package, *QUALIFIER))
    from nkru.report.model import vocabulary_notes

    assert vocabulary_notes(package) == []


@pytest.mark.slow
def test_a_renamed_vocabulary_value_becomes_a_note(package_copy, tmp_path):
    from nkru.report.model import QUALIFIER, ROLE

    for resource, field_name, old in ((*ROLE, SUPPLY_TO[0]), (*QUALIFIER, "approximately")):
        path = package_copy / "schemas" / f"{resource}.json"
        schema = json.loads(path.read_text(encoding="utf-8"))
        field = next(f for f in schema["fields"] if f["name"] == field_name)
        field["constraints"]["enum"] = [v for v in field["constraints"]["enum"] if v != old] + [f"{old}_renamed"]
        path.write_text(json.dumps(schema, ensure_ascii=False, indent=2), encoding="utf-8")
    result = write_report(tmp_path / "report", package_copy, validate=False)
    notes = " ".join(result.notes)
    assert f"{ROLE[0]}.{ROLE[1]}: the report's supply links use {SUPPLY_TO[0]}," in notes
    assert f"{QUALIFIER[0]}.{QUALIFIER[1]}: the report's quantity qualifiers use approximately," in notes
    cli = run_cli("report", str(package_copy), "--out", str(tmp_path / "report2"), "--no-validate")
    assert cli.exit_code == 0 and f"note: {ROLE[0]}.{ROLE[1]}" in cli.stdout


def test_every_quote_bearing_resource_is_shown(fixture_package, tmp_path):
    """A new resource with a `quote` and a `source_id` field gets its passages highlighted without a code change."""
    from nkru.coverage import quote_resources
    from nkru.report import model, sources

    package = copy_package(tmp_path / "package")
    shutil.rmtree(package / "data")
    shutil.copytree(fixture_package / "data", package / "data")
    claims = json.loads((package / "schemas" / "claims.json").read_text(encoding="utf-8"))
    claims["foreignKeys"] = [fk for fk in claims.get("foreignKeys", []) if fk["reference"].get("resource") == "sources"]
    (package / "schemas" / "statements.json").write_text(json.dumps(claims), encoding="utf-8")
    shutil.copy(package / "data" / "claims.csv", package / "data" / "statements.csv")
    descriptor = json.loads((package / "datapackage.json").read_text(encoding="utf-8"))
    descriptor["resources"].append({"name": "statements", "path": "data/statements.csv", "schema": "schemas/statements.json",
                                    "type": "table", "format": "csv", "mediatype": "text/csv", "encoding": "utf-8"})
    (package / "datapackage.json").write_text(json.dumps(descriptor), encoding="utf-8")
    opened = Package.open(package)
    assert "statements" in quote_resources(opened)
    passages = sources.passage_rows(model.build(opened))
    shown = {resource: [row_id for row_id, _, label, _ in passages if label.startswith(resource[:-1] + " ")]
             for resource in quote_resources(opened)}
    expected_ids = [r["claim_id"] for r in rows(package, "claims") if r["quote"]]
    assert shown["statements"] == shown["claims"] == expected_ids and expected_ids
    assert {kind for _, kind, label, _ in passages if label.startswith("exclusion ")} == {sources.EXCLUDED}


def test_report_into_a_path_under_a_file_is_a_usage_error(fixture_package, tmp_path):
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    out = tmp_path / "afile" / "sub"
    result = run_cli("report", str(fixture_package), "--out", str(out), "--no-validate")
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert f"{out}: {tmp_path / 'afile'} is not a directory" in " ".join(result.stderr.split())


def _set_claims_schema(package: Path, edit) -> None:
    path = package / "schemas" / "claims.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    edit(schema)
    path.write_text(json.dumps(schema), encoding="utf-8")


def _name_is_5(package: Path) -> None:
    path = package / "datapackage.json"
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    next(r for r in descriptor["resources"] if r["name"] == "claims")["name"] = 5
    path.write_text(json.dumps(descriptor), encoding="utf-8")


def _licenses_is_an_object(package: Path) -> None:
    path = package / "datapackage.json"
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    descriptor["licenses"] = {}
    path.write_text(json.dumps(descriptor), encoding="utf-8")


MALFORMED = {
    "primaryKey is 5": lambda p: _set_claims_schema(p, lambda s: s.update(primaryKey=5)),
    "reference is a string": lambda p: _set_claims_schema(p, lambda s: s.update(
        foreignKeys=[{"fields": "event_id", "reference": "events"}])),
    "constraints is a string": lambda p: _set_claims_schema(p, lambda s: s["fields"][0].update(constraints="no")),
    "resource name is 5": _name_is_5,
    "licenses is an object": _licenses_is_an_object,
}


@pytest.mark.parametrize("mutation", list(MALFORMED))
def test_a_malformed_descriptor_or_schema_is_a_clear_error_not_a_traceback(package_copy, tmp_path, mutation):
    MALFORMED[mutation](package_copy)
    result = run_cli("report", str(package_copy), "--out", str(tmp_path / "report"), "--no-validate")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output  # no traceback
    if mutation == "licenses is an object":  # the report shows no licence; the metadata layer reports the shape
        assert result.exit_code == 0
        return
    assert result.exit_code == 2
    assert "run `nkru validate --only structure`" in result.stderr


# -- in a browser ------------------------------------------------------------------------------------


def _chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND", *extra, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "LANG": "C.UTF-8"})


def page_requests(net_log: Path) -> list[str]:
    """URLs the page asked the network for (Chromium's own update/time/account pings are not the page's)."""
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [event["params"]["url"] for event in log["events"]
            if event["type"] == start and "url" in event.get("params", {})
            and event["params"].get("initiator") != "not an origin"]


def _browse(index: Path, tmp_path: Path, *extra: str) -> tuple[BeautifulSoup, list[str]]:
    """Open a page in headless Chromium: its DOM after loading, and the URLs it requested."""
    net_log = tmp_path / "net.json"
    done = _chromium(index.resolve().as_uri(), tmp_path / "profile", f"--log-net-log={net_log}", "--dump-dom", *extra)
    assert done.returncode == 0, done.stderr[-2000:]
    return BeautifulSoup(done.stdout, "html.parser"), page_requests(net_log)


@pytest.mark.slow
@needs_chromium
def test_browser_sees_a_leak(tmp_path):
    """The network check works: a page that loads a CDN script is caught."""
    page = tmp_path / "leak.html"
    page.write_text('<html><body><script src="https://cdn.example.org/vega.js"></script>'
                    '<img src="http://img.example.net/a.png"></body></html>', encoding="utf-8")
    _, requests = _browse(page, tmp_path)
    assert {"https://cdn.example.org/vega.js", "http://img.example.net/a.png"} <= set(requests)


@pytest.mark.slow
@needs_chromium
@pytest.mark.parametrize("which, width", [("fixture", 1400), ("real", 1280), ("real", 800), ("real", 390)])
def test_report_in_chromium(which, width, request, tmp_path):
    package, result = request.getfixturevalue(f"{which}_report")
    # a screenshot to look at: kept as a test artifact only when NKRU_TEST_ARTIFACTS asks for it
    folder = Path(os.environ[ARTIFACTS_VARIABLE]) if os.environ.get(ARTIFACTS_VARIABLE) else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / (f"report-{which}.png" if width in (1280, 1400) else f"report-{which}-{width}px.png")
    shot.unlink(missing_ok=True)
    dom, requests = _browse(result.index, tmp_path, f"--screenshot={shot}", f"--window-size={width},3000")
    assert requests == [], f"the report asked the network for {requests}"
    marks = dom.select("svg .event-mark[data-event-id]")
    assert sorted(m["data-event-id"] for m in marks) == sorted(r["event_id"] for r in rows(package, "events"))
    assert len(dom.select("#contested .contested")) == len(expected_contested(package))
    assert dom.select("#network svg .network-node")
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- dates drawn for what they mean ---------------------------------------------------------------------


def test_uncertain_dates_are_not_drawn_as_durations(built):
    """A solid bar only for an event that lasts (aspect state); any other range is a faded band with whiskers."""
    package, result = built
    soup = soup_of(result)
    events = {row["event_id"]: row for row in rows(package, "events")}
    marks = soup.select("#timeline .event-mark")
    assert marks
    kinds = set()
    for mark in marks:
        row = events[mark["data-event-id"]]
        kind = mark["data-date-kind"]
        kinds.add(kind)
        if row["date_start"] == row["date_end"]:
            assert kind == "day"
        else:
            assert kind == ("duration" if row["aspect"] == "state" else "uncertain")
        opacity = float(mark["opacity"])
        # Solid only for a duration with both bounds: an open side is drawn faded with an arrowhead.
        bounded = bool(row["date_start"]) and bool(row["date_end"])
        assert (opacity == 1.0) == (kind != "uncertain" and bounded), (mark["data-event-id"], opacity)
    # The whiskers are drawn (caps at each bound of an uncertain range), and the list for narrow screens says it too.
    assert "uncertain" in kinds
    listed = {li["data-event-id"]: li for li in soup.select("#timeline .timeline-list li")}
    assert set(listed) == set(events)
    for event_id, li in listed.items():
        assert li["data-date-kind"] == next(m["data-date-kind"] for m in marks if m["data-event-id"] == event_id)


@pytest.mark.slow  # the real package's report
def test_the_real_e027_meeting_is_not_a_long_bar(real_report):
    package, result = real_report
    events = {row["event_id"]: row for row in rows(package, "events")}
    long_occurrences = [e for e, row in events.items() if row["aspect"] != "state" and row["date_start"] != row["date_end"]]
    assert long_occurrences
    for mark in soup_of(result).select("#timeline .event-mark"):
        if mark["data-event-id"] in long_occurrences:
            assert mark["data-date-kind"] == "uncertain" and float(mark["opacity"]) < 0.5


@pytest.mark.slow
def test_an_empty_date_is_an_open_bound_drawn_open(package_copy, tmp_path):
    """The schemas may leave date_start or date_end empty (the text gives no bound on that side): the report,
    its timeline, diff and cite take it; the open side ends in an arrowhead and is said in words."""
    header, events = read_table(package_copy, "events")
    state = next(row for row in events if row["aspect"] == "state")
    other = next(row for row in events if row["aspect"] != "state" and row is not state)
    before = copy_package(tmp_path / "before")
    state["date_start"] = ""
    other["date_end"] = ""
    write_table(package_copy, "events", header, events)
    html, result = render(package_copy, validate=False)
    assert "None" not in BeautifulSoup(html, "html.parser").select_one("#timeline").get_text()
    soup = BeautifulSoup(html, "html.parser")
    marks = {m["data-event-id"]: m for m in soup.select("#timeline .event-mark")}
    assert marks[state["event_id"]]["data-open"] == "start" and marks[other["event_id"]]["data-open"] == "end"
    # open bounds are never solid, even for a state
    assert float(marks[state["event_id"]]["opacity"]) < 1 and float(marks[other["event_id"]]["opacity"]) < 1
    # arrowheads: one per open side
    arrows = soup.select('#timeline path[aria-roledescription="point"]')
    assert len(arrows) >= 2
    text = soup.select_one(f'#event-{state["event_id"]} .meta').get_text()
    assert f"no earlier bound – {state['date_end']}" in text
    assert f"{other['date_start']} – no later bound" in soup.select_one(f'#event-{other["event_id"]} .meta').get_text()
    listed = soup.select_one(f'#timeline .timeline-list li[data-event-id="{state["event_id"]}"]').get_text()
    assert "no earlier bound" in listed
    # nkru diff shows the emptied cells; nkru cite is unaffected.
    diff = run_cli("diff", str(before), str(package_copy), "--format", "json")
    assert diff.exit_code == 0, diff.stderr
    changed = {c["key"]: c["changes"] for r in json.loads(diff.stdout)["resources"] if r["resource"] == "events" for c in r["changed"]}
    assert changed[state["event_id"]]["date_start"]["new"] == "" and changed[other["event_id"]]["date_end"]["new"] == ""
    assert run_cli("cite", str(package_copy)).exit_code == 0
    # The CLI writes it without a traceback.
    out = run_cli("report", str(package_copy), "--out", str(tmp_path / "report"), "--no-validation")
    assert out.exit_code == 0, out.output


def test_cli_texts_option_puts_the_article_texts_in(fixture_package, tmp_path):
    default = run_cli("report", str(fixture_package), "--out", str(tmp_path / "open"), "--no-validation")
    assert default.exit_code == 0 and "keep it private" not in default.stdout
    page = BeautifulSoup((tmp_path / "open" / "index.html").read_text(encoding="utf-8"), "html.parser")
    assert not page.select(".article") and page.select("li.excerpt")
    private = run_cli("report", str(fixture_package), "--out", str(tmp_path / "private"), "--no-validation", "--texts")
    assert private.exit_code == 0 and "keep it private" in " ".join(private.stdout.split())
    page = BeautifulSoup((tmp_path / "private" / "index.html").read_text(encoding="utf-8"), "html.parser")
    assert len(page.select(".article")) == len(rows(fixture_package, "sources"))
    assert json.loads((tmp_path / "private" / MARKER).read_text(encoding="utf-8"))["texts"] == "included"
