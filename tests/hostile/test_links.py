"""Planted links: a pull request that adds `exports`, `docs`, `report` or `dist` (or a parent of an output the user
names) as a link to a folder outside the checkout makes no command write there. The command refuses with exit 2
and one line naming the link; the folder outside is unchanged. An output path the user names explicitly may itself
be a link (the rule: nkru follows a link only when the user named it; nkru.fsutil.confine)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from nkru.fsutil import OutsideWrite, confine
from tests.conftest import copy_package
from tests.helpers import init_repo, run_cli


def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def planted(tmp_path, monkeypatch):
    """A committed package copy (run from its root, as CI does) and a folder outside it holding one file."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("the attacker's target folder\n", encoding="utf-8")
    package = init_repo(copy_package(tmp_path / "package"), commit="the package")
    monkeypatch.chdir(package)
    return package, outside


def plant(package: Path, name: str, outside: Path) -> None:
    link = package / name
    if link.is_dir() and not link.is_symlink():
        import shutil

        shutil.rmtree(link)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside, target_is_directory=True)


CASES = {
    "export to exports/": ("exports", ["export", "--format", "sqlite", "--no-validate"]),
    "export parquet to exports/": ("exports", ["export", "--format", "parquet", "--no-validate"]),
    "export --out under a planted parent": ("exports", ["export", "--format", "xlsx", "--no-validate", "--out", "exports/sub/x.xlsx"]),
    "codebook to docs/": ("docs", ["codebook"]),
    "codebook --out under a planted parent": ("docs", ["codebook", "--out", "docs/codebook.md"]),
    "report to report/": ("report", ["report", "--no-validate"]),
    "validate -o under a planted parent": ("docs", ["validate", "--only", "expectations", "-o", "docs/site"]),
    "release to dist/": ("dist", ["release", "2.0.0", "--date", "2026-12-01"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_no_command_writes_through_a_planted_link(planted, case):
    package, outside = planted
    name, args = CASES[case]
    plant(package, name, outside)
    before = snapshot(outside)
    result = run_cli(*args)
    assert snapshot(outside) == before, f"{case}: wrote outside the package"
    assert result.exit_code == 2, (case, result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(package / name) in lines[0], lines
    assert "link" in lines[0]
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_release_refuses_a_committed_dist_link_and_writes_nothing(planted):
    """The link is part of the pull request (committed): the release builds and validates, then refuses to write."""
    package, outside = planted
    plant(package, "dist", outside)
    from tests.helpers import git

    git(package, "add", "-A")
    git(package, "commit", "-qm", "a pull request that plants dist")
    tracked = {p: p.read_bytes() for p in (package / "datapackage.json", package / "CHANGELOG.md")}
    before = snapshot(outside)
    result = run_cli("release", "2.0.0", "--date", "2026-12-01")
    assert snapshot(outside) == before
    assert result.exit_code == 2, result.output
    assert "Released" not in result.stdout  # nothing is claimed
    assert result.stderr.strip().splitlines()[-1].startswith("error:")
    assert all(p.read_bytes() == data for p, data in tracked.items())  # the metadata edits were not written either


def test_add_source_refuses_a_planted_texts_folder(planted, tmp_path):
    package, outside = planted
    sources = package / "data" / "sources"
    moved = tmp_path / "sources-moved"
    sources.rename(moved)
    outside_sources = outside / "sources"
    import shutil

    shutil.copytree(moved, outside_sources)
    sources.symlink_to(outside_sources, target_is_directory=True)
    article = tmp_path / "article.txt"
    article.write_text("Kim Jong Un traf Putin. Ein zweiter Satz folgt.\n", encoding="utf-8")
    before = snapshot(outside)
    result = run_cli("add-source", str(article), str(package), "--title", "T", "--publisher", "unknown",
                     "--date", "2024-11", "--date-basis", "inferred")
    assert snapshot(outside) == before
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(sources) in lines[0] and "link" in lines[0], lines


def test_an_output_the_user_names_may_be_a_link(planted, tmp_path):
    """The rule's other half: `--out LINK` names the link itself, so nkru follows it."""
    package, outside = planted
    named = tmp_path / "my-exports"
    named.symlink_to(outside, target_is_directory=True)
    result = run_cli("export", "--format", "sqlite", "--no-validate", "--out", f"{named}/")
    assert result.exit_code == 0, result.output
    assert (outside / "nkru.sqlite").is_file() and (outside / "nkru.metadata.json").is_file()
    book = tmp_path / "book.md"
    book.symlink_to(outside / "codebook.md")
    result = run_cli("codebook", "--out", str(book))
    assert result.exit_code == 0, result.output


def test_confine_rules(tmp_path):
    root = tmp_path / "pkg"
    (root / "real").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "planted").symlink_to(outside)
    assert confine(root / "real" / "a.txt", root) == root / "real" / "a.txt"
    assert confine(root / "new" / "deeper" / "a.txt", root) == root / "new" / "deeper" / "a.txt"  # parents it creates
    for bad in (root / "planted" / "a.txt", root / "planted" / "new" / "a.txt", tmp_path / "elsewhere.txt",
                root / ".." / "outside" / "a.txt"):
        with pytest.raises(OutsideWrite):
            confine(bad, root)
    # named: the path itself may be a link, what lies below it may not, nor may a parent inside the package
    confine(root / "planted", root, named=root / "planted")
    confine(root / "planted" / "a.txt", root, named=root / "planted")
    with pytest.raises(OutsideWrite):
        confine(root / "planted" / "a.txt", root, named=root / "planted" / "a.txt")
    (outside / "inner").mkdir()
    (outside / "inner-link").symlink_to(tmp_path)
    with pytest.raises(OutsideWrite):
        confine(outside / "inner-link" / "a.txt", root, named=outside)
    with pytest.raises(OutsideWrite):
        confine(tmp_path / "x.txt", root, named=outside)
    assert os.path.isdir(outside / "inner")


def test_dot_dot_after_a_link_is_refused(tmp_path):
    root = tmp_path / "pkg"
    (root / "data").mkdir(parents=True)
    outside = tmp_path / "outside" / "deep"
    outside.mkdir(parents=True)
    (root / "planted").symlink_to(outside)
    # written as `pkg/planted/../x.txt` it looks inside the package; the system writes to outside/x.txt
    with pytest.raises(OutsideWrite):
        confine(str(root / "planted" / ".." / "x.txt"), root)
    with pytest.raises(OutsideWrite):
        confine(str(root / "planted" / ".." / "x.txt"), root, named=str(root / "planted" / ".." / "x.txt"))
    assert confine(str(root / "data" / ".." / "x.txt"), root) == root / "x.txt"  # `..` without a link is fine


def test_a_package_reached_through_a_link_is_the_package(tmp_path):
    """The package path the user gives may be (or pass through) a link: its targets, resolved or not, are inside."""
    real = tmp_path / "real-package"
    (real / "docs").mkdir(parents=True)
    alias = tmp_path / "alias"
    alias.symlink_to(real)
    assert confine(alias / "docs" / "codebook.md", alias) == alias / "docs" / "codebook.md"
    assert confine(real / "docs" / "codebook.md", alias) == real / "docs" / "codebook.md"
    with pytest.raises(OutsideWrite):
        confine(tmp_path / "elsewhere" / "x", alias)


def test_a_planted_journal_is_not_followed_through_a_link(tmp_path):
    """A pull request can commit a release journal: recovering it renames nothing through a link."""
    import json

    from nkru.transaction import STATE, STATE_DIR, recover, staged_path

    root = tmp_path / "pkg"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("kept\n", encoding="utf-8")
    (root / "planted").symlink_to(outside)
    target = root / "planted" / "victim.txt"
    staged_path(target).write_text("attacker's\n", encoding="utf-8")  # lands outside, through the link
    (root / STATE_DIR).mkdir()
    (root / STATE_DIR / STATE).write_text(json.dumps({"committed": True, "targets": [str(target)]}), encoding="utf-8")
    recover(root)
    assert (outside / "victim.txt").read_text(encoding="utf-8") == "kept\n"
