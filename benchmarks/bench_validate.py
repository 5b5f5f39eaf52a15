"""Cold wall time and peak memory of `nkru validate`, per layer, next to frictionless and a bare GX import.

    python benchmarks/bench_validate.py [--package DIR] [--repeat N] [--json FILE]

Every measurement is a fresh interpreter (a new process: nothing imported, nothing
cached in Python; the OS file cache stays warm, as on a developer's machine after
the first run). Wall time is taken around the child; peak memory is the child's
maximum resident set size from wait4(). Each command runs N times (default 5);
the table shows the minimum (least disturbed by other load) and the median.
Commands run round-robin (each once per round), so changing background load
hits them alike.

Prints a Markdown table and the two targets of docs/performance.md:
- everything except the expectations layer under 2 s;
- the whole run at most 1.5 s more than `python -c "import great_expectations"`.

Not a test: nothing here asserts; the figures go into docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_scale's measuring
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@dataclass
class Measurement:
    label: str
    command: str
    wall_min: float
    wall_median: float
    cpu_min: float
    peak_mb: float
    exit_codes: list[int]


def run_once(argv: list[str], cwd: Path) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in MB, exit code) of one fresh child process; CPU time and
    peak memory count any child process too (bench_scale.run)."""
    from bench_scale import Deadline, run

    here = os.getcwd()
    os.chdir(cwd)  # bench_scale.run starts the child where this process is
    try:
        done = run(argv, dict(os.environ), Deadline(3600))
    finally:
        os.chdir(here)
    return done["wall"], done["cpu"], done["peak_mib"], done["exit"]  # MiB, as ru_maxrss / 1024 always was


def summarise(label: str, argv: list[str], runs: list[tuple[float, float, float, int]]) -> Measurement:
    walls = [r[0] for r in runs]
    shown = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(argv))
    return Measurement(label, shown, min(walls), statistics.median(walls), min(r[1] for r in runs),
                       max(r[2] for r in runs), sorted({r[3] for r in runs}))


def measure_all(found: list[tuple[str, list[str]]], cwd: Path, repeat: int) -> list[Measurement]:
    """Round-robin: every command once per round, so a change in background load hits them all alike."""
    runs: dict[str, list] = {label: [] for label, _ in found}
    for round_ in range(repeat):
        print(f"… round {round_ + 1}/{repeat}", file=sys.stderr, flush=True)
        for label, argv in found:
            runs[label].append(run_once(argv, cwd))
    return [summarise(label, argv, runs[label]) for label, argv in found]


# A paired measurement in one fresh process: import great-expectations, then run the whole
# validation; the second part is what the run costs beyond the import, under the same load.
PAIRED = """
import json, sys, time
start = time.perf_counter()
import great_expectations
imported = time.perf_counter()
sys.argv = ["nkru", "validate", sys.argv[1], "--format", "json"]
import contextlib, io
from nkru.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main()
    except SystemExit:
        pass
done = time.perf_counter()
print(json.dumps({"import": imported - start, "rest": done - imported}))
"""


def paired(package: Path, repeat: int) -> tuple[list[float], list[float]]:
    """(GX import seconds, rest-of-run seconds) per fresh process."""
    imports, rests = [], []
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-c", PAIRED, str(package)], cwd=package, capture_output=True,
                              text=True, check=True)
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        imports.append(figures["import"])
        rests.append(figures["rest"])
    return imports, rests


def layers() -> list[str]:
    sys.path.insert(0, str(REPO))
    from nkru.layers import names

    return names()


def commands(package: Path) -> list[tuple[str, list[str]]]:
    nkru = [sys.executable, "-m", "nkru"]
    found = [
        ("python (empty interpreter)", [sys.executable, "-c", "pass"]),
        ("nkru --help", [*nkru, "--help"]),
        ("import great_expectations", [sys.executable, "-c", "import great_expectations"]),
        ("frictionless validate datapackage.json", [str(BIN / "frictionless"), "validate", "datapackage.json"]),
        ("nkru validate (all layers)", [*nkru, "validate", str(package)]),
        ("nkru validate --skip expectations", [*nkru, "validate", str(package), "--skip", "expectations"]),
    ]
    for layer in layers():
        found.append((f"nkru validate --only {layer}", [*nkru, "validate", str(package), "--only", layer]))
    return found


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        memory = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return (f"{cpu}, {os.cpu_count()} CPUs{memory}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}")


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    shown = []
    for name in ["great_expectations", "frictionless", "pandera", "pandas", "typer"]:
        try:
            shown.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return ", ".join(shown)


def table(results: list[Measurement], repeat: int) -> str:
    rows = ["| command | wall min (s) | wall median (s) | CPU min (s) | peak RSS (MB) | exit |",
            "| --- | ---: | ---: | ---: | ---: | --- |"]
    for m in results:
        rows.append(f"| `{m.label}` | {m.wall_min:.2f} | {m.wall_median:.2f} | {m.cpu_min:.2f} | {m.peak_mb:.0f} | "
                    f"{','.join(map(str, m.exit_codes))} |")
    return "\n".join(rows) + (f"\n\n{repeat} fresh processes per command; minimum and median wall time, minimum CPU time "
                             "(user + system: less disturbed by other load), largest peak RSS.")


def targets(results: list[Measurement]) -> str:
    by = {m.label: m for m in results}
    lines = []
    skip = by.get("nkru validate --skip expectations")
    if skip:
        ok = "met" if skip.wall_min < 2.0 else "MISSED"
        lines.append(f"- everything except expectations: {skip.wall_min:.2f} s min, {skip.wall_median:.2f} s median "
                     f"(target < 2 s): {ok}")
    total, gx = by.get("nkru validate (all layers)"), by.get("import great_expectations")
    if total and gx:
        extra_min = total.wall_min - gx.wall_min
        extra_median = total.wall_median - gx.wall_median
        extra_cpu = total.cpu_min - gx.cpu_min
        ok = "met" if extra_min <= 1.5 else "MISSED"
        lines.append(f"- whole run minus GX import: {extra_min:.2f} s on minima, {extra_median:.2f} s on medians, "
                     f"{extra_cpu:.2f} s CPU (target ≤ 1.5 s): {ok}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, default=REPO, help="package directory (default: the repository)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per command (default 5)")
    parser.add_argument("--json", type=Path, help="also write the raw figures to this JSON file")
    args = parser.parse_args(argv)
    package = args.package.resolve()
    load_before = os.getloadavg()[0]
    results = measure_all(commands(package), package, args.repeat)
    print("… paired runs", file=sys.stderr, flush=True)
    imports, rests = paired(package, args.repeat)
    print(f"Machine: {machine()}")
    print(f"Libraries: {versions()}")
    print(f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}; load average before: {load_before:.2f}\n")
    print(table(results, args.repeat))
    print()
    print(targets(results))
    print(f"- paired (same process: GX import, then the whole validation): import {statistics.median(imports):.2f} s, "
          f"the rest {min(rests):.2f} s min / {statistics.median(rests):.2f} s median "
          f"(target ≤ 1.5 s): {'met' if statistics.median(rests) <= 1.5 else 'MISSED'}")
    if args.json:
        from nkru.transaction import atomic_write_text

        atomic_write_text(args.json, json.dumps([asdict(m) for m in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
