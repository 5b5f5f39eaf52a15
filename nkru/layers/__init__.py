"""Validation layers, in the order they run.

Each layer is a module with `NAME` and `check(package, options) -> LayerResult` (the protocol `Layer`).
Modules are imported only when their layer runs, so that `nkru --help` stays
fast and great-expectations is loaded only for the expectations layer.

A layer may also define `columns_read(package) -> {resource: {header labels}}`: the table
columns it reads (primary keys are always kept). Once no later layer reads a column, the run
releases it from memory (`nkru.api.validate_package`); a layer without `columns_read` may read
every column, so nothing is released before it runs.
"""

from __future__ import annotations

import importlib
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
