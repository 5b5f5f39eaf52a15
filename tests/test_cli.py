"""The command line as a whole: argument order, flags shown as flags, output that fits the terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nkru.cli import COMMANDS
from tests.conftest import copy_package
from tests.helpers import run_cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_shows_boolean_flags_as_flags(name):
    result = run_cli(name, "--help")
    assert result.exit_code == 0, result.output
    assert "--help" in result.stdout
    assert "<bool>" not in result.stdout and "bool" not in re.findall(r"<(\w+)>", result.stdout)
    # Every boolean option of the command is listed, with no value placeholder after it.
    from typer.main import get_command

    command = get_command(__import__("nkru.cli", fromlist=["app"]).app).commands[name]
    flags = [opt for p in command.params if getattr(p, "is_flag", False) and not getattr(p, "hidden", False) for opt in p.opts]
    for flag in flags:
        line = next(line for line in result.stdout.splitlines() if flag in line)
        assert not re.search(re.escape(flag) + r"\s+<", line), line


def test_packaged_commands_take_path_last_and_output_as_an_option():
    from typer.main import get_command

    app = __import__("nkru.cli", fromlist=["app"]).app
    for name, command in get_command(app).commands.items():
        arguments = [p.name for p in command.params if p.param_type_name == "argument" and not getattr(p, "hidden", False)]
        if "path" in arguments:  # what a command acts on (a version, a file) comes first, the package last
            assert arguments[-1] == "path", (name, arguments)
        assert "out" not in arguments, name


def test_report_in_the_old_argument_order_is_a_clear_usage_error(tmp_path, package_copy):
    out = tmp_path / "out"
    result = run_cli("report", str(out), str(package_copy), "--no-validate")
    assert result.exit_code == 2
    assert "nkru report PATH --out DIR" in result.stderr
    assert not out.exists()
    # One positional that is not a package: the error says which order the command expects.
    result = run_cli("report", str(out), "--no-validate")
    assert result.exit_code == 2 and "--out DIR" in result.stderr
    assert not out.exists()


@pytest.mark.slow
def test_coverage_lines_are_not_wrapped_when_piped(tmp_path):
    deep = tmp_path / ("a-rather-long-folder-name-for-a-package-" * 3) / "package"
    package = copy_package(deep)
    assert len(str(package)) > 100
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("FORCE_COLOR", None)
    done = subprocess.run([sys.executable, "-m", "nkru", "coverage", str(package)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    summary = [line for line in lines if "coverage passed" in line]
    assert summary and summary[0].startswith(str(package)), lines
    assert all(len(line) <= 80 for line in lines if not line.startswith(str(package)))
