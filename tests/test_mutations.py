"""The mutation corpus: every Table Schema constraint, every rule and the classic whole-file mistakes, each
broken once in a copy of the real package, gives exactly ONE finding, by the layer that owns that kind of
mistake (`nkru.layers.OWNS`), with no folding step merging duplicates afterwards.

What counts as a finding of a mutation: every error, and every warning the unbroken copy does not give (the
copy always warns that it has no release to compare IDs with and no repository URL). So a mistake that is a
warning (a byte-order mark) is one finding too, and a mistake may not hide behind an extra warning.

The schema mutations are generated from the package's own Table Schemas (one per resource, field and
constraint, plus each primary and foreign key and each non-string type), so a constraint added to a schema is
broken here without editing this file; the rules, coverage and metadata mutations are written out, one per
finding code of those layers that the real package can be made to break.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from nkru.api import Options, validate_package
from nkru.findings import CONSEQUENCES
from nkru import layers as layer_registry
from tests.conftest import copy_package
from tests.helpers import REPO, read_table, write_table

pytestmark = pytest.mark.slow  # every mutation validates a whole copy of the package (the full run and CI include it)

#: The layers the corpus runs: every layer, so that a second owner anywhere shows.
LAYERS_UNDER_TEST = layer_registry.names()

DESCRIPTOR = json.loads((REPO / "datapackage.json").read_text(encoding="utf-8"))
SCHEMAS = {r["name"]: json.loads((REPO / r["schema"]).read_text(encoding="utf-8"))
           for r in DESCRIPTOR["resources"] if isinstance(r.get("schema"), str)}


@dataclass(frozen=True)
class Mutation:
    name: str
    code: str  # the one finding's code
    apply: Callable[[Path], None]
    severity: str = "error"
    #: validated against the unbroken copy as the previous release (`--baseline`), so the stable-ID checks run
    baseline: bool = False

    def __repr__(self) -> str:  # the test id
        return self.name


# -- editing a copy --------------------------------------------------------------------------------------


def rows_of(root: Path, resource: str) -> tuple[list[str], list[dict[str, str]]]:
    return read_table(root, resource)


def edit(resource: str, index: int, **cells: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        header, rows = rows_of(root, resource)
        rows[index].update(cells)
        write_table(root, resource, header, rows)
    return apply


def _references() -> dict[str, set[str]]:
    """resource -> the key values some row elsewhere points at (foreign keys and retractions' replaced_by)."""
    refs: dict[str, set[str]] = {name: set() for name in SCHEMAS}
    for name, schema in SCHEMAS.items():
        _, rows = rows_of(REPO, name)
        for fk in schema.get("foreignKeys", []):
            target = fk["reference"].get("resource") or name
            refs[target].update(r[fk["fields"][0]] for r in rows if r[fk["fields"][0]])
    _, retractions = rows_of(REPO, "retractions")
    for name, schema in SCHEMAS.items():
        key = schema.get("primaryKey", [None])[0]
        _, rows = rows_of(REPO, name)
        keys = {r[key] for r in rows} if key else set()
        refs[name].update(r["replaced_by"] for r in retractions if r["replaced_by"] in keys)
    return refs


REFERENCED = _references()


def pick_row(resource: str, field: str | None = None) -> int:
    """The first row whose `field` is set and whose key nothing points at (else the first with `field` set)."""
    _, rows = rows_of(REPO, resource)
    key = SCHEMAS[resource].get("primaryKey", [None])
    single = key[0] if len(key) == 1 else None
    candidates = [i for i, r in enumerate(rows) if field is None or r[field]]
    free = [i for i in candidates if single is None or rows[i][single] not in REFERENCED[resource]]
    return (free or candidates)[0]


def other_value(resource: str, field: str, index: int) -> str:
    """A value of `field` that another row holds."""
    _, rows = rows_of(REPO, resource)
    return next(r[field] for i, r in enumerate(rows) if i != index and r[field] and r[field] != rows[index][field])


def unknown_key(pattern: str, taken: set[str], example: str) -> str:
    """A value that matches `pattern` (the key's own) and is not in `taken`."""
    for number in range(999, 0, -1):
        candidate = re.sub(r"[0-9]+$", str(number), example)
        if re.fullmatch(pattern, candidate) and candidate not in taken:
            return candidate
    raise AssertionError(f"no free value for {pattern}")


BAD_TYPE = {"date": "31.12.2024", "integer": "12a", "number": "1,2,3", "boolean": "maybe", "year": "MMXX",
            "datetime": "yesterday"}


# -- the schema mutations, generated from the schemas --------------------------------------------------------


def schema_mutations() -> list[Mutation]:
    out: list[Mutation] = []
    for resource, schema in SCHEMAS.items():
        header, rows = rows_of(REPO, resource)
        if not rows:
            continue
        primary = schema.get("primaryKey", [])
        for spec in schema["fields"]:
            field = spec["name"]
            constraints = spec.get("constraints", {})
            index = pick_row(resource, field) if any(r[field] for r in rows) else pick_row(resource)
            value = rows[index][field]
            at = f"{resource}.{field}"
            for constraint, bound in constraints.items():
                if constraint == "required" and bound:
                    out.append(Mutation(f"{at}:required", "constraint-error", edit(resource, index, **{field: ""})))
                elif constraint == "enum":
                    out.append(Mutation(f"{at}:enum", "constraint-error",
                                        edit(resource, index, **{field: "not-in-the-vocabulary"})))
                elif constraint == "pattern":
                    broken = "#" + value
                    assert not re.fullmatch(bound, broken)
                    out.append(Mutation(f"{at}:pattern", "constraint-error", edit(resource, index, **{field: broken})))
                elif constraint == "minimum":
                    out.append(Mutation(f"{at}:minimum", "constraint-error", edit(resource, index, **{field: str(bound - 1)})))
                elif constraint == "maximum":
                    out.append(Mutation(f"{at}:maximum", "constraint-error", edit(resource, index, **{field: str(bound + 1)})))
                elif constraint == "minLength":
                    out.append(Mutation(f"{at}:minLength", "constraint-error", edit(resource, index, **{field: value[: bound - 1]})))
                elif constraint == "maxLength":
                    out.append(Mutation(f"{at}:maxLength", "constraint-error",
                                        edit(resource, index, **{field: value + "x" * (bound + 1 - len(value))})))
                elif constraint == "unique" and bound and [field] != primary:
                    out.append(Mutation(f"{at}:unique", "unique-error",
                                        edit(resource, index, **{field: other_value(resource, field, index)})))
                elif constraint not in ("required", "unique"):
                    raise AssertionError(f"{at}: constraint {constraint!r} has no mutation here: add one")
            if spec.get("type", "string") != "string":
                out.append(Mutation(f"{at}:type", "type-error", edit(resource, index, **{field: BAD_TYPE[spec["type"]]})))
        if len(primary) == 1:
            index = pick_row(resource)
            out.append(Mutation(f"{resource}:primaryKey", "primary-key",
                                edit(resource, index, **{primary[0]: other_value(resource, primary[0], index)})))
        elif primary:
            def duplicate(root: Path, resource=resource) -> None:
                header, rows = rows_of(root, resource)
                write_table(root, resource, header, [*rows, dict(rows[0])])
            out.append(Mutation(f"{resource}:primaryKey", "primary-key", duplicate))
        for fk in schema.get("foreignKeys", []):
            field = fk["fields"][0]
            target = fk["reference"].get("resource") or resource
            index = pick_row(resource, field)
            _, parents = rows_of(REPO, target)
            taken = {r[fk["reference"]["fields"][0]] for r in parents}
            pattern = next(f for f in schema["fields"] if f["name"] == field)["constraints"]["pattern"]
            missing = unknown_key(pattern, taken, rows[index][field])
            out.append(Mutation(f"{resource}.{field}:foreignKey", "foreign-key", edit(resource, index, **{field: missing})))
    return out


# -- whole-file mistakes ---------------------------------------------------------------------------------------


def rewrite(resource: str, make: Callable[[str], bytes]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / "data" / f"{resource}.csv"
        path.write_bytes(make(path.read_text(encoding="utf-8")))
    return apply


def semicolons(text: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\n").writerows(csv.reader(io.StringIO(text, newline="")))
    return buffer.getvalue().encode("utf-8")


def columns(resource: str, change: Callable[[list[str], list[dict[str, str]]], list[str]]) -> Callable[[Path], None]:
    """Rewrite a table with the header `change` gives (cells follow their column's label)."""
    def apply(root: Path) -> None:
        header, rows = rows_of(root, resource)
        new = change(header, rows)
        write_table(root, resource, new, [{k: r.get(k, "") for k in new} for r in rows])
    return apply


def rename(resource: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        header, rows = rows_of(root, resource)
        write_table(root, resource, [new if h == old else h for h in header],
                    [{(new if k == old else k): v for k, v in r.items()} for r in rows])
    return apply


def with_extra(header: list[str], rows: list[dict[str, str]]) -> list[str]:
    for r in rows:
        r["comment"] = "x"
    return [*header, "comment"]


assert any(ord(c) > 127 for c in (REPO / "data" / "actors.csv").read_text(encoding="utf-8"))  # so cp1252 shows
FILE_MUTATIONS = [
    Mutation("actors.csv:semicolons", "wrong-delimiter", rewrite("actors", semicolons)),
    Mutation("actors.csv:cp1252", "encoding-error", rewrite("actors", lambda t: t.encode("cp1252", errors="replace"))),
    Mutation("sources.csv:cp1252", "encoding-error", rewrite("sources", lambda t: t.encode("cp1252", errors="replace"))),
    Mutation("actors.csv:byte-order-mark", "byte-order-mark", rewrite("actors", lambda t: b"\xef\xbb\xbf" + t.encode()),
             severity="warning"),
    Mutation("claims.csv:notes-dropped", "missing-label", columns("claims", lambda h, r: [c for c in h if c != "notes"])),
    Mutation("claims.csv:date_start-dropped", "missing-label",
             columns("claims", lambda h, r: [c for c in h if c != "date_start"])),
    Mutation("actors.csv:header-renamed", "incorrect-label", rename("actors", "role", "Rolle")),
    Mutation("events.csv:extra-column", "extra-label", columns("events", with_extra)),
    Mutation("events.csv:columns-swapped", "column-order",
             columns("events", lambda h, r: [h[1], h[0], *h[2:]])),
    Mutation("sources.csv:unterminated-quote", "table-unreadable",
             rewrite("sources", lambda t: (t.rstrip("\n") + '\nS999,"never closed\n').encode())),
    Mutation("exclusions.csv:deleted", "scheme-error", lambda root: (root / "data" / "exclusions.csv").unlink()),
]


# -- the rules, coverage and metadata checks, one mutation per finding code the real package can be made to break --


def where(resource: str, **match: str) -> int:
    """The index of the first row of the real table whose cells are `match`."""
    _, rows = rows_of(REPO, resource)
    return next(i for i, r in enumerate(rows) if all(r[k] == v for k, v in match.items()))


def drop_rows(resource: str, keep: Callable[[dict[str, str]], bool]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        header, rows = rows_of(root, resource)
        write_table(root, resource, header, [r for r in rows if keep(r)])
    return apply


def shift(resource: str, index: int, field: str, by: int | None = None, to: str | None = None) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        header, rows = rows_of(root, resource)
        rows[index][field] = to if to is not None else str(int(rows[index][field]) + by)
        write_table(root, resource, header, rows)
    return apply


def offsets_equal(resource: str, index: int) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        header, rows = rows_of(root, resource)
        rows[index]["quote_end"] = rows[index]["quote_start"]
        write_table(root, resource, header, rows)
    return apply


def text_file(source: str, change: Callable[[Path], None]) -> Callable[[Path], None]:
    return lambda root: change(root / "data" / "sources" / f"{source}.txt")


def replace_in(name: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / name
        text = path.read_text(encoding="utf-8")
        assert old in text, (name, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return apply


def _month_event() -> int:
    return where("events", date_precision="month")


def _quantity_claim() -> int:
    _, rows = rows_of(REPO, "claims")
    return next(i for i, r in enumerate(rows) if r["quantity"] and r["claim_id"] not in REFERENCED["claims"])


def _affiliated() -> tuple[int, int]:
    """(actor with an affiliation, index of that affiliation's row): the second points back for a cycle."""
    _, rows = rows_of(REPO, "actors")
    child = next(i for i, r in enumerate(rows) if r["affiliation_id"])
    parent = next(i for i, r in enumerate(rows) if r["actor_id"] == rows[child]["affiliation_id"])
    assert not rows[parent]["affiliation_id"]
    return child, parent


def _claim_quoted_twice() -> str:
    """An unreferenced claim whose quote another claim has at the same offsets: gone, it uncovers nothing."""
    _, rows = rows_of(REPO, "claims")
    place = lambda r: (r["source_id"], r["quote_start"], r["quote_end"])  # noqa: E731
    return next(r["claim_id"] for r in rows if r["claim_id"] not in REFERENCED["claims"]
                and sum(place(o) == place(r) for o in rows) > 1)


def _linked_denial() -> int:
    _, rows = rows_of(REPO, "denials")
    return next(i for i, r in enumerate(rows) if r["claim_id"])


def _other_event(index: int) -> str:
    _, denials = rows_of(REPO, "denials")
    _, events = rows_of(REPO, "events")
    return next(e["event_id"] for e in events if e["event_id"] != denials[index]["event_id"])


RULE_MUTATIONS = [
    Mutation("rules:date-order", "date-order", lambda root: edit(
        "events", _month_event(), date_start=rows_of(REPO, "events")[1][_month_event()]["date_end"],
        date_end=rows_of(REPO, "events")[1][_month_event()]["date_start"], date_precision="range")(root)),
    Mutation("rules:date-precision", "date-precision", edit("events", _month_event(), date_precision="day")),
    Mutation("rules:date-unbounded", "date-unbounded", edit("events", _month_event(), date_start="", date_end="",
                                                            date_precision="range")),
    Mutation("rules:dated-after-source", "dated-after-source",
             edit("claims", pick_row("claims"), date_start="2099-01-01", date_end="2099-01-01", date_precision="day")),
    Mutation("rules:claim-event-mismatch", "claim-event-mismatch",
             lambda root: edit("denials", _linked_denial(), event_id=_other_event(_linked_denial()))(root)),
    Mutation("rules:self-reference", "self-reference",
             lambda root: edit("actors", _affiliated()[0], affiliation_id=rows_of(REPO, "actors")[1][_affiliated()[0]]["actor_id"])(root)),
    Mutation("rules:reference-cycle", "reference-cycle",
             lambda root: edit("actors", _affiliated()[1], affiliation_id=rows_of(REPO, "actors")[1][_affiliated()[0]]["actor_id"])(root)),
    Mutation("rules:event-without-actors", "event-without-actors",
             drop_rows("event_actors", lambda r: r["event_id"] != rows_of(REPO, "event_actors")[1][0]["event_id"])),
    Mutation("rules:quantity-incomplete", "quantity-incomplete", lambda root: edit("claims", _quantity_claim(), quantity_unit="")(root)),
    Mutation("rules:country-code", "country-code", edit("actors", pick_row("actors", "country"), country="XXX")),
    Mutation("rules:language-tag", "language-tag", edit("sources", 0, language="zz")),
    Mutation("rules:text-not-nfc", "text-not-nfc", edit("actors", pick_row("actors", "notes"), notes="Cafe\u0301")),
    Mutation("rules:text-whitespace", "text-whitespace", edit("actors", pick_row("actors"), notes="trailing ")),
    Mutation("rules:text-control-character", "text-control-character", edit("actors", pick_row("actors"), notes="a\tb")),
    Mutation("rules:text-formula", "text-formula", edit("actors", pick_row("actors"), notes="=1+1")),
]

COVERAGE_MUTATIONS = [
    Mutation("coverage:quote-offsets-mismatch", "quote-offsets-mismatch", shift("claims", pick_row("claims"), "quote_start", 1)),
    Mutation("coverage:quote-offsets-order", "quote-offsets-order", offsets_equal("claims", pick_row("claims"))),
    Mutation("coverage:quote-offsets-out-of-range", "quote-offsets-out-of-range",
             shift("exclusions", 0, "quote_end", to="9999999")),
    Mutation("coverage:quote-changed", "quote-offsets-mismatch",
             lambda root: edit("claims", 5, quote=rows_of(REPO, "claims")[1][5]["quote"] + " erfunden")(root)),
    Mutation("coverage:source-text-hash", "source-text-hash", edit("sources", 1, text_sha256="0" * 64)),
    Mutation("coverage:source-text-missing", "source-text-missing", text_file("S002", Path.unlink)),
    Mutation("coverage:source-text-encoding", "source-text-encoding", text_file(
        "S002", lambda p: p.write_bytes(p.read_text(encoding="utf-8").encode("cp1252", errors="replace")))),
    Mutation("coverage:uncovered-sentence", "uncovered-sentence", drop_rows(
        "exclusions", lambda r: r["exclusion_id"] != rows_of(REPO, "exclusions")[1][0]["exclusion_id"])),
]

METADATA_MUTATIONS = [
    Mutation("metadata:metadata-file-missing", "metadata-file-missing", lambda root: (root / ".zenodo.json").unlink()),
    Mutation("metadata:changelog-format", "changelog-format", lambda root: replace_in(
        "CHANGELOG.md", (h := re.search(r"^## \[[0-9.]+\] - ", (root / "CHANGELOG.md").read_text(encoding="utf-8"),
                                        re.M).group(0)), h.replace(" - ", " "))(root)),
    Mutation("metadata:retracted-id-reused", "retracted-id-reused",
             edit("claims", pick_row("claims"), claim_id=next(r["id"] for r in rows_of(REPO, "retractions")[1]
                                                               if r["id"].startswith("C")))),
    Mutation("metadata:released-id-missing", "released-id-missing",
             lambda root: drop_rows("claims", lambda r: r["claim_id"] != _claim_quoted_twice())(root), baseline=True),
    # The unreadable-table seam: the stable-ID check cannot read the IDs of a table it is silent about.
    Mutation("released:actors.csv:semicolons", "wrong-delimiter", rewrite("actors", semicolons), baseline=True),
    Mutation("released:actors.csv:cp1252", "encoding-error",
             rewrite("actors", lambda t: t.encode("cp1252", errors="replace")), baseline=True),
    Mutation("released:retractions.csv:semicolons", "wrong-delimiter", rewrite("retractions", semicolons), baseline=True),
    Mutation("metadata:retraction-replacement-unknown", "retraction-replacement-unknown",
             lambda root: edit("retractions", 0, replaced_by=unknown_key(r"^[A-Z][0-9]{3}$", set(), rows_of(REPO, "retractions")[1][0]["replaced_by"]))(root)),
]


MUTATIONS = schema_mutations() + FILE_MUTATIONS + RULE_MUTATIONS + COVERAGE_MUTATIONS + METADATA_MUTATIONS

#: Mutations that still give more than one finding, by the layer that has to change. INTEGRATOR: each must
#: be gone after merging (strict: the test fails once the duplicate is fixed, so the entry is removed).
KNOWN_DUPLICATES: dict[str, str] = {}


# -- running them ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> tuple[Path, set[tuple]]:
    root = copy_package(tmp_path_factory.mktemp("pristine") / "package")
    report = validate_package(root, only=LAYERS_UNDER_TEST)
    assert not report.errors, [f.message for f in report.errors]
    return root, {_key(f) for f in report.findings}


def _key(finding) -> tuple:
    return (finding.code, finding.resource, finding.path, finding.line, finding.field)


def new_findings(pristine, tmp_path: Path, mutation: Mutation):
    root, known = pristine
    copy = tmp_path / "package"
    shutil.copytree(root, copy)
    mutation.apply(copy)
    options = Options(baseline=root) if mutation.baseline else None
    report = validate_package(copy, only=LAYERS_UNDER_TEST, options=options)
    assert report.checks > 0
    return [f for f in report.findings if f.severity == "error" or _key(f) not in known]


def test_the_corpus_breaks_every_constraint_of_every_resource():
    generated = schema_mutations()
    constraints = sum(len(f.get("constraints", {})) for s in SCHEMAS.values() for f in s["fields"])
    assert len(generated) > constraints > 100
    assert {m.name.split(":")[0].split(".")[0] for m in generated} >= {n for n, s in SCHEMAS.items() if rows_of(REPO, n)[1]}
    assert len({m.name for m in MUTATIONS}) == len(MUTATIONS) > 150


@pytest.mark.parametrize("mutation", [
    pytest.param(m, marks=pytest.mark.xfail(strict=True, reason=KNOWN_DUPLICATES[m.name])) if m.name in KNOWN_DUPLICATES
    else m for m in MUTATIONS], ids=repr)
def test_each_mutation_gives_exactly_one_finding_by_its_owner(pristine, tmp_path, mutation):
    found = new_findings(pristine, tmp_path, mutation)
    shown = "\n".join(f"  {f.layer}/{f.code} ({f.severity}) {f.location}: {f.message[:160]}" for f in found)
    assert [(f.code, f.severity) for f in found] == [(mutation.code, mutation.severity)], shown
    assert set(found[0].aliases) <= set(CONSEQUENCES)  # only a genuine consequence is folded in, never a duplicate
