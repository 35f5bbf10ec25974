"""Findings of `forensics.analyses.memory`: its tables turned into `Finding`s."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from forensics import heroku
from forensics.analyses.dyno_service import quota_service
from forensics.analyses.memory import (
    DEFAULTS,
    NO_VERDICT,
    lifetimes_and_growth,
    quota_episodes,
)
from forensics.findings import Finding, located, round_or_none, struct_sources


def findings(con: duckdb.DuckDBPyConnection, **options: Any) -> list[Finding]:
    """`memory_leak` per (release, process type) whose lifetimes leak, with the routes to blame,
    and `memory_quota` per R14/R15 episode.

    A release leaks for a process type when at least `min_leak_share` (default half) of its
    lifetimes with a verdict (not `insufficient`, `growing` or `inconclusive`) are classified
    `leak` (judged by age against earlier releases: `trend.judge_by_age`). A (release, process
    type) with no leak whose growing lifetimes are `inconclusive` (too short to tell a leak
    from a warm-up) gets an info `memory_growth` finding saying what would settle it. Options
    are those of `memory_growth` and `attribution.route_attribution`; `lifetimes`, `growth`
    and `attribution` frames may be passed in.
    """
    from forensics.analyses.attribution import route_attribution

    mem_opts = {k: v for k, v in options.items() if k in DEFAULTS}
    lt, gr = lifetimes_and_growth(
        con, options.pop("lifetimes", None), options.pop("growth", None), **mem_opts
    )
    if gr.height == 0:
        return []
    att = options.pop("attribution", None)
    if att is None:
        att = route_attribution(con, lifetimes=lt, growth=gr, **options)
    share = float(options.get("min_leak_share", 0.5))
    out = _leak_findings(gr, att, share)
    leaking = {(f.app, f.release, f.process_type) for f in out}
    out += _inconclusive_findings(gr, leaking, mem_opts)
    eps = quota_episodes(con, lifetimes=lt, growth=gr)
    out += _quota_findings(_with_service(con, eps))
    return out


# A dyno over quota swaps: its requests slow down. Said when both spans hold this many requests
# and the median or p95 at least doubled.
SLOW_MIN_REQUESTS = 20
SLOW_RATIO = 2.0


def _with_service(con: duckdb.DuckDBPyConnection, eps: pl.DataFrame) -> pl.DataFrame:
    """R14 episodes of web dynos with the dyno's service time during and before them."""
    web = eps.filter((pl.col("code") == "R14") & (pl.col("process_type") == "web"))
    svc = quota_service(con, eps)
    keep = ["requests", "p50_ms", "p95_ms", "before_requests", "before_p50_ms", "before_p95_ms"]
    web = pl.concat([web, svc.select(keep)], how="horizontal")
    return eps.join(
        web.select("dyno", "start", "code", *keep), on=["dyno", "start", "code"], how="left"
    )


def _slowdown(e: dict[str, Any]) -> dict[str, Any] | None:
    """`evidence.service` of an episode whose dyno answered markedly slower than before."""
    if (e.get("requests") or 0) < SLOW_MIN_REQUESTS:
        return None
    if (e.get("before_requests") or 0) < SLOW_MIN_REQUESTS:
        return None
    p50, b50 = e["p50_ms"], e["before_p50_ms"]
    p95, b95 = e["p95_ms"], e["before_p95_ms"]
    slower = (b50 and p50 >= SLOW_RATIO * b50) or (b95 and p95 >= SLOW_RATIO * b95)
    if not slower:
        return None
    return {
        "requests": int(e["requests"]),
        "p50_ms": round(p50),
        "p95_ms": round(p95),
        "before_requests": int(e["before_requests"]),
        "before_p50_ms": round(b50),
        "before_p95_ms": round(b95),
    }


def _leak_findings(gr: pl.DataFrame, att: pl.DataFrame, share: float) -> list[Finding]:
    group = ["app", "release", "process_type"]
    enough = gr.filter(~pl.col("classification").is_in(NO_VERDICT))
    if enough.height == 0:
        return []
    verdict = enough.group_by(group).agg(
        ((pl.col("classification") == "leak").mean() >= share).alias("leaks"),
        pl.len().alias("with_data"),
    )
    out = []
    for row in verdict.filter("leaks").sort(group, nulls_last=False).iter_rows(named=True):
        key = {k: row[k] for k in group}
        match = [pl.col(k).eq_missing(pl.lit(v, dtype=pl.String)) for k, v in key.items()]
        lives = gr.filter(*match, pl.col("classification") == "leak").sort("start")
        routes = att.filter(*match, pl.col("mb_per_request") > 0).sort("rank")
        out.append(_leak_finding(key, lives, routes, int(row["with_data"])))
        unsure = gr.filter(*match, pl.col("classification") == "inconclusive")
        out[-1].evidence["inconclusive_lifetimes"] = unsure.height
    return out


def _inconclusive_findings(
    gr: pl.DataFrame, leaking: set[tuple[Any, Any, Any]], opts: dict[str, Any]
) -> list[Finding]:
    """`memory_growth` (info) per (app, release, process type) without a leak finding whose
    growing lifetimes could not be told from a warm-up."""
    o = {**DEFAULTS, **opts}
    group = ["app", "release", "process_type"]
    out = []
    # lifetimes that grow but cannot be told from a warm-up, and groups whose only lifetimes
    # (booted in the log, ten minutes of samples) were too short to measure at all: restarted
    # every few minutes, their growth is unknown, not zero
    need = o["min_hours"] + o["warmup_minutes"] / 60
    short = (
        gr.filter(~pl.col("started_before_log"), pl.col("samples") >= 30)
        .group_by(group)
        .agg(pl.len().alias("n"))
        .join(
            gr.group_by(group).agg(
                (pl.col("classification") == "insufficient").all().alias("all_short")
            ),
            on=group,
            nulls_equal=True,
        )
        .filter(pl.col("all_short"))
        .drop("n", "all_short")
    )
    unsure = pl.concat(
        [
            gr.filter(pl.col("classification") == "inconclusive"),
            gr.join(short, on=group, nulls_equal=True).with_columns(
                pl.lit(f"a lifetime longer than {need:g} h").alias("settle"),
                pl.lit("too short to measure a slope").alias("judgement"),
            ),
        ]
    )
    for key, lives in unsure.sort("start").group_by(group, maintain_order=True):
        app, rel, ptype = key
        if (app, rel, ptype) in leaking:
            continue
        dynos = sorted(set(lives["dyno"].to_list()))
        med = lives["slope_mb_h"].median()
        slope = float(med) if med is not None else None  # type: ignore[arg-type]
        longest = (
            float(
                lives.select(
                    (pl.col("last_sample") - pl.col("start")).dt.total_seconds().max()
                ).item()
                or 0.0
            )
            / 3600
        )
        settle = sorted(set(lives["settle"].drop_nulls().to_list())) or [
            f"a lifetime longer than {o['min_shape_hours']:g} h"
        ]
        if slope is not None and (lives["classification"] == "inconclusive").any():
            what = (
                f"grows memory on {ptype} ({', '.join(dynos)}: median {slope:.1f} MB/h over "
                f"{lives.height} lifetime(s), the longest {longest:.1f} h), inconclusive: too "
                f"short to tell a leak from a cache still filling, with no earlier release "
                f"to compare at the same age"
            )
        else:
            what = (
                f"memory on {ptype} ({', '.join(dynos)}) is inconclusive: its "
                f"{lives.height} lifetimes lasted at most {longest:.1f} h, too short to "
                f"measure how fast it grows"
            )
        text = f"Release {rel or '(unknown)'} {what}; {' or '.join(settle)} would settle it."
        out.append(
            Finding(
                kind="memory_growth",
                severity="info",
                summary=text,
                app=app,
                dyno=dynos[0] if len(dynos) == 1 else None,
                process_type=ptype,
                release=rel,
                start=lives["start"].min(),  # type: ignore[arg-type]
                end=lives["end"].max(),  # type: ignore[arg-type]
                evidence={
                    "verdict": "inconclusive",
                    "slope_mb_h": round_or_none(slope, 2),
                    "dynos": dynos,
                    "inconclusive_lifetimes": lives.height,
                    "longest_hours": round(longest, 2),
                    "settle": settle,
                    "lifetimes": [
                        {
                            "dyno": r["dyno"],
                            "lifetime": r["lifetime"],
                            "hours": round_or_none(r["hours"], 2),
                            "age_start_h": round_or_none(r["age_start_h"], 2),
                            "age_end_h": round_or_none(r["age_end_h"], 2),
                            "slope_mb_h": round_or_none(r["slope_mb_h"], 2),
                            "judgement": r["judgement"],
                        }
                        for r in lives.iter_rows(named=True)
                    ],
                },
                sources=[
                    x for srcs in lives["metric_sources"].to_list() for x in struct_sources(srcs)
                ],
                score=0.0,
            )
        )
    return out


def _leak_finding(
    key: dict[str, Any], lives: pl.DataFrame, routes: pl.DataFrame, with_data: int
) -> Finding:
    rel, ptype, app = key["release"], key["process_type"], key["app"]
    dynos = sorted(set(lives["dyno"].to_list()))
    slope = float(lives["slope_mb_h"].median())  # type: ignore[arg-type]
    r14, r15 = int(lives["r14"].sum()), int(lives["r15"].sum())
    h14 = lives["hours_to_r14"].drop_nulls()
    soonest = float(h14.min()) if h14.len() else None  # type: ignore[arg-type]
    blame = [
        {
            "route": r["route"],
            "method": r["method"] or None,
            "mb_per_request": round(float(r["mb_per_request"]), 4),
            "requests": int(r["requests"]),
            "retained_mb": round(float(r["retained_mb"]), 1),
            "confidence": round(float(r["confidence"]), 3),
            "significant": bool(r["leak"]),
        }
        for r in routes.head(5).iter_rows(named=True)
    ]
    top = blame[0] if blame and blame[0]["significant"] else None
    text = (
        f"Release {rel} leaks memory on {ptype}: {', '.join(dynos)} grew "
        f"{slope:.1f} MB/h (median of {lives.height} of {with_data} lifetimes) and never "
        f"gave it back"
    )
    if top:
        verb = f"{top['method']} " if top["method"] else ""
        text += (
            f"; {verb}{top['route']} keeps {top['mb_per_request']:.3g} MB per request "
            f"({top['requests']:,} requests, chosen in {top['confidence']:.0%} of bootstrap "
            f"refits)"
        )
    else:
        text += "; no route explains it with confidence"
    if r15:
        text += f"; {r15} R15 kill(s) and {r14} R14 error(s)"
    elif r14:
        text += f"; {r14} R14 error(s)"
    elif soonest is not None:
        text += f"; R14 (100 % of quota) in about {soonest:.0f} h at this rate"
    text += "."
    lifetimes_ev = [
        {
            "dyno": r["dyno"],
            "lifetime": r["lifetime"],
            "dyno_id": r["dyno_id"],
            "start": _iso(r["start"]),
            "end": _iso(r["end"]),
            "end_cause": r["end_cause"],
            "slope_mb_h": round_or_none(r["slope_mb_h"], 2),
            "ref_slope_mb_h": round_or_none(r["ref_slope_mb_h"], 2),
            "age_start_h": round_or_none(r["age_start_h"], 2),
            "age_end_h": round_or_none(r["age_end_h"], 2),
            "judgement": r["judgement"],
            "growth_mb": round_or_none(r["growth_mb"], 1),
            "peak_mb": round_or_none(r["peak_mb"], 1),
            "quota_mb": r["quota_mb"],
            "peak_pct": round_or_none(r["peak_pct"], 1),
            "r14": r["r14"],
            "r15": r["r15"],
            "hours_to_r14": round_or_none(r["hours_to_r14"], 1),
            "hours_to_r15": round_or_none(r["hours_to_r15"], 1),
        }
        for r in lives.iter_rows(named=True)
    ]
    sources = [s for srcs in lives["metric_sources"].to_list() for s in struct_sources(srcs)]
    critical = bool(r14 or r15) or (soonest is not None and soonest <= 24)
    quota = lives["quota_mb"].drop_nulls()
    return Finding(
        kind="memory_leak",
        severity="critical" if critical else "warning",
        summary=text,
        app=app,
        dyno=dynos[0] if len(dynos) == 1 else None,
        process_type=ptype,
        route=top["route"] if top else None,
        release=rel,
        start=lives["start"].min(),  # type: ignore[arg-type]
        end=lives["end"].max(),  # type: ignore[arg-type]
        evidence={
            "slope_mb_h": round(slope, 2),
            "dynos": dynos,
            "leaking_lifetimes": lives.height,
            "lifetimes_with_data": with_data,
            "release_inferred": bool(lives["release_inferred"].any()),
            "quota_mb": float(quota[0]) if quota.len() else None,
            "r14": r14,
            "r15": r15,
            "hours_to_r14": round_or_none(soonest, 1),
            "r15_threshold_pct": _pct(lives["r15_threshold_pct"].max()),
            "routes": blame,
            "lifetimes": lifetimes_ev,
        },
        sources=sources,
        score=slope,
    )


def _quota_findings(eps: pl.DataFrame) -> list[Finding]:
    out = []
    for e in eps.iter_rows(named=True):
        quota, peak = e["quota_mb"], e["peak_mb"]
        size = f"{peak:,.0f} MB" if peak is not None else "an unknown amount"
        if peak is not None and quota:
            size += f", {100 * peak / quota:.0f} % of its {quota:,.0f} MB quota"
        when = e["start"].strftime("%Y-%m-%d %H:%M UTC")
        rel = f" on release {e['release']}" if e["release"] else ""
        if e["code"] == "R15":
            text = (
                f"{e['dyno']} was killed for exceeding its memory quota (R15, "
                f"{_pct(e['r15_threshold_pct']):.0f} % of quota) at {when}{rel}: {size}."
            )
        else:
            minutes = (e["end"] - e["start"]).total_seconds() / 60
            n = e["count"]
            times = "once" if n == 1 else f"{n} times"
            over = f" over {minutes:.0f} min from" if minutes >= 1 else " at"
            text = (
                f"{e['dyno']} exceeded its memory quota (R14) {times}{over} {when}{rel}: "
                f"up to {size}"
            )
            if e["minutes_over_quota"]:
                text += f"; {e['minutes_over_quota']:.0f} min over quota in that lifetime"
            if e["max_swap_mb"]:
                text += f", swap up to {e['max_swap_mb']:.0f} MB"
            slow = _slowdown(e)
            if slow:
                text += (
                    f"; its {slow['requests']:,} requests meanwhile took p50 "
                    f"{slow['p50_ms']:,} ms / p95 {slow['p95_ms']:,} ms (the hour before: "
                    f"{slow['before_p50_ms']:,} / {slow['before_p95_ms']:,} ms)"
                )
            text += "."
        out.append(
            Finding(
                kind="memory_quota",
                severity="critical" if e["code"] == "R15" else "warning",
                summary=text,
                **located(e),
                start=e["start"],
                end=e["end"],
                evidence={
                    "code": e["code"],
                    "count": e["count"],
                    "lifetime": e["lifetime"],
                    "peak_mb": round_or_none(peak, 1),
                    "quota_mb": quota,
                    "peak_pct": round_or_none(e["peak_pct"], 1),
                    "minutes_over_quota": round_or_none(e["minutes_over_quota"], 1),
                    "max_swap_mb": round_or_none(e["max_swap_mb"], 1),
                    "r15_threshold_pct": _pct(e["r15_threshold_pct"]),
                    "lifetime_start_mb": round_or_none(e["start_mb"], 1),
                    "lifetime_classification": e["classification"],
                    "service": _slowdown(e) if e["code"] == "R14" else None,
                },
                sources=struct_sources(e["sources"]),
                score=float(e["count"]) * (10.0 if e["code"] == "R15" else 1.0),
            )
        )
    return out


def _pct(value: Any) -> float:
    """An R15 limit in % of the quota, the platform's default when the dyno's size is unknown."""
    return float(value) if value is not None else heroku.r15_pct(None)


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None
