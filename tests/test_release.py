"""`nkru release`: refusals, metadata bumps, the CHANGELOG section, and a reproducible, valid zip.

Every test works in a git-initialised copy of the real package in a temp dir, with
user.name/user.email set in that repository (no global git config needed).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import copy_package
from tests.helpers import git, init_repo, read_table, run_cli, set_cell, write_table
from nkru import release
from nkru.api import validate_package
from nkru.metadata import Changelog, load_cff


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    """A git repository holding a copy of the real package, everything committed."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    root = copy_package(tmp_path / "nkru")
    return init_repo(root, commit="the package")


def metadata_version(root: Path) -> str:
    return json.loads((root / "datapackage.json").read_text(encoding="utf-8"))["version"]


def released_date(root: Path) -> str:
    return load_cff((root / "CITATION.cff").read_text(encoding="utf-8"))["date-released"]


def snapshot_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


# -- the first release, end to end ---------------------------------------------------------


def test_first_release_is_reproducible_valid_and_citable(repo, tmp_path):
    version = metadata_version(repo)
    date = released_date(repo)
    before = snapshot_files(repo)

    first = run_cli("release", version, str(repo))
    assert first.exit_code == 0, first.stderr
    assert f"git tag -a v{version}" in first.stdout and f"git push origin HEAD v{version}" in first.stdout
    dist = repo / "dist"
    zip_path = dist / f"nkru-{version}.zip"
    zip_bytes = zip_path.read_bytes()
    sums = (dist / "SHA256SUMS").read_text(encoding="utf-8")
    assert sums == f"{hashlib.sha256(zip_bytes).hexdigest()}  nkru-{version}.zip\n"
    # The metadata already said this version: no file of the package changed, so no tag was created either.
    assert {k: v for k, v in snapshot_files(repo).items() if not k.startswith("dist/")} == before
    assert git(repo, "tag", "--list") == ""

    # Release twice from the same commit: byte-identical zip and SHA256SUMS.
    second = run_cli("release", version, str(repo))
    assert second.exit_code == 0, second.stderr
    assert (dist / "SHA256SUMS").read_text(encoding="utf-8") == sums
    assert zip_path.read_bytes() == zip_bytes

    with zipfile.ZipFile(zip_path) as archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names)
        folder = f"nkru-{version}/"
        assert all(n.startswith(folder) for n in names)
        stamp = tuple(int(p) for p in date.split("-")) + (0, 0, 0)
        for info in infos:
            assert info.date_time == stamp
            assert stat.S_IMODE(info.external_attr >> 16) == 0o644 and info.create_system == 3
            assert info.extra == b"" and info.compress_type == zipfile.ZIP_DEFLATED
        assert archive.comment == b""
        inside = {n[len(folder):] for n in names}
        for required in ("datapackage.json", "README.md", "CHANGELOG.md", "CITATION.cff", "LICENSE", ".zenodo.json",
                         "data/sources/NOTICE.md", "data/retractions.csv", "schemas/retractions.json"):
            assert required in inside, required
        working = json.loads((repo / "datapackage.json").read_text(encoding="utf-8"))
        for res in working["resources"]:
            assert res["path"] in inside and res["schema"] in inside
        for source in working["sources"]:
            assert source["path"] in inside
        assert "pyproject.toml" not in inside  # the toolkit's files are not part of the dataset
        archive.extractall(tmp_path / "unzipped")
    unzipped = tmp_path / "unzipped" / f"nkru-{version}"

    # bytes and hash of every resource in the zip's descriptor; the working tree's has none.
    shipped = json.loads((unzipped / "datapackage.json").read_text(encoding="utf-8"))
    assert len(shipped["resources"]) == len(working["resources"])
    for res in shipped["resources"]:
        data = (unzipped / res["path"]).read_bytes()
        assert res["bytes"] == len(data)
        assert res["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert all("hash" not in res and "bytes" not in res for res in working["resources"])
    assert {k: v for k, v in shipped.items() if k != "resources"} == {k: v for k, v in working.items() if k != "resources"}

    # The stock frictionless CLI (never `trusted`) validates the unzipped release, hashes included.
    stock = subprocess.run([sys.executable, "-m", "frictionless", "validate", "--json", str(unzipped / "datapackage.json")],
                           capture_output=True, text=True)
    result = json.loads(stock.stdout)
    assert stock.returncode == 0 and result["valid"] is True, stock.stdout[:2000]
    assert len(result["tasks"]) == len(shipped["resources"])

    # The unzipped release is a complete nkru package: its metadata agree and it cites itself.
    assert validate_package(unzipped, only=["metadata"]).valid
    cited = run_cli("cite", str(unzipped))
    assert cited.exit_code == 0
    title = working["title"]
    assert cited.stdout.strip() == f"nkru curators. ({date[:4]}). {title} (Version {version}) [Data set]."

    # A tampered resource no longer matches its recorded hash.
    events = unzipped / "data" / "events.csv"
    events.write_bytes(events.read_bytes().replace(b"E001", b"E00l", 1))
    tampered = subprocess.run([sys.executable, "-m", "frictionless", "validate", "--json", str(unzipped / "datapackage.json")],
                              capture_output=True, text=True)
    assert json.loads(tampered.stdout)["valid"] is False
    assert "hash-count" in tampered.stdout


def test_source_date_epoch_sets_the_timestamps(repo, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14 22:13:20 UTC
    plan = release.plan_release(repo, metadata_version(repo), validate=False)
    assert plan.ok, plan.refusals
    with zipfile.ZipFile(io.BytesIO(plan.zip_bytes)) as archive:
        assert {i.date_time for i in archive.infolist()} == {(2023, 11, 14, 22, 13, 20)}


# -- the next release -------------------------------------------------------------------------


def test_patch_release_writes_changelog_bumps_metadata_and_rebuilds_identically(repo):
    old, old_date = metadata_version(repo), released_date(repo)
    git(repo, "tag", f"v{old}")
    major, minor, patch = (int(p) for p in old.split("."))
    new = f"{major}.{minor}.{patch + 1}"
    header, rows = read_table(repo, "actors")
    actor = rows[0]["actor_id"]
    set_cell(repo, "actors", 0, "notes", rows[0]["notes"] + " Corrected in a patch.")
    changelog = repo / "CHANGELOG.md"
    # Whatever the real CHANGELOG has under Unreleased is replaced by this test's one note.
    changelog.write_text(re.sub(r"## \[Unreleased\]\n.*?(?=\n## \[)", "## [Unreleased]\n\n### Fixed\n\n- A clearer note on an actor.\n",
                                changelog.read_text(encoding="utf-8"), count=1, flags=re.S), encoding="utf-8")
    commit_all(repo, "a correction")

    # --dry-run shows the plan and writes nothing.
    before = snapshot_files(repo)
    dry = run_cli("release", new, str(repo), "--dry-run", "--date", "2026-12-24")
    assert dry.exit_code == 0, dry.stderr
    assert "Nothing was written." in dry.stdout
    assert f"+## [{new}] - 2026-12-24" in dry.stdout
    assert snapshot_files(repo) == before
    assert not (repo / "dist").exists()

    done = run_cli("release", new, str(repo), "--date", "2026-12-24")
    assert done.exit_code == 0, done.stderr
    assert "git add CHANGELOG.md" in done.stdout and f'git commit -m "Release {new}"' in done.stdout

    log = Changelog.parse(changelog.read_text(encoding="utf-8"))
    assert log.problems == []
    assert [s.heading for s in log.sections[:3]] == ["[Unreleased]", f"[{new}] - 2026-12-24", f"[{old}] - {old_date}"]
    assert log.body(log.unreleased) == ""
    body = log.body(log.section(new))
    assert body == (f"### Changed\n\n- `actors`: 1 row corrected ({actor}: notes).\n\n"
                    "### Fixed\n\n- A clearer note on an actor.")
    assert metadata_version(repo) == new
    cff = load_cff((repo / "CITATION.cff").read_text(encoding="utf-8"))
    assert (cff["version"], cff["date-released"]) == (new, "2026-12-24")
    zenodo = json.loads((repo / ".zenodo.json").read_text(encoding="utf-8"))
    assert (zenodo["version"], zenodo["publication_date"]) == (new, "2026-12-24")
    # Comments in CITATION.cff survive the edit.
    assert (repo / "CITATION.cff").read_text(encoding="utf-8").startswith("#")
    assert validate_package(repo, only=["metadata"]).valid

    zip_bytes = (repo / "dist" / f"nkru-{new}.zip").read_bytes()
    sums = (repo / "dist" / "SHA256SUMS").read_text(encoding="utf-8")
    commit_all(repo, f"Release {new}")
    again = run_cli("release", new, str(repo))
    assert again.exit_code == 0, again.stderr
    assert "no file changes" in again.stdout
    assert (repo / "dist" / f"nkru-{new}.zip").read_bytes() == zip_bytes
    assert (repo / "dist" / "SHA256SUMS").read_text(encoding="utf-8") == sums


def test_changelog_lists_added_and_retracted_rows(repo):
    """The generated section for a minor release: rows added and removed (with the retraction reason)."""
    git(repo, "tag", f"v{metadata_version(repo)}")
    header, rows = read_table(repo, "claims")
    removed = rows.pop()
    added = dict(rows[0], claim_id="C999")
    write_table(repo, "claims", header, rows + [added])
    write_table(repo, "retractions", ["id", "retracted_in", "reason", "replaced_by"],
                [{"id": removed["claim_id"], "retracted_in": "0.2.0", "reason": "duplicate of another claim", "replaced_by": ""}])
    commit_all(repo, "edits")
    plan = release.plan_release(repo, "0.2.0", date="2027-01-02", validate=False)
    assert plan.ok, plan.refusals
    assert plan.required_bump == "minor"
    [edit] = [e for e in plan.edits if e.path == "CHANGELOG.md"]
    body = Changelog.parse(edit.new).body(Changelog.parse(edit.new).section("0.2.0"))
    assert "- `claims`: 1 row (C999)." in body
    assert f"- `claims`: 1 row: {removed['claim_id']} (retracted: duplicate of another claim)." in body
    assert "`retractions`" not in body


# -- refusals ---------------------------------------------------------------------------------


def test_refusal_lists_every_reason(repo):
    """Dirty tree, a version that is not newer than the last tag, and failing validation, all at once."""
    version = metadata_version(repo)
    git(repo, "tag", f"v{version}")
    line = set_cell(repo, "actors", 0, "actor_type", "not-a-type")
    result = run_cli("release", version, str(repo))
    assert result.exit_code == 1
    err = " ".join(result.stderr.split())
    assert f"refused: nkru release {version}" in err
    assert "the git working tree is dirty (data/actors.csv)" in err
    assert f"{version} is not greater than the latest release v{version}" in err
    assert "validation fails with" in err and f"data/actors.csv:{line}" in err
    assert not (repo / "dist").exists()


def _drop_column(repo: Path, resource: str, column: str) -> None:
    schema_path = repo / "schemas" / f"{resource}.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    schema["fields"] = [f for f in schema["fields"] if f["name"] != column]
    schema_path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    header, rows = read_table(repo, resource)
    write_table(repo, resource, [h for h in header if h != column], [{k: v for k, v in r.items() if k != column} for r in rows])


def _add_row(repo: Path, resource: str) -> None:
    header, rows = read_table(repo, resource)
    write_table(repo, resource, header, rows + [dict(rows[-1], **{header[0]: header[0][0].upper() + "999"})])


@pytest.mark.parametrize("case, version, expected", [
    ("dirty", "0.1.1", "the git working tree is dirty"),
    ("untracked", "0.1.1", "the git working tree is dirty (data/new.csv)"),
    ("not greater", "0.1.0", "0.1.0 is not greater than the latest release v0.1.0"),
    ("older", "0.0.9", "0.0.9 is not greater than the latest release v0.1.0"),
    ("column removed in a minor release", "0.2.0", "0.2.0 is a minor release, but the changes since v0.1.0 need a major release"),
    ("row added in a patch release", "0.1.1", "0.1.1 is a patch release, but the changes since v0.1.0 need a minor release"),
    ("no README", "0.1.1", "README.md is missing"),
])
def test_each_refusal(repo, case, version, expected):
    git(repo, "tag", "v0.1.0")
    if case == "dirty":
        set_cell(repo, "actors", 0, "notes", "edited, not committed")
    elif case == "untracked":
        (repo / "data" / "new.csv").write_text("a\n1\n", encoding="utf-8")
    elif case == "column removed in a minor release":
        _drop_column(repo, "actors", "notes")
        commit_all(repo, "drop a column")
    elif case == "row added in a patch release":
        _add_row(repo, "actors")
        commit_all(repo, "add a row")
    elif case == "no README":
        (repo / "README.md").unlink()
        commit_all(repo, "no readme")
    plan = release.plan_release(repo, version, validate=False)
    assert len(plan.refusals) == 1, plan.refusals
    assert plan.refusals[0].startswith(expected), plan.refusals
    assert plan.zip_bytes == b"" and plan.edits == []


def test_bump_refusal_names_the_reason_and_the_right_version(repo):
    git(repo, "tag", "v0.1.0")
    _drop_column(repo, "actors", "notes")
    commit_all(repo, "drop a column")
    [reason] = release.plan_release(repo, "0.1.1", validate=False).refusals
    assert "actors: field notes removed (was string)" in reason and "release 1.0.0 instead" in reason
    assert release.plan_release(repo, "1.0.0", validate=False).ok


def test_first_release_may_not_go_below_the_metadata_version(repo):
    [reason] = release.plan_release(repo, "0.0.1", validate=False).refusals
    assert reason.startswith(f"0.0.1 is lower than the version already in datapackage.json ({metadata_version(repo)})")


def test_not_a_git_repository(package_copy):
    plan = release.plan_release(package_copy, metadata_version(package_copy), validate=False)
    assert [r for r in plan.refusals if "is not in a git repository" in r]
    result = run_cli("release", metadata_version(package_copy), str(package_copy))
    assert result.exit_code == 1
    assert "is not in a git repository" in " ".join(result.stderr.split())


@pytest.mark.parametrize("args, message", [
    (["1.0"], "is not a semantic version"),
    (["v1.0.0"], "is not a semantic version"),
    (["1.0.0", "--date", "24.12.2026"], "is not a calendar date written YYYY-MM-DD"),
    (["1.0.0", "--date", "2024-02-31"], "is not a calendar date written YYYY-MM-DD"),
])
def test_usage_errors(repo, args, message):
    result = run_cli("release", args[0], str(repo), *args[1:])
    assert result.exit_code == 2
    assert message in result.stderr


def test_no_package_is_a_usage_error(tmp_path):
    result = run_cli("release", "1.0.0", str(tmp_path))
    assert result.exit_code == 2
    assert "no datapackage.json" in result.stderr


# -- shared helpers (review C5, C6) ----------------------------------------------------------------------


def test_dirty_paths_leaves_out_the_excluded_folder(repo):
    from nkru import gitrepo

    assert gitrepo.dirty_paths(repo) == []
    (repo / "dist").mkdir()
    (repo / "dist" / "nkru-9.9.9.zip").write_bytes(b"zip")
    (repo / "notes.txt").write_text("scratch", encoding="utf-8")
    assert sorted(gitrepo.dirty_paths(repo)) == ["dist/nkru-9.9.9.zip", "notes.txt"]
    assert gitrepo.dirty_paths(repo, exclude=["dist"]) == ["notes.txt"]
    assert not hasattr(gitrepo, "head_commit")


def test_release_output_inside_the_package_does_not_make_it_dirty(repo):
    (repo / "dist").mkdir()
    (repo / "dist" / "old.zip").write_bytes(b"zip")
    plan = release.plan_release(repo, "0.1.0", validate=False)
    assert not any("dirty" in r for r in plan.refusals), plan.refusals
    (repo / "stray.txt").write_text("x", encoding="utf-8")
    plan = release.plan_release(repo, "0.1.0", validate=False)
    assert any("dirty (stray.txt)" in r for r in plan.refusals), plan.refusals


@pytest.mark.parametrize("count, tail", [(3, None), (10, None), (11, "… and 1 more"), (25, "… and 15 more")])
def test_summarise_shows_the_first_ten_and_counts_the_rest(count, tail):
    from nkru.findings import Finding, summarise

    findings = [Finding.make("layer-error", layer="x", kind="E", detail=f"n{i}", path=f"f{i}.csv", line=i + 1)
                for i in range(count)]
    lines = summarise(findings).split("\n")[1:]
    assert len(lines) == min(count, 10) + (1 if tail else 0)
    assert lines[0].startswith("    f0.csv") and "n0" in lines[0]
    assert (lines[-1].strip() == tail) if tail else "more" not in lines[-1]


def test_impossible_release_date_is_refused_before_anything_is_planned(repo):
    with pytest.raises(ValueError, match="2024-02-31"):
        release.plan_release(repo, "0.1.0", date="2024-02-31")
    result = run_cli("release", "0.1.0", str(repo), "--date", "2024-02-31")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "'2024-02-31' is not a calendar date" in result.stderr
