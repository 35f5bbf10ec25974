"""Findings of `forensics.analyses.downtime`: one `downtime` per dyno window, and one per
process type while none of its dynos was up.

Severity by what was lost: web with no dyno up is critical from `critical_web_minutes` down or
`critical_failed_requests` failed requests; a worker type with no dyno up, and any dyno with
its siblings up, is critical / warning from `worker_minutes` down (critical for a whole type,
warning for one dyno); shorter windows are warnings for web and info for the rest. A window
shorter than `min_minutes` with no failed request (a crash the platform restarted at once) is
info.
"""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from forensics.analyses.crash_reasons import crash_reasons, reason_evidence
from forensics.analyses.downtime import downtime
from forensics.analyses.sql import app_key_expr
from forensics.findings import Finding, Source, duration_text, line_sources, located
from forensics.findings.reasons import attach_reason, reason_sources, with_reason


def findings(
    con: duckdb.DuckDBPyConnection,
    *,
    min_minutes: float = 1.0,
    critical_web_minutes: float = 2.0,
    critical_failed_requests: int = 10,
    worker_minutes: float = 10.0,
    lifetimes: pl.DataFrame | None = None,
    downtime_windows: pl.DataFrame | None = None,
) -> list[Finding]:
    """`downtime` findings (see the module doc for severity), each with the app's own reason
    for the crashes inside its window when the log has one (`evidence.reason`);
    `downtime_windows` is the table of `downtime(con)` when the caller has it already."""
    out = []
    windows = downtime(con) if downtime_windows is None else downtime_windows
    reasons = crash_reasons(con, lifetimes=lifetimes) if windows.height else None
    for r in windows.iter_rows(named=True):
        sev = _severity(
            r,
            min_minutes=min_minutes,
            critical_web_minutes=critical_web_minutes,
            critical_failed_requests=critical_failed_requests,
            worker_minutes=worker_minutes,
        )
        out.append(_finding(r, sev, _reason(reasons, r)))
    return out


def _reason(reasons: pl.DataFrame | None, r: dict[str, Any]) -> dict[str, Any] | None:
    """The reason of the crashes in a window (its dyno's, or for a process-type row its dynos'):
    for a window a running process's crash opened, that crash's, which took it down, even
    when the failed restarts after it died of something else (a job's exception, then every
    boot on a missing config var): those come in `others` and, as `kept_down_by`, the most
    frequent of them. For a window a deploy or restart opened (its boots failed), the reason
    most of its crashes printed."""
    if reasons is None or reasons.is_empty():
        return None
    dynos = [r["dyno"]] if r["dyno"] else list(r["dynos"] or [])
    rows = reasons.filter(
        pl.col("dyno").is_in(dynos)
        & app_key_expr("app").eq(r["app"] or "")
        & pl.col("reason").is_not_null()
        & pl.col("crash_ts").is_between(r["start"], r["end"])
    ).sort("crash_ts")
    if rows.is_empty():
        return None
    if r.get("opened_by") != "crash":
        # opened by a deploy or restart whose new process failed: every crash is a boot
        # failure, and the one most of them printed is the reason
        return reason_evidence(rows)
    first = rows["reason_key"][0]
    main = reason_evidence(rows.filter(pl.col("reason_key") == first))
    assert main is not None
    rest = reason_evidence(rows.filter(pl.col("reason_key") != first))
    main["of_crashes"] = rows.height
    main["others"] = (
        []
        if rest is None
        else [{"text": rest["text"], "crashes": rest["crashes"]}, *rest["others"]]
    )
    if rest is not None:
        main["kept_down_by"] = {
            k: rest[k] for k in ("text", "location", "kind", "key", "crashes", "sources")
        }
    return main


def _severity(r: dict[str, Any], **t: float) -> str:
    minutes, failed = r["minutes"], r["failed_requests"] or 0
    whole = r["dyno"] is None
    if r["process_type"] == "web":
        if whole and (
            minutes >= t["critical_web_minutes"] or failed >= t["critical_failed_requests"]
        ):
            return "critical"
        if minutes >= t["min_minutes"] or failed:
            return "warning"
        return "info"
    if minutes >= t["worker_minutes"]:
        return "critical" if whole else "warning"
    return "info"


def _hm(ts: Any, ref: Any) -> str:
    """`14:02`, or with the date when it differs from `ref`'s."""
    return f"{ts:%H:%M}" if ts.date() == ref.date() else f"{ts:%Y-%m-%d %H:%M}"


def _finding(r: dict[str, Any], severity: str, reason: dict[str, Any] | None) -> Finding:
    what = r["dyno"] or r["process_type"]
    none_up = "" if r["dyno"] else f"no {r['process_type']} dyno up"
    start, end = r["start"], r["end"]
    since = " (down when the log starts)" if r["started_before_log"] else ""
    span = f"{start:%Y-%m-%d %H:%M}-{_hm(end, start)} UTC"
    n = r["restart_attempts"]
    rels = list(r["failed_releases"] or [])
    tries = f"{n} failed restart{'s' if n != 1 else ''}" if n else ""
    if len(rels) > 1:
        tries = f"{tries} on {len(rels)} failing releases ({', '.join(rels)})"
    detail = ", ".join(x for x in (none_up, tries) if x)
    detail = f": {detail}" if detail else ""
    if r["ongoing"] and r.get("silent_until") is not None:
        tail = (
            f"; it was still down when the log falls silent at {_hm(end, start)} (no line of the"
            f" app until {r['silent_until']:%Y-%m-%d %H:%M} UTC: not counted as down)"
        )
    elif r["ongoing"]:
        tail = "; it was still down when the log ends"
    elif r.get("lost_until") is not None:
        tail = (
            f"; then the log lost lines (Logplex dropped them, L10-L13) and its `up` with them: "
            f"it was running again by {_hm(r['lost_until'], start)} UTC"
        )
    elif r["ended_by"] == "platform":
        tail = "; the platform's own restart brought it back"
    elif r["ended_by"] == "stop":
        tail = "; it was then taken down on purpose"
    elif r["ended_by"] is None:
        tail = "; it ended when another dyno of the type came up"
    else:
        via = {"release": "release", "restart": "restart", "scale": "scaling"}[r["ended_by"]]
        rel = f" ({r['ended_by_release']})" if r["ended_by_release"] and via == "release" else ""
        tail = f"; {r['ended_by_release']} brought it back" if rel else f"; a {via} brought it back"
    users = ""
    failed = r["failed_requests"]
    if failed:
        codes = ", ".join(c["code"] for c in (r["failed_codes"] or [])[:3])
        users = (
            f"; {failed:,} request{'s' if failed != 1 else ''} failed "
            f"({100 * (r['failed_share'] or 0):.0f} %, {codes})"
        )
    summary = f"{what} was down {duration_text(r['minutes'])} ({span}){since}{detail}{users}{tail}."
    summary = _with_reasons(summary, reason)
    ended = (
        None if r["ended_by"] is None else {"kind": r["ended_by"], "release": r["ended_by_release"]}
    )
    return Finding(
        kind="downtime",
        severity=severity,  # type: ignore[arg-type]
        summary=summary,
        **located(r),
        start=start,
        end=end,
        evidence=attach_reason(
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "ongoing": bool(r["ongoing"]),
                "minutes": round(r["minutes"], 2),
                "ended_by": ended,
                "restart_attempts": int(r["restart_attempts"]),
                "failed_releases": rels,
                "failed_requests": int(failed or 0),
                "failed_share": round(float(r["failed_share"] or 0.0), 3),
                "failed_codes": list(r["failed_codes"] or []),
                "opened_by": r["opened_by"],
                "started_before_log": bool(r["started_before_log"]),
                "dynos": list(r["dynos"] or []),
                "silent_until": (
                    r["silent_until"].isoformat() if r.get("silent_until") is not None else None
                ),
                "lost_until": (
                    r["lost_until"].isoformat() if r.get("lost_until") is not None else None
                ),
            },
            reason,
        ),
        sources=_sources(r)
        + reason_sources(reason)
        + reason_sources((reason or {}).get("kept_down_by")),
        score=float(r["minutes"]) + float(failed or 0) / 10,
    )


def _with_reasons(summary: str, reason: dict[str, Any] | None) -> str:
    """`summary` with the reason it went down and, when the restarts died of something else,
    what kept it down: `...: it went down on X (loc); its restarts then failed on Y (3).`"""
    kept = (reason or {}).get("kept_down_by")
    if not reason or not kept:
        return with_reason(summary, reason)
    where = f" ({reason['location']})" if reason.get("location") else ""
    also = f" ({kept['location']})" if kept.get("location") else ""
    n = kept["crashes"]
    return (
        f"{summary.rstrip('.')}: it went down on {str(reason['text']).rstrip('.')}{where}; "
        f"{'its restarts' if n > 1 else 'a restart'} then failed on "
        f"{str(kept['text']).rstrip('.')}{also} ({n} crash{'es' if n != 1 else ''})."
    )


def _sources(r: dict[str, Any]) -> list[Source]:
    lines = r["line_nos"] or [x for x in (r["line_no"], r["end_line_no"]) if x is not None]
    if not lines or r["source_file"] is None:
        return []
    return line_sources(pl.DataFrame({"source_file": r["source_file"], "line_no": lines}))
