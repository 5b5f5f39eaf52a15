"""Shared fixtures: every broken package is a copy of the real one in a temp dir."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests judge behaviour, not speed: on a shared 2-core CI machine a per-example deadline only
# makes them flaky. NKRU_HYPOTHESIS_PROFILE=thorough runs many more examples locally; the fast inner loop
# (`pytest -m "not slow"`) runs a fifth of them ("fast", chosen in pytest_configure below).
settings.register_profile("ci", deadline=None)
settings.register_profile("fast", deadline=None, max_examples=20)
settings.register_profile("thorough", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("NKRU_HYPOTHESIS_PROFILE", "ci"))

from tests.helpers import REPO

# What a package is, for copying: the descriptor, data, schemas and the metadata files beside them.
# The release manifests (releases/) are left out: tests make their own releases.
PACKAGE_ITEMS = ["datapackage.json", "data", "schemas", "reliability", "CITATION.cff", ".zenodo.json", "CHANGELOG.md",
                 "README.md", "LICENSE", "pyproject.toml", "docs"]


def copy_package(target: Path) -> Path:
    """A copy of the real package, standing for the package just before its first release.

    Tests make their own releases in a copy (it has no releases/), starting from the first version in
    CHANGELOG.md. So the copy's metadata is rewound to that release (`_as_first_release`): datapackage.json,
    CITATION.cff, .zenodo.json and the codebook carry its version and date, and the notes of every later
    release go back under [Unreleased]. The data, schemas and docs are today's."""
    target.mkdir(parents=True, exist_ok=True)
    for item in PACKAGE_ITEMS:
        source = REPO / item
        if source.is_dir():
            shutil.copytree(source, target / item)
        elif source.is_file():
            shutil.copy2(source, target / item)
    _as_first_release(target)
    return target


def _as_first_release(root: Path) -> None:
    import json

    from nkru.metadata import Changelog

    changelog_path = root / "CHANGELOG.md"
    changelog_text = changelog_path.read_text(encoding="utf-8")
    released = [s for s in Changelog.parse(changelog_text).sections if s.version]
    if not released:
        return
    first = released[-1]  # the oldest release: sections run newest first
    lines = changelog_text.split("\n")
    later = {s.line - 1 for s in released[:-1]}  # the headings of every later release (0-based lines)
    changelog_path.write_text("\n".join(line for i, line in enumerate(lines) if i not in later), encoding="utf-8")

    descriptor_path = root / "datapackage.json"
    descriptor = descriptor_path.read_text(encoding="utf-8")
    version = json.loads(descriptor).get("version")
    descriptor_path.write_text(descriptor.replace(f'"version": "{version}"', f'"version": "{first.version}"', 1),
                               encoding="utf-8")
    codebook = root / "docs" / "codebook.md"
    if codebook.is_file():
        codebook.write_text(re.sub(r"\(package version [^)]*\)", f"(package version {first.version})",
                                   codebook.read_text(encoding="utf-8"), count=1), encoding="utf-8")
    cff = root / "CITATION.cff"
    if cff.is_file():
        text = re.sub(r'(?m)^version: .*$', f'version: "{first.version}"', cff.read_text(encoding="utf-8"), count=1)
        text = re.sub(r'(?m)^date-released: .*$', f'date-released: "{first.date}"', text, count=1)
        cff.write_text(text, encoding="utf-8")
    zenodo = root / ".zenodo.json"
    if zenodo.is_file():
        text = re.sub(r'"version": "[^"]*"', f'"version": "{first.version}"', zenodo.read_text(encoding="utf-8"), count=1)
        text = re.sub(r'"publication_date": "[^"]*"', f'"publication_date": "{first.date}"', text, count=1)
        zenodo.write_text(text, encoding="utf-8")


@pytest.fixture(scope="session")
def package_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`copy_package` done once per run, for `package_copy` to copy (never edit it)."""
    return copy_package(tmp_path_factory.mktemp("template") / "package")


@pytest.fixture
def package_copy(package_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the real package; edit it freely."""
    return Path(shutil.copytree(package_template, tmp_path / "package"))


@pytest.fixture(scope="session")
def real_package() -> Path:
    """The real package (read only: never write to it in a test)."""
    return REPO


def pytest_configure(config: pytest.Config) -> None:
    if "NKRU_HYPOTHESIS_PROFILE" not in os.environ and re.search(r"\bnot\s+slow\b", config.option.markexpr or ""):
        settings.load_profile("fast")  # before the test modules are imported: their budgets read it (helpers.examples)
    config.addinivalue_line("markers", "migration: checks that a data migration kept what the data said before it "
                                       "(may run tools that the toolkit itself no longer runs there)")
