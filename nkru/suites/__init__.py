"""The great-expectations suites of the expectations layer, kept as JSON in `validate/suites/`.

One suite per resource (named after it: its row count), the package suite (`package.json`:
cross-table rules) and the distributions suite (`distributions.json`: warnings when the mix of a
vocabulary moves from the last release's).
They are generated from the schemas by `python -m nkru.suites.generate`:
never edit them by hand. Reading them needs no
great-expectations import; the layer turns them into suites with
`gx.ExpectationSuite(**d)`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nkru.resources import suites_dir

#: The committed suites of this repository's package (`validate/suites/`).
SUITES_DIR = suites_dir()
#: The name (and file stem) of the suite of cross-table rules.
PACKAGE_SUITE = "package"
#: The name (and file stem) of the suite of distributions watched between releases.
DISTRIBUTIONS_SUITE = "distributions"


def suite_path(name: str, directory: Path = SUITES_DIR) -> Path:
    return directory / f"{name}.json"


def load_suites(directory: Path = SUITES_DIR) -> dict[str, dict[str, Any]]:
    """Every suite in `directory` as a plain dict, by name; the package and distributions suites come last."""
    suites: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        suites[data.get("name") or path.stem] = data
    for last in (PACKAGE_SUITE, DISTRIBUTIONS_SUITE):
        if last in suites:
            suites[last] = suites.pop(last)
    return suites
