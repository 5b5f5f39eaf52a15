"""Shared fixtures: every broken package is a copy of the real one in a temp dir."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import REPO

# What a package is, for copying: the descriptor, data, schemas and the metadata files beside them.
PACKAGE_ITEMS = ["datapackage.json", "data", "schemas", "CITATION.cff", ".zenodo.json", "CHANGELOG.md",
                 "README.md", "LICENSE", "pyproject.toml"]


def copy_package(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for item in PACKAGE_ITEMS:
        source = REPO / item
        if source.is_dir():
            shutil.copytree(source, target / item)
        elif source.is_file():
            shutil.copy2(source, target / item)
    return target


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A fresh copy of the real package; edit it freely."""
    return copy_package(tmp_path / "package")


@pytest.fixture(scope="session")
def real_package() -> Path:
    """The real package (read only: never write to it in a test)."""
    return REPO
