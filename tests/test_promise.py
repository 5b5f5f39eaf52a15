"""The promise of the one reader, as a property: for packages made by mutating the valid one,
if `nkru validate` passes then `load()` (both engines), every export and the report succeed.

Each example breaks a copy of the real package in a few random ways (any cell set to awkward
text, rows duplicated or dropped, blank lines, a header cell renamed). Most examples then fail
validation, which is fine; those that pass must load, export and render. The expectations layer
is skipped while judging: it only adds failures, so a package that passes without it is the
harder case for the promise.

Budget: `NKRU_PROPERTY_EXAMPLES` examples (default 5, each a few seconds); raise it for a long run.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from nkru.api import validate_package
from nkru.export import FORMATS, export
from nkru.loader import load
from nkru.report import write_report
from tests.conftest import copy_package
from tests.helpers import CURATED, read_table, write_table

pytestmark = pytest.mark.slow  # validates, loads, exports and renders many mutated packages

EXAMPLES = int(os.environ.get("NKRU_PROPERTY_EXAMPLES", "5"))

AWKWARD = st.one_of(
    st.sampled_from(["", " ", "2024-6-1", "2024-02-30", "1.5", "-1", "=1+1", "a;b;c", 'quote " inside', "line\nbreak",
                     "x" * 40_000, "\u00e9", "e\u0301", "\x00", "\ufeff", "NaN", "true", "A999", "E001", "S001"]),
    st.text(max_size=30),
)
PLAIN = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüß ,.;:'\"()0123456789", min_size=1, max_size=60).map(str.strip).filter(bool)
NOTE = st.tuples(st.just("note"), st.sampled_from(CURATED), st.integers(0, 200), PLAIN)
MUTATION = st.one_of(
    NOTE,
    st.tuples(st.just("cell"), st.sampled_from(CURATED), st.integers(0, 200), st.integers(0, 30), AWKWARD),
    st.tuples(st.just("duplicate"), st.sampled_from(CURATED), st.integers(0, 200)),
    st.tuples(st.just("drop"), st.sampled_from(CURATED), st.integers(0, 200)),
    st.tuples(st.just("blank"), st.sampled_from(CURATED), st.integers(1, 3)),
    st.tuples(st.just("rename"), st.sampled_from(CURATED), st.integers(0, 30), st.text(min_size=1, max_size=8)),
)


def mutate(package: Path, mutation: tuple) -> None:
    kind, resource = mutation[0], mutation[1]
    header, rows = read_table(package, resource)
    if not rows:
        return
    if kind == "note":  # a free-text edit that usually keeps the package valid
        _, _, row, value = mutation
        if "notes" in header:
            rows[row % len(rows)]["notes"] = value
    elif kind == "cell":
        _, _, row, column, value = mutation
        rows[row % len(rows)][header[column % len(header)]] = value
    elif kind == "duplicate":
        rows.append(dict(rows[mutation[2] % len(rows)]))
    elif kind == "drop":
        rows.pop(mutation[2] % len(rows))
    elif kind == "rename":
        renamed = list(header)
        renamed[mutation[2] % len(header)] = mutation[3]
        path = package / "data" / f"{resource}.csv"
        rest = path.read_text(encoding="utf-8").split("\n", 1)[1]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(renamed)
        path.write_text(buffer.getvalue() + rest, encoding="utf-8")
        return
    elif kind == "blank":
        write_table(package, resource, header, rows)
        path = package / "data" / f"{resource}.csv"
        path.write_text(path.read_text(encoding="utf-8") + "\n" * mutation[2], encoding="utf-8")
        return
    write_table(package, resource, header, rows)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.lists(NOTE, min_size=1, max_size=3), st.lists(MUTATION, min_size=1, max_size=3)))
def test_a_package_that_validates_loads_exports_and_renders(mutations):
    work = Path(tempfile.mkdtemp(prefix="nkru-promise-"))
    try:
        package = copy_package(work / "package")
        for mutation in mutations:
            mutate(package, mutation)
        report = validate_package(package, skip=["expectations"])
        assert report.checks > 0
        event("valid" if report.valid else "invalid")
        if not report.valid:
            return
        for engine in ("pandas", "polars"):
            data = load(package, engine=engine)
            assert len(data) > 0
        for name in FORMATS:
            result = export(package, to=name, out=work / "exports" / name)
            assert result.files
        written = write_report(work / "report", package, validate=False)
        assert written is not None and (work / "report" / "index.html").is_file()
    finally:
        shutil.rmtree(work, ignore_errors=True)
