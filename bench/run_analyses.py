"""Analysis benchmark: each analysis in-process after a warm-up, and `forensics findings` and
`forensics report` as whole processes, on the benchmark dataset (1 GB scenario by default).

Targets (issue "Analyses and findings"): each analysis under 2 s, `forensics findings` under
10 s. The machine is shared: medians over --repeat runs are printed, with CPU seconds beside
wall seconds (CPU moves less with other load).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = ROOT / ".venv" / "bin"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _time(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    fn()  # warm-up
    walls, cpus = [], []
    for _ in range(repeat):
        c, t = _cpu(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
    return statistics.median(walls), statistics.median(cpus)


def _dataset(size_mb: int, seed: int) -> Path:
    log = HERE / "data" / f"scenario-s{seed}-{size_mb}mb.log"
    ds = HERE / "data" / f"dataset-s{seed}-{size_mb}mb"
    if not log.exists():
        subprocess.run(
            [str(BIN / "python"), "-m", "forensics.scenario", "-o", str(log), "--seed",
             str(seed), "--size-mb", str(size_mb)], check=True,
        )  # fmt: skip
    if not (ds / "manifest.json").exists():
        subprocess.run(
            [str(BIN / "forensics"), "ingest", str(log), "-o", str(ds), "-q"], check=True
        )
    return ds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    ds = _dataset(args.size_mb, args.seed)

    from forensics.analyses import (
        attribution,
        availability,
        concurrency,
        downtime,
        lifetimes,
        memory,
        releases,
        request_errors,
        timeouts,
    )
    from forensics.findings import collect_findings
    from forensics.store.views import open_dataset

    con = open_dataset(ds)
    lt = lifetimes.lifetimes(con)
    growth = memory.memory_growth(con, lifetimes=lt)
    cases: dict[str, Callable[[], Any]] = {
        "lifetimes": lambda: lifetimes.lifetimes(con),
        "memory_growth": lambda: memory.memory_growth(con, lifetimes=lt),
        "quota_episodes": lambda: memory.quota_episodes(con, lifetimes=lt),
        "route_attribution": lambda: attribution.route_attribution(
            con, lifetimes=lt, growth=growth
        ),
        "release_stats": lambda: releases.release_stats(con, lifetimes=lt, growth=growth),
        "timeouts.error_counts": lambda: timeouts.error_counts(con),
        "timeouts.service_percentiles": lambda: timeouts.service_percentiles(con),
        "timeouts.hotspots": lambda: timeouts.hotspots(con),
        "timeouts.timeout_details": lambda: timeouts.timeout_details(con),
        "availability.crashes": lambda: availability.crashes(con),
        "availability.stayed_down": lambda: availability.stayed_down(con),
        "availability.unclean_shutdowns": lambda: availability.unclean_shutdowns(con),
        "downtime.downtime": lambda: downtime.downtime(con),
        "request_errors.request_errors": lambda: request_errors.request_errors(con),
        "concurrency.in_flight": lambda: concurrency.in_flight(con),
        "concurrency.configured_concurrency": lambda: concurrency.configured_concurrency(con),
        "concurrency.sizing": lambda: concurrency.sizing(con),
        "collect_findings (in-process)": lambda: collect_findings(con),
    }
    results: dict[str, Any] = {"dataset": str(ds), "in_process": {}, "process": {}}
    print(f"dataset {ds}")
    print(f"{'analysis':40s} {'wall s':>8s} {'CPU s':>8s}  (median of {args.repeat})")
    for name, fn in cases.items():
        wall, cpu = _time(fn, args.repeat)
        results["in_process"][name] = {"wall_s": wall, "cpu_s": cpu}
        flag = "" if wall < 2.0 or name.startswith("collect") else "  over 2 s"
        print(f"{name:40s} {wall:8.2f} {cpu:8.2f}{flag}")
    for name, argv in {
        "forensics findings": [str(BIN / "forensics"), "findings", str(ds), "--json"],
        "forensics incidents": [str(BIN / "forensics"), "incidents", str(ds), "--json"],
        "forensics report": [str(BIN / "forensics"), "report", str(ds), "-o", "/tmp/bench.html"],
    }.items():
        walls = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
            walls.append(time.perf_counter() - t)
        results["process"][name] = {"wall_s": statistics.median(walls)}
        print(f"{name + ' (whole process)':40s} {statistics.median(walls):8.2f}")
    out = HERE / "results" / f"analyses-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
