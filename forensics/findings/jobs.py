"""Findings of `forensics.analyses.job_runs`: one-off runs that failed. A `job_failed` finding per
scheduler job or one-off command, a `release_phase_failed` finding per release whose release
command failed (that release never went live), each with the app's own reason."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from forensics.analyses.crash_reasons import crash_reasons, reason_evidence
from forensics.analyses.job_runs import job_runs
from forensics.analyses.sql import app_key_expr
from forensics.findings import Finding, line_sources, located
from forensics.findings.reasons import attach_reason, reason_sources, with_reason

# Failures of one scheduled job that make it a warning (one failure of a job that then
# succeeded is info: worth knowing, not an incident).
WARN_FAILURES = 2
_KIND = {"scheduler": "scheduled job", "release": "release command"}


def findings(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    """`job_failed` per (app, process type, command) with a failed run; `release_phase_failed`
    per failed release-phase run. Warning for a release phase, and for a scheduled job that
    failed `WARN_FAILURES` times or more (or every time it ran); info for a `heroku run`
    command, which a person ran and saw fail."""
    runs = job_runs(con)
    failed = runs.filter(pl.col("outcome") == "failed")
    if failed.is_empty():
        return []
    reasons = crash_reasons(con, crash_table=_as_crashes(failed))
    runs = runs.with_columns(app_key_expr("app", alias="_app"))
    out = []
    for g in runs.partition_by("_app", "process_type", "command", maintain_order=True):
        bad = g.filter(pl.col("outcome") == "failed")
        if bad.is_empty():
            continue
        if g["process_type"][0] == "release":
            out.extend(_release_phase(r, reasons) for r in bad.iter_rows(named=True))
        else:
            out.append(_job(g, bad, reasons))
    return out


def _as_crashes(failed: pl.DataFrame) -> pl.DataFrame:
    """Failed runs in the shape of `availability.crashes`, for `crash_reasons`."""
    return failed.select(
        pl.col("end").alias("ts"),
        "app",
        "dyno",
        "process_type",
        "release",
        pl.lit(None, pl.String).alias("from_state"),
        "exit_status",
        pl.col("platform_cause").alias("cause"),
        pl.lit(None, pl.String).alias("cause_description"),
        pl.lit(False).alias("during_shutdown"),
        "source_file",
        "line_no",
        pl.col("line_no").alias("exit_line_no"),
        pl.lit(None, pl.Int64).alias("cause_line_no"),
    )


def _reason(reasons: pl.DataFrame, bad: pl.DataFrame) -> dict[str, Any] | None:
    keys = bad.select("dyno", pl.col("end").alias("crash_ts"))
    return reason_evidence(reasons.join(keys, on=["dyno", "crash_ts"], how="semi"))


def _how(bad: pl.DataFrame) -> str:
    """`exit 1`, `exit 1 or 2`, `killed for memory (R15)`."""
    causes = sorted(set(bad["platform_cause"].drop_nulls().to_list()))
    statuses = sorted(set(bad["exit_status"].drop_nulls().to_list()))
    parts = [f"exit {' or '.join(str(s) for s in statuses)}"] if statuses else []
    parts += ["killed for memory (R15)" if c == "R15" else c for c in causes]
    return ", ".join(parts) or "crashed"


def _t(ts: datetime) -> str:
    return f"{ts:%Y-%m-%d %H:%M:%S} UTC"


def _job(g: pl.DataFrame, bad: pl.DataFrame, reasons: pl.DataFrame) -> Finding:
    r = g.row(0, named=True)
    ptype, n, runs = r["process_type"], bad.height, g.height
    ok = g.filter(pl.col("outcome") == "succeeded")
    what = _KIND.get(ptype, "one-off command")
    cmd = f" `{r['command']}`" if r["command"] else ""
    if ptype not in _KIND:
        cmd += f" (`heroku run` on {', '.join(bad['dyno'].unique(maintain_order=True)[:3])})"
    first, last = bad["end"].min(), bad["end"].max()
    if n == 1:
        when = f"failed at {_t(last)} ({_how(bad)})"
    else:
        when = f"failed {n} of {runs} runs between {_t(first)} and {_t(last)} ({_how(bad)})"
    after = ok.filter(pl.col("end") > last)
    before = ok.filter(pl.col("end") < first)
    if ptype == "scheduler" and n > 1 and ok.is_empty():
        when += "; it never succeeded in this log"
    elif not after.is_empty():
        when += f"; it succeeded again at {_t(after['end'].min())}"
    reason = _reason(reasons, bad)
    summary = with_reason(f"The {what}{cmd} {when}.", reason, of="failed runs")
    warn = ptype == "scheduler" and (n >= WARN_FAILURES or n == runs)
    evidence: dict[str, Any] = {
        "command": r["command"],
        "runs": runs,
        "failed": n,
        "succeeded": ok.height,
        "first_failure": first.isoformat(),
        "last_failure": last.isoformat(),
        "last_success": ok["end"].max().isoformat() if not ok.is_empty() else None,
        "success_before": before["end"].max().isoformat() if not before.is_empty() else None,
        "exit_statuses": sorted(set(bad["exit_status"].drop_nulls().to_list())),
        "dynos": bad["dyno"].unique(maintain_order=True).to_list()[:50],
        "failures": [t.isoformat() for t in bad["end"].to_list()[:200]],
        # a scheduled job still failing: no success after its last failure
        "ongoing": ptype == "scheduler" and after.is_empty(),
    }
    return Finding(
        kind="job_failed",
        severity="warning" if warn else "info",
        summary=summary,
        app=r["app"],
        dyno=bad["dyno"][0] if n == 1 else None,
        process_type=ptype,
        release=bad["release"][-1],
        start=bad["start"].min(),
        end=last,
        evidence=attach_reason(evidence, reason),
        sources=(reason_sources(reason) + line_sources(bad))[:50],
        score=float(n),
    )


def _release_phase(r: dict[str, Any], reasons: pl.DataFrame) -> Finding:
    one = pl.DataFrame([r])
    reason = _reason(reasons, one)
    rel = r["release"]
    which = f" of {rel}" if rel else ""
    gone = (
        f": {rel} was not deployed, the dynos kept running the release before it"
        if rel
        else ": that release was not deployed"
    )
    summary = with_reason(
        f"The release phase{which} failed at {_t(r['end'])} ({_how(one)}){gone}.", reason
    )
    evidence: dict[str, Any] = {
        "release": rel,
        "exit_status": r["exit_status"],
        "platform_cause": r["platform_cause"],
        "dyno": r["dyno"],
        "started": r["start"].isoformat(),
    }
    return Finding(
        kind="release_phase_failed",
        severity="warning",
        summary=summary,
        **located(r),
        start=r["start"],
        end=r["end"],
        evidence=attach_reason(evidence, reason),
        sources=(reason_sources(reason) + line_sources(one))[:50],
        score=5.0,
    )
