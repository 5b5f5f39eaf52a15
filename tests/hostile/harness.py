"""The promise every command keeps for any input, and the machinery to check it.

For any package: every command exits 0, 1 or 2 within a bounded time, prints no traceback and no
raw control or bidi character, keeps its JSON output valid JSON, and writes nothing outside its
output folder. `run()` runs one command in-process (the CLI app, as the console script does) under a
time limit enforced by SIGALRM (a blocking read is interrupted too), and `check_promise()` asserts
the promise for what it did.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nkru.text import UNSAFE_CHARACTERS

#: Seconds one command may take on a small hostile package (generous: 2 shared cores).
TIME_LIMIT = int(os.environ.get("NKRU_HOSTILE_TIME_LIMIT", "120"))
#: Every command the promise covers, and how each is run against a package copy.
COMMANDS = ("validate", "coverage", "export", "report", "codebook", "diff")
_RAW = set(UNSAFE_CHARACTERS) - {"\n"}


class Timeout(Exception):
    """The command did not finish within TIME_LIMIT seconds."""


@dataclass
class Outcome:
    command: str
    args: list[str]
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None
    out: Path

    def __str__(self) -> str:  # shown when an assertion fails
        return (f"nkru {' '.join(self.args)} -> {self.exit_code} ({self.exception!r})\n"
                f"stdout: {self.stdout[-1500:]}\nstderr: {self.stderr[-1500:]}")


def args_for(command: str, package: Path, out: Path, base: Path, *, fmt: str = "json", export_to: str = "sqlite") -> list[str]:
    """Command-line arguments running `command` on `package`, writing only under `out`."""
    return {
        "validate": ["validate", str(package), "--format", fmt],
        "coverage": ["coverage", str(package), "--format", "json" if fmt == "json" else "text"],
        "export": ["export", "--format", export_to, "--out", str(out / f"export-{export_to}") + "/", str(package)],
        "report": ["report", str(package), "--out", str(out / "report"), "--no-validate"],
        "codebook": ["codebook", str(package), "--out", str(out / "codebook.md")],
        "diff": ["diff", str(base), str(package), "--format", "json" if fmt == "json" else "markdown"],
    }[command]


@contextlib.contextmanager
def time_limit(seconds: int):
    def expired(signum, frame):
        raise Timeout(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run(command: str, package: Path, out: Path, base: Path, **options: Any) -> Outcome:
    """Run one command in-process with a time limit (Timeout is raised, never swallowed)."""
    from typer.testing import CliRunner

    from nkru.cli import app

    args = args_for(command, package, out, base, **options)
    with time_limit(TIME_LIMIT):
        result = CliRunner().invoke(app, args)
    if isinstance(result.exception, Timeout):
        raise result.exception
    exception = result.exception if not isinstance(result.exception, SystemExit) else None
    return Outcome(command, args, result.exit_code, result.stdout, result.stderr, exception, out)


def tree(root: Path, skip: Path | None = None) -> dict[str, tuple]:
    """Every path under `root` (not following links) with its type, size and modification time."""
    found = {}
    for path in sorted(root.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        info = path.lstat()
        found[path.relative_to(root).as_posix()] = (stat.S_IFMT(info.st_mode), info.st_size, info.st_mtime_ns)
    return found


def check_promise(outcome: Outcome, before: dict[str, tuple], root: Path) -> None:
    """Assert the promise for one finished command (`before` = tree(root, outcome.out) before it ran)."""
    assert outcome.exception is None, f"uncaught {outcome.exception!r}\n{outcome}"
    assert outcome.exit_code in (0, 1, 2), str(outcome)
    for stream in (outcome.stdout, outcome.stderr):
        assert "Traceback (most recent call last)" not in stream, str(outcome)
        raw = sorted({f"U+{ord(c):04X}" for c in stream if c in _RAW})
        assert not raw, f"raw control/bidi characters {raw} in the output\n{outcome}"
    if "--format" in outcome.args and outcome.args[outcome.args.index("--format") + 1] == "json" and outcome.exit_code != 2:
        json.loads(outcome.stdout)  # JSON output stays valid JSON
    assert tree(root, outcome.out) == before, f"wrote outside its output folder\n{outcome}"
    for written in outcome.out.rglob("*"):  # what it wrote is valid for its format (issue 21)
        if written.suffix in (".md", ".html", ".json") and written.is_file() and not written.is_symlink():
            text = written.read_bytes().decode("utf-8")  # valid UTF-8: no lone surrogate got through
            raw = sorted({f"U+{ord(c):04X}" for c in text if c in _RAW and c not in "\t\r"})
            assert not raw, f"raw control/bidi characters {raw} in {written.name}\n{outcome}"
            if written.suffix == ".json":
                json.loads(text)
            if written.suffix == ".md":
                live = re.search(r"<script|<img|(?<!\\)\]\(\s*javascript:", text, re.IGNORECASE)
                assert live is None, f"live markup {live.group()!r} in {written.name}"
    leftovers = [p.name for p in outcome.out.rglob("*") if any(m in p.name for m in (".nkru-staged", ".nkru-old", ".nkru-release"))]
    assert not leftovers, f"temporary files left behind: {leftovers}"


# -- mutations: each case is a small diff against a copy of the real package ---------------------


def _pointer(document: Any, pointer: list) -> tuple[Any, Any]:
    for key in pointer[:-1]:
        document = document[key]
    return document, pointer[-1]


def mutate(package: Path, step: dict[str, Any]) -> None:
    """Apply one mutation (see tests/hostile/README.md for the operations)."""
    op = step["op"]
    path = package / step["path"] if "path" in step else None
    if op == "fifo":
        path.unlink(missing_ok=True)
        os.mkfifo(path)
    elif op == "socket":
        import socket

        path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    elif op == "symlink":
        path.unlink(missing_ok=True)
        path.symlink_to(step["target"])
    elif op == "delete":
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    elif op == "write":
        data = bytes.fromhex(step["hex"]) if "hex" in step else step["text"].encode("utf-8")
        path.write_bytes(data * step.get("repeat", 1))
    elif op == "append":
        data = bytes.fromhex(step["hex"]) if "hex" in step else step["text"].encode("utf-8")
        with open(path, "ab") as handle:
            handle.write(data * step.get("repeat", 1))
    elif op == "replace":
        text = path.read_text(encoding="utf-8")
        assert step["old"] in text, f"{step['old']!r} not in {path}"
        path.write_text(text.replace(step["old"], step["new"] * step.get("repeat", 1), 1), encoding="utf-8")
    elif op in ("json_set", "json_nest", "json_delete"):
        document = json.loads(path.read_text(encoding="utf-8"))
        parent, key = _pointer(document, step["pointer"])
        if op == "json_delete":
            del parent[key]
        elif op == "json_set":
            parent[key] = step["value"] * step["repeat"] if "repeat" in step else step["value"]
        else:
            parent[key] = "@@nested@@"  # written as text: json.dumps itself cannot nest this deep
        text = json.dumps(document, ensure_ascii=False)
        if op == "json_nest":
            text = text.replace('"@@nested@@"', "[" * step["depth"] + "0" + "]" * step["depth"], 1)
        path.write_text(text, encoding="utf-8")
    elif op == "set_cell":
        from tests.helpers import set_cell

        set_cell(package, step["resource"], step["row"], step["field"], step["value"] * step.get("repeat", 1))
    else:
        raise ValueError(f"unknown mutation {op!r}")
