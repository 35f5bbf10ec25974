"""Findings of `forensics.analyses.request_errors`: one `request_errors` per burst of failed
requests on a route (or app-wide, route null).

Severity: critical from `critical_count` failures or an app-wide burst (H10/H13/H14/H20/H99)
of `critical_wide_count`; warning otherwise. A burst of the router's own pages is told as what
it was: maintenance mode (H80, someone turned it on: warning), a blank app (H81) or free dyno
hours used up (H82).
"""

from __future__ import annotations

import re
from typing import Any

import duckdb
import polars as pl

from forensics.analyses.request_errors import request_errors
from forensics.findings import Finding, duration_text, line_sources

# A burst this much of one router page code (H80...) is told as that page.
PAGE_SHARE = 0.9
PAGES = {
    "H80": "The app was in maintenance mode (`heroku maintenance:on`)",
    "H81": "The app had no code deployed (blank app)",
    "H82": "The app's free dyno hours were used up",
}


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
        page = _page(r)
        if page == "H80":
            critical = False  # someone turned maintenance mode on: planned, not a failure
        out.append(_finding(r, "critical" if critical else "warning", page))
    return out


_TAGS = re.compile(r"^(?:\[[^\]]*\]\s*)+")


def said(exc: dict[str, Any], limit: int = 160) -> str:
    """An exception as the app logged it (`PG::ConnectionBad (FATAL: too many connections...)`)
    when its example line names it, else its class; log tags (`[request-id]`) and runs of
    spaces dropped."""
    name = str(exc.get("exception") or "")
    line = " ".join(_TAGS.sub("", str(exc.get("example") or "")).split()).rstrip(":")
    if name and name in line:
        line = line[line.index(name) :]
        return line if len(line) <= limit else line[: limit - 1] + "…"
    return name


def _page(r: dict[str, Any]) -> str | None:
    """The router page code (H80, H81, H82) that makes up a burst, if one does."""
    if r["route"] is not None or not r["codes"]:
        return None
    top = r["codes"][0]
    ok = top["code"] in PAGES and top["count"] >= PAGE_SHARE * int(r["count"])
    return top["code"] if ok else None


def _finding(r: dict[str, Any], severity: str, page: str | None = None) -> Finding:
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
        exc = f"; the app logged {said(top)} for {top['count']} of them"
    in_a_row = r.get("in_a_row", True) is not False
    how = "in a row " if in_a_row else "intermittently " if share < 50 else ""
    summary = (
        f"{n:,} requests to {where} failed {how}over {span} from "
        f"{r['start']:%Y-%m-%d %H:%M:%S} UTC ({codes}; {share:.0f} % of "
        f"{'its' if r['route'] else 'all'} requests then){exc}."
    )
    if page:
        summary = (
            f"{PAGES[page]} for {duration_text(mins)} from {r['start']:%Y-%m-%d %H:%M:%S} UTC "
            f"to {r['end']:%H:%M:%S}: {n:,} requests got the router's page instead of the app "
            f"({codes}; {share:.0f} % of all requests then)."
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
            "router_page": page,
        },
        sources=line_sources(
            pl.DataFrame({"source_file": r["source_file"], "line_no": r["line_nos"]})
        ),
        score=float(n),
    )
