"""Output formats for a validation report. No layer imports these.

Each renderer is a module with `render(report, console) -> None`; register it here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

FORMATS: dict[str, str] = {
    "text": "nkru.render.text",
    "json": "nkru.render.json",
    "junit": "nkru.render.junit",
    "github": "nkru.render.github",
}


def load(name: str) -> ModuleType:
    return importlib.import_module(FORMATS[name])
