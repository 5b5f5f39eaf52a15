"""Output formats: json equals the library report, junit parses, github annotations are escaped and capped.

The expectations layer is skipped here (it is slow to import and tested in test_expectations.py).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
from rich.console import Console

from tests.helpers import REPO, line_of, run_cli, set_cell
from nkru.api import validate_package
from nkru.findings import Finding, LayerResult, Report
from nkru.render import FORMATS, github, junit

FAST = ["--skip", "expectations"]


def _without_times(report: dict) -> dict:
    return {**report, "layers": [{k: v for k, v in layer.items() if k != "seconds"} for layer in report["layers"]]}


@pytest.fixture
def broken_copy(package_copy: Path) -> Path:
    """A copy with a value outside a vocabulary (so there is at least one finding with a line)."""
    set_cell(package_copy, "actors", 0, "actor_type", "alien")
    return package_copy


def test_all_formats_registered():
    assert {"text", "json", "junit", "github"} <= set(FORMATS)


def test_json_output_equals_library_report(broken_copy):
    result = run_cli("validate", str(broken_copy), "--format", "json", *FAST)
    assert result.exit_code == 1
    cli = json.loads(result.stdout)
    library = validate_package(broken_copy, skip=["expectations"]).to_dict()
    assert _without_times(cli) == _without_times(library)
    assert cli["findings"], "the broken copy must have findings"


def _parse(xml_text: str) -> ElementTree.Element:
    root = ElementTree.fromstring(xml_text.encode("utf-8"))
    assert root.tag == "testsuites"
    return root


def test_junit_has_failures_for_a_broken_copy(broken_copy):
    result = run_cli("validate", str(broken_copy), "--format", "junit", *FAST)
    assert result.exit_code == 1
    root = _parse(result.stdout)
    failures = root.findall(".//testcase/failure")
    assert failures and int(root.get("failures")) == len(failures)
    line = line_of(broken_copy, "actors", 0)
    assert any(f"data/actors.csv:{line}" in (f.text or "") for f in failures)
    # One suite per layer that ran, each with at least one case.
    names = [s.get("name") for s in root.findall("testsuite")]
    assert "structure" in names and "expectations" not in names
    assert all(len(s.findall("testcase")) > 0 for s in root.findall("testsuite"))


def test_junit_has_no_failures_for_the_real_package():
    result = run_cli("validate", str(REPO), "--format", "junit", *FAST)
    root = _parse(result.stdout)
    assert root.findall(".//failure") == [], [f.get("message") for f in root.findall(".//failure")]
    assert int(root.get("tests")) > 0
    assert result.exit_code == 0


def test_junit_cases_per_layer_resource_and_code():
    report = Report("pkg", [LayerResult("rules", checks=3, findings=[
        Finding("rules", "a-code", "first", resource="claims", path="data/claims.csv", line=2),
        Finding("rules", "a-code", "second", resource="claims", path="data/claims.csv", line=3),
        Finding("rules", "b-code", "third \x01 control", resource="claims", path="data/claims.csv", line=4),
        Finding("rules", "w-code", "just a warning", severity="warning", resource="events"),
    ])])
    root = _parse(junit.dumps(report))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"claims: a-code", "claims: b-code", "events: w-code"}
    assert cases["claims: a-code"].find("failure").get("message").startswith("2 × first")
    assert "\\x01" in cases["claims: b-code"].find("failure").get("message")
    assert cases["events: w-code"].find("failure") is None
    assert "just a warning" in cases["events: w-code"].find("system-out").text


# -- github -----------------------------------------------------------------------


def _report(findings: list[Finding], package: str = "/ws/pkg") -> Report:
    return Report(package, [LayerResult("rules", findings=findings, checks=len(findings))])


def test_github_escapes_message_and_properties():
    assert github.escape_property("a%b\r\nc:d,e") == "a%25b%0D%0Ac%3Ad%2Ce"
    assert github.escape_data("a%b\r\nc:d,e") == "a%25b%0D%0Ac:d,e"
    finding = Finding("rules", "some-code", "100% wrong\r\nnext line: a, b", resource="claims",
                      path="data/we:ird,na%me.csv", line=7)
    [line, *_] = github.lines(_report([finding]), workspace=Path("/ws"))
    assert line == ("::error file=pkg/data/we%3Aird%2Cna%25me.csv,line=7,title=nkru rules%3A some-code"
                    "::100%25 wrong%0D%0Anext line: a, b")
    assert "\n" not in line and "\r" not in line


def test_github_warning_and_no_file():
    finding = Finding("metadata", "w", "careful", severity="warning")
    [line, *_] = github.lines(_report([finding]), workspace=Path("/ws"))
    assert line == "::warning title=nkru metadata%3A w::careful"


def test_github_caps_annotations_at_ten_per_code():
    findings = [Finding("rules", "many", f"problem {i}", resource="claims", path="data/claims.csv", line=i + 2)
                for i in range(15)]
    findings.append(Finding("rules", "other", "one more", resource="claims", path="data/claims.csv", line=99))
    out = github.lines(_report(findings), workspace=Path("/ws"))
    annotations = [line for line in out if line.startswith("::")]
    assert sum("title=nkru rules%3A many::" in a for a in annotations) == github.MAX_PER_CODE
    assert sum("title=nkru rules%3A other::" in a for a in annotations) == 1
    assert any(line.startswith("5 more many findings not annotated") for line in out)
    assert "5 not annotated" in out[-1]


def test_github_step_summary_lists_everything(tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    findings = [Finding("rules", "many", f"problem | {i}\nsecond <b>", resource="claims", path="data/claims.csv", line=i + 2)
                for i in range(15)]
    buffer = io.StringIO()
    github.render(_report(findings), Console(file=buffer))
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n")  # appended, never overwritten
    rows = [line for line in text.splitlines() if line.startswith("| error |")]
    assert len(rows) == 15
    assert "problem \\| 0<br>second &lt;b&gt;" in rows[0]
    assert buffer.getvalue().count("::error") == 10


def test_github_cli_on_a_broken_copy(broken_copy, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.chdir(broken_copy)
    result = run_cli("validate", ".", "--format", "github", *FAST)
    assert result.exit_code == 1
    line = line_of(broken_copy, "actors", 0)
    assert f"::error file=data/actors.csv,line={line}," in result.stdout
    assert "data/actors.csv" in summary.read_text(encoding="utf-8")


def test_github_without_summary_env_writes_no_file(broken_copy, tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    result = run_cli("validate", str(broken_copy), "--format", "github", "--only", "structure")
    assert result.exit_code == 1
    assert list(workdir.iterdir()) == []


# -- timings ----------------------------------------------------------------------


def test_timings_in_text_output(package_copy):
    with_t = run_cli("validate", str(package_copy), "--only", "structure", "--timings")
    without = run_cli("validate", str(package_copy), "--only", "structure")
    assert "seconds" in with_t.stdout and "seconds" not in without.stdout


def test_timings_in_github_output(package_copy):
    result = run_cli("validate", str(package_copy), "--only", "structure", "--format", "github", "--timings")
    assert any(line.startswith("structure: ") and line.endswith(" s") for line in result.stdout.splitlines())


# -- the CI workflow ----------------------------------------------------------------


def _workflow() -> dict:
    import yaml

    return yaml.safe_load((REPO / ".github" / "workflows" / "validate.yml").read_text(encoding="utf-8"))


def test_workflow_runs_on_push_and_pull_request():
    workflow = _workflow()
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers)


def test_the_gate_takes_no_cached_sentence_split():
    """The composite action the workflow validates with restores no sentence cache and sets no cache variable:
    sentences are data (data/units.csv), so validation splits nothing and keeps nothing between runs."""
    import yaml

    [job] = _workflow()["jobs"].values()
    [gate] = [step for step in job["steps"] if step.get("name") == "Validate"]
    assert gate["uses"] == "./" and "sentence-cache" not in gate.get("with", {})
    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    assert "sentence-cache" not in action["inputs"]
    steps = action["runs"]["steps"]
    caches = [step for step in steps if step.get("uses", "").startswith("actions/cache@")]
    assert caches and all(".cache/nkru" not in step["with"]["path"] for step in caches)
    [validate] = [step for step in steps if step.get("name") == "Validate"]
    assert validate["env"] and "NKRU_CACHE_DIR" not in validate["env"]
    assert "NKRU_CACHE_DIR" not in (REPO / "action.yml").read_text(encoding="utf-8")


def test_workflow_runs_the_documented_commands():
    [job] = _workflow()["jobs"].values()
    steps = job["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    uses = [step.get("uses", "") for step in steps]
    setup = next(step for step in steps if step.get("uses", "").startswith("actions/setup-python@"))
    assert str(setup["with"]["python-version"]) == "3.11"
    assert any(u.startswith("actions/checkout@") for u in uses)
    # The gate itself is this repository's composite action (action.yml) in github format.
    validate = next(step for step in steps if step.get("name") == "Validate")
    assert validate["uses"] == "./" and validate["with"]["format"] == "github"
    for command in ["pip install -c requirements/py3.11.txt -e '.[test]'",
                    "nkru validate --only expectations --out data-docs",
                    "nkru validate --format junit > junit.xml", "pytest"]:
        assert command in runs, command
    uploads = {step["with"]["path"].rstrip("/") for step in steps if step.get("uses", "").startswith("actions/upload-artifact@")}
    assert uploads == {"data-docs", "junit.xml", "test-artifacts"}
    # The validation step must come before the reports, and the reports run even when it failed.
    index = {step.get("name"): i for i, step in enumerate(steps)}
    assert index["Validate"] < index["Data Docs and JUnit report"] < index["Tests"]
    for step in steps[index["Validate"] + 1:]:
        assert "cancelled()" in step.get("if", "")


def test_workflow_commands_parse():
    # Every nkru invocation in the workflow is accepted by the CLI (typer would exit 2 on an unknown option).
    import shlex

    from typer.main import get_command

    from nkru.cli import app

    [job] = _workflow()["jobs"].values()
    group = get_command(app)
    for step in job["steps"]:
        for line in step.get("run", "").splitlines():
            if not line.strip().startswith("nkru "):
                continue
            words = shlex.split(line.split("||")[0].split(">")[0])
            command = group.get_command(None, words[1])
            assert command is not None, line
            command.make_context(words[1], words[2:], resilient_parsing=False)


def test_github_unwritable_summary_is_a_warning_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "missing-dir" / "summary.md"))
    buffer = io.StringIO()
    github.render(_report([Finding("rules", "c", "m")]), Console(file=buffer))
    assert "::warning title=nkru validate::cannot append the step summary" in buffer.getvalue()
