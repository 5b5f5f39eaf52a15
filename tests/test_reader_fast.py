"""The reader's fast path (polars' Rust CSV reader) reads every file exactly as the exact path
(Python's `csv`, the tokenizer frictionless uses) does, or steps aside.

`read_fast` returns None when it cannot prove the two agree; when it returns a table, header,
cells, row lines, widths and blank lines must equal the exact path's, and the exact path must not
have refused the file. Fuzzed over raw text from a CSV-hostile alphabet and over well-formed CSV
with one random edit. Budget: `NKRU_READER_EXAMPLES` per strategy (default 300, about a second each).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nkru.reader as reader
from nkru.package import Package
from nkru.reader import ReadError, read_csv_stream, read_fast, read_resource

EXAMPLES = int(os.environ.get("NKRU_READER_EXAMPLES", "300"))
REPO = Path(__file__).resolve().parents[1]
TAKEN: dict[str, int] = {"fast": 0, "fallback": 0}


def exact(data: bytes):
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", errors="strict", newline="")
    try:
        return read_csv_stream(stream, name="t", path="t.csv")
    except (ReadError, UnicodeDecodeError) as exc:
        return exc


def shape(table) -> tuple:
    return (table.header, table.columns, table.text.rows(), list(table.lines), list(table.widths),
            list(table.record_lines), table.blank_runs)


def agree(data: bytes) -> None:
    fast = read_fast(io.BytesIO(data), name="t", path="t.csv", dialect={})
    original = reader._SCAN_BYTES
    reader._SCAN_BYTES = 3  # the same file scanned in 3-byte chunks: every carry across chunks is exercised
    try:
        small = read_fast(io.BytesIO(data), name="t", path="t.csv", dialect={})
    finally:
        reader._SCAN_BYTES = original
    assert (small is None) == (fast is None), data
    if fast is None:
        TAKEN["fallback"] += 1
        return
    TAKEN["fast"] += 1
    reference = exact(data)
    assert not isinstance(reference, Exception), f"fast path read {data!r}, which the exact path refuses: {reference}"
    assert shape(fast) == shape(reference), data


ALPHABET = st.sampled_from(["a", "b", "é", "ß", ",", '"', "\n", "\r", "\r\n", " ", ";", "\t", "\ufeff", "\x00", "1"])


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(ALPHABET, max_size=60).map("".join))
def test_raw_text_is_read_alike_or_handed_over(text: str) -> None:
    agree(text.encode("utf-8"))


CELL = st.lists(st.sampled_from(["a", "é", ",", '"', "\n", "\r\n", "\r", " ", "x"]), max_size=6).map("".join)


@st.composite
def csv_files(draw) -> bytes:
    width = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(CELL, min_size=width, max_size=width), min_size=1, max_size=6))
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
                        lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerows(rows)
    data = buffer.getvalue()
    if draw(st.booleans()) and data.endswith("\n"):
        data = data.rstrip("\r\n")  # no final line break
    if draw(st.booleans()):  # one random edit: insert, delete or replace a character
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.sampled_from([",", '"', "\n", "\r", "x", ""]))
        data = data[:at] + char + data[at + (edit != "insert"):]
    return (draw(st.sampled_from(["", "\ufeff"])) + data).encode("utf-8")


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(csv_files())
def test_written_csv_with_one_edit_is_read_alike_or_handed_over(data: bytes) -> None:
    agree(data)


def test_the_fuzzers_exercised_both_paths() -> None:
    """Run after the two fuzzers (file order): both paths must have been taken, or they tested nothing."""
    if TAKEN["fast"] + TAKEN["fallback"] == 0:
        pytest.skip("run together with the fuzz tests above")
    assert TAKEN["fast"] > 0 and TAKEN["fallback"] > 0, TAKEN


@pytest.mark.parametrize(("data", "why"), [
    (b"a,b\n1\n", "a short row: polars pads it"),
    (b"a,b\n1,2\n\n3,4\n", "a blank line: polars reads a row of empty cells"),
    (b'a,b\nx"y,2\n', "a bare quote: polars refuses what csv keeps"),
    (b"a,b\r1,2\r", "lone CR line ends: polars does not split there"),
    (b'a,b\n"x,2\n', "an unterminated quote"),
    (b'a,b\n"x"y,2\n', "a character after a closing quote"),
    (b"a,b\n1,2,3\n", "a long row"),
    (b"a,b\n\xff,2\n", "not UTF-8"),
    (b"ab\n1\n", "one column: a blank line would be invisible"),
    (b',"""', "a quote left open at the end of the file, after an escaped quote: polars ends the cell"),
    (b'""x"",\n,\n', "a character after an empty quoted cell: polars keeps it"),
    (b'\xef\xbb\xbfa,"b\n', "a quote left open after a byte-order mark"),
])
def test_hands_over_what_it_cannot_read_alike(data: bytes, why: str) -> None:
    assert read_fast(io.BytesIO(data), name="t", path="t.csv", dialect={}) is None, why


@pytest.mark.parametrize("dialect", [{"doublequote": False, "escapechar": "\\"}, {"delimiter": "\n"}, {"quotechar": ","}])
def test_other_dialects_take_the_exact_path(dialect: dict) -> None:
    assert read_fast(io.BytesIO(b"a,b\n1,2\n"), name="t", path="t.csv", dialect=dialect) is None


def test_every_table_of_the_real_package_takes_the_fast_path_and_reads_alike(tmp_path: Path) -> None:
    package = Package.open(REPO)
    checked = 0
    for name, spec in package.resources.items():
        data = (REPO / spec.path).read_bytes()
        fast = read_fast(io.BytesIO(data), name=name, path=spec.path, dialect={})
        if data.count(b"\n") < 2:
            continue  # a header-only table (retractions) has nothing to compare
        assert fast is not None, name
        assert shape(fast) == shape(exact(data)), name
        checked += 1
    assert checked >= 6


def test_a_semicolon_dialect_is_read_fast(tmp_path: Path) -> None:
    data = b'a;b\n"x;y";2\n'
    table = read_resource(io.BytesIO(data), name="t", path="t.csv", dialect={"delimiter": ";"})
    assert table.text.rows() == [("x;y", "2")] and list(table.lines) == [2]
    assert read_fast(io.BytesIO(data), name="t", path="t.csv", dialect={"delimiter": ";"}) is not None


def test_crlf_split_across_scan_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CRLF whose CR ends one 16 MiB scan chunk and whose LF starts the next is still one line end."""
    monkeypatch.setattr(reader, "_SCAN_BYTES", 5)
    data = b"ab,c\r\nd,e\r\n"  # chunks "ab,c\r", "\nd,e\r", "\n": every CR ends a chunk
    table = read_fast(io.BytesIO(data), name="t", path="t.csv", dialect={})
    assert table is not None and table.text.rows() == [("d", "e")] and list(table.lines) == [2]


def test_a_last_record_longer_than_the_comparison_window_takes_the_exact_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "_LAST_RECORD_BYTES", 1 << 16)
    data = b'a,b\n1,"' + b"\n" * 300_000 + b'"\n'  # one record of 300,000 lines
    assert read_fast(io.BytesIO(data), name="t", path="t.csv", dialect={}) is None
    table = reader.read_resource(io.BytesIO(data), name="t", path="t.csv")
    assert list(table.lines) == [2] and table.text.rows() == [("1", "\n" * 300_000)]
