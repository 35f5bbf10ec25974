"""What an incident cost, and the number it is ranked by.

cost = downtime minutes (overlaps once) x process-type weight (web 3, worker 1.5, other 1)
     + failed requests + 10 per R15 kill + 2 per crash
     + minutes over quota (R14) x weight / 4 (a swapping dyno is slow, not down).
Failed requests are the request_errors counts plus the downtimes' failed requests plus the
hotspots' H12s: three disjoint sets (request_errors leaves out the failures a web downtime
window counts, and H12s, which are the hotspots'; see `forensics.analyses.request_errors`).
"""

from __future__ import annotations

from typing import Any

from forensics.incidents.model import Incident

WEIGHT = {"web": 3.0, "worker": 1.5}


def weight(process_type: str | None) -> float:
    return WEIGHT.get(process_type or "", 1.0)


def _minutes(f: Any) -> float:
    ev = f.evidence
    for key in ("minutes", "down_minutes"):
        if ev.get(key) is not None:
            return float(ev[key])
    return 0.0


def _union_minutes(down: list[Any]) -> dict[str | None, float]:
    """Minutes down per process type, overlapping windows counted once (a dyno's window and its
    type's window tell the same minutes twice)."""
    by_type: dict[str | None, list[tuple[Any, Any]]] = {}
    for f in down:
        if f.start is None:
            continue
        by_type.setdefault(f.process_type, []).append((f.start, f.end or f.start))
    out: dict[str | None, float] = {}
    for ptype, spans in by_type.items():
        total, cur = 0.0, None
        for lo, hi in sorted(spans):
            if cur and lo <= cur[1]:
                cur = (cur[0], max(cur[1], hi))
                continue
            if cur:
                total += (cur[1] - cur[0]).total_seconds() / 60
            cur = (lo, hi)
        if cur:
            total += (cur[1] - cur[0]).total_seconds() / 60
        out[ptype] = total
    return out


def _down_failed(down: list) -> int:
    """The downtimes' failed requests: a dyno's window and its process type's count the same
    H10s (served by no dyno), and so do two dynos' overlapping windows; so per level, each run
    of overlapping windows counts its largest, and the larger level wins."""

    def level_sum(fs: list) -> int:
        total, run_end, run_max = 0, None, 0
        for f in sorted(fs, key=lambda f: f.start):
            n = int(f.evidence.get("failed_requests") or 0)
            if run_end is not None and f.start <= run_end:
                run_max, run_end = max(run_max, n), max(run_end, f.end or f.start)
                continue
            total += run_max
            run_end, run_max = f.end or f.start, n
        return total + run_max

    timed = [f for f in down if f.start]
    return max(level_sum([f for f in timed if bool(f.dyno) == level]) for level in (True, False))


def impact(inc: Incident) -> dict[str, Any]:
    """The incident's `impact` dict; also sets `inc.cost`."""
    fs = [m.finding for m in inc.members]
    down = [f for f in fs if f.kind in ("downtime", "worker_down")]
    if not down:
        down = [f for f in fs if f.kind == "crash_loop"]
    spans = _union_minutes(down)
    down_min = sum(spans.values()) if spans else sum(_minutes(f) for f in down)
    h12 = sum(
        int(f.evidence.get("count") or 0)
        for f in fs
        if f.kind == "timeout_hotspot" and "H12" in (f.evidence.get("codes") or [])
    )
    errs = [f for f in fs if f.kind == "request_errors"]
    err_h12 = sum(int((f.evidence.get("codes") or {}).get("H12") or 0) for f in errs)
    failed = (
        sum(int(f.evidence.get("count") or 0) for f in errs)
        + _down_failed(down)
        + (0 if err_h12 else h12)  # H12s kept in request_errors (an option) are counted there
    )
    h12 = h12 or err_h12
    shares = [
        float(f.evidence.get(k) or 0)
        for f in fs
        for k in ("failed_share", "share", "share_of_route_requests_in_window")
        if f.kind in ("downtime", "request_errors", "timeout_hotspot")
    ]
    episodes = [f for f in fs if f.kind == "memory_quota"]
    r14 = sum(
        int(f.evidence.get("count") or 0) for f in episodes if f.evidence.get("code") == "R14"
    )
    r15 = sum(1 for f in episodes if f.evidence.get("code") == "R15")
    leak = next((f for f in fs if f.kind == "memory_leak"), None)
    if leak and not episodes:
        r14, r15 = int(leak.evidence.get("r14") or 0), int(leak.evidence.get("r15") or 0)
    crashes = sum(int(f.evidence.get("crashes") or 0) for f in fs if f.kind == "crash")
    # minutes_over_quota is per lifetime: every R14 episode of one lifetime repeats it
    r14_eps = [f for f in episodes if f.evidence.get("code") == "R14"]
    lives = {(f.dyno, f.evidence.get("lifetime")): f for f in r14_eps}.values()
    over = sum(float(f.evidence.get("minutes_over_quota") or 0) for f in lives)
    # one-off runs that failed: a scheduled job's runs, a release that never went live
    jobs = sum(int(f.evidence.get("failed") or 0) for f in fs if f.kind == "job_failed")
    jobs += sum(1 for f in fs if f.kind == "release_phase_failed")
    # a worker failing its jobs while up: half the cost of its being down for that long
    failing = sum(
        float(f.evidence.get("minutes") or 0) * weight(f.process_type) / 2
        for f in fs
        if f.kind == "worker_errors"
    )
    inc.cost = (
        sum(minutes * weight(ptype) for ptype, minutes in spans.items())
        + failing
        + 5 * jobs
        + failed
        + 10 * r15
        + 2 * crashes
        + sum(
            float(f.evidence.get("minutes_over_quota") or 0) * weight(f.process_type) / 4
            for f in lives
        )
    )
    return {
        "downtime_minutes": round(down_min, 1),
        "failed_requests": int(failed),
        "failed_share": round(min(max(shares, default=0.0), 1.0), 4),
        "h12": h12,
        "r14": r14,
        "r15": r15,
        "crashes": crashes,
        "minutes_over_quota": round(over, 1),
        "failed_jobs": jobs,
    }
