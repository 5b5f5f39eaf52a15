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


VENV = "python3 -m venv .venv && . .venv/bin/activate && "


def test_readme_has_the_two_setup_commands_and_ci_runs_the_test_command_exactly():
    (shell,) = [b for b in blocks("sh") if "nkru validate" in b]
    commands = [line for line in shell.splitlines() if line and not line.startswith("#")]
    assert commands[0] == VENV + "pip install -e . && nkru validate"
    assert commands[1].startswith(VENV) and commands[1].endswith("-e '.[test]' && pytest")
    test_command = commands[1].removeprefix(VENV)
    assert "-c \"requirements/py$(python" in test_command  # the lock of the Python that runs it
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    last = [line for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")][-1]
    assert last == test_command
    assert "-m venv" in ci  # .ci/run makes the fresh venv itself


def test_the_lock_the_test_command_picks_exists_for_this_python():
    (shell,) = [b for b in blocks("sh") if "nkru validate" in b]
    test_command = [line for line in shell.splitlines() if "pytest" in line][0].removeprefix(VENV)
    # Run the command's own substitution in a shell (not the install): it must name a lock that exists.
    (lock,) = re.findall(r'pip install -c ("requirements/py\$\(.*\)\.txt") ', test_command)
    done = subprocess.run(["bash", "-c", f"printf %s {lock}"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"})
    assert done.returncode == 0 and done.stdout == f"requirements/py{sys.version_info[0]}.{sys.version_info[1]}.txt"
    assert (REPO / done.stdout).is_file()


def test_readme_install_sizes_are_measured_for_each_extra():
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    table = re.findall(r"^\| `pip install (nkru|'nkru\[(\w+)\]')` \| (\d+) \| (\d+) \|$", README, flags=re.M)
    measured = {extra or "base": int(size) for _, extra, size, _ in table}
    assert set(measured) == {"base", *extras}, measured
    assert all(measured["base"] < size for name, size in measured.items() if name != "base")
    script = (REPO / "benchmarks" / "install_sizes.sh").read_text(encoding="utf-8")
    assert "du -sm" in script and "-m venv" in script and "requirements/py" in script


@pytest.mark.slow
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


def _r_unavailable() -> str | None:
    import shutil

    if shutil.which("Rscript") is None:
        return "Rscript not found (Debian: apt-get install r-base-core r-cran-readr r-cran-jsonlite)"
    probe = subprocess.run(["Rscript", "-e", "library(readr); library(jsonlite)"], capture_output=True, text=True)
    if probe.returncode != 0:
        return "the R packages readr and jsonlite are not installed (Debian: r-cran-readr r-cran-jsonlite)"
    return None


@pytest.mark.slow
@pytest.mark.parametrize("code", [b for b in blocks("r") if "read_resource" in b])
def test_r_example_reads_types_from_the_schemas_and_agrees_with_pandas(code, tmp_path):
    reason = _r_unavailable()
    if reason:
        pytest.skip(reason)
    assert "col_date" in code and "constraints$enum" in code and "date_precision" not in code  # no hand-written types
    report = code + '''
cat("classes", class(data$claims$date_start), class(data$events$event_type), class(data$claims$quantity), "\\n")
cat("levels", levels(data$claims$date_precision), "\\n")
for (i in seq_len(nrow(result))) cat("pair", result$claim_id[i], ifelse(is.na(result$denial_id[i]), "-", result$denial_id[i]), "\\n")
'''
    script = tmp_path / "example.R"
    script.write_text(report, encoding="utf-8")
    done = subprocess.run(["Rscript", str(script)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    classes = next(line for line in lines if line.startswith("classes")).split()[1:]
    assert classes == ["Date", "factor", "integer"]
    import json

    schema = json.loads((REPO / "schemas" / "claims.json").read_text(encoding="utf-8"))
    (precision,) = [f for f in schema["fields"] if f["name"] == "date_precision"]
    assert next(line for line in lines if line.startswith("levels")).split()[1:] == precision["constraints"]["enum"]
    r_pairs = sorted(tuple(line.split()[1:]) for line in lines if line.startswith("pair"))

    (python,) = [b for b in blocks("python") if "from nkru import load" in b]
    done = subprocess.run([sys.executable, "-c", python + "\nfor c, d in zip(result.claim_id, result.denial_id): "
                           "print('pair', c, '-' if pd.isna(d) else d)\n"], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr
    py_pairs = sorted(tuple(line.split()[1:]) for line in done.stdout.splitlines() if line.startswith("pair"))
    assert r_pairs and r_pairs == py_pairs
    assert any(denial != "-" for _, denial in r_pairs)


@pytest.mark.slow
def test_get_the_data_comes_first_and_its_commands_work_as_written(tmp_path):
    """The README's first section says where a release is, how to rebuild it and how to check it; its
    commands run as written on a release made in a temporary repository (a copy of the real package)."""
    import shutil

    from tests.conftest import copy_package
    from tests.helpers import git, init_repo
    from nkru import release

    assert re.findall(r"^## (.*)$", README, flags=re.M)[0] == "Get the data"
    section = README.split("## Get the data", 1)[1].split("\n## ", 1)[0]
    assert "GitHub release of\n  the tag `vX.Y.Z`" in section and "repository-code" in section
    assert "OWNER" not in README
    rebuild, check = [b for b in re.findall(r"```sh\n(.*?)```", section, flags=re.S)]
    rebuild_command = rebuild.strip()
    check_commands = [line.split("#")[0].strip() for line in check.strip().splitlines()]
    assert rebuild_command == "nkru release --verify 1.0.0 --out dist"
    assert check_commands == ["sha256sum -c SHA256SUMS", "nkru release --verify nkru-1.0.0.zip"]
    assert (REPO / "releases" / "1.0.0.json").is_file()  # the version the README names was released

    repo = init_repo(copy_package(tmp_path / "clone"), commit="the package")
    plan = release.plan_release(repo, "1.0.0", date="2026-11-30", validate=False)
    release.write_release(plan)
    shutil.rmtree(repo / "dist")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Release 1.0.0")
    nkru = [sys.executable, "-m", "nkru"]

    def run(command: str, cwd) -> subprocess.CompletedProcess:
        words = command.split()
        argv = nkru + words[1:] if words[0] == "nkru" else words
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True)

    built = run(rebuild_command, repo)
    assert built.returncode == 0, built.stderr
    download = tmp_path / "download"
    download.mkdir()
    for name in ("nkru-1.0.0.zip", "SHA256SUMS"):
        shutil.copy(repo / "dist" / name, download / name)
    shutil.copy(repo / "releases" / "1.0.0.json", download / "nkru-1.0.0.manifest.json")  # as the GitHub release has it
    if shutil.which("sha256sum"):
        assert run(check_commands[0], download).returncode == 0
    verified = run(check_commands[1], download)
    assert verified.returncode == 0, verified.stderr
    assert "is nkru 1.0.0" in verified.stdout
