"""Speed and memory of `nkru validate` at 10k, 100k and 1M claims, next to a DuckDB floor.

    python benchmarks/bench_scale.py [--claims 10000 100000 1000000] [--work DIR] [--json FILE]

For each size it

1. generates a valid package from the real one (`generate`): every table of the real package
   copied k times with its IDs renumbered per copy (so every primary key, foreign key, date,
   quote and sentence stays consistent); claims, denials, events, actors and event_actors grow
   with k; sources and exclusions grow up to `--max-source-copies` copies (default 100: 500
   distinct source texts), later copies citing the earlier ones' sources in turn. Each copy of a
   source text differs in its bytes (a trailing whitespace code, which sentence splitting and quote
   folding ignore), so it has its own SHA-256 and its own cache entry. The ID patterns of the
   copied schemas are widened from three digits to three to nine; nothing else changes.
2. runs `nkru validate` in a fresh process twice: with an empty sentence cache (cold) and again
   with the cache it left (warm), in one process;
   per-layer seconds come from the JSON report (the first layer that reads a table pays for reading
   it), wall time from the clock, CPU time from wait4(), peak RSS from wait4() and from the sum over
   the process and any children sampled in /proc;
3. runs the DuckDB floor in a fresh process on the same files: read every CSV, check every primary
   key for duplicates and every foreign key for orphans.

It must validate with 0 errors; a size that does not is reported as such. Not a test: nothing
here asserts; the figures go into docs/performance.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COPY_TOP = ["datapackage.json", "schemas", "CITATION.cff", ".zenodo.json", "CHANGELOG.md", "pyproject.toml", "LICENSE"]
ID = re.compile(r"^\^([A-Z])\[0-9\]\{3\}\$$")


def _id_fields(schema: dict) -> dict[str, str]:
    """field name -> ID letter, for fields whose pattern is ^X[0-9]{3}$."""
    found = {}
    for field in schema.get("fields", []):
        pattern = (field.get("constraints") or {}).get("pattern")
        match = ID.match(pattern or "")
        if match:
            found[field["name"]] = match.group(1)
    return found


def generate(target: Path, claims: int, *, max_source_copies: int = 100) -> dict[str, int]:
    """Write a valid package with about `claims` claims to `target`; returns rows per table."""
    import polars as pl

    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for item in COPY_TOP:
        source = REPO / item
        if source.is_dir():
            shutil.copytree(source, target / item)
        elif source.exists():
            shutil.copy2(source, target / item)
    descriptor = json.loads((REPO / "datapackage.json").read_text(encoding="utf-8"))
    real_claims = sum(1 for _ in open(REPO / "data" / "claims.csv", encoding="utf-8")) - 1
    copies = max(1, math.ceil(claims / real_claims))
    source_copies = min(copies, max_source_copies)
    (target / "data" / "sources").mkdir(parents=True)
    counts = {}
    for resource in descriptor["resources"]:
        name = resource["name"]
        schema_path = REPO / resource["schema"]
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
        widened = json.loads(json.dumps(schema).replace("[0-9]{3}", "[0-9]{3,9}"))
        (target / resource["schema"]).write_text(json.dumps(widened, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        frame = pl.read_csv(REPO / resource["path"], infer_schema=False)
        ids = _id_fields(schema)
        own = name in ("sources", "exclusions")
        n = source_copies if own else copies
        if frame.height == 0:
            n = 1
        big = pl.concat([frame.with_columns(pl.lit(j, dtype=pl.Int64).alias("_copy")) for j in range(n)])
        renumber = []
        for column, letter in ids.items():
            step = pl.col("_copy") % source_copies if letter in ("S", "X") else pl.col("_copy")
            number = pl.col(column).str.slice(1).cast(pl.Int64, strict=False) + step * 1000
            renumber.append(pl.when(pl.col(column).is_null() | (pl.col(column) == "")).then(pl.col(column))
                            .otherwise(pl.lit(letter) + number.cast(pl.String).str.zfill(3)).alias(column))
        big = big.with_columns(renumber)
        if name == "sources":
            big = _write_texts(big, target)
        big.drop("_copy").write_csv(target / resource["path"], line_terminator="\n")
        counts[name] = big.height
    return counts


def _write_texts(sources, target: Path):
    """One text file per source row: the real text plus a whitespace code unique to the copy."""
    import polars as pl

    paths, digests = [], []
    for source_id, old_path, copy in sources.select("source_id", "text_path", "_copy").iter_rows():
        data = (REPO / old_path).read_bytes()
        code = "".join(" " if bit == "0" else "\t" for bit in bin(copy)[2:])
        data = data.rstrip(b"\n") + b"\n" + code.encode() + b"\n" if copy else data
        path = f"data/sources/{source_id}.txt"
        (target / path).write_bytes(data)
        paths.append(path)
        digests.append(hashlib.sha256(data).hexdigest())
    return sources.with_columns(pl.Series("text_path", paths), pl.Series("text_sha256", digests))


FLOOR = r"""
import duckdb, json, sys, time
root = sys.argv[1]
started = time.perf_counter()
d = json.load(open(f"{root}/datapackage.json"))
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
problems = 0
for r in d["resources"]:
    con.execute(f"create table {r['name']} as select * from read_csv('{root}/{r['path']}', all_varchar=true, header=true)")
for r in d["resources"]:
    s = json.load(open(f"{root}/{r['schema']}"))
    key = s.get("primaryKey")
    if key:
        key = [key] if isinstance(key, str) else key
        cols = ", ".join(key)
        problems += con.execute(f"select count(*) from (select {cols} from {r['name']} group by {cols} having count(*) > 1)").fetchone()[0]
    for fk in s.get("foreignKeys", []):
        f = fk["fields"] if isinstance(fk["fields"], list) else [fk["fields"]]
        ref = fk["reference"]
        rf = ref["fields"] if isinstance(ref["fields"], list) else [ref["fields"]]
        parent = ref.get("resource") or r["name"]
        on = " and ".join(f"c.{a} = p.{b}" for a, b in zip(f, rf))
        notnull = " and ".join(f"c.{a} is not null" for a in f)
        problems += con.execute(f"select count(*) from {r['name']} c where {notnull} and not exists (select 1 from {parent} p where {on})").fetchone()[0]
print(json.dumps({"seconds": time.perf_counter() - started, "problems": problems}))
"""


CPU: dict[str, float] = {}  # CPU seconds (user + system) of the last run, per label
TREE_PEAK: dict[str, float] = {}  # the largest sum of resident memory over the process and its children (MB), per label


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its descendants now (MB), from /proc (Linux); 0 when it is gone."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total / 1024


def run(argv: list[str], env: dict[str, str] | None = None, label: str = "", cwd: Path | None = None
        ) -> tuple[float, float, int, str]:
    """(wall seconds, peak RSS MB, exit code, stdout) of one fresh child process; its CPU time goes to CPU[label]
    (less disturbed than wall time by other load on a shared machine).

    Peak RSS: the larger of wait4()'s (the largest single process: the child or, once reaped, any of its
    children) and the largest sum over the child and its children, sampled every 20 ms from /proc
    (a command may start a child process)."""
    import threading

    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True, cwd=cwd)
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _tree_rss_mb(child.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = child.stdout.read()
    done.set()
    sampler.join()
    _, status, usage = os.wait4(child.pid, 0)
    CPU[label] = usage.ru_utime + usage.ru_stime
    TREE_PEAK[label] = peak[0]
    return time.perf_counter() - started, max(usage.ru_maxrss / 1024, peak[0]), os.waitstatus_to_exitcode(status), out


WARM_ONLY = False  # --warm-only: keep the cache a previous run left and measure only the warm run


def measure(package: Path, cache: Path) -> dict:
    """Cold and warm runs as a user runs `nkru validate` (one process)."""
    env = dict(os.environ)
    env["NKRU_CACHE_DIR"] = str(cache)
    runs = [("warm", [])] if WARM_ONLY else [("cold", []), ("warm", [])]
    result: dict = {}
    for label, extra in runs:
        if label == "cold" and cache.exists():
            shutil.rmtree(cache)
        wall, peak, code, out = run([sys.executable, "-m", "nkru", "validate", str(package), "--format", "json", *extra],
                                    env, label)
        try:
            report = json.loads(out)
        except ValueError:
            report = {"errors": None, "layers": [], "findings": []}
        result[label] = {
            "wall": wall, "cpu": CPU[label], "peak_mb": peak, "exit": code, "errors": report.get("errors"),
            "layers": {layer["layer"]: layer["seconds"] for layer in report.get("layers", [])},
            "first_errors": [f["message"] for f in report.get("findings", []) if f.get("severity") == "error"][:5],
        }
    wall, peak, code, out = run([sys.executable, "-c", FLOOR, str(package)], label="duckdb")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    floor = json.loads(lines[-1]) if code == 0 and lines else {"seconds": None, "problems": None}
    result["duckdb"] = {"wall": wall, "cpu": CPU["duckdb"], "peak_mb": peak, "seconds": floor["seconds"], "problems": floor["problems"]}
    return result


def exponents(results: dict[int, dict]) -> dict[str, float]:
    """Growth exponent per layer between the smallest and the largest size: t ∝ rows^e."""
    sizes = sorted(results)
    if len(sizes) < 2:
        return {}
    small, large = results[sizes[0]]["warm"], results[sizes[-1]]["warm"]
    out = {}
    for layer, seconds in large["layers"].items():
        base = small["layers"].get(layer)
        if base and seconds and base > 0:
            out[layer] = math.log(seconds / base) / math.log(sizes[-1] / sizes[0])
    out["whole run"] = math.log(large["wall"] / small["wall"]) / math.log(sizes[-1] / sizes[0])
    return out


def markdown(results: dict[int, dict]) -> str:
    layers = ["structure", "rules", "expectations", "coverage", "metadata"]
    rows = ["| claims | cache | whole run (s) | " + " | ".join(layers) + " | peak RSS (GB) | errors | DuckDB floor (s) | ratio |",
            "|---:|---|---:|" + "---:|" * len(layers) + "---:|---:|---:|---:|"]
    for size in sorted(results):
        r = results[size]
        floor = r["duckdb"]["wall"]
        for label in ("cold", "warm", "warm, one process"):
            if label not in r:
                continue
            m = r[label]
            cells = " | ".join(f"{m['layers'].get(layer, float('nan')):.1f}" for layer in layers)
            rows.append(f"| {size:,} | {label} | {m['wall']:.1f} | {cells} | {m['peak_mb'] / 1024:.2f} | {m['errors']} | "
                        f"{floor:.1f} | {m['wall'] / floor:.1f}× |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/nkru-bench-scale"))
    parser.add_argument("--max-source-copies", type=int, default=100)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the generated packages")
    parser.add_argument("--reuse", action="store_true", help="reuse a package already generated in --work")
    parser.add_argument("--warm-only", action="store_true", help="only the warm-cache run (the cache in --work is kept)")
    args = parser.parse_args(argv)
    global WARM_ONLY
    WARM_ONLY = args.warm_only
    results: dict[int, dict] = {}
    for size in args.claims:
        package = args.work / f"claims-{size}"
        started = time.perf_counter()
        if args.reuse and (package / "datapackage.json").is_file():
            counts = {p.stem: sum(1 for _ in open(p, encoding="utf-8")) - 1 for p in (package / "data").glob("*.csv")}
        else:
            counts = generate(package, size, max_source_copies=args.max_source_copies)
        print(f"… {size:,} claims generated in {time.perf_counter() - started:.0f} s: {counts}", file=sys.stderr, flush=True)
        results[size] = measure(package, args.work / f"cache-{size}")
        results[size]["rows"] = counts
        print(json.dumps({size: results[size]}, default=str), file=sys.stderr, flush=True)
        if args.json:  # after every size, so a later failure loses nothing
            args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
        if not args.keep:
            shutil.rmtree(package)
    print(markdown(results))
    print()
    for layer, e in exponents(results).items():
        print(f"- {layer}: exponent {e:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
