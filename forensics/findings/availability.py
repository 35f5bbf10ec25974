"""Findings of `forensics.analyses.availability`: its tables turned into `Finding`s."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import duckdb
import polars as pl

from forensics import heroku
from forensics.analyses.availability import (
    boot_timeouts,
    crash_loops,
    crashes,
    log_loss,
    stayed_down,
    unclean_shutdowns,
)
from forensics.analyses.crash_reasons import (
    crash_reasons,
    reason_evidence,
    reason_for,
)
from forensics.analyses.sql import app_key_expr
from forensics.findings import Finding, Source, line_sources, located
from forensics.findings.reasons import attach_reason, reason_sources, with_reason


def findings(
    con: duckdb.DuckDBPyConnection,
    *,
    gap_minutes: float = 30,
    min_crashes: int = 3,
    min_down_minutes: float = 10,
    lifetimes: pl.DataFrame | None = None,
) -> list[Finding]:
    """`crash` per dyno and release, `crash_loop` per loop, `boot_timeout` per dyno,
    `unclean_shutdown` per dyno and release, `log_loss` per code. How long a dyno was down
    (to the end of the log or not) is the `downtime` finding's (`forensics.findings.downtime`).

    Severity: crash loops are critical, and so are the crashes of their dynos and of workers
    down `min_down_minutes` or more at the end of the log;
    other crashes are warnings (info when every crash of the group happened while stopping);
    boot timeouts are critical when the dyno crashed, unclean shutdowns and log loss warnings.

    Crash-related findings carry `evidence.reason` (`forensics.analyses.crash_reasons`: what
    the app printed before dying, with its lines, also added to `sources`) when the log has one,
    and their summary ends with it.
    """
    out: list[Finding] = []
    k = crashes(con)
    loops = crash_loops(con, gap_minutes=gap_minutes, min_crashes=min_crashes, crash_table=k)
    down = stayed_down(con, crash_table=k)
    long_down = down.filter(pl.col("worker") & (pl.col("down_minutes") >= min_down_minutes))
    reasons = crash_reasons(con, crash_table=k, lifetimes=lifetimes)
    out += _crash_findings(k, loops, long_down, reasons)
    out += [_loop_finding(r, reasons) for r in loops.iter_rows(named=True)]
    out += _boot_findings(boot_timeouts(con), reasons)
    out += _unclean_findings(unclean_shutdowns(con))
    out += [_loss_finding(r) for r in log_loss(con).iter_rows(named=True)]
    return out


def _key(row: dict[str, Any]) -> tuple[str, str]:
    return (row["app"] or "", row["dyno"] or "")


def _rows_sources(rows: pl.DataFrame, line_cols: tuple[str, ...] = ("line_no",)) -> list[Any]:
    """Sources from one or more line-number columns of `rows`."""
    parts = [
        rows.select("source_file", pl.col(c).alias("line_no"))
        for c in line_cols
        if c in rows.columns
    ]
    return line_sources(pl.concat(parts).drop_nulls("line_no")) if parts else []


def _by_dyno_release(df: pl.DataFrame) -> list[pl.DataFrame]:
    """`df` split per app, dyno and release (null release as its own group), in order."""
    rel = pl.col("release").fill_null("?").alias("_rel")
    return df.with_columns(rel).partition_by("app", "dyno", "_rel", maintain_order=True)


def _times(g: pl.DataFrame) -> list[str]:
    """The first 50 times of a group, ISO-8601, for evidence."""
    return [t.isoformat() for t in g["ts"].to_list()[:50]]


def _listed_sources(r: dict[str, Any]) -> list[Source]:
    """Sources from a row's `source_file` and its `line_nos` list."""
    return line_sources(pl.DataFrame({"source_file": r["source_file"], "line_no": r["line_nos"]}))


def _crash_findings(
    k: pl.DataFrame, loops: pl.DataFrame, down: pl.DataFrame, reasons: pl.DataFrame
) -> list[Finding]:
    if k.is_empty():
        return []
    keys = ["app", "dyno", "ts", "line_no"]
    k = k.join(
        reasons.rename({"crash_ts": "ts"}).select(
            *keys, *(c for c in reasons.columns if c.startswith("reason") or c in _REASON_EXTRA)
        ),
        on=keys,
        how="left",
        nulls_equal=True,
    )
    looping = {_key(r) for r in loops.iter_rows(named=True)}
    still_down = {_key(r) for r in down.iter_rows(named=True)}
    out = []
    for g in _by_dyno_release(k):
        first = g.row(0, named=True)
        n = g.height
        real = g.filter(~pl.col("during_shutdown"))
        statuses = sorted({s for s in g["exit_status"].to_list() if s is not None})
        causes = sorted({c for c in g["cause"].to_list() if c is not None})
        why = f"; causes: {', '.join(causes)}" if causes else ""
        st = f"exit status {', '.join(map(str, statuses))}" if statuses else "no exit status"
        shutdown = n - real.height
        sd = f" ({shutdown} while stopping after SIGTERM)" if shutdown else ""
        key = _key(first)
        severity = "info" if real.is_empty() else "warning"
        if not real.is_empty() and (key in looping or key in still_down):
            severity = "critical"
        rel = f" on {first['release']}" if first["release"] else ""
        t0, t1 = g["ts"].min(), g["ts"].max()
        when = (
            f"at {t0:%Y-%m-%d %H:%M:%S} UTC"
            if n == 1
            else f"{n} times between {t0:%Y-%m-%d %H:%M:%S} and {t1:%Y-%m-%d %H:%M:%S} UTC"
        )
        reason = reason_evidence(g.rename({"ts": "crash_ts"}))
        summary = with_reason(f"{first['dyno']} crashed{rel} {when} ({st}{why}){sd}.", reason)

        out.append(
            Finding(
                kind="crash",
                severity=severity,
                summary=summary,
                app=first["app"],
                dyno=first["dyno"],
                process_type=first["process_type"],
                release=first["release"],
                start=g["ts"].min(),
                end=g["ts"].max(),
                evidence=attach_reason(
                    {
                        "crashes": n,
                        "during_shutdown": shutdown,
                        "exit_statuses": statuses,
                        "causes": causes,
                        "times": _times(g),
                        "in_crash_loop": key in looping,
                        "stayed_down": key in still_down,
                    },
                    reason,
                ),
                sources=_rows_sources(g, ("line_no", "exit_line_no", "cause_line_no"))
                + reason_sources(reason, g),
                score=float(n),
            )
        )
    return out


def _reasons_of(
    reasons: pl.DataFrame, app: str | None, dyno: str, start: Any, end: Any
) -> pl.DataFrame:
    """The `crash_reasons` rows of one dyno between two times (inclusive)."""
    return reasons.filter(
        app_key_expr("app").eq(app or "")
        & (pl.col("dyno") == dyno)
        & pl.col("crash_ts").is_between(start, end)
    )


_REASON_EXTRA = ("location", "command", "crash_kind", "platform_cause", "caused_by")


def _loop_finding(r: dict[str, Any], reasons: pl.DataFrame) -> Finding:
    minutes = (r["end"] - r["start"]).total_seconds() / 60
    causes = f", causes {', '.join(r['causes'])}" if r["causes"] else ""
    statuses = ", ".join(map(str, r["exit_statuses"])) or "unknown"
    summary = (
        f"{r['dyno']} crash-looped: {r['crashes']} crashes in {minutes:.0f} min from "
        f"{r['start']:%Y-%m-%d %H:%M:%S} UTC (one every {r['mean_gap_minutes']:.1f} min on "
        f"average, exit status {statuses}{causes})."
    )
    reason = reason_for(reasons, app=r["app"], dyno=r["dyno"], start=r["start"], end=r["end"])
    summary = with_reason(summary, reason)
    mine = _reasons_of(reasons, r["app"], r["dyno"], r["start"], r["end"])
    return Finding(
        kind="crash_loop",
        severity="critical",
        summary=summary,
        **located(r),
        start=r["start"],
        end=r["end"],
        evidence=attach_reason(
            {
                "crashes": int(r["crashes"]),
                "minutes": round(minutes, 1),
                "mean_gap_minutes": round(r["mean_gap_minutes"], 1),
                "exit_statuses": list(r["exit_statuses"]),
                "causes": list(r["causes"]),
            },
            reason,
        ),
        sources=_listed_sources(r) + reason_sources(reason, mine),
        score=float(r["crashes"]),
    )


def _boot_findings(b: pl.DataFrame, reasons: pl.DataFrame) -> list[Finding]:
    out = []
    for g in b.partition_by("app", "dyno", maintain_order=True):
        r = g.row(0, named=True)
        n, crashed = g.height, int(g["crashed"].sum())
        cmd = f" running `{r['command']}`" if r["command"] else ""
        summary = (
            f"{r['dyno']} failed to boot in time (R10) {n} time{'s' if n > 1 else ''}{cmd}, "
            f"first at {g['ts'].min():%Y-%m-%d %H:%M:%S} UTC; {crashed} ended in a crash: "
            f"{r['description'] or heroku.ERROR_CODES['R10']}."
        )
        r10 = reasons.filter(pl.col("platform_cause") == "R10")
        reason = reason_for(
            r10,
            app=r["app"],
            dyno=r["dyno"],
            start=g["ts"].min(),
            end=g["ts"].max() + timedelta(seconds=60),
        )
        summary = with_reason(summary, reason)
        out.append(
            Finding(
                kind="boot_timeout",
                severity="critical" if crashed else "warning",
                summary=summary,
                **located(r),
                start=g["ts"].min(),
                end=g["ts"].max(),
                evidence=attach_reason(
                    {
                        "r10": n,
                        "crashed_after": crashed,
                        "command": r["command"],
                        "description": r["description"],
                        "times": _times(g),
                    },
                    reason,
                ),
                sources=line_sources(g) + reason_sources(reason),
                score=float(n),
            )
        )
    return out


def _unclean_findings(u: pl.DataFrame) -> list[Finding]:
    out = []
    if u.is_empty():
        return out
    for g in _by_dyno_release(u):
        r = g.row(0, named=True)
        n = g.height
        triggers = sorted(set(g["trigger"].to_list()))
        code = sorted({p for p in g["process_release"].to_list() if p})
        ran = f" (process started on {', '.join(code)})" if code else ""
        rel = f" on {r['release']}" if r["release"] else ""
        summary = (
            f"{r['dyno']} did not exit within {r['shutdown_seconds']:.0f} s of SIGTERM "
            f"{n} time{'s' if n > 1 else ''}"
            f"{rel}{ran} and was SIGKILLed (R12, during {'/'.join(triggers)}), first at "
            f"{g['ts'].min():%Y-%m-%d %H:%M:%S} UTC: in-flight work may have been lost."
        )
        out.append(
            Finding(
                kind="unclean_shutdown",
                severity="warning",
                summary=summary,
                **located(r),
                start=g["sigterm_ts"].min() or g["ts"].min(),
                end=g["ts"].max(),
                evidence={
                    "r12": n,
                    "shutdown_seconds": r["shutdown_seconds"],
                    "triggers": triggers,
                    "process_releases": code,
                    "exit_statuses": sorted(
                        {s for s in g["exit_status"].to_list() if s is not None}
                    ),
                    "seconds_to_kill": [
                        None if s is None else round(s, 1) for s in g["seconds_to_kill"].to_list()
                    ],
                    "times": _times(g),
                },
                sources=_rows_sources(g, ("line_no", "sigkill_line_no", "exit_line_no")),
                score=float(n),
            )
        )
    return out


def _loss_finding(r: dict[str, Any]) -> Finding:
    n = r["errors"]
    what = heroku.ERROR_CODES.get(r["code"], "log loss").lower()
    day = "%Y-%m-%d " if r["since"].date() != r["last"].date() else ""
    who = "Logplex" if r["dyno"] in (None, "logplex") else r["dyno"]
    summary = (
        f"{who} dropped {r['dropped']} log messages between {r['since']:%Y-%m-%d %H:%M:%S} and "
        f"{r['last']:{day}%H:%M:%S} UTC ({n} {r['code']} {what} report{'s' if n > 1 else ''})"
        ": the log is incomplete there, so counts in this period are lower bounds and a "
        "silence in it is not the app's."
    )
    return Finding(
        kind="log_loss",
        severity="warning",
        summary=summary,
        app=r["app"],
        dyno=r["dyno"],
        start=r["since"],
        end=r["last"],
        evidence={
            "code": r["code"],
            "errors": int(r["errors"]),
            "dropped": int(r["dropped"]),
            "since": r["since"].isoformat(),
            "first_report": r["first"].isoformat(),
            "description": r["description"],
        },
        sources=_listed_sources(r),
        score=float(r["dropped"]),
    )
