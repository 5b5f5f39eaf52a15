"""The foundation: the real package, its descriptor and the CLI's contract (exit codes)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from tests.helpers import CURATED, REPO, RESOURCES, run_cli
from nkru.package import Package

PROFILE = REPO / "validate" / "profiles" / "datapackage-2.0.json"


def test_descriptor_passes_the_official_data_package_2_profile():
    profile = json.loads(PROFILE.read_text(encoding="utf-8"))
    descriptor = json.loads((REPO / "datapackage.json").read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft7Validator(profile).iter_errors(descriptor))
    assert errors == []
    assert descriptor["$schema"] == "https://datapackage.org/profiles/2.0/datapackage.json"


def test_descriptor_metadata_is_complete():
    descriptor = json.loads((REPO / "datapackage.json").read_text(encoding="utf-8"))
    assert descriptor["name"] == "nkru"
    for key in ("title", "description", "version", "licenses", "contributors", "keywords", "created", "sources"):
        assert descriptor[key], key
    assert [lic["name"] for lic in descriptor["licenses"]] == ["CC-BY-4.0"]
    assert "copyright of their publishers" in descriptor["description"]
    source_paths = {s["path"] for s in descriptor["sources"]}
    with open(REPO / "data" / "sources.csv", encoding="utf-8") as handle:
        assert source_paths == {row["text_path"] for row in csv.DictReader(handle)}


def test_stock_frictionless_reports_the_package_valid():
    import frictionless

    report = frictionless.validate(str(REPO / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    assert len(report.tasks) >= len(RESOURCES)
    assert sum(task.stats.get("rows", 0) for task in report.tasks) > 0


@pytest.mark.parametrize("resource", RESOURCES)
def test_every_resource_has_a_schema_file_and_its_header(resource):
    package = Package.open(REPO)
    spec = package.resources[resource]
    assert spec.descriptor["schema"] == f"schemas/{resource}.json"
    table = package.table(resource)
    assert table is not None
    assert table.header == package.field_names(resource)


@pytest.mark.parametrize("resource", CURATED)
def test_every_curated_table_has_rows(resource):
    assert len(Package.open(REPO).table(resource)) > 0


def test_source_texts_are_archived_with_their_hashes():
    with open(REPO / "data" / "sources.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["source_id"] for r in rows] == ["S001", "S002", "S003", "S004", "S005"]
    for row in rows:
        data = (REPO / row["text_path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["text_sha256"]
    assert (REPO / "data" / "sources" / "NOTICE.md").is_file()


def test_every_article_has_claims():
    with open(REPO / "data" / "claims.csv", encoding="utf-8") as handle:
        cited = {row["source_id"] for row in csv.DictReader(handle)}
    assert cited == {"S001", "S002", "S003", "S004", "S005"}


def test_nkru_validate_passes_on_the_real_package():
    result = run_cli("validate", str(REPO))
    assert result.exit_code == 0, result.stdout
    assert "valid" in result.stdout


@pytest.mark.parametrize(
    "args, expected",
    [
        (["validate", "{tmp}"], "no datapackage.json"),
        (["validate", "{tmp}/missing"], "no such directory"),
        (["validate", "{repo}", "--only", "nonsense"], "unknown layer 'nonsense'"),
        (["validate", "{repo}", "--format", "yaml"], "unknown format 'yaml'"),
    ],
)
def test_usage_errors_exit_2_with_a_message(tmp_path: Path, args, expected):
    result = run_cli(*[a.format(tmp=tmp_path, repo=REPO) for a in args])
    assert result.exit_code == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_unreadable_descriptor_is_a_usage_error(tmp_path: Path):
    (tmp_path / "datapackage.json").write_text("{not json", encoding="utf-8")
    result = run_cli("validate", str(tmp_path))
    assert result.exit_code == 2
    assert "not valid JSON" in result.stderr and "line 1" in result.stderr


def test_python_dash_m_validate_runs_the_cli():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "nkru", "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("nkru ")
