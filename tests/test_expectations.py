"""The expectations layer (great-expectations suites in validate/suites/).

great-expectations takes seconds to import, so the layer runs only twice here
(module-scoped fixtures): once on the real package (building Data Docs on the
way) and once on a copy with several independent breakages.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import copy_package
from tests.helpers import REPO, line_of, read_table, run_cli, write_table
from nkru.findings import CODES
from nkru.layers import expectations
from nkru.package import Package
from nkru.suites import PACKAGE_SUITE, SUITES_DIR, load_suites


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """The layer on the real package through the CLI, building Data Docs: (JSON report, exit code, docs dir)."""
    docs = tmp_path_factory.mktemp("docs") / "data-docs"
    result = run_cli("validate", str(REPO), "--only", "expectations", "--out", str(docs), "--format", "json")
    return json.loads(result.stdout), result.exit_code, docs


# An extra suite, as if a hand edit had broken a file: an in-set expectation without its value set.
BAD_SUITE = {"name": "bad", "meta": {"resource": "sources"},
             "expectations": [{"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "source_id"}}]}


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """A copy with independent breakages, and where each is expected (code, resource, line, field)."""
    copy = copy_package(tmp_path_factory.mktemp("broken") / "package")
    expected: dict[str, list[tuple]] = {}

    # Package rules: a new source no claim cites, a new event without claims, a new actor nobody mentions.
    for resource, key, new_id, extra in [("sources", "source_id", "S999", {"text_path": "data/sources/S999.txt"}),
                                         ("events", "event_id", "E999", {}),
                                         ("actors", "actor_id", "A999", {"affiliation_id": ""})]:
        header, rows = read_table(copy, resource)
        rows.append({**rows[0], key: new_id, **extra})
        write_table(copy, resource, header, rows)
        expected[f"package:{resource}"] = [("expect-column-values-to-be-between", resource,
                                            line_of(copy, resource, len(rows) - 1), key, new_id)]

    # Value set: an actor type outside the vocabulary.
    header, rows = read_table(copy, "actors")
    rows[1]["actor_type"] = "alien"
    write_table(copy, "actors", header, rows)
    expected["in-set"] = [("expect-column-values-to-be-in-set", "actors", line_of(copy, "actors", 1), "actor_type", rows[1]["actor_id"])]

    # Not null: an event without a title.
    header, rows = read_table(copy, "events")
    rows[0]["title"] = ""
    write_table(copy, "events", header, rows)
    expected["not-null"] = [("expect-column-values-to-not-be-null", "events", line_of(copy, "events", 0), "title", rows[0]["event_id"])]

    # Unique: two claims share an ID (both rows are reported).
    header, rows = read_table(copy, "claims")
    rows[1]["claim_id"] = rows[0]["claim_id"]
    write_table(copy, "claims", header, rows)
    expected["unique"] = [("expect-column-values-to-be-unique", "claims", line_of(copy, "claims", i), "claim_id", rows[0]["claim_id"])
                          for i in (0, 1)]

    # Compound primary key: an event_actors row repeated at the end.
    header, rows = read_table(copy, "event_actors")
    rows.append(dict(rows[0]))
    write_table(copy, "event_actors", header, rows)
    key = "|".join(rows[0][k] for k in ("event_id", "actor_id", "role"))
    expected["compound"] = [("expect-compound-columns-to-be-unique", "event_actors", line_of(copy, "event_actors", i),
                             "event_id, actor_id, role", key) for i in (0, len(rows) - 1)]

    # Row count: no exclusions at all.
    header, _ = read_table(copy, "exclusions")
    write_table(copy, "exclusions", header, [])
    expected["row-count"] = [("expect-table-row-count-to-be-between", "exclusions", None, None, None)]

    # Columns: a renamed column in denials.
    text = (copy / "data" / "denials.csv").read_text(encoding="utf-8")
    header_line, rest = text.split("\n", 1)
    (copy / "data" / "denials.csv").write_text(header_line.replace("notes", "remarks") + "\n" + rest, encoding="utf-8")
    expected["columns"] = [("expect-table-columns-to-match-ordered-list", "denials", None, None, None)]

    suites = {**load_suites(), "bad": BAD_SUITE}
    result = expectations.run_suites(Package.open(copy), suites)
    return result, expected


@pytest.mark.slow
def test_real_package_passes(real_run):
    report, exit_code, _ = real_run
    [layer] = report["layers"]
    assert layer["layer"] == "expectations" and layer["checks"] > 0
    assert [f["message"] for f in report["findings"]] == []
    assert exit_code == 0


def test_data_docs_built(real_run):
    _, _, docs = real_run
    assert (docs / "index.html").is_file()
    pages = {p.stem for p in (docs / "expectations").glob("*.html")}
    assert PACKAGE_SUITE in pages and "claims" in pages
    assert list((docs / "validations").rglob("*.html"))


@pytest.mark.parametrize("case", ["package:sources", "package:events", "package:actors", "in-set", "not-null",
                                  "unique", "compound", "row-count", "columns"])
def test_broken_copy_fails_with_code_resource_line_field(broken, case):
    result, expected = broken
    for code, resource, line, field, row_id in expected[case]:
        hits = [f for f in result.findings if f.code == code and f.resource == resource and f.line == line]
        assert hits, f"no {code} for {resource} line {line}; got {[(f.code, f.resource, f.line) for f in result.findings]}"
        finding = hits[0]
        assert finding.layer == "expectations" and finding.severity == "error"
        assert finding.field == field
        if line is not None:
            assert finding.row_id == row_id or finding.value == row_id
            assert finding.path and finding.path.startswith("data/")
        assert resource in finding.message


def test_broken_copy_reports_nothing_else(broken):
    result, expected = broken
    wanted = {(code, resource, line) for items in expected.values() for code, resource, line, _, _ in items}
    extra = [(f.code, f.resource, f.line) for f in result.findings
             if (f.code, f.resource, f.line) not in wanted and f.code != "expectation-suite-invalid"]
    assert extra == []


def test_package_rule_finding_reads_well(broken):
    result, _ = broken
    finding = next(f for f in result.findings if f.resource == "sources" and f.code == "expect-column-values-to-be-between")
    assert "S999" in finding.message and "cited by at least one claim" in finding.message


def test_broken_suite_is_a_finding_not_a_traceback(broken):
    result, _ = broken
    found = [f for f in result.findings if f.code == "expectation-suite-invalid"]
    assert len(found) == 1 and found[0].value == "bad"


def test_missing_resource_is_reported_without_running_gx(package_copy):
    descriptor = json.loads((package_copy / "datapackage.json").read_text(encoding="utf-8"))
    descriptor["resources"] = [r for r in descriptor["resources"] if r["name"] != "denials"]
    (package_copy / "datapackage.json").write_text(json.dumps(descriptor), encoding="utf-8")
    result = expectations.run_suites(Package.open(package_copy), {"denials": load_suites()["denials"]})
    assert [(f.code, f.resource) for f in result.findings] == [("expectation-resource-missing", "denials")]


# -- the suites themselves -------------------------------------------------------


def test_committed_suites_equal_generated():
    from nkru.suites import generate

    assert generate.stale(REPO) == [], "run `python -m nkru.suites.generate` and commit validate/suites/"


def test_the_generate_command(package_copy, tmp_path, capsys):
    from nkru.suites import generate

    import shutil

    assert generate.main(["--check", str(REPO)]) == 0
    shutil.copytree(REPO / "validate" / "suites", package_copy / "validate" / "suites")
    assert generate.main(["--check", str(package_copy)]) == 0
    schema = package_copy / "schemas" / "denials.json"
    schema.write_text(schema.read_text(encoding="utf-8").replace('"required": true', '"required": false', 1),
                      encoding="utf-8")
    capsys.readouterr()
    assert generate.main(["--check", str(package_copy)]) == 1
    assert capsys.readouterr().out.splitlines() == [f"stale: {package_copy / 'validate' / 'suites' / 'denials.json'}"]
    assert generate.main([str(tmp_path / "nowhere")]) == 2  # a clear error, no traceback
    assert "no such directory" in capsys.readouterr().err


def test_suites_have_no_random_ids_and_load_in_gx():
    import great_expectations as gx

    suites = load_suites()
    assert PACKAGE_SUITE in suites and len(suites) > 1
    for name, data in suites.items():
        assert json.loads((SUITES_DIR / f"{name}.json").read_text(encoding="utf-8")) == data
        assert "id" not in data and all("id" not in e for e in data["expectations"])
        assert "great_expectations_version" not in data.get("meta", {})
        suite = gx.ExpectationSuite(**data)
        assert len(suite.expectations) == len(data["expectations"]) > 0


def test_vocabularies_come_from_the_schemas():
    suites = load_suites()
    for resource, suite in suites.items():
        if resource == PACKAGE_SUITE:
            continue
        schema = json.loads((REPO / "schemas" / f"{resource}.json").read_text(encoding="utf-8"))
        enums = {f["name"]: f["constraints"]["enum"] for f in schema["fields"] if (f.get("constraints") or {}).get("enum")}
        in_set = {e["kwargs"]["column"]: e["kwargs"]["value_set"] for e in suite["expectations"]
                  if e["type"] == "expect_column_values_to_be_in_set"}
        assert in_set == enums


def test_every_expectation_type_has_a_template():
    types = {e["type"] for suite in load_suites().values() for e in suite["expectations"]}
    for kind in types:
        assert expectations.code_for(kind) in CODES
        assert kind in expectations.TEMPLATES


def test_no_quantile_expectation():
    # ExpectColumnQuantileValuesToBeBetween breaks ValidationDefinition.run with pandas 3.1.
    types = {e["type"] for suite in load_suites().values() for e in suite["expectations"]}
    assert "expect_column_quantile_values_to_be_between" not in types


# -- CLI usage errors (no great-expectations needed) -------------------------------


def test_data_docs_needs_the_expectations_layer(tmp_path):
    result = run_cli("validate", str(REPO), "--skip", "expectations", "--out", str(tmp_path / "dd"))
    assert result.exit_code == 2
    assert "expectations layer" in result.stderr


def test_data_docs_refuses_a_directory_with_other_files(tmp_path):
    target = tmp_path / "notes"
    target.mkdir()
    (target / "keep.txt").write_text("mine", encoding="utf-8")
    result = run_cli("validate", str(REPO), "--only", "expectations", "--out", str(target))
    assert result.exit_code == 2
    assert "not a Data Docs site" in result.stderr
    assert (target / "keep.txt").read_text(encoding="utf-8") == "mine"


# -- the suites come from the validated package's own schemas (review A4) ----------------------------------


def test_an_enum_extended_in_the_packages_schema_is_honoured(package_copy):
    schema_path = package_copy / "schemas" / "events.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    [event_type] = [f for f in schema["fields"] if f["name"] == "event_type"]
    event_type["constraints"]["enum"].append("cyber_operation")
    schema_path.write_text(json.dumps(schema, ensure_ascii=False, indent=2), encoding="utf-8")
    header, rows = read_table(package_copy, "events")
    rows[0]["event_type"] = "cyber_operation"  # allowed by this package's schema, not by the committed suites
    rows[1]["event_type"] = "alien_landing"  # allowed by neither
    write_table(package_copy, "events", header, rows)

    result = expectations.check(Package.open(package_copy))
    assert result.checks > 0
    in_set = [(f.code, f.resource, f.line, f.field, f.value) for f in result.findings]
    assert in_set == [("expect-column-values-to-be-in-set", "events", line_of(package_copy, "events", 1), "event_type",
                       "alien_landing")]
    assert "cyber_operation" not in load_suites()["events"]["expectations"].__repr__()  # the record is unchanged


def test_suites_for_an_open_package_equal_the_committed_record():
    from nkru.suites import generate

    assert generate.suites_for(Package.open(REPO)) == load_suites()


@pytest.mark.parametrize("where", ["parent-is-a-file", "unwritable-root"])
def test_data_docs_to_an_unwritable_path_is_a_usage_error(tmp_path, where):
    if where == "parent-is-a-file":
        (tmp_path / "afile").write_text("x", encoding="utf-8")
        target = tmp_path / "afile" / "dd"
    else:
        target = "/proc/nkru-no-such/dd"
    result = run_cli("validate", str(REPO), "--only", "expectations", "--out", str(target))
    assert result.exit_code == 2, result.output
    assert "Data Docs folder" in result.stderr and "cannot be written" in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


def test_an_actor_used_only_as_an_affiliation_counts_as_used(package_copy):
    """A056 (US National Security Council) takes part in nothing but is A027's affiliation: used. Point A027
    elsewhere and A056 is an orphan."""
    suites = load_suites()
    before = expectations.run_suites(Package.open(package_copy), suites)
    assert before.checks > 0 and not [f for f in before.findings if f.resource == "actors"]
    header, rows = read_table(package_copy, "actors")
    (index,) = [i for i, r in enumerate(rows) if r["actor_id"] == "A027"]
    assert rows[index]["affiliation_id"] == "A056"
    rows[index]["affiliation_id"] = "A007"
    write_table(package_copy, "actors", header, rows)
    after = expectations.run_suites(Package.open(package_copy), suites)
    (orphan,) = [f for f in after.findings if f.resource == "actors"]
    assert orphan.code == "expect-column-values-to-be-between" and "A056" in orphan.message
    assert "affiliation" in orphan.message
