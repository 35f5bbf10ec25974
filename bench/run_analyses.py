"""Analysis benchmark: each analysis in-process after a warm-up, and `forensics findings`,
`forensics incidents` and `forensics report` as whole processes, on the benchmark dataset
(1 GB scenario by default).

Targets: each analysis under 2 s; `forensics incidents` <= 5 s and `forensics report` <= 10 s,
whole process, on the first run after ingest (the commands read the cache of shared tables
that ingest wrote, `DIR/_cache/`, and never write it: every run is a first run). The machine
is shared: medians over --repeat runs are printed, with CPU seconds (user + system of the
process tree) beside wall seconds (CPU moves less with other load).
`--baseline DIR` runs the same commands with another checkout of the code (e.g. the main
branch) on PYTHONPATH, alternating with ours in each round, and prints the ratios.

The floor, run in the same rounds: a whole process that imports DuckDB and makes one plain
count(*) GROUP BY pass over each table of the dataset (requests by route and status class,
the others by dyno), the least any command reading the dataset can cost on this machine at
this load; each command is also printed as a multiple of it. The load average (1 min) is
printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
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
PY = sys.executable
# What the `forensics` entry point runs; with PYTHONPATH set, the code of that checkout.
ENTRY = "import sys; from forensics.cli import main; sys.argv[0] = 'forensics'; sys.exit(main())"
# The floor (see the module doc): one count(*) GROUP BY pass per table, as a whole process.
FLOOR = """
import json, sys, duckdb
root, parts = sys.argv[1], json.load(open(sys.argv[1] + '/manifest.json'))['parts']
con = duckdb.connect()
for table, files in sorted(parts.items()):
    if table.startswith('_') or not files:
        continue
    keys = {'requests': 'route, status // 100', 'rejects': 'reason'}.get(table, 'dyno')
    src = [root + '/' + f for f in files]
    scan = f"read_parquet({src!r}, union_by_name = true)"
    con.sql(f"SELECT {keys}, count(*) FROM {scan} GROUP BY ALL").fetchall()
"""


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


def _dataset(size_mb: int, seed: int, data: Path) -> Path:
    log = data / f"scenario-s{seed}-{size_mb}mb.log"
    ds = data / f"dataset-s{seed}-{size_mb}mb"
    data.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if not log.exists():
        subprocess.run(
            [PY, "-m", "forensics.scenario", "-o", str(log), "--seed", str(seed),
             "--size-mb", str(size_mb)], check=True, env=env,
        )  # fmt: skip
    if not (ds / "manifest.json").exists():
        subprocess.run(
            [PY, "-c", ENTRY, "ingest", str(log), "-o", str(ds), "-q"], check=True, env=env
        )
    return ds


def _run(argv: list[str], code: Path, program: str = ENTRY) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the child) of one whole-process run of
    `forensics ARGV` (or of `program ARGV`) with the code at `code`."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    # cwd = that checkout: `python -c` puts the working directory first on sys.path
    subprocess.run(
        [PY, "-c", program, *argv], check=True, stdout=subprocess.DEVNULL, env=env, cwd=code
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _processes(ds: Path, repeat: int, baseline: Path | None) -> dict[str, Any]:
    """The whole-process commands, ours and (when given) the baseline's in turn each round."""
    commands = {
        "forensics findings": ["findings", str(ds), "--json"],
        "forensics incidents": ["incidents", str(ds), "--json"],
        "forensics report": ["report", str(ds), "-o", str(HERE / "data" / "bench-report.html")],
    }
    codes = {"ours": ROOT, **({"baseline": baseline} if baseline else {})}
    out: dict[str, Any] = {"load_before": os.getloadavg()[0]}
    head = f"{'command (whole process)':28s} {'code':9s} {'wall s':>8s} {'CPU s':>8s}"
    print(f"load average (1 min) {out['load_before']:.2f}")
    print(f"{head}  {'x floor wall':>12s} {'x floor CPU':>12s}  (median of {repeat})")
    floor_runs: list[tuple[float, float]] = []
    for name, argv in commands.items():
        runs: dict[str, list[tuple[float, float]]] = {k: [] for k in codes}
        for i in range(repeat):
            floor_runs.append(_run([str(ds)], ROOT, FLOOR))  # each round: the load of now
            order = list(codes) if i % 2 == 0 else list(reversed(codes))
            for k in order:
                runs[k].append(_run(argv, codes[k]))
        out[name] = {}
        floor_wall = statistics.median(w for w, _ in floor_runs)
        floor_cpu = statistics.median(c for _, c in floor_runs)
        for k, rs in runs.items():
            wall = statistics.median(w for w, _ in rs)
            cpu = statistics.median(c for _, c in rs)
            ratio = {"x_floor_wall": wall / floor_wall, "x_floor_cpu": cpu / floor_cpu}
            out[name][k] = {"wall_s": wall, "cpu_s": cpu, "runs": rs, **ratio}
            print(
                f"{name:28s} {k:9s} {wall:8.2f} {cpu:8.2f}  {ratio['x_floor_wall']:12.1f}"
                f" {ratio['x_floor_cpu']:12.1f}"
            )
        if baseline:
            b, o = out[name]["baseline"], out[name]["ours"]
            out[name]["ratio_wall"] = b["wall_s"] / o["wall_s"]
            out[name]["ratio_cpu"] = b["cpu_s"] / o["cpu_s"]
            print(
                f"{name:28s} ours vs baseline: wall x{out[name]['ratio_wall']:.2f}, "
                f"CPU x{out[name]['ratio_cpu']:.2f}"
            )
    floor_wall = statistics.median(w for w, _ in floor_runs)
    floor_cpu = statistics.median(c for _, c in floor_runs)
    out["floor"] = {"wall_s": floor_wall, "cpu_s": floor_cpu, "runs": floor_runs}
    out["load_after"] = os.getloadavg()[0]
    print(f"{'floor (DuckDB count pass)':28s} {'-':9s} {floor_wall:8.2f} {floor_cpu:8.2f}")
    print(f"load average (1 min) {out['load_after']:.2f}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", type=Path, default=HERE / "data", help="where the dataset is kept")
    ap.add_argument("--dataset", type=Path, help="an ingested dataset to use instead")
    ap.add_argument("--baseline", type=Path, help="another checkout of the code to compare with")
    ap.add_argument("--process-only", action="store_true", help="only the whole-process runs")
    args = ap.parse_args()
    ds = args.dataset or _dataset(args.size_mb, args.seed, args.data)
    results: dict[str, Any] = {"dataset": str(ds), "in_process": {}, "process": {}}
    print(f"dataset {ds}")
    if args.process_only:
        results["process"] = _processes(ds, args.repeat, args.baseline)
        return _save(results)

    from forensics.analyses import (
        attribution,
        availability,
        concurrency,
        downtime,
        hung_dynos,
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
        "hung_dynos.hung_dynos": lambda: hung_dynos.hung_dynos(con),
        "concurrency.in_flight": lambda: concurrency.in_flight(con),
        "concurrency.configured_concurrency": lambda: concurrency.configured_concurrency(con),
        "concurrency.sizing": lambda: concurrency.sizing(con),
        "collect_findings (in-process)": lambda: collect_findings(con),
    }
    print(f"{'analysis':40s} {'wall s':>8s} {'CPU s':>8s}  (median of {args.repeat})")
    for name, fn in cases.items():
        wall, cpu = _time(fn, args.repeat)
        results["in_process"][name] = {"wall_s": wall, "cpu_s": cpu}
        flag = "" if wall < 2.0 or name.startswith("collect") else "  over 2 s"
        print(f"{name:40s} {wall:8.2f} {cpu:8.2f}{flag}")
    results["process"] = _processes(ds, args.repeat, args.baseline)
    return _save(results)


def _save(results: dict[str, Any]) -> int:
    out = HERE / "results" / f"analyses-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
