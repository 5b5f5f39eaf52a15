"""Hostile environments (issue 21), in real subprocesses: a locale that is not UTF-8, a closed or broken
stdout/stderr, HOME unset. Each command gives correct output or one clear line, never a traceback.

Lone surrogates in the data reach stdout as `\\uXXXX` escapes, so JSON output stays valid UTF-8 JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NKRU = [sys.executable, "-m", "nkru"]
pytestmark = pytest.mark.slow  # a subprocess per locale, stream and environment
#: Python's own rescue of the C locale (PEP 538 coercion, PEP 540 UTF-8 mode) switched off: the streams
#: really are ASCII, as on a system without a C.UTF-8 locale.
ASCII_LOCALE = {"LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
#: No Latin-1 locale need be installed: the stream encoding is what a Latin-1 locale gives Python.
LATIN1 = {"LANG": "de_DE.ISO-8859-1", "PYTHONIOENCODING": "latin-1", "PYTHONUTF8": "0"}


def _env(**changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PYTHONIOENCODING", "PYTHONUTF8", "NKRU_DEBUG"))}
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _run(args: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(NKRU + args, env=env, capture_output=True, timeout=300, **kw)


def _no_traceback(result: subprocess.CompletedProcess) -> None:
    err = result.stderr.decode("utf-8", "replace") if isinstance(result.stderr, bytes) else (result.stderr or "")
    assert "Traceback" not in err and "internal error" not in err, err[-2000:]
    assert "Exception ignored" not in err, err[-2000:]


@pytest.fixture(scope="module")
def surrogate_package(tmp_path_factory) -> Path:
    """A copy whose descriptor title and one field type hold lone surrogate escapes (a finding shows the type)."""
    from tests.conftest import copy_package

    package = copy_package(tmp_path_factory.mktemp("surrogates") / "package")
    descriptor = package / "datapackage.json"
    text = descriptor.read_text(encoding="utf-8")
    descriptor.write_text(text.replace('"title": "', '"title": "\\ud800 ', 1), encoding="utf-8")
    schema = package / "schemas" / "retractions.json"
    text = schema.read_text(encoding="utf-8")
    schema.write_text(text.replace('"type": "string"', '"type": "str\\udfffing"', 1), encoding="utf-8")
    return package


@pytest.mark.parametrize("locale", [ASCII_LOCALE, LATIN1], ids=["C", "latin-1"])
def test_cite_and_diff_and_json_under_a_locale_that_is_not_utf8(locale, package_copy):
    env = _env(**locale)
    cite = _run(["cite", str(package_copy)], env)
    _no_traceback(cite)
    assert cite.returncode == 0
    out = cite.stdout.decode("ascii" if locale is ASCII_LOCALE else "latin-1")
    assert "North Korea\\u2013Russia" in out  # the en dash the locale cannot hold, as a visible escape
    diff = _run(["diff", str(package_copy), str(package_copy), "--format", "json"], env)
    _no_traceback(diff)
    assert diff.returncode == 0
    json.loads(diff.stdout)
    validate = _run(["validate", str(package_copy), "--format", "json", "--only", "structure,metadata"], env)
    _no_traceback(validate)
    report = json.loads(validate.stdout)  # escapes decode back: still the package's own text
    assert report["package"] == str(package_copy)


def test_json_output_is_valid_utf8_json_with_lone_surrogates_in_the_data(surrogate_package):
    result = _run(["validate", str(surrogate_package), "--format", "json", "--only", "structure"], _env())
    _no_traceback(result)
    assert result.returncode == 1
    report = json.loads(result.stdout.decode("utf-8"))  # strict UTF-8, then valid JSON
    assert any("\\udfff" in (f["message"] or "") for f in report["findings"]), report["findings"][:3]


def test_a_closed_stdout_is_not_a_traceback(package_copy):
    result = subprocess.run(["sh", "-c", '"$@" >&-', "sh", *NKRU, "validate", str(package_copy), "--only", "structure"],
                            env=_env(), capture_output=False, stderr=subprocess.PIPE, timeout=300)
    _no_traceback(result)
    assert result.returncode == 0  # the package is valid: the exit code still says so


def test_a_closed_stderr_is_not_a_traceback(tmp_path):
    result = subprocess.run(["sh", "-c", '"$@" 2>&-', "sh", *NKRU, "validate", str(tmp_path / "missing")],
                            env=_env(), stdout=subprocess.PIPE, timeout=300)
    assert result.returncode == 2  # no package: a usage error, said on a stream nobody reads
    assert b"Traceback" not in result.stdout


def test_a_pipe_closed_early_is_not_a_traceback(package_copy):
    process = subprocess.Popen(NKRU + ["validate", str(package_copy), "--format", "json", "--only", "structure"],
                               env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader goes away before anything was written (`| head -0`)
    _, err = process.communicate(timeout=300)
    assert "Traceback" not in err.decode("utf-8", "replace") and b"Exception ignored" not in err, err[-2000:]
    assert process.returncode == 0


def test_home_unset(package_copy, tmp_path):
    env = _env(HOME=None)
    for args in (["validate", str(package_copy), "--only", "structure,metadata"], ["cite", str(package_copy)],
                 ["codebook", str(package_copy), "--out", str(tmp_path / "codebook.md")]):
        result = _run(args, env)
        _no_traceback(result)
        assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_stdout_is_one_clear_line(package_copy):
    with open("/dev/full", "w") as full:
        result = subprocess.run(NKRU + ["validate", str(package_copy), "--only", "structure"], env=_env(),
                                stdout=full, stderr=subprocess.PIPE, timeout=300)
    _no_traceback(result)
    lines = result.stderr.decode("utf-8").splitlines()
    assert lines == ["error: standard output could not be written (No space left on device); the output is incomplete"]
    assert result.returncode == 2  # an incomplete report never passes for a valid package's
