"""A property-based fuzzer: mutate bytes, JSON structure and CSV structure of a copy of the real package,
run a command on it, and assert the promise (tests/hostile/harness.py): exit 0/1/2 within the time
limit, no traceback, no raw control or bidi characters, JSON output valid, nothing written outside
the output folder, no temporary files left.

Budget: `NKRU_FUZZ_EXAMPLES` examples per command (default 3, so CI stays fast); run a large budget
locally, e.g. `NKRU_FUZZ_EXAMPLES=300 pytest tests/hostile/test_fuzz.py`. A failing example is
shrunk by hypothesis and printed (the mutation and the command).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import copy_package
from tests.hostile.harness import COMMANDS, check_promise, run, tree
from tests.helpers import REPO, RESOURCES

pytestmark = pytest.mark.slow  # every command on many mutated packages, in processes of their own

EXAMPLES = int(os.environ.get("NKRU_FUZZ_EXAMPLES", "3"))
JSON_FILES = ["datapackage.json", *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "schemas").glob("*.json"))]
CSV_FILES = [f"data/{name}.csv" for name in RESOURCES]
#: The JSON documents as they are when the tests start (strategies must not depend on files that change).
DOCUMENTS = {path: json.loads((REPO / path).read_text(encoding="utf-8")) for path in JSON_FILES}
ANY_FILES = [*JSON_FILES, *CSV_FILES, "data/sources/S001.txt", "CITATION.cff", "CHANGELOG.md"]

HOSTILE_TEXT = st.sampled_from([
    "", " ", "../../escaped", "/etc/passwd", "javascript:alert(1)", "\u202eevil", "\x1b[2J", "\x00", "a\r\nb",
    "=HYPERLINK(\"http://x\")", "\n=1+1", "9999-12-31", "0000-00-00", "2024-02-30", "NaN", "-1", "1e309",
    "<script>alert(1)</script>", "'; DROP TABLE claims; --", "x" * 40000, "\ud800", "a\udfffb", "claims\n",
    "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))", "\u2066\u202e", " \n@SUM(A1)", "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | HOSTILE_TEXT | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def _paths(document, prefix=()):
    """Every JSON pointer (as a tuple) in a document."""
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _paths(value, prefix + (index,))


@st.composite
def byte_mutation(draw):
    return ("bytes", draw(st.sampled_from(ANY_FILES)), draw(st.sampled_from(["flip", "insert", "delete", "truncate"])),
            draw(st.floats(0, 1)), draw(st.binary(min_size=1, max_size=8)))


@st.composite
def json_mutation(draw):
    path = draw(st.sampled_from(JSON_FILES))
    pointers = list(_paths(DOCUMENTS[path]))
    pointer = draw(st.sampled_from(pointers[1:]))
    action = draw(st.sampled_from(["set", "delete", "nest"]))
    return ("json", path, list(pointer), action, draw(JSON_VALUES) if action == "set" else draw(st.integers(1, 3000)))


@st.composite
def csv_mutation(draw):
    path = draw(st.sampled_from(CSV_FILES))
    action = draw(st.sampled_from(["cell", "drop-column", "add-column", "duplicate-row", "blank-lines", "unterminated",
                                   "short-row", "long-row", "swap-header"]))
    return ("csv", path, action, draw(st.floats(0, 1)), draw(st.floats(0, 1)), draw(HOSTILE_TEXT), draw(st.integers(1, 500)))


def apply(package: Path, mutation: tuple) -> None:
    """Apply one mutation; one that an earlier mutation made impossible (the file no longer parses, the
    JSON pointer is gone) is skipped: the file is broken already."""
    try:
        _apply(package, mutation)
    except (ValueError, KeyError, IndexError, TypeError, UnicodeError, csv.Error, FileNotFoundError, RecursionError):
        pass


def _apply(package: Path, mutation: tuple) -> None:
    kind, path = mutation[0], package / mutation[1]
    if kind == "bytes":
        _, _, action, where, data = mutation
        content = bytearray(path.read_bytes())
        at = int(where * len(content))
        if action == "flip" and content:
            for offset, byte in enumerate(data):
                if at + offset < len(content):
                    content[at + offset] ^= byte or 0xFF
        elif action == "insert":
            content[at:at] = data
        elif action == "delete":
            del content[at:at + len(data)]
        else:
            del content[at:]
        path.write_bytes(bytes(content))
    elif kind == "json":
        _, _, pointer, action, value = mutation
        text = path.read_text(encoding="utf-8")
        document = json.loads(text)
        parent = document
        for key in pointer[:-1]:
            parent = parent[key]
        if action == "delete":
            del parent[pointer[-1]]
        else:
            parent[pointer[-1]] = "@@value@@"
        text = json.dumps(document, ensure_ascii=False)
        if action == "set":  # a lone surrogate is written as JSON writes it: an escape
            text = text.replace('"@@value@@"', json.dumps(value, ensure_ascii=not _encodable(value)), 1)
        elif action == "nest":
            text = text.replace('"@@value@@"', "[" * value + "]" * value, 1)
        path.write_text(text, encoding="utf-8")
    else:
        _, _, action, row_at, column_at, text, count = mutation
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
        header = rows[0]
        row = min(len(rows) - 1, 1 + int(row_at * (len(rows) - 1)))
        column = min(len(header) - 1, int(column_at * len(header)))
        if action == "cell" and len(rows) > 1:
            rows[row][column] = text
        elif action == "drop-column":
            rows = [r[:column] + r[column + 1:] for r in rows]
        elif action == "add-column":
            rows = [r[:column] + [text if i else "extra"] + r[column:] for i, r in enumerate(rows)]
        elif action == "duplicate-row" and len(rows) > 1:
            rows.insert(row, list(rows[row]))
        elif action == "short-row" and len(rows) > 1:
            rows[row] = rows[row][:column]
        elif action == "long-row" and len(rows) > 1:
            rows[row] = rows[row] + [text] * count
        elif action == "swap-header":
            header[0], header[column] = header[column], header[0]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        out = buffer.getvalue()
        if action == "blank-lines":
            out += "\n" * count
        elif action == "unterminated":
            out += '"' + text
        path.write_text(out, encoding="utf-8", errors="surrogatepass")


def _encodable(value) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


MUTATIONS = st.one_of(byte_mutation(), json_mutation(), csv_mutation())


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return copy_package(tmp_path_factory.mktemp("fuzz-base") / "package")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_keeps_the_promise_on_mutated_packages(command, base):
    checked = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(mutations=st.lists(MUTATIONS, min_size=1, max_size=3))
    def example(mutations):
        with tempfile.TemporaryDirectory(prefix="nkru-fuzz-") as temp:
            root = Path(temp)
            package = copy_package(root / "package")
            for mutation in mutations:
                apply(package, mutation)
            out = root / "out"
            out.mkdir()
            before = tree(root, out)
            outcome = run(command, package, out, base)
            check_promise(outcome, before, root)
            checked.append(outcome.exit_code)

    example()
    assert len(checked) >= min(EXAMPLES, 1)  # the property really ran
