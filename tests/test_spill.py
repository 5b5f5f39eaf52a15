"""A package too large to hold at once holds its tables one at a time (`Package.spills`, `Table.spill`).

The structure layer spills each table after its own checks (keeping the keys foreign keys compare), the rules
layer checks one table at a time and looks up other tables' columns alone (`rules.TypedTables.part`), and a
spilled column is read again from its file when a later check asks for it. It must change nothing a user sees:
the same findings and the same check counts as holding every table. `SPILL_ABOVE = 0` makes any folder package
spill, so the real package and its mutations are checked both ways here; at a million claims it is what keeps
`nkru validate` under 2 GB (benchmarks/memory_by_layer.py, docs/performance.md).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from nkru import package as package_module
from nkru.api import Options, validate_package
from nkru.package import Package
from nkru.reader import ColumnReleased, ReadError
from tests.conftest import copy_package
from tests.helpers import read_table, write_table
from tests.test_mutations import LAYERS_UNDER_TEST, MUTATIONS


@pytest.fixture
def spilling(monkeypatch):
    monkeypatch.setattr(package_module, "SPILL_ABOVE", 0)


def _comparable(report) -> list:
    """What a user sees of a report, less the seconds."""
    return [(layer.layer, layer.checks, layer.skipped_reason, [f.to_dict() for f in layer.findings]) for layer in report.layers]


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory) -> Path:
    return copy_package(tmp_path_factory.mktemp("spill") / "package")


def test_a_small_package_does_not_spill(package_copy):
    package = Package.open(package_copy)
    assert not package.spills
    table = package.table("claims")
    table.spill()
    assert not table.spilled and "quote" in table.text.columns


def test_spilled_columns_are_read_again_one_request_at_a_time(spilling, package_copy):
    package = Package.open(package_copy)
    assert package.spills
    table = package.table("claims")
    whole = table.text.clone()
    table.spill(keep={"source_id"})
    assert set(table._text.columns) == {"claim_id", "source_id"}  # the primary key always stays
    assert len(table.spilled) == len(whole.columns) - 2
    assert table.cells("quote").to_list() == whole.get_column("quote").to_list()
    assert "quote" not in table.spilled and "notes" in table.spilled  # only what was asked for came back
    assert table.select(["statement", "notes"]).to_dicts() == whole.select("statement", "notes").to_dicts()
    assert table.text.equals(whole)  # all of it, in the file's column order
    assert not table.spilled


def test_a_released_column_is_never_read_again(spilling, package_copy):
    package = Package.open(package_copy)
    table = package.table("claims")
    table.spill()
    table.release({"quote"})
    assert table.cells("quote").len() == len(table)
    with pytest.raises(ColumnReleased):
        table.cells("notes")
    assert "notes" not in table.text.columns


def test_a_file_changed_after_it_was_read_is_refused_not_mixed_in(spilling, package_copy, tmp_path):
    root = tmp_path / "package"
    shutil.copytree(package_copy, root)
    package = Package.open(root)
    table = package.table("claims")
    table.spill()
    path = root / "data" / "claims.csv"
    path.write_bytes(path.read_bytes())  # the same bytes, written again: not the file that was read
    os.utime(path, ns=(1, 1))
    with pytest.raises(ReadError, match="claims.csv changed while it was being validated"):
        table.cells("quote")


def test_a_file_the_exact_reader_read_is_read_again_whole(spilling, package_copy, tmp_path):
    """A file polars cannot be proven to read as `csv` does (here: a CR inside a quoted cell) takes the exact
    path; spilled, its columns come back from reading it whole again, cell for cell the same."""
    root = tmp_path / "package"
    shutil.copytree(package_copy, root)
    header, rows = read_table(root, "actors")
    rows[0]["notes"] = "a\rb"  # a lone CR inside a quoted cell: polars would not read it as `csv` does
    write_table(root, "actors", header, rows)
    package = Package.open(root)
    table = package.table("actors")
    assert not table.read_fast
    whole = table.text.clone()
    table.spill()
    assert table.spilled
    assert table.text.equals(whole)


def test_validating_while_spilling_reports_exactly_what_holding_everything_does(spilling, package_copy, monkeypatch):
    spilled = validate_package(package_copy)
    monkeypatch.setattr(package_module, "SPILL_ABOVE", 1 << 62)
    held = validate_package(package_copy)
    assert spilled.checks == held.checks > 10_000
    assert _comparable(spilled) == _comparable(held)


@pytest.mark.parametrize("mutation", [pytest.param(m, marks=() if number % 50 == 0 else pytest.mark.slow)
                                      for number, m in enumerate(MUTATIONS)], ids=repr)
def test_each_mutation_reports_the_same_when_spilling(package_copy, tmp_path, monkeypatch, mutation):
    """The mutation corpus (tests/test_mutations.py), each validated holding every table and spilling (a sample
    of four in the fast loop, all of it in the full run)."""
    root = tmp_path / "package"
    shutil.copytree(package_copy, root)
    mutation.apply(root)
    options = Options(baseline=package_copy) if mutation.baseline else None
    reports = []
    for above in (0, 1 << 62):
        monkeypatch.setattr(package_module, "SPILL_ABOVE", above)
        reports.append(validate_package(root, only=LAYERS_UNDER_TEST, options=options))
    assert reports[0].checks > 0
    assert any(f.code == mutation.code for f in reports[1].findings)
    assert _comparable(reports[0]) == _comparable(reports[1])
