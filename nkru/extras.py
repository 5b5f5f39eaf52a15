"""The optional extras: which libraries a feature needs beyond the base install, and one clear line when they
are missing.

The base install (`pip install nkru`) validates, loads, diffs, releases and cites. The exporters and the HTML
report need libraries of their own (pyproject.toml, [project.optional-dependencies]).
"""

from __future__ import annotations

import importlib

#: extra -> the modules it brings that nkru imports.
EXTRAS: dict[str, tuple[str, ...]] = {
    "export": ("duckdb", "sqlite_utils", "openpyxl"),
    "report": ("jinja2", "altair", "vl_convert"),
}

#: module -> the distribution that installs it, where the names differ.
DISTRIBUTIONS: dict[str, str] = {"sqlite_utils": "sqlite-utils", "vl_convert": "vl-convert-python"}


class MissingExtra(ImportError):
    """A feature's libraries are not installed; the message says which extra brings them."""


def missing(modules: tuple[str, ...] | list[str]) -> list[str]:
    """The modules in `modules` that cannot be imported."""
    absent = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            absent.append(name)
    return absent


def require(extra: str, feature: str, modules: tuple[str, ...] | list[str] | None = None) -> None:
    """Raise MissingExtra when a module `feature` needs (default: all of `extra`'s) is not installed."""
    absent = missing(EXTRAS[extra] if modules is None else modules)
    if absent:
        raise MissingExtra(f"{feature} needs {', '.join(DISTRIBUTIONS.get(name, name) for name in absent)}, which "
                           f"{'comes' if len(absent) == 1 else 'come'} with the {extra} extra: pip install 'nkru[{extra}]'")
