"""Small helpers for editing package copies in tests and running the CLI."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Every resource of the real package, from its descriptor (never a hand list).
RESOURCES = [r["name"] for r in json.loads((REPO / "datapackage.json").read_text(encoding="utf-8"))["resources"]]
#: The curated tables that must hold rows (retractions may be empty until a released row is withdrawn).
CURATED = [name for name in RESOURCES if name != "retractions"]


def read_table(package: Path, resource: str) -> tuple[list[str], list[dict[str, str]]]:
    with open(package / "data" / f"{resource}.csv", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def write_table(package: Path, resource: str, header: list[str], rows: list[dict[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    (package / "data" / f"{resource}.csv").write_text(buffer.getvalue(), encoding="utf-8")


def line_of(package: Path, resource: str, index: int) -> int:
    """The file line on which data row `index` (0-based) starts; the header is line 1."""
    text = (package / "data" / f"{resource}.csv").read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    end = 0
    for position, _ in enumerate(reader):
        start, end = end + 1, reader.line_num
        if position == index + 1:
            return start
    raise IndexError(index)


def set_cell(package: Path, resource: str, index: int, field: str, value: str) -> int:
    """Set one cell of a package copy; returns the row's file line."""
    header, rows = read_table(package, resource)
    rows[index][field] = value
    write_table(package, resource, header, rows)
    return line_of(package, resource, index)


def run_cli(*args: str):
    """Run `nkru ARGS` in-process; returns typer's Result (stdout, stderr, exit_code)."""
    from typer.testing import CliRunner

    from nkru.cli import app

    return CliRunner().invoke(app, list(args))


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` (no global config needed); returns stdout."""
    import subprocess

    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def init_repo(repo: Path, *, commit: str | None = None) -> Path:
    """`git init` with a local identity and no signing; optionally commit everything."""
    git(repo, "init", "-q")
    git(repo, "config", "user.name", "nkru tests")
    git(repo, "config", "user.email", "tests@nkru.invalid")
    git(repo, "config", "commit.gpgsign", "false")
    git(repo, "config", "tag.gpgsign", "false")
    if commit is not None:
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", commit)
    return repo


def covering(cases, *axes, ids=None):
    """`cases` (tuples, single values or pytest.param) as pytest params; those the fast loop does not need marked slow.

    An axis is a function of a case's values (default: one per position). The fast loop (`pytest -m "not slow"`)
    runs a few cases that between them show every value of every axis, picked greedily (next, the case showing
    the most values not shown yet; the first such); the rest only combine values already shown and are marked
    `slow`, so the full run still runs them. For sweeps whose every case validates or writes a copy of the package."""
    import pytest
    from _pytest.mark import ParameterSet

    sets = [case if isinstance(case, ParameterSet) else pytest.param(*(case if isinstance(case, tuple) else (case,)))
            for case in cases]
    axes = axes or tuple((lambda *values, i=i: values[i]) for i in range(len(sets[0].values) if sets else 0))
    shows = [{(a, axis(*case.values)) for a, axis in enumerate(axes)} for case in sets]
    shown: set = set()
    fast: set[int] = set()
    while len(fast) < len(sets):
        gain, index = max((len(values - shown), -i) for i, values in enumerate(shows) if i not in fast)
        if gain == 0:
            break
        fast.add(-index)
        shown |= shows[-index]
    ids = list(ids) if ids is not None else [case.id for case in sets]
    return [pytest.param(*case.values, id=ids[i], marks=(*case.marks, *(() if i in fast else (pytest.mark.slow,))))
            for i, case in enumerate(sets)]


def first(*case) -> None:
    """An axis with one value, for `covering`: the fast loop runs the sweep's first case (the others check the
    same code path on other resources or values)."""
    return None


def examples(budget: int) -> int:
    """A property test's own budget of examples, cut like the profile's in the fast loop (tests/conftest.py):
    `budget` in the full run, a fifth of it under `pytest -m "not slow"`."""
    from hypothesis import settings

    default = settings.default.max_examples
    return budget if default >= 100 else max(10, budget * default // 100)
