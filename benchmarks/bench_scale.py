"""Speed and memory of `nkru validate` on realistic packages of 10k to 1M claims, next to a DuckDB floor.

    python benchmarks/bench_scale.py --sizes 10k,100k,1M --budget 3600 --out docs/performance.md

For each size (claims; `k` and `M` suffixes):

1. `benchmarks/scale_package.py` generates the package at the real package's ratios (whole copies of
   it, texts of the real length shuffled by lines, a release manifest, the metadata files);
2. `nkru validate PACKAGE --format json` runs in a fresh process, **cold** (an empty sentence cache, or
   none with `--cache off`: nothing cached anywhere; the operating system's file cache is warm), then
   **warm** (a second fresh process with the cache the first one left); the cold run must report 0
   errors, or the benchmark stops with the first findings (exit 1);
3. the **DuckDB floor** (`benchmarks/scale_floor.py`: the same checks, column-wise in DuckDB) runs before,
   between and after the nkru runs, each time in a fresh process, and must find 0 problems. Each nkru run's
   ratio is to the mean of the two floor runs around it: on a shared machine load changes, and it hits
   the neighbours alike.

Wall time from the clock; CPU time (user + system of the process and every child it waited for) from
wait4() (the floor's DuckDB uses both cores, so its CPU time exceeds its wall time on a quiet machine; the
CPU ratio is less disturbed by other load than the wall ratio); peak memory is the largest **sum of resident memory over the process tree** (the process and
every descendant: nkru's great-expectations worker and the coverage layer's splitter processes), read from
/proc every 20 ms, and at least the largest high-water mark (VmHWM) of one of them, read at the same time.
(A sum of RSS counts pages shared between processes once per process: an upper bound. Not wait4()'s
ru_maxrss: a child forked from the benchmark, which holds the package it just generated, takes the
benchmark's high-water mark with it until it execs, and ru_maxrss then reports the benchmark's memory.) Per-layer seconds come from the JSON report.

`--budget SECONDS` (default 600) bounds the whole run: a size whose estimate (the previous size's time,
scaled by the number of claims) does not fit in what is left is skipped and reported as skipped, and every
process is killed when the budget runs out. The defaults (`--sizes 10k`, 600 s) keep a CI run short.
`--out FILE` writes the Markdown (a header with date, machine and versions, then the table) into FILE
between the lines `<!-- bench_scale:begin -->` and `<!-- bench_scale:end -->` when FILE has them, and
as the whole file otherwise; `--json FILE` also keeps the raw figures. Not a test: the figures go into
docs/performance.md; tests/test_bench_scale.py checks the generator and the floor on 1k claims.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from scale_package import generate, parse_size, sentences_path  # noqa: E402

LAYERS = ["structure", "rules", "expectations", "coverage", "metadata"]
BEGIN, END = "<!-- bench_scale:begin -->", "<!-- bench_scale:end -->"


#: `PF_FORKNOEXEC` in /proc/PID/stat's flags: forked and not yet exec'd, so its memory is its parent's pages
FORKED_NOT_EXECED = 0x40


def _tree_memory_kb(pid: int) -> tuple[int, int]:
    """Of `pid` and all its descendants now (kB, from /proc): the sum of their resident memory, and the
    largest high-water mark (VmHWM) of one of them; (0, 0) when it is gone. A child that is forked and not
    yet exec'd (nkru starting `git`) is not counted: its pages are its parent's, counted once already."""
    total, highest, stack, seen = 0, 0, [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            counted = current == pid or not int(stat.rsplit(")", 1)[1].split()[6]) & FORKED_NOT_EXECED
            for line in Path(f"/proc/{current}/status").read_text().splitlines() if counted else ():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    highest = max(highest, int(line.split()[1]))
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total, highest


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def run(argv: list[str], env: dict[str, str], deadline: Deadline) -> dict:
    """One fresh process: wall, CPU, peak tree RSS, exit code, stdout; killed (its whole session) at the deadline."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
                             start_new_session=True)
    peak = [0]
    done = threading.Event()
    timed_out = [False]

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], *_tree_memory_kb(child.pid))
            if deadline.left() <= 0 and not timed_out[0]:
                timed_out[0] = True
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(child.stderr.read()), daemon=True)
    reader.start()
    out = child.stdout.read()
    reader.join()
    _, status, usage = os.wait4(child.pid, 0)
    done.set()
    sampler.join()
    return {"wall": time.perf_counter() - started, "cpu": usage.ru_utime + usage.ru_stime,
            # Not wait4()'s ru_maxrss: a child forked from this process (which holds the package it generated)
            # inherits this process's high-water mark until it execs, so ru_maxrss would report ours.
            "peak_mib": peak[0] / 1024, "exit": os.waitstatus_to_exitcode(status),
            "timeout": timed_out[0], "stdout": out, "stderr": "".join(err)[-2000:]}


def floor(package: Path, deadline: Deadline) -> dict:
    measured = run([sys.executable, str(HERE / "scale_floor.py"), str(package), "--sentences",
                    str(sentences_path(package))], dict(os.environ), deadline)
    lines = [line for line in measured.pop("stdout").splitlines() if line.startswith("{")]
    report = json.loads(lines[-1]) if measured["exit"] == 0 and lines else {}
    measured.update(inner=report.get("seconds"), problems=report.get("problems"), total=report.get("total"),
                    units=report.get("units"), steps=report.get("steps"))
    return measured


def nkru(package: Path, cache: str | Path, deadline: Deadline) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NKRU_IN_PROCESS"}
    env["NKRU_CACHE_DIR"] = str(cache)
    measured = run([sys.executable, "-m", "nkru", "validate", str(package), "--format", "json"], env, deadline)
    try:
        report = json.loads(measured.pop("stdout"))
    except ValueError:
        report = {}
    measured["errors"] = report.get("errors")
    measured["layers"] = {layer["layer"]: layer["seconds"] for layer in report.get("layers", [])}
    measured["first_errors"] = [f"{f.get('code')}: {f.get('message')}" for f in report.get("findings", [])
                                if f.get("severity") == "error"][:5]
    return measured


def measure(size: int, args: argparse.Namespace, deadline: Deadline) -> dict:
    package = args.work / f"claims-{size}"
    started = time.perf_counter()
    if args.reuse and (package / "datapackage.json").is_file() and sentences_path(package).is_file():
        summary = json.loads((args.work / f"claims-{size}.json").read_text())
    else:
        summary = generate(package, size, log=lambda m: print("…", m, file=sys.stderr, flush=True)).summary()
        (args.work / f"claims-{size}.json").write_text(json.dumps(summary))
    summary["csv_bytes"] = sum(p.stat().st_size for p in (package / "data").glob("*.csv"))
    print(f"… {size:,} claims: generated in {time.perf_counter() - started:.0f} s: {summary}", file=sys.stderr, flush=True)
    cache = "off" if args.cache == "off" else args.work / f"cache-{size}"
    result: dict = {"package": summary, "floors": [], "runs": {}}
    result["floors"].append(floor(package, deadline))
    for label in ("cold", "warm"):
        if label == "cold" and cache != "off" and Path(cache).exists():
            shutil.rmtree(cache)
        measured = nkru(package, cache, deadline)
        result["runs"][label] = measured
        result["floors"].append(floor(package, deadline))
        print(f"… {size:,} {label}: {measured['wall']:.1f} s, {measured['peak_mib']:.0f} MiB, errors {measured['errors']}, "
              f"floor {result['floors'][-1]['wall']:.1f} s", file=sys.stderr, flush=True)
        if measured["timeout"]:
            break
    result["seconds"] = time.perf_counter() - started
    if not args.keep:
        shutil.rmtree(package, ignore_errors=True)
        sentences_path(package).unlink(missing_ok=True)
        if cache != "off":
            shutil.rmtree(cache, ignore_errors=True)
    return result


def problems(result: dict) -> list[str]:
    """What makes a measured size invalid: nkru errors (the cold run must report 0), or a floor problem."""
    found = []
    for label, run_ in result["runs"].items():
        if run_["timeout"]:
            found.append(f"{label}: killed at the end of the budget")
        elif run_["errors"] != 0:
            found.append(f"{label}: nkru validate reported {run_['errors']} errors (exit {run_['exit']}): "
                         + "; ".join(run_["first_errors"]) + (run_["stderr"][-500:] if run_["errors"] is None else ""))
    for measured in result["floors"]:
        if measured["timeout"]:
            found.append("floor: killed at the end of the budget")
        elif measured.get("total") != 0:
            found.append(f"floor: {measured.get('total')} problems {measured.get('problems')} {measured['stderr'][-500:]}")
    return found


def machine() -> str:
    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} CPUs, {memory:.1f} GiB RAM, Linux {platform.release()}, Python {platform.python_version()}"


def versions() -> str:
    from importlib.metadata import version

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return f"nkru {version('nkru')} (commit {commit or 'unknown'}), duckdb {version('duckdb')}, polars {version('polars')}"


def markdown(results: dict[int, dict], skipped: dict[int, str], meta: dict) -> str:
    lines = [f"Run of {meta['date']} on {meta['machine']}; {meta['versions']}; load average {meta['load']} at the start; "
             f"cold = {meta['cold']}.", ""]
    lines.append("| claims | texts (MB) | CSV (MB) | run | whole run (s) | CPU (s) | " + " | ".join(LAYERS)
                 + " | peak memory, all processes (MiB) | DuckDB floor (s) | ratio | CPU ratio |")
    lines.append("|---:|---:|---:|---|---:|---:|" + "---:|" * len(LAYERS) + "---:|---:|---:|---:|")
    for size in sorted(results):
        r = results[size]
        pkg = r["package"]
        done = [f for f in r["floors"] if not f["timeout"] and f.get("total") is not None]
        for index, label in enumerate(("cold", "warm")):
            if label not in r["runs"]:
                continue
            m = r["runs"][label]
            around = [f for f in r["floors"][index:index + 2] if f in done] or done
            base = sum(f["wall"] for f in around) / len(around) if around else float("nan")
            cpu_base = sum(f["cpu"] for f in around) / len(around) if around else float("nan")
            layers = " | ".join(f"{m['layers'][layer]:.1f}" if layer in m["layers"] else "–" for layer in LAYERS)
            killed = m["timeout"]
            wall = f"> {m['wall']:.0f} (killed)" if killed else f"{m['wall']:.1f}"
            more = "> " if killed else ""
            lines.append(f"| {pkg['rows']['claims']:,} | {pkg['texts']:,} ({pkg['text_bytes'] / 1e6:.0f}) | "
                         f"{pkg['csv_bytes'] / 1e6:.0f} | {label} | {wall} | {more}{m['cpu']:.1f} | {layers} | "
                         f"{more}{m['peak_mib']:,.0f} | {base:.2f} | **{more}{m['wall'] / base:.1f}×** | "
                         f"{more}{m['cpu'] / cpu_base:.1f}× |")
        if done:
            walls = [f["wall"] for f in done]
            lines.append(f"| | | | floor alone: min {min(walls):.2f} s of {len(walls)} runs, CPU {min(f['cpu'] for f in done):.1f} s, "
                         f"peak {max(f['peak_mib'] for f in done):,.0f} MiB, coverage from {done[0].get('units')} | | | "
                         + " | " * len(LAYERS) + " | | | |")
    for size, why in sorted(skipped.items()):
        lines.append(f"| {size:,} | | | skipped: {why} | | | " + " | " * len(LAYERS) + " | | | |")
    rows = {size: r["package"]["rows"] for size, r in results.items()}
    if rows:
        largest = max(rows)
        lines += ["", "Rows at the largest size: " + ", ".join(f"{name} {count:,}" for name, count in rows[largest].items())
                  + f"; release manifest of the first {results[largest]['package']['base_copies']:,} of "
                    f"{results[largest]['package']['copies']:,} copies."]
    return "\n".join(lines)


def write_out(path: Path, text: str) -> None:
    block = f"{BEGIN}\n{text}\n{END}"
    if path.is_file():
        current = path.read_text(encoding="utf-8")
        if BEGIN in current and END in current:
            head, rest = current.split(BEGIN, 1)
            tail = rest.split(END, 1)[1]
            path.write_text(head + block + tail, encoding="utf-8")
            return
    path.write_text(block + "\n", encoding="utf-8")


def render(files: list[Path], out: Path | None) -> int:
    """The Markdown of earlier runs (their --json files, merged; the first file's header), printed and written to `out`."""
    results: dict[int, dict] = {}
    skipped: dict[int, str] = {}
    metas = []
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        metas.append(data["meta"])
        results.update({int(size): result for size, result in data["results"].items()})
        skipped.update({int(size): why for size, why in data.get("skipped", {}).items()})
    for size in results:
        skipped.pop(size, None)
    meta = dict(metas[0])
    if len(metas) > 1:
        meta["date"] = " and ".join(dict.fromkeys(m["date"] for m in metas))
        meta["load"] = "; ".join(m["load"] for m in metas)
        meta["cold"] = "; ".join(dict.fromkeys(m["cold"] for m in metas))
    text = markdown(results, skipped, meta)
    print(text)
    if out:
        write_out(out, text)
    return 0


def _cold_meaning(cache: str) -> str:
    """What "cold" means for the nkru measured: since units are data (issue 22) validation keeps no cache."""
    if "NKRU_CACHE_DIR" not in (REPO / "nkru" / "coverage.py").read_text(encoding="utf-8"):
        return ("a fresh process; nkru keeps no cache (units are data), so cold and warm differ only in the "
                "operating system's file cache and the load")
    if cache == "off":
        return "a fresh process, sentence cache off (NKRU_CACHE_DIR=off)"
    return "a fresh process, sentence cache emptied (warm: the cache the cold run wrote)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k", help="comma-separated claims per package (default 10k), e.g. 10k,100k,1M")
    parser.add_argument("--budget", type=float, default=600, help="seconds for the whole run (default 600)")
    parser.add_argument("--cache", choices=("empty", "off"), default="empty",
                        help="cold run with an emptied sentence cache (default) or with the cache off (NKRU_CACHE_DIR=off)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/nkru-bench-scale"))
    parser.add_argument("--out", type=Path, help="write the Markdown here (between the bench_scale markers if present)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--keep", action="store_true", help="keep the generated packages in --work")
    parser.add_argument("--reuse", action="store_true", help="reuse packages kept in --work by an earlier --keep")
    parser.add_argument("--render", type=Path, nargs="+", metavar="JSON",
                        help="measure nothing: render the figures of earlier --json files (merged) as Markdown")
    args = parser.parse_args(argv)
    if args.render:
        return render(args.render, args.out)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    args.work.mkdir(parents=True, exist_ok=True)
    deadline = Deadline(args.budget)
    meta = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(), "versions": versions(),
            "load": " ".join(f"{v:.1f}" for v in os.getloadavg()),
            "cold": _cold_meaning(args.cache)}
    results: dict[int, dict] = {}
    skipped: dict[int, str] = {}
    failed: list[str] = []
    previous: tuple[int, float] | None = None
    for size in sorted(sizes):
        if previous is not None:
            estimate = previous[1] * size / previous[0]
            if estimate > deadline.left():
                skipped[size] = f"estimated {estimate:.0f} s, {max(deadline.left(), 0):.0f} s of the budget left"
                continue
        results[size] = measure(size, args, deadline)
        previous = (size, results[size]["seconds"])
        failed += [f"{size:,} claims: {p}" for p in problems(results[size])]
        if args.json:
            args.json.write_text(json.dumps({"meta": meta, "results": results, "skipped": skipped}, indent=2) + "\n")
        if failed:
            break
    text = markdown(results, skipped, meta)
    print(text)
    if args.out:
        write_out(args.out, text)
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": results, "skipped": skipped}, indent=2) + "\n")
    for problem in failed:
        print("INVALID:", problem, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
