"""great-expectations in a worker process (nkru.layers.gx_worker) gives the report it gives in this process.

Each worker pays great-expectations' import (2 s or more), so the packages compared here are few:
the real one (building Data Docs), a copy with a breakage for every kind of expectation, and a
sample of the hostile corpus (all of it with NKRU_HOSTILE_ALL=1). Then what happens when the worker
cannot start, dies, fails a call or outlives its parent.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nkru import api
from nkru.layers import gx_worker
from nkru.package import Package
from nkru.suites.generate import _clean, suites_for
from tests.conftest import copy_package
from tests.helpers import REPO, read_table, write_table
from tests.hostile.harness import mutate

pytestmark = pytest.mark.slow  # starts and kills worker processes

HOSTILE = Path(__file__).parent / "hostile" / "cases"
#: Hostile cases compared by default: schemas whose suites are odd (mixed or nested vocabularies,
#: a field type that is a list, a repeated resource name). NKRU_HOSTILE_ALL=1 compares every case.
SAMPLE = ["schema-enum-mixed", "schema-enum-list", "field-type-list", "resource-name-duplicate"]
ALL = os.environ.get("NKRU_HOSTILE_ALL") == "1"


def _outcome(report) -> list:
    """The report without timings: what must not depend on where great-expectations ran."""
    return [(layer.layer, layer.checks, layer.skipped_reason, [dataclasses.asdict(f) for f in layer.findings])
            for layer in report.layers]


def _both(package: Path, tmp_path: Path, only: list[str] | None = None) -> tuple[list, list]:
    here = api.validate_package(package, only=only, options=api.Options(gx_process=False))
    there = api.validate_package(package, only=only, options=api.Options(gx_process=True))
    return _outcome(here), _outcome(there)


def _expectations(outcome: list) -> tuple:
    return next(layer for layer in outcome if layer[0] == "expectations")


# -- the same report either way ------------------------------------------------------------------


def test_real_package_with_data_docs(tmp_path: Path):
    here_docs, there_docs = tmp_path / "docs-here", tmp_path / "docs-there"
    here = _outcome(api.validate_package(REPO, options=api.Options(gx_process=False, data_docs=here_docs)))
    there = _outcome(api.validate_package(REPO, options=api.Options(gx_process=True, data_docs=there_docs)))
    assert there == here
    assert _expectations(there)[1] > 90, "the suites ran: every resource and the package rules"
    for site in (here_docs, there_docs):
        index = (site / "index.html").read_text(encoding="utf-8")
        assert "claims" in index and (site / "static").is_dir()
    pages = lambda site: sorted(p.relative_to(site).parts[0] for p in site.rglob("*.html"))
    assert pages(there_docs) == pages(here_docs)


def _break_every_kind(package: Path) -> None:
    """One breakage per kind of expectation."""
    header, rows = read_table(package, "actors")
    rows[1]["actor_type"] = "alien"  # in-set
    rows.append({**rows[0], "actor_id": "A999", "affiliation_id": ""})  # the package rule: mentioned nowhere
    write_table(package, "actors", header, rows)
    header, rows = read_table(package, "events")
    rows[0]["title"] = ""  # not null
    write_table(package, "events", header, rows)
    header, rows = read_table(package, "claims")
    rows[1]["claim_id"] = rows[0]["claim_id"]  # unique
    write_table(package, "claims", header, rows)
    header, rows = read_table(package, "event_actors")
    rows.append(dict(rows[0]))  # compound key
    write_table(package, "event_actors", header, rows)
    header, _ = read_table(package, "exclusions")
    write_table(package, "exclusions", header, [])  # row count
    header, rows = read_table(package, "denials")
    write_table(package, "denials", [*header[::-1]], rows)  # the columns' order


def test_a_package_broken_in_every_way(tmp_path: Path):
    package = copy_package(tmp_path / "package")
    _break_every_kind(package)
    # The expectations layer alone: with the others, one finding per mistake would fold its findings
    # into theirs (`nkru.findings.fold`).
    here, there = _both(package, tmp_path, only=["expectations"])
    assert there == here
    codes = {finding["code"] for finding in _expectations(there)[3]}
    assert {"expect-column-values-to-be-in-set", "expect-column-values-to-not-be-null",
            "expect-column-values-to-be-unique", "expect-compound-columns-to-be-unique",
            "expect-table-row-count-to-be-between", "expect-column-values-to-be-between",
            "expect-table-columns-to-match-ordered-list"} <= codes


@pytest.mark.parametrize("case", sorted(p.stem for p in HOSTILE.glob("*.json")) if ALL else SAMPLE)
def test_hostile_package(case: str, tmp_path: Path):
    package = copy_package(tmp_path / "package")
    for step in json.loads((HOSTILE / f"{case}.json").read_text(encoding="utf-8"))["mutations"]:
        mutate(package, step)
    try:
        here, there = _both(package, tmp_path)
    except api.PackageError:
        pytest.skip("no package to validate (the case is about opening it)")
    assert there == here
    assert any(layer[0] == "expectations" for layer in there)


# -- the suites need no great-expectations to be built --------------------------------------------


def _suites_of(package: Path) -> dict:
    return suites_for(Package.open(package), [])


def _odd_schemas(package: Path) -> Path:
    """A copy whose schemas have vocabularies of numbers and booleans and a three-field key."""
    schema = json.loads((package / "schemas" / "exclusions.json").read_text(encoding="utf-8"))
    schema["fields"][5].setdefault("constraints", {})["enum"] = [1, 2.5, True, "x"]
    (package / "schemas" / "exclusions.json").write_text(json.dumps(schema), encoding="utf-8")
    return package


@pytest.mark.parametrize("which", ["real", "odd"])
def test_generated_suites_read_back_by_great_expectations_unchanged(which: str, tmp_path: Path):
    import great_expectations as gx

    package = REPO if which == "real" else _odd_schemas(copy_package(tmp_path / "package"))
    suites = _suites_of(package)
    assert len(suites) >= 9
    for name, suite in suites.items():
        assert suite["expectations"], name
        read_back = _clean(gx.ExpectationSuite(**copy.deepcopy(suite)).to_json_dict())
        assert read_back == suite, name


# -- when the worker cannot start, dies or fails ------------------------------------------------


def _failing_worker(script: str):
    def start(cls=None):
        errors = __import__("tempfile").TemporaryFile()
        process = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=errors)
        return gx_worker.Worker(process, errors)
    return start


def _layer_error(report) -> dict:
    findings = [f for layer in report.layers for f in layer.findings if f.code == "layer-error"]
    assert len(findings) == 1, findings
    return dataclasses.asdict(findings[0])


def test_a_worker_that_dies_is_a_layer_error_and_the_other_layers_still_report(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(gx_worker.Worker, "start", classmethod(_failing_worker(
        "import sys; sys.stderr.write('MemoryError: out of memory\\n'); sys.exit(3)")))
    package = copy_package(tmp_path / "package")
    header, rows = read_table(package, "claims")
    rows[0]["claim_type"] = "rumour"
    write_table(package, "claims", header, rows)
    report = api.validate_package(package, options=api.Options(gx_process=True))
    error = _layer_error(report)
    assert error["layer"] == "expectations" and error["severity"] == "error"
    assert "exit status 3" in error["message"] and "out of memory" in error["message"], error["message"]
    assert not report.valid
    assert [layer.layer for layer in report.layers] == ["structure", "rules", "expectations", "coverage", "metadata"]
    assert any(f.field == "claim_type" for layer in report.layers if layer.layer != "expectations" for f in layer.findings)


def test_a_worker_killed_mid_run_is_a_layer_error(tmp_path: Path, monkeypatch):
    submit = gx_worker.Worker.submit
    calls = []

    def submit_then_kill(self, call, **arguments):
        calls.append(call)
        if len(calls) == 3:
            self.process.send_signal(signal.SIGKILL)
        return submit(self, call, **arguments)

    monkeypatch.setattr(gx_worker.Worker, "submit", submit_then_kill)
    docs = tmp_path / "docs"
    docs.mkdir()
    report = api.validate_package(REPO, options=api.Options(gx_process=True, data_docs=docs))
    error = _layer_error(report)
    assert "killed by signal 9" in error["message"], error["message"]
    assert len(calls) >= 3
    assert list(docs.iterdir()) == [] and [p.name for p in tmp_path.iterdir()] == ["docs"], "no half-built site"


def test_a_worker_that_cannot_start_leaves_the_layer_to_this_process(tmp_path: Path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no processes left")

    monkeypatch.setattr(gx_worker.tempfile, "TemporaryFile", refuse)  # no temporary folder
    assert gx_worker.Worker.start() is None
    monkeypatch.undo()
    monkeypatch.setattr(sys, "frozen", True, raising=False)  # a frozen app: sys.executable is the app
    assert gx_worker.Worker.start() is None
    monkeypatch.undo()
    monkeypatch.setattr(gx_worker.subprocess, "Popen", refuse)
    assert gx_worker.Worker.start() is None
    report = api.validate_package(REPO, options=api.Options(gx_process=True))
    assert report.valid and _expectations(_outcome(report))[1] > 90


def test_a_call_that_fails_in_the_worker_raises_with_its_kind_and_the_worker_goes_on():
    worker = gx_worker.Worker.start()
    try:
        first = worker.submit("format_disk")
        with pytest.raises(gx_worker.WorkerFailed) as failed:
            worker.result(first)
        assert failed.value.kind == "ValueError" and "unknown call" in str(failed.value)
        import polars as pl

        frame = pl.DataFrame({"a": ["x", None]})
        suite = {"name": "t", "meta": {}, "notes": None}
        expectation = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}, "meta": {},
                       "description": "a is required", "severity": "critical"}
        answer = worker.result(worker.submit("validate", name="t", suite=suite, expectations=[expectation],
                                             frame=frame, labels=["a"], numeric=False, parameters=None))
        assert answer["checks"] == 1
        assert [item["result"]["unexpected_index_list"] for item in answer["failed"]] == [[1]]
    finally:
        worker.close()
    assert worker.process.returncode == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal is Linux's")
def test_the_worker_dies_with_its_parent_even_by_kill_9(tmp_path: Path):
    script = ("import os, signal, sys\n"
              "from nkru.layers import gx_worker\n"
              "worker = gx_worker.Worker.start()\n"
              "print(worker.process.pid, flush=True)\n"
              "os.kill(os.getpid(), signal.SIGKILL)\n")
    parent = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert parent.returncode == -signal.SIGKILL
    pid = int(parent.stdout.split()[0])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except FileNotFoundError:
            return  # gone
        if state in ("Z", "X"):
            return  # dead, waiting to be reaped
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    pytest.fail(f"worker {pid} outlived its parent")


# -- when a worker is started --------------------------------------------------------------------


def test_when_a_worker_is_started(monkeypatch):
    package = Package.open(REPO)
    names = api.select_layers()
    monkeypatch.delenv(gx_worker.IN_PROCESS_ENV, raising=False)
    monkeypatch.delitem(sys.modules, "great_expectations", raising=False)  # (restored after the test)
    monkeypatch.setattr(gx_worker, "usable_cpus", lambda: 2)
    started = []
    monkeypatch.setattr(gx_worker.Worker, "start", classmethod(lambda cls: started.append(1) or "worker"))
    assert api._start_gx_worker(package, names, api.Options()) == "worker"  # small, import not paid: yes
    assert api._start_gx_worker(package, [n for n in names if n != "expectations"], api.Options()) is None
    assert api._start_gx_worker(package, names, api.Options(gx_process=False)) is None
    monkeypatch.setattr(gx_worker, "AUTO_LIMIT", 1000)  # the real package's tables are larger
    assert api._start_gx_worker(package, names, api.Options()) is None
    assert api._start_gx_worker(package, names, api.Options(gx_process=True)) == "worker"  # asked for
    monkeypatch.setattr(gx_worker, "AUTO_LIMIT", 1 << 40)
    monkeypatch.setenv(gx_worker.IN_PROCESS_ENV, "1")
    assert api._start_gx_worker(package, names, api.Options()) is None
    monkeypatch.delenv(gx_worker.IN_PROCESS_ENV)
    monkeypatch.setitem(sys.modules, "great_expectations", object())  # already imported: no gain
    assert api._start_gx_worker(package, names, api.Options()) is None
    monkeypatch.delitem(sys.modules, "great_expectations")
    monkeypatch.setattr(gx_worker, "usable_cpus", lambda: 1)  # one core: nothing to overlap
    assert api._start_gx_worker(package, names, api.Options()) is None
    assert len(started) == 2


@pytest.mark.skipif(gx_worker.usable_cpus() < 2, reason="with one core the default is one process")
def test_by_default_a_fresh_process_never_imports_great_expectations_itself():
    env = {k: v for k, v in os.environ.items() if k != gx_worker.IN_PROCESS_ENV}
    script = ("import sys\nfrom nkru.api import validate_package\n"
              f"report = validate_package({str(REPO)!r})\n"
              "layer = next(l for l in report.layers if l.layer == 'expectations')\n"
              "print(report.valid, layer.checks, 'great_expectations' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    valid, checks, imported = out.stdout.split()
    assert valid == "True" and int(checks) > 90 and imported == "False"


def test_in_process_flag(monkeypatch):
    from tests.helpers import run_cli

    seen = []
    monkeypatch.setattr(api, "_start_gx_worker", lambda package, names, options: seen.append(options.gx_process))
    assert run_cli("validate", str(REPO), "--only", "structure", "--in-process").exit_code == 0
    assert run_cli("validate", str(REPO), "--only", "structure").exit_code == 0
    assert seen == [False, None]


# -- messages --------------------------------------------------------------------------------------


def test_messages_round_trip_and_a_cut_message_is_the_end():
    stream = io.BytesIO()
    gx_worker._send(stream, {"call": "validate", "é": [1.5, None]}, b"\x00frame")
    gx_worker._send(stream, {})
    whole = stream.getvalue()
    stream.seek(0)
    assert gx_worker._receive(stream) == ({"call": "validate", "é": [1.5, None]}, b"\x00frame")
    assert gx_worker._receive(stream) == ({}, b"")
    assert gx_worker._receive(stream) is None
    for cut in (3, 20, len(whole) - 40):
        assert gx_worker._receive(io.BytesIO(whole[:cut])) is None


def test_the_worker_ends_after_the_run(monkeypatch):
    started = []
    start = gx_worker.Worker.start.__func__

    def keep(cls):
        started.append(start(cls))
        return started[-1]

    monkeypatch.setattr(gx_worker.Worker, "start", classmethod(keep))
    report = api.validate_package(REPO, options=api.Options(gx_process=True))
    assert report.valid and len(started) == 1
    deadline = time.monotonic() + 30
    while started[0].process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started[0].process.returncode == 0


def test_the_worker_never_imports_code_from_the_folder_nkru_runs_in(tmp_path: Path, monkeypatch):
    """A stranger's package may hold a folder called nkru; running `nkru validate` inside it must not run it."""
    marker = tmp_path / "ran"
    trap = tmp_path / "nkru"
    (trap / "layers").mkdir(parents=True)
    planted = f"open({str(marker)!r}, 'w').write('planted code ran')\n"
    for module in ("__init__.py", "layers/__init__.py", "layers/gx_worker.py"):
        (trap / module).write_text(planted, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    report = api.validate_package(REPO, options=api.Options(gx_process=True))
    assert report.valid and _expectations(_outcome(report))[1] > 90
    assert not marker.exists()


def test_the_command_waits_for_its_worker_and_leaves_no_process_behind():
    env = {k: v for k, v in os.environ.items() if k != gx_worker.IN_PROCESS_ENV}
    script = ("import os, sys\n"
              f"sys.argv = ['nkru', 'validate', {str(REPO)!r}]\n"
              "from nkru.cli import main\n"
              "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
              "from nkru.layers import gx_worker\n"
              "try:\n    os.waitpid(-1, os.WNOHANG)\n    left = 'a child'\n"
              "except ChildProcessError:\n    left = 'none'\n"
              "print(code, left, file=sys.stderr)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.stderr.split()[-2:] == ["0", "none"], out.stderr[-2000:]
    assert "valid" in out.stdout


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                     max_leaves=20)


@given(headers=st.lists(st.dictionaries(st.text(), _JSON, max_size=5), min_size=1, max_size=4),
       payloads=st.lists(st.binary(max_size=200), min_size=4, max_size=4), cut=st.integers(min_value=0))
def test_any_messages_round_trip_and_any_cut_ends_cleanly(headers, payloads, cut):
    stream = io.BytesIO()
    for header, payload in zip(headers, payloads):
        gx_worker._send(stream, header, payload)
    whole = stream.getvalue()
    stream.seek(0)
    assert [gx_worker._receive(stream) for _ in headers] == list(zip(headers, payloads[:len(headers)]))
    assert gx_worker._receive(stream) is None
    cut %= len(whole)
    partial = io.BytesIO(whole[:cut])
    received = []
    while (message := gx_worker._receive(partial)) is not None:
        received.append(message)
    assert received == list(zip(headers, payloads))[:len(received)]  # whole messages only, in order


def test_output_printed_while_the_worker_starts_is_skipped(tmp_path: Path, monkeypatch):
    """A sitecustomize that prints (before the worker can set its standard output aside) changes nothing."""
    (tmp_path / "sitecustomize.py").write_text("print('hello from sitecustomize', flush=True)\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    report = api.validate_package(REPO, options=api.Options(gx_process=True))
    assert report.valid and _expectations(_outcome(report))[1] > 90


def test_a_worker_that_never_starts_is_a_layer_error(monkeypatch):
    monkeypatch.setattr(gx_worker.Worker, "start", classmethod(_failing_worker(
        "import sys; sys.stdout.write('x' * 100); sys.stdout.flush()")))  # output, but never the marker
    report = api.validate_package(REPO, options=api.Options(gx_process=True))
    assert "exit status 0" in _layer_error(report)["message"]


def test_a_garbled_stream_is_the_end_not_a_hang():
    stream = io.BytesIO(gx_worker._HEADER.pack(1 << 62, 0) + b"{}")
    with pytest.raises(ValueError, match="not the worker's"):
        gx_worker._receive(stream)
