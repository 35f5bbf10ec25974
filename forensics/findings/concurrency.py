"""Findings of `forensics.analyses.concurrency`: its tables turned into `Finding`s."""

from __future__ import annotations

import duckdb
import polars as pl

from forensics.analyses.common import with_release
from forensics.analyses.concurrency import (
    configured_concurrency,
    sizing,
)
from forensics.analyses.sql import app_key_expr, query
from forensics.findings import Finding, line_sources
from forensics.heroku import process_type_sql


def findings(
    con: duckdb.DuckDBPyConnection,
    *,
    workers: int | None = None,
    threads: int | None = None,
    quota_mb: float | None = None,
    memory_target: float = 0.8,
    headroom: float = 1.25,
    min_arrivals: int = 200,
) -> list[Finding]:
    """A `concurrency` finding per process type whose verdict (see `sizing`) is not ok/unknown,
    spanning the process type's requests, with the release in effect at the last of them.
    Critical when the memory side is over and R14s were logged, otherwise a warning."""
    boots = configured_concurrency(con)
    s = sizing(
        con,
        workers=workers,
        threads=threads,
        quota_mb=quota_mb,
        memory_target=memory_target,
        headroom=headroom,
        min_arrivals=min_arrivals,
    )
    s = s.filter(pl.col("verdict").is_in(["too_high_for_memory", "too_low_for_load", "both"]))
    if s.is_empty():
        return []
    span = query(
        con,
        f"SELECT app, {process_type_sql('dyno')} AS process_type, min(ts) AS first, "
        "max(ts) AS last FROM requests WHERE dyno IS NOT NULL GROUP BY ALL",
    )
    span = with_release(con, span, "last")  # the release the setting was last seen on
    out = []
    for r in s.iter_rows(named=True):
        same = (app_key_expr() == (r["app"] or "")) & (pl.col("process_type") == r["process_type"])
        mine = boots.filter(same)
        lines = mine.select("source_file", pl.col("line_nos").alias("line_no")).explode("line_no")
        sp = span.filter(same)
        what = {
            "too_high_for_memory": "too high for the memory",
            "too_low_for_load": "too low for the load",
            "both": "too high for the memory and too low for the load",
        }[r["verdict"]]
        setting = f"{r['workers']} workers x {r['threads']} threads"
        suggestion = f"{r['suggested_workers']} workers x {r['suggested_threads']} threads"
        if r["suggested_dynos"] is not None and r["suggested_dynos"] != r["dynos"]:
            suggestion += f" on {r['suggested_dynos']} dynos"
        summary = (
            f"{r['process_type']} concurrency {setting} is {what}; suggest {suggestion}: "
            f"{r['reasoning']}."
        )
        evidence = {
            k: (round(v, 2) if isinstance(v, float) else v)
            for k, v in r.items()
            if k not in ("app", "process_type", "reasoning")
        }
        high = r["verdict"] in ("too_high_for_memory", "both")
        out.append(
            Finding(
                kind="concurrency",
                severity="critical" if high and r["r14"] > 0 else "warning",
                summary=summary,
                app=r["app"],
                process_type=r["process_type"],
                release=sp["release"][0] if sp.height else None,
                start=sp["first"][0] if sp.height else None,
                end=sp["last"][0] if sp.height else None,
                evidence=evidence,
                sources=line_sources(lines.drop_nulls("line_no")),
                score=float(r["in_flight_p95"] or 0.0),
            )
        )
    return out
