"""The README's examples run as written, on the real package, and answer with rows."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.helpers import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_readme_has_the_two_setup_commands():
    (shell,) = [b for b in blocks("sh") if "nkru validate" in b]
    assert "pip install -e . && nkru validate" in shell
    assert "pip install -e '.[test]' && pytest" in shell
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -e '.[test]' && pytest" in ci


@pytest.mark.parametrize("code", [b for b in blocks("python") if "from nkru import load" in b])
def test_python_example_runs_and_finds_arms_claims(code):
    script = code + "\nprint(len(result), int(result.denial_id.notna().sum()))\n"
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr
    rows, answered = map(int, done.stdout.split()[-2:])
    assert rows > 0 and answered > 0


def test_duckdb_example_runs_on_the_csvs():
    import duckdb

    (sql,) = [b for b in blocks("sql") if "read_csv" in b]
    con = duckdb.connect()
    cwd = os.getcwd()
    try:
        os.chdir(REPO)
        *views, query = [s.strip() for s in sql.split(";") if s.strip()]
        for statement in views:
            con.execute(statement)
        rows = con.execute(query).fetchall()
    finally:
        os.chdir(cwd)
        con.close()
    assert rows and any(row[4] is not None for row in rows)  # some claims are answered by a denial
