"""What the report takes from sibling modules that may not exist yet: ranked findings
(`forensics.findings.collect_findings`) and the memory-growth and attribution frames
(`forensics.analyses.memory` / `attribution`). A missing one is reported, never faked."""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

NO_FINDINGS = "no findings module available (forensics.findings.collect_findings)"


def collect(con: duckdb.DuckDBPyConnection, **frames: Any) -> tuple[list[Any] | None, str]:
    """Findings from `forensics.findings.collect_findings(con)`, or None and why not.

    `frames` (`lifetimes`, `growth`) already computed are handed on, so the analyses that
    take them do not compute them again; None values are left out.
    """
    try:
        from forensics.findings import collect_findings
    except ImportError:
        return None, NO_FINDINGS
    return list(collect_findings(con, **{k: v for k, v in frames.items() if v is not None})), ""


def memory_growth(
    con: duckdb.DuckDBPyConnection, lifetimes: pl.DataFrame | None
) -> tuple[pl.DataFrame | None, str]:
    """`forensics.analyses.memory.memory_growth` (one row per lifetime), or None and why not."""
    try:
        from forensics.analyses.memory import memory_growth as growth
    except ImportError:
        return None, "forensics.analyses.memory is not available"
    return growth(con, lifetimes=lifetimes), "forensics.analyses.memory.memory_growth"


def route_attribution(
    con: duckdb.DuckDBPyConnection,
    lifetimes: pl.DataFrame | None,
    growth: pl.DataFrame | None,
) -> tuple[pl.DataFrame | None, str]:
    """`forensics.analyses.attribution.route_attribution`, or None and why not."""
    try:
        from forensics.analyses.attribution import route_attribution as attribution
    except ImportError:
        return None, "forensics.analyses.attribution is not available"
    frame = attribution(con, lifetimes=lifetimes, growth=growth)
    return frame, "forensics.analyses.attribution.route_attribution"
