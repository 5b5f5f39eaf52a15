"""Shared fixtures: every broken package is a copy of the real one in a temp dir."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests judge behaviour, not speed: on a shared 2-core CI machine a per-example deadline only
# makes them flaky. NKRU_HYPOTHESIS_PROFILE=thorough runs many more examples locally.
settings.register_profile("ci", deadline=None)
settings.register_profile("thorough", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("NKRU_HYPOTHESIS_PROFILE", "ci"))

# great-expectations runs in this process in tests (it is imported once per test session); a worker
# per validation would pay its 2 s import every time. tests/test_gx_worker.py runs the worker path.
os.environ.setdefault("NKRU_IN_PROCESS", "1")

from tests.helpers import REPO

# What a package is, for copying: the descriptor, data, schemas and the metadata files beside them.
# The release manifests (releases/) are left out: tests make their own releases.
PACKAGE_ITEMS = ["datapackage.json", "data", "schemas", "reliability", "CITATION.cff", ".zenodo.json", "CHANGELOG.md",
                 "README.md", "LICENSE", "pyproject.toml", "docs"]


def copy_package(target: Path) -> Path:
    """A copy of the real package. Without releases/ a copy stands for the newest release's own state: when the
    real package is between releases (a development version X.Y.Z-dev, docs/releasing.md), the copy gets the
    version of the newest CHANGELOG release, as datapackage.json and the codebook had it when it was released."""
    target.mkdir(parents=True, exist_ok=True)
    for item in PACKAGE_ITEMS:
        source = REPO / item
        if source.is_dir():
            shutil.copytree(source, target / item)
        elif source.is_file():
            shutil.copy2(source, target / item)
    _as_released(target)
    return target


def _as_released(root: Path) -> None:
    import json

    from nkru.metadata import Changelog, dev_version

    descriptor = root / "datapackage.json"
    text = descriptor.read_text(encoding="utf-8")
    version = json.loads(text).get("version")
    latest = Changelog.parse((root / "CHANGELOG.md").read_text(encoding="utf-8")).latest
    if dev_version(version) is None or latest is None:
        return
    descriptor.write_text(text.replace(f'"version": "{version}"', f'"version": "{latest.version}"', 1), encoding="utf-8")
    codebook = root / "docs" / "codebook.md"
    if codebook.is_file():
        codebook.write_text(codebook.read_text(encoding="utf-8").replace(f"(package version {version})",
                                                                          f"(package version {latest.version})"), encoding="utf-8")


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A fresh copy of the real package; edit it freely."""
    return copy_package(tmp_path / "package")


@pytest.fixture(scope="session")
def real_package() -> Path:
    """The real package (read only: never write to it in a test)."""
    return REPO


@pytest.fixture(autouse=True, scope="session")
def _sentence_cache(tmp_path_factory: pytest.TempPathFactory):
    """Sentence splits are cached in a temp dir for the test session, never in the user's cache."""
    import os

    previous = os.environ.get("NKRU_CACHE_DIR")
    os.environ["NKRU_CACHE_DIR"] = str(tmp_path_factory.mktemp("nkru-cache"))
    yield
    if previous is None:
        os.environ.pop("NKRU_CACHE_DIR", None)
    else:
        os.environ["NKRU_CACHE_DIR"] = previous
