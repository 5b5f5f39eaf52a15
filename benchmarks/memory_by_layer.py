"""Where `nkru validate`'s memory goes, layer by layer, in one process.

    python benchmarks/memory_by_layer.py PACKAGE [--every 0.01]

Runs `nkru.api.validate_package` on PACKAGE (every layer, in this process, as `nkru validate` does) while a
thread samples this process's resident memory (/proc/self/statm) every `--every` seconds. Prints, per
layer: the resident memory when it starts, its peak and when it ends (after the columns no later layer
reads are released), its seconds; and after each layer what the tables hold (polars' `estimated_size` of
every table's text and of its cached typed frame). Not a test: the figures go into docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024


def rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


class Sampler(threading.Thread):
    def __init__(self, every: float):
        super().__init__(daemon=True)
        self.every, self.peak, self.stopped = every, 0, False

    def reset(self) -> None:
        self.peak = rss()

    def run(self) -> None:
        while not self.stopped:
            self.peak = max(self.peak, rss())
            time.sleep(self.every)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path)
    parser.add_argument("--every", type=float, default=0.01)
    parser.add_argument("--collect", action="store_true", help="collect cyclic garbage after each layer (gc.collect)")
    args = parser.parse_args(argv)
    os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")  # as the `nkru` command does

    from nkru import api

    sampler = Sampler(args.every)
    sampler.reset()
    sampler.start()
    rows: list[tuple[str, int, int, int, float, str]] = []
    state: dict[str, object] = {}
    original_run = api._run_layers
    original_release = api._release_columns

    def holdings(package) -> str:
        text = typed = 0
        for table in package._tables.values():
            if table is None:
                continue
            text += table._text.estimated_size()  # what is held: `text` would read spilled columns again
            cached = table.__dict__.get("_typing")
            if cached is not None:
                typed += cached[0].estimated_size()
        return f"tables' text {text / MIB:,.0f} MiB, typed frames {typed / MIB:,.0f} MiB"

    def release(package, later):  # called after each layer: close its row, open the next
        original_release(package, later)
        if args.collect:
            import gc

            state["collected"] = state.get("collected", 0) + gc.collect()
        name, start, began = state["layer"], state["start"], state["began"]
        rows.append((name, start, sampler.peak, rss(), time.perf_counter() - began, holdings(package)))
        if later:
            state.update(layer=later[0], start=rss(), began=time.perf_counter())
            sampler.reset()

    def run_layers(package, names, options, report, fail_fast):
        state.update(layer=names[0], start=rss(), began=time.perf_counter())
        sampler.reset()
        return original_run(package, names, options, report, fail_fast)

    api._release_columns, api._run_layers = release, run_layers
    started = time.perf_counter()
    report = api.validate_package(args.package)
    total = time.perf_counter() - started
    sampler.stopped = True
    print(f"{'layer':<13} {'start':>9} {'peak':>9} {'end':>9} {'seconds':>8}  held after the layer")
    for name, start, peak, end, seconds, held in rows:
        print(f"{name:<13} {start / MIB:>8,.0f}M {peak / MIB:>8,.0f}M {end / MIB:>8,.0f}M {seconds:>8.1f}  {held}")
    errors = sum(len([f for f in layer.findings if f.severity == "error"]) for layer in report.layers)
    print(f"whole run {total:.1f} s, {errors} errors; peak RSS (getrusage) "
          f"{__import__('resource').getrusage(__import__('resource').RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
