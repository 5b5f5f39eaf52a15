"""The metadata layer: one version everywhere, a valid CITATION.cff, and stable IDs across releases."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.conftest import copy_package
from tests.helpers import REPO, covering, first, git, init_repo, line_of, read_table, run_cli, write_table
from nkru.api import Options, validate_package
from nkru.layers.metadata import id_resources
from nkru.metadata import CITATION, RETRACTION_FIELDS, RETRACTIONS, Changelog, Version, dev_version, is_date, load_cff
from nkru.package import Package

#: Every resource with a one-field primary key (the IDs that must stay stable), derived from the real package.
ID_RESOURCES = list(id_resources(list(Package.open(REPO).resources), Package.open(REPO).primary_key))


RELEASE_DATE = "2026-11-30"


def mark_released(root: Path, date: str = RELEASE_DATE) -> Path:
    """Put a package copy into the state of a release of its version (CHANGELOG heading, CITATION.cff and
    .zenodo.json dates), as `nkru release` leaves it; a copy already in that state is left alone."""
    from nkru.metadata import dump_json, set_yaml_value

    version = current_version(root)
    changelog = root / "CHANGELOG.md"
    log = Changelog.parse(changelog.read_text(encoding="utf-8"))
    if log.section(version) is None:
        changelog.write_text(log.with_release(version, date, {}), encoding="utf-8")
        date_used = date
    else:
        date_used = log.section(version).date
    cff = root / "CITATION.cff"
    cff.write_text(set_yaml_value(cff.read_text(encoding="utf-8"), "date-released", date_used, after="version"), encoding="utf-8")
    zenodo = json.loads((root / ".zenodo.json").read_text(encoding="utf-8"))
    zenodo["publication_date"] = date_used
    (root / ".zenodo.json").write_text(dump_json(zenodo), encoding="utf-8")
    return root


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of the real package, in the state of a release of its version (most checks here are about that)."""
    return mark_released(copy_package(tmp_path / "package"))


@pytest.fixture
def unreleased_copy(tmp_path: Path) -> Path:
    """A copy of the real package as it is (before its first release: no release date anywhere)."""
    return copy_package(tmp_path / "unreleased")


def metadata(package: Path, **options):
    report = validate_package(package, only=["metadata"], options=Options(**options))
    [layer] = report.layers
    assert layer.checks > 0
    return layer


def codes(layer) -> list[str]:
    return [f.code for f in layer.findings if f.severity == "error"]


def one(layer, code: str):
    found = [f for f in layer.findings if f.code == code]
    assert len(found) == 1, [f.message for f in layer.findings]
    return found[0]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def edit_json(path: Path, key: str, value) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data[key] = value
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def line_with(path: Path, pattern: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if re.search(pattern, line):
            return number
    raise AssertionError(pattern)


def current_version(package: Path) -> str:
    return json.loads((package / "datapackage.json").read_text(encoding="utf-8"))["version"]


# -- the real package ------------------------------------------------------------------


def test_real_package_metadata_agree(real_package):
    layer = metadata(real_package)
    assert codes(layer) == []
    assert layer.checks >= 15


def test_real_citation_cff_is_a_dataset_without_invented_identifiers(real_package):
    data = load_cff((real_package / CITATION).read_text(encoding="utf-8"))
    descriptor = json.loads((real_package / "datapackage.json").read_text(encoding="utf-8"))
    assert data["cff-version"] == "1.2.0" and data["type"] == "dataset"
    assert data["title"] == descriptor["title"]
    for key in ("authors", "version", "license", "keywords", "abstract"):
        assert data[key], key
    # A DOI and repository URL only once they exist: none is made up.
    for key in ("doi", "identifiers", "repository", "repository-code", "url"):
        assert key not in data, key
    zenodo = json.loads((real_package / ".zenodo.json").read_text(encoding="utf-8"))
    assert zenodo["upload_type"] == "dataset"
    log = Changelog.parse((real_package / "CHANGELOG.md").read_text(encoding="utf-8"))
    assert log.problems == [] and log.unreleased is not None
    # A release date only for a release that happened, i.e. that has a manifest in releases/.
    manifests = sorted((real_package / "releases").glob("*.json")) if (real_package / "releases").is_dir() else []
    if manifests:
        newest = json.loads((real_package / "releases" / f"{data['version']}.json").read_text(encoding="utf-8"))
        assert data["date-released"] == zenodo["publication_date"] == newest["date"] == log.latest.date
        assert log.latest.version == data["version"]
        # datapackage.json: that release, or a development version after it (docs/releasing.md, "Between releases").
        assert descriptor["version"] == data["version"] or (
            dev_version(descriptor["version"]) is not None and dev_version(descriptor["version"]) > Version.parse(data["version"]))
    else:
        assert "date-released" not in data and "publication_date" not in zenodo and log.latest is None
    # 0.1.0 was never published: the CHANGELOG says so and dates no 0.1.0 release.
    assert log.section("0.1.0") is None
    assert "0.1.0 was never published" in " ".join(log.text.split()) or "was never published as an artifact" in " ".join(log.text.split())


# -- one version everywhere -----------------------------------------------------------


@pytest.mark.parametrize("path", ["CITATION.cff", ".zenodo.json", "CHANGELOG.md", "datapackage.json"])
def test_version_disagreement_fails(package_copy, path):
    version = current_version(package_copy)
    target = package_copy / path
    if path == "CITATION.cff":
        edit(target, f'version: "{version}"', 'version: "9.9.9"')
        line = line_with(target, r"^version:")
    elif path == ".zenodo.json":
        edit_json(target, "version", "9.9.9")
        line = line_with(target, r'^  "version"')
    elif path == "CHANGELOG.md":
        edit(target, f"## [{version}]", "## [9.9.9]")
        line = line_with(target, r"^## \[9\.9\.9\]")
    else:
        edit_json(target, "version", "9.9.9")
    layer = metadata(package_copy)
    if path == "datapackage.json":
        # The descriptor is the reference: every other file now disagrees with it.
        found = {f.path: f for f in layer.findings if f.code == "version-mismatch"}
        assert set(found) == {"CITATION.cff", ".zenodo.json", "CHANGELOG.md"}
        assert all(f.value == version and "9.9.9" in f.message for f in found.values())
        return
    finding = one(layer, "version-mismatch")
    assert (finding.path, finding.line, finding.value) == (path, line, "9.9.9")
    assert f"but datapackage.json says '{version}'" in finding.message


@pytest.mark.parametrize("path, code, field, value", [
    ("CITATION.cff", "title-mismatch", "title", "Another title"),
    (".zenodo.json", "title-mismatch", "title", "Another title"),
    ("CITATION.cff", "license-mismatch", "license", "MIT"),
    (".zenodo.json", "license-mismatch", "license", "mit"),
    ("CITATION.cff", "date-mismatch", "date-released", "2030-01-01"),
    (".zenodo.json", "date-mismatch", "publication_date", "2030-01-01"),
])
def test_title_licence_and_date_disagreement_fails(package_copy, path, code, field, value):
    target = package_copy / path
    if path == ".zenodo.json":
        edit_json(target, field, value)
        line = line_with(target, rf'^  "{field}"')
    else:
        text = target.read_text(encoding="utf-8")
        target.write_text(re.sub(rf"^{field}:.*$", f'{field}: "{value}"', text, count=1, flags=re.MULTILINE), encoding="utf-8")
        line = line_with(target, rf"^{field}:")
    finding = one(metadata(package_copy), code)
    assert (finding.path, finding.line, finding.field, finding.value) == (path, line, field, value)


@pytest.mark.parametrize("path, key", [(".zenodo.json", "version"), (".zenodo.json", "title"), ("CITATION.cff", "version")])
def test_a_missing_field_is_named(package_copy, path, key):
    target = package_copy / path
    if path == ".zenodo.json":
        data = json.loads(target.read_text(encoding="utf-8"))
        del data[key]
        target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    else:
        text = target.read_text(encoding="utf-8")
        target.write_text(re.sub(rf"^{key}:.*\n", "", text, count=1, flags=re.MULTILINE), encoding="utf-8")
    finding = one(metadata(package_copy), "metadata-field-missing")
    assert (finding.path, finding.field) == (path, key)
    assert finding.message.startswith(f"{path} has no {key} (datapackage.json says")


def test_licence_is_compared_case_insensitively(package_copy):
    edit_json(package_copy / ".zenodo.json", "license", "CC-BY-4.0")
    assert codes(metadata(package_copy)) == []


def test_changelog_date_must_match(package_copy):
    version = current_version(package_copy)
    target = package_copy / "CHANGELOG.md"
    text = target.read_text(encoding="utf-8")
    target.write_text(re.sub(rf"^## \[{re.escape(version)}\] - \S+", f"## [{version}] - 2031-02-03", text, flags=re.MULTILINE),
                      encoding="utf-8")
    finding = one(metadata(package_copy), "date-mismatch")
    assert (finding.path, finding.value) == ("CHANGELOG.md", "2031-02-03")
    assert finding.line == line_with(target, r"^## \[" + re.escape(version))


@pytest.mark.parametrize("old, new, code, field", [
    ("type: dataset", "type: software", "citation-type", "type"),
    ("cff-version: 1.2.0", "cff-version: 1.2.0\nfoo: bar", "citation-schema", "/"),
    ('date-released: "', 'date-released: "22.11.', "citation-schema", "/date-released"),
    ("  - name: nkru curators", "  - nickname: nkru", "citation-schema", "/authors/0"),
])
def test_citation_cff_against_the_cff_schema(package_copy, old, new, code, field):
    target = package_copy / CITATION
    edit(target, old, new)
    layer = metadata(package_copy)
    found = [f for f in layer.findings if f.code == code and f.field == field]
    assert found, [(f.code, f.field, f.message) for f in layer.findings]
    assert all(f.path == CITATION for f in found)


def test_citation_cff_yaml_error_names_the_line(package_copy):
    target = package_copy / CITATION
    text = target.read_text(encoding="utf-8")
    target.write_text(text + "keywords: [unclosed\n", encoding="utf-8")
    finding = one(metadata(package_copy), "metadata-file-unreadable")
    assert finding.path == CITATION
    assert finding.line >= len(text.split("\n"))


@pytest.mark.parametrize("key, value, fragment", [
    ("upload_type", "software", 'must be "dataset"'),
    ("creators", [], "non-empty list"),
    ("publication_date", "22.11.2026", "YYYY-MM-DD"),
    ("description", "", "missing or empty"),
])
def test_zenodo_json_needs_what_zenodo_needs(package_copy, key, value, fragment):
    edit_json(package_copy / ".zenodo.json", key, value)
    finding = [f for f in metadata(package_copy).findings if f.code == "zenodo-field"][0]
    assert finding.field == key and fragment in finding.message


@pytest.mark.parametrize("heading, detail", [
    ("## Version 2", "neither '## [Unreleased]'"),
    ("## [2.0] - 2027-01-01", "not a semantic version"),
    ("## [2.0.0] - 1.1.2027", "not YYYY-MM-DD"),
])
def test_changelog_headings(package_copy, heading, detail):
    target = package_copy / "CHANGELOG.md"
    edit(target, "## [Unreleased]\n", f"## [Unreleased]\n\n{heading}\n")
    finding = [f for f in metadata(package_copy).findings if f.code == "changelog-format"][0]
    assert finding.line == line_with(target, "^" + re.escape(heading) + "$")
    assert detail in finding.message


def test_changelog_unreleased_must_be_on_top_and_versions_newest_first(package_copy):
    version = current_version(package_copy)
    target = package_copy / "CHANGELOG.md"
    edit(target, "## [Unreleased]\n", "")
    edit(target, f"## [{version}]", f"## [0.0.1] - 2020-01-01\n\n## [Unreleased]\n\n## [{version}]")
    details = [f.message for f in metadata(package_copy).findings if f.code == "changelog-format"]
    assert any("must come before every release" in d for d in details)
    assert any(f"release {version} is listed below 0.0.1: newest first" in d for d in details)


@pytest.mark.parametrize("missing", ["CITATION.cff", ".zenodo.json", "CHANGELOG.md"])
def test_missing_metadata_file_is_named(package_copy, missing):
    (package_copy / missing).unlink()
    finding = one(metadata(package_copy), "metadata-file-missing")
    assert finding.path == missing
    assert finding.message.startswith(f"{missing} is missing")


def test_package_without_any_metadata_files(package_copy):
    for name in ("CITATION.cff", ".zenodo.json", "CHANGELOG.md"):
        (package_copy / name).unlink()
    layer = metadata(package_copy)
    assert sorted(f.path for f in layer.findings if f.code == "metadata-file-missing") == [".zenodo.json", "CHANGELOG.md", "CITATION.cff"]


def test_descriptor_version_must_be_semantic(package_copy):
    edit_json(package_copy / "datapackage.json", "version", "v1")
    finding = one(metadata(package_copy), "version-invalid")
    assert finding.path == "datapackage.json" and finding.value == "v1"


# -- stable IDs ------------------------------------------------------------------------


def test_without_a_baseline_ids_are_not_checked_and_that_is_said(package_copy):
    layer = metadata(package_copy)
    warning = one(layer, "baseline-missing")
    assert warning.severity == "warning"
    assert "no release manifest in releases/" in warning.message and "--baseline" in warning.message
    assert codes(layer) == []


def test_before_the_first_release_no_file_needs_a_release_date(unreleased_copy):
    if (REPO / "releases").is_dir():
        pytest.skip("the real package has been released")
    layer = metadata(unreleased_copy)
    assert codes(layer) == [], [f.message for f in layer.findings]
    # A date that claims a release that never happened is refused.
    edit_json(unreleased_copy / ".zenodo.json", "publication_date", "2026-11-22")
    finding = one(metadata(unreleased_copy), "date-without-release")
    assert (finding.path, finding.field, finding.value) == (".zenodo.json", "publication_date", "2026-11-22")


@pytest.fixture
def released(tmp_path: Path) -> Path:
    """A copy of the package standing for the previous release (a directory baseline)."""
    return copy_package(tmp_path / "released")


@pytest.mark.parametrize("resource", covering(ID_RESOURCES, first))
def test_a_released_id_removed_without_retraction_fails(package_copy, released, resource):
    header, rows = read_table(package_copy, resource)
    key = header[0]
    removed = rows.pop(len(rows) // 2)
    write_table(package_copy, resource, header, rows)
    layer = metadata(package_copy, baseline=released)
    finding = one(layer, "released-id-missing")
    assert (finding.resource, finding.row_id, finding.field, finding.value) == (resource, removed[key], key, removed[key])
    assert finding.path == f"data/{resource}.csv"
    assert "data/retractions.csv" in finding.message
    # Every released ID was looked at.
    assert layer.checks > sum(len(read_table(released, r)[1]) for r in ID_RESOURCES) - 1


def test_a_retraction_makes_the_removal_pass(package_copy, released):
    header, rows = read_table(package_copy, "claims")
    removed = rows.pop()
    write_table(package_copy, "claims", header, rows)
    retraction_header, retractions = read_table(package_copy, "retractions")  # the package's own stay
    retractions.append({"id": removed["claim_id"], "retracted_in": "99.0.0", "reason": "duplicate",
                        "replaced_by": rows[0]["claim_id"]})
    write_table(package_copy, "retractions", retraction_header, retractions)
    assert codes(metadata(package_copy, baseline=released)) == []


def test_a_retraction_dated_to_the_release_that_still_has_the_row_fails(package_copy, released):
    header, rows = read_table(package_copy, "claims")
    removed = rows.pop()
    write_table(package_copy, "claims", header, rows)
    version = current_version(released)
    write_table(package_copy, "retractions", ["id", "retracted_in", "reason", "replaced_by"],
                [{"id": removed["claim_id"], "retracted_in": version, "reason": "duplicate", "replaced_by": ""}])
    finding = one(metadata(package_copy, baseline=released), "retraction-version")
    assert (finding.resource, finding.line, finding.row_id, finding.field) == ("retractions", 2, removed["claim_id"], "retracted_in")


@pytest.mark.parametrize("resource", covering(ID_RESOURCES, first))
def test_a_retracted_id_that_is_reused_fails(package_copy, resource):
    header, rows = read_table(package_copy, resource)
    index = len(rows) - 1
    ident = rows[index][header[0]]
    write_table(package_copy, "retractions", ["id", "retracted_in", "reason", "replaced_by"],
                [{"id": ident, "retracted_in": "0.0.1", "reason": "misread", "replaced_by": ""}])
    finding = one(metadata(package_copy), "retracted-id-reused")
    assert (finding.resource, finding.row_id, finding.field) == (resource, ident, header[0])
    assert finding.line == line_of(package_copy, resource, index)


def test_a_retraction_replaced_by_an_unknown_id_fails(package_copy):
    write_table(package_copy, "retractions", ["id", "retracted_in", "reason", "replaced_by"],
                [{"id": "E999", "retracted_in": "0.2.0", "reason": "duplicate", "replaced_by": "E998"}])
    finding = one(metadata(package_copy), "retraction-replacement-unknown")
    assert (finding.resource, finding.line, finding.field, finding.value) == ("retractions", 2, "replaced_by", "E998")


def test_a_released_retraction_must_stay(package_copy, released):
    write_table(released, "retractions", ["id", "retracted_in", "reason", "replaced_by"],
                [{"id": "E999", "retracted_in": "0.0.1", "reason": "duplicate", "replaced_by": ""}])
    finding = one(metadata(package_copy, baseline=released), "retraction-removed")
    assert (finding.resource, finding.row_id) == ("retractions", "E999")


def test_an_unreadable_baseline_is_an_error(package_copy, tmp_path):
    (tmp_path / "empty").mkdir()
    finding = one(metadata(package_copy, baseline=tmp_path / "empty"), "baseline-unreadable")
    assert finding.severity == "error" and "no datapackage.json" in finding.message


def _release(root: Path, version: str = "1.0.0") -> Path:
    """Release the package copy in a git repository (validation skipped: the layer under test is run after)."""
    from nkru import release

    if not (root / ".git").exists():
        init_repo(root, commit="the package")
    plan = release.plan_release(root, version, date=RELEASE_DATE, validate=False)
    assert plan.ok, plan.refusals
    release.write_release(plan)
    git(root, "add", "-A")
    git(root, "commit", "-qm", f"Release {version}")
    return root


@pytest.fixture(scope="module")
def released_template(tmp_path_factory) -> Path:
    """A copy of the real package released as 1.0.0 in a git repository; made once, never edited."""
    return _release(copy_package(tmp_path_factory.mktemp("released-repo") / "unreleased"))


@pytest.fixture
def released_repo(released_template: Path, tmp_path: Path) -> Path:
    """A copy of the real package released as 1.0.0 in a git repository (a copy of the template)."""
    return shutil.copytree(released_template, tmp_path / "unreleased", symlinks=True)


def test_the_newest_manifest_is_the_default_baseline(released_repo, tmp_path):
    repo = released_repo
    # No baseline-missing once a manifest exists (the repository URL is unset in the real package: only that warning).
    assert [f.code for f in metadata(repo).findings] == ["repository-url-unset"]
    header, rows = read_table(repo, "events")
    removed = rows.pop(0)
    write_table(repo, "events", header, rows)
    finding = one(metadata(repo), "released-id-missing")
    assert finding.row_id == removed["event_id"]
    assert "releases/1.0.0.json (1.0.0)" in finding.message
    result = run_cli("validate", str(repo), "--only", "metadata")
    assert result.exit_code == 1
    assert "released-id-missing" in result.stdout and "releases/1.0.0.json" in result.stdout
    # No tag, no network: a shallow clone (tags neither fetched nor existing) checks the same.
    git(repo, "commit", "-qam", "remove an event")
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", "--no-tags", f"file://{repo}", str(clone))
    assert git(clone, "tag", "--list") == ""
    assert one(metadata(clone), "released-id-missing").row_id == removed["event_id"]


def test_an_unpacked_release_checks_ids_against_the_manifests_it_carries(released_repo, tmp_path):
    repo = released_repo
    _release(repo, "1.1.0")
    with zipfile.ZipFile(repo / "dist" / "nkru-1.1.0.zip") as archive:
        archive.extractall(tmp_path / "unpacked")
    unpacked = tmp_path / "unpacked"
    assert (unpacked / "releases" / "1.0.0.json").is_file()
    assert [f.code for f in metadata(unpacked).findings] == ["repository-url-unset"]
    header, rows = read_table(unpacked, "claims")
    removed = rows.pop()
    write_table(unpacked, "claims", header, rows)
    assert one(metadata(unpacked), "released-id-missing").row_id == removed["claim_id"]


def test_a_removed_retraction_is_found_through_the_manifest(unreleased_copy):
    repo = unreleased_copy
    header, rows = read_table(repo, "claims")
    removed = rows.pop()
    write_table(repo, "claims", header, rows)
    write_table(repo, "retractions", ["id", "retracted_in", "reason", "replaced_by"],
                [{"id": removed["claim_id"], "retracted_in": "1.0.0", "reason": "duplicate", "replaced_by": ""}])
    _release(repo)
    write_table(repo, "retractions", ["id", "retracted_in", "reason", "replaced_by"], [])
    layer = metadata(repo)
    assert one(layer, "retraction-removed").row_id == removed["claim_id"]
    assert "releases/1.0.0.json" in one(layer, "retraction-removed").message


def test_a_broken_manifest_or_a_missing_changelog_section_is_a_finding(released_repo):
    repo = released_repo
    (repo / "releases" / "1.0.0.json").write_text('{"manifest": 1, "version": "1.0.0", "archives": {}, "files": {}, '
                                                  '"resources": {"claims": {"ids": ["C009..C001"], "primaryKey": ["claim_id"]}}}',
                                                  encoding="utf-8")
    finding = one(metadata(repo), "manifest-unreadable")
    assert "malformed ID range 'C009..C001'" in finding.message
    (repo / "releases" / "1.0.0.json").write_text("[]", encoding="utf-8")
    assert "must be a JSON object" in one(metadata(repo), "manifest-unreadable").message
    (repo / "releases" / "1.0.0.json").unlink()
    (repo / "releases" / "0.5.0.json").write_text(git(repo, "show", "HEAD:releases/1.0.0.json").replace('"1.0.0"', '"0.5.0"'),
                                                  encoding="utf-8")
    finding = one(metadata(repo), "changelog-release-missing")
    assert finding.value == "0.5.0" and "releases/0.5.0.json" in finding.message


def test_a_release_zip_as_baseline(package_copy, released, tmp_path):
    archive = tmp_path / "nkru-0.1.0.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        for path in sorted(p for p in released.rglob("*") if p.is_file()):
            handle.write(path, f"nkru-0.1.0/{path.relative_to(released).as_posix()}")
    header, rows = read_table(package_copy, "actors")
    removed = rows.pop()
    write_table(package_copy, "actors", header, rows)
    result = run_cli("validate", str(package_copy), "--only", "metadata", "--baseline", str(archive), "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    [finding] = [f for f in report["findings"] if f["code"] == "released-id-missing"]
    assert (finding["resource"], finding["row_id"]) == ("actors", removed["actor_id"])


def test_cli_baseline_that_does_not_exist_is_a_usage_error(package_copy):
    result = run_cli("validate", str(package_copy), "--only", "metadata", "--baseline", str(package_copy / "nope.zip"))
    assert result.exit_code == 2
    assert "nope.zip" in result.stderr


# -- the retractions resource -------------------------------------------------------------


def test_header_only_retractions_validate_with_frictionless(package_copy):
    import frictionless

    header, rows = read_table(package_copy, "retractions")
    assert header == ["id", "retracted_in", "reason", "replaced_by"]
    write_table(package_copy, "retractions", header, [])
    report = frictionless.validate(str(package_copy / "datapackage.json"))
    assert report.valid, report.flatten(["type", "message"])


@pytest.mark.parametrize("field, value", covering([("id", "Q001"), ("retracted_in", "1.0"), ("replaced_by", "E1"), ("reason", "")],
                                                   first))
def test_retractions_schema_rejects_bad_values(package_copy, field, value):
    row = {"id": "E999", "retracted_in": "0.2.0", "reason": "duplicate", "replaced_by": ""}
    row[field] = value
    write_table(package_copy, "retractions", ["id", "retracted_in", "reason", "replaced_by"], [row])
    report = validate_package(package_copy, only=["structure"])
    found = [f for f in report.findings if f.resource == "retractions"]
    assert [(f.code, f.field, f.line) for f in found] == [("constraint-error", field, 2)]


def test_retraction_id_pattern_covers_exactly_the_id_patterns(real_package):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    def schema(name):
        return json.loads((real_package / "schemas" / f"{name}.json").read_text(encoding="utf-8"))

    def pattern(name, field):
        return next(f for f in schema(name)["fields"] if f["name"] == field)["constraints"]["pattern"]

    id_patterns = []
    for name in ID_RESOURCES:
        key = schema(name)["primaryKey"]
        assert len(key) == 1
        id_patterns.append(pattern(name, key[0]))
    retraction = pattern("retractions", "id")
    assert pattern("retractions", "replaced_by") == retraction

    @settings(max_examples=60, deadline=None)
    @given(st.sampled_from(id_patterns).flatmap(lambda p: st.from_regex(p, fullmatch=True)))
    def every_id_is_retractable(ident):
        assert re.fullmatch(retraction.strip("^$"), ident)

    @settings(max_examples=60, deadline=None)
    @given(st.from_regex(retraction, fullmatch=True))
    def every_retractable_is_an_id(ident):
        assert any(re.fullmatch(p.strip("^$"), ident) for p in id_patterns)

    every_id_is_retractable()
    every_retractable_is_an_id()


@pytest.mark.parametrize("damage, member", covering([("bad-crc", "datapackage.json"), ("bad-crc", "data/actors.csv"),
                                                     ("bad-crc", "schemas/actors.json"), ("truncated", "")],
                                                    lambda damage, member: damage))
def test_a_damaged_release_zip_as_baseline_is_a_finding(package_copy, released, tmp_path, damage, member):
    from tests.test_diff import damaged_zip

    archive = damaged_zip(released, tmp_path / "nkru-0.1.0.zip", damage, member)
    result = run_cli("validate", str(package_copy), "--only", "metadata", "--baseline", str(archive), "--format", "json")
    assert "Traceback" not in result.output
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    [finding] = [f for f in report["findings"] if f["code"] == "baseline-unreadable"]
    assert finding["severity"] == "error" and "nkru-0.1.0.zip" in finding["message"]
    if damage == "bad-crc":
        assert f"{member} is damaged" in finding["message"]
    assert not [f for f in report["findings"] if f["code"] == "layer-error"]


def test_id_resources_are_found():
    assert len(ID_RESOURCES) >= 6 and RETRACTIONS not in ID_RESOURCES


def test_retraction_fields_are_named_once_and_match_the_schema():
    assert tuple(Package.open(REPO).field_names(RETRACTIONS)) == RETRACTION_FIELDS


# -- dates (review A8) and licences (C6) -------------------------------------------------------------------


@pytest.mark.parametrize("text, ok", [("2024-02-29", True), ("2024-02-31", False), ("2023-02-29", False),
                                      ("2024-13-01", False), ("20240102", False), ("2024-1-02", False), (None, False)])
def test_is_date_rejects_impossible_dates(text, ok):
    assert is_date(text) is ok


def test_an_impossible_changelog_date_is_a_finding(package_copy):
    version = current_version(package_copy)
    target = package_copy / "CHANGELOG.md"
    target.write_text(re.sub(rf"^## \[{re.escape(version)}\] - .*$", f"## [{version}] - 2024-02-31",
                             target.read_text(encoding="utf-8"), count=1, flags=re.MULTILINE), encoding="utf-8")
    layer = metadata(package_copy)
    found = [(f.code, f.path, f.line, f.value) for f in layer.findings if f.path == "CHANGELOG.md" and f.severity == "error"]
    assert found == [("changelog-format", "CHANGELOG.md", line_with(target, "2024-02-31"), None)]
    assert "2024-02-31" in one(layer, "changelog-format").message


@pytest.mark.parametrize("licenses", covering([{}, [], "CC-BY-4.0", ["CC-BY-4.0"], [{}]], first))
def test_a_malformed_licences_entry_does_not_crash_the_layer(package_copy, licenses):
    edit_json(package_copy / "datapackage.json", "licenses", licenses)
    layer = metadata(package_copy)
    assert "layer-error" not in codes(layer)
    assert [f.code for f in layer.findings if f.code == "license-mismatch"]  # no licence in the descriptor: both files disagree


# -- between releases: a development version ----------------------------------------------------------------


@pytest.mark.slow
def test_after_a_release_changed_release_files_need_a_development_version(released_repo):
    """Main must not claim to be a release whose files it no longer has: 1.0.0 with an edited README fails
    (naming the files and the version to use); `nkru release 1.1.0-dev` satisfies the check, without git."""
    repo = released_repo
    assert codes(metadata(repo)) == []  # right after the release its files are the release's
    edit(repo / "README.md", "# nkru", "# nkru (edited after the release)")
    finding = one(metadata(repo), "version-claims-release")
    assert finding.path == "datapackage.json" and finding.field == "version"
    assert "releases/1.0.0.json" in finding.message and "(README.md)" in finding.message
    assert "set it to 1.1.0-dev" in finding.message
    cli = run_cli("validate", str(repo), "--only", "metadata")
    assert cli.exit_code == 1 and "version-claims-release" in cli.stdout

    # A version that does not come after the release is refused, and nothing is written.
    before = (repo / "datapackage.json").read_bytes()
    refused = run_cli("release", "1.0.0-dev", str(repo))
    assert refused.exit_code == 2 and "does not come after the latest release 1.0.0" in refused.stderr
    assert (repo / "datapackage.json").read_bytes() == before
    dry = run_cli("release", "1.1.0-dev", str(repo), "--dry-run")
    assert dry.exit_code == 0 and '+  "version": "1.1.0-dev",' in dry.stdout
    assert (repo / "datapackage.json").read_bytes() == before

    done = run_cli("release", "1.1.0-dev", str(repo))
    assert done.exit_code == 0, done.stderr
    assert json.loads((repo / "datapackage.json").read_text(encoding="utf-8"))["version"] == "1.1.0-dev"
    assert "(package version 1.1.0-dev)" in (repo / "docs" / "codebook.md").read_text(encoding="utf-8")
    # CITATION.cff, .zenodo.json and CHANGELOG.md still describe 1.0.0 (the release to cite): no mismatch.
    assert load_cff((repo / CITATION).read_text(encoding="utf-8"))["version"] == "1.0.0"
    assert codes(metadata(repo)) == []
    assert validate_package(repo).valid
    # The next release replaces the development version.
    from nkru import release

    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "1.1.0-dev")
    plan = release.plan_release(repo, "1.1.0", validate=False)
    assert plan.ok, plan.refusals
    assert json.loads(next(e.new for e in plan.edits if e.path == "datapackage.json"))["version"] == "1.1.0"


def test_a_development_version_must_come_after_the_newest_release(released_repo):
    repo = released_repo
    edit(repo / "datapackage.json", '"version": "1.0.0"', '"version": "0.9.0-dev"')
    finding = one(metadata(repo), "dev-version-behind")
    assert "0.9.0-dev" in finding.message and "1.0.0 is already released" in finding.message and "1.1.0-dev" in finding.message
    edit(repo / "datapackage.json", '"version": "0.9.0-dev"', '"version": "1.1.0-beta"')
    assert one(metadata(repo), "version-invalid").value == "1.1.0-beta"
    # Without releases/ (an unpacked release, a copy) the newest CHANGELOG release is the reference.
    edit(repo / "datapackage.json", '"version": "1.1.0-beta"', '"version": "1.0.0-dev"')
    shutil.rmtree(repo / "releases")
    one(metadata(repo), "dev-version-behind")


def test_the_real_package_is_a_release_or_a_development_version_after_it(real_package):
    report = validate_package(real_package, only=["metadata"])
    assert not [f for f in report.findings if f.code in ("version-claims-release", "dev-version-behind", "version-invalid")]
