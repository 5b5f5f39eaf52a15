"""`nkru release`: refusals, metadata bumps, the CHANGELOG section, and a reproducible, valid zip.

Every test works in a git-initialised copy of the real package in a temp dir, with
user.name/user.email set in that repository (no global git config needed).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
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


@pytest.fixture(scope="module")
def repo_template(tmp_path_factory) -> Path:
    """A git repository holding a copy of the real package, everything committed; made once, never edited."""
    return init_repo(copy_package(tmp_path_factory.mktemp("repo") / "nkru"), commit="the package")


@pytest.fixture(scope="module")
def released_template(repo_template, tmp_path_factory) -> Path:
    """`repo_template` after its first release, 1.0.0 (manifest committed, no tag); made once, never edited."""
    root = shutil.copytree(repo_template, tmp_path_factory.mktemp("released") / "nkru", symlinks=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SOURCE_DATE_EPOCH", raising=False)
        make_release(root, "1.0.0", "2026-11-30")
    return root


@pytest.fixture
def repo(repo_template: Path, tmp_path: Path, monkeypatch) -> Path:
    """A git repository holding a copy of the real package, everything committed (a copy of the template:
    git init and the first commit once per module)."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    return shutil.copytree(repo_template, tmp_path / "nkru", symlinks=True)


def metadata_version(root: Path) -> str:
    return json.loads((root / "datapackage.json").read_text(encoding="utf-8"))["version"]


def released_date(root: Path) -> str | None:
    return load_cff((root / "CITATION.cff").read_text(encoding="utf-8")).get("date-released")


def snapshot_files(root: Path) -> dict[str, bytes]:
    """Every file of the package but git's and the write lock nkru holds while it writes (git-ignored)."""
    from nkru.fsutil import LOCK_NAME

    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts and p.name != LOCK_NAME}


def make_release(repo: Path, version: str, date: str) -> release.ReleasePlan:
    """Release `version` (validation left to the tests that need it) and commit what it wrote."""
    plan = release.plan_release(repo, version, date=date, validate=False)
    assert plan.ok, plan.refusals
    release.write_release(plan)
    commit_all(repo, f"Release {version}")
    return plan


@pytest.fixture
def released(released_template: Path, tmp_path: Path, monkeypatch) -> Path:
    """The repository after its first release, 1.0.0 (manifest committed, no tag): a copy of the template."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    return shutil.copytree(released_template, tmp_path / "nkru", symlinks=True)


# -- the first release, end to end ---------------------------------------------------------


@pytest.mark.slow
def test_first_release_is_reproducible_valid_open_and_citable(repo, tmp_path):
    version, date = "1.0.0", "2026-11-30"
    if metadata_version(repo) != version:
        assert released_date(repo) is None  # nothing was ever published: no file claims a release date
    before = snapshot_files(repo)

    first = run_cli("release", version, str(repo), "--date", date)
    assert first.exit_code == 0, first.stderr
    assert f"git tag -a v{version}" in first.stdout and f"git push origin HEAD v{version}" in first.stdout
    assert f"releases/{version}.json" in first.stdout
    dist = repo / "dist"
    zip_path = dist / f"nkru-{version}.zip"
    zip_bytes = zip_path.read_bytes()
    sums = (dist / "SHA256SUMS").read_text(encoding="utf-8")
    assert sums == f"{hashlib.sha256(zip_bytes).hexdigest()}  nkru-{version}.zip\n"
    assert git(repo, "tag", "--list") == ""
    after = snapshot_files(repo)
    changed = sorted(k for k in after if not k.startswith("dist/") and after[k] != before.get(k))
    assert f"releases/{version}.json" in changed
    assert set(changed) <= {".zenodo.json", "CHANGELOG.md", "CITATION.cff", "datapackage.json", "docs/codebook.md",
                            f"releases/{version}.json"}
    # The codebook names the released version (and stays what the schemas give).
    from nkru import codebook

    assert codebook.check(repo) == codebook.OK and f"(package version {version})" in (repo / "docs" / "codebook.md").read_text()
    assert metadata_version(repo) == version and released_date(repo) == date

    # The manifest: date, the zip's and every file's checksum, row counts and compressed keys.
    manifest = json.loads((repo / "releases" / f"{version}.json").read_text(encoding="utf-8"))
    assert (manifest["version"], manifest["date"]) == (version, date)
    assert manifest["archives"][f"nkru-{version}.zip"]["sha256"] == hashlib.sha256(zip_bytes).hexdigest()
    header, claims = read_table(repo, "claims")
    assert manifest["resources"]["claims"]["rows"] == len(claims)
    from nkru.manifest import compress_ids, expand_ids

    claim_ids = [row["claim_id"] for row in claims]
    assert manifest["resources"]["claims"]["ids"] == compress_ids(claim_ids)[0]
    assert expand_ids(manifest["resources"]["claims"]["ids"]) == set(claim_ids)
    assert len(manifest["resources"]["claims"]["ids"]) < len(claim_ids) / 4  # runs, not one entry per ID
    assert "keysSha256" in manifest["resources"]["event_actors"]

    # Rerunning the uncommitted release changes nothing and rebuilds the same bytes.
    second = run_cli("release", version, str(repo), "--date", date)
    assert second.exit_code == 0, second.stderr
    assert "no file changes" in second.stdout
    assert snapshot_files(repo) == after

    with zipfile.ZipFile(zip_path) as archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names)
        # datapackage.json at the zip's root (the Data Package zip convention), no folder around it.
        assert "datapackage.json" in names and not any(n.endswith("/") for n in names)
        for info in infos:
            assert info.date_time == (2026, 11, 30, 0, 0, 0)
            assert stat.S_IMODE(info.external_attr >> 16) == 0o644 and info.create_system == 3
            assert info.extra == b"" and info.compress_type == zipfile.ZIP_STORED
            assert manifest["files"][info.filename] == {"sha256": hashlib.sha256(archive.read(info)).hexdigest(),
                                                        "bytes": info.file_size}
        assert len(manifest["files"]) == len(infos)
        assert archive.comment == b""
        inside = set(names)
        for required in ("datapackage.json", "README.md", "CHANGELOG.md", "CITATION.cff", "LICENSE", ".zenodo.json",
                         "data/sources/NOTICE.md", "data/retractions.csv", "schemas/retractions.json", "docs/codebook.md",
                         "docs/reliability.md", "reliability/coder2/units.csv", "reliability/coder2/actor_map.csv"):
            assert required in inside, required  # the agreement figures travel with the data they measure
        working = json.loads((repo / "datapackage.json").read_text(encoding="utf-8"))
        for res in working["resources"]:
            assert res["path"] in inside and res["schema"] in inside
        # The open release leaves the article texts out (they stay their publishers' copyright).
        _, sources = read_table(repo, "sources")
        assert sources and not any(row["text_path"] in inside for row in sources)
        assert not [n for n in inside if n.endswith(".txt")]
        assert "pyproject.toml" not in inside and f"releases/{version}.json" not in inside
        archive.extractall(tmp_path / "unzipped")
    unzipped = tmp_path / "unzipped"

    shipped = json.loads((unzipped / "datapackage.json").read_text(encoding="utf-8"))
    assert shipped["nkru:texts"] == "excluded"
    for res in shipped["resources"]:
        data = (unzipped / res["path"]).read_bytes()
        assert res["bytes"] == len(data) and res["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert all("hash" not in res and "bytes" not in res for res in working["resources"])

    # The stock frictionless CLI (never `trusted`) validates the unzipped open release, hashes included.
    stock = subprocess.run([sys.executable, "-m", "frictionless", "validate", "--json", str(unzipped / "datapackage.json")],
                           capture_output=True, text=True)
    result = json.loads(stock.stdout)
    assert stock.returncode == 0 and result["valid"] is True, stock.stdout[:2000]
    assert len(result["tasks"]) == len(shipped["resources"])
    # ... and the zip itself, as it is: every resource is validated (not just the first file it finds).
    stock_zip = subprocess.run([sys.executable, "-m", "frictionless", "validate", "--json", str(zip_path)],
                               capture_output=True, text=True)
    zipped = json.loads(stock_zip.stdout)
    assert stock_zip.returncode == 0 and zipped["valid"] is True, stock_zip.stdout[:2000]
    validated = sorted(task["name"] for task in zipped["tasks"])
    assert validated == sorted(res["name"] for res in shipped["resources"])
    assert all(task["valid"] and task["stats"]["rows"] > 0 for task in zipped["tasks"] if task["name"] != "retractions")
    # nkru load and nkru validate accept the zip as it is.
    from nkru import load

    assert len(load(zip_path).claims) == len(read_table(repo, "claims")[1])
    assert validate_package(zip_path, only=["structure", "metadata"]).valid

    # The unzipped release cites itself.
    assert validate_package(unzipped, only=["metadata"]).valid
    cited = run_cli("cite", str(unzipped))
    assert cited.exit_code == 0
    assert cited.stdout.strip() == f"nkru curators. (2026). {working['title']} (Version {version}) [Data set]."

    # Committed, the release is verified from the git tree against its manifest.
    commit_all(repo, f"Release {version}")
    verified = run_cli("release", "--verify", version, str(repo))
    assert verified.exit_code == 0, verified.stderr
    assert f"matches releases/{version}.json ({len(infos) + 1} checksums" in verified.stdout


@pytest.mark.slow  # builds the zip twice
def test_zips_do_not_depend_on_zlib(repo, monkeypatch):
    """Entries are stored: building never calls zlib, so every machine gets the same bytes."""
    import zlib

    def no_zlib(*args, **kwargs):
        raise AssertionError("zlib was used")

    first = release.plan_release(repo, "1.0.0", date="2026-11-30", validate=False)
    for name in ("compressobj", "compress", "decompressobj"):
        monkeypatch.setattr(zlib, name, no_zlib)
    second = release.plan_release(repo, "1.0.0", date="2026-11-30", validate=False)
    assert first.zip_bytes == second.zip_bytes and len(first.zip_bytes) > 10_000
    # A stored zip is its members, each preceded by a local header: the member bytes appear verbatim.
    claims = (repo / "data" / "claims.csv").read_bytes()
    assert claims in first.zip_bytes


@pytest.mark.slow  # a release, then its verification
def test_source_date_epoch_sets_the_timestamps_and_the_manifest_keeps_it(repo, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14 22:13:20 UTC
    plan = make_release(repo, "1.0.0", "2026-11-30")
    with zipfile.ZipFile(io.BytesIO(plan.zip_bytes)) as archive:
        assert {i.date_time for i in archive.infolist()} == {(2023, 11, 14, 22, 13, 20)}
    assert plan.manifest.archives["nkru-1.0.0.zip"]["timestamp"] == "2023-11-14T22:13:20Z"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    result = release.verify_release(repo, "1.0.0")
    assert result.ok, result.problems


@pytest.mark.slow
def test_verify_names_every_file_that_differs(released):
    result = release.verify_release(released, "1.0.0")
    assert result.ok and result.checked > 20
    # A released table edited afterwards (and committed): the rebuild no longer matches the manifest.
    set_cell(released, "actors", 0, "notes", "edited after the release")
    commit_all(released, "edit")
    result = release.verify_release(released, "1.0.0", ref="HEAD")
    assert not result.ok
    assert any(p.startswith("data/actors.csv: rebuilt SHA-256") and "releases/1.0.0.json records" in p
               for p in result.problems), result.problems
    assert any(p.startswith("nkru-1.0.0.zip: rebuilt SHA-256") for p in result.problems)
    # Without --ref the release commit (the one that added the manifest; or the tag) is rebuilt, and still verifies.
    good = git(released, "rev-parse", "HEAD~1").strip()
    assert release.verify_release(released, "1.0.0").commit == good
    assert release.verify_release(released, "1.0.0").ok
    cli = run_cli("release", "--verify", "1.0.0", str(released), "--ref", "HEAD")
    assert cli.exit_code == 1 and "data/actors.csv" in cli.stderr


def test_verify_usage_errors(released):
    assert run_cli("release", "--verify", "9.9.9", str(released)).exit_code == 2
    assert "no such manifest" in run_cli("release", "--verify", "9.9.9", str(released)).stderr
    assert run_cli("release", "--verify", "1.0.0", str(released), "--ref", "nope").exit_code == 2
    assert run_cli("release", "1.0.1", str(released), "--ref", "HEAD").exit_code == 2


def test_verify_writes_the_zip_sums_and_notes_for_the_workflow(released, tmp_path):
    dist = tmp_path / "out"
    dist.mkdir()
    (dist / "nkru-0.9.0.zip").write_bytes(b"an older release")
    result = run_cli("release", "--verify", "1.0.0", str(released), "--out", str(dist), "--notes", str(tmp_path / "notes.md"))
    assert result.exit_code == 0, result.stderr
    built = (dist / "nkru-1.0.0.zip").read_bytes()
    manifest = json.loads((released / "releases" / "1.0.0.json").read_text(encoding="utf-8"))
    assert hashlib.sha256(built).hexdigest() == manifest["archives"]["nkru-1.0.0.zip"]["sha256"]
    # SHA256SUMS lists every release zip in the folder, not only the newest.
    assert (dist / "SHA256SUMS").read_text(encoding="utf-8") == (
        f"{hashlib.sha256(b'an older release').hexdigest()}  nkru-0.9.0.zip\n"
        f"{hashlib.sha256(built).hexdigest()}  nkru-1.0.0.zip\n")
    notes = (tmp_path / "notes.md").read_text(encoding="utf-8")
    assert "first published release" in notes and "## [" not in notes
    assert sorted(p.name for p in dist.iterdir()) == ["SHA256SUMS", "nkru-0.9.0.zip", "nkru-1.0.0.zip"]


@pytest.mark.slow
def test_patch_release_writes_changelog_bumps_metadata_and_rebuilds_identically(released):
    repo = released
    old, old_date = "1.0.0", "2026-11-30"
    new = "1.0.1"
    header, rows = read_table(repo, "actors")
    actor = rows[0]["actor_id"]
    # Between releases the working tree carries a development version (docs/releasing.md).
    assert run_cli("release", f"{new}-dev", str(repo)).exit_code == 0
    set_cell(repo, "actors", 0, "notes", rows[0]["notes"] + " Corrected in a patch.")
    changelog = repo / "CHANGELOG.md"
    # Whatever the real CHANGELOG holds under Unreleased is replaced by this test's one note.
    changelog.write_text(re.sub(r"## \[Unreleased\]\n.*?(?=\n## \[)", "## [Unreleased]\n\n### Fixed\n\n- A clearer note on an actor.\n",
                                changelog.read_text(encoding="utf-8"), count=1, flags=re.S), encoding="utf-8")
    commit_all(repo, "a correction")

    # --dry-run shows the plan and writes nothing.
    before = snapshot_files(repo)
    dry = run_cli("release", new, str(repo), "--dry-run", "--date", "2026-12-24")
    assert dry.exit_code == 0, dry.stderr
    assert "Nothing was written." in dry.stdout
    assert f"+## [{new}] - 2026-12-24" in dry.stdout
    assert "previous release: 1.0.0 (releases/1.0.0.json)" in dry.stdout
    assert snapshot_files(repo) == before

    done = run_cli("release", new, str(repo), "--date", "2026-12-24")
    assert done.exit_code == 0, done.stderr
    log = Changelog.parse(changelog.read_text(encoding="utf-8"))
    assert log.problems == []
    assert [s.heading for s in log.sections[:3]] == ["[Unreleased]", f"[{new}] - 2026-12-24", f"[{old}] - {old_date}"]
    body = log.body(log.section(new))
    assert body == (f"### Changed\n\n- `actors`: 1 row corrected ({actor}: notes).\n\n"
                    "### Fixed\n\n- A clearer note on an actor.")
    cff = load_cff((repo / "CITATION.cff").read_text(encoding="utf-8"))
    assert (cff["version"], cff["date-released"]) == (new, "2026-12-24")
    zenodo = json.loads((repo / ".zenodo.json").read_text(encoding="utf-8"))
    assert (zenodo["version"], zenodo["publication_date"]) == (new, "2026-12-24")
    assert (repo / "CITATION.cff").read_text(encoding="utf-8").startswith("#")
    assert validate_package(repo, only=["metadata"]).valid
    # The new zip carries the earlier manifest, so an unpacked release checks its IDs against it.
    with zipfile.ZipFile(repo / "dist" / f"nkru-{new}.zip") as archive:
        assert "releases/1.0.0.json" in archive.namelist()
        assert f"releases/{new}.json" not in archive.namelist()
    # dist/SHA256SUMS lists both zips.
    assert [line.split()[1] for line in (repo / "dist" / "SHA256SUMS").read_text().splitlines()] == [
        "nkru-1.0.0.zip", f"nkru-{new}.zip"]

    zip_bytes = (repo / "dist" / f"nkru-{new}.zip").read_bytes()
    commit_all(repo, f"Release {new}")
    again = run_cli("release", new, str(repo))
    assert again.exit_code == 0, again.stderr
    assert "no file changes" in again.stdout
    assert (repo / "dist" / f"nkru-{new}.zip").read_bytes() == zip_bytes
    assert release.verify_release(repo, new).ok and release.verify_release(repo, old, ref="HEAD~2").ok


def test_changelog_lists_added_and_retracted_rows(released):
    repo = released
    header, rows = read_table(repo, "claims")
    removed = rows.pop()
    added = dict(rows[0], claim_id="C999")
    write_table(repo, "claims", header, rows + [added])
    write_table(repo, "retractions", ["id", "retracted_in", "reason", "replaced_by"],
                [{"id": removed["claim_id"], "retracted_in": "1.1.0", "reason": "duplicate of another claim", "replaced_by": ""}])
    commit_all(repo, "edits")
    plan = release.plan_release(repo, "1.1.0", date="2027-01-02", validate=False)
    assert plan.ok, plan.refusals
    assert plan.required_bump == "minor"
    [edit] = [e for e in plan.edits if e.path == "CHANGELOG.md"]
    body = Changelog.parse(edit.new).body(Changelog.parse(edit.new).section("1.1.0"))
    assert "- `claims`: 1 row (C999)." in body
    assert f"- `claims`: 1 row: {removed['claim_id']} (retracted: duplicate of another claim)." in body


@pytest.mark.slow  # two git clones
def test_the_previous_release_is_found_without_tags_or_full_history(released, tmp_path):
    """A shallow clone has the manifest but not the release commit: a new release says to fetch the history."""
    set_cell(released, "actors", 0, "notes", "a correction")
    commit_all(released, "correction")
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{released}", str(clone)], check=True)
    [reason] = release.plan_release(clone, "1.0.1", validate=False).refusals
    assert "cannot find the commit of the previous release 1.0.0" in reason and "fetch the full history" in reason
    # A full clone finds the commit that added the manifest.
    full = tmp_path / "full"
    subprocess.run(["git", "clone", "-q", str(released), str(full)], check=True)
    assert release.plan_release(full, "1.0.1", validate=False).ok


@pytest.mark.slow  # a git clone, then verifications
def test_verify_in_a_shallow_clone_says_the_history_is_missing_and_which_files_still_match(released, tmp_path):
    """A real depth-1 clone: --verify never rebuilds from HEAD in the release commit's stead. It says the history
    is missing, and which files are still the release's (data identical) and which changed since (docs)."""
    readme = released / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nEdited after the release.\n", encoding="utf-8")
    commit_all(released, "docs edited after the release")
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{released}", str(clone)], check=True)
    assert git(clone, "rev-parse", "--is-shallow-repository").strip() == "true"
    result = release.verify_release(clone, "1.0.0")
    assert not result.ok and result.commit is None and result.build is None
    built_on = json.loads((released / "releases" / "1.0.0.json").read_text(encoding="utf-8"))["commit"]
    assert result.history_missing == result.problems[0]
    assert f"built on commit {built_on[:12]}, which is not in this clone (this clone is shallow)" in result.history_missing
    assert "git fetch --unshallow --tags" in result.history_missing
    assert [f.path for f in result.matching("changed")] == ["README.md"]
    assert {"data/claims.csv", "schemas/claims.json", "CHANGELOG.md"} <= {f.path for f in result.matching("same")}
    cli = run_cli("release", "--verify", "1.0.0", str(clone))
    err = " ".join(cli.stderr.split())
    assert cli.exit_code == 1 and "not reproduced" not in err and "rebuilt SHA-256" not in err
    assert "cannot rebuild: nkru 1.0.0" in err and "changed since the release: README.md" in err
    assert "data and schema files" in err
    # With the history fetched, the same clone verifies, from the release commit (not HEAD).
    subprocess.run(["git", "-C", str(clone), "fetch", "-q", "--unshallow"], check=True)
    fetched = release.verify_release(clone, "1.0.0")
    assert fetched.ok and fetched.commit == git(released, "rev-parse", "HEAD~1").strip()


def test_verify_in_a_copy_without_git_compares_the_files(released, tmp_path):
    import shutil

    copy = tmp_path / "download"
    shutil.copytree(released, copy, ignore=shutil.ignore_patterns(".git", "dist"))
    set_cell(copy, "claims", 0, "notes", "changed in the copy")
    result = release.verify_release(copy, "1.0.0")
    assert not result.ok and "not in a git repository (a copy without .git" in result.history_missing
    assert [f.path for f in result.matching("changed")] == ["data/claims.csv", "datapackage.json"]
    assert run_cli("release", "--verify", "1.0.0", str(copy)).exit_code == 1


def test_the_manifest_records_the_commit_the_release_was_built_on(repo):
    base = git(repo, "rev-parse", "HEAD").strip()
    plan = make_release(repo, "1.0.0", "2026-11-30")
    manifest = json.loads((repo / "releases" / "1.0.0.json").read_text(encoding="utf-8"))
    assert manifest["commit"] == base == plan.manifest.commit
    # A rerun after the release commit keeps it (HEAD is now the release commit): nothing to change.
    again = release.plan_release(repo, "1.0.0", validate=False)
    assert again.ok and again.edits == [] and again.manifest.commit == base
    # The tag wins when there is one; the manifest's commit is then not needed.
    release_commit = git(repo, "rev-parse", "HEAD").strip()
    set_cell(repo, "actors", 0, "notes", "later")
    commit_all(repo, "later")
    assert release.verify_release(repo, "1.0.0").commit == release_commit
    git(repo, "tag", "v1.0.0", release_commit)
    assert release.verify_release(repo, "1.0.0").ok


@pytest.mark.slow  # a release in the old layout, then its verification
def test_a_manifest_without_commit_and_with_a_folder_is_verified_as_1_0_0_was(repo):
    """1.0.0 predates both the recorded commit and the root layout: it is rebuilt under nkru-1.0.0/ from the
    commit that added its manifest, and --verify says how that commit was found."""
    plan = release.plan_release(repo, "1.0.0", date="2026-11-30", validate=False)
    release.write_release(plan)

    def read(path: str) -> bytes | None:
        full = repo / path
        return full.read_bytes() if full.is_file() else None

    from nkru import gitrepo

    build = release.build_release("1.0.0", read, lambda folders: gitrepo.tracked_files(repo, *folders),
                                  release.zip_timestamp("2026-11-30"), "nkru-1.0.0/")
    legacy = release.make_manifest("1.0.0", "2026-11-30", build)
    assert legacy.commit is None and legacy.folder == "nkru-1.0.0/"
    (repo / "releases" / "1.0.0.json").write_text(legacy.dumps(), encoding="utf-8")
    commit_all(repo, "Release 1.0.0 (old style)")
    result = release.verify_release(repo, "1.0.0")
    assert result.ok, result.problems
    assert result.build.members[0].name.startswith("nkru-1.0.0/")
    assert result.notes == [f"releases/1.0.0.json records no commit (made before manifests did); rebuilt from the commit "
                            f"that added it, {git(repo, 'rev-parse', 'HEAD').strip()[:12]}"]
    cli = run_cli("release", "--verify", "1.0.0", str(repo))
    assert cli.exit_code == 0 and "records no commit" in cli.stdout


def test_verify_a_downloaded_zip_without_git(released, tmp_path):
    download = tmp_path / "downloads"
    download.mkdir()
    zip_path = download / "nkru-1.0.0.zip"
    zip_path.write_bytes((released / "dist" / "nkru-1.0.0.zip").read_bytes())
    manifest_text = (released / "releases" / "1.0.0.json").read_text(encoding="utf-8")
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    # No manifest anywhere: a one-line usage error that says where it looked and what to pass.
    missing = run_cli("release", "--verify", str(zip_path), str(elsewhere))
    assert missing.exit_code == 2 and "no manifest for 1.0.0" in missing.stderr and "--manifest" in missing.stderr
    # The manifest as the GitHub release carries it, beside the zip; no git repository anywhere.
    (download / "nkru-1.0.0.manifest.json").write_text(manifest_text, encoding="utf-8")
    ok = run_cli("release", "--verify", str(zip_path), str(elsewhere))
    assert ok.exit_code == 0, ok.stderr
    files = len(json.loads(manifest_text)["files"])
    assert f"({files + 1} checksums: the archive and every member)" in " ".join(ok.stdout.split())
    # Or the repository's releases/ (a clone, or a copy without .git), or --manifest.
    (download / "nkru-1.0.0.manifest.json").unlink()
    assert run_cli("release", "--verify", str(zip_path), str(released)).exit_code == 0
    assert run_cli("release", "--verify", str(zip_path), "--manifest", str(released / "releases" / "1.0.0.json")).exit_code == 0

    # One member changed (same size, so only its checksum tells): the archive and that member are named.
    data = bytearray(zip_path.read_bytes())
    claims = (released / "data" / "claims.csv").read_bytes()
    at = bytes(data).index(claims)
    data[at + len(claims) - 2] ^= 0x01
    tampered = download / "tampered" / "nkru-1.0.0.zip"
    tampered.parent.mkdir()
    tampered.write_bytes(bytes(data))
    result = release.verify_zip(tampered, release.find_zip_manifest(tampered, released))
    assert not result.ok
    assert result.problems[0].startswith("nkru-1.0.0.zip: SHA-256 ")
    assert any("data/claims.csv" in p for p in result.problems[1:]), result.problems
    bad = run_cli("release", "--verify", str(tampered), str(released))
    assert bad.exit_code == 1 and "not the release" in bad.stderr and "Traceback" not in bad.output

    # Hostile or broken input: a clear message, never a traceback.
    junk = download / "junk" / "nkru-1.0.0.zip"
    junk.parent.mkdir()
    junk.write_bytes(b"not a zip at all")
    broken = run_cli("release", "--verify", str(junk), str(released))
    assert broken.exit_code == 1 and "not a readable zip" in broken.stderr and "Traceback" not in broken.output
    slip = download / "slip" / "nkru-1.0.0.zip"
    slip.parent.mkdir()
    with zipfile.ZipFile(slip, "w") as archive:
        archive.writestr("../evil.csv", b"x")
    refused = run_cli("release", "--verify", str(slip), str(released))
    assert refused.exit_code == 1 and "zip-slip" in refused.stderr
    gone = run_cli("release", "--verify", str(download / "nkru-9.9.9.zip"), str(released))
    assert gone.exit_code == 2 and "Traceback" not in gone.output
    renamed = download / "data.zip"
    renamed.write_bytes(zip_path.read_bytes())
    assert "pass --manifest" in run_cli("release", "--verify", str(renamed), str(released)).stderr


# -- refusals ---------------------------------------------------------------------------------


def test_refusal_lists_every_reason(released):
    """Dirty tree, a version that is not newer than the last release, and failing validation, all at once."""
    repo = released
    line = set_cell(repo, "actors", 0, "actor_type", "not-a-type")
    result = run_cli("release", "0.9.0", str(repo))
    assert result.exit_code == 1
    err = " ".join(result.stderr.split())
    assert "refused: nkru release 0.9.0" in err
    assert "the git working tree is dirty (data/actors.csv)" in err
    assert "0.9.0 is not greater than the latest release 1.0.0 (releases/1.0.0.json)" in err
    assert "validation fails with" in err and f"data/actors.csv:{line}" in err
    assert sorted(p.name for p in (repo / "dist").iterdir()) == ["SHA256SUMS", "nkru-1.0.0.zip"]


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
    ("dirty", "1.0.1", "the git working tree is dirty"),
    ("untracked", "1.0.1", "the git working tree is dirty (data/new.csv)"),
    ("older", "0.9.9", "0.9.9 is not greater than the latest release 1.0.0"),
    ("column removed in a minor release", "1.1.0", "1.1.0 is a minor release, but the changes since 1.0.0 need a major release"),
    ("row added in a patch release", "1.0.1", "1.0.1 is a patch release, but the changes since 1.0.0 need a minor release"),
    ("no README", "1.0.1", "README.md is missing"),
    ("broken manifest", "1.0.1", "releases/1.0.0.json: not valid JSON"),
])
def test_each_refusal(released, case, version, expected):
    repo = released
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
    elif case == "broken manifest":
        (repo / "releases" / "1.0.0.json").write_text("{", encoding="utf-8")
        commit_all(repo, "broken")
    plan = release.plan_release(repo, version, validate=False)
    assert len(plan.refusals) >= 1, plan.refusals
    assert plan.refusals[0].startswith(expected), plan.refusals
    assert plan.zip_bytes == b"" and plan.edits == []


def test_bump_refusal_names_the_reason_and_the_right_version(released):
    _drop_column(released, "actors", "notes")
    commit_all(released, "drop a column")
    [reason] = release.plan_release(released, "1.0.1", validate=False).refusals
    assert "actors: field notes removed (was string)" in reason and "release 2.0.0 instead" in reason
    assert release.plan_release(released, "2.0.0", validate=False).ok


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
    plan = release.plan_release(repo, "1.0.0", validate=False)
    assert not any("dirty" in r for r in plan.refusals), plan.refusals
    (repo / "stray.txt").write_text("x", encoding="utf-8")
    plan = release.plan_release(repo, "1.0.0", validate=False)
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


# -- using an open release zip directly ------------------------------------------------------------


@pytest.mark.slow
def test_the_open_zip_validates_without_texts_and_with_them(released, tmp_path):
    zip_path = released / "dist" / "nkru-1.0.0.zip"
    without = run_cli("validate", str(zip_path), "--format", "json")
    assert without.exit_code == 0, without.stdout[-3000:]
    report = json.loads(without.stdout)
    assert report["package"] == str(zip_path)
    notes = [f for f in report["findings"] if f["code"] == "texts-not-included"]
    assert len(notes) == 1 and notes[0]["severity"] == "warning"  # said once
    # The first release carries no earlier manifest: nothing to compare IDs with, and nothing to warn about
    # (but that the repository URL is unset in the real package's CITATION.cff).
    assert sorted(f["code"] for f in report["findings"]) == ["repository-url-unset", "texts-not-included"]
    assert "quotes found in their source" in notes[0]["message"] and "--texts DIR" in notes[0]["message"]
    counts = {layer["layer"]: layer["checks"] for layer in report["layers"]}
    assert counts["structure"] > 100 and counts["rules"] > 100  # every check that needs no text ran

    texts = released / "data" / "sources"
    full = run_cli("validate", str(zip_path), "--texts", str(texts), "--format", "json")
    assert full.exit_code == 0, full.stdout[-3000:]
    report = json.loads(full.stdout)
    assert not [f for f in report["findings"] if f["code"] == "texts-not-included"]
    assert {layer["layer"]: layer["checks"] for layer in report["layers"]}["coverage"] > 100

    # Texts that do not match the recorded SHA-256 are not used: the checks needing them stay off.
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for text in texts.glob("*.txt"):
        (wrong / text.name).write_bytes(text.read_bytes() + b"\nedited")
    report = json.loads(run_cli("validate", str(zip_path), "--texts", str(wrong), "--format", "json", "--only", "coverage").stdout)
    assert [f["code"] for f in report["findings"]] == ["texts-not-included"]
    assert run_cli("validate", str(zip_path), "--texts", str(tmp_path / "nope")).exit_code == 2


@pytest.mark.slow  # loads and exports a release zip
def test_load_and_export_read_a_release_zip(released, tmp_path):
    from nkru import load

    zip_path = released / "dist" / "nkru-1.0.0.zip"
    data = load(zip_path)
    _, claims = read_table(released, "claims")
    assert len(data.claims) == len(claims) and list(data.claims.claim_id) == [r["claim_id"] for r in claims]
    out = tmp_path / "out" / "nkru.sqlite"
    result = run_cli("export", str(zip_path), "--to", "sqlite", "--out", str(out))
    assert result.exit_code == 0, result.output
    import sqlite3

    with sqlite3.connect(out) as db:
        assert db.execute("SELECT count(*) FROM claims").fetchone()[0] == len(claims)
