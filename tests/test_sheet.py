"""The coding sheet: a new fictional article goes in through `nkru add-source`, `nkru code`, a filled sheet and
`nkru code --apply`, with no CSV of the package edited by hand, and ends valid with every unit covered; a sheet
with mistakes gets findings on its own lines and columns, and nothing is written."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Callable

import pytest

from nkru import sheet
from tests.conftest import copy_package
from tests.helpers import read_table, run_cli

pytestmark = pytest.mark.slow  # each case adds an article and validates the package

#: A short fictional article (made here, never from outside knowledge): a ticker line, a headline, a
#: paragraph with a sentence holding two claims, a denial and an off-topic sentence, a photo credit.
ARTICLE = ("+++ Eilmeldung +++\n"
           "\n"
           "Pjöngjang liefert Granaten an Moskau\n"
           "\n"
           "Der fiktive Minister Kim Tae-ho sagte am Montag, Nordkorea habe im Mai 500 Granaten nach Russland "
           "geschickt, und weitere Lieferungen würden folgen. Der Kreml wies die Berichte zurück. "
           "Das Wetter war schön.\n"
           "\n"
           "Foto: dpa\n")
SOURCE_OPTIONS = ["--title", "Pjöngjang liefert Granaten an Moskau", "--publisher", "unknown", "--date", "2024-06-03",
                  "--date-basis", "stated", "--language", "de"]


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""))
    return list(reader.fieldnames or []), list(reader)


def _write(path: Path, header: list[str], rows: list[dict[str, str]], delimiter: str = ",") -> None:
    """Save the sheet as a spreadsheet would: UTF-8 with a byte-order mark, CRLF."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, delimiter=delimiter, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text("\ufeff" + buffer.getvalue(), encoding="utf-8")


def _line_of_unit(path: Path, unit_id: str) -> int:
    """The physical line of the sheet row of `unit_id`, counted independently of nkru (header = line 1)."""
    text = path.read_text(encoding="utf-8-sig")
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";" if first.count(";") > first.count(",") else ",")
    header = next(reader)
    end = reader.line_num
    for record in reader:
        start, end = end + 1, reader.line_num
        if record[header.index("unit_id")] == unit_id:
            return start
    raise KeyError(unit_id)


def _units_of(root: Path, source_id: str) -> list[dict[str, str]]:
    return [row for row in read_table(root, "units")[1] if row["source_id"] == source_id]


def _text_of(root: Path, unit: dict[str, str]) -> str:
    text = (root / "data" / "sources" / f"{unit['source_id']}.txt").read_text(encoding="utf-8")
    return text[int(unit["start"]):int(unit["end"])]


def _unit_with(root: Path, source_id: str, words: str) -> str:
    found = [u["unit_id"] for u in _units_of(root, source_id) if words in _text_of(root, u)]
    assert len(found) == 1, (words, found)
    return found[0]


def fill(root: Path, source_id: str, path: Path) -> dict[str, str]:
    """Fill the sheet as a curator would, in the sheet itself: two claims in one sentence (parts of the unit), a
    denial, four exclusions, a new actor, a new event and its two event_actors. Returns unit_id by role."""
    header, rows = _read(path)
    units = {role: _unit_with(root, source_id, words) for role, words in (
        ("ticker", "Eilmeldung"), ("headline", "Pjöngjang liefert"), ("claims", "Kim Tae-ho"),
        ("denial", "Kreml"), ("weather", "Wetter"), ("credit", "Foto"))}
    by_unit = {row["unit_id"]: row for row in rows if row["unit_id"]}
    assert set(units.values()) <= set(by_unit), "every unit of the new text is on the sheet"
    actor = next(row for row in rows if row["kind"] == "actor")
    event = next(row for row in rows if row["kind"] == "event")
    actor.update(name="Kim Tae-ho", name_de="Kim Tae-ho", actor_type="person", affiliation_id="A002",
                 role="minister (fictional article)")
    event.update(event_type="arms_transfer", aspect="occurrence", title="500 shells to Russia in May",
                 description="North Korea sent 500 shells to Russia, according to Kim Tae-ho.",
                 date_start="2024-05-01", date_end="2024-05-31", date_precision="month", date_basis="stated")
    dated = dict(date_start="2024-06-03", date_end="2024-06-03", date_precision="day", date_basis="inferred")
    first = by_unit[units["claims"]]
    second = dict(first)  # a second row for the same unit: the other claim of the sentence
    first.update(kind="claim", quote="Nordkorea habe im Mai 500 Granaten nach Russland geschickt",
                 event_id=event["id"], claimant_id=actor["id"], claim_type="allegation", **dated,
                 statement="Kim Tae-ho said that North Korea sent 500 shells to Russia in May.",
                 quote_en="North Korea had sent 500 shells to Russia in May",
                 quantity="500", quantity_unit="shells", quantity_qualifier="exact")
    second.update(kind="claim", quote="weitere Lieferungen würden folgen", event_id=event["id"],
                  claimant_id=actor["id"], claim_type="expectation", **dated,
                  statement="Kim Tae-ho said that further deliveries would follow.",
                  quote_en="further deliveries would follow")
    rows.insert(rows.index(first) + 1, second)
    by_unit[units["denial"]].update(kind="denial", event_id=event["id"], denier_id="A011", response_type="rejection",
                                    **dated, statement="The Kremlin rejected the reports.",
                                    quote_en="The Kremlin rejected the reports.")
    for role, reason in (("ticker", "boilerplate"), ("headline", "headline"), ("weather", "off_topic"),
                         ("credit", "caption")):
        by_unit[units[role]].update(kind="exclusion", reason=reason)
    blank = {name: "" for name in header}
    rows += [{**blank, "kind": "event_actor", "event_id": event["id"], "actor_id": "A002", "role": "supplier"},
             {**blank, "kind": "event_actor", "event_id": event["id"], "actor_id": "A003", "role": "recipient"}]
    _write(path, header, rows)
    return units


@pytest.fixture(scope="module")
def coded(tmp_path_factory) -> tuple[Path, str, Path]:
    """A copy of the real package with the article added and its sheet written (both through the CLI)."""
    base = tmp_path_factory.mktemp("coded")
    root = copy_package(base / "package")
    article = base / "article.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    added = run_cli("add-source", str(article), str(root), *SOURCE_OPTIONS)
    assert added.exit_code == 0, added.stdout + added.stderr
    source_id = sorted(row["source_id"] for row in read_table(root, "sources")[1])[-1]
    written = run_cli("code", source_id, str(root))
    assert written.exit_code == 0, written.stdout + written.stderr
    return root, source_id, root / sheet.SHEET_DIR / f"{source_id}.csv"


@pytest.fixture
def package(coded, tmp_path) -> tuple[Path, str, Path]:
    """A fresh copy of the coded package for one test (the sheet inside it, unfilled)."""
    root, source_id, path = coded
    copy = tmp_path / "package"
    shutil.copytree(root, copy)
    return copy, source_id, copy / path.relative_to(root)


def _data(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "data").rglob("*")) if p.is_file()}


def test_the_sheet_lists_every_unit_of_the_new_text_and_proposes_ids(package):
    root, source_id, path = package
    header, rows = _read(path)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte-order mark
    units = _units_of(root, source_id)
    listed = [row for row in rows if row["unit_id"]]
    assert [row["unit_id"] for row in listed] == [u["unit_id"] for u in units] and len(units) == 6
    for row, unit in zip(listed, units):
        assert (row["unit_start"], row["unit_end"]) == (unit["start"], unit["end"])
        assert sheet.unguard(row["unit_text"]) == " ".join(_text_of(root, unit).split())
    ticker = next(row for row in listed if "Eilmeldung" in row["unit_text"])
    assert ticker["unit_text"] == "'+++ Eilmeldung +++"  # behind an apostrophe: never a formula in a spreadsheet
    # The columns are the tables' fields (from the schemas); the templates carry the next free IDs.
    for resource in ("claims", "denials", "exclusions", "actors", "events", "event_actors"):
        fields, _ = read_table(root, resource)
        assert set(fields) - {"source_id", "quote_start", "quote_end"} - {fields[0]} <= set(header), resource
    proposed = sheet.next_ids(sheet._open(root))
    assert {row["kind"]: row["id"] for row in rows if row["kind"] in ("actor", "event")} == {
        "actor": proposed["actors"], "event": proposed["events"]}
    assert rows[0]["kind"].startswith("#") and proposed["claims"] in rows[0]["kind"]


def test_a_new_article_through_the_coding_sheet_ends_valid_and_fully_covered(package):
    root, source_id, path = package
    before = _data(root)
    fill(root, source_id, path)
    proposed = sheet.next_ids(sheet._open(root))
    result = run_cli("code", source_id, str(root), "--apply", str(path))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "Applied" in result.stdout

    # Every table got its rows appended, in ID order, after every byte that was there.
    for name in ("claims", "denials", "exclusions", "actors", "events", "event_actors"):
        key = f"data/{name}.csv"
        after = (root / key).read_bytes()
        assert after.startswith(before[key]) and len(after) > len(before[key]), name
    _, claims = read_table(root, "claims")
    new = [row for row in claims if row["source_id"] == source_id]
    assert [row["claim_id"] for row in new] == [proposed["claims"], f"C{int(proposed['claims'][1:]) + 1:03d}"]
    text = (root / "data" / "sources" / f"{source_id}.txt").read_text(encoding="utf-8")
    quoted = 0
    for name in ("claims", "denials", "exclusions"):
        for row in read_table(root, name)[1]:
            if row["source_id"] == source_id:
                # Quote and offsets from the text, never retyped.
                assert text[int(row["quote_start"]):int(row["quote_end"])] == row["quote"], row
                quoted += 1
    assert quoted == 2 + 1 + 4
    exclusions = [row for row in read_table(root, "exclusions")[1] if row["source_id"] == source_id]
    assert "Eilmeldung +++" in [row["quote"] for row in exclusions]  # the ticker's "+++ " left out, not a formula
    assert [row["actor_id"] for row in read_table(root, "actors")[1]][-1] == proposed["actors"]
    assert [row["event_id"] for row in read_table(root, "event_actors")[1][-2:]] == [proposed["events"]] * 2

    validated = run_cli("validate", str(root), "--format", "json")
    report = json.loads(validated.stdout)
    assert validated.exit_code == 0, [f["message"] for f in report["findings"] if f["severity"] == "error"]
    assert report["checks"] > 0
    coverage = json.loads(run_cli("coverage", str(root), "--format", "json").stdout)
    ours = next(s for s in coverage["sources"] if s["source_id"] == source_id)
    assert ours["sentences"] == 6 and ours["percent"] == 100 and ours["uncovered"] == 0
    assert coverage["totals"]["percent"] == 100

    # Nothing is left to code, and applying the same sheet again is refused.
    again = run_cli("code", source_id, str(root))
    assert again.exit_code == 0 and "every unit is covered" in again.stdout
    twice = run_cli("code", source_id, str(root), "--apply", str(path))
    assert twice.exit_code == 1 and "sheet-applied-before" in twice.stdout
    assert not list(root.glob(".nkru-sheet-*")) and not (root / ".nkru-release").exists()


def _unknown_actor(rows, units):
    next(r for r in rows if r["unit_id"] == units["claims"] and r["kind"] == "claim")["claimant_id"] = "A999"
    return units["claims"], "claimant_id", "foreign-key"


def _bad_date(rows, units):
    next(r for r in rows if r["unit_id"] == units["denial"])["date_start"] = "03.06.2024"
    return units["denial"], "date_start", "type-error"


def _quote_not_in_unit(rows, units):
    next(r for r in rows if r["unit_id"] == units["denial"])["quote"] = "Der Kreml wies die „Berichte“ zurück"
    return units["denial"], "quote", "sheet-quote-not-in-unit"


def _unmarked(rows, units):
    next(r for r in rows if r["unit_id"] == units["weather"])["kind"] = ""
    return units["weather"], "kind", "sheet-unmarked"


def _unknown_kind(rows, units):
    next(r for r in rows if r["unit_id"] == units["credit"])["kind"] = "exklusion"
    return units["credit"], "kind", "sheet-kind"


def _field_of_another_kind(rows, units):
    next(r for r in rows if r["unit_id"] == units["credit"])["denier_id"] = "A011"
    return units["credit"], "denier_id", "sheet-field-unused"


def _id_taken(rows, units):
    next(r for r in rows if r["unit_id"] == units["denial"])["id"] = "D001"
    return units["denial"], "id", "sheet-id-taken"


def _missing_reason(rows, units):
    next(r for r in rows if r["unit_id"] == units["weather"])["reason"] = ""
    return units["weather"], "reason", "constraint-error"


def _value_outside_vocabulary(rows, units):
    next(r for r in rows if r["unit_id"] == units["denial"])["response_type"] = "denied"
    return units["denial"], "response_type", "constraint-error"


MISTAKES: list[Callable] = [_unknown_actor, _bad_date, _quote_not_in_unit, _unmarked, _unknown_kind,
                            _field_of_another_kind, _id_taken, _missing_reason, _value_outside_vocabulary]


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.__name__.strip("_") for m in MISTAKES])
def test_a_mistake_in_the_sheet_is_found_on_its_line_and_nothing_is_written(package, mistake):
    root, source_id, path = package
    units = fill(root, source_id, path)
    header, rows = _read(path)
    unit_id, column, code = mistake(rows, units)
    _write(path, header, rows, delimiter=";")  # saved back by a German Excel: semicolons
    line = _line_of_unit(path, unit_id)
    before = _data(root)
    result = sheet.apply_sheet(root, source_id, path)
    assert not result.ok
    assert not result.written
    found = [f for f in result.errors if f.line == line and f.field == column]
    assert found, [(f.location, f.field, f.code, f.message) for f in result.findings]
    assert found[0].code == code and found[0].path == str(path), found[0]
    assert f"{path} line {line}" in found[0].message
    # One mistake, one finding: nothing else is wrong in the sheet.
    assert len(result.errors) == 1, [(f.location, f.code, f.message) for f in result.errors]
    assert _data(root) == before
    cli = run_cli("code", source_id, str(root), "--apply", str(path))
    assert cli.exit_code == 1 and "nothing written" in cli.stdout and f"{path}:{line}" in cli.stdout
    assert _data(root) == before


def test_a_near_miss_quote_gets_the_differing_characters(package):
    root, source_id, path = package
    units = fill(root, source_id, path)
    header, rows = _read(path)
    _quote_not_in_unit(rows, units)
    _write(path, header, rows)
    result = sheet.apply_sheet(root, source_id, path)
    (finding,) = result.errors
    assert '[„→]' in finding.hint and "U+201E DOUBLE LOW-9 QUOTATION MARK" in finding.hint


def test_a_dry_run_writes_nothing_and_a_crlf_table_keeps_its_line_endings(package):
    root, source_id, path = package
    fill(root, source_id, path)
    claims = root / "data" / "claims.csv"
    claims.write_bytes(claims.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    before = _data(root)
    dry = run_cli("code", source_id, str(root), "--apply", str(path), "--dry-run")
    assert dry.exit_code == 0 and "nothing written" in dry.stdout and _data(root) == before
    applied = sheet.apply_sheet(root, source_id, path)
    assert applied.ok, [f.message for f in applied.findings]
    after = claims.read_bytes()
    assert after.startswith(before["data/claims.csv"])
    assert after[len(before["data/claims.csv"]):].count(b"\r\n") == 2
    assert b"\n" not in after[len(before["data/claims.csv"]):].replace(b"\r\n", b"")


def test_an_existing_sheet_is_kept_and_usage_errors_exit_2(package):
    root, source_id, path = package
    fill(root, source_id, path)
    filled = path.read_bytes()
    again = run_cli("code", source_id, str(root))
    assert again.exit_code == 2 and "--force" in again.stderr and path.read_bytes() == filled
    other = root / "elsewhere.csv"
    written = run_cli("code", source_id, str(root), "--out", str(other))
    assert written.exit_code == 0 and other.is_file() and path.read_bytes() == filled
    assert run_cli("code", "S999", str(root)).exit_code == 2
    assert run_cli("code", source_id, str(root), "--apply", str(root / "missing.csv")).exit_code == 2
