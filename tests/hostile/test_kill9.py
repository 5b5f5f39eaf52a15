"""kill -9 at any point of `nkru report` and `nkru export` leaves the old output or the new one, never
a mix or a half-written file; a rerun completes and leaves no temporary files behind.

The process is killed by the one test hook of the write mechanism (nkru.transaction, `NKRU_TEST_KILL_AT=STEP[:N]`:
SIGKILL at the N-th pass of that step of the transaction, `*` for any step) and, for more points in between, after
random delays (`NKRU_FUZZ_EXAMPLES` sets how many; a few by default). A kill after the commit point leaves a
journal that the next write into the same folder completes first (`recover`, called here as that write would).
`nkru add-source` (the text and its row in sources.csv) is killed at every step too. Release atomicity is tested with
`nkru release` (tests/test_release_atomic.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from nkru.transaction import KILL_ENV, STATE_DIR, recover
from tests.conftest import copy_package
from tests.helpers import run_cli, set_cell

OLD, NEW = "KILL9-OLD-STATE", "KILL9-NEW-STATE"
RANDOM_KILLS = max(1, int(os.environ.get("NKRU_FUZZ_EXAMPLES", "3")) // 5)


def nkru(*args: str, kill_at: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV}
    if kill_at:
        env[KILL_ENV] = kill_at
    return subprocess.run([sys.executable, "-m", "nkru", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)


def nkru_here(*args: str) -> int:
    """Run `nkru ARGS` in this process (no kill planned: the uninterrupted runs before and after the kills
    need no process of their own); returns the exit code."""
    assert KILL_ENV not in os.environ
    return run_cli(*args).exit_code


def nkru_killed_after(delay: float, *args: str) -> int:
    process = subprocess.Popen([sys.executable, "-m", "nkru", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=delay)  # done before the delay: there is nothing left to kill
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
    return process.wait()


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> tuple[Path, Path]:
    """Two versions of the package that differ in one cell every output shows."""
    root = tmp_path_factory.mktemp("kill9")
    old, new = copy_package(root / "old"), copy_package(root / "new")
    set_cell(old, "events", 0, "title", OLD)
    set_cell(new, "events", 0, "title", NEW)
    return old, new


pytestmark = pytest.mark.slow


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if any(mark in p.name for mark in (".nkru-staged", ".nkru-old", STATE_DIR)))


def settled(folder: Path, state) -> set[str]:
    """The state a kill left in `folder` (whole, when there is no journal), then the state once the next write
    has recovered it."""
    seen = set() if (folder / STATE_DIR).exists() else {state()}
    recover(folder)
    return seen | {state()}


# -- report --------------------------------------------------------------------------------------


def report_state(out: Path) -> str:
    """"old" or "new" when OUT holds exactly one whole report; fails on anything else."""
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "nkru-report.json"], sorted(out.iterdir())
    html = (out / "index.html").read_bytes()
    marker = json.loads((out / "nkru-report.json").read_text(encoding="utf-8"))
    assert marker["sha256"]["index.html"] == hashlib.sha256(html).hexdigest(), "marker and page disagree"
    text = html.decode("utf-8")
    assert text.rstrip().endswith("</html>")
    states = [state for state, word in (("old", OLD), ("new", NEW)) if word in text]
    assert len(states) == 1, states
    return states[0]


REPORT_POINTS = ["begun", "staged", "committed", "parked", "replaced", "done"]


def test_report_killed_at_every_step_leaves_the_old_report_or_the_new(packages, tmp_path):
    old, new = packages
    out = tmp_path / "report"
    assert nkru_here("report", str(old), "--out", str(out), "--no-validate") == 0
    assert report_state(out) == "old"
    seen = set()
    points = [(point, None) for point in REPORT_POINTS] + [(None, random.uniform(0.5, 6.0)) for _ in range(RANDOM_KILLS)]
    for point, delay in points:
        if report_state(out) == "new":  # start each kill from the old report
            assert nkru_here("report", str(old), "--out", str(out), "--no-validate") == 0
        if point:
            result = nkru("report", str(new), "--out", str(out), "--no-validate", kill_at=point)
            assert result.returncode == -signal.SIGKILL, (point, result.stderr)
        else:
            nkru_killed_after(delay, "report", str(new), "--out", str(out), "--no-validate")
        seen |= settled(tmp_path, lambda: report_state(out))
    assert seen <= {"old", "new"} and "new" in seen  # killed after the swap, the new report is whole
    assert nkru_here("report", str(new), "--out", str(out), "--no-validate") == 0  # a rerun recovers
    assert report_state(out) == "new"
    assert leftovers(tmp_path) == []


# -- export --------------------------------------------------------------------------------------


def _sqlite_title(path: Path) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return db.execute("SELECT title FROM events ORDER BY rowid LIMIT 1").fetchone()[0]


def _duckdb_title(path: Path) -> str:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT title FROM events LIMIT 1").fetchone()[0]
    finally:
        con.close()


def _parquet_title(path: Path) -> str:
    import pyarrow.parquet as pq

    assert sorted(p.suffix for p in path.iterdir()) == [".parquet"] * len(list(path.iterdir()))
    titles = {pq.read_table(path / "events.parquet").column("title")[0].as_py()}
    versions = {pq.read_schema(p).metadata[b"resource"] for p in path.iterdir()}
    assert len(versions) == len(list(path.iterdir()))  # every resource's file is there and readable
    return titles.pop()


def _xlsx_title(path: Path) -> str:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True)
    return next(workbook["events"].iter_rows(min_row=2, max_row=2, values_only=True))[list(
        next(workbook["events"].iter_rows(max_row=1, values_only=True))).index("title")]


EXPORTS = {
    "sqlite": ("nkru.sqlite", _sqlite_title, []),  # a transaction: see the test below
    "duckdb": ("nkru.duckdb", _duckdb_title, ["begun", "staged", "committed", "replaced", "done"]),
    "parquet": ("nkru-parquet", _parquet_title, ["begun", "staged", "committed", "parked", "replaced", "done"]),
    "xlsx": ("nkru.xlsx", _xlsx_title, ["begun", "staged", "committed", "replaced", "done"]),
}


def export_state(folder: Path, fmt: str) -> str:
    name, read, _ = EXPORTS[fmt]
    title = read(folder / name)
    assert title in (OLD, NEW), title
    if fmt == "sqlite":  # the Datasette metadata beside it is whole too (written after the database)
        json.loads((folder / "nkru.metadata.json").read_text(encoding="utf-8"))
    return "old" if title == OLD else "new"


@pytest.mark.parametrize("fmt", [fmt for fmt in EXPORTS if EXPORTS[fmt][2]])
def test_export_killed_at_every_step_leaves_the_old_export_or_the_new(packages, tmp_path, fmt):
    old, new = packages
    folder = tmp_path / "exports"
    args = lambda package: ("export", "--format", fmt, "--no-validate", "--out", str(folder) + "/", str(package))  # noqa: E731
    assert nkru_here(*args(old)) == 0
    assert export_state(folder, fmt) == "old"
    seen = set()
    points = [(point, None) for point in EXPORTS[fmt][2]] + [(None, random.uniform(0.5, 5.0)) for _ in range(RANDOM_KILLS)]
    for point, delay in points:
        if export_state(folder, fmt) == "new":
            assert nkru_here(*args(old)) == 0
        if point:
            result = nkru(*args(new), kill_at=point)
            assert result.returncode == -signal.SIGKILL, (point, result.stderr)
        else:
            nkru_killed_after(delay, *args(new))
        seen |= settled(folder, lambda: export_state(folder, fmt))
    assert "new" in seen and "old" in seen
    assert nkru_here(*args(new)) == 0  # a rerun recovers
    assert export_state(folder, fmt) == "new"
    assert leftovers(tmp_path) == []


# -- export's two files: the SQLite database and its Datasette metadata ------------------------------

def sqlite_state(folder: Path) -> str:
    """"old" or "new" when the database and the metadata beside it are the same export; fails on a mix."""
    title = _sqlite_title(folder / "nkru.sqlite")
    description = json.loads((folder / "nkru.metadata.json").read_text(encoding="utf-8"))["description"]
    states = {"old" if title == OLD else "new" if title == NEW else "?",
              "old" if description.startswith(OLD) else "new" if description.startswith(NEW) else "?"}
    assert len(states) == 1 and "?" not in states, f"database and metadata disagree: {title!r}, {description[:40]!r}"
    return states.pop()


def test_sqlite_export_killed_between_its_renames_leaves_the_old_files_or_the_new(packages, tmp_path):
    old, new = (copy_package(tmp_path / name) for name in ("old", "new"))
    for package, word in ((old, OLD), (new, NEW)):
        set_cell(package, "events", 0, "title", word)
        descriptor = json.loads((package / "datapackage.json").read_text(encoding="utf-8"))
        descriptor["description"] = f"{word} {descriptor.get('description', '')}"
        (package / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    folder = tmp_path / "exports"
    args = lambda package: ("export", "--format", "sqlite", "--no-validate", "--out", str(folder) + "/", str(package))  # noqa: E731
    assert nkru_here(*args(old)) == 0
    assert sqlite_state(folder) == "old"
    seen = set()
    steps = 0
    for step in range(1, 40):  # every step of the transaction (journal, two staged files, commit, two renames, done)
        if sqlite_state(folder) == "new":
            assert nkru_here(*args(old)) == 0
        result = nkru(*args(new), kill_at=f"*:{step}")
        if result.returncode == 0:
            break  # fewer steps than `step`: every one has been tried
        assert result.returncode == -signal.SIGKILL, (step, result.stderr)
        steps += 1
        seen |= settled(folder, lambda: sqlite_state(folder))
    assert steps == 7
    assert seen == {"old", "new"}
    assert nkru_here(*args(new)) == 0
    assert sqlite_state(folder) == "new"
    assert leftovers(tmp_path) == []


# -- add-source: the text and its row -----------------------------------------------------------------

ARTICLE = "Kim Jong Un traf Putin in Wladiwostok. Ein zweiter Satz folgt.\n"


def test_add_source_killed_at_every_step_leaves_neither_or_both(tmp_path):
    """Killed between writing the text, appending its row and appending its units (and at every other step), the
    package has the new text, its row and its units, or none of them: never a text without its row or units."""
    package = copy_package(tmp_path / "package")
    article = tmp_path / "article.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    table, texts, units = package / "data" / "sources.csv", package / "data" / "sources", package / "data" / "units.csv"
    old_table, old_texts, old_units = table.read_bytes(), sorted(p.name for p in texts.iterdir()), units.read_bytes()
    args = ("add-source", str(article), str(package), "--title", "T", "--publisher", "unknown", "--date", "2024-11",
            "--date-basis", "inferred", "--language", "de")

    def state() -> str:
        now_table, now_texts, now_units = table.read_bytes(), sorted(p.name for p in texts.iterdir()), units.read_bytes()
        if (now_table, now_texts, now_units) == (old_table, old_texts, old_units):
            return "old"
        added = sorted(set(now_texts) - set(old_texts))
        assert len(added) == 1 and len(now_texts) == len(old_texts) + 1, f"texts: {added}"
        assert (texts / added[0]).read_text(encoding="utf-8") == ARTICLE
        assert now_table.startswith(old_table), "the table was not appended to"
        row = now_table[len(old_table):].decode("utf-8")
        assert row.count("\n") == 1 and row.startswith(added[0][:-4] + ","), f"a text without its row: {row!r}"
        new_units = now_units[len(old_units):].decode("utf-8") if now_units.startswith(old_units) else ""
        assert new_units.count(f",{added[0][:-4]},") >= 1, f"a text without its units: {new_units!r}"
        return "new"

    def reset() -> None:
        for name in set(p.name for p in texts.iterdir()) - set(old_texts):
            (texts / name).unlink()
        table.write_bytes(old_table)
        units.write_bytes(old_units)

    seen, steps = set(), 0
    for step in range(1, 40):
        reset()
        result = nkru(*args, kill_at=f"*:{step}")
        if result.returncode == 0:
            assert state() == "new"
            break
        assert result.returncode == -signal.SIGKILL, (step, result.stderr)
        steps += 1
        seen |= settled(package, state)
    assert steps == 9  # journal, the text, the table and the units staged, commit, three renames, journal removed
    assert seen == {"old", "new"}
    assert leftovers(package) == []
