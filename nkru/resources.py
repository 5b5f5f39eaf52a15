"""Where the toolkit finds the declarative material it ships: the vendored JSON Schemas (profiles).

In a source checkout (and an editable install) they live in the repository's top-level
`validate/profiles/`, beside `schemas/`. A built wheel carries copies of them as package data in
`nkru/_profiles/` (see `[tool.hatch.build.targets.wheel.force-include]` in pyproject.toml), so an
installed toolkit validates any package without this repository.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: The repository root when running from a checkout (None-like when installed from a wheel).
REPO_ROOT = PACKAGE_DIR.parent
#: The repository's folder of declarative validation material.
VALIDATE_DIR = REPO_ROOT / "validate"

#: Vendored official JSON Schemas, by file name.
DATAPACKAGE_PROFILE = "datapackage-2.0.json"
CFF_PROFILE = "cff-1.2.0.json"


def profile_path(name: str) -> Path:
    """The vendored profile `name`: from the wheel's package data, else from the checkout."""
    for folder in (PACKAGE_DIR / "_profiles", VALIDATE_DIR / "profiles"):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"the vendored profile {name} is missing (looked in nkru/_profiles/ and validate/profiles/); reinstall nkru")


def suites_dir(root: str | Path = REPO_ROOT) -> Path:
    """The committed great-expectations suites of the package at `root` (`validate/suites/`)."""
    return Path(root) / "validate" / "suites"
