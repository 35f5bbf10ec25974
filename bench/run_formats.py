"""Format benchmark: `forensics ingest` on a mixed corpus of every export format, at scale.

The corpus (bench/formats_corpus.py, cached under bench/data/) splits --size-mb of
uncompressed input in four: `heroku logs` CLI text, Logplex drain bodies, newline RFC 5424
syslog and hourly Papertrail .tsv.gz archives. Each format is ingested on its own into a fresh
dataset, then the whole directory in one `forensics ingest DIR`, and the DuckDB baseline runs
on each format's files (`duckdb` on the CLI text, `duckdb-drain` etc. extracting the same
fields from that framing); each is a separate process measured like run_ingest.py (wall, CPU
of the tree, peak RSS). Prints MB/s of uncompressed input, lines/s, CPU/wall and peak RSS per
run, the ratio ours/DuckDB per format and the gates; saves bench/results/formats-<ts>.json.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import formats_corpus as corpus
import psutil
import run_ingest as ri

FORMATS = corpus.FORMATS
# The DuckDB baseline on each format's files: `duckdb` (CLI text, the first), `duckdb-drain`...
BASELINES = {"duckdb" if f == "cli" else f"duckdb-{f}": f for f in FORMATS}
CONTENDERS = (*FORMATS, "mixed", *BASELINES)
# Ours on each format must be at least this many times DuckDB's speed on it (issue 17).
SPEED_GATES = {"cli": ri.SPEED_GATE, "drain": 3.0, "syslog": 3.0, "papertrail": 2.0}
RSS_GATE_MIB = ri.RSS_GATE_MIB  # no ingest run may peak above this
# Where each format's files are, as a glob DuckDB expands.
GLOBS = {
    "cli": "cli/*.log",
    "drain": "drain/*.log",
    "syslog": "syslog/*.log",
    "papertrail": "papertrail/logs/*/*/*.tsv.gz",
}


# `--app FILE=APP` for the formats that do not carry the app (CLI text; drain frames, whose
# hostname is `host`), set from the corpus manifest: without them, identical platform lines
# at the same second in two formats' parts would be one line by the dedup rule.
APP_ARGS: list[str] = []
_NO_APP_FILES = {"cli": "heroku-logs-{k:03d}.log", "drain": "drain-{k:03d}.log"}


def app_args(man: dict[str, Any]) -> list[str]:
    """One `--app FILE=APP` per part of the formats that carry no app name."""
    out = []
    for fmt, pattern in _NO_APP_FILES.items():
        for k, part in enumerate(man["formats"].get(fmt, {}).get("parts", [])):
            out += ["--app", f"{pattern.format(k=k)}={part['app']}"]
    return out


def _ours(inp: Path, out: Path) -> list[str] | None:
    """`forensics ingest INPUT -o OUT`, with the summary as JSON (read back for rejects)."""
    b = ri.ours_bin()
    cmd = [b, "ingest", str(inp), "-o", str(out), "--json", "--quiet", *APP_ARGS]
    return cmd if b else None


def _duckdb(fmt: str):
    """`baseline_duckdb.py --format FMT GLOB OUT`."""
    base = str(ri.BENCH / "baseline_duckdb.py")
    return lambda i, o: [sys.executable, base, "--format", fmt, str(i), str(o)]


# run_ingest.run_one looks the command up by contender name: register ours under our names.
for _name in (*FORMATS, "mixed"):
    ri.COMMANDS[f"formats:{_name}"] = _ours
for _name, _fmt in BASELINES.items():
    ri.COMMANDS[f"formats:{_name}"] = _duckdb(_fmt)


def command_name(name: str) -> str:
    return f"formats:{name}"


def contender_input(name: str, root: Path) -> Path:
    """What a contender is given: a format's directory, the whole corpus, or a format's glob."""
    if name == "mixed":
        return root
    if name in BASELINES:
        return root / GLOBS[BASELINES[name]]  # DuckDB's read_csv expands the glob
    return root / name


def input_stats(name: str, man: dict[str, Any]) -> dict[str, Any]:
    """Uncompressed bytes, log lines (events), files and stored bytes of a contender's input."""
    fmts = FORMATS if name == "mixed" else (BASELINES.get(name, name),)
    keys = ("bytes", "events", "lines", "files", "stored_bytes")
    return {k: sum(man["formats"][f][k] for f in fmts) for k in keys} | {"formats": list(fmts)}


def warm(name: str, root: Path) -> None:
    """Read a contender's files once so each run starts with them in the page cache."""
    top = root / BASELINES[name] if name in BASELINES else contender_input(name, root)
    for f in sorted(top.rglob("*")):
        if f.is_file():
            ri.warm_cache(f)


def ingest_report(log: str, root: Path) -> dict[str, Any] | None:
    """Lines, rejects, duplicates and detected formats from `ingest --json` output."""
    start = log.find("{\n")
    if start < 0:
        return None
    try:
        data, _ = json.JSONDecoder().raw_decode(log[start:])
    except json.JSONDecodeError:
        return None
    t = data["totals"]
    wrong: Counter[str] = Counter()
    for f in data["files"]:
        rel = Path(f["name"]).resolve().relative_to(root.resolve())
        expected = corpus.READER[rel.parts[0]]
        if f["format"] != expected:
            wrong[f"{rel.parts[0]} read as {f['format']}"] += 1
    return {
        "lines_read": t["lines_read"],
        "rejected_lines": t["rejected_lines"],
        "rejects_by_reason": t["rejects_by_reason"],
        "duplicate_lines": t["duplicate_lines"],
        "joined_lines": t["joined_lines"],
        "records": t["records"],
        "files": t["files"],
        "formats": dict(Counter(f["format"] for f in data["files"])),
        "misdetected": dict(wrong),
    }


def run_once(name: str, root: Path, stamp: str, i: int, args: argparse.Namespace) -> dict:
    """One measured run of a contender, with its ingest report; its output deleted unless --keep."""
    run_dir = ri.DATA / "out" / stamp / f"formats-{name}-{i}"
    print(f"  [{i + 1}/{args.repeat}] {name}: ", end="", flush=True)
    warm(name, root)
    r = ri.run_one(command_name(name), contender_input(name, root), run_dir, args.timeout)
    r["name"] = name
    if r.get("missing"):
        print("MISSING (no forensics console script)")
        return r
    log = run_dir / "log.txt"
    text = log.read_text(errors="replace") if log.exists() else ""
    if name not in BASELINES:
        r["ingest"] = ingest_report(text, root)
    r["rows"] = {t: n for t, n in r["rows"].items() if not t.startswith("_")}
    r["cpu_per_wall"] = r["cpu_seconds"] / r["seconds"] if r["seconds"] else 0.0
    status = "ok" if r["rc"] == 0 else f"FAILED rc={r['rc']}"
    rej = r.get("ingest") or {}
    print(
        f"{r['seconds']:.1f}s, CPU {r['cpu_seconds']:.1f}s, "
        f"{r['peak_rss_mib']:.0f} MiB" + (f", rejects {rej['rejected_lines']:,}" if rej else ""),
        status,
        flush=True,
    )
    for tail in r.get("log_tail", "").splitlines()[-3:]:
        print(f"      | {tail}")
    if not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return r


def summarize(runs: list[dict[str, Any]], stats: dict[str, Any]) -> dict[str, Any] | None:
    """run_ingest's medians (lines/s counting log lines: a frame is one), plus CPU/wall and the
    last ingest summary; None if no run succeeded."""
    base = ri.summarize(runs, {"bytes": stats["bytes"], "lines": stats["events"]})
    if base is None:
        return None
    ok = [r for r in runs if not r.get("missing") and r["rc"] == 0]
    return base | {
        "cpu_per_wall": statistics.median(r["cpu_per_wall"] for r in ok),
        "ingest": ok[-1].get("ingest") or {},
    }


def print_table(summary: dict[str, dict[str, Any] | None], stats: dict[str, dict]) -> None:
    """One row per contender, then what ingest reported (rejects, duplicates, formats)."""
    head = ("run", "input MB", "files", "median s", "CPU s", "CPU/wall", "MB/s", "lines/s")
    print("\n{:<18}{:>10}{:>7}{:>10}{:>8}{:>9}{:>8}{:>11}".format(*head), end="")
    print("{:>9}{:>9}{:>10}  runs ok".format("RSS med", "RSS max", "rejects"))
    for name, s in summary.items():
        st = stats[name]
        print(f"{name:<18}{st['bytes'] / 1e6:>10,.0f}{st['files']:>7}", end="")
        if s is None:
            print("  -- missing or failed --")
            continue
        rej = s["ingest"].get("rejected_lines")
        cols = (s["median_s"], s["median_cpu_s"], s["cpu_per_wall"], s["mb_per_s"])
        print("{:>10.1f}{:>8.1f}{:>9.2f}{:>8.1f}".format(*cols), end="")
        print(f"{s['lines_per_s']:>11,.0f}{s['peak_rss_median_mib']:>9.0f}", end="")
        print(f"{s['peak_rss_max_mib']:>9.0f}{'-' if rej is None else f'{rej:,}':>10}", end="")
        print(f"  {s['runs_ok']}/{s['runs']}")
    print("\nwhat ingest reported (lines read vs lines in the corpus, duplicates, formats):")
    for name, s in summary.items():
        if not s or not s["ingest"]:
            continue
        rep, st = s["ingest"], stats[name]
        print(
            f"  {name:<11}lines {rep['lines_read']:,}/{st['events']:,}, "
            f"duplicates {rep['duplicate_lines']:,}, joined {rep['joined_lines']:,}, "
            f"formats {rep['formats']}"
            + (f", rejects {rep['rejects_by_reason']}" if rep["rejects_by_reason"] else "")
            + (f", MISDETECTED {rep['misdetected']}" if rep["misdetected"] else "")
        )


def checks(summary: dict[str, dict[str, Any] | None], stats: dict[str, dict]) -> list[str]:
    """Warnings that make the numbers suspect: misdetection, rejects, lines not all read."""
    out = []
    for name, s in summary.items():
        rep = (s or {}).get("ingest")
        if not rep:
            continue
        if rep["misdetected"]:
            out.append(f"{name}: files read as the wrong format: {rep['misdetected']}")
        if rep["rejected_lines"] > stats[name]["events"] * 1e-4:
            out.append(f"{name}: {rep['rejected_lines']:,} rejected lines")
        if rep["lines_read"] != stats[name]["events"]:
            out.append(
                f"{name}: ingest read {rep['lines_read']:,} lines, the corpus has "
                f"{stats[name]['events']:,}"
            )
    mixed = summary.get("mixed")
    if mixed and all(summary.get(f) for f in FORMATS):
        parts: Counter[str] = Counter()
        for f in FORMATS:
            parts.update(summary[f]["rows"])
        if dict(parts) != mixed["rows"]:
            out.append(f"mixed: rows {mixed['rows']} != the formats' rows summed {dict(parts)}")
    for w in out:
        print(f"WARNING {w}")
    return out


def gates(summary: dict[str, dict[str, Any] | None], names: list[str]) -> dict[str, Any]:
    """Ours vs DuckDB on each format both ran, and the worst peak RSS of any ingest run."""
    res: dict[str, Any] = {}
    print()
    for base, fmt in BASELINES.items():
        if fmt not in names or base not in names:
            continue
        ours, duck, gate = summary.get(fmt), summary.get(base), SPEED_GATES[fmt]
        ratio = duck["median_s"] / ours["median_s"] if ours and duck else 0.0
        key = "speed" if fmt == "cli" else f"speed_{fmt}"
        res[key] = "PASS" if ratio >= gate else "FAIL"
        res[f"{fmt}_vs_duckdb_x"] = ratio
        if ours and duck:
            res[f"{fmt}_vs_duckdb_cpu_x"] = duck["median_cpu_s"] / ours["median_cpu_s"]
            print(
                f"ours vs duckdb on {fmt}: throughput x{ratio:.2f}, "
                f"CPU time x{res[f'{fmt}_vs_duckdb_cpu_x']:.2f}, "
                f"peak RSS x{ours['peak_rss_median_mib'] / duck['peak_rss_median_mib']:.2f}"
            )
        print(f"gate speed:  ours >= {gate}x duckdb on {fmt}: x{ratio:.2f} -> {res[key]}")
    ours_runs = {n: s for n, s in summary.items() if n not in BASELINES}
    if ours_runs:
        worst = max(
            ours_runs,
            key=lambda n: ours_runs[n]["peak_rss_max_mib"] if ours_runs[n] else float("inf"),
        )
        peak = ours_runs[worst]["peak_rss_max_mib"] if ours_runs[worst] else float("inf")
        res["memory"] = "PASS" if peak <= RSS_GATE_MIB else "FAIL"
        res["peak_rss_max_mib"] = peak
        print(
            f"gate memory: every ingest run peak RSS <= {RSS_GATE_MIB:.0f} MiB: "
            f"{peak:.0f} ({worst}) -> {res['memory']}"
        )
    return res


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--size-mb", type=int, default=10240, help="total corpus size, uncompressed (default 10240)"
    )
    ap.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    ap.add_argument("--tag", default="", help="put in the corpus's name: formats-TAG-s1-...")
    ap.add_argument("--repeat", type=int, default=1, help="runs per contender (default 1)")
    ap.add_argument(
        "--only",
        default=",".join(CONTENDERS),
        help=f"comma list of runs (default: all of {','.join(CONTENDERS)})",
    )
    ap.add_argument("--keep", action="store_true", help="keep outputs under bench/data/out/")
    ap.add_argument("--gate", action="store_true", help="exit 1 if a gate fails")
    ap.add_argument("--generate-only", action="store_true", help="make the corpus, run nothing")
    ap.add_argument("--timeout", type=float, default=7200, help="seconds per run (default 7200)")
    args = ap.parse_args(argv)
    args.only = [n.strip() for n in args.only.split(",") if n.strip()]
    if bad := set(args.only) - set(CONTENDERS):
        ap.error(f"unknown run(s): {', '.join(sorted(bad))}; choose from {', '.join(CONTENDERS)}")
    return args


def needed_formats(names: list[str]) -> tuple[str, ...]:
    """The corpus formats the selected runs read."""
    if "mixed" in names:
        return FORMATS
    wanted = {BASELINES.get(n, n) for n in names}
    return tuple(f for f in FORMATS if f in wanted)


def main(argv: list[str] | None = None) -> int:
    """Generate or reuse the corpus, run everything, print the table and gates, save the JSON."""
    args = parse_args(argv)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    t0 = time.perf_counter()
    corpus.TAG = args.tag
    man = corpus.ensure(args.size_mb, args.seed, needed_formats(args.only))
    APP_ARGS[:] = app_args(man)
    gen_s = time.perf_counter() - t0
    root = corpus.corpus_dir(args.size_mb, args.seed)
    for f, e in man["formats"].items():
        print(
            f"corpus {f:<11}{e['bytes'] / 1e6:>9,.0f} MB in {e['files']:>4} files "
            f"({e['stored_bytes'] / 1e6:,.0f} MB on disk), {e['events']:,} lines; "
            f"generated in {e['seconds']:.0f} s"
        )
    if args.generate_only:
        return 0
    load = os.getloadavg()
    print(f"load avg {load[0]:.2f}, {psutil.cpu_count()} cpus; versions {ri.versions()}")
    stats = {n: input_stats(n, man) for n in args.only}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in args.only}
    for i in range(args.repeat):
        k = i % len(args.only)
        for name in args.only[k:] + args.only[:k]:
            runs[name].append(run_once(name, root, stamp, i, args))
    with contextlib.suppress(OSError):  # empty unless --keep
        (ri.DATA / "out" / stamp).rmdir()
    summary = {n: summarize(r, stats[n]) for n, r in runs.items()}
    print_table(summary, stats)
    warnings = checks(summary, stats)
    gate = gates(summary, args.only)
    result = {
        "args": vars(args),
        "started": started,
        "corpus": {"dir": str(root), "generated_now_s": gen_s} | man,
        "machine": {"cpus": psutil.cpu_count(), "platform": platform.platform(), "load": load},
        "versions": ri.versions(),
        "gates": {"speed_x": SPEED_GATES, "rss_mib": RSS_GATE_MIB},
        "gate_results": gate,
        "warnings": warnings,
        "inputs": stats,
        "summary": summary,
        "runs": runs,
    }
    ri.RESULTS.mkdir(parents=True, exist_ok=True)
    dest = ri.RESULTS / f"formats-{time.strftime('%Y%m%d-%H%M%S')}.json"
    dest.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nresults: {dest}")
    return 1 if args.gate and "FAIL" in gate.values() else 0


if __name__ == "__main__":
    sys.exit(main())
