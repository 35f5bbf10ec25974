"""Which window and which charts the report shows for each incident: its span widened a little
(so the before and after are in view), the status and latency charts of that window, and the
memory chart (leaks, R14/R15) or the availability timeline (crashes, downtime) of its dynos,
cut from the whole log's tables (`cut_to`) rather than computed again."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from forensics.incidents.model import Incident

MAX_ZOOMED = 8  # incidents (the most costly) that get zoomed charts (about 0.1 s CPU each)
MIN_PAD = timedelta(minutes=10)
PAD_SHARE = 0.25  # of the incident's duration, on each side

MEMORY_KINDS = frozenset({"memory_leak", "memory_quota", "memory_growth", "concurrency"})
AVAILABILITY_KINDS = frozenset(
    {"downtime", "crash", "crash_loop", "boot_timeout", "hung_dyno", "unclean_shutdown",
     "ephemeral_files", "worker_down", "worker_errors"}
)  # fmt: skip


def zoom_window(
    inc: Incident, *, log_start: datetime, log_end: datetime
) -> tuple[datetime, datetime]:
    """The incident's span widened by a quarter of its length on each side (10 min at least),
    kept inside the log."""
    start = inc.start or log_start
    end = max(inc.end or start, start)
    pad = max(MIN_PAD, (end - start) * PAD_SHARE)
    return max(start - pad, log_start), min(end + pad, log_end)


def side_chart(inc: Incident) -> str | None:
    """ "memory" for an incident about memory (its kind, or R14/R15 in its impact),
    "availability" for one about dynos stopping (crashes, downtime), else None."""
    imp = inc.impact or {}
    if inc.kind in MEMORY_KINDS or imp.get("r14") or imp.get("r15"):
        return "memory"
    if inc.kind in AVAILABILITY_KINDS or imp.get("crashes") or imp.get("downtime_minutes"):
        return "availability"
    return None


def dyno_filter(inc: Incident) -> str | None:
    """The `dyno` argument of the analyses for an incident: its one dyno, else its one process
    type, else None (all)."""
    if len(inc.dynos) == 1:
        return inc.dynos[0]
    if len(inc.process_types) == 1:
        return inc.process_types[0]
    return None


def cut_to(
    df: pl.DataFrame,
    window: tuple[datetime, datetime],
    *,
    dyno: str | None,
    dyno_col: str,
    keep: tuple[str, ...] = (),
) -> pl.DataFrame:
    """The rows of a whole-log table (`memory.memory_trend`, `availability.timeline`: `ts`, and
    `ts_end` for periods) inside `window`, periods clipped to it, for `dyno` (a dyno or a
    process type; rows whose `dyno_col` is in `keep`, like the app lane, stay): the incident's
    view of a table already computed, instead of a second query."""
    lo, hi = window
    has_end = pl.col("ts_end").is_not_null()
    inside = pl.when(has_end).then((pl.col("ts") < hi) & (pl.col("ts_end") > lo))
    inside = inside.otherwise(pl.col("ts").is_between(lo, hi))
    rows = df.filter(inside)
    if dyno is not None:
        d = pl.col(dyno_col)
        rows = rows.filter((d == dyno) | d.str.starts_with(dyno + ".") | d.is_in(list(keep)))
    return rows.with_columns(
        pl.when(has_end).then(pl.max_horizontal("ts", pl.lit(lo))).otherwise("ts").alias("ts"),
        pl.when(has_end).then(pl.min_horizontal("ts_end", pl.lit(hi))).alias("ts_end"),
    )
