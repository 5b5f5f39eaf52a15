"""Row-count expectations say something true: every curated table holds at least one row, and a table whose
rows carry an ID never holds fewer rows than in the last release, less the rows retracted since.

The floor is an expectation parameter (`{"$PARAMETER": "min_rows"}` in validate/suites/*.json) that the
expectations layer fills from the previous release: `--baseline`, else the newest releases/X.Y.Z.json.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.helpers import REPO, covering, first, read_table, run_cli, write_table
from nkru.api import Options
from nkru.layers import expectations
from nkru.layers.metadata import RowFloor, row_floors
from nkru.manifest import latest_manifest
from nkru.metadata import Version
from nkru.package import Package
from nkru.suites import load_suites
from nkru.suites.generate import ROW_FLOOR_PARAMETER, has_release_floor, min_rows, suites_for

CODE = "expect-table-row-count-to-be-between"
RELEASE = latest_manifest(REPO)
REAL = Package.open(REPO)
#: Every resource of the real package whose released rows set a floor (rows carry an ID, the release has rows).
FLOORED = [name for name, spec in REAL.resources.items()
           if has_release_floor(spec.schema) and RELEASE.resources.get(name, {}).get("rows", 0) > 0]


def with_releases(package):
    shutil.copytree(REPO / "releases", package / "releases")
    return package


def drop_last_rows(package, resource: str, count: int) -> list[dict[str, str]]:
    header, rows = read_table(package, resource)
    kept, dropped = rows[:-count], rows[-count:]
    write_table(package, resource, header, kept)
    return dropped


def run_one(package, resource: str, options=None):
    """The layer's suite for `resource` only (so another suite's finding about the same edit cannot hide here)."""
    opened = Package.open(package)
    return expectations.run_suites(opened, {resource: suites_for(opened)[resource]}, options=options)


def test_there_are_floored_resources():
    assert RELEASE is not None and len(FLOORED) >= 5
    assert "event_actors" not in FLOORED  # a composite key: no IDs to retract, so no release floor


def test_the_suites_carry_the_floor_as_a_parameter():
    for name, spec in REAL.resources.items():
        [rows] = [e for e in load_suites()[name]["expectations"] if e["type"] == "expect_table_row_count_to_be_between"]
        expected = {"$PARAMETER": ROW_FLOOR_PARAMETER} if has_release_floor(spec.schema) else min_rows(name)
        assert rows["kwargs"] == {"min_value": expected}
        assert "max_value" not in rows["kwargs"]  # no cap


def retracted_since(name: str) -> int:
    """How many rows of the newest release the package's retractions account for: IDs of the table's pattern,
    retracted in a version after that release and no longer in the table."""
    import re

    key = REAL.primary_key(name)[0]
    pattern = next(f for f in REAL.resources[name].schema["fields"] if f["name"] == key)["constraints"]["pattern"]
    _, rows = read_table(REPO, name)
    present = {row[key] for row in rows}
    _, retractions = read_table(REPO, "retractions")
    released = Version.parse(RELEASE.version)
    return sum(1 for row in retractions if re.fullmatch(pattern, row["id"]) and row["id"] not in present
               and Version.parse(row["retracted_in"]) > released)


def test_the_real_package_gets_the_released_counts_and_passes():
    floors = row_floors(REAL)
    for name in FLOORED:
        released = RELEASE.resources[name]["rows"]
        gone = retracted_since(name)
        assert floors[name] == RowFloor(released - gone, released, gone, RELEASE.version, f"releases/{RELEASE.version}.json")
        assert floors[name].minimum > 1  # the floor says more than "at least one row"
    result = expectations.check(REAL)
    assert result.checks > 0
    assert [f.message for f in result.findings] == []


def bump_released_rows(package, resource: str, by: int) -> int:
    """Make the newest manifest count `by` more rows of `resource` than it lists IDs; the new count."""
    path = package / "releases" / f"{RELEASE.version}.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["resources"][resource]["rows"] += by
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return manifest["resources"][resource]["rows"]


def stable_id_findings(package):
    from nkru.layers import metadata

    return [f for f in metadata.check(Package.open(package)).findings if f.code in ("released-id-missing", "retraction-removed")]


@pytest.mark.parametrize("resource", covering(FLOORED, first))
def test_deleted_released_rows_are_the_stable_id_checks_finding_not_the_floors(package_copy, resource):
    """One owner for a removed released row: the stable-ID check names each ID; the floor leaves them out."""
    with_releases(package_copy)
    floor = row_floors(Package.open(package_copy))[resource].minimum
    dropped = drop_last_rows(package_copy, resource, len(read_table(package_copy, resource)[1]) - floor + 2)
    assert len(read_table(package_copy, resource)[1]) == floor - 2
    after = row_floors(Package.open(package_copy))[resource]
    assert (after.missing, after.minimum) == (len(dropped), floor - len(dropped))
    result = run_one(package_copy, resource)
    assert result.checks > 0 and result.findings == []
    key = "id" if resource == "retractions" else REAL.primary_key(resource)[0]
    gone = {row[key] for row in dropped}
    found = [f for f in stable_id_findings(package_copy) if f.resource == resource]
    assert sorted(f.value for f in found) == sorted(gone)


@pytest.mark.parametrize("resource", covering(FLOORED, first))
def test_rows_no_released_id_accounts_for_are_a_finding(package_copy, resource):
    """The release counted more rows than it listed IDs: the floor is what finds those gone."""
    with_releases(package_copy)
    retracted = row_floors(Package.open(package_copy))[resource].retracted
    current = len(read_table(package_copy, resource)[1])
    released = bump_released_rows(package_copy, resource, current - RELEASE.resources[resource]["rows"] + retracted + 1)
    assert released > RELEASE.resources[resource]["rows"]
    [dropped] = drop_last_rows(package_copy, resource, 1)  # and one released row deleted: the stable-ID check's
    now = len(read_table(package_copy, resource)[1])
    floor = row_floors(Package.open(package_copy))[resource]
    assert (floor.missing, floor.retracted, floor.minimum) == (1, retracted, now + 1)
    result = run_one(package_copy, resource)
    assert result.checks > 0
    [finding] = result.findings
    assert (finding.code, finding.layer, finding.severity, finding.resource) == (CODE, "expectations", "error", resource)
    assert finding.path == f"data/{resource}.csv" and finding.value == str(now)
    retracted = f"{floor.retracted} retracted since and " if floor.retracted else ""
    assert finding.message.startswith(f"{resource}: {now} rows, but {released} in release {RELEASE.version} "
                                      f"(releases/{RELEASE.version}.json) less {retracted}1 released IDs gone "
                                      f"(reported by ID), so at least {now + 1}")
    if resource == "retractions":  # retractions are never retracted themselves
        assert "retractions are permanent" in finding.message
    else:
        assert "released rows were deleted" in finding.message
        assert "retract" in finding.message and "docs/curation.md" in finding.message
    assert len(stable_id_findings(package_copy)) == 1


def test_a_retracted_row_lowers_the_floor(package_copy):
    with_releases(package_copy)
    before = row_floors(Package.open(package_copy))["claims"]
    [gone] = drop_last_rows(package_copy, "claims", 1)
    header, retractions = read_table(package_copy, "retractions")
    write_table(package_copy, "retractions", header, retractions + [
        {"id": gone["claim_id"], "retracted_in": "1.1.0", "reason": "misread quote", "replaced_by": ""}])
    after = row_floors(Package.open(package_copy))["claims"]
    assert (after.minimum, after.retracted) == (before.minimum - 1, before.retracted + 1)
    passed = run_one(package_copy, "claims")
    assert passed.checks > 0 and passed.findings == []
    assert stable_id_findings(package_copy) == []

    now = len(read_table(package_copy, "claims")[1])
    dropped = drop_last_rows(package_copy, "claims", now - after.minimum + 1)  # rows deleted without a retraction
    floor = row_floors(Package.open(package_copy))["claims"]
    assert (floor.retracted, floor.missing) == (after.retracted, len(dropped))
    assert run_one(package_copy, "claims").findings == []
    assert sorted(f.value for f in stable_id_findings(package_copy)) == sorted(r["claim_id"] for r in dropped)


def test_a_removed_retraction_is_a_finding(package_copy):
    """Retractions are permanent: a release's retraction rows set its floor."""
    with_releases(package_copy)
    now = len(read_table(package_copy, "retractions")[1])
    manifest = json.loads((package_copy / "releases" / f"{RELEASE.version}.json").read_text(encoding="utf-8"))
    manifest["resources"]["retractions"]["rows"] = now + 1
    (package_copy / "releases" / f"{RELEASE.version}.json").write_text(json.dumps(manifest), encoding="utf-8")
    [finding] = run_one(package_copy, "retractions").findings
    assert finding.code == CODE and finding.value == str(now)
    assert f"but {now + 1} in release" in finding.message and "retractions are permanent" in finding.message


def test_without_releases_the_floor_is_one_row(package_copy):
    assert not (package_copy / "releases").exists()
    floors = row_floors(Package.open(package_copy))
    assert floors == {name: RowFloor(min_rows(name)) for name in REAL.resources}
    assert {f.minimum for name, f in floors.items() if name != "retractions"} == {1}
    header, rows = read_table(package_copy, "claims")
    write_table(package_copy, "claims", header, rows[:1])
    passed = run_one(package_copy, "claims")
    assert passed.checks > 0 and passed.findings == []
    write_table(package_copy, "claims", header, [])
    [finding] = run_one(package_copy, "claims").findings
    assert finding.code == CODE and finding.message.startswith("claims: 0 rows, expected at least 1: claims has at least 1 row")


def test_the_floor_follows_the_baseline_option(package_copy):
    """`--baseline` chooses the release for the stable-ID check and for the row-count floor alike; the rows
    deleted are the stable-ID check's findings, each naming its ID, and not the floor's."""
    _, rows = read_table(REPO, "claims")
    released = len(rows)
    dropped = drop_last_rows(package_copy, "claims", 3)  # no releases/ in the copy: only the baseline knows the count
    floor = row_floors(Package.open(package_copy), Options(baseline=REPO))["claims"]
    assert (floor.released, floor.missing, floor.minimum) == (released, 3, released - 3)
    result = run_cli("validate", str(package_copy), "--only", "expectations,metadata", "--baseline", str(REPO),
                     "--format", "json")
    findings = json.loads(result.stdout)["findings"]
    assert result.exit_code == 1
    assert [f for f in findings if f["code"] == CODE] == []
    assert sorted(f["value"] for f in findings if f["code"] == "released-id-missing") == sorted(r["claim_id"] for r in dropped)
