"""Output is valid for its format whatever the input, and small inputs cost bounded work (issue 21).

Each test builds its hostile package from a copy of the real one (tests/conftest.py `package_copy`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.helpers import run_cli, set_cell

pytestmark = pytest.mark.slow  # every command on hostile packages


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (old, path)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# -- Markdown: schema descriptions are text, not markup --------------------------------------------------


def test_the_codebook_escapes_markup_and_control_characters_in_schema_text(package_copy, tmp_path):
    from nkru import codebook

    schema = package_copy / "schemas" / "claims.json"
    _replace(schema, '"description": "Who asserts',
             '"description": "<script>alert(1)</script><img src=x onerror=alert(1)> [x](javascript:alert(1)) '
             '\\u0000\\u001b[2J\\u202eevil | Who asserts')
    _replace(schema, '"title": "Claim ID"', '"title": "Claim `x` \\u2066<b>ID</b>"')
    markdown = codebook.to_markdown(codebook.build(package_copy))
    for live in ("<script", "<img", "<b>", "[x](javascript:", "\x00", "\x1b", "\u202e", "\u2066"):
        assert live not in markdown, live
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    # visible escapes (the backslash itself escaped for Markdown), and no extra table column
    assert "\\\\u0000\\\\u001b\\[2J\\\\u202eevil \\| Who asserts" in markdown
    row = next(line for line in markdown.splitlines() if line.startswith("| `claim_id`"))
    assert row.count(" | ") == 6  # seven columns, as the header has


def test_a_code_span_cannot_be_broken_out_of(package_copy):
    from nkru import codebook

    assert codebook._code("a`<b>") == "<code>a`&lt;b&gt;</code>"
    assert codebook._code("x|y") == "`x\\|y`"
    assert codebook._code("x|y", table=False) == "`x|y`"
    assert codebook._code("a\nb") == "`a\\u000ab`"


# -- exports: any text the target can store ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["sqlite", "duckdb", "parquet", "xlsx"])
def test_every_export_stores_lone_surrogates_as_escapes(fmt, package_copy, tmp_path):
    from nkru import extras
    from nkru.export import NEEDS

    try:
        extras.require("export", f"nkru export --format {fmt}", NEEDS[fmt])
    except extras.MissingExtra:
        pytest.skip(f"the export extra for {fmt} is not installed")
    _replace(package_copy / "datapackage.json", '"title": "', '"title": "\\ud83d ')
    _replace(package_copy / "schemas" / "claims.json", '"title": "Claim ID"', '"title": "Claim \\udc00 ID"')
    _replace(package_copy / "schemas" / "claims.json", '"description": "Who asserts', '"description": "\\ud800 Who asserts')
    result = run_cli("export", "--format", fmt, "--out", str(tmp_path / "out") + "/", str(package_copy))
    assert result.exit_code == 0, result.stderr
    assert "internal error" not in result.stderr
    if fmt == "sqlite":
        metadata = json.loads(next((tmp_path / "out").glob("*.metadata.json")).read_text(encoding="utf-8"))
        assert "\\ud83d" in json.dumps(metadata, ensure_ascii=False)


def test_safejson_reads_a_lone_surrogate_escape_as_text_and_a_pair_as_one_character():
    from nkru import safejson

    data = safejson.loads('{"a\\ud800": ["x\\uDC00y", "\\ud83d\\ude00"]}')
    assert data == {"a\\ud800": ["x\\udc00y", "\U0001f600"]}
    json.dumps(data, ensure_ascii=False).encode("utf-8")  # storable


# -- bad names and paths -----------------------------------------------------------------------------------


def test_a_nul_byte_in_a_resource_path_is_a_finding(package_copy):
    _replace(package_copy / "datapackage.json", '"path": "data/claims.csv"', '"path": "data/claims\\u0000.csv"')
    result = run_cli("validate", str(package_copy), "--only", "structure", "--format", "json")
    assert result.exit_code == 1, result.stderr
    messages = [f["message"] for f in json.loads(result.stdout)["findings"]]
    assert any("U+0000 in path" in m and "claims" in m for m in messages), messages


def test_a_resource_name_with_a_final_newline_is_refused_and_never_a_table(package_copy, tmp_path):
    _replace(package_copy / "datapackage.json", '"name": "retractions"', '"name": "retractions\\n"')
    result = run_cli("validate", str(package_copy), "--only", "structure", "--format", "json")
    assert result.exit_code == 1
    assert "resource-name" in {f["code"] for f in json.loads(result.stdout)["findings"]}
    result = run_cli("export", "--no-validate", "--format", "sqlite", "--out", str(tmp_path / "out") + "/", str(package_copy))
    assert result.exit_code == 1 and "retractions\\n" in result.stderr, result.stderr
    assert not list((tmp_path / "out").glob("*.sqlite")) if (tmp_path / "out").exists() else True


# -- formula prefixes after leading whitespace -----------------------------------------------------------------


def test_formula_prefix_is_found_after_leading_whitespace_and_line_breaks():
    from nkru.layers.rules import formula_prefix

    assert formula_prefix("\n=1+1") == "="
    assert formula_prefix(" \r\n @SUM(A1)") == "@"
    assert formula_prefix("\t1") == "\t"
    assert formula_prefix("a = b") is None and formula_prefix("   ") is None


def test_the_xlsx_export_quotes_a_formula_behind_a_newline(package_copy, tmp_path):
    pytest.importorskip("openpyxl")
    import openpyxl

    set_cell(package_copy, "events", 0, "title", "\n=1+1")
    set_cell(package_copy, "events", 1, "title", "  @SUM(A1)")
    result = run_cli("export", "--format", "xlsx", "--out", str(tmp_path / "out") + "/", str(package_copy))
    assert result.exit_code == 0, result.stderr
    book = openpyxl.load_workbook(next((tmp_path / "out").glob("*.xlsx")))
    cells = [cell for row in book["events"].iter_rows() for cell in row if cell.value in ("\n=1+1", "  @SUM(A1)")]
    assert len(cells) == 2
    assert all(cell.data_type == "s" and cell.quotePrefix for cell in cells)


# -- bounded work on small inputs ------------------------------------------------------------------------------

#: Nine aliases nine deep: 9^9 (387 million) values from a few hundred bytes.
ALIAS_BOMB = "x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"x-{name}: &{name} [{', '.join(['*' + previous] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi"))


def test_a_yaml_alias_bomb_in_citation_cff_is_refused_at_once(package_copy):
    from nkru.metadata import MetadataError, load_cff

    assert len(ALIAS_BOMB) < 2048
    cff = package_copy / "CITATION.cff"
    cff.write_text(cff.read_text(encoding="utf-8") + ALIAS_BOMB, encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(MetadataError, match="aliases expand to more than"):
        load_cff(cff.read_text(encoding="utf-8"))
    result = run_cli("validate", str(package_copy), "--only", "metadata", "--format", "json")
    assert time.perf_counter() - started < 20
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    assert any(f["code"] == "metadata-file-unreadable" and "aliases" in f["message"] for f in findings)
    result = run_cli("cite", str(package_copy))
    assert result.exit_code == 2 and "aliases expand" in result.stderr


def test_a_recursive_or_deep_yaml_document_is_refused():
    from nkru.metadata import MetadataError, load_cff

    with pytest.raises(MetadataError, match="contains itself"):
        load_cff("a: &a [*a]\n")
    with pytest.raises(MetadataError):
        load_cff("a: " + "[" * 200 + "]" * 200 + "\n")
    assert load_cff("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}  # a few aliases are fine


def test_a_deeply_nested_manifest_is_one_clear_error_in_release_verify(package_copy):
    import shutil

    from tests.helpers import REPO

    shutil.copytree(REPO / "releases", package_copy / "releases")
    manifest = package_copy / "releases" / "1.1.0.json"
    manifest.write_text('{"x": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    result = run_cli("release", "--verify", "1.1.0", str(package_copy))
    assert result.exit_code == 2, result.stderr
    assert "nests arrays and objects" in result.stderr and "internal error" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_garbage_rows_give_capped_findings(package_copy):
    from nkru.limits import MAX_FINDINGS_PER_CHECK

    claims = package_copy / "data" / "claims.csv"
    width = claims.read_text(encoding="utf-8").splitlines()[0].count(",") + 1
    with open(claims, "a", encoding="utf-8") as handle:
        for index in range(MAX_FINDINGS_PER_CHECK + 500):
            handle.write(",".join(f"g{index}x{column}" for column in range(width)) + "\n")
    result = run_cli("validate", str(package_copy), "--only", "structure", "--format", "json")
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    capped = [f for f in findings if f["code"] == "findings-capped"]
    assert capped and all("data/claims.csv" in f["message"] for f in capped)
    counts: dict[str, int] = {}
    for f in findings:
        counts[f["code"]] = counts.get(f["code"], 0) + 1
    assert max(n for code, n in counts.items() if code != "findings-capped") <= MAX_FINDINGS_PER_CHECK


@pytest.mark.parametrize("old, new", [('"name": "retractions"', '"name": "retractions\\n"'),
                                      ('"path": "data/claims.csv"', '"path": "data/claims\\u0000.csv"')],
                         ids=["newline-name", "nul-path"])
def test_the_report_never_aborts_on_bad_names_and_paths(old, new, package_copy, tmp_path):
    """In a real process: an abort (exit 134, a library's panic) cannot be caught in-process."""
    import os
    import subprocess
    import sys

    _replace(package_copy / "datapackage.json", old, new)
    for args in (["report", str(package_copy), "--out", str(tmp_path / "report")],
                 ["export", "--no-validate", "--format", "duckdb", "--out", str(tmp_path / "duckdb") + "/", str(package_copy)]):
        result = subprocess.run([sys.executable, "-m", "nkru", *args], capture_output=True, timeout=300)
        err = result.stderr.decode("utf-8", "replace")
        assert result.returncode in (0, 1, 2), (result.returncode, err[-2000:])
        assert "Traceback" not in err and "internal error" not in err, err[-2000:]


def test_the_finding_budget_counts_what_it_drops_and_lists_it_once():
    import nkru.layers.rules  # noqa: F401 - defines text-whitespace
    from nkru.findings import Finding, LayerResult, finding_budget

    with finding_budget(3) as budget:
        made = [Finding.make("text-whitespace", resource="claims", path="data/claims.csv", line=i, value=" x")
                for i in range(10)]
        other = [Finding.make("text-whitespace", resource="events", path="data/events.csv", line=2, value=" x")]
        result = budget.settle(LayerResult("structure", made + other), any_layer=False)
        result = budget.settle(result, any_layer=True)  # text-whitespace is the rules layer's: settled here
    assert [f.line for f in result.findings if f.code == "text-whitespace"] == [0, 1, 2, 2]
    capped = [f for f in result.findings if f.code == "findings-capped"]
    assert len(capped) == 1 and "7 more text-whitespace" in capped[0].message and capped[0].path == "data/claims.csv"
    assert Finding.make("text-whitespace", value=" x").message  # no budget outside: every finding is made


@pytest.mark.parametrize("fmt", ["text", "bibtex", "ris", "cff"])
def test_cite_prints_a_lone_surrogate_in_citation_cff_as_an_escape(fmt, package_copy):
    import re

    cff = package_copy / "CITATION.cff"
    text = cff.read_text(encoding="utf-8")
    cff.write_text(re.sub(r"^title: .*$", 'title: "\\\\ud800 x \\\\u202e"', text, count=1, flags=re.MULTILINE), encoding="utf-8")
    result = run_cli("cite", str(package_copy), "--format", fmt)
    assert result.exit_code == 0, result.stderr
    assert "internal error" not in result.stderr and "\u202e" not in result.stdout
    if fmt != "cff":  # the cff format prints the file as it is
        assert "ud800 x" in result.stdout
