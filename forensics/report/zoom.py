"""Which window and which charts the report shows for each incident: its span widened a little
(so the before and after are in view), the status and latency charts of that window, and the
memory chart (leaks, R14/R15) or the availability timeline (crashes, downtime) of its dynos."""

from __future__ import annotations

from datetime import datetime, timedelta

from forensics.incidents.model import Incident

MAX_ZOOMED = 12  # incidents (the most costly) that get zoomed charts
MIN_PAD = timedelta(minutes=10)
PAD_SHARE = 0.25  # of the incident's duration, on each side

MEMORY_KINDS = frozenset({"memory_leak", "memory_quota", "memory_growth", "concurrency"})
AVAILABILITY_KINDS = frozenset(
    {"downtime", "crash", "crash_loop", "boot_timeout", "hung_dyno", "unclean_shutdown",
     "ephemeral_files", "worker_down"}
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
