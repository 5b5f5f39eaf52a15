"""Validation layers, in the order they run.

Each layer is a module with `NAME` and `check(package, options) -> LayerResult`.
Modules are imported only when their layer runs, so that `nkru --help` stays
fast and great-expectations is loaded only for the expectations layer.
"""

from __future__ import annotations

import importlib
from types import ModuleType

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
