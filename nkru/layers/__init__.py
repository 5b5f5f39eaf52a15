"""Validation layers, in the order they run.

Each layer is a module with `NAME` and `check(package, options) -> LayerResult` (the protocol `Layer`).
Modules are imported only when their layer runs, so that `nkru --help` stays
fast and great-expectations is loaded only for the expectations layer.

A layer may also define `columns_read(package) -> {resource: {header labels}}`: the table
columns it reads (primary keys are always kept). Once no later layer reads a column, the run
releases it from memory (`nkru.api.validate_package`); a layer without `columns_read` may read
every column, so nothing is released before it runs.

One owner per check. Each kind of mistake is reported once, by the layer whose job it is (`OWNS`
says which; `ownership_markdown()` renders it with each layer's finding codes into
docs/validation.md). Nothing merges duplicates afterwards: `nkru.findings.fold` only folds a genuine
consequence into its cause. Two seams keep the other layers from piling findings on a mistake the
structure layer owns:

- **an unreadable table**: `Package.checkable(resource)` is None when the file cannot be read as its
  dialect says (encoding, malformed CSV, another delimiter, too large) or its header is not the
  schema's fields; `Package.unreadable[resource]` says why. The reader fills it; every check that
  depends on a table's columns asks `checkable`, not `table`, and stays silent for such a table (the
  stable-ID check neither finds its released IDs missing nor judges replacements that may be in it;
  rules and coverage skip it; a sentence check needing its quotes is not made). A layer that says
  when it could not run at all (coverage's `sources-unreadable`) says so only when no structure finding
  does (`Package.reported`), so that `--only coverage` still fails on an unreadable sources table.
- **a rejected cell**: `Package.rejected_rows(resource, fields)` are the rows whose cells of those
  fields the structure layer reported (type, required, enum, pattern, bounds, unique, primary or
  foreign key; every row holding a repeated key). A check that reads such a cell leaves that row to
  that finding: foreign keys are not checked from a rejected cell or against a rejected key, coverage
  does not check a source or place a quote by a rejected cell (nor judge the sentences such a quote was
  meant to cover, nor the tiling and coverage of a source with a rejected units row), no rule judges a
  rejected cell, a retraction's rejected `replaced_by` is not looked up, a package rule does not judge a
  row whose key is rejected nor count references while one of them is, and the stable-ID check finds no
  released ID missing from a table with a rejected ID.

And one owner for a removed released row: the stable-ID check (`released-id-missing`, naming the ID;
`retraction-removed`). The row-count floor (expectations) counts only the rows no released ID accounts
for (`nkru.layers.metadata.row_floors`), and a package rule counted in a table that lost released rows
waits for them (they may have been its references).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from nkru.findings import LayerResult
    from nkru.options import Options
    from nkru.package import Package


@runtime_checkable
class Layer(Protocol):
    """What a layer module is: its registered name and one check of the read package."""

    NAME: str

    def check(self, package: Package, options: Options | None = None) -> LayerResult: ...


@runtime_checkable
class ReadsColumns(Protocol):
    """Optional for a layer: the table columns it reads, {resource: {header labels}} (see above)."""

    def columns_read(self, package: Package) -> dict[str, set[str]]: ...

#: layer name -> module path, in run order. Register a new layer here and nowhere else.
LAYERS: dict[str, str] = {
    "structure": "nkru.layers.structure",
    "rules": "nkru.layers.rules",
    "expectations": "nkru.layers.expectations",
    "coverage": "nkru.layers.coverage",
    "metadata": "nkru.layers.metadata",
}


def names() -> list[str]:
    return list(LAYERS)


def load(name: str) -> ModuleType:
    return importlib.import_module(LAYERS[name])


@dataclass(frozen=True)
class Ownership:
    """What one layer owns: the library it uses, the kinds of mistake it reports and what it never does."""

    library: str
    owns: str
    never: str = ""


#: layer -> what it owns: the one place this is written (docs/validation.md is generated from it).
OWNS: dict[str, Ownership] = {
    "structure": Ownership(
        "the one reader (polars); frictionless judges the descriptor and schemas",
        "everything a Table Schema declares: dialect (delimiter), encoding, byte-order mark, header, types, "
        "`required`, `enum`, `pattern`, lengths, minimum/maximum, `unique`, primary and foreign keys; safe paths, "
        "`bytes`/`hash`, reading limits",
        "business rules, dataset-level expectations"),
    "rules": Ownership(
        "pandera on the typed tables",
        "the project's rules a Table Schema cannot state: date order and precision, open bounds, a row not dated "
        "after its source, claim/denial/event consistency, affiliation cycles (one finding per cycle, at its first "
        "member), every event has actors, quantities, "
        "ISO country codes and BCP 47 tags, text hygiene",
        "restating a schema constraint; judging a cell the structure layer rejected (also a foreign key with no match)"),
    "expectations": Ownership(
        "great-expectations",
        "dataset- and release-level expectations: row counts against the last release (the rows no released ID "
        "accounts for), every source cited, every event claimed, every actor used; Data Docs for people",
        "per-cell checks that a schema already states; a released row removed (the stable-ID check names it, and the "
        "floor leaves it out); a package rule on a row whose key, or in a table one of whose references, the "
        "structure layer rejected, or counted in a table that lost released rows"),
    "coverage": Ownership(
        "nkru",
        "source texts present, UTF-8 and matching their SHA-256; every quote at its offsets; the units tile each "
        "text; every unit (sentence) covered by a quote or an exclusion",
        "an unknown source (a foreign key); a sentence a wrong quote was meant to cover (that quote's finding); the "
        "tiling and coverage of a source one of whose units rows the structure layer rejected"),
    "metadata": Ownership(
        "nkru (jsonschema for CITATION.cff)",
        "version, title, licence and dates agree across the metadata files; changelog form; release manifests; "
        "stable IDs (no released ID gone without a retraction, none reused): the one owner of a removed released row",
        "IDs of a table it cannot read, or one with an ID cell the structure layer rejected (it may be the gone one)"),
}


def ownership_markdown() -> str:
    """The ownership table, one row per layer with its finding codes (`nkru.findings.CODES`), as Markdown."""
    from nkru.findings import CODES

    for name in LAYERS:
        load(name)  # each layer defines its codes when imported
    lines = ["| layer | library | owns | never | finding codes |", "| --- | --- | --- | --- | --- |"]
    for name in LAYERS:
        owner = OWNS[name]
        codes = ", ".join(f"`{c.code}`" + (" (warning)" if c.severity == "warning" else "")
                          for c in CODES.values() if c.layer == name)
        lines.append(f"| {name} | {owner.library} | {owner.owns} | {owner.never or '—'} | {codes} |")
    return "\n".join(lines) + "\n"
