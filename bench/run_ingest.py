"""Ingest benchmark: `forensics ingest` with each engine (native: the compiled core; polars: the
Polars-expression parser) vs a DuckDB and a plain-Python baseline, as ratios.

Each contender runs as its own subprocess on the same cached input; wall time and the peak RSS
of its whole process tree are measured, medians over --repeat runs are printed with the
ratios engine/baseline, and the results are saved to bench/results/ingest-<timestamp>.json.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil
import pyarrow.parquet as pq

BENCH = Path(__file__).resolve().parent
DATA, RESULTS = BENCH / "data", BENCH / "results"
MIB = 1 << 20
SPEED_GATE = 3.0  # the lead engine must be at least this many times faster than DuckDB
RSS_GATE_MIB = 512.0  # the lead engine's worst peak RSS over the repeats must stay under this
SCALING_TOL = 1.25  # full-size / quarter-size peak RSS above this means memory grows with input
POLL_S = 0.05

# Runs argv[2:] and writes "<wall s> <ru_maxrss KiB> <user+sys CPU s>" to argv[1]. ru_maxrss is
# the exact peak of the biggest single process in the tree, which 50 ms polling could miss.
WRAPPER = """import resource, subprocess, sys, time
t = time.perf_counter(); rc = subprocess.call(sys.argv[2:]); t = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{t} {ru.ru_maxrss} {ru.ru_utime + ru.ru_stime}")
sys.exit(rc)"""


def ours_bin() -> str | None:
    """The `forensics` console script next to this interpreter (or on PATH), None if absent."""
    here = Path(sys.executable).parent / "forensics"
    return str(here) if here.exists() else shutil.which("forensics")


def ours(engine: str) -> Callable[[Path, Path], list[str] | None]:
    """The `forensics ingest` command with `engine`, or None without the console script."""

    def cmd(i: Path, o: Path) -> list[str] | None:
        b = ours_bin()
        return [b, "ingest", str(i), "-o", str(o), "--engine", engine] if b else None

    return cmd


ENGINES = ("native", "polars")
COMMANDS: dict[str, Callable[[Path, Path], list[str] | None]] = {
    "native": ours("native"),
    "polars": ours("polars"),
    "duckdb": lambda i, o: [sys.executable, str(BENCH / "baseline_duckdb.py"), str(i), str(o)],
    "python": lambda i, o: [sys.executable, str(BENCH / "baseline_python.py"), str(i), str(o)],
}


def input_stats(path: Path) -> dict[str, Any]:
    """Bytes and line count of the input (cached next to it), reading it once into page cache."""
    meta = path.with_name(path.name + ".stats.json")
    st = path.stat()
    if meta.exists():
        cached = json.loads(meta.read_text())
        if cached["bytes"] == st.st_size and cached["mtime"] == st.st_mtime:
            warm_cache(path)
            return cached
    lines = 0
    with open(path, "rb") as f:
        while chunk := f.read(16 * MIB):
            lines += chunk.count(b"\n")
    stats = {"path": str(path), "bytes": st.st_size, "lines": lines, "mtime": st.st_mtime}
    meta.write_text(json.dumps(stats))
    return stats


def warm_cache(path: Path) -> None:
    """Read the file once so every contender starts with it in the page cache."""
    with open(path, "rb") as f:
        while f.read(16 * MIB):
            pass


def scenario_input(size_mb: int, seed: int) -> Path:
    """The cached scenario file of that size and seed, generating it on first use."""
    path = DATA / f"scenario-s{seed}-{size_mb}mb.log"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        tmp, truth = path.with_suffix(".tmp"), path.with_suffix(".truth.json")
        cmd = [sys.executable, "-m", "forensics.scenario", "-o", str(tmp), "--truth", str(truth)]
        print(f"generating {path.name} ...", flush=True)
        subprocess.run([*cmd, "--seed", str(seed), "--size-mb", str(size_mb)], check=True)
        tmp.rename(path)
    return path


def prefix_input(src: Path, fraction: float) -> Path:
    """A cached copy of the first `fraction` of `src`, cut at a line end."""
    path = DATA / f"{src.stem}-{src.stat().st_size}-first{fraction:g}.log"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        with open(src, "rb") as f:
            head = f.read(int(src.stat().st_size * fraction))
            head += f.readline()
        path.write_bytes(head)
    return path


def table_rows(out: Path) -> dict[str, int]:
    """Row count per table of a Parquet output dir (table = first path part, sans .parquet)."""
    rows: dict[str, int] = {}
    for f in sorted(out.rglob("*.parquet")):
        table = f.relative_to(out).parts[0].removesuffix(".parquet")
        rows[table] = rows.get(table, 0) + pq.ParquetFile(f).metadata.num_rows
    return rows


def tree_rss(proc: psutil.Process) -> int:
    """Summed RSS in bytes of every descendant of `proc` (the wrapper itself excluded)."""
    total = 0
    try:
        kids = proc.children(recursive=True)
    except psutil.Error:
        return 0
    for k in kids:
        with contextlib.suppress(psutil.Error):
            total += k.memory_info().rss
    return total


def run_one(name: str, inp: Path, run_dir: Path, timeout: float) -> dict[str, Any]:
    """Run one contender once into run_dir/out; return seconds, peak RSS, rc and row counts."""
    out, log, stat = run_dir / "out", run_dir / "log.txt", run_dir / "stat.txt"
    cmd = COMMANDS[name](inp, out)
    if cmd is None:
        return {"name": name, "missing": True}
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as logf:
        wrap = [sys.executable, "-c", WRAPPER, str(stat), *cmd]
        p = subprocess.Popen(wrap, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        ps, peak, t0 = psutil.Process(p.pid), 0, time.perf_counter()
        while p.poll() is None:
            peak = max(peak, tree_rss(ps))
            if time.perf_counter() - t0 > timeout:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                break
            time.sleep(POLL_S)
    wall = time.perf_counter() - t0
    secs, maxrss_kib, cpu = wall, 0.0, 0.0
    if stat.exists():
        secs, maxrss_kib, cpu = (float(x) for x in stat.read_text().split())
    res = {
        "name": name,
        "rc": p.returncode,
        "seconds": secs,
        "cpu_seconds": cpu,
        "peak_rss_mib": max(peak, maxrss_kib * 1024) / MIB,
        "polled_tree_rss_mib": peak / MIB,
        "ru_maxrss_mib": maxrss_kib / 1024,
        "rows": table_rows(out) if out.exists() else {},
    }
    if p.returncode != 0:
        res["log_tail"] = log.read_text(errors="replace")[-2000:]
    return res


def run_all(
    names: list[str], inp: Path, repeat: int, keep: bool, timeout: float
) -> dict[str, list[dict[str, Any]]]:
    """Run every contender `repeat` times, rotating the order each round to spread noise."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for i in range(repeat):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            run_dir = DATA / "out" / stamp / inp.stem / f"{name}-{i}"
            r = run_one(name, inp, run_dir, timeout)
            runs[name].append(r)
            if r.get("missing"):
                print(f"  [{i + 1}/{repeat}] {name}: MISSING (no forensics console script)")
            else:
                status = "ok" if r["rc"] == 0 else f"FAILED rc={r['rc']}"
                print(f"  [{i + 1}/{repeat}] {name}: {r['seconds']:.2f}s ", end="")
                print(f"{r['peak_rss_mib']:.0f} MiB {status}", flush=True)
                for tail in r.get("log_tail", "").splitlines()[-3:]:
                    print(f"      | {tail}")
                if not keep:
                    shutil.rmtree(run_dir, ignore_errors=True)
    return runs


def summarize(runs: list[dict[str, Any]], stats: dict[str, Any]) -> dict[str, Any] | None:
    """Medians over the successful runs of one contender, or None if none succeeded."""
    ok = [r for r in runs if not r.get("missing") and r["rc"] == 0]
    if not ok:
        return None
    secs = statistics.median(r["seconds"] for r in ok)
    rss = [r["peak_rss_mib"] for r in ok]
    return {
        "runs_ok": len(ok),
        "runs": len(runs),
        "median_s": secs,
        "min_s": min(r["seconds"] for r in ok),
        "median_cpu_s": statistics.median(r["cpu_seconds"] for r in ok),
        "mb_per_s": stats["bytes"] / 1e6 / secs,
        "lines_per_s": stats["lines"] / secs,
        "peak_rss_median_mib": statistics.median(rss),
        "peak_rss_max_mib": max(rss),
        "rows": ok[-1]["rows"],
    }


def print_table(summary: dict[str, dict[str, Any] | None]) -> None:
    """The per-contender table and the output row counts."""
    head = ("contender", "median s", "CPU s", "MB/s", "lines/s", "RSS med MiB", "RSS max MiB")
    print("\n{:<10}{:>10}{:>8}{:>8}{:>11}{:>13}{:>13}  runs ok".format(*head))
    for name, s in summary.items():
        if s is None:
            print(f"{name:<10}  -- missing or failed --")
            continue
        cols = (s["median_s"], s["median_cpu_s"], s["mb_per_s"], s["lines_per_s"])
        print("{:<10}{:>10.2f}{:>8.1f}{:>8.1f}{:>11,.0f}".format(name, *cols), end="")
        print(f"{s['peak_rss_median_mib']:>13.0f}{s['peak_rss_max_mib']:>13.0f}  ", end="")
        print(f"{s['runs_ok']}/{s['runs']}")
    print("\nrows written per table:")
    for name, s in summary.items():
        if s:
            print(f"  {name:<8}", ", ".join(f"{t}={n:,}" for t, n in s["rows"].items()))


def lead(names: list[str]) -> str | None:
    """The engine the gates judge: native when it runs, else polars."""
    return next((e for e in ENGINES if e in names), None)


def ratios(summary: dict[str, dict[str, Any] | None], a: str, b: str) -> None:
    """Print `a vs b`: throughput (b's seconds / a's), CPU time, peak RSS (a's / b's)."""
    x, y = summary.get(a), summary.get(b)
    if x and y:
        print(f"{a} vs {b}: throughput x{y['median_s'] / x['median_s']:.2f}", end="")
        print(f", CPU time x{y['median_cpu_s'] / x['median_cpu_s']:.2f}", end="")
        print(f", peak RSS x{x['peak_rss_median_mib'] / y['peak_rss_median_mib']:.2f}")


def gates(summary: dict[str, dict[str, Any] | None], names: list[str]) -> dict[str, str]:
    """Print the ratios; PASS/FAIL of the speed (vs DuckDB) and memory gates that apply."""
    print()
    for eng in ENGINES:
        for base in ("duckdb", "python"):
            ratios(summary, eng, base)
    ratios(summary, "native", "polars")
    res: dict[str, str] = {}
    name = lead(names)
    if name is None:
        return res
    ours = summary.get(name)
    if "duckdb" in names:
        ok = bool(ours and summary["duckdb"])
        ratio = summary["duckdb"]["median_s"] / ours["median_s"] if ours and ok else 0.0
        res["speed"] = "PASS" if ok and ratio >= SPEED_GATE else "FAIL"
        print(f"gate speed:  {name} >= {SPEED_GATE}x duckdb: x{ratio:.2f} -> {res['speed']}")
    peak = ours["peak_rss_max_mib"] if ours else float("inf")
    res["memory"] = "PASS" if peak <= RSS_GATE_MIB else "FAIL"
    print(f"gate memory: {name} peak RSS <= {RSS_GATE_MIB:.0f} MiB: {peak:.0f} -> {res['memory']}")
    return res


def versions() -> dict[str, str]:
    """Versions of the things being compared, for the results file."""
    out = {"python": platform.python_version()}
    for pkg in ("forensics", "duckdb", "polars", "pyarrow"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def scaling(
    args: argparse.Namespace, inp: Path, name: str, full: dict[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """Run engine `name` on a quarter-size input; compare its peak RSS with the full-size runs."""
    if args.input:
        small = prefix_input(inp, 0.25)
    else:
        small = scenario_input(max(1, args.size_mb // 4), args.seed)
    stats = input_stats(small)
    print(f"\nscaling: {name} on {small.name} ({stats['bytes'] / 1e6:,.0f} MB)")
    runs = run_all([name], small, args.repeat, args.keep, args.timeout)[name]
    quarter = summarize(runs, stats)
    ratio = float("inf")
    if quarter and full:
        ratio = full["peak_rss_median_mib"] / quarter["peak_rss_median_mib"]
        print(f"peak RSS median: 1/4 size {quarter['peak_rss_median_mib']:.0f} MiB, ", end="")
        print(f"full size {full['peak_rss_median_mib']:.0f} MiB")
    verdict = "PASS" if ratio <= SCALING_TOL else "FAIL"
    print(f"gate scaling: full/quarter peak RSS x{ratio:.2f} <= {SCALING_TOL} -> {verdict}")
    return verdict, {"input": stats, "runs": runs, "summary": quarter, "ratio": ratio}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024, help="generated input size (default 1024)")
    ap.add_argument("--seed", type=int, default=1, help="scenario generator seed (default 1)")
    ap.add_argument("--input", type=Path, help="use this log file instead of generating one")
    ap.add_argument("--repeat", type=int, default=3, help="runs per contender (default 3)")
    ap.add_argument(
        "--only", default="native,polars,duckdb,python", help="comma list of contenders"
    )
    ap.add_argument("--keep", action="store_true", help="keep outputs under bench/data/out/")
    ap.add_argument("--scaling", action="store_true", help="also run the lead on 1/4 of the input")
    ap.add_argument("--gate", action="store_true", help="exit 1 if a gate fails")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per run (default 3600)")
    args = ap.parse_args(argv)
    args.only = [n.strip() for n in args.only.split(",") if n.strip()]
    if bad := set(args.only) - set(COMMANDS):
        ap.error(f"unknown contender(s): {', '.join(sorted(bad))}")
    if args.scaling and lead(args.only) is None:
        args.only.insert(0, "native")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and gates, write the JSON; 1 on gate FAIL with --gate."""
    args = parse_args(argv)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    inp = args.input.resolve() if args.input else scenario_input(args.size_mb, args.seed)
    stats = input_stats(inp)
    print(f"input {inp} ({stats['bytes'] / 1e6:,.0f} MB, {stats['lines']:,} lines)")
    load = os.getloadavg()
    print(f"load avg {load[0]:.2f}, {psutil.cpu_count()} cpus; versions {versions()}")
    runs = run_all(args.only, inp, args.repeat, args.keep, args.timeout)
    summary = {n: summarize(r, stats) for n, r in runs.items()}
    print_table(summary)
    gate = gates(summary, args.only)
    result: dict[str, Any] = {"args": vars(args) | {"input": str(inp)}, "input": stats}
    if args.scaling:
        name = lead(args.only)
        gate["scaling"], result["scaling"] = scaling(args, inp, name, summary[name])
    result |= {
        "started": started,
        "machine": {"cpus": psutil.cpu_count(), "platform": platform.platform(), "load": load},
        "versions": versions(),
        "gates": {"speed_x": SPEED_GATE, "rss_mib": RSS_GATE_MIB, "scaling_x": SCALING_TOL},
        "gate_results": gate,
        "summary": summary,
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    dest = RESULTS / f"ingest-{time.strftime('%Y%m%d-%H%M%S')}.json"
    dest.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nresults: {dest}")
    return 1 if args.gate and "FAIL" in gate.values() else 0


if __name__ == "__main__":
    sys.exit(main())
