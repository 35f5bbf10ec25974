"""Findings of `forensics.analyses.worker_errors`: a background process that kept failing with
one exception while it stayed up, one `worker_errors` finding per burst."""

from __future__ import annotations

from typing import Any

import duckdb

from forensics.analyses.app_errors import reason_key
from forensics.analyses.common import with_release
from forensics.analyses.worker_errors import (
    BEFORE_MINUTES,
    GAP_MINUTES,
    MIN_COUNT,
    MIN_RATIO,
    worker_errors,
)
from forensics.findings import Finding, duration_text, struct_sources

# A burst this long or this large is a warning (a worker failing its jobs for a while); a
# shorter one, or one the log opens on (nothing to compare it with), is info.
WARN_MINUTES = 5.0
WARN_COUNT = 30


def findings(
    con: duckdb.DuckDBPyConnection,
    *,
    gap_minutes: float = GAP_MINUTES,
    min_count: int = MIN_COUNT,
    min_ratio: float = MIN_RATIO,
    before_minutes: float = BEFORE_MINUTES,
) -> list[Finding]:
    """`worker_errors` per burst of one exception in a background process type's output.
    Warning when it lasted `WARN_MINUTES` or held `WARN_COUNT` errors and began inside the
    log; info otherwise."""
    t = worker_errors(
        con,
        gap_minutes=gap_minutes,
        min_count=min_count,
        min_ratio=min_ratio,
        before_minutes=before_minutes,
    )
    if t.is_empty():
        return []
    t = with_release(con, t, "start")
    return [_finding(r) for r in t.iter_rows(named=True)]


def _from_exception(line: str, exception: str) -> str:
    """The line from the exception's name on: a job runner's timestamp, pid and level before it
    say nothing (`... pid=4 tid=ow4 WARN: Redis::CommandError: OOM ...`)."""
    at = line.find(exception) if exception != "FATAL" else -1
    return (line[at:] if at >= 0 else line).strip() or exception


def _finding(r: dict[str, Any]) -> Finding:
    dynos = list(r["dynos"])
    n, minutes = int(r["count"]), float(r["minutes"])
    where = ", ".join(dynos[:3]) + (f" and {len(dynos) - 3} more" if len(dynos) > 3 else "")
    span = (
        f"at {r['start']:%Y-%m-%d %H:%M:%S} UTC"
        if minutes < 1
        else f"between {r['start']:%Y-%m-%d %H:%M} and {r['end']:%H:%M} UTC "
        f"({duration_text(minutes)}{', to the end of the log' if r['ongoing'] else ''})"
    )
    if r["started_at_log_start"]:
        before = "from the log's start"
    elif r["before_count"]:
        before = f"{r['before_count']} in the {r['before_minutes']:.0f} min before"
    else:
        before = f"none in the {r['before_minutes']:.0f} min before"
    text = _from_exception(str(r["example"] or ""), r["exception"])
    summary = (
        f"{where} logged {r['exception']} {n} times {span} while it kept running ({before}); "
        f"its work failed with {text[:300]}"
    )
    warn = not r["started_at_log_start"] and (minutes >= WARN_MINUTES or n >= WARN_COUNT)
    sources = struct_sources(r["sources"])
    return Finding(
        kind="worker_errors",
        severity="warning" if warn else "info",
        summary=summary,
        app=r["app"],
        dyno=dynos[0] if len(dynos) == 1 else None,
        process_type=r["process_type"],
        release=r["release"],
        start=r["start"],
        end=r["end"],
        evidence={
            "exception": r["exception"],
            "count": n,
            "minutes": round(minutes, 1),
            "dynos": dynos,
            "before_count": int(r["before_count"]),
            "before_minutes": round(float(r["before_minutes"]), 1),
            "started_at_log_start": bool(r["started_at_log_start"]),
            "ongoing": bool(r["ongoing"]),
            "reason": {
                "text": text[:300],
                "kind": "exception",
                "key": reason_key(text) or r["exception"],
                "detail": list(r["examples"] or [])[:3],
                "sources": [
                    {"file": s.file, "first_line": s.first_line, "last_line": s.first_line}
                    for s in sources[:1]
                ],
            },
        },
        sources=sources,
        score=float(n),
    )
