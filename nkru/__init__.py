"""nkru: validate, release and export the North Korea–Russia military cooperation Data Package."""

from __future__ import annotations

__version__ = "1.0.0"

# Public API, imported lazily so `import nkru` stays cheap.
_LAZY = {
    "validate_package": "nkru.api",
    "open_package": "nkru.api",
    "Options": "nkru.api",
    "PackageError": "nkru.package",
    "Finding": "nkru.findings",
    "Report": "nkru.findings",
    "load": "nkru.api",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nkru' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = sorted(_LAZY)
