"""IDs that grow: every ID column takes 001 … 999 and then 1000, 1001, … (no leading zeros past three
digits), so released IDs keep their form and a curator never runs out; sorting is numeric."""

from __future__ import annotations

import json
import re

import pytest

from nkru.manifest import compress_ids, expand_ids, id_sort_key
from tests.helpers import REPO, read_table, run_cli, write_table

#: (resource, field, pattern) of every field whose pattern is an ID pattern (a letter class then digits).
ID_FIELDS = []
for path in sorted((REPO / "schemas").glob("*.json")):
    for field in json.loads(path.read_text(encoding="utf-8"))["fields"]:
        pattern = (field.get("constraints") or {}).get("pattern", "")
        if re.match(r"^\^(\[[A-Z]+\]|[A-Z])\(", pattern):
            ID_FIELDS.append((path.stem, field["name"], pattern))


def test_every_id_column_has_a_growing_pattern():
    assert len(ID_FIELDS) >= 20
    assert {(r, f) for r, f, _ in ID_FIELDS} >= {("claims", "claim_id"), ("actors", "actor_id"), ("sources", "source_id"),
                                                ("retractions", "id"), ("denials", "claim_id")}


@pytest.mark.parametrize(("resource", "field", "pattern"), ID_FIELDS, ids=[f"{r}.{f}" for r, f, _ in ID_FIELDS])
def test_an_id_pattern_takes_three_digits_and_more_but_no_padding_past_three(resource, field, pattern):
    letter = re.match(r"^\^\[?([A-Z])", pattern).group(1)
    for good in ("001", "999", "1000", "1001", "123456"):
        assert re.fullmatch(pattern, letter + good), (pattern, good)
    for bad in ("01", "99", "0999", "01000", "1e3", ""):
        assert not re.fullmatch(pattern, letter + bad), (pattern, bad)


def test_ids_sort_by_number_not_by_text():
    ids = ["C1000", "C999", "C001", "C010", "A1000", "C1001"]
    assert sorted(ids, key=id_sort_key) == ["A1000", "C001", "C010", "C999", "C1000", "C1001"]
    ranges, literals = compress_ids(["C997", "C998", "C999", "C1000", "C1001", "C1002"])
    assert ranges == ["C997..C999", "C1000..C1002"] and literals == []
    assert expand_ids(ranges) == {"C997", "C998", "C999", "C1000", "C1001", "C1002"}


def test_a_claim_c1000_validates_and_a_padded_id_does_not(package_copy):
    header, claims = read_table(package_copy, "claims")
    _, denials = read_table(package_copy, "denials")
    _, retractions = read_table(package_copy, "retractions")
    referenced = {d["claim_id"] for d in denials} | {r["replaced_by"] for r in retractions}
    index = next(i for i in range(len(claims) - 1, -1, -1) if claims[i]["claim_id"] not in referenced)
    claims[index]["claim_id"] = "C1000"
    write_table(package_copy, "claims", header, claims)
    result = run_cli("validate", str(package_copy), "--only", "structure,rules")
    assert result.exit_code == 0, result.stdout + result.stderr

    claims[index]["claim_id"] = "C01000"
    write_table(package_copy, "claims", header, claims)
    result = run_cli("validate", str(package_copy), "--only", "structure", "--format", "json")
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    assert [(f["resource"], f["field"], f["value"]) for f in findings] == [("claims", "claim_id", "C01000")]


def test_the_next_source_after_s999_is_s1000(package_copy, tmp_path):
    header, retractions = read_table(package_copy, "retractions")
    retractions.append({"id": "S999", "retracted_in": "1.1.0", "reason": "test: a source number in use", "replaced_by": ""})
    write_table(package_copy, "retractions", header, retractions)
    article = tmp_path / "article.txt"
    article.write_text("Moskau und Pjöngjang vertiefen ihre Zusammenarbeit.\n", encoding="utf-8")
    result = run_cli("add-source", str(article), str(package_copy), "--title", "T", "--publisher", "unknown",
                     "--date", "2024-11", "--date-basis", "inferred")
    assert result.exit_code == 0, result.stderr
    assert (package_copy / "data" / "sources" / "S1000.txt").is_file()
    _, sources = read_table(package_copy, "sources")
    assert sources[-1]["source_id"] == "S1000" and sources[-1]["text_path"] == "data/sources/S1000.txt"
    result = run_cli("validate", str(package_copy), "--only", "structure")
    assert result.exit_code == 0, result.stdout
