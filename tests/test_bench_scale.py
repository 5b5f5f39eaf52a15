"""The realistic-ratio scale benchmark's parts (benchmarks/scale_package.py, benchmarks/scale_floor.py) on 1k claims:
the generated package validates with 0 errors, the DuckDB floor finds 0 problems in it, and both find each
mistake broken into a copy (so neither passes by checking nothing)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from scale_floor import Floor  # noqa: E402
from scale_package import generate, sentences_path  # noqa: E402

pytestmark = pytest.mark.slow

CLAIMS = 1_000


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    return generate(root / "package", CLAIMS), root / "cache"


def nkru_validate(package: Path, cache: Path, *extra: str) -> dict:
    env = {**os.environ, "NKRU_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-m", "nkru", "validate", str(package), "--format", "json", *extra],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def floor(package: Path) -> dict:
    return Floor(package, sentences_path(package)).run()


def test_generated_package_has_the_real_ratios(generated):
    made, _ = generated
    real = {name: sum(1 for _ in csv.reader(io.StringIO((REPO / "data" / f"{name}.csv").read_text(encoding="utf-8")))) - 1
            for name in made.rows}
    assert made.rows["claims"] >= CLAIMS
    assert made.copies == -(-CLAIMS // real["claims"])
    for name, rows in made.rows.items():  # every resource, the real package's rows per copy
        assert rows == real[name] * made.copies, name
    texts = sorted((made.root / "data" / "sources").glob("*.txt"))
    assert len(texts) == made.texts == made.rows["sources"]
    assert len({p.read_bytes() for p in texts}) == len(texts)  # every text its own
    real_bytes = sum(p.stat().st_size for p in (REPO / "data" / "sources").glob("*.txt"))
    assert made.text_bytes == real_bytes * made.copies  # the real length: lines reordered, none added or dropped
    manifest = json.loads((made.root / "releases" / f"{made.release}.json").read_text(encoding="utf-8"))
    assert manifest["resources"]["claims"]["rows"] == real["claims"] * made.base_copies < made.rows["claims"]


def test_generated_package_is_valid_and_the_floor_agrees(generated):
    made, cache = generated
    report = nkru_validate(made.root, cache)
    assert report["errors"] == 0, [f["message"] for f in report["findings"] if f["severity"] == "error"][:5]
    layers = {layer["layer"]: layer for layer in report["layers"]}
    assert set(layers) >= {"structure", "rules", "coverage", "metadata"}
    assert all(layer["checks"] > 0 for layer in layers.values())
    assert not any(f["code"] in ("baseline-missing", "manifest-unreadable") for f in report["findings"])  # IDs compared
    result = floor(made.root)
    assert result["total"] == 0, result["problems"]
    assert len(result["problems"]) >= 20  # every kind of check ran


def _edit_csv(package: Path, name: str, change) -> None:
    path = package / "data" / f"{name}.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    header, data = rows[0], rows[1:]
    change(header, data)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *data])
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _set(name_field: str, row_index: int, value_of):
    def change(header, rows):
        column = header.index(name_field)
        rows[row_index][column] = value_of(rows[row_index], header)
    return change


def shift_quote(package: Path) -> None:
    def change(header, rows):
        start, end = header.index("quote_start"), header.index("quote_end")
        rows[0][start], rows[0][end] = str(int(rows[0][start]) + 1), str(int(rows[0][end]) + 1)
    _edit_csv(package, "claims", change)


def edit_text(package: Path) -> None:
    text = sorted((package / "data" / "sources").glob("S*.txt"))[3]
    text.write_bytes(text.read_bytes() + b" ")


def reverse_dates(package: Path) -> None:
    _edit_csv(package, "claims", _set("date_start", 5, lambda row, header: "2030-01-01"))


def drop_released_exclusion(package: Path) -> None:
    _edit_csv(package, "exclusions", lambda header, rows: rows.pop(0))


def unknown_claimant(package: Path) -> None:
    _edit_csv(package, "claims", _set("claimant_id", 7, lambda row, header: "A9999999"))


def trailing_space(package: Path) -> None:
    _edit_csv(package, "actors", _set("name", 2, lambda row, header: row[header.index("name")] + " "))


def bad_enum(package: Path) -> None:
    _edit_csv(package, "claims", _set("claim_type", 9, lambda row, header: "rumour"))


MUTATIONS = [
    # (mutation, the nkru layer that owns it, a finding code it reports, the floor's check that must count it)
    (shift_quote, "coverage", "quote-offsets-mismatch", "quote-offsets"),
    (edit_text, "coverage", "source-text-hash", "text-hash"),
    (reverse_dates, "rules", "date-order", "dates"),
    (drop_released_exclusion, "metadata", "released-id-missing", "released-id-missing"),
    (drop_released_exclusion, "coverage", "uncovered-sentence", "uncovered"),
    (unknown_claimant, "structure", "foreign-key", "foreign-key"),
    (trailing_space, "rules", "text-whitespace", "hygiene"),
    (bad_enum, "structure", "constraint", "cells"),
]


@pytest.mark.parametrize("mutate, layer, code, check", MUTATIONS, ids=[f"{m.__name__}-{c}" for m, _, c, _ in MUTATIONS])
def test_floor_and_nkru_both_find_a_mistake(generated, tmp_path, mutate, layer, code, check):
    made, cache = generated
    package = tmp_path / "package"
    shutil.copytree(made.root, package)
    shutil.copy2(sentences_path(made.root), sentences_path(package))
    mutate(package)
    result = floor(package)
    assert result["problems"][check] > 0, result["problems"]
    report = nkru_validate(package, cache, "--only", layer)
    assert report["errors"] > 0
    codes = {f["code"] for f in report["findings"] if f["severity"] == "error"}
    assert any(code in found for found in codes), codes


UNITS_SCHEMA = {
    "fields": [
        {"name": "unit_id", "type": "string", "constraints": {"required": True, "unique": True,
                                                             "pattern": "^U([0-9]{3}|[1-9][0-9]{3,})$"}},
        {"name": "source_id", "type": "string", "constraints": {"required": True}},
        {"name": "start", "type": "integer", "constraints": {"required": True, "minimum": 0}},
        {"name": "end", "type": "integer", "constraints": {"required": True, "minimum": 1}},
    ],
    "primaryKey": ["unit_id"],
    "foreignKeys": [{"fields": ["source_id"], "reference": {"resource": "sources", "fields": ["source_id"]}}],
    "missingValues": [""],
}


def test_units_resource_is_generated_when_the_template_declares_one(tmp_path):
    """A template that declares `units` (issue 22) but has no rows yet: the generator writes every text's units
    (nkru's own sentence split, moved with the lines), they tile the texts and are all covered; a broken tiling
    and a unit no quote covers are each found by the floor."""
    template = tmp_path / "template"
    shutil.copytree(REPO / "schemas", template / "schemas")
    shutil.copytree(REPO / "data", template / "data")
    for name in ("CITATION.cff", ".zenodo.json", "CHANGELOG.md", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, template / name)
    shutil.copy2(REPO / "datapackage.json", template / "datapackage.json")
    units_csv = template / "data" / "units.csv"
    assert json.loads((template / "datapackage.json").read_text(encoding="utf-8"))["resources"][1]["name"] == "units"
    units_csv.write_text(units_csv.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")  # no rows yet

    made = generate(tmp_path / "package", 200, template=template)
    assert made.units_in_package and made.rows["units"] > made.rows["sources"] * 5
    result = Floor(made.root).run()
    assert result["units"] == "units (data)"
    assert result["total"] == 0 and result["problems"]["units-tiling"] == 0, result["problems"]

    def widen_first_unit(header, rows):
        end = header.index("end")
        rows[0][end] = str(int(rows[0][end]) + 3)  # now overlaps the next unit or ends inside a word
    _edit_csv(made.root, "units", widen_first_unit)
    assert Floor(made.root).run()["problems"]["units-tiling"] > 0

    _edit_csv(made.root, "units", lambda header, rows: rows.append(["U999999", rows[0][1], "0", "1"]))
    with_stray = Floor(made.root).run()["problems"]
    assert with_stray["units-tiling"] > 0
