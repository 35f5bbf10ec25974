"""Findings of `forensics.analyses.request_errors`: one `request_errors` per burst of failed
requests on a route (or app-wide, route null).

Severity: critical from `critical_count` failures or an app-wide burst (H10/H13/H14/H20/H99)
of `critical_wide_count`; warning otherwise.
"""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from forensics.analyses.request_errors import request_errors
from forensics.findings import Finding, line_sources


def findings(
    con: duckdb.DuckDBPyConnection,
    *,
    min_count: int = 3,
    critical_count: int = 100,
    critical_wide_count: int = 10,
    downtime_windows: pl.DataFrame | None = None,
    hung: pl.DataFrame | None = None,
) -> list[Finding]:
    """`request_errors` findings (see the module doc for severity); `downtime_windows` and
    `hung` are the downtime and hung-dyno tables when the caller has them already."""
    out = []
    rows = request_errors(con, min_count=min_count, downtime_windows=downtime_windows, hung=hung)
    for r in rows.iter_rows(named=True):
        wide = r["route"] is None
        n = int(r["count"])
        critical = n >= critical_count or (wide and n >= critical_wide_count)
        out.append(_finding(r, "critical" if critical else "warning"))
    return out


def _finding(r: dict[str, Any], severity: str) -> Finding:
    n = int(r["count"])
    codes = ", ".join(f"{c['code']} x{c['count']}" for c in r["codes"][:4])
    where = f"{r['route']}" if r["route"] else "the whole app"
    mins = r["minutes"]
    span = (
        f"{mins * 60:.0f} s"
        if mins < 1
        else f"{mins:.0f} min"
        if mins < 120
        else f"{mins / 60:.1f} h"
    )
    share = 100 * (r["share"] or 0)
    exc = ""
    if r["exceptions"]:
        top = r["exceptions"][0]
        exc = f"; the app logged {top['exception']} for {top['count']} of them"
    in_a_row = r.get("in_a_row", True) is not False
    how = "in a row " if in_a_row else "intermittently " if share < 50 else ""
    summary = (
        f"{n:,} requests to {where} failed {how}over {span} from "
        f"{r['start']:%Y-%m-%d %H:%M:%S} UTC ({codes}; {share:.0f} % of "
        f"{'its' if r['route'] else 'all'} requests then){exc}."
    )
    return Finding(
        kind="request_errors",
        severity=severity,  # type: ignore[arg-type]
        summary=summary,
        app=r["app"],
        route=r["route"],
        start=r["start"],
        end=r["end"],
        evidence={
            "count": n,
            "share": round(float(r["share"] or 0), 3),
            "share_of_all": round(float(r["share_of_all"] or 0), 3),
            "in_a_row": in_a_row,
            "codes": {c["code"]: int(c["count"]) for c in r["codes"]},
            "statuses": {str(s["status"]): int(s["count"]) for s in r["statuses"]},
            "minutes": round(mins, 1),
            "dynos": list(r["dynos"] or []),
            "exceptions": [dict(e) for e in r["exceptions"] or []],
        },
        sources=line_sources(
            pl.DataFrame({"source_file": r["source_file"], "line_no": r["line_nos"]})
        ),
        score=float(n),
    )
