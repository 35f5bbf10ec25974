"""The finding builders `collect_findings` runs, in order, each with the options it accepts.

Adding a findings module is one line in `BUILDERS` (and its import): its `findings(con, **opts)`
function and the option names it takes. An option no builder declares is a user error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from forensics.analyses import attribution as attribution_analysis
from forensics.analyses import memory as memory_analysis
from forensics.analyses import releases as releases_analysis
from forensics.findings import (
    Finding,
    availability,
    concurrency,
    downtime,
    ephemeral_files,
    hung_dynos,
    jobs,
    memory,
    releases,
    request_errors,
    timeouts,
    worker_errors,
)

# Frames several builders need; `collect_findings` computes them once and hands them down.
LIFETIMES, GROWTH, ATTRIBUTION = "lifetimes", "growth", "attribution"
# The hung-dyno table (its findings, and the hotspots a stuck dyno explains) and the downtime
# windows (their findings, and the failed requests that are theirs, not request_errors').
HUNG, DOWNTIME = "hung", "downtime_windows"
SHARED = (LIFETIMES, GROWTH, ATTRIBUTION, HUNG, DOWNTIME)


@dataclass(frozen=True)
class Builder:
    """A findings function and the option names (keyword arguments) it accepts."""

    name: str
    build: Callable[..., list[Finding]]
    options: frozenset[str]


def _opts(*names: str | dict[str, Any]) -> frozenset[str]:
    """Option names from names and from analyses' DEFAULTS dicts."""
    out: set[str] = set()
    for n in names:
        out.update([n] if isinstance(n, str) else n)
    return frozenset(out)


BUILDERS: tuple[Builder, ...] = (
    Builder(
        "memory",
        memory.findings,
        _opts(
            LIFETIMES, GROWTH, ATTRIBUTION, memory_analysis.DEFAULTS, attribution_analysis.DEFAULTS
        ),
    ),
    Builder("releases", releases.findings, _opts(LIFETIMES, GROWTH, releases_analysis.DEFAULTS)),
    Builder(
        "timeouts",
        timeouts.findings,
        _opts(HUNG, "codes", "gap_seconds", "min_count", "threshold_ms", "min_near_limit"),
    ),
    Builder(
        "availability",
        availability.findings,
        _opts(LIFETIMES, "gap_minutes", "min_crashes", "min_down_minutes"),
    ),
    Builder(
        "downtime",
        downtime.findings,
        _opts(
            LIFETIMES,
            DOWNTIME,
            "min_minutes",
            "critical_web_minutes",
            "critical_failed_requests",
            "worker_minutes",
        ),
    ),
    Builder(
        "request_errors",
        request_errors.findings,
        _opts(DOWNTIME, HUNG, "min_count", "critical_count", "critical_wide_count"),
    ),
    Builder("ephemeral_files", ephemeral_files.findings, _opts("restart_minutes")),
    Builder(
        "worker_errors",
        worker_errors.findings,
        _opts("gap_minutes", "min_count", "min_ratio", "before_minutes"),
    ),
    Builder("hung_dynos", hung_dynos.findings, _opts(HUNG, "critical_minutes")),
    Builder("jobs", jobs.findings, _opts()),
    Builder(
        "concurrency",
        concurrency.findings,
        _opts("workers", "threads", "quota_mb", "memory_target", "headroom", "min_arrivals"),
    ),
)
