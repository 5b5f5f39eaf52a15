"""The expectations layer (great-expectations suites in validate/suites/).

The suites hold only dataset- and release-level expectations, each run on a small aggregate frame:
nothing a Table Schema already states (the structure layer owns that). This file checks it by
comparing the generated suites with the schemas, and breaks a copy of the real package once for
every generated expectation, asserting that it fails with its finding.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import copy_package
from tests.helpers import REPO, covering, first, line_of, read_table, run_cli, write_table
from nkru.api import Options
from nkru.findings import CODES
from nkru.layers import expectations
from nkru.layers.metadata import row_floors
from nkru.package import Package, schema_fields
from nkru.suites import DISTRIBUTIONS_SUITE, PACKAGE_SUITE, SUITES_DIR, load_suites
from nkru.suites.generate import suites_for

REAL = Package.open(REPO)
GENERATED = suites_for(REAL)

# -- no expectation restates a schema constraint ---------------------------------------------------

#: The great-expectations types that state, cell by cell or column by column, what a Table Schema
#: constraint or property already declares, by the schema's name for it.
RESTATES = {
    "required": {"expect_column_values_to_not_be_null", "expect_column_values_to_be_null"},
    "enum": {"expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set",
             "expect_column_distinct_values_to_be_in_set", "expect_column_distinct_values_to_equal_set",
             "expect_column_distinct_values_to_contain_set"},
    "unique / primaryKey": {"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique",
                            "expect_select_column_values_to_be_unique_within_record",
                            "expect_column_unique_value_count_to_be_between",
                            "expect_column_proportion_of_unique_values_to_be_between"},
    "fields": {"expect_table_columns_to_match_ordered_list", "expect_table_columns_to_match_set",
               "expect_column_to_exist", "expect_table_column_count_to_equal",
               "expect_table_column_count_to_be_between"},
    "minimum / maximum": {"expect_column_values_to_be_between", "expect_column_min_to_be_between",
                          "expect_column_max_to_be_between"},
    "pattern": {"expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex",
                "expect_column_values_to_match_regex_list", "expect_column_values_to_match_like_pattern"},
    "minLength / maxLength": {"expect_column_value_lengths_to_be_between", "expect_column_value_lengths_to_equal"},
    "type / format": {"expect_column_values_to_be_of_type", "expect_column_values_to_be_in_type_list",
                      "expect_column_values_to_match_strftime_format", "expect_column_values_to_be_dateutil_parseable",
                      "expect_column_values_to_be_json_parseable"},
}
#: Every field name any resource's schema declares: a derived (aggregate) column never bears one.
FIELDS = {f["name"] for spec in REAL.resources.values() if spec.schema for f in schema_fields(spec.schema)}


def named_columns(expectation: dict) -> list[str]:
    kwargs = expectation.get("kwargs") or {}
    named = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
    return named + list(kwargs.get("column_list") or [])


def restated_constraint(expectation: dict) -> str | None:
    """Which schema constraint `expectation` restates, or None: a type that states a constraint and names a
    schema field, or any expectation whose column is a schema field (it would run on the cells)."""
    kind = expectation["type"]
    fields = [c for c in named_columns(expectation) if c in FIELDS]
    for constraint, kinds in RESTATES.items():
        if kind in kinds and (fields or constraint == "fields"):
            return constraint
    return f"runs on the cells of {', '.join(fields)}" if fields else None


def test_the_restatement_check_catches_each_kind_of_constraint():
    """The check below would fail on the suites as they were (106 expectations, 98 restating the schemas)."""
    old = [("required", {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "claim_id"}}),
           ("enum", {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "claim_type", "value_set": ["x"]}}),
           ("unique / primaryKey", {"type": "expect_compound_columns_to_be_unique",
                                    "kwargs": {"column_list": ["event_id", "actor_id", "role"]}}),
           ("fields", {"type": "expect_table_columns_to_match_ordered_list", "kwargs": {"column_list": ["a"]}}),
           ("minimum / maximum", {"type": "expect_column_values_to_be_between", "kwargs": {"column": "quote_start"}}),
           ("pattern", {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "source_id", "regex": "S"}})]
    for constraint, expectation in old:
        assert restated_constraint(expectation) == constraint
    assert restated_constraint({"type": "expect_column_mean_to_be_between", "kwargs": {"column": "quantity"}})


@pytest.mark.parametrize("suite", list(GENERATED))
def test_no_generated_expectation_restates_a_schema_constraint(suite):
    checked = GENERATED[suite]["expectations"]
    assert checked, f"suite {suite} is empty"
    assert [(e["type"], restated_constraint(e)) for e in checked if restated_constraint(e)] == []


def test_the_suites_hold_the_release_level_expectations():
    counts = {name: [e["type"] for e in suite["expectations"]] for name, suite in GENERATED.items()}
    for name in REAL.resources:
        assert counts[name] == ["expect_table_row_count_to_be_between"]
    assert len(counts[PACKAGE_SUITE]) == 3 and len(counts[DISTRIBUTIONS_SUITE]) >= 2
    assert {e["severity"] for e in GENERATED[DISTRIBUTIONS_SUITE]["expectations"]} == {"warning"}
    assert sum(map(len, counts.values())) == len(REAL.resources) + 3 + len(counts[DISTRIBUTIONS_SUITE]) < 20


# -- every expectation, broken once ---------------------------------------------------------------


def expectation_ids() -> list[str]:
    ids = []
    for name, suite in GENERATED.items():
        for e in suite["expectations"]:
            ids.append(f"{name}:{(e['kwargs'].get('column') or 'rows')}")
    return ids


def with_releases(package):
    shutil.copytree(REPO / "releases", package / "releases")
    return package


def _below_floor(resource):
    """Fewer rows than the floor: for a table the release sets no floor, none; otherwise the release counted
    more rows than it listed IDs (rows deleted from under their released IDs are the stable-ID check's
    `released-id-missing`, and the floor leaves them out: tests/test_row_floor.py)."""
    def breaker(copy):
        with_releases(copy)
        floor = row_floors(Package.open(copy))[resource]
        header, rows = read_table(copy, resource)
        if floor.released is None:
            now = max(floor.minimum - 1, 0)
            write_table(copy, resource, header, rows[:now])
        else:
            from nkru.manifest import latest_manifest

            path = copy / "releases" / f"{latest_manifest(copy).version}.json"
            manifest = json.loads(path.read_text(encoding="utf-8"))
            manifest["resources"][resource]["rows"] += len(rows) - floor.minimum + 1
            path.write_text(json.dumps(manifest), encoding="utf-8")
            now = len(rows)
        return [("expect-table-row-count-to-be-between", resource, None, None, str(now), "error")]
    return breaker


def _unreferenced(resource, key, new_id, **extra):
    def breaker(copy):
        header, rows = read_table(copy, resource)
        rows.append({**rows[0], key: new_id, **extra})
        write_table(copy, resource, header, rows)
        return [("expect-column-values-to-be-between", resource, line_of(copy, resource, len(rows) - 1), key, new_id,
                 "error")]
    return breaker


def _mix_moved(resource, key, prefix, field, value, count):
    """`count` new rows (IDs not in the last release) all of one `value`: the share of `value` moves."""
    def breaker(copy):
        with_releases(copy)
        header, rows = read_table(copy, resource)
        template = next(r for r in rows if r[field] == value)
        rows += [{**template, key: f"{prefix}{900 + i}"} for i in range(count)]
        write_table(copy, resource, header, rows)
        return [("expect-column-max-to-be-between", resource, None, field, repr(value), "warning")]
    return breaker


BREAKERS = {
    **{f"{name}:rows": _below_floor(name) for name in REAL.resources},
    f"{PACKAGE_SUITE}:rows_citing_source": _unreferenced("sources", "source_id", "S999", text_path="data/sources/S999.txt"),
    f"{PACKAGE_SUITE}:claims_about_event": _unreferenced("events", "event_id", "E999"),
    f"{PACKAGE_SUITE}:actor_mentions": _unreferenced("actors", "actor_id", "A999", affiliation_id=""),
    f"{DISTRIBUTIONS_SUITE}:claims.claim_type": _mix_moved("claims", "claim_id", "C", "claim_type", "demand", 40),
    f"{DISTRIBUTIONS_SUITE}:events.event_type": _mix_moved("events", "event_id", "E", "event_type", "visit", 12),
}


def test_every_generated_expectation_has_a_breaking_case():
    assert sorted(expectation_ids()) == sorted(BREAKERS)


# Each case runs the great-expectations layer on a copy (over a second): the fast loop breaks one.
@pytest.mark.parametrize("case", covering(sorted(BREAKERS), first))
def test_each_expectation_fails_with_its_finding(case, tmp_path):
    copy = copy_package(tmp_path / "package")
    expected = BREAKERS[case](copy)
    result = expectations.check(Package.open(copy), Options())
    assert result.checks > 0
    for code, resource, line, field, value, severity in expected:
        hits = [f for f in result.findings if f.code == code and f.resource == resource]
        assert len(hits) == 1, f"{case}: {[(f.code, f.resource, f.line, f.message) for f in result.findings]}"
        [finding] = hits
        assert (finding.layer, finding.severity, finding.line, finding.field) == ("expectations", severity, line, field)
        assert finding.value == value and finding.path == f"data/{resource}.csv"
        assert resource in finding.message


def test_a_moved_distribution_reads_well(tmp_path):
    copy = copy_package(tmp_path / "package")
    BREAKERS[f"{DISTRIBUTIONS_SUITE}:claims.claim_type"](copy)
    [finding] = [f for f in expectations.check(Package.open(copy)).findings if f.code == "expect-column-max-to-be-between"]
    release = json.loads(sorted((REPO / "releases").glob("*.json"))[-1].read_text(encoding="utf-8"))["version"]
    assert finding.message.startswith(f"claims: the share of claim_type 'demand' moved by 33 percentage points since "
                                      f"release {release}, more than the 20 watched")
    assert "34% of 121 now, 1% of 81 then" in finding.message


def test_without_a_release_no_distribution_is_checked(package_copy):
    assert not (package_copy / "releases").exists()
    BREAKERS[f"{DISTRIBUTIONS_SUITE}:claims.claim_type"](package_copy)
    shutil.rmtree(package_copy / "releases")
    result = expectations.check(Package.open(package_copy))
    assert result.checks == len(REAL.resources) + 3
    assert [f.code for f in result.findings] == []


# -- the real package, Data Docs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """The layer on the real package through the CLI, building Data Docs: (JSON report, exit code, docs dir)."""
    docs = tmp_path_factory.mktemp("docs") / "data-docs"
    result = run_cli("validate", str(REPO), "--only", "expectations", "--out", str(docs), "--format", "json")
    return json.loads(result.stdout), result.exit_code, docs


def test_real_package_passes(real_run):
    report, exit_code, _ = real_run
    [layer] = report["layers"]
    assert layer["layer"] == "expectations" and layer["checks"] == sum(map(len, (s["expectations"] for s in GENERATED.values())))
    assert [f["message"] for f in report["findings"]] == []
    assert exit_code == 0


def test_data_docs_built(real_run):
    _, _, docs = real_run
    assert (docs / "index.html").is_file()
    pages = {p.stem for p in (docs / "expectations").glob("*.html")}
    assert {PACKAGE_SUITE, DISTRIBUTIONS_SUITE, "claims"} <= pages
    assert list((docs / "validations").rglob("*.html"))


# An extra suite, as if a hand edit had broken a file: an expectation great-expectations cannot build.
BAD_SUITE = {"name": "bad", "meta": {"resource": "sources"},
             "expectations": [{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": "many"}}]}


def test_broken_suite_is_a_finding_not_a_traceback():
    result = expectations.run_suites(REAL, {"bad": BAD_SUITE})
    assert [(f.code, f.value) for f in result.findings] == [("expectation-suite-invalid", "bad")]


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

    assert generate.main(["--check", str(REPO)]) == 0
    shutil.copytree(REPO / "validate" / "suites", package_copy / "validate" / "suites")
    assert generate.main(["--check", str(package_copy)]) == 0
    schema = package_copy / "schemas" / "exclusions.json"
    data = json.loads(schema.read_text(encoding="utf-8"))
    data.pop("foreignKeys")  # exclusions no longer count as citing their source
    schema.write_text(json.dumps(data), encoding="utf-8")
    capsys.readouterr()
    assert generate.main(["--check", str(package_copy)]) == 1
    assert capsys.readouterr().out.splitlines() == [f"stale: {package_copy / 'validate' / 'suites' / 'package.json'}"]
    assert generate.main([str(tmp_path / "nowhere")]) == 2  # a clear error, no traceback
    assert "no such directory" in capsys.readouterr().err


def test_suites_have_no_random_ids_and_load_in_gx():
    import great_expectations as gx

    suites = load_suites()
    assert PACKAGE_SUITE in suites and DISTRIBUTIONS_SUITE in suites and len(suites) > 2
    for name, data in suites.items():
        assert json.loads((SUITES_DIR / f"{name}.json").read_text(encoding="utf-8")) == data
        assert "id" not in data and all("id" not in e for e in data["expectations"])
        assert "great_expectations_version" not in data.get("meta", {})
        suite = gx.ExpectationSuite(**data)
        assert len(suite.expectations) == len(data["expectations"]) > 0


def test_suites_for_an_open_package_equal_the_committed_record():
    assert GENERATED == load_suites()


def test_every_expectation_type_has_a_template():
    types = {e["type"] for suite in load_suites().values() for e in suite["expectations"]}
    assert types
    for kind in types:
        assert expectations.code_for(kind) in CODES
        assert kind in expectations.TEMPLATES


def test_no_quantile_expectation():
    # ExpectColumnQuantileValuesToBeBetween breaks ValidationDefinition.run with pandas 3.1.
    types = {e["type"] for suite in load_suites().values() for e in suite["expectations"]}
    assert "expect_column_quantile_values_to_be_between" not in types


def test_a_rule_the_packages_own_schemas_cannot_support_is_a_warning(package_copy):
    """The suites come from the validated package's own schemas: without claims' foreign key into events
    the 'every event claimed' rule cannot be built, which is said once, and the other rules still run."""
    schema = package_copy / "schemas" / "claims.json"
    data = json.loads(schema.read_text(encoding="utf-8"))
    data["foreignKeys"] = [fk for fk in data["foreignKeys"] if fk["fields"] != ["event_id"]]
    schema.write_text(json.dumps(data), encoding="utf-8")
    result = expectations.check(Package.open(package_copy))
    assert result.checks > 0
    [finding] = result.findings
    assert (finding.code, finding.severity) == ("expectation-rule-unavailable", "warning")
    assert "claims_about_event" in finding.message


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


def test_the_in_process_option_is_a_deprecated_no_op():
    """`--in-process` (nkru 1.1: no great-expectations worker) still parses, hidden, and says it does nothing."""
    result = run_cli("validate", str(REPO), "--only", "structure", "--in-process")
    assert result.exit_code == 0, result.output
    assert "--in-process is deprecated and does nothing" in result.stderr
    assert "--in-process" not in run_cli("validate", "--help").stdout


def test_an_actor_used_only_as_an_affiliation_counts_as_used(package_copy):
    """A056 (US National Security Council) takes part in nothing but is A027's affiliation: used. Point A027
    elsewhere and A056 is an orphan."""
    suites = {PACKAGE_SUITE: load_suites()[PACKAGE_SUITE]}
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
