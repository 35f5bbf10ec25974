"""The report's key tables, each a cut of the analysis table the findings use: slowest routes
(`timeouts.slowest_routes`), R14/R15 episodes (`memory.quota_episodes`), crashes
(`availability.crash_context`, the crashes of `availability.crashes`)."""

from __future__ import annotations

import polars as pl

from forensics.report.page import SourceRef, Table


def top_routes(df: pl.DataFrame) -> Table:
    """Routes by p95 service time, from `forensics.analyses.timeouts.slowest_routes`."""
    rows = [
        [r["route"], r["requests"], r["p50_ms"], r["p95_ms"], r["p99_ms"], r["max_ms"],
         r["timeouts"], r["errors_5xx"]]
        for r in df.iter_rows(named=True)
    ]  # fmt: skip
    return Table(
        key="table-routes",
        title="Slowest routes by p95 service time",
        columns=["route", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms", "H12", "5xx"],
        rows=rows,
        note="" if rows else "No router lines with a service time in the selected data.",
        numeric={1, 2, 3, 4, 5, 6, 7},
    )


def memory_errors(episodes: pl.DataFrame, *, limit: int = 50) -> Table:
    """R14 (memory quota exceeded) and R15 (quota vastly exceeded, killed) episodes, from
    `forensics.analyses.memory.quota_episodes` (the `memory_quota` findings)."""
    rows = [
        [r["dyno"], r["release"], r["code"], r["start"], r["end"], r["count"], r["peak_mb"],
         r["quota_mb"], r["peak_pct"]]
        for r in episodes.head(limit).iter_rows(named=True)
    ]  # fmt: skip
    more = episodes.height - limit
    return Table(
        key="table-r14",
        title="R14 / R15 memory episodes",
        columns=["dyno", "release", "code", "first", "last", "errors", "peak MB", "quota MB",
                 "peak % of quota"],
        rows=rows,
        note=(f"First {limit} of {episodes.height}." if more > 0 else "")
        or ("" if rows else "No R14 or R15 in the selected data."),
        numeric={5, 6, 7, 8},
    )  # fmt: skip


def crashes(df: pl.DataFrame, *, limit: int = 50) -> Table:
    """Crashes as `forensics.analyses.availability.crashes` counts them (the `crash` findings),
    with the exit status, cause, release and the dyno's last app line
    (`availability.crash_context`)."""
    more = df.height - limit
    rows = [
        [r["ts"], r["dyno"], r["release"], r["from_state"], r["exit_status"], r["cause"],
         r["last_app_line"], SourceRef(r["source_file"], r["line_no"], r["line_no"])]
        for r in df.head(limit).iter_rows(named=True)
    ]  # fmt: skip
    return Table(
        key="table-crashes",
        title="Crashes",
        columns=["time", "dyno", "release", "from state", "exit", "cause", "last app line",
                 "source"],
        rows=rows,
        note=(f"First {limit} of {df.height}." if more > 0 else "")
        or ("" if rows else "No crashes in the selected data."),
        numeric={4},
    )  # fmt: skip
