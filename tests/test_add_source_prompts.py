"""`nkru add-source` on a terminal asks again, with the reason, when an answer will not do (answers fed on stdin)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each case drives nkru in a pseudo-terminal

ARTICLE = "Kim reiste nach Wladiwostok. Der Kreml schwieg.\n".encode("utf-8")


def _rows(package: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((package / "data/sources.csv").read_text(encoding="utf-8"), newline="")))


def _on_a_terminal(args: list[str], answers: list[str]) -> subprocess.CompletedProcess:
    """Run `nkru add-source ARGS` with a pseudo-terminal as stdin holding `answers`, one a line."""
    master, slave = os.openpty()
    try:
        process = subprocess.Popen([sys.executable, "-m", "nkru", "add-source", *args], stdin=slave,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.write(master, "".join(f"{answer}\n" for answer in answers).encode("utf-8"))
        out, err = process.communicate(timeout=120)
    finally:
        os.close(master)
        os.close(slave)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


# (options given, answers typed, what the command must have said, the row's fields it must have written)
CASES = [
    pytest.param(["--title", "T", "--publisher", "p", "--date-basis", "stated", "--language", "de"],
                 ["12.03.2025", "2025-03-12"],
                 ["Error: give YYYY, YYYY-MM, YYYY-MM-DD or START/END (for 12.03.2025 as day.month.year, type 2025-03-12)"],
                 {"date_start": "2025-03-12", "date_end": "2025-03-12", "date_precision": "day"}, id="german-date"),
    pytest.param(["--title", "T", "--publisher", "p", "--date-basis", "stated", "--language", "de"],
                 ["2024-02-30", "2024-11-31/2024-12-02", "2024-02"],
                 ["Error: day is out of range for month", "Error: START/END must be two dates YYYY-MM-DD"],
                 {"date_start": "2024-02-01", "date_end": "2024-02-29", "date_precision": "month"}, id="impossible-dates"),
    pytest.param(["--title", "T", "--publisher", "p", "--date", "2024", "--language", "de"],
                 ["maybe", "inferred"], ["Error: choose from stated, inferred"],
                 {"date_basis": "inferred", "date_precision": "year"}, id="basis-outside-the-vocabulary"),
    pytest.param(["--title", "T", "--publisher", "p", "--date", "2024", "--date-basis", "stated", "--language", "deutsch!"],
                 ["xx-!!", "de-AT"], ["--language 'deutsch!': not a BCP 47 language tag", "Error: not a BCP 47 language tag"],
                 {"language": "de-AT"}, id="language"),
    pytest.param(["--title", "T", "--publisher", "p", "--date", "2024-13", "--date-basis", "stated", "--language", "de"],
                 ["2024-12"], ["--date '2024-13': month must be in 1..12"],
                 {"date_start": "2024-12-01", "date_end": "2024-12-31"}, id="bad-option-asked-again"),
    pytest.param(["--date", "2024", "--date-basis", "stated", "--language", "de"],
                 ["", "   ", "Ein Titel", "news.de"], [], {"title": "Ein Titel", "publisher": "news.de"}, id="empty-answers"),
]


@pytest.mark.parametrize("options,answers,said,written", CASES)
def test_a_wrong_answer_is_asked_again_with_the_reason(package_copy, tmp_path, options, answers, said, written):
    article = tmp_path / "article.txt"
    article.write_bytes(ARTICLE)
    before = len(_rows(package_copy))
    result = _on_a_terminal([str(article), str(package_copy), *options], answers)
    assert result.returncode == 0, result.stderr + result.stdout
    for words in said:
        assert words in result.stdout + result.stderr, result.stdout + result.stderr
    rows = _rows(package_copy)
    assert len(rows) == before + 1
    assert {name: rows[-1][name] for name in written} == written
    assert written  # checked more than zero fields


def test_giving_up_writes_nothing(package_copy, tmp_path):
    article = tmp_path / "article.txt"
    article.write_bytes(ARTICLE)
    before = (package_copy / "data/sources.csv").read_bytes()
    # Only wrong answers, then end of input: the command ends without a traceback and adds nothing.
    result = _on_a_terminal([str(article), str(package_copy), "--title", "T", "--publisher", "p", "--date-basis",
                             "stated", "--language", "de"], ["12.03.2025", "\x04"])
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert (package_copy / "data/sources.csv").read_bytes() == before
    assert not list((package_copy / "data/sources").glob("S006*"))
