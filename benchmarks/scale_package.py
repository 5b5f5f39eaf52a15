"""A valid nkru package of any size at the real package's ratios (issue 22, "Scale to measure against").

    python benchmarks/scale_package.py TARGET --claims 100000

The real package (this repository's datapackage.json, data/*.csv, data/sources/*.txt) is the template.
A package of N claims holds k = ceil(N / claims in the real package) copies of it, each copy's IDs
renumbered, so every resource keeps the real ratios exactly: per article about 16 claims, 10 exclusions,
12 actors, 6 events, 16 event_actors rows, 1.6 denials and one retraction (whatever the real package
holds when this runs: the ratios are read from data/*.csv, never written here), and 1M claims give
about 62,000 texts.

- **Texts of the real length, every one different.** Each copy of an article is the real article's
  lines in another order (a seeded shuffle of blocks of lines; a block is one line unless a quote or
  unit spans a line break, then the lines it spans). The texts therefore keep the real length
  (2–4.7 KB, 3.1 KB on average) and every sentence of the real text, which coverage splits line by line
  as before, so every sentence stays covered; each quote stays a verbatim substring, and its offsets
  (and every unit's) are moved with its line. A text whose bytes another copy already has is shuffled
  again, so every text has its own SHA-256.
- **Units.** When the template's datapackage.json declares a `units` resource (issue 22: the sentences
  of each text as data), its rows are copied and moved like the quotes. When it declares one but the
  template has no rows, they are made with nkru's own splitter (the sentences the coverage layer
  computed before units existed). Either way the generator also returns the spans of every unit or
  sentence of every text (`sentences`), which the DuckDB floor uses for its coverage join when the
  package has no units resource (`benchmarks/scale_floor.py`).
- **A release manifest.** The first `--base` share of the copies (default 90%) is "the last release":
  its manifest `releases/X.Y.Z.json` (X.Y.Z the newest release in CHANGELOG.md) is written with the
  project's own manifest code (`nkru.manifest.resource_entry`, `Manifest.dumps`: the entries `nkru
  release` writes for the tables, and the SHA-256 and size of every release file of that base), so
  the stable-ID check and the row-count floors compare with a release, as on the real package. The
  copies after the base are the articles added since. The manifest lists no archive (no zip is built).
- **Metadata** (CITATION.cff, .zenodo.json, CHANGELOG.md, README.md, pyproject.toml with the coverage
  threshold, LICENSE) is copied, so the metadata layer runs as on the real package.

IDs grow past three digits as the schemas allow (`C999`, then `C1000`); a template schema whose ID
pattern still has exactly three digits is widened in the copy.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import io
import json
import math
import random
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: Files copied as they are (when the template has them).
COPY_FILES = ["CITATION.cff", ".zenodo.json", "CHANGELOG.md", "README.md", "pyproject.toml", "LICENSE",
              "data/sources/NOTICE.md"]
UNITS = "units"
SOURCES = "sources"
#: (start, end) column pairs that are offsets into a source text (a row with `source_id` and one of these).
OFFSET_PAIRS = (("quote_start", "quote_end"), ("start", "end"))
#: An ID pattern: ^ then a letter or a class of letters, then digits (`^C([0-9]{3}|[1-9][0-9]{3,})$`, `^[ACDESX]...`).
ID_PATTERN = re.compile(r"^\^(\[[A-Z]+\]|[A-Z])\(?\[0-9\]")
ID_VALUE = r"^([A-Z])([0-9]+)$"
OLD_DIGITS = "[0-9]{3}"
WIDE_DIGITS = "([0-9]{3}|[1-9][0-9]{3,})"


@dataclass
class Generated:
    """What `generate` wrote."""

    root: Path
    copies: int
    base_copies: int
    rows: dict[str, int]
    texts: int
    text_bytes: int
    release: str | None
    units_in_package: bool
    #: The spans of every unit (or, without a units resource, every sentence) of every text:
    #: a polars frame (source_id, start, end) in code points of the file; the floor's coverage data.
    sentences: Any = field(repr=False, default=None)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"copies": self.copies, "base_copies": self.base_copies, "rows": self.rows, "texts": self.texts,
                "text_bytes": self.text_bytes, "release": self.release, "units_in_package": self.units_in_package,
                "seconds": round(self.seconds, 1)}


def _schema_for(template: Path, resource: dict[str, Any]) -> dict[str, Any]:
    return json.loads((template / resource["schema"]).read_text(encoding="utf-8"))


def _widen(schema: dict[str, Any]) -> dict[str, Any]:
    """Patterns with exactly three digits (`^C[0-9]{3}$`) allow more (`^C([0-9]{3}|[1-9][0-9]{3,})$`)."""
    for spec in schema.get("fields", []):
        constraints = spec.get("constraints") or {}
        pattern = constraints.get("pattern")
        if isinstance(pattern, str) and OLD_DIGITS in pattern and "{3,}" not in pattern:
            constraints["pattern"] = pattern.replace(OLD_DIGITS, WIDE_DIGITS)
    return schema


def _id_fields(schema: dict[str, Any], schemas: dict[str, dict[str, Any]] | None = None, name: str | None = None) -> list[str]:
    """Fields holding IDs: an ID pattern, or a foreign key to a field with one (in `schemas`)."""
    found = [spec["name"] for spec in schema.get("fields", [])
             if ID_PATTERN.match(str((spec.get("constraints") or {}).get("pattern") or ""))]
    for fk in schema.get("foreignKeys", []) if schemas else []:
        fields = fk["fields"] if isinstance(fk["fields"], list) else [fk["fields"]]
        ref = fk.get("reference") or {}
        ref_fields = ref.get("fields") if isinstance(ref.get("fields"), list) else [ref.get("fields")]
        target = schemas.get(ref.get("resource") or name) or {}
        target_ids = _id_fields(target) if target else []
        found += [f for f, r in zip(fields, ref_fields) if r in target_ids and f not in found]
    return found


def _offset_pair(names: list[str]) -> tuple[str, str] | None:
    if "source_id" not in names:
        return None
    for start, end in OFFSET_PAIRS:
        if start in names and end in names:
            return start, end
    return None


def _blocks(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The text's lines as (start, end) blocks, the separating "\\n" not included; lines joined into one block
    where a span crosses a line break, so that every span lies inside one block."""
    starts = [0, *(m.end() for m in re.finditer("\n", text))]
    ends = [s - 1 for s in starts[1:]] + [len(text)]
    joined = [False] * len(starts)  # joined[i]: line i belongs to the block of line i - 1
    for start, end in spans:
        first = bisect.bisect_right(starts, start) - 1
        last = bisect.bisect_right(starts, max(start, end - 1)) - 1
        for line in range(first + 1, last + 1):
            joined[line] = True
    blocks: list[tuple[int, int]] = []
    for line, (start, end) in enumerate(zip(starts, ends)):
        if joined[line]:
            blocks[-1] = (blocks[-1][0], end)
        else:
            blocks.append((start, end))
    return blocks


def _template_units(template: Path, descriptor: dict[str, Any], texts: dict[str, str], sources):
    """The template's units (source_id, start, end, and unit_id where it has them) as a polars frame:
    data/units.csv when declared and present, else nkru's own sentence split of the real texts."""
    import polars as pl

    spec = next((r for r in descriptor["resources"] if r.get("name") == UNITS), None)
    if spec is not None and (template / spec["path"]).is_file():
        frame = pl.read_csv(template / spec["path"], infer_schema=False)
        if frame.height:
            return frame.with_columns(pl.col("start").cast(pl.Int64), pl.col("end").cast(pl.Int64)), True
    from nkru.units import propose_units  # the splitter that proposes a new source's units

    rows = []
    for source_id, language in sources.select("source_id", "language").iter_rows():
        rows.extend((source_id, start, end) for start, end in propose_units(texts[source_id], language))
    frame = pl.DataFrame(rows, schema={"source_id": pl.String, "start": pl.Int64, "end": pl.Int64}, orient="row")
    frame = frame.with_columns(pl.format("U{}", (pl.int_range(pl.len()) + 1).cast(pl.String).str.zfill(3)).alias("unit_id"))
    return frame.select("unit_id", "source_id", "start", "end"), False


def generate(target: Path, claims: int, *, base: float = 0.9, seed: int = 22, template: Path = REPO,
             log=None) -> Generated:
    """Write a valid package with about `claims` claims (whole copies of the template) to `target`."""
    import polars as pl

    from nkru.manifest import RELEASES, Manifest, resource_entry
    from nkru.metadata import Changelog

    started = time.perf_counter()
    say = log or (lambda message: None)
    if target.exists():
        shutil.rmtree(target)
    (target / "data" / "sources").mkdir(parents=True)
    (target / "schemas").mkdir()
    descriptor = json.loads((template / "datapackage.json").read_text(encoding="utf-8"))
    shutil.copy2(template / "datapackage.json", target / "datapackage.json")
    for name in COPY_FILES:
        if (template / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(template / name, target / name)

    resources = {r["name"]: r for r in descriptor["resources"]}
    schemas = {name: _widen(_schema_for(template, r)) for name, r in resources.items()}
    for name, r in resources.items():
        (target / r["schema"]).write_text(json.dumps(schemas[name], ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    frames = {name: pl.read_csv(template / r["path"], infer_schema=False) for name, r in resources.items()
              if (template / r["path"]).is_file()}
    real_claims = frames["claims"].height
    copies = max(1, math.ceil(claims / real_claims))
    base_copies = max(1, min(copies, math.floor(copies * base)))

    sources = frames[SOURCES]
    texts = {sid: (template / path).read_bytes().decode("utf-8") for sid, path in sources.select("source_id", "text_path").iter_rows()}
    units, units_present = _template_units(template, descriptor, texts, sources)
    units_declared = UNITS in resources
    if units_declared:
        frames[UNITS] = units.select(list(frames[UNITS].columns) if UNITS in frames else units.columns)
        frames[UNITS] = frames[UNITS].with_columns(pl.col("start").cast(pl.String), pl.col("end").cast(pl.String))

    # Every offset span of the template, per source: the blocks keep each one inside one block.
    spans: dict[str, list[tuple[int, int]]] = {sid: [] for sid in texts}
    offset_columns = {name: _offset_pair(list(frame.columns)) for name, frame in frames.items()}
    for name, pair in offset_columns.items():
        if pair:
            for sid, start, end in frames[name].select("source_id", *pair).iter_rows():
                if sid in spans and start and end:
                    spans[sid].append((int(start), int(end)))
    for sid, start, end in units.select("source_id", "start", "end").iter_rows():
        spans[sid].append((start, end))
    blocks = {sid: _blocks(text, spans[sid]) for sid, text in texts.items()}

    # The text of every copy of every article: its blocks shuffled; where each block now starts.
    say(f"writing {copies * len(texts):,} texts")
    rng = random.Random(seed)
    digests: set[str] = set()
    text_rows = []  # (copy, template source_id, sha256)
    block_rows = []  # (copy, template source_id, block, new start)
    text_bytes = 0
    ids = _id_renumbering(frames, schemas)
    for copy in range(copies):
        for sid, text in texts.items():
            order = list(range(len(blocks[sid])))
            for attempt in range(100):
                if copy or attempt:
                    rng.shuffle(order)
                pieces = [text[blocks[sid][b][0]:blocks[sid][b][1]] for b in order]
                data = "\n".join(pieces).encode("utf-8")
                digest = hashlib.sha256(data).hexdigest()
                if digest not in digests:
                    break
            else:
                raise RuntimeError(f"no new order of {sid}'s lines after 100 shuffles")
            digests.add(digest)
            position = 0
            new_starts = [0] * len(order)
            for block, piece in zip(order, pieces):
                new_starts[block] = position
                position += len(piece) + 1
            block_rows.extend((copy, sid, block, start) for block, start in enumerate(new_starts))
            new_id = ids["S"](copy, sid)
            (target / "data" / "sources" / f"{new_id}.txt").write_bytes(data)
            text_rows.append((copy, sid, digest))
            text_bytes += len(data)
    placed = pl.DataFrame(block_rows, schema={"_copy": pl.Int64, "_src": pl.String, "_block": pl.Int64, "_new": pl.Int64},
                          orient="row")
    hashes = pl.DataFrame(text_rows, schema={"_copy": pl.Int64, "source_id": pl.String, "_sha": pl.String}, orient="row")
    block_table = pl.DataFrame([(sid, b, s) for sid, bl in blocks.items() for b, (s, _) in enumerate(bl)],
                               schema={"_src": pl.String, "_block": pl.Int64, "_old": pl.Int64}, orient="row")

    starts = {sid: [s for s, _ in bl] for sid, bl in blocks.items()}

    def blockify(frame, pair):
        """On a template frame: each row's offsets (`_s`, `_e`), its block and the block's start in the real text."""
        start, end = pair
        frame = frame.with_columns(pl.col(start).cast(pl.Int64).alias("_s"), pl.col(end).cast(pl.Int64).alias("_e"),
                                   pl.col("source_id").alias("_src"))
        block_of = pl.Series("_block", [bisect.bisect_right(starts[sid], s) - 1
                                        for sid, s in frame.select("_src", "_s").iter_rows()], dtype=pl.Int64)
        return frame.with_columns(block_of).join(block_table, on=["_src", "_block"], how="left", maintain_order="left")

    def move(frame, pair):
        """Offsets moved with their block, per copy: new = offset - old block start + new block start."""
        start, end = pair
        frame = frame.join(placed, on=["_copy", "_src", "_block"], how="left", maintain_order="left")
        return frame.with_columns((pl.col("_s") - pl.col("_old") + pl.col("_new")).cast(pl.String).alias(start),
                                  (pl.col("_e") - pl.col("_old") + pl.col("_new")).cast(pl.String).alias(end))

    def copied(frame):
        return pl.concat([frame.with_columns(pl.lit(j, dtype=pl.Int64).alias("_copy")) for j in range(copies)])

    rows: dict[str, int] = {}
    written: dict[str, Any] = {}
    sentences = None
    source_pattern = {"fields": [{"name": "source_id", "constraints": {"pattern": "^S[0-9]{3}$"}}]}
    for name, frame in frames.items():
        columns = frame.columns
        pair = offset_columns.get(name)
        if pair:
            frame = blockify(frame, pair)
        elif name == SOURCES:
            frame = frame.with_columns(pl.col("source_id").alias("_src"))
        big = copied(frame) if frame.height else frame.with_columns(pl.lit(0, dtype=pl.Int64).alias("_copy"))
        if pair:
            big = move(big, pair)
        if name == SOURCES:
            big = big.join(hashes.rename({"source_id": "_src"}), on=["_copy", "_src"], how="left", maintain_order="left")
        big = big.with_columns(ids.expressions(name, schemas[name], columns, schemas))
        if name == SOURCES:
            big = big.with_columns(pl.format("data/sources/{}.txt", pl.col("source_id")).alias("text_path"),
                                   pl.col("_sha").alias("text_sha256"))
        if name == UNITS:
            sentences = big.select("source_id", pl.col("start").cast(pl.Int64), pl.col("end").cast(pl.Int64))
        written[name] = big
        big.select(columns).write_csv(target / resources[name]["path"], line_terminator="\n")
        rows[name] = big.height
    if sentences is None:  # no units resource: the sentences, moved like units would be, for the floor only
        extra = move(copied(blockify(units, ("start", "end"))), ("start", "end"))
        extra = extra.with_columns(ids.expressions(UNITS, source_pattern, ["source_id"]))
        sentences = extra.select("source_id", pl.col("start").cast(pl.Int64), pl.col("end").cast(pl.Int64))

    # The release: the first base_copies copies, its manifest written with the project's manifest code.
    changelog = Changelog.parse((target / "CHANGELOG.md").read_text(encoding="utf-8")) if (target / "CHANGELOG.md").is_file() else None
    release = changelog.latest if changelog is not None else None
    version = None
    if release is not None:
        version = release.version
        manifest = Manifest(version=version, date=release.date)
        for name, big in written.items():
            key = schemas[name].get("primaryKey") or []
            key = [key] if isinstance(key, str) else list(key)
            old = big.filter(pl.col("_copy") < base_copies).select(frames[name].columns)
            buffer = io.BytesIO()
            old.write_csv(buffer, line_terminator="\n")
            data = buffer.getvalue()
            manifest.files[resources[name]["path"]] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            manifest.resources[name] = resource_entry(resources[name]["path"], key,
                                                      [old.get_column(k).to_list() for k in key], old.height)
        for path in sorted(p for p in target.rglob("*") if p.is_file()):
            relative = path.relative_to(target).as_posix()
            if relative.startswith("data/"):
                if relative != "data/sources/NOTICE.md":
                    continue  # the tables are the base's (above); the texts are not in a release
            data = path.read_bytes()
            manifest.files[relative] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        (target / RELEASES).mkdir()
        (target / RELEASES / f"{version}.json").write_text(manifest.dumps(), encoding="utf-8")
    sentences.write_parquet(sentences_path(target))
    return Generated(target, copies, base_copies, rows, len(text_rows), text_bytes, version,
                     units_declared, sentences, time.perf_counter() - started)


def sentences_path(target: Path) -> Path:
    """Where `generate` writes the spans of the units or sentences of every text, beside the package (never in it)."""
    return target.with_name(target.name + ".sentences.parquet")


class _Renumbering:
    """Copy j's ID of a template ID: letter + (j * span + number), at least three digits, no leading zero past
    three (C085 in copy 0, C185 in copy 1 when the claims' numbers stay below 100, C12345085 later).
    The span per letter is the next power of ten above the largest number the template uses."""

    def __init__(self, spans: dict[str, int]):
        self.spans = spans

    def __getitem__(self, letter: str):
        def one(copy: int, ident: str) -> str:
            number = copy * self.spans[letter] + int(ident[1:])
            return f"{letter}{number:03d}"
        return one

    def expressions(self, name: str, schema: dict[str, Any], columns: list[str],
                    schemas: dict[str, dict[str, Any]] | None = None) -> list[Any]:
        import polars as pl

        out = []
        for column in _id_fields(schema, schemas, name):
            if column not in columns:
                continue
            letter = pl.col(column).str.extract(ID_VALUE, 1)
            number = pl.col(column).str.extract(ID_VALUE, 2).cast(pl.Int64, strict=False)
            span = letter.replace_strict(self.spans, default=None, return_dtype=pl.Int64)
            new = letter + (pl.col("_copy") * span + number).cast(pl.String).str.zfill(3)
            out.append(pl.when(number.is_null() | span.is_null()).then(pl.col(column)).otherwise(new).alias(column))
        return out


def _id_renumbering(frames: dict[str, Any], schemas: dict[str, dict[str, Any]]) -> _Renumbering:
    import polars as pl

    largest: dict[str, int] = {"S": 1, "U": 1}
    for name, frame in frames.items():
        for column in _id_fields(schemas[name], schemas, name):
            if column not in frame.columns:
                continue
            found = frame.select(pl.col(column).str.extract(ID_VALUE, 1).alias("l"),
                                 pl.col(column).str.extract(ID_VALUE, 2).cast(pl.Int64).alias("n")).drop_nulls()
            for letter, number in found.group_by("l").agg(pl.col("n").max()).iter_rows():
                largest[letter] = max(largest.get(letter, 0), number)
    return _Renumbering({letter: 10 ** len(str(number)) for letter, number in largest.items()})


def parse_size(text: str) -> int:
    """A number of claims: 2500, 10k, 1M (also bench_scale.py's --sizes)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmM]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (for example 10k, 100k, 1M, 2500)")
    number, suffix = float(match.group(1)), match.group(2).lower()
    return int(number * {"": 1, "k": 1_000, "m": 1_000_000}[suffix])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path)
    parser.add_argument("--claims", type=parse_size, default=10_000, help="claims to make: 2500, 10k, 1M (default 10k)")
    parser.add_argument("--base", type=float, default=0.9, help="share of the copies in the last release (default 0.9)")
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--template", type=Path, default=REPO, help="the package copied (default: this repository's)")
    args = parser.parse_args(argv)
    made = generate(args.target, args.claims, base=args.base, seed=args.seed, template=args.template, log=lambda m: print("…", m, file=sys.stderr))
    print(json.dumps(made.summary(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
