"""(Re)write the expectation suites in validate/suites/ from the package's schemas.

    python -m nkru.suites.generate [PACKAGE_DIR]      # rewrite the JSON files
    python -m nkru.suites.generate --check [PACKAGE_DIR]  # exit 1 if they are stale

The suites hold only what no Table Schema can say: dataset- and release-level expectations,
each run by great-expectations on a small aggregate frame (a count per table, per referenced
row, per category), never on the tables' cells. Everything a schema declares (required, enum,
unique, primary key, fields, minimum/maximum, pattern) belongs to the structure layer, and
tests/test_expectations.py fails if a suite restates it.

- one suite per resource (named after it): its row count, at least one row, and for a table whose
  rows carry an ID never fewer than in the last release less the rows retracted since;
- the package suite: every source cited by a claim, denial or exclusion, every event claimed,
  every actor mentioned (counts of references per row, read from the schemas' foreign keys);
- the distributions suite (warnings): the share of each category of a few controlled
  vocabularies does not move by more than a bound from its share among the rows of the last release.

The JSON is what great-expectations serialises, without the random `id`s and the version stamp,
so a diff shows only real changes.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nkru.metadata import RETRACTIONS
from nkru.package import SOURCES, Package, schema_fields, schema_primary_key
from nkru.resources import suites_dir
from nkru.suites import DISTRIBUTIONS_SUITE, PACKAGE_SUITE, suite_path

#: Every curated table holds at least one row. There is no upper bound: the dataset grows, and a
#: cap would say nothing true about it.
MIN_ROWS = 1
#: Resources that may legitimately hold no rows (retractions exist only once something is retracted).
MAY_BE_EMPTY = frozenset({RETRACTIONS})
#: The expectation parameter that holds a table's fewest allowed rows. A table whose rows carry an ID
#: (a one-field primary key) never holds fewer rows than in the last release, less the rows retracted
#: since; the expectations layer supplies that number at validation time from the newest release
#: manifest (or `--baseline`), see `nkru.layers.metadata.row_floors`. A table without a one-field key
#: (event_actors) has no IDs to retract, so a release sets it no floor: its row count is a constant.
ROW_FLOOR_PARAMETER = "min_rows"


def has_release_floor(schema: dict[str, Any] | None) -> bool:
    """Whether a resource's row count may not fall below the last release's (it has a one-field primary key)."""
    return len(schema_primary_key(schema)) == 1


def min_rows(name: str) -> int:
    """The fewest rows a resource holds when no release says more."""
    return 0 if name in MAY_BE_EMPTY else MIN_ROWS


@dataclass(frozen=True)
class PackageRule:
    """Every row of `resource` is referenced at least once from the `referenced_from` resources.

    `referenced_from=None` means every other resource with a foreign key into `resource`, and also
    `resource` itself when `self_references` is set (a row that another row points to through a
    self-referencing key, such as an actor's affiliation, counts as referenced).
    The referencing fields are read from the schemas' foreign keys.
    """

    column: str  # name of the derived count column the expectation checks
    resource: str
    referenced_from: tuple[str, ...] | None
    rule: str
    self_references: bool = False


PACKAGE_RULES = (
    PackageRule("rows_citing_source", SOURCES, ("claims", "denials", "exclusions"),
                "every source contributes rows: it is cited by at least one claim, denial or exclusion"),
    PackageRule("claims_about_event", "events", ("claims",), "every event has at least one claim"),
    PackageRule("actor_mentions", "actors", None,
                "every actor appears in at least one claim, denial or event_actors row, or is another actor's "
                "affiliation", self_references=True),
)


@dataclass(frozen=True)
class Distribution:
    """The share of each value of `field` among the rows of `resource` moves by at most `bound`
    percentage points from its share among the rows (by ID) that were in the last release: a warning
    that the mix changed, worth a look before a release, not an error."""

    resource: str
    field: str
    bound: float

    @property
    def column(self) -> str:
        return f"{self.resource}.{self.field}"


#: The distributions worth watching between releases (each field must have an enum in its schema).
DISTRIBUTIONS = (
    Distribution("claims", "claim_type", 20.0),
    Distribution("events", "event_type", 20.0),
)


def expectation(kind: str, description: str, meta: dict[str, Any] | None = None, severity: str = "critical",
                **kwargs: Any) -> dict[str, Any]:
    """One expectation as great-expectations serialises it (`ExpectationConfiguration.to_json_dict`,
    without its random id), built without importing it: the suites are declarative JSON, and
    great-expectations validates them when it runs them. tests/test_expectations.py checks that
    great-expectations reads each generated suite back to the same JSON."""
    return {"type": kind, "kwargs": kwargs, "meta": meta or {}, "description": description, "severity": severity}


def resource_expectations(name: str, schema: dict[str, Any]) -> list[Any]:
    """The per-resource expectation: its row count (on a frame of that many rows and no columns)."""
    low = min_rows(name)
    least = f"{name} has at least {low} row{'' if low == 1 else 's'}" if low else f"{name} may be empty"
    if has_release_floor(schema):
        since = ("but never has fewer rows than in the last release (retractions are permanent)" if name == RETRACTIONS
                 else "and never fewer than in the last release, less the rows retracted since")
        return [expectation("expect_table_row_count_to_be_between", f"{least} {since}",
                            min_value={"$PARAMETER": ROW_FLOOR_PARAMETER})]
    return [expectation("expect_table_row_count_to_be_between", least, min_value=low)]


def _references(package: Package, rule: PackageRule) -> tuple[str, list[str]]:
    """(referenced key field, ['resource.field', ...]) for a package rule, from the foreign keys."""
    target_field = None
    counted_in = []
    sources = rule.referenced_from or tuple(n for n in package.resources
                                            if n != rule.resource or rule.self_references)
    for source in sources:
        spec = package.resources.get(source)
        if spec is None or spec.schema is None:
            raise ValueError(f"package rule {rule.column!r}: no resource {source!r} with a schema")
        for fk in package.foreign_keys(source):
            if fk.resource != rule.resource:
                continue
            if len(fk.fields) != 1:
                raise ValueError(f"package rule {rule.column!r}: {source} has a composite foreign key into {rule.resource}")
            if target_field not in (None, fk.reference_fields[0]):
                raise ValueError(f"package rule {rule.column!r}: foreign keys into {rule.resource} use different fields")
            target_field = fk.reference_fields[0]
            counted_in.append(f"{source}.{fk.fields[0]}")
    if target_field is None:
        raise ValueError(f"package rule {rule.column!r}: no foreign key into {rule.resource} in {', '.join(sources)}")
    return target_field, counted_in


def package_expectations(package: Package, skipped: list[str] | None = None) -> list[Any]:
    """The cross-table rules, as expectations on a derived frame of reference counts.

    Each expectation's `meta` tells the layer how to build its column: for every row of
    `resource`, how many rows of `counted_in` refer to it (the key field is `field`).
    A rule the schemas cannot support raises ValueError, or, when `skipped` is a list, is
    left out with the reason appended there (the layer validating an arbitrary package does that).
    """
    found = []
    for rule in PACKAGE_RULES:
        try:
            field, counted_in = _references(package, rule)
        except ValueError as exc:
            if skipped is None:
                raise
            skipped.append(str(exc))
            continue
        found.append(expectation(
            "expect_column_values_to_be_between", f"{rule.rule} ({', '.join(counted_in)})",
            meta={"resource": rule.resource, "field": field, "counted_in": counted_in},
            column=rule.column, min_value=1.0))
    return found


def distribution_expectations(package: Package, skipped: list[str] | None = None) -> list[Any]:
    """The distributions worth watching, as warning expectations on a derived frame: one row per
    value of the field, its column the shift (percentage points) between its share now and among the
    rows of the last release. A distribution whose resource or enum field the schemas lack raises
    ValueError, or, when `skipped` is a list, is left out with the reason appended there."""
    found = []
    for watched in DISTRIBUTIONS:
        spec = package.resources.get(watched.resource)
        fields = {f["name"]: f for f in schema_fields(spec.schema)} if spec is not None and spec.schema else {}
        enum = (fields.get(watched.field, {}).get("constraints") or {}).get("enum")
        reason = None
        if watched.field not in fields or not enum:
            reason = f"distribution {watched.column!r}: no field {watched.field!r} with an enum in {watched.resource}"
        elif len(schema_primary_key(spec.schema)) != 1:
            reason = f"distribution {watched.column!r}: {watched.resource} has no one-field primary key to find its released rows"
        if reason is not None:
            if skipped is None:
                raise ValueError(reason)
            skipped.append(reason)
            continue
        found.append(expectation(
            "expect_column_max_to_be_between",
            f"the share of {watched.resource} of each {watched.field} moves by at most {watched.bound:g} percentage points "
            f"from its share among the {watched.resource} of the last release",
            meta={"resource": watched.resource, "field": watched.field}, severity="warning",
            column=watched.column, max_value=watched.bound))
    return found


def _clean(suite: dict[str, Any]) -> dict[str, Any]:
    """Drop the random ids (and the version stamp) great-expectations adds when serialising."""
    suite = {k: v for k, v in suite.items() if k != "id"}
    suite["expectations"] = [{k: v for k, v in e.items() if k != "id"} for e in suite.get("expectations", [])]
    meta = dict(suite.get("meta") or {})
    meta.pop("great_expectations_version", None)
    suite["meta"] = meta
    return suite


def suite_dict(name: str, expectations: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """A suite as great-expectations serialises it (`ExpectationSuite.to_json_dict`, `_clean`ed)."""
    return {"name": name, "expectations": expectations, "meta": meta, "notes": None}


def generate(root: str | Path = ".") -> dict[str, dict[str, Any]]:
    """Every suite for the package at `root`, by name, as the JSON to commit."""
    return suites_for(Package.open(root))


def suites_for(package: Package, skipped: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every suite for an open package, by name, read from its own schemas (see `package_expectations` for `skipped`)."""
    suites: dict[str, dict[str, Any]] = {}
    for name, spec in package.resources.items():
        if spec.schema is None:
            continue
        if name in (PACKAGE_SUITE, DISTRIBUTIONS_SUITE):
            raise ValueError(f"a resource may not be called {name!r} (that is the name of a suite of the whole package)")
        suites[name] = suite_dict(name, resource_expectations(name, spec.schema),
                                  {"resource": name, "generated_by": "python -m nkru.suites.generate"})
    suites[PACKAGE_SUITE] = suite_dict(PACKAGE_SUITE, package_expectations(package, skipped),
                                       {"generated_by": "python -m nkru.suites.generate"})
    suites[DISTRIBUTIONS_SUITE] = suite_dict(DISTRIBUTIONS_SUITE, distribution_expectations(package, skipped),
                                             {"generated_by": "python -m nkru.suites.generate"})
    return suites


def dumps(suite: dict[str, Any]) -> str:
    return json.dumps(suite, ensure_ascii=False, indent=2) + "\n"


def stale(root: str | Path = ".", directory: Path | None = None) -> list[str]:
    """Names of suites whose file differs from what the schemas generate (or that should not exist)."""
    directory = suites_dir(root) if directory is None else directory
    wanted = generate(root)
    names = [n for n, s in wanted.items() if not suite_path(n, directory).is_file()
             or suite_path(n, directory).read_text(encoding="utf-8") != dumps(s)]
    names += [p.stem for p in sorted(directory.glob("*.json")) if p.stem not in wanted]
    return names


def write(root: str | Path = ".", directory: Path | None = None) -> list[Path]:
    """Rewrite every suite file (atomically); remove suites for resources that are gone."""
    directory = suites_dir(root) if directory is None else directory
    from nkru.transaction import atomic_write_text

    wanted = generate(root)
    written = []
    for name, suite in wanted.items():
        path = suite_path(name, directory)
        atomic_write_text(path, dumps(suite))
        written.append(path)
    for path in sorted(directory.glob("*.json")):
        if path.stem not in wanted:
            path.unlink()
    return written


def main(argv: list[str] | None = None) -> int:
    """`python -m nkru.suites.generate [--check] [ROOT]`: rewrite the suites, or (--check) list the stale ones."""
    import argparse

    from nkru.package import PackageError

    parser = argparse.ArgumentParser(prog="python -m nkru.suites.generate",
                                     description="Generate the expectation suites in validate/suites/ from the Table Schemas.")
    parser.add_argument("root", nargs="?", type=Path, default=Path("."), help="the package (default: .)")
    parser.add_argument("--check", action="store_true", help="only list stale suites; exit 1 if any")
    args = parser.parse_args(argv)
    try:
        if args.check:
            names = stale(args.root)
            for name in names:
                print(f"stale: {suite_path(name, suites_dir(args.root))}")
            return 1 if names else 0
        for path in write(args.root):
            print(f"wrote {path}")
    except (PackageError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
