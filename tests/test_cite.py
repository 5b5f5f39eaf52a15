"""`nkru cite`: the recommended citation from CITATION.cff as text, BibTeX, RIS and CFF."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli
from nkru import cite
from nkru.metadata import load_cff

PEOPLE_CFF = """\
cff-version: 1.2.0
message: Cite me.
type: dataset
title: "Handmade: a test dataset"
authors:
  - family-names: Doe
    given-names: Jane Ann
  - family-names: Beethoven
    name-particle: van
    given-names: Ludwig
  - name: Example Lab
version: "2.1.0"
date-released: "2025-03-04"
doi: 10.5281/zenodo.1234
license: CC-BY-4.0
"""


def _cff(package: Path) -> dict:
    return load_cff((package / "CITATION.cff").read_text(encoding="utf-8"))


def test_text_citation_of_the_real_package(real_package):
    data = _cff(real_package)
    result = run_cli("cite", str(real_package))
    assert result.exit_code == 0, result.stderr
    year = data["date-released"][:4] if "date-released" in data else "n.d."  # no date before the first release
    expected = (f"nkru curators. ({year}). {data['title']} "
                f"(Version {data['version']}) [Data set].")
    assert result.stdout.strip() == expected


def test_bibtex_parses_with_a_bibtex_parser(real_package):
    import bibtexparser

    data = _cff(real_package)
    result = run_cli("cite", str(real_package), "--format", "bibtex")
    assert result.exit_code == 0, result.stderr
    library = bibtexparser.parse_string(result.stdout)
    assert library.failed_blocks == []
    assert len(library.entries) == 1
    entry = library.entries[0]
    fields = {f.key: f.value for f in entry.fields}
    assert entry.entry_type == "misc"
    assert fields["title"] == "{" + data["title"] + "}"
    assert fields["author"] == "{nkru curators}"  # an entity: braced so it is never split into first/last name
    assert fields.get("year") == (data["date-released"][:4] if "date-released" in data else None)
    assert fields["version"] == data["version"]
    assert "doi" not in fields  # no DOI exists yet; none is invented


def test_ris_parses(real_package):
    import rispy

    data = _cff(real_package)
    result = run_cli("cite", str(real_package), "--format", "ris")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("TY  - DATA\n")
    [record] = rispy.loads(result.stdout)
    assert record["type_of_reference"] == "DATA"
    assert record["title"] == data["title"]
    assert record["authors"] == ["nkru curators"]
    assert record["edition"] == data["version"]
    assert record["keywords"] == data["keywords"]


def test_cff_is_the_file_itself(real_package):
    result = run_cli("cite", str(real_package), "--format", "cff")
    assert result.exit_code == 0
    assert result.stdout == (real_package / "CITATION.cff").read_text(encoding="utf-8")


def test_people_particles_and_doi(tmp_path):
    (tmp_path / "CITATION.cff").write_text(PEOPLE_CFF, encoding="utf-8")
    citation = cite.load(tmp_path)
    assert cite.to_text(citation) == ("Doe, J. A., van Beethoven, L., & Example Lab. (2025). Handmade: a test dataset "
                                      "(Version 2.1.0) [Data set]. https://doi.org/10.5281/zenodo.1234\n")
    import bibtexparser

    entry = bibtexparser.parse_string(cite.to_bibtex(citation)).entries[0]
    fields = {f.key: f.value for f in entry.fields}
    assert fields["author"] == "Doe, Jane Ann and van Beethoven, Ludwig and {Example Lab}"
    assert fields["doi"] == "10.5281/zenodo.1234"
    assert fields["month"] == "mar"
    assert entry.key == "Doe_2025_v2_1_0"
    import rispy

    [record] = rispy.loads(cite.to_ris(citation))
    assert record["authors"] == ["Doe, Jane Ann", "van Beethoven, Ludwig", "Example Lab"]
    assert record["doi"] == "10.5281/zenodo.1234"


@pytest.mark.parametrize("args, message", [
    (["--format", "apa7"], "unknown format"),
    ([], "no CITATION.cff"),
])
def test_usage_errors(tmp_path, args, message):
    result = run_cli("cite", str(tmp_path), *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_broken_yaml_is_a_clear_error(tmp_path):
    (tmp_path / "CITATION.cff").write_text("title: [unclosed\n", encoding="utf-8")
    result = run_cli("cite", str(tmp_path))
    assert result.exit_code == 2
    assert "CITATION.cff line" in result.stderr and "not valid YAML" in result.stderr


# -- the repository URL: one setting (CITATION.cff repository-code) -----------------------------------------

URL = "https://github.com/nkru-curators/nkru"


def _set_repository(package: Path, url: str) -> None:
    cff = package / "CITATION.cff"
    cff.write_text(cff.read_text(encoding="utf-8") + f'repository-code: "{url}"\n', encoding="utf-8")


def test_while_the_repository_url_is_unset_cite_and_validate_warn(package_copy):
    from nkru.api import validate_package

    assert "repository-code" not in _cff(package_copy)
    for format in cite.FORMATS:
        result = run_cli("cite", str(package_copy), "--format", format)
        assert result.exit_code == 0
        assert "sets no repository-code (the repository URL)" in " ".join(result.stderr.split())
        assert "warning" not in result.stdout and "OWNER" not in result.stdout
    report = validate_package(package_copy, only=["metadata"])
    [warning] = [f for f in report.findings if f.code == "repository-url-unset"]
    assert warning.severity == "warning" and report.valid


def test_every_citation_format_carries_the_repository_url(package_copy):
    _set_repository(package_copy, URL)
    outputs = {format: run_cli("cite", str(package_copy), "--format", format) for format in cite.FORMATS}
    for format, result in outputs.items():
        assert result.exit_code == 0 and result.stderr == "", (format, result.stderr)
        assert URL in result.stdout, format
    assert outputs["text"].stdout.strip().endswith(f"[Data set]. {URL}")
    import rispy
    from pybtex.database import parse_string

    [entry] = parse_string(outputs["bibtex"].stdout, "bibtex").entries.values()
    assert entry.fields["url"] == URL
    [record] = rispy.loads(outputs["ris"].stdout)
    assert record["urls"] == [URL]
    assert load_cff(outputs["cff"].stdout)["repository-code"] == URL
    # A DOI, once minted, is the link of the text citation; BibTeX and RIS carry both.
    cff = package_copy / "CITATION.cff"
    cff.write_text(cff.read_text(encoding="utf-8") + "doi: 10.5281/zenodo.1234\n", encoding="utf-8")
    assert run_cli("cite", str(package_copy)).stdout.strip().endswith("https://doi.org/10.5281/zenodo.1234")
    bib = run_cli("cite", str(package_copy), "--format", "bibtex").stdout
    assert "10.5281/zenodo.1234" in bib and URL in bib


def test_the_other_metadata_files_take_the_url_from_citation_cff(package_copy):
    from nkru.api import validate_package

    _set_repository(package_copy, URL)
    assert not [f for f in validate_package(package_copy, only=["metadata"]).findings if f.code.startswith("repository-url")]
    descriptor = package_copy / "datapackage.json"
    text = descriptor.read_text(encoding="utf-8")
    descriptor.write_text(text.replace('"name": "nkru",', '"name": "nkru",\n  "homepage": "https://github.com/someone/else",', 1),
                          encoding="utf-8")
    report = validate_package(package_copy, only=["metadata"])
    [finding] = [f for f in report.findings if f.code == "repository-url-mismatch"]
    assert finding.path == "datapackage.json" and finding.field == "homepage" and URL in finding.message
    assert not report.valid
    descriptor.write_text(text, encoding="utf-8")
    zenodo = package_copy / ".zenodo.json"
    import json

    data = json.loads(zenodo.read_text(encoding="utf-8"))
    data["related_identifiers"] = [{"identifier": "https://example.org/x", "relation": "isSupplementTo", "scheme": "url"}]
    zenodo.write_text(json.dumps(data, indent=2), encoding="utf-8")
    codes = [f.code for f in validate_package(package_copy, only=["metadata"]).findings]
    assert "repository-url-mismatch" in codes and "placeholder-url" in codes  # example.org is no address either


def test_a_release_writes_the_url_into_datapackage_and_zenodo(tmp_path):
    import json

    from tests.conftest import copy_package
    from tests.helpers import git, init_repo
    from nkru import release
    from nkru.api import validate_package

    repo = copy_package(tmp_path / "repo")
    _set_repository(repo, URL)
    init_repo(repo, commit="the package")
    plan = release.plan_release(repo, "1.0.0", date="2026-11-30", validate=False)
    assert plan.ok, plan.refusals
    release.write_release(plan)
    assert json.loads((repo / "datapackage.json").read_text(encoding="utf-8"))["homepage"] == URL
    zenodo = json.loads((repo / ".zenodo.json").read_text(encoding="utf-8"))
    assert {"identifier": URL, "relation": "isSupplementTo", "scheme": "url"} in zenodo["related_identifiers"]
    assert not [f for f in validate_package(repo, only=["metadata"]).findings if f.code.startswith("repository-url")]


def test_a_placeholder_address_in_a_shipped_file_is_an_error(package_copy):
    from nkru.api import validate_package

    readme = package_copy / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nGet it from https://github.com/OWNER/nkru/releases.\n",
                      encoding="utf-8")
    report = validate_package(package_copy, only=["metadata"])
    [finding] = [f for f in report.findings if f.code == "placeholder-url"]
    assert finding.path == "README.md" and finding.line == len(readme.read_text(encoding="utf-8").splitlines())


def test_the_real_package_has_no_placeholder_address(real_package):
    from nkru.api import validate_package

    report = validate_package(real_package, only=["metadata"])
    assert not [f for f in report.findings if f.code in ("placeholder-url", "repository-url-mismatch")]
    assert "OWNER" not in (real_package / "action.yml").read_text(encoding="utf-8")
