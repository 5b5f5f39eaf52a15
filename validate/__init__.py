"""nkru: validate, release and export the North Korea–Russia military cooperation Data Package."""

from __future__ import annotations

__version__ = "0.1.0"

# Public API, imported lazily so `import validate` stays cheap.
_LAZY = {
    "validate_package": "validate.api",
    "open_package": "validate.api",
    "Options": "validate.api",
    "PackageError": "validate.package",
    "Finding": "validate.findings",
    "Report": "validate.findings",
    "load": "validate.loader",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'validate' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = sorted(_LAZY)
