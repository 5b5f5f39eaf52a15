"""The loader: frames typed from the Table Schemas, and clear errors for cells that do not parse."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from tests.helpers import REPO, covering, line_of, read_table, set_cell
from nkru.api import load
from nkru.loader import LoadError, PackageInvalid, read_package


def _schemas() -> dict[str, dict]:
    """resource -> Table Schema, read from the real descriptor (never a hand list)."""
    descriptor = json.loads((REPO / "datapackage.json").read_text(encoding="utf-8"))
    return {res["name"]: json.loads((REPO / res["schema"]).read_text(encoding="utf-8")) for res in descriptor["resources"]}


SCHEMAS = _schemas()
FIELDS = [(resource, f) for resource, schema in SCHEMAS.items() for f in schema["fields"]]
#: The column the loader derives for a resource with date_start and date_end (not in the CSV).
EDTF = "date_edtf"


def loaded_names(resource: str) -> list[str]:
    """The columns a loaded (or exported) resource has: the schema's fields, then the derived ones."""
    names = [f["name"] for f in SCHEMAS[resource]["fields"]]
    return names + ([EDTF] if {"date_start", "date_end"} <= set(names) else [])
FIELD_IDS = [f"{resource}.{f['name']}" for resource, f in FIELDS]


def _csv_rows(package: Path, resource: str) -> list[dict[str, str]]:
    return read_table(package, resource)[1]


def _has_rows(resource: str) -> bool:
    path = REPO / "data" / f"{resource}.csv"
    return path.is_file() and len(_csv_rows(REPO, resource)) > 0


# -- the README examples (kept here verbatim and run against a copy of the real package) -------------

README_PANDAS = '''
import pandas as pd
from nkru import load

data = load(".")                                  # resource name -> DataFrame: data.claims, data["denials"], ...
names = data.actors.set_index("actor_id")["name"]
arms = data.events[data.events.event_type.isin(["arms_transfer", "arms_negotiation"])]
claims = data.claims[data.claims.event_id.isin(arms.event_id)]

# A denial answers one claim (claim_id set) or the whole event (claim_id empty).
denials = data.denials
direct = denials.dropna(subset=["claim_id"])
whole_event = claims[["claim_id", "event_id"]].merge(
    denials[denials.claim_id.isna()].drop(columns="claim_id"), on="event_id")
answers = pd.concat([direct, whole_event], ignore_index=True)

result = (
    claims.merge(arms[["event_id", "title"]], on="event_id")
    .merge(answers, on="claim_id", how="left", suffixes=("", "_denial"))
    .assign(claimant=lambda t: t.claimant_id.map(names), denier=lambda t: t.denier_id.map(names))
    [["title", "claim_id", "claimant", "quote", "denial_id", "denier", "response_type", "quote_denial"]]
)
'''

README_SQL = """
SELECT e.title, c.claim_id, claimant.name AS claimant, c.quote,
       d.denial_id, denier.name AS denier, d.response_type, d.quote AS denial_quote
FROM claims c
JOIN events e USING (event_id)
JOIN actors claimant ON claimant.actor_id = c.claimant_id
LEFT JOIN denials d ON d.event_id = c.event_id AND (d.claim_id = c.claim_id OR d.claim_id IS NULL)
LEFT JOIN actors denier ON denier.actor_id = d.denier_id
WHERE e.event_type IN ('arms_transfer', 'arms_negotiation')
ORDER BY e.date_start, c.claim_id
"""

ARMS_DATA = all(_has_rows(r) for r in ("events", "claims", "denials", "actors"))


def _expected_arms_claims(package: Path) -> set[str]:
    """Claims on arms events, computed from the CSV text (independently of the loader)."""
    arms = {r["event_id"] for r in _csv_rows(package, "events") if r["event_type"] in ("arms_transfer", "arms_negotiation")}
    return {r["claim_id"] for r in _csv_rows(package, "claims") if r["event_id"] in arms}


@pytest.mark.skipif(not ARMS_DATA, reason="the curated tables have not landed yet")
def test_readme_pandas_example_answers_the_question(package_copy, monkeypatch):
    monkeypatch.chdir(package_copy)
    namespace: dict = {}
    exec(compile(README_PANDAS, "README example", "exec"), namespace)
    result = namespace["result"]
    assert len(result) > 0
    assert set(result.claim_id) == _expected_arms_claims(package_copy)
    answered = result.dropna(subset=["denial_id"])
    denials = {r["denial_id"]: r for r in _csv_rows(package_copy, "denials")}
    for row in answered.itertuples():
        denial = denials[row.denial_id]
        assert denial["claim_id"] in ("", row.claim_id)  # answers this claim or the whole event


@pytest.mark.skipif(not ARMS_DATA, reason="the curated tables have not landed yet")
def test_readme_duckdb_example_on_the_csvs_and_on_the_export(package_copy, tmp_path, monkeypatch):
    import duckdb

    from nkru.export import export

    monkeypatch.chdir(package_copy)
    on_csv = duckdb.connect()
    for name in ("claims", "events", "actors", "denials"):
        on_csv.execute(f"CREATE VIEW {name} AS SELECT * FROM read_csv('data/{name}.csv')")
    from_csv = on_csv.sql(README_SQL).fetchall()
    result = export(package_copy, to="duckdb", out=tmp_path / "nkru.duckdb", check=False)
    with duckdb.connect(str(result.path), read_only=True) as con:
        from_export = con.sql(README_SQL).fetchall()
    assert len(from_export) > 0
    assert {row[1] for row in from_export} == _expected_arms_claims(package_copy)
    assert [row[1:5] for row in from_csv] == [row[1:5] for row in from_export]


def test_readme_pandas_example_matches_the_duckdb_example(package_copy, tmp_path, monkeypatch):
    if not ARMS_DATA:
        pytest.skip("the curated tables have not landed yet")
    import duckdb

    monkeypatch.chdir(package_copy)
    namespace: dict = {}
    exec(compile(README_PANDAS, "README example", "exec"), namespace)
    pairs_pandas = {(r.claim_id, None if pd.isna(r.denial_id) else r.denial_id) for r in namespace["result"].itertuples()}
    con = duckdb.connect()
    for name in ("claims", "events", "actors", "denials"):
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_csv('data/{name}.csv', all_varchar=true)")
    pairs_sql = {(row[1], row[4]) for row in con.sql(README_SQL).fetchall()}
    assert pairs_pandas == pairs_sql


# -- dtypes from the schemas ---------------------------------------------------


def _expected_pandas_dtype(field: dict):
    enum = (field.get("constraints") or {}).get("enum")
    if enum is not None:
        return pd.CategoricalDtype(categories=enum)
    return {
        "date": "datetime64[s]",
        "integer": "Int64",
        "year": "Int64",
        "number": "Float64",
        "boolean": "boolean",
    }.get(field["type"], "string")


def _expected_polars_dtype(field: dict):
    enum = (field.get("constraints") or {}).get("enum")
    if enum is not None:
        return pl.Enum(enum)
    return {"date": pl.Date, "integer": pl.Int64, "year": pl.Int64, "number": pl.Float64, "boolean": pl.Boolean}.get(field["type"], pl.String)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    from tests.conftest import copy_package

    package = copy_package(tmp_path_factory.mktemp("load") / "package")
    return package, load(package), load(package, engine="polars")


@pytest.mark.parametrize(("resource", "field"), FIELDS, ids=FIELD_IDS)
def test_pandas_dtype_follows_the_schema(loaded, resource, field):
    _, frames, _ = loaded
    column = frames[resource][field["name"]]
    expected = _expected_pandas_dtype(field)
    assert column.dtype == expected
    if isinstance(expected, pd.CategoricalDtype):
        assert list(column.cat.categories) == field["constraints"]["enum"]
        assert column.cat.ordered is False


@pytest.mark.parametrize(("resource", "field"), FIELDS, ids=FIELD_IDS)
def test_polars_dtype_follows_the_schema(loaded, resource, field):
    _, _, frames = loaded
    assert frames[resource].schema[field["name"]] == _expected_polars_dtype(field)


def _typed_text(value) -> str | None:
    """A loaded value back as the CSV would write it (None for missing)."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


@pytest.mark.parametrize("resource", list(SCHEMAS))
@pytest.mark.parametrize("engine", ["pandas", "polars"])
def test_loaded_values_equal_the_csv(loaded, resource, engine):
    package, frames_pd, frames_pl = loaded
    rows = _csv_rows(package, resource)
    names = [f["name"] for f in SCHEMAS[resource]["fields"]]
    if engine == "pandas":
        frame = frames_pd[resource]
        got = [[_typed_text(v) for v in record] for record in frame[names].astype(object).itertuples(index=False)]
    else:
        got = [[_typed_text(v) for v in record] for record in frames_pl[resource].select(names).iter_rows()]
    expected = [[row[n] or None for n in names] for row in rows]
    assert got == expected
    assert len(frames_pd[resource]) == len(rows)


def test_data_has_item_and_attribute_access_and_describes_the_package(loaded):
    package, frames, _ = loaded
    assert list(frames) == list(SCHEMAS)
    for name in SCHEMAS:
        assert frames[name] is getattr(frames, name)
    assert frames.version == json.loads((package / "datapackage.json").read_text())["version"]
    assert "claims" in dir(frames)
    with pytest.raises(KeyError, match="no resource 'nope'"):
        frames["nope"]
    with pytest.raises(AttributeError):
        frames.nope
    assert [f.name for f in frames.fields("claims")] == loaded_names("claims")


def test_missing_cells_are_missing_not_empty_strings_or_zero(loaded):
    package, frames, _ = loaded
    checked = 0
    for resource, schema in SCHEMAS.items():
        rows = _csv_rows(package, resource)
        for field in schema["fields"]:
            empties = sum(1 for r in rows if r[field["name"]] == "")
            assert int(frames[resource][field["name"]].isna().sum()) == empties, (resource, field["name"])
            checked += 1
    assert checked == len(FIELDS)


def test_resources_option_loads_only_those(package_copy):
    data = load(package_copy, resources=["sources"])
    assert list(data) == ["sources"]
    with pytest.raises(LoadError, match="unknown resource"):
        load(package_copy, resources=["nope"])


def test_unknown_engine_is_a_value_error(package_copy):
    with pytest.raises(ValueError, match="unknown engine"):
        load(package_copy, engine="spark")


@pytest.mark.slow
@pytest.mark.parametrize("order", ["submodule first", "package attribute first"])
def test_from_validate_import_load_is_callable_whatever_was_imported_first(package_copy, order):
    first = "import nkru.export\n" if order == "submodule first" else ""
    code = f"{first}from nkru import load\nprint(len(load({str(package_copy)!r})['sources']))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(_csv_rows(package_copy, "sources"))


# -- bad input raises LoadError naming file, line, field, value -----------------------------------

def _bad_values() -> list[tuple[str, str, str, str]]:
    """(resource, field, bad value, reason) for every typed or controlled field, from the schemas."""
    cases = []
    for resource, field in FIELDS:
        if not _has_rows(resource):
            continue
        name = field["name"]
        if (field.get("constraints") or {}).get("enum") is not None:
            cases.append((resource, name, "not_in_the_vocabulary", "controlled vocabulary"))
        if field["type"] == "date":
            cases.append((resource, name, "2024-02-30", "is not a date"))
            cases.append((resource, name, "22.11.2024", "is not a date"))
        if field["type"] == "integer":
            cases.append((resource, name, "1.5", "is not an integer"))
            cases.append((resource, name, "12a", "is not an integer"))
    return cases


BAD = _bad_values()


# The fast loop: each bad value and each engine once.
@pytest.mark.parametrize(("resource", "field", "value", "reason", "engine"), covering(
    [(*bad, engine) for engine in ["pandas", "polars"] for bad in BAD],
    lambda resource, field, value, reason, engine: value, lambda resource, field, value, reason, engine: engine,
    ids=[f"{engine}-{r}.{f}={v}" for engine in ["pandas", "polars"] for r, f, v, _ in BAD]))
def test_a_cell_that_does_not_parse_raises_load_error(package_copy, resource, field, value, reason, engine):
    rows = _csv_rows(package_copy, resource)
    index = len(rows) - 1
    line = set_cell(package_copy, resource, index, field, value)
    with pytest.raises(LoadError) as caught:
        load(package_copy, engine=engine)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.path, error.line, error.field, error.value, error.resource) == (f"data/{resource}.csv", line, field, value, resource)
    message = str(error)
    assert f"data/{resource}.csv line {line}" in message and repr(field) in message and repr(value) in message
    assert reason in message


def test_every_bad_cell_is_listed(package_copy):
    rows = _csv_rows(package_copy, "claims")
    if len(rows) < 2:
        pytest.skip("claims has fewer than two rows")
    first = set_cell(package_copy, "claims", 0, "date_start", "2024-13-01")
    second = set_cell(package_copy, "claims", 1, "quantity", "many")
    with pytest.raises(LoadError) as caught:
        load(package_copy)
    assert [(p.line, p.field) for p in caught.value.problems] == [(first, "date_start"), (second, "quantity")]


def test_a_row_with_too_few_cells_raises(package_copy):
    path = package_copy / "data" / "sources.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.append("S999,only three,cells\n")
    path.write_text("".join(lines), encoding="utf-8")
    line = len(lines)
    with pytest.raises(LoadError, match=rf"data/sources.csv line {line}: row has 3 cells"):
        load(package_copy)


def test_a_header_that_does_not_match_the_schema_raises(package_copy):
    header, rows = read_table(package_copy, "sources")
    path = package_copy / "data" / "sources.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(header[1], "headline", 1), encoding="utf-8")
    with pytest.raises(LoadError) as caught:
        load(package_copy)
    assert caught.value.line == 1 and caught.value.path == "data/sources.csv"
    assert "missing title" in str(caught.value) and "not in the schema: headline" in str(caught.value)


def test_a_missing_file_raises(package_copy):
    (package_copy / "data" / "sources.csv").unlink()
    with pytest.raises(LoadError, match=r"data/sources.csv: no such file \(resource 'sources'\)"):
        load(package_copy)


def test_invalid_utf8_names_the_line(package_copy):
    path = package_copy / "data" / "sources.csv"
    data = path.read_bytes().splitlines(keepends=True)
    data[2] = data[2].replace(b"S00", b"S\xff0", 1)
    path.write_bytes(b"".join(data))
    with pytest.raises(LoadError, match=r"data/sources.csv line 3: is not valid utf-8"):
        load(package_copy)


def test_no_package_raises_package_error(tmp_path):
    from nkru.package import PackageError

    with pytest.raises(PackageError):
        load(tmp_path)


def test_validate_option_refuses_a_package_that_loads_but_does_not_validate(package_copy):
    if not _has_rows("claims"):
        pytest.skip("claims has no rows yet")
    line = set_cell(package_copy, "claims", 0, "event_id", "E999")  # well typed, but no such event
    assert len(load(package_copy).claims) == len(_csv_rows(package_copy, "claims"))  # fast path: types only
    with pytest.raises(PackageInvalid) as caught:
        load(package_copy, validate=["structure"])
    assert isinstance(caught.value, LoadError)
    assert any(p.line == line and p.path == "data/claims.csv" and "foreign-key" in p.reason for p in caught.value.problems)
    assert not caught.value.report.valid


def test_quoted_cells_spanning_lines_report_the_line_the_row_starts_on(package_copy):
    rows = _csv_rows(package_copy, "sources")
    set_cell(package_copy, "sources", 0, "notes", "first line\nsecond line\nthird line")
    line = set_cell(package_copy, "sources", 1, "date_start", "2024-99-99")
    assert line == line_of(package_copy, "sources", 1) and line > 3
    with pytest.raises(LoadError) as caught:
        load(package_copy)
    assert caught.value.line == line
    assert len(rows) >= 2


def test_read_package_gives_python_values_and_file_lines(package_copy):
    package = read_package(package_copy)
    sources = package.tables["sources"]
    with open(package_copy / "data" / "sources.csv", encoding="utf-8", newline="") as handle:
        raw = list(csv.DictReader(handle))
    assert [row["source_id"] for row in sources.typed_rows()] == [r["source_id"] for r in raw]
    assert all(hasattr(row["date_start"], "isoformat") for row in sources.typed_rows())
    assert list(sources.lines) == [line_of(package_copy, "sources", i) for i in range(len(raw))]
    order = package.dependency_order()
    for table in package.tables.values():
        for fk in table.foreign_keys:
            if fk.resource != table.name:
                assert order.index(fk.resource) < order.index(table.name)


# -- one CSV reader (review A1/A6/C1): encoding, BOM, dialect and strict quoting come from nkru.package -------


def _set_resource(package: Path, resource: str, **changes) -> None:
    path = package / "datapackage.json"
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    for res in descriptor["resources"]:
        if res["name"] == resource:
            res.update(changes)
    path.write_text(json.dumps(descriptor, ensure_ascii=False, indent=2), encoding="utf-8")


def test_a_utf8_bom_is_tolerated(package_copy):
    path = package_copy / "data" / "sources.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    sources = read_package(package_copy, resources=["sources"]).tables["sources"]
    assert [r["source_id"] for r in sources.typed_rows()] == [r["source_id"] for r in _csv_rows(REPO, "sources")]


def test_the_declared_encoding_is_honoured_and_bad_cells_still_found(package_copy):
    index = len(_csv_rows(package_copy, "sources")) - 1
    set_cell(package_copy, "sources", index, "title", "Größe – Ärger")
    path = package_copy / "data" / "sources.csv"
    utf8 = path.read_text(encoding="utf-8")
    path.write_bytes(utf8.encode("cp1252"))
    _set_resource(package_copy, "sources", encoding="cp1252")
    assert read_package(package_copy, resources=["sources"]).tables["sources"].values["title"][index] == "Größe – Ärger"
    path.write_text(utf8, encoding="utf-8")
    line = set_cell(package_copy, "sources", index, "date_start", "2024-13-40")  # the helper writes UTF-8 ...
    path.write_bytes(path.read_text(encoding="utf-8").encode("cp1252"))  # ... back to the declared encoding
    with pytest.raises(LoadError) as caught:
        read_package(package_copy, resources=["sources"])
    error = caught.value
    assert (error.path, error.line, error.field, error.value) == ("data/sources.csv", line, "date_start", "2024-13-40")


def test_the_dialect_is_honoured(package_copy):
    header, rows = read_table(package_copy, "sources")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, delimiter=";", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    (package_copy / "data" / "sources.csv").write_text(buffer.getvalue(), encoding="utf-8")
    _set_resource(package_copy, "sources", dialect={"delimiter": ";"})
    sources = read_package(package_copy, resources=["sources"]).tables["sources"]
    assert [r["source_id"] for r in sources.typed_rows()] == [r["source_id"] for r in rows]


def test_an_unterminated_quote_raises_with_its_line(package_copy):
    path = package_copy / "data" / "sources.csv"
    text = path.read_text(encoding="utf-8").rstrip("\n")
    line = text.count("\n") + 2
    path.write_text(text + '\nS999,"cut off here\n', encoding="utf-8")
    with pytest.raises(LoadError) as caught:
        load(package_copy, resources=["sources"])
    assert caught.value.path == "data/sources.csv" and caught.value.line == line
    assert "malformed CSV" in str(caught.value) and f"data/sources.csv line {line}" in str(caught.value)


def test_an_unknown_encoding_is_a_load_error(package_copy):
    _set_resource(package_copy, "sources", encoding="no-such-codec")
    with pytest.raises(LoadError, match="unknown encoding 'no-such-codec'"):
        load(package_copy, resources=["sources"])


@pytest.mark.parametrize(("mutation", "expected"), covering([
    ("primaryKey", None), ("foreignKeys", None), ("constraints", None), ("missingValues", None), ("name", "must be a string"),
], lambda mutation, expected: expected))
def test_a_malformed_schema_shape_is_no_traceback(package_copy, mutation, expected):
    """Malformed shapes are the structure layer's to report; loading skips them or names the problem."""
    schema_path = package_copy / "schemas" / "claims.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    if mutation == "primaryKey":
        schema["primaryKey"] = 5
    elif mutation == "foreignKeys":
        schema["foreignKeys"] = [{"fields": "event_id", "reference": "events"}]
    elif mutation == "constraints":
        schema["fields"][0]["constraints"] = "no"
    elif mutation == "missingValues":
        schema["missingValues"] = 5
    else:
        _set_resource(package_copy, "claims", name=5)
    schema_path.write_text(json.dumps(schema), encoding="utf-8")
    if expected is None:
        table = read_package(package_copy).tables["claims"]
        assert len(table) == len(_csv_rows(package_copy, "claims"))
    else:
        with pytest.raises(LoadError, match=expected):
            read_package(package_copy)


@pytest.mark.parametrize("resource", [name for name in SCHEMAS if EDTF in loaded_names(name)])
@pytest.mark.parametrize("engine", ["pandas", "polars"])
def test_a_dated_resource_loads_its_range_as_an_edtf_string(loaded, resource, engine):
    """date_edtf is derived column-wise; here it is checked against the scalar rule and an EDTF parser's bounds."""
    from datetime import date

    from nkru import dates

    package, frames_pd, frames_pl = loaded
    rows = _csv_rows(package, resource)
    got = frames_pd[resource][EDTF].tolist() if engine == "pandas" else frames_pl[resource][EDTF].to_list()
    assert len(got) == len(rows) > 0
    kinds = set()
    for row, text in zip(rows, got):
        start, end = (date.fromisoformat(row[c]) if row[c] else None for c in ("date_start", "date_end"))
        assert text == dates.edtf(start, end)
        if start is None or end is None:  # an open bound: an EDTF open interval, precision range
            kinds.add("open")
            assert text == f"{row['date_start'] or '..'}/{row['date_end'] or '..'}" and row["date_precision"] == "range"
            continue
        kinds.add(dates.span_precision(start, end))
        assert kinds and (("/" in text) == (row["date_precision"] == "range"))
        lower, _, upper = text.partition("/")
        if upper:
            assert (lower, upper) == (row["date_start"], row["date_end"])
        else:
            assert row["date_start"].startswith(lower) and row["date_end"].startswith(lower)


def test_edtf_is_not_added_twice_or_to_undated_resources(loaded):
    _, frames, _ = loaded
    for name in SCHEMAS:
        assert list(frames[name].columns).count(EDTF) == (1 if EDTF in loaded_names(name) else 0)
