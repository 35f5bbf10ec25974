"""Findings of `forensics.analyses.timeouts`: its tables turned into `Finding`s."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import duckdb
import polars as pl

from forensics import heroku
from forensics.analyses.common import with_release
from forensics.analyses.database_load import busy, database_load
from forensics.analyses.hung_dynos import hung_dynos
from forensics.analyses.request_rate import request_rate
from forensics.analyses.sql import app_key_expr, query, sql_list
from forensics.analyses.timeouts import (
    DEFAULT_CODES,
    hotspots,
    near_limit_requests,
    offload_candidates,
)
from forensics.analyses.worker_timeouts import worker_timeouts
from forensics.findings import Finding, line_sources, round_or_none


def findings(
    con: duckdb.DuckDBPyConnection,
    *,
    codes: Sequence[str] = DEFAULT_CODES,
    gap_seconds: int = 300,
    min_count: int = 3,
    threshold_ms: int = 20_000,
    min_near_limit: int = 1,
    hung: pl.DataFrame | None = None,
) -> list[Finding]:
    """`timeout_hotspot` per error cluster (see `hotspots`) and `offload_candidate` per route with
    at least `min_near_limit` requests of `threshold_ms` or more (see `offload_candidates`).

    Severity: a hotspot is critical with 10+ errors that are 25 %+ of the route's requests in the
    window, otherwise a warning; an offload candidate is a warning when the route also has H12s
    or 5 %+ of its requests are that slow, otherwise info.
    """
    out: list[Finding] = []
    hot = hotspots(con, codes=codes, gap_seconds=gap_seconds, min_count=min_count)
    hot = _not_a_stuck_dyno(con, hot, hung)
    hot, wide = _dyno_wide(con, hot, codes)
    if wide:
        at = pl.DataFrame(
            {"app": [w["app"] for w in wide], "start": [w["start"] for w in wide]},
            schema={"app": pl.String, "start": pl.Datetime("us", "UTC")},
        )
        rels = with_release(con, at, "start")["release"].to_list()
        out += [_dyno_wide_finding(w, rel) for w, rel in zip(wide, rels, strict=True)]
    if not hot.is_empty():
        hot = with_release(con, hot, "start")
        code_sql = sql_list(codes)
        lines = query(
            con,
            f"SELECT app, route, ts, source_file, line_no, line_count FROM requests "
            f"WHERE code IN {code_sql}",
        )
        killed = worker_timeouts(con)
        spans = hot.select("app", "start", "end")
        rates, db = request_rate(con, spans), database_load(con, spans)
        for h, rate, d in zip(
            hot.iter_rows(named=True), rates.iter_rows(named=True), db.iter_rows(named=True),
            strict=True,
        ):  # fmt: skip
            f = _with_worker_timeouts(_hotspot_finding(h, lines), killed)
            f.evidence["traffic"] = _traffic(rate)
            f.evidence["database"] = _database(d)
            out.append(f)
    cand = offload_candidates(con, threshold_ms=threshold_ms)
    cand = cand.filter(pl.col("near_limit") >= min_near_limit)
    if not cand.is_empty():
        cand = with_release(con, cand, "first")
        rows = near_limit_requests(con, threshold_ms=threshold_ms)
        bursts = [
            (f.app, f.route, f.start, f.end)
            for f in out
            if f.kind == "timeout_hotspot" and f.start is not None and f.end is not None
        ]
        for c in cand.iter_rows(named=True):
            out.append(_offload_finding(c, rows, threshold_ms, bursts))
    return out


def _not_a_stuck_dyno(
    con: duckdb.DuckDBPyConnection, hot: pl.DataFrame, hung: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Hotspots less those whose timeouts all came from one dyno while it was stuck
    (`hung_dynos`, kind `stuck_requests`; `hung` is that table when the caller has it): that
    is the dyno's story, told once by `hung_dyno`, not a slow route (a stuck dyno times out on
    every route it is sent)."""
    single = hot.filter(pl.col("dynos").list.drop_nulls().list.len() == 1)
    if single.is_empty():  # only a hotspot on one dyno can be a stuck dyno's (and it is cheap)
        return hot
    stuck = (hung_dynos(con) if hung is None else hung).filter(pl.col("kind") == "stuck_requests")
    if stuck.is_empty():
        return hot
    slack = timedelta(minutes=1)
    windows = [
        (r["app"], r["dyno"], r["start"] - slack, r["end"] + slack)
        for r in stuck.iter_rows(named=True)
    ]

    def explained(h: dict) -> bool:
        dynos = [d for d in h["dynos"] if d]
        return len(dynos) == 1 and any(
            app == h["app"] and dyno == dynos[0] and lo <= h["start"] and h["end"] <= hi
            for app, dyno, lo, hi in windows
        )

    keep = [not explained(h) for h in hot.iter_rows(named=True)]
    return hot.filter(pl.Series(keep, dtype=pl.Boolean))


# A dyno whose requests on this many routes at once all timed out answered nothing: its H12s
# are one story (the dyno, or what every route waits on, stopped), not one slow route each.
WIDE_MIN_ROUTES = 3
WIDE_MIN_SHARE = 0.8


def _dyno_wide(
    con: duckdb.DuckDBPyConnection, hot: pl.DataFrame, codes: Sequence[str]
) -> tuple[pl.DataFrame, list[dict]]:
    """Split off hotspots that are one dyno-wide stall: per app and dyno set, hotspots whose
    windows overlap on `WIDE_MIN_ROUTES`+ routes, while `WIDE_MIN_SHARE`+ of all requests
    those dynos got in the joint window timed out. A slow route that backs the dyno up
    leaves other requests answered; a dyno that stopped answering (a stuck single web dyno,
    which `hung_dynos` cannot tell from a slow app, having no other dyno to compare) does not.
    Returns (the other hotspots, one dict per stall)."""
    if hot.height < WIDE_MIN_ROUTES:
        return hot, []
    rows = sorted(
        hot.with_row_index("_i").iter_rows(named=True),
        key=lambda r: (r["app"] or "", tuple(d for d in r["dynos"] if d), r["start"]),
    )
    groups: list[list[dict]] = []
    for r in rows:
        key = (r["app"] or "", tuple(sorted(d for d in r["dynos"] if d)))
        g = groups[-1] if groups else None
        if (
            g
            and (g[0]["app"] or "", tuple(sorted(d for d in g[0]["dynos"] if d))) == key
            and r["start"] <= max(x["end"] for x in g)
        ):
            g.append(r)
        else:
            groups.append([r])
    wide, drop = [], set()
    for g in groups:
        dynos = sorted({d for r in g for d in r["dynos"] if d})
        if len({r["route"] for r in g}) < WIDE_MIN_ROUTES or not dynos:
            continue
        start, end = min(r["start"] for r in g), max(r["end"] for r in g)
        n, bad = query(
            con,
            f"""SELECT count(*), count(*) FILTER (WHERE code IN {sql_list(codes)})
                FROM requests WHERE app IS NOT DISTINCT FROM $app AND list_contains($d, dyno)
                  AND ts BETWEEN $s AND $e""",
            {"app": g[0]["app"], "d": dynos, "s": start, "e": end},
        ).row(0)
        if not n or bad / n < WIDE_MIN_SHARE:
            continue
        drop |= {r["_i"] for r in g}
        wide.append(
            {
                "app": g[0]["app"],
                "dynos": dynos,
                "start": start,
                "end": end,
                "count": int(bad),
                "requests": int(n),
                "codes": sorted({c for r in g for c in r["codes"]}),
                "routes": {
                    r["route"]: int(r["count"]) for r in sorted(g, key=lambda r: -r["count"])
                },
                "lines": query(
                    con,
                    f"""SELECT source_file, line_no, line_count FROM requests
                        WHERE app IS NOT DISTINCT FROM $app AND list_contains($d, dyno)
                          AND code IN {sql_list(codes)} AND ts BETWEEN $s AND $e""",
                    {"app": g[0]["app"], "d": dynos, "s": start, "e": end},
                ),
            }
        )
    if not drop:
        return hot, []
    keep = hot.with_row_index("_i").filter(~pl.col("_i").is_in(sorted(drop))).drop("_i")
    return keep, wide


def _dyno_wide_finding(w: dict, release: str | None) -> Finding:
    """One `timeout_hotspot` (route null) for a dyno-wide stall (`_dyno_wide`)."""
    dynos, routes = w["dynos"], w["routes"]
    minutes = (w["end"] - w["start"]).total_seconds() / 60
    share = w["count"] / w["requests"]
    who = ", ".join(dynos)
    top = ", ".join(f"{r} {n}" for r, n in list(routes.items())[:4])
    summary = (
        f"{who} answered almost nothing between {w['start']:%Y-%m-%d %H:%M:%S} and "
        f"{w['end']:%H:%M:%S} UTC ({_minutes(minutes)}): {w['count']} of its {w['requests']} "
        f"requests ({share:.0%}) timed out ({'/'.join(w['codes'])}) on {len(routes)} routes "
        f"({top}{', ...' if len(routes) > 4 else ''}): not one slow route but the dyno, or "
        f"something every route waits on, stalled."
    )
    types = {heroku.process_type(d) for d in dynos}
    return Finding(
        kind="timeout_hotspot",
        severity="critical",
        summary=summary,
        app=w["app"],
        dyno=dynos[0] if len(dynos) == 1 else None,
        process_type=types.pop() if len(types) == 1 else None,
        route=None,
        release=release,
        start=w["start"],
        end=w["end"],
        evidence={
            "codes": w["codes"],
            "count": w["count"],
            "dynos": dynos,
            "window_requests": w["requests"],
            "share_of_dyno_requests_in_window": round(share, 4),
            "routes": routes,
            "window_minutes": round(minutes, 1),
            "scope": "dyno",
        },
        sources=line_sources(w["lines"]),
        score=float(w["count"]),
    )


def _hotspot_finding(h: dict, lines: pl.DataFrame) -> Finding:
    dynos, counts = list(h["dynos"]), [int(n) for n in h["dyno_counts"]]
    by_dyno = dict(zip(dynos, counts, strict=True))
    mine = lines.filter(
        (app_key_expr() == (h["app"] or ""))
        & (pl.col("route") == h["route"])
        & pl.col("ts").is_between(h["start"], h["end"])
    )
    share = float(h["share"] or 0.0)
    codes = "/".join(h["codes"])
    types = {heroku.process_type(d) for d in dynos if d}
    minutes = (h["end"] - h["start"]).total_seconds() / 60
    where = ", ".join(f"{d} {n}" for d, n in by_dyno.items())
    summary = (
        f"{h['count']} {codes} on {h['route']} between {h['start']:%Y-%m-%d %H:%M:%S} and "
        f"{h['end']:%H:%M:%S} UTC ({_minutes(minutes)}): {share:.0%} of the route's "
        f"{h['window_requests']} requests in that window timed out ({where})."
    )
    return Finding(
        kind="timeout_hotspot",
        severity="critical" if h["count"] >= 10 and share >= 0.25 else "warning",
        summary=summary,
        app=h["app"],
        dyno=dynos[0] if len(dynos) == 1 else None,
        process_type=types.pop() if len(types) == 1 else None,
        route=h["route"],
        release=h["release"],
        start=h["start"],
        end=h["end"],
        evidence={
            "codes": list(h["codes"]),
            "count": int(h["count"]),
            "by_dyno": by_dyno,
            "window_requests": int(h["window_requests"]),
            "share_of_route_requests_in_window": round(share, 4),
            "route_requests_total": int(h["route_requests"]),
            "route_errors_total": int(h["route_errors"]),
            "methods": list(h["methods"]),
            "window_minutes": round(minutes, 1),
        },
        sources=line_sources(mine),
        score=float(h["count"]),
    )


def _database(row: dict) -> dict | None:
    """What Heroku Postgres logged during a hotspot and before it (None when it logged
    nothing), with `busy` its verdict."""
    keys = [k for k in row if k not in ("app", "start", "end")]
    if not row["slow_statements"] and row["load_avg_1m"] is None:
        return None
    out = {k: (round(row[k], 2) if isinstance(row[k], float) else row[k]) for k in keys}
    out["statement_sources"] = list(row["statement_sources"] or [])
    return {**out, "busy": busy(row)}


def _traffic(rate: dict) -> dict | None:
    """The app's requests per minute during a hotspot and in the hour before it."""
    if rate["per_minute"] is None or rate["before_per_minute"] is None:
        return None
    return {
        "per_minute": round(rate["per_minute"], 1),
        "before_per_minute": round(rate["before_per_minute"], 1),
        "ratio": round_or_none(rate["ratio"], 2),
    }


# A worker killed this long after its hotspot's last H12 is still that request's (the server
# kills it after its own timeout, often 30-60 s, while the router gave up at 30 s).
KILL_SLACK = timedelta(seconds=90)


def _with_worker_timeouts(f: Finding, killed: pl.DataFrame) -> Finding:
    """The hotspot with the app server's own worker timeouts on its dynos in its window: the
    same stuck requests seen from inside the dyno (evidence.worker_timeouts, their lines)."""
    if killed.is_empty() or not f.start:
        return f
    dynos = list(f.evidence.get("by_dyno") or [])
    mine = killed.filter(
        (app_key_expr() == (f.app or ""))
        & pl.col("dyno").is_in(dynos)
        & pl.col("ts").is_between(f.start, (f.end or f.start) + KILL_SLACK)
    )
    if mine.is_empty():
        return f
    counts = mine.group_by("server").len().sort(["len", "server"], descending=[True, False])
    by_server = dict(counts.iter_rows())
    f.evidence["worker_timeouts"] = {str(k): int(v) for k, v in by_server.items()}
    said = ", ".join(f"{k} {v}" for k, v in by_server.items())
    f.summary = (
        f"{f.summary.rstrip('.')}; the app server killed workers for timing out meanwhile ({said})."
    )
    f.sources = [*f.sources, *line_sources(mine)[:3]]
    return f


# Near-limit requests this much inside their route's H12 bursts are that slowdown's, not work
# that is slow every day.
IN_BURST_SHARE = 0.8


def _offload_finding(
    c: dict, rows: pl.DataFrame, threshold_ms: int, bursts: list[tuple] | None = None
) -> Finding:
    mine = rows.filter((app_key_expr() == (c["app"] or "")) & (pl.col("route") == c["route"]))
    spans = [(a, b) for app, route, a, b in bursts or [] if app == c["app"] and route == c["route"]]
    inside = (
        mine.select(
            pl.any_horizontal(
                pl.col("ts").is_between(a - KILL_SLACK, b + KILL_SLACK) for a, b in spans
            ).sum()
        ).item()
        if spans
        else 0
    )
    in_burst = bool(spans) and mine.height > 0 and inside >= IN_BURST_SHARE * mine.height
    dynos = sorted({d for d in mine["dyno"].to_list() if d})
    types = {heroku.process_type(d) for d in dynos}
    share = float(c["share"] or 0.0)
    warn = c["timeouts"] > 0 or share >= 0.05
    extra = f"; the route also had {c['timeouts']} H12" if c["timeouts"] else ""
    summary = (
        f"{c['near_limit']} of {c['requests']} requests to {c['route']} ({share:.1%}) took "
        f"{threshold_ms / 1000:.0f} s or more (median {c['p50_ms'] / 1000:.1f} s, max "
        f"{c['max_ms'] / 1000:.1f} s) without timing out{extra}: close to the "
        f"{heroku.ROUTER_TIMEOUT_MS // 1000} s router limit, "
        + (
            "during the route's H12 burst (the same slowdown, not work that is slow every day)."
            if in_burst
            else "a candidate for a background job."
        )
    )
    return Finding(
        kind="offload_candidate",
        severity="warning" if warn else "info",
        summary=summary,
        app=c["app"],
        dyno=dynos[0] if len(dynos) == 1 else None,
        process_type=types.pop() if len(types) == 1 else None,
        route=c["route"],
        release=c["release"],
        start=c["first"],
        end=c["last"],
        evidence={
            "threshold_ms": int(threshold_ms),
            "near_limit": int(c["near_limit"]),
            "route_requests": int(c["requests"]),
            "share": round(share, 4),
            "route_timeouts": int(c["timeouts"]),
            "p50_ms": round_or_none(c["p50_ms"]),
            "max_ms": int(c["max_ms"]),
            "methods": list(c["methods"]),
            "dynos": dynos,
            "request_ids": [r for r in mine["request_id"].to_list()[:20] if r],
            "in_h12_burst": in_burst,
        },
        sources=line_sources(mine),
        score=float(c["near_limit"]),
    )


def _minutes(minutes: float) -> str:
    """`12 min`, or `under a minute` (not `0 min`)."""
    return f"{minutes:.0f} min" if minutes >= 1 else "under a minute"
