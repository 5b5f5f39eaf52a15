"""Columns no later layer reads are released from memory during a run, and reading one after that
is loud (ColumnReleased), never a column of empty cells."""

from __future__ import annotations

from pathlib import Path

import pytest

from nkru import api
from nkru import layers as layer_registry
from nkru.package import ColumnReleased, Package
from tests.helpers import read_table, write_table

LAYERS_WITH_DECLARATIONS = [name for name in layer_registry.names()
                            if hasattr(layer_registry.load(name), "columns_read")]


def test_a_released_column_cannot_be_read(real_package: Path) -> None:
    package = Package.open(real_package)
    claims = package.table("claims")
    notes_before = claims.column("notes")
    package.release_columns({"claims": {"quote"}})
    assert claims.header == package.table("claims").header and "notes" in claims.header  # the file's header stays
    assert claims.column("quote") and claims.column("claim_id")  # kept, and the primary key always stays
    with pytest.raises(ColumnReleased, match="notes"):
        claims.column("notes")
    with pytest.raises(ColumnReleased):
        claims.rows  # noqa: B018
    with pytest.raises(Exception, match="notes"):  # reading the frame directly fails too (polars: no such column)
        claims.text.get_column(claims.columns[claims.header.index("notes")])
    assert any(notes_before)  # the column had cells to lose
    # a table read but not named keeps only its key; one not read yet is read whole later
    package.table("events")
    package.release_columns({})
    assert package.table("events").text.columns == ["event_id"]


def test_a_run_releases_what_no_later_layer_reads(real_package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    released: list[tuple[str, dict[str, set[str]]]] = []
    original = Package.release_columns

    def record(self: Package, keep: dict[str, set[str]]) -> None:
        original(self, keep)
        released.append((len(released), {name: set(t.released) for name, t in self._tables.items() if t is not None}))

    monkeypatch.setattr(Package, "release_columns", record)
    report = api.validate_package(real_package)
    assert not report.errors
    assert released, "nothing was ever released"
    after_rules = released[0][1]
    assert "notes" in after_rules["claims"] and "quote" not in after_rules["claims"]  # coverage still needs the quotes
    assert "claim_id" not in after_rules["claims"]  # the key stays


@pytest.mark.parametrize("layer", LAYERS_WITH_DECLARATIONS)
def test_each_declaring_layer_finds_a_mistake_in_what_it_declared_after_the_others_released_the_rest(
        layer: str, package_copy: Path) -> None:
    """The layer runs after every column it does not declare was released: its findings on a broken
    copy are those it finds when it reads the whole table."""
    header, rows = read_table(package_copy, "claims")
    rows[0]["quote"] = "Dieser Satz steht in keinem Artikel."  # coverage
    write_table(package_copy, "claims", header, rows)
    header, rows = read_table(package_copy, "events")
    write_table(package_copy, "events", header, rows + [{**rows[0], "event_id": "E999"}])  # expectations (no claim)
    whole = layer_registry.load(layer).check(Package.open(package_copy), api.Options()).findings
    assert whole, "the broken copy must give this layer something to find"
    package = Package.open(package_copy)
    for name in package.resources:
        package.table(name)
    package.release_columns(layer_registry.load(layer).columns_read(package))
    released = layer_registry.load(layer).check(package, api.Options())
    assert [(f.code, f.line, f.field, f.value) for f in released.findings] == [(f.code, f.line, f.field, f.value) for f in whole]
    assert released.checks > 0 and not any(f.code == "layer-error" for f in released.findings)


def test_the_expectations_declaration_covers_every_column_its_suites_name(real_package: Path) -> None:
    from nkru.layers import expectations
    from nkru.suites import DISTRIBUTIONS_SUITE, PACKAGE_SUITE
    from nkru.suites.generate import suites_for

    package = Package.open(real_package)
    declared = expectations.columns_read(package)
    named = 0
    for name, suite in suites_for(package).items():
        for expectation in suite["expectations"]:
            meta = expectation.get("meta") or {}
            if name == PACKAGE_SUITE:
                pairs = [(meta["resource"], meta["field"])] + [tuple(r.split(".", 1)) for r in meta.get("counted_in") or []]
            elif name == DISTRIBUTIONS_SUITE:  # the field, and the key that finds the released rows
                pairs = [(meta["resource"], meta["field"])] + [(meta["resource"], k) for k in package.primary_key(meta["resource"])]
            else:  # a row count: the key
                pairs = [(name, k) for k in package.primary_key(name)]
            for resource, column in pairs:
                assert column in declared.get(resource, set()), (name, resource, column)
                named += 1
    assert named > 20
