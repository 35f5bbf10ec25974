"""Findings of `forensics.analyses.hung_dynos`: one `hung_dyno` per dyno that stayed up but
stopped doing its work.

Severity: a web dyno stuck for `critical_minutes`+ (its share of the traffic timed out all
that time) is critical, shorter a warning; a silent worker is a warning (its jobs waited, but
users were not refused), info when it resumed by itself within `critical_minutes`.
"""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from forensics.analyses.hung_dynos import hung_dynos
from forensics.findings import Finding, Source, duration_text, located

_ENDED = {
    "restart": "a restart at {t} brought it back",
    "cycling": "the daily cycling at {t} brought it back",
    "release": "a release at {t} brought it back",
    "resumed": "it resumed by itself at {t}",
}


def findings(
    con: duckdb.DuckDBPyConnection,
    *,
    critical_minutes: float = 10.0,
    hung: pl.DataFrame | None = None,
) -> list[Finding]:
    """`hung_dyno` findings (see the module doc for severity); `hung` is the table of
    `hung_dynos(con)` when the caller has it already."""
    out = []
    for r in (hung_dynos(con) if hung is None else hung).iter_rows(named=True):
        out.append(_finding(r, critical_minutes))
    return out


def _tail(r: dict[str, Any]) -> str:
    if r["ongoing"]:
        return "it was still hung when the log ends"
    if r["ended_by"] is None:
        return "it got no more requests after that"
    return _ENDED[r["ended_by"]].format(t=f"{r['end']:%H:%M}")


def _finding(r: dict[str, Any], critical_minutes: float) -> Finding:
    start, end, minutes = r["start"], r["end"], r["minutes"]
    span = f"{start:%H:%M}-{end:%H:%M} UTC"
    if start.date() != end.date():
        span = f"{start:%Y-%m-%d %H:%M}-{end:%Y-%m-%d %H:%M} UTC"
    stuck = r["kind"] == "stuck_requests"
    if stuck:
        codes = "/".join(r["codes"])
        # H12 is the router's 30 s timeout; H13/H18/H19 a dyno that closed or never took it
        verb = "timed out" if set(r["codes"]) <= {"H12"} else "got no answer"
        others = ", ".join(r["other_dynos"][:3]) + ("..." if len(r["other_dynos"]) > 3 else "")
        ok = r["other_requests"] - r["other_timeouts"]
        if r["other_dynos"]:
            beside = f"while {others} served {ok:,} normally"
        else:  # alone in its process type: every route it was sent timed out
            beside = (
                f"on {len(r['routes'])} routes, with no other {r['process_type']} dyno to "
                "take the traffic"
            )
        summary = (
            f"{r['dyno']} stopped answering for {duration_text(minutes)} ({span}): "
            f"{r['timeouts']:,} of its {r['requests']:,} requests {verb} ({codes}) "
            f"{beside}; {_tail(r)}."
        )
        severity = "critical" if minutes >= critical_minutes else "warning"
    else:
        what = "its output and runtime metrics" if r["had_metrics"] else "its output"
        usual = r["usual_gap_seconds"] or 0
        usual_s = f"{usual:.0f} s" if usual < 120 else f"{usual / 60:.0f} min"
        summary = (
            f"{r['dyno']} went silent for {duration_text(minutes)} ({span}) without exiting: "
            f"{what} stopped (usually at most {usual_s} apart) and no crash or stop was "
            f"logged; {_tail(r)}."
        )
        resumed_soon = r["ended_by"] == "resumed" and minutes < critical_minutes
        severity = "info" if resumed_soon else "warning"
    evidence: dict[str, Any] = {
        "kind": r["kind"],
        "start": start.isoformat(),
        "end": end.isoformat(),
        "minutes": round(minutes, 1),
        "ongoing": bool(r["ongoing"]),
        "ended_by": r["ended_by"],
    }
    if stuck:
        evidence |= {
            "requests": int(r["requests"]),
            "timeouts": int(r["timeouts"]),
            "timeout_share": round(float(r["timeout_share"]), 3),
            "codes": list(r["codes"]),
            "routes": list(r["routes"]),
            "other_dynos": list(r["other_dynos"]),
            "other_requests": int(r["other_requests"]),
            "other_timeouts": int(r["other_timeouts"]),
            "other_share": round(float(r["other_share"]), 3),
        }
    else:
        evidence |= {
            "usual_gap_seconds": round(float(r["usual_gap_seconds"] or 0), 1),
            "had_metrics": bool(r["had_metrics"]),
        }
    sources = []
    if r["first_file"] is not None and r["first_line"] is not None:
        sources.append(Source(r["first_file"], int(r["first_line"]), int(r["first_line"])))
    if r["last_file"] is not None and r["last_line"] is not None:
        sources.append(Source(r["last_file"], int(r["last_line"]), int(r["last_line"])))
    return Finding(
        kind="hung_dyno",
        severity=severity,  # type: ignore[arg-type]
        summary=summary,
        **located(r),
        start=start,
        end=end,
        evidence=evidence,
        sources=sources,
        score=float(minutes) + float(r["timeouts"] or 0) / 10,
    )
