"""The DuckDB floor: the checks `nkru validate` makes, written as plainly as DuckDB allows.

    python benchmarks/scale_floor.py PACKAGE [--sentences SPANS.parquet]

Prints one JSON object: seconds, problems per check, their total, and where coverage took its units from.
It is the yardstick of the scale targets (issue 18: 100k claims within 5x, 1M within 10x of this floor,
warm; issue 22: cold alike), so it does the same work as `nkru validate`, column-wise in DuckDB (both
cores) with Python only for per-value library calls and the tiny metadata files:

structure (every Table Schema constraint, read from schemas/*.json, never listed here)
  - every CSV read with its header as text (DuckDB's CSV reader, strict); the header equals the schema's fields;
  - type of every cell: integer, number, boolean, date (format default: YYYY-MM-DD, a real day), string
    formats uri and email;
  - required, enum, pattern (RE2, fully matched), minimum/maximum, minLength/maxLength, unique;
  - primary keys (no duplicate), foreign keys (no orphan; self-references included);
rules (nkru/layers/rules.py, one query each)
  - dated rows (the four date columns): not both bounds open, date_start <= date_end, date_precision the
    most specific true one (day/month/year/range; range when a side is open);
  - a row with a foreign key to the sources is not dated after the source's date_end (start, then end);
  - a row's claim_id names a claim about the row's own event_id;
  - no self-reference and no cycle in a self-referencing key (the actors' affiliation: pruned round by round);
  - every event has a row in each link table (event_actors);
  - quantity and its quantity_* companions all set or all empty;
  - country codes (pycountry: ISO 3166-1 alpha-3) and language tags (langcodes: BCP 47), each distinct value once;
  - text hygiene of every non-empty cell: NFC, no leading/trailing whitespace, no control character,
    no formula prefix outside numeric fields;
expectations (the release-level ones: everything else in the suites restates a schema constraint, above)
  - no table has fewer rows than in the last release, less the IDs retracted since;
coverage
  - every text_path stays inside the package; every text exists and is UTF-8 (DuckDB's read_text);
    its SHA-256 equals text_sha256;
  - every quote (claims, denials, exclusions: any resource with source_id, quote, quote_start, quote_end)
    is its text's passage at its offsets (code points), verbatim or after NFC and whitespace folding, not
    starting or ending with whitespace; offsets in order and inside the text;
  - every unit is covered: overlapped by a claim or denial quote or an exclusion of its source. The units
    are data/units.csv when the package declares a `units` resource, and then they must also tile the text
    (inside it, no overlap, no word character between or around them); otherwise the sentences the
    generator knows by construction (--sentences: the same pysbd sentences `nkru validate` splits, as data)
    — before units existed the floor joins what nkru computes;
metadata
  - version, title and licence of datapackage.json, CITATION.cff, .zenodo.json and the newest CHANGELOG
    release agree (no CFF JSON-Schema validation: milliseconds either way);
  - stable IDs against the newest releases/X.Y.Z.json: every released ID (its ranges expanded in DuckDB) is
    still present or retracted, no retracted ID is reused, every replaced_by exists, no retraction removed.

Not done: the findings themselves (messages, lines, the closest passage of a quote not found): the floor
counts problems; on a valid package there is nothing to describe.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

#: Python's whitespace (str.isspace), as nkru's hygiene rule strips it.
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
              "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
WS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE) + "]"
CONTROL = "[\\x00-\\x1f\\x7f-\\x9f]"
FORMULA = f"^{WS}*[=+\\-@\\t\\r]"
WORD = "[\\p{L}\\p{N}_]"  # Python's \w (RE2's \w is ASCII only)
DATE_COLUMNS = ("date_start", "date_end", "date_precision", "date_basis")
QUANTITY = "quantity"


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


class Floor:
    def __init__(self, root: Path, sentences: Path | None = None):
        import duckdb

        self.root = root
        self.sentences = sentences
        self.con = duckdb.connect()
        self.sql("SET enable_progress_bar = false")
        self.problems: dict[str, int] = {}
        self.descriptor = json.loads((root / "datapackage.json").read_text(encoding="utf-8"))
        self.resources = {r["name"]: r for r in self.descriptor["resources"]}
        self.schemas = {name: json.loads((root / r["schema"]).read_text(encoding="utf-8")) for name, r in self.resources.items()}
        self.fields = {name: [f["name"] for f in s["fields"]] for name, s in self.schemas.items()}

    def sql(self, text: str, parameters: Any = None) -> list[tuple]:
        """Run a statement and read its result to the end (DuckDB keeps a connection busy until then)."""
        return self.con.execute(text, parameters).fetchall()

    def count(self, check: str, sql: str) -> None:
        found = self.con.execute(sql).fetchall()[0][0] or 0
        self.problems[check] = self.problems.get(check, 0) + int(found)

    def add(self, check: str, found: int) -> None:
        self.problems[check] = self.problems.get(check, 0) + int(found)

    def fks(self, name: str) -> list[tuple[list[str], str, list[str]]]:
        out = []
        for fk in self.schemas[name].get("foreignKeys", []):
            fields = fk["fields"] if isinstance(fk["fields"], list) else [fk["fields"]]
            ref = fk["reference"]
            ref_fields = ref["fields"] if isinstance(ref["fields"], list) else [ref["fields"]]
            out.append((fields, ref.get("resource") or name, ref_fields))
        return out

    def pk(self, name: str) -> list[str]:
        key = self.schemas[name].get("primaryKey") or []
        return [key] if isinstance(key, str) else list(key)

    # -- structure -----------------------------------------------------------------------------------

    def read(self) -> None:
        for name, r in self.resources.items():
            path = self.root / r["path"]
            self.sql(f"CREATE TABLE {q(name)} AS SELECT * FROM read_csv({lit(path)}, all_varchar = true, "
                             "header = true, delim = ',', quote = '\"', escape = '\"', strict_mode = true)")
            header = [row[0] for row in self.con.execute(f"DESCRIBE {q(name)}").fetchall()]
            self.add("header", header != self.fields[name])

    def cells(self) -> None:
        """Types, required, enum, pattern, bounds, lengths, unique: one scan per table."""
        for name, schema in self.schemas.items():
            parts = []
            for spec in schema["fields"]:
                c, kind, cons = q(spec["name"]), spec.get("type", "string"), spec.get("constraints") or {}
                if kind == "integer":
                    parts.append(f"{c} IS NOT NULL AND NOT regexp_full_match({c}, '[+-]?[0-9]+')")
                elif kind == "number":
                    parts.append(f"{c} IS NOT NULL AND TRY_CAST({c} AS DOUBLE) IS NULL")
                elif kind == "boolean":
                    parts.append(f"{c} IS NOT NULL AND {c} NOT IN ('true','True','TRUE','1','false','False','FALSE','0')")
                elif kind == "date":
                    parts.append(f"{c} IS NOT NULL AND (NOT regexp_full_match({c}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
                                 f"OR try_strptime({c}, '%Y-%m-%d') IS NULL)")
                if kind == "string" and spec.get("format") == "uri":
                    parts.append(f"{c} IS NOT NULL AND NOT regexp_full_match({c}, '[A-Za-z][A-Za-z0-9+.-]*:[^\\s]+')")
                if kind == "string" and spec.get("format") == "email":
                    parts.append(f"{c} IS NOT NULL AND NOT regexp_full_match({c}, '[^@\\s]+@[^@\\s]+')")
                if cons.get("required"):
                    parts.append(f"{c} IS NULL")
                if "enum" in cons:
                    parts.append(f"{c} IS NOT NULL AND {c} NOT IN ({', '.join(lit(v) for v in cons['enum'])})")
                if "pattern" in cons:
                    parts.append(f"{c} IS NOT NULL AND NOT regexp_full_match({c}, {lit(cons['pattern'])})")
                typed = "TRY_CAST({} AS DOUBLE)".format(c) if kind in ("integer", "number") else None
                if typed and "minimum" in cons:
                    parts.append(f"{typed} < {cons['minimum']}")
                if typed and "maximum" in cons:
                    parts.append(f"{typed} > {cons['maximum']}")
                if "minLength" in cons:
                    parts.append(f"length({c}) < {cons['minLength']}")
                if "maxLength" in cons:
                    parts.append(f"length({c}) > {cons['maxLength']}")
                if cons.get("unique"):
                    parts.append(None)  # counted below
            sums = [f"sum(CASE WHEN {p} THEN 1 ELSE 0 END)" for p in parts if p]
            uniques = [f"count({q(s['name'])}) - count(DISTINCT {q(s['name'])})" for s in schema["fields"]
                       if (s.get("constraints") or {}).get("unique")]
            if sums or uniques:
                row = self.con.execute(f"SELECT {', '.join(sums + uniques)} FROM {q(name)}").fetchall()[0]
                self.add("cells", sum(v or 0 for v in row[:len(sums)]))
                self.add("unique", sum(v or 0 for v in row[len(sums):]))

    def keys(self) -> None:
        for name in self.schemas:
            key = self.pk(name)
            if key:
                cols = ", ".join(q(k) for k in key)
                self.count("primary-key", f"SELECT count(*) FROM (SELECT {cols} FROM {q(name)} GROUP BY ALL HAVING count(*) > 1)")
            for fields, parent, ref_fields in self.fks(name):
                on = " AND ".join(f"c.{q(a)} = p.{q(b)}" for a, b in zip(fields, ref_fields))
                notnull = " AND ".join(f"c.{q(a)} IS NOT NULL" for a in fields)
                self.count("foreign-key", f"SELECT count(*) FROM {q(name)} c WHERE {notnull} AND NOT EXISTS "
                                          f"(SELECT 1 FROM {q(parent)} p WHERE {on})")

    # -- rules ---------------------------------------------------------------------------------------

    def dated(self) -> list[str]:
        return [n for n, f in self.fields.items() if set(DATE_COLUMNS) <= set(f)]

    def rules(self) -> None:
        day = "try_strptime({}, '%Y-%m-%d')::DATE"
        for name in self.dated():
            s, e = day.format("date_start"), day.format("date_end")
            actual = (f"CASE WHEN date_start IS NULL OR date_end IS NULL THEN 'range' WHEN {s} = {e} THEN 'day' "
                      f"WHEN {s} = date_trunc('month', {s}) AND {e} = last_day({s}) THEN 'month' "
                      f"WHEN {s} = date_trunc('year', {s}) AND {e} = date_trunc('year', {s}) + INTERVAL 1 YEAR - INTERVAL 1 DAY "
                      f"THEN 'year' ELSE 'range' END")
            self.count("dates", f"""SELECT sum((date_start IS NULL AND date_end IS NULL)::INT
                + coalesce(({s} > {e})::INT, 0)
                + coalesce((date_precision IN ('day','month','year','range') AND NOT coalesce({s} > {e}, false)
                            AND date_precision <> {actual})::INT, 0)) FROM {q(name)}""")
            for fields, parent, ref_fields in self.fks(name):
                if parent != "sources" or name == "sources":
                    continue
                on = " AND ".join(f"c.{q(a)} = p.{q(b)}" for a, b in zip(fields, ref_fields))
                ps, pe = day.format("p.date_end"), day.format("p.date_end")
                cs, ce = day.format("c.date_start"), day.format("c.date_end")
                self.count("dated-after-source", f"""SELECT sum(coalesce(({cs} > {ps})::INT, 0)
                    + coalesce(({ce} > {pe} AND NOT coalesce({cs} > {ps}, false))::INT, 0))
                    FROM {q(name)} c JOIN sources p ON {on}""")
        for name, fields in self.fields.items():
            if name == "claims" or "event_id" not in fields:
                continue
            for fk_fields, parent, ref_fields in self.fks(name):
                if parent == "claims":
                    on = " AND ".join(f"c.{q(a)} = p.{q(b)}" for a, b in zip(fk_fields, ref_fields))
                    self.count("claim-event", f"SELECT count(*) FROM {q(name)} c JOIN claims p ON {on} "
                                              "WHERE c.event_id <> p.event_id")
        for name in self.schemas:
            for fields, parent, ref_fields in self.fks(name):
                if parent != name or len(fields) != 1 or fields == ref_fields:
                    continue
                key, up = q(ref_fields[0]), q(fields[0])
                self.count("self-reference", f"SELECT count(*) FROM {q(name)} WHERE {up} = {key}")
                self.sql(f"CREATE TEMP TABLE edges AS SELECT DISTINCT ON ({key}) {key} AS k, {up} AS p "
                                 f"FROM {q(name)} WHERE {up} IS NOT NULL AND {up} <> {key}")
                while True:  # drop edges whose key nobody names as parent, or whose parent has no edge
                    before = self.con.execute("SELECT count(*) FROM edges").fetchall()[0][0]
                    self.sql("DELETE FROM edges WHERE k NOT IN (SELECT p FROM edges) OR p NOT IN (SELECT k FROM edges)")
                    after = self.con.execute("SELECT count(*) FROM edges").fetchall()[0][0]
                    if after in (0, before):
                        break
                self.add("reference-cycle", after)
                self.sql("DROP TABLE edges")
        if "events" in self.schemas:
            for child in self.schemas:
                key = set(self.pk(child))
                for fields, parent, ref_fields in self.fks(child):
                    if parent == "events" and child != "events" and set(fields) <= key:
                        on = " AND ".join(f"e.{q(b)} = c.{q(a)}" for a, b in zip(fields, ref_fields))
                        self.count("event-without-actors", f"SELECT count(*) FROM events e WHERE NOT EXISTS "
                                                           f"(SELECT 1 FROM {q(child)} c WHERE {on})")
        for name, fields in self.fields.items():
            group = [f for f in fields if f == QUANTITY or f.startswith(QUANTITY + "_")]
            if QUANTITY in group and len(group) > 1:
                filled = " + ".join(f"({q(f)} IS NOT NULL)::INT" for f in group)
                self.count("quantity", f"SELECT count(*) FROM {q(name)} WHERE ({filled}) NOT IN (0, {len(group)})")
        self.codes()
        self.hygiene()

    def codes(self) -> None:
        import langcodes
        import pycountry

        countries = {c.alpha_3 for c in pycountry.countries}
        for name, fields in self.fields.items():
            for field, valid in (("country", countries.__contains__), ("language", langcodes.tag_is_valid)):
                if field in fields:
                    values = self.con.execute(f"SELECT {q(field)}, count(*) FROM {q(name)} WHERE {q(field)} IS NOT NULL "
                                              "GROUP BY ALL").fetchall()
                    self.add(f"{field}-code", sum(n for v, n in values if not valid(v)))

    def hygiene(self) -> None:
        numeric = {"integer", "number"}
        for name, schema in self.schemas.items():
            parts = []
            for spec in schema["fields"]:
                c = q(spec["name"])
                parts.append(f"coalesce(nfc_normalize({c}) <> {c}, false)::INT")
                parts.append(f"coalesce(regexp_matches({c}, {lit('^' + WS + '|' + WS + '$')}), false)::INT")
                parts.append(f"coalesce(regexp_matches({c}, {lit(CONTROL)}), false)::INT")
                if spec.get("type", "string") not in numeric:
                    parts.append(f"coalesce(regexp_matches({c}, {lit(FORMULA)}), false)::INT")
            self.count("hygiene", f"SELECT sum({' + '.join(parts)}) FROM {q(name)}")

    # -- expectations: release-level ---------------------------------------------------------------------

    def manifest(self) -> dict[str, Any] | None:
        folder = self.root / "releases"
        names = [p for p in folder.glob("*.json") if re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+\.json", p.name)] if folder.is_dir() else []
        if not names:
            return None
        newest = max(names, key=lambda p: tuple(int(x) for x in p.stem.split(".")))
        return json.loads(newest.read_text(encoding="utf-8"))

    def releases(self, manifest: dict[str, Any] | None) -> None:
        if manifest is None:
            self.add("no-release", 1)
            return
        ranges = []  # (resource, ID or range)
        for name, entry in manifest["resources"].items():
            ranges.extend((name, item) for item in entry.get("ids") or [])
            ranges.extend((name, item) for item in entry.get("literalIds") or [])
        # Two list parameters, unnested side by side (no pandas, no row-by-row inserts).
        self.sql("CREATE TEMP TABLE released_ranges AS SELECT unnest(?::VARCHAR[]) AS resource, unnest(?::VARCHAR[]) AS item",
                 [[r for r, _ in ranges], [i for _, i in ranges]])
        self.sql(r"""CREATE TEMP TABLE released AS
            WITH parts AS (SELECT resource, item, regexp_extract(item, '^(.*?)([0-9]+)\.\.(.*?)([0-9]+)$', ['p', 'a', 'p2', 'b']) AS m
                           FROM released_ranges)
            SELECT resource, CASE WHEN m.p2 = '' AND m.a = '' THEN item
                   ELSE m.p || lpad(CAST(n AS VARCHAR), CAST(length(m.a) AS INTEGER), '0') END AS id
            FROM parts, LATERAL (SELECT unnest(CASE WHEN m.a = '' THEN [0]
                                                    ELSE generate_series(CAST(m.a AS BIGINT), CAST(m.b AS BIGINT)) END) AS n)""")
        id_tables = {n: self.pk(n)[0] for n in self.schemas if len(self.pk(n)) == 1 and n != "retractions"}
        current = " UNION ALL ".join(f"SELECT {q(k)} AS id FROM {q(n)}" for n, k in id_tables.items())
        self.sql(f"CREATE TEMP TABLE present AS {current}")
        retractions = "retractions" in self.schemas
        if retractions:
            self.count("released-id-missing", "SELECT count(*) FROM released r WHERE r.resource <> 'retractions' "
                                              "AND NOT EXISTS (SELECT 1 FROM present p WHERE p.id = r.id) "
                                              "AND NOT EXISTS (SELECT 1 FROM retractions x WHERE x.id = r.id)")
            self.count("retracted-id-reused", "SELECT count(*) FROM retractions x JOIN present p ON p.id = x.id")
            self.count("retraction-replacement", "SELECT count(*) FROM retractions x WHERE replaced_by IS NOT NULL "
                                                 "AND NOT EXISTS (SELECT 1 FROM present p WHERE p.id = x.replaced_by)")
            self.count("retraction-removed", "SELECT count(*) FROM released r WHERE r.resource = 'retractions' "
                                             "AND NOT EXISTS (SELECT 1 FROM retractions x WHERE x.id = r.id)")
        for name, entry in manifest["resources"].items():
            if name not in self.schemas or not isinstance(entry.get("rows"), int) or len(self.pk(name)) != 1:
                continue
            since = "0"
            if retractions:
                since = (f"(SELECT count(*) FROM released r JOIN retractions x ON x.id = r.id WHERE r.resource = {lit(name)} "
                         "AND r.id NOT IN (SELECT id FROM released WHERE resource = 'retractions'))")
            self.count("row-floor", f"SELECT (count(*) < {entry['rows']} - {since})::INT FROM {q(name)}")

    # -- coverage ------------------------------------------------------------------------------------------

    def texts(self) -> None:
        paths = [p for (p,) in self.con.execute("SELECT text_path FROM sources").fetchall()]
        unsafe = [p for p in paths if p is None or p.startswith("/") or ".." in Path(p).parts
                  or any(part.startswith(".") for part in Path(p).parts)]
        self.add("text-path-unsafe", len(unsafe))
        files = [str(self.root / p) for p in paths if p not in unsafe]
        self.sql("CREATE TEMP TABLE files AS SELECT filename, content FROM read_text(?)", [files])
        prefix = str(self.root) + "/"
        self.sql(f"""CREATE TEMP TABLE texts AS SELECT s.source_id, f.content, length(f.content) AS n,
                             sha256(f.content) = s.text_sha256 AS hash_ok
                             FROM sources s LEFT JOIN files f ON f.filename = {lit(prefix)} || s.text_path""")
        self.count("text-missing", "SELECT count(*) FROM texts WHERE content IS NULL")
        self.count("text-hash", "SELECT count(*) FROM texts WHERE NOT hash_ok")

    def quotes(self) -> list[str]:
        spans = []
        fold = "regexp_replace(trim(nfc_normalize({})), '\\s+', ' ', 'g')"
        for name, fields in self.fields.items():
            if not {"source_id", "quote", "quote_start", "quote_end"} <= set(fields):
                continue
            spans.append(f"SELECT source_id, CAST(quote_start AS BIGINT) AS s, CAST(quote_end AS BIGINT) AS e FROM {q(name)}")
            passage = "substring(t.content, CAST(c.quote_start AS BIGINT) + 1, CAST(c.quote_end AS BIGINT) - CAST(c.quote_start AS BIGINT))"
            self.count("quote-offsets", f"""
                WITH placed AS (SELECT c.quote, CAST(c.quote_start AS BIGINT) AS s, CAST(c.quote_end AS BIGINT) AS e, t.n,
                                       {passage} AS passage
                                FROM {q(name)} c JOIN texts t ON t.source_id = c.source_id)
                SELECT sum(CASE WHEN s >= e OR e > n THEN 1
                                WHEN passage = quote AND NOT regexp_matches(passage, {lit('^' + WS + '|' + WS + '$')}) THEN 0
                                WHEN {fold.format('passage')} = {fold.format('quote')}
                                     AND NOT regexp_matches(passage, {lit('^' + WS + '|' + WS + '$')}) THEN 0
                                ELSE 1 END) FROM placed""")
        return spans

    def coverage(self, spans: list[str]) -> str:
        if "units" in self.schemas:
            source = "units (data)"
            self.sql("CREATE TEMP TABLE u AS SELECT source_id, CAST(start AS BIGINT) AS s, CAST(\"end\" AS BIGINT) AS e FROM units")
            # The units tile each text: inside it, no overlap, no word character between, before or after them.
            self.count("units-tiling", f"""
                WITH ordered AS (SELECT u.source_id, u.s, u.e, t.content, t.n,
                                        lag(u.e, 1, 0) OVER (PARTITION BY u.source_id ORDER BY u.s) AS previous
                                 FROM u JOIN texts t USING (source_id))
                SELECT sum((e > n OR s >= e OR s < previous
                            OR regexp_matches(substring(content, previous + 1, greatest(s - previous, 0)), {lit(WORD)}))::INT)
                FROM ordered""")
            self.count("units-tiling", f"""
                SELECT count(*) FROM texts t WHERE regexp_matches(substring(t.content,
                    coalesce((SELECT max(e) FROM u WHERE u.source_id = t.source_id), 0) + 1), {lit(WORD)})""")
        else:
            source = "sentences (generator)"
            self.sql(f"CREATE TEMP TABLE u AS SELECT source_id, \"start\" AS s, \"end\" AS e FROM read_parquet({lit(self.sentences)})")
        self.sql(f"CREATE TEMP TABLE spans AS {' UNION ALL '.join(spans)}")
        self.count("uncovered", "SELECT count(*) FROM u WHERE NOT EXISTS (SELECT 1 FROM spans q "
                                "WHERE q.source_id = u.source_id AND q.s < u.e AND u.s < q.e)")
        return source

    # -- metadata -------------------------------------------------------------------------------------

    def metadata(self, manifest: dict[str, Any] | None) -> None:
        import yaml

        version = self.descriptor.get("version", "")
        released = version[:-4] if version.endswith("-dev") else version
        if manifest is not None and version.endswith("-dev"):
            released = manifest["version"]
        cff = yaml.safe_load((self.root / "CITATION.cff").read_text(encoding="utf-8"))
        zenodo = json.loads((self.root / ".zenodo.json").read_text(encoding="utf-8"))
        heading = re.search(r"^## \[([0-9.]+)\] - (\S+)", (self.root / "CHANGELOG.md").read_text(encoding="utf-8"), re.M)
        title = self.descriptor.get("title")
        self.add("metadata", sum([str(cff.get("version")) != released, zenodo.get("version") != released,
                                  heading is None or heading.group(1) != released, cff.get("title") != title,
                                  zenodo.get("title") != title, cff.get("type") != "dataset"]))

    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        steps: dict[str, float] = {}

        def step(name: str, call, *args):
            begun = time.perf_counter()
            value = call(*args)
            steps[name] = round(time.perf_counter() - begun, 3)
            return value

        step("read", self.read)
        step("cells", self.cells)
        step("keys", self.keys)
        step("rules", self.rules)
        manifest = step("manifest", self.manifest)
        step("stable ids", self.releases, manifest)
        step("texts", self.texts)
        spans = step("quotes", self.quotes)
        units = step("coverage", self.coverage, spans)
        step("metadata", self.metadata, manifest)
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "problems": self.problems, "total": sum(self.problems.values()), "units": units,
                "steps": steps}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path)
    parser.add_argument("--sentences", type=Path, help="parquet (source_id, start, end): the texts' sentences, "
                                                       "when the package has no units resource")
    args = parser.parse_args(argv)
    print(json.dumps(Floor(args.package.resolve(), args.sentences).run()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
