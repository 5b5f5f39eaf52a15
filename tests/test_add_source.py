"""`nkru add-source`: archive an article byte for byte, append its sources row, list what to curate."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nkru import curate
from tests.helpers import run_cli

ARTICLE = ("Moskau und Pjöngjang vertiefen ihre Zusammenarbeit. Das sagte ein Sprecher am Montag.\r\n"
           "\r\n"
           "Kim Jong Un reiste nach Wladiwostok.  \n").encode("utf-8")
OPTIONS = ["--title", "Kim in Wladiwostok", "--publisher", "unknown", "--date", "2024-11", "--date-basis", "inferred"]


@pytest.fixture
def article(tmp_path: Path) -> Path:
    path = tmp_path / "article.txt"
    path.write_bytes(ARTICLE)
    return path


def _rows(package: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((package / "data/sources.csv").read_text(encoding="utf-8"), newline="")))


def _units(package: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((package / "data/units.csv").read_text(encoding="utf-8"), newline="")))


def test_add_source_archives_the_text_and_appends_the_row(package_copy, article):
    before = (package_copy / "data/sources.csv").read_bytes()
    count = len(_rows(package_copy))
    result = run_cli("add-source", str(article), str(package_copy), *OPTIONS)
    assert result.exit_code == 0, result.stderr
    new_id = f"S{count + 1:03d}"
    archived = package_copy / "data/sources" / f"{new_id}.txt"
    assert archived.read_bytes() == ARTICLE  # byte for byte: CRLF, trailing spaces and all
    after = (package_copy / "data/sources.csv").read_bytes()
    assert after.startswith(before)  # every other row byte-identical and in order
    rows = _rows(package_copy)
    assert len(rows) == count + 1
    row = rows[-1]
    assert row["source_id"] == new_id and row["text_path"] == f"data/sources/{new_id}.txt"
    assert row["text_sha256"] == hashlib.sha256(ARTICLE).hexdigest()
    assert (row["date_start"], row["date_end"], row["date_precision"], row["date_basis"]) == (
        "2024-11-01", "2024-11-30", "month", "inferred")
    assert row["title"] == "Kim in Wladiwostok" and row["language"] == "de" and row["url"] == ""
    # The sentences to curate, as file:line with their new unit IDs, and the next steps.
    units_before = _units(package_copy)
    last = max(int(u["unit_id"][1:]) for u in units_before)
    ids = [f"U{last + n:03d}" for n in (-2, -1, 0)]
    lines = result.stdout.splitlines()
    assert f"data/sources/{new_id}.txt:1  {ids[0]}  Moskau und Pjöngjang vertiefen ihre Zusammenarbeit." in lines
    assert f"data/sources/{new_id}.txt:3  {ids[2]}  Kim Jong Un reiste nach Wladiwostok." in lines
    # ... written as units, in the same step: offsets into the archived text as decoded, the next free IDs.
    text = ARTICLE.decode("utf-8")
    new_units = [u for u in units_before if u["source_id"] == new_id]
    assert [u["unit_id"] for u in new_units] == ids
    assert [text[int(u["start"]):int(u["end"])] for u in new_units] == [
        "Moskau und Pjöngjang vertiefen ihre Zusammenarbeit.", "Das sagte ein Sprecher am Montag.",
        "Kim Jong Un reiste nach Wladiwostok."]
    assert all(u["source_id"] != new_id for u in _units(Path(__file__).resolve().parents[1]))
    assert any("nkru coverage" in line for line in lines) and "Next steps" in result.stdout
    # The package stays structurally valid; the new units are what coverage now lists.
    assert run_cli("validate", str(package_copy), "--only", "structure,rules").exit_code == 0
    coverage = run_cli("coverage", str(package_copy))
    assert coverage.exit_code == 1 and f"data/sources/{new_id}.txt:3" in coverage.stdout


def test_the_same_text_twice_is_refused_naming_the_existing_source(package_copy, article):
    assert run_cli("add-source", str(article), str(package_copy), *OPTIONS).exit_code == 0
    snapshot = (package_copy / "data/sources.csv").read_bytes()
    files = sorted((package_copy / "data/sources").iterdir())
    result = run_cli("add-source", str(article), str(package_copy), *OPTIONS)
    assert result.exit_code == 1
    assert "already archived as S006" in result.stderr
    assert (package_copy / "data/sources.csv").read_bytes() == snapshot
    assert sorted((package_copy / "data/sources").iterdir()) == files
    # An article already in the real package, too.
    existing = package_copy / "data/sources/S002.txt"
    result = run_cli("add-source", str(existing), str(package_copy))
    assert result.exit_code == 1 and "S002" in result.stderr


def test_missing_values_without_a_terminal_are_a_usage_error(package_copy, article):
    before = (package_copy / "data/sources.csv").read_bytes()
    result = run_cli("add-source", str(article), str(package_copy), "--title", "x")
    assert result.exit_code == 2
    assert "--publisher" in result.stderr and "--date" in result.stderr and "--title" not in result.stderr
    assert (package_copy / "data/sources.csv").read_bytes() == before
    assert not (package_copy / "data/sources/S006.txt").exists()


@pytest.mark.parametrize("value, problem", [("2024-13", "month must be in 1..12"), ("yesterday", "give YYYY"),
                                             ("2024-11-30/2024-11-01", "end is before the start")])
def test_a_bad_date_is_a_usage_error_and_writes_nothing(package_copy, article, value, problem):
    options = [o if o != "2024-11" else value for o in OPTIONS]
    result = run_cli("add-source", str(article), str(package_copy), *options)
    assert result.exit_code == 2 and problem in result.stderr
    assert not (package_copy / "data/sources/S006.txt").exists()


def test_date_forms_and_precisions():
    vocabulary = ["day", "month", "year"]
    assert curate.parse_date_range("2024", vocabulary)[2] == "year"
    assert curate.parse_date_range("2024-02", vocabulary)[1].isoformat() == "2024-02-29"
    assert curate.parse_date_range("2024-02-03", vocabulary)[2] == "day"
    assert curate.parse_date_range("2024-03-01/2024-03-31", vocabulary)[2] == "month"
    with pytest.raises(ValueError, match="no value for other spans"):
        curate.parse_date_range("2024-03-01/2024-04-15", vocabulary)
    start, end, precision = curate.parse_date_range("2024-03-01/2024-04-15", [*vocabulary, "range"])
    assert (start.isoformat(), end.isoformat(), precision) == ("2024-03-01", "2024-04-15", "range")


def test_columns_are_filled_by_name_and_unknown_ones_stay_empty(package_copy, article):
    # A sources table with a column this code does not know, in another order, with CRLF line ends.
    rows = _rows(package_copy)
    header = ["source_id", "extra", *[k for k in rows[0] if k != "source_id"]]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({**r, "extra": "kept"} for r in rows)
    (package_copy / "data/sources.csv").write_bytes(buffer.getvalue().encode("utf-8"))
    before = (package_copy / "data/sources.csv").read_bytes()
    added = curate.add_source(package_copy, article, curate.NewSource(
        title="T, with a comma", publisher="p", date="2024-11-22", date_basis="stated", language="de"))
    after = (package_copy / "data/sources.csv").read_bytes()
    assert after.startswith(before) and after.endswith(b"\r\n") and after.count(b"\r\n") == before.count(b"\r\n") + 1
    new = _rows(package_copy)[-1]
    assert new["extra"] == "" and new["source_id"] == added.source_id and new["title"] == "T, with a comma"
    assert new["date_precision"] == "day"


def test_values_are_asked_for_on_a_terminal(package_copy, article):
    master, slave = os.openpty()
    try:
        process = subprocess.Popen([sys.executable, "-m", "nkru", "add-source", str(article), str(package_copy),
                                    "--date-basis", "stated", "--language", "de"],
                                   stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for answer in ("Ein Titel", "news.de", "2024-11-22"):
            time.sleep(0.2)
            os.write(master, f"{answer}\n".encode())
        out, err = process.communicate(timeout=120)
    finally:
        os.close(master)
        os.close(slave)
    assert process.returncode == 0, err
    assert "Title" in out and "Publisher" in out and "Date" in out
    row = _rows(package_copy)[-1]
    assert (row["title"], row["publisher"], row["date_start"], row["date_precision"]) == (
        "Ein Titel", "news.de", "2024-11-22", "day")


def test_a_failed_units_write_leaves_no_text_and_no_row(package_copy, article, monkeypatch):
    """The text, its sources row and its units are added together or not at all."""
    real = curate.atomic_write_bytes
    sources_before = (package_copy / "data/sources.csv").read_bytes()
    units_before = (package_copy / "data/units.csv").read_bytes()
    texts_before = sorted(p.name for p in (package_copy / "data/sources").iterdir())

    def failing(path, data):
        if Path(path).name == "units.csv":
            raise OSError(28, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(curate, "atomic_write_bytes", failing)
    with pytest.raises(curate.AddSourceError):
        curate.add_source(package_copy, article, curate.NewSource(
            title="T", publisher="p", date="2024-11-22", date_basis="stated", language="de"))
    assert (package_copy / "data/sources.csv").read_bytes() == sources_before
    assert (package_copy / "data/units.csv").read_bytes() == units_before
    assert sorted(p.name for p in (package_copy / "data/sources").iterdir()) == texts_before
