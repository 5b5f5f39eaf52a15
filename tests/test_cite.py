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
