"""Memory growth per dyno lifetime: robust slope, peak against quota, projections, a class.

Everything is per lifetime of one dyno (`lifetimes.lifetimes`), never averaged over a process
type: one leaking dyno next to a healthy one must stay visible.

How the slope is made robust:

- it is fitted on resident memory plus swap (`memory_rss_mb + memory_swap_mb`), not on
  `memory_total_mb`, which also holds the page cache that fills for hours and then stays;
- the first minutes after a (known) start are skipped: boot and warm-up are not a leak;
- samples (every 20 s) are reduced to one level per window (10 minutes by default, wider for
  very long lifetimes so there are at most 200 windows): the 10 % quantile of the window's
  samples. Noise and the GC sawtooth barely move it, and allocations that a request holds for
  a minute only raise the upper samples (a median would still follow them when several
  overlap);
- the slope is the Theil-Sen estimator (median of all pairwise slopes) over those window
  levels, so a few odd windows cannot tilt it; pairs are formed in SQL (at most ~20k per
  lifetime, never over raw samples).

Classification per lifetime (thresholds are keyword options of `memory_growth`):

- `insufficient`: less than `min_hours` of samples after warm-up (or fewer than 6 windows);
- `leak`: steady growth that does not come back: slope >= `min_slope` MB/h, growth between the
  first and last three windows >= `min_growth` MB, it does not slow down (`late_vs_early`,
  the growth rate at 5/6 of the lifetime over the rate at 1/6 from a least-squares parabola
  through the window levels, is >= `decel_ratio`, one half), and the last windows are within
  max(15 MB, 25 % of the growth) of the highest. The rate is taken per request served when
  the dyno serves requests (>= `min_requests_per_hour`), else per hour: a leak follows the
  traffic, which swings several-fold over a day, while a cache that fills up slows down
  whatever the traffic;
- `growing`: the same steady growth, seen over less than `min_leak_hours` (2.5 h): too short
  to tell a leak from a cache that is still filling (a cache with a 2-hour time constant looks
  linear for its first hour or two); it never counts as a leak;
- `plateau`: grew by >= `min_growth` but slowed down to less than half its early rate (a cache
  filling up), and stays up;
- `spike`: a jump that is freed again: a sample >= max(50 MB, 10 % of quota) above its window's
  median, or window levels that rose by that much and came back down;
- `healthy`: none of the above.

Then every `leak` / `growing` lifetime (and a `plateau` still rising late) is judged again by
its age since boot against the lifetimes of the same process type on earlier releases
(`forensics.analyses.trend.judge_by_age`): a cache that takes longer to fill than a dyno lives
grows in every lifetime of every release along the same curve. The outcome may be `warmup`
(grows as earlier releases did at that age, or bends), `inconclusive` (too short to tell, no
earlier release to compare; `settle` says what would decide), `step` (one bloat jump, then
flat), or it stays `leak` / `growing`. `judgement` says which rule decided.

Quota: `memory_quota_mb` of the samples; else `Process running mem=NNNM(PP.P%)` events
(mem / pct x 100, snapped to a known dyno size within 5 %); else the dyno size in the last
`Scaled to web@N:Size` before the lifetime (or the first after); else unknown (null).
Projections are linear from the current total (median of the last windows, cache included, as
Heroku judges R14 on it) at the robust slope: `hours_to_r14` (100 % of quota) and
`hours_to_r15` (R15: Heroku kills a dyno past twice its quota on most sizes, 1.2x on
Performance-L-RAM/XL/2XL, 1x in Private and Shield spaces; the size comes from `Scaled to`, and
an unknown size counts as 2x: `forensics.heroku.r15_pct`). Both are only given for `leak` and
`growing` lifetimes with a known quota (a straight line says nothing about a plateau).

Findings (`forensics.findings.memory`): `memory_leak` per (app, release, process type) whose
lifetimes leak, naming the dynos, the median slope and the routes `attribution` blames;
`memory_growth` (info) where they are only `inconclusive`; `memory_quota` per R14 / R15
episode (`quota_episodes`).
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import polars as pl

from forensics import heroku
from forensics.analyses.lifetimes import given_or_computed
from forensics.analyses.memo import per_dataset
from forensics.analyses.sql import (
    app_key_expr,
    app_key_sql,
    assign_sql,
    has_rows,
    metric_rows_sql,
    query,
    registered,
)
from forensics.analyses.trend import judge_by_age

CLASSES = (
    "leak",
    "growing",
    "inconclusive",
    "warmup",
    "step",
    "plateau",
    "spike",
    "healthy",
    "insufficient",
)
# classes whose slope says nothing a release can be compared on (too short, or unjudged)
NO_VERDICT = ("insufficient", "growing", "inconclusive")

DEFAULTS: dict[str, float] = {
    "window_minutes": 10.0,
    "level_quantile": 0.1,
    "warmup_minutes": 15.0,
    "max_windows": 200.0,
    "min_hours": 1.0,
    "min_leak_hours": 2.5,
    "min_slope": 2.0,  # MB/h
    "min_growth": 20.0,  # MB
    "decel_ratio": 0.5,
    "min_requests_per_hour": 30.0,
    "spike_mb": 50.0,
    "spike_pct": 10.0,
    # judgement by age since boot (`_judge_by_age`)
    "min_shape_hours": 5.0,  # own-shape test: a warm-up of tau <= ~11 h bends below linear_ratio
    "linear_ratio": 0.8,  # late / early half slope at or above this: not bending (linear)
    "faster_ratio": 2.0,  # grows this much faster at the same age than earlier releases
    "min_compare_hours": 1.0,  # common age range needed to compare slopes at the same age
    "trend_p": 0.05,  # Mann-Kendall p-value (on 30-minute block minima) for "it grows"
    "step_share": 0.6,  # one block-to-block rise holding this share of the growth: a step
}


@per_dataset
def memory_growth(
    con: duckdb.DuckDBPyConnection,
    *,
    lifetimes: pl.DataFrame | None = None,
    **options: float,
) -> pl.DataFrame:
    """One row per dyno lifetime with memory data: how fast it grows and how close to quota.

    Columns: app, dyno, process_type, lifetime, lifetime_id, dyno_id, release,
    release_inferred, start, end, started_before_log, end_cause, samples, first_sample,
    last_sample, hours (sampled span after warm-up), windows, quota_mb, quota_source
    (metrics / process_running / formation / null), start_mb / end_mb (total, median of the
    first / last three windows), peak_mb (highest total or `Process running` value), peak_pct
    (of quota), peak_rss_mb, max_swap_mb, swap_minutes, minutes_over_quota, r14, r15 (error
    events), requests (served after warm-up), slope_mb_h (Theil-Sen over the window levels of
    rss+swap), late_vs_early (growth rate at 5/6 of the lifetime over the rate at 1/6),
    growth_axis (requests or time: what that rate is per), growth_mb (rss+swap, last three
    windows minus first three), drop_mb (highest window minus the last ones), spike_mb
    (highest sample above its window's median), hours_to_r14, hours_to_r15 (linear projection
    from the last total at slope_mb_h; only for `leak` / `growing` lifetimes with a quota),
    r15_threshold_pct (the R15 limit in % of the quota: 200, 120 or 100 by the dyno's size from
    `Scaled to`, 200 when the size is unknown; `forensics.heroku.r15_pct`), classification (see
    the module doc), age_start_h / age_end_h (age since boot of the first / last window; null
    when it started before the log), trend_p (Mann-Kendall), late_slope_mb_h (second half),
    ref_slope_mb_h (earlier releases at the same age), judgement and settle
    (`trend.judge_by_age`), and `metric_sources` (list of {file, first_line, last_line} of its
    metrics rows).
    """
    opts = {**DEFAULTS, **options}
    if not (
        has_rows(con, "dyno_metrics", "memory_total_mb IS NOT NULL")
        or has_rows(con, "events", "kind = 'memory' OR (kind = 'error' AND code IN ('R14', 'R15'))")
    ):
        return _empty()
    lt = given_or_computed(con, lifetimes)
    if lt.height == 0:
        return _empty()
    with registered(con, lt.drop("sources")) as name:
        df = query(con, _growth_sql(name, opts))
    if df.height == 0:
        return _empty()
    return _classify(df, opts).select(_COLUMNS).sort("app", "dyno", "lifetime")


def lifetimes_and_growth(
    con: duckdb.DuckDBPyConnection,
    lifetimes: pl.DataFrame | None = None,
    growth: pl.DataFrame | None = None,
    **options: float,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(lifetimes, growth), each computed only when not passed in: several analyses share them."""
    lt = given_or_computed(con, lifetimes)
    gr = growth if growth is not None else memory_growth(con, lifetimes=lt, **options)
    return lt, gr


_COLUMNS = [
    "app",
    "dyno",
    "process_type",
    "lifetime",
    "lifetime_id",
    "dyno_id",
    "release",
    "release_inferred",
    "start",
    "end",
    "started_before_log",
    "end_cause",
    "samples",
    "first_sample",
    "last_sample",
    "hours",
    "windows",
    "quota_mb",
    "quota_source",
    "start_mb",
    "end_mb",
    "peak_mb",
    "peak_pct",
    "peak_rss_mb",
    "max_swap_mb",
    "swap_minutes",
    "minutes_over_quota",
    "r14",
    "r15",
    "requests",
    "slope_mb_h",
    "late_vs_early",
    "growth_axis",
    "growth_mb",
    "drop_mb",
    "spike_mb",
    "hours_to_r14",
    "hours_to_r15",
    "r15_threshold_pct",
    "classification",
    "age_start_h",
    "age_end_h",
    "trend_p",
    "late_slope_mb_h",
    "ref_slope_mb_h",
    "judgement",
    "settle",
    "metric_sources",
]


def _empty() -> pl.DataFrame:
    ts = pl.Datetime("us", "UTC")
    src = pl.List(pl.Struct({"file": pl.String, "first_line": pl.Int64, "last_line": pl.Int64}))
    f, i, s, b = pl.Float64, pl.Int64, pl.String, pl.Boolean
    schema = {
        "app": s,
        "dyno": s,
        "process_type": s,
        "lifetime": i,
        "lifetime_id": s,
        "dyno_id": s,
        "release": s,
        "release_inferred": b,
        "start": ts,
        "end": ts,
        "started_before_log": b,
        "end_cause": s,
        "samples": i,
        "first_sample": ts,
        "last_sample": ts,
        "hours": f,
        "windows": i,
        "quota_mb": f,
        "quota_source": s,
        "start_mb": f,
        "end_mb": f,
        "peak_mb": f,
        "peak_pct": f,
        "peak_rss_mb": f,
        "max_swap_mb": f,
        "swap_minutes": f,
        "minutes_over_quota": f,
        "r14": i,
        "r15": i,
        "requests": i,
        "slope_mb_h": f,
        "late_vs_early": f,
        "growth_axis": s,
        "growth_mb": f,
        "drop_mb": f,
        "spike_mb": f,
        "hours_to_r14": f,
        "hours_to_r15": f,
        "r15_threshold_pct": f,
        "classification": s,
        "age_start_h": f,
        "age_end_h": f,
        "trend_p": f,
        "late_slope_mb_h": f,
        "ref_slope_mb_h": f,
        "judgement": s,
        "settle": s,
        "metric_sources": src,
    }
    return pl.DataFrame(schema=schema)


def _sizes_sql() -> str:
    """Every dyno size with its quota and its R15 limit in percent of the quota."""
    rows = ", ".join(f"('{k}', {v}, {heroku.r15_pct(k)})" for k, v in heroku.DYNO_QUOTA_MB.items())
    return f"(VALUES {rows}) AS sz(size, quota, r15_pct)"


def _snap_sql(expr: str) -> str:
    """Snap a derived quota to the nearest known dyno size when within 5 %."""
    known = ", ".join(str(q) for q in heroku.KNOWN_QUOTAS_MB)
    return f"""coalesce((SELECT k FROM unnest([{known}]) t(k)
                        WHERE abs(k - ({expr})) <= 0.05 * k
                        ORDER BY abs(k - ({expr})) LIMIT 1), {expr})"""


def _growth_sql(lt: str, o: dict[str, float]) -> str:
    samples = metric_rows_sql(lt, "memory_total_mb IS NOT NULL")
    mem_events = assign_sql(
        f"""SELECT *, {app_key_sql()} AS akey, ts AS key_ts FROM events
           WHERE dyno IS NOT NULL AND (kind = 'memory'
                 OR (kind = 'error' AND code IN ('R14', 'R15')))""",
        lt,
    )
    # requests per dyno and minute (the window counts need no more precision)
    reqs = assign_sql(
        f"""SELECT akey, dyno, m, n, make_timestamp(m * 60000000 + 30000000) AS key_ts
           FROM (SELECT {app_key_sql()} AS akey, dyno, epoch_us(ts) // 60000000 AS m,
                        count(*) AS n
                 FROM requests WHERE dyno IS NOT NULL GROUP BY ALL)""",
        lt,
    )
    min_req = o["min_requests_per_hour"]
    q = o["level_quantile"]
    warm = o["warmup_minutes"] * 60
    win = o["window_minutes"] * 60
    maxw = o["max_windows"]
    return f"""
    WITH L AS (SELECT *, {app_key_sql()} AS akey FROM {lt}),
    s AS (
        SELECT akey, dyno, lifetime, ts, source_file, line_no,
               memory_total_mb AS total,
               coalesce(memory_rss_mb + coalesce(memory_swap_mb, 0), memory_total_mb) AS lvl,
               memory_rss_mb AS rss, coalesce(memory_swap_mb, 0) AS swap,
               memory_quota_mb AS quota, epoch_us(ts) AS tu
        FROM ({samples}) WHERE lifetime IS NOT NULL
    ),
    me AS (
        SELECT akey, dyno, lifetime, ts, kind, code, mem_mb, mem_pct
        FROM ({mem_events}) WHERE lifetime IS NOT NULL
    ),
    me_l AS (
        SELECT akey, dyno, lifetime,
               count(*) FILTER (WHERE code = 'R14') AS r14,
               count(*) FILTER (WHERE code = 'R15') AS r15,
               max(mem_mb) AS ev_peak,
               median(mem_mb / mem_pct * 100) FILTER (WHERE mem_pct > 0 AND mem_mb > 0)
                   AS ev_quota
        FROM me GROUP BY ALL
    ),
    me_d AS (
        SELECT akey, dyno, median(mem_mb / mem_pct * 100) AS ev_quota
        FROM me WHERE mem_pct > 0 AND mem_mb > 0 GROUP BY ALL
    ),
    form AS (
        SELECT {app_key_sql("e.app")} AS akey, e.ts, p.ptype, sz.quota, sz.r15_pct
        FROM events e,
             (SELECT DISTINCT process_type AS ptype FROM L) p,
             {_sizes_sql()}
        WHERE e.kind = 'scale' AND e.formation IS NOT NULL
          AND lower(regexp_extract(e.formation,
                    '(?:^|\\s)' || p.ptype || '=\\d+:([A-Za-z0-9-]+)', 1)) = sz.size
    ),
    base AS (
        SELECT l.akey, l.dyno, l.lifetime, l.start, l.started_before_log,
               count(s.ts) AS samples, min(s.ts) AS first_sample, max(s.ts) AS last_sample,
               median(s.quota) AS m_quota, max(s.total) AS s_peak, max(s.rss) AS peak_rss_mb,
               max(s.swap) AS max_swap_mb,
               CASE WHEN l.started_before_log THEN min(s.ts)
                    ELSE greatest(min(s.ts), coalesce(l.up, l.start) + to_seconds({warm}))
               END AS a0
        FROM L l LEFT JOIN s ON s.akey = l.akey AND s.dyno = l.dyno
                            AND s.lifetime = l.lifetime
        GROUP BY l.akey, l.dyno, l.lifetime, l.start, l.started_before_log, l.up
    ),
    q AS (
        SELECT b.*, l.process_type, ml.r14, ml.r15, ml.ev_peak,
            CASE WHEN b.m_quota IS NOT NULL THEN 'metrics'
                 WHEN coalesce(ml.ev_quota, md.ev_quota) IS NOT NULL THEN 'process_running'
                 WHEN fq.quota IS NOT NULL THEN 'formation' END AS quota_source,
            coalesce(b.m_quota, {_snap_sql("coalesce(ml.ev_quota, md.ev_quota)")}, fq.quota)
                AS quota_mb,
            fq.r15_pct AS size_r15_pct
        FROM base b
        JOIN L l ON b.akey = l.akey AND b.dyno = l.dyno AND b.lifetime = l.lifetime
        LEFT JOIN me_l ml ON b.akey = ml.akey AND b.dyno = ml.dyno
                          AND b.lifetime = ml.lifetime
        LEFT JOIN me_d md ON b.akey = md.akey AND b.dyno = md.dyno
        LEFT JOIN LATERAL (
            SELECT f.quota, f.r15_pct FROM form f
            WHERE f.akey = b.akey AND f.ptype = l.process_type
            ORDER BY (f.ts > b.start), abs(epoch(f.ts) - epoch(b.start)) LIMIT 1
        ) fq ON TRUE
        WHERE b.samples > 0 OR ml.r14 > 0 OR ml.r15 > 0 OR ml.ev_peak IS NOT NULL
    ),
    sw AS (
        SELECT s.*, q.a0, epoch_us(q.a0) AS a0u, q.quota_mb,
               least((lead(s.tu) OVER (PARTITION BY s.akey, s.dyno, s.lifetime
                                       ORDER BY s.tu) - s.tu) / 1e6, 60) AS dt,
               greatest({win}, (epoch_us(q.last_sample) - epoch_us(q.a0)) / 1e6 / {maxw}) AS W
        FROM s JOIN q ON s.akey = q.akey AND s.dyno = q.dyno AND s.lifetime = q.lifetime
    ),
    over AS (
        SELECT akey, dyno, lifetime,
               sum(dt) FILTER (WHERE total > quota_mb) / 60 AS minutes_over_quota,
               sum(dt) FILTER (WHERE swap > 0) / 60 AS swap_minutes
        FROM sw GROUP BY ALL
    ),
    msrc AS (
        SELECT akey, dyno, lifetime,
               list({{'file': file, 'first_line': fl, 'last_line': ll}} ORDER BY file)
                   AS metric_sources
        FROM (SELECT akey, dyno, lifetime, source_file AS file, min(line_no) AS fl,
                     max(line_no) AS ll FROM s GROUP BY ALL)
        GROUP BY ALL
    ),
    win AS (
        SELECT akey, dyno, lifetime, floor((tu - a0u) / 1e6 / W) AS w,
               count(*) AS n, quantile_cont(lvl, {q}) AS lvl, median(total) AS tmed,
               max(total) AS tmax, avg(tu) / 1e6 AS t
        FROM sw WHERE tu >= a0u
        GROUP BY ALL HAVING count(*) >= 3
    ),
    rq AS (
        SELECT r.akey, r.dyno, r.lifetime,
               floor(((r.m * 60 + 30) * 1e6 - q.a0u) / 1e6 / q.W) AS w, sum(r.n)::BIGINT AS n
        FROM ({reqs}) r
        JOIN (SELECT DISTINCT akey, dyno, lifetime, a0u, W FROM sw) q
          ON r.akey = q.akey AND r.dyno = q.dyno AND r.lifetime = q.lifetime
        WHERE (r.m * 60 + 30) * 1e6 >= q.a0u
        GROUP BY ALL
    ),
    rq_cum AS (
        SELECT akey, dyno, lifetime, w, n,
               sum(n) OVER (PARTITION BY akey, dyno, lifetime ORDER BY w) AS x_end
        FROM rq
    ),
    rq_tot AS (
        SELECT akey, dyno, lifetime, sum(n) AS n_req FROM rq GROUP BY ALL
    ),
    win_r AS (
        SELECT w0.*, row_number() OVER (p ORDER BY w0.w) AS r, count(*) OVER p AS nw,
               -- requests served up to the middle of the window (the last window with
               -- requests at or before it), or hours when the dyno serves few requests
               CASE WHEN rt.n_req >= {min_req} * (max(w0.t) OVER p - min(w0.t) OVER p) / 3600
                    THEN coalesce(CASE WHEN c.w = w0.w THEN c.x_end - c.n / 2 ELSE c.x_end END,
                                  0)
                    ELSE w0.t / 3600 END AS x,
               rt.n_req >= {min_req} * (max(w0.t) OVER p - min(w0.t) OVER p) / 3600 AS by_req
        FROM win w0
        ASOF LEFT JOIN rq_cum c ON w0.akey = c.akey AND w0.dyno = c.dyno
                               AND w0.lifetime = c.lifetime AND w0.w >= c.w
        LEFT JOIN rq_tot rt ON w0.akey = rt.akey AND w0.dyno = rt.dyno
                            AND w0.lifetime = rt.lifetime
        WINDOW p AS (PARTITION BY w0.akey, w0.dyno, w0.lifetime)
    ),
    win_stats AS (
        SELECT akey, dyno, lifetime, any_value(nw) AS windows,
               (max(t) - min(t)) / 3600 AS hours,
               median(lvl) FILTER (WHERE r <= 3) AS lvl_first,
               median(lvl) FILTER (WHERE r > nw - 3) AS lvl_last,
               max(lvl) AS lvl_max,
               median(tmed) FILTER (WHERE r <= 3) AS start_mb,
               median(tmed) FILTER (WHERE r > nw - 3) AS end_mb,
               max(tmax - tmed) AS spike_mb,
               -- a rise of the window medians that came back: highest minus last
               max(lvl) - median(lvl) FILTER (WHERE r > nw - 3) AS drop_mb
        FROM win_r GROUP BY ALL
    ),
    pairs AS (
        SELECT a.akey, a.dyno, a.lifetime, a.by_req,
               (b.lvl - a.lvl) / ((b.t - a.t) / 3600) AS slope
        FROM win_r a JOIN win_r b
          ON a.akey = b.akey AND a.dyno = b.dyno AND a.lifetime = b.lifetime AND a.r < b.r
    ),
    ts_fit AS (
        SELECT akey, dyno, lifetime, median(slope) AS slope_mb_h,
               CASE WHEN bool_or(by_req) THEN 'requests' ELSE 'time' END AS growth_axis
        FROM pairs GROUP BY ALL
    ),
    wl AS (
        SELECT akey, dyno, lifetime, list(t ORDER BY r) AS w_t, list(lvl ORDER BY r) AS w_lvl,
               list(x ORDER BY r) AS w_x
        FROM win_r GROUP BY ALL
    ),
    quad AS (
        -- sums for a least-squares parabola of the levels over u in [0, 1] (requests or time)
        SELECT akey, dyno, lifetime, count(*) AS q0, sum(u) AS q1, sum(u * u) AS q2,
               sum(u * u * u) AS q3, sum(u * u * u * u) AS q4, sum(v) AS p0,
               sum(u * v) AS p1, sum(u * u * v) AS p2
        FROM (
            SELECT akey, dyno, lifetime, lvl - first_value(lvl) OVER p AS v,
                   (x - min(x) OVER p) / nullif(max(x) OVER p - min(x) OVER p, 0) AS u
            FROM win_r WINDOW p AS (PARTITION BY akey, dyno, lifetime ORDER BY r
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
        ) WHERE u IS NOT NULL
        GROUP BY ALL
    )
    SELECT l.app, l.dyno, l.process_type, l.lifetime, l.lifetime_id, l.dyno_id, l.release,
           l.release_inferred, l.start, l."end", l.started_before_log, l.end_cause,
           q.samples, q.first_sample, q.last_sample,
           coalesce(ws.hours, 0.0) AS hours, coalesce(ws.windows, 0) AS windows,
           q.quota_mb, q.quota_source, q.size_r15_pct, ws.start_mb, ws.end_mb,
           greatest(q.s_peak, q.ev_peak) AS peak_mb,
           100 * greatest(q.s_peak, q.ev_peak) / q.quota_mb AS peak_pct,
           q.peak_rss_mb, q.max_swap_mb,
           coalesce(o.swap_minutes, 0.0) AS swap_minutes,
           coalesce(o.minutes_over_quota, 0.0) AS minutes_over_quota,
           coalesce(q.r14, 0) AS r14, coalesce(q.r15, 0) AS r15,
           f.slope_mb_h, f.growth_axis,
           qd.q0, qd.q1, qd.q2, qd.q3, qd.q4, qd.p0, qd.p1, qd.p2,
           CAST(coalesce(rt.n_req, 0) AS BIGINT) AS requests,
           ws.lvl_last - ws.lvl_first AS growth_mb, ws.drop_mb, ws.spike_mb,
           ms.metric_sources, wl.w_t, wl.w_lvl, wl.w_x,
           CASE WHEN NOT l.started_before_log THEN epoch(coalesce(l.up, l.start)) END AS boot_s
    FROM q
    JOIN L l ON q.akey = l.akey AND q.dyno = l.dyno AND q.lifetime = l.lifetime
    LEFT JOIN win_stats ws ON q.akey = ws.akey AND q.dyno = ws.dyno AND q.lifetime = ws.lifetime
    LEFT JOIN ts_fit f ON q.akey = f.akey AND q.dyno = f.dyno AND q.lifetime = f.lifetime
    LEFT JOIN quad qd ON q.akey = qd.akey AND q.dyno = qd.dyno AND q.lifetime = qd.lifetime
    LEFT JOIN over o ON q.akey = o.akey AND q.dyno = o.dyno AND q.lifetime = o.lifetime
    LEFT JOIN msrc ms ON q.akey = ms.akey AND q.dyno = ms.dyno AND q.lifetime = ms.lifetime
    LEFT JOIN rq_tot rt ON q.akey = rt.akey AND q.dyno = rt.dyno AND q.lifetime = rt.lifetime
    LEFT JOIN wl ON q.akey = wl.akey AND q.dyno = wl.dyno AND q.lifetime = wl.lifetime
    """


def _late_vs_early(df: pl.DataFrame) -> pl.Series:
    """Growth rate at 5/6 of the lifetime over the rate at 1/6, from a least-squares parabola
    of the window levels (fitted on pre-aggregated sums, all lifetimes at once). A parabola
    uses every window, so the ratio is far steadier than slopes of separate thirds."""
    q = df.select("q0", "q1", "q2", "q3", "q4", "p0", "p1", "p2").fill_null(0.0).to_numpy()
    a = np.stack([q[:, [0, 1, 2]], q[:, [1, 2, 3]], q[:, [2, 3, 4]]], axis=1)
    rhs = q[:, 5:8]
    ok = (q[:, 0] >= 6) & (np.abs(np.linalg.det(a)) > 1e-12)
    coef = np.full((len(df), 3), np.nan)
    if ok.any():
        coef[ok] = np.linalg.solve(a[ok], rhs[ok][:, :, None])[:, :, 0]
    b, c = coef[:, 1], coef[:, 2]
    early, late = b + c / 3, b + 5 * c / 3
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(early > 0, late / early, np.nan)
    return pl.Series("late_vs_early", ratio, dtype=pl.Float64).fill_nan(None)


def _classify(df: pl.DataFrame, o: dict[str, float]) -> pl.DataFrame:
    """Add the class and the R14/R15 projections (vectorized over lifetimes)."""
    df = df.with_columns(_late_vs_early(df))
    slope, ratio = pl.col("slope_mb_h"), pl.col("late_vs_early")
    growth, drop = pl.col("growth_mb"), pl.col("drop_mb").fill_null(0.0)
    quota = pl.col("quota_mb")
    spike_floor = pl.max_horizontal(pl.lit(o["spike_mb"]), quota * o["spike_pct"] / 100)
    spike_floor = spike_floor.fill_null(o["spike_mb"])
    enough = (pl.col("hours") >= o["min_hours"]) & (pl.col("windows") >= 6)
    grows = (slope >= o["min_slope"]) & (growth >= o["min_growth"])
    still = ratio.fill_null(1.0) >= o["decel_ratio"]
    long_enough = pl.col("hours") >= o["min_leak_hours"]
    kept = drop <= pl.max_horizontal(pl.lit(15.0), 0.25 * growth)
    spiky = (pl.col("spike_mb").fill_null(0.0) >= spike_floor) | (drop >= spike_floor)
    cls = (
        pl.when(~enough.fill_null(False))
        .then(pl.lit("insufficient"))
        .when((grows & still & kept & long_enough).fill_null(False))
        .then(pl.lit("leak"))
        .when((grows & still & kept).fill_null(False))
        .then(pl.lit("growing"))
        .when((growth >= o["min_growth"]) & kept & ~still)
        .then(pl.lit("plateau"))
        .when(spiky.fill_null(False))
        .then(pl.lit("spike"))
        .otherwise(pl.lit("healthy"))
    )
    # a straight line only makes sense for memory that keeps growing (not for a plateau)
    rising = (slope >= o["min_slope"]) & pl.col("classification").is_in(
        ["leak", "growing", "inconclusive"]
    )
    current = pl.coalesce("end_mb", "peak_mb")

    # R15 at 200 % of the quota unless the dyno's size (from `Scaled to`) says otherwise
    r15_pct = pl.col("size_r15_pct").fill_null(heroku.r15_pct(None))

    def hours_to(pct: float | pl.Expr) -> pl.Expr:
        left = quota * pct / 100 - current
        return pl.when(rising & quota.is_not_null()).then(
            pl.max_horizontal(left, pl.lit(0.0)) / slope
        )

    df = judge_by_age(df.with_columns(cls.alias("classification")), o)
    return df.with_columns(
        hours_to(heroku.R14_PCT).alias("hours_to_r14"),
        hours_to(r15_pct).alias("hours_to_r15"),
        r15_pct.cast(pl.Float64).alias("r15_threshold_pct"),
    )


@per_dataset
def quota_episodes(
    con: duckdb.DuckDBPyConnection,
    *,
    lifetimes: pl.DataFrame | None = None,
    growth: pl.DataFrame | None = None,
    gap_minutes: float = 10.0,
) -> pl.DataFrame:
    """R14 / R15 episodes: runs of the same error on one dyno lifetime with gaps < gap_minutes.

    Columns: app, dyno, process_type, lifetime, release, code (R14 / R15), start, end, count,
    peak_mb (highest `Process running mem=` or metrics total in the episode, +-1 minute),
    quota_mb, peak_pct, minutes_over_quota, max_swap_mb, r15_threshold_pct, start_mb and
    classification (of the whole lifetime, from `memory_growth`), and `sources` ({file,
    first_line, last_line} of the error lines).
    """
    lt = given_or_computed(con, lifetimes)
    schema = {
        "app": pl.String,
        "dyno": pl.String,
        "process_type": pl.String,
        "lifetime": pl.Int64,
        "release": pl.String,
        "code": pl.String,
        "start": pl.Datetime("us", "UTC"),
        "end": pl.Datetime("us", "UTC"),
        "count": pl.Int64,
        "peak_mb": pl.Float64,
        "quota_mb": pl.Float64,
        "peak_pct": pl.Float64,
        "minutes_over_quota": pl.Float64,
        "max_swap_mb": pl.Float64,
        "r15_threshold_pct": pl.Float64,
        "start_mb": pl.Float64,
        "classification": pl.String,
        "sources": pl.List(
            pl.Struct({"file": pl.String, "first_line": pl.Int64, "last_line": pl.Int64})
        ),
    }
    if lt.height == 0 or not has_rows(con, "events", "kind = 'error' AND code IN ('R14', 'R15')"):
        return pl.DataFrame(schema=schema)
    gr = growth if growth is not None else memory_growth(con, lifetimes=lt)
    with registered(con, lt.drop("sources")) as name:
        errs = assign_sql(
            f"""SELECT *, {app_key_sql()} AS akey, ts AS key_ts FROM events
               WHERE kind = 'error' AND code IN ('R14', 'R15') AND dyno IS NOT NULL""",
            name,
        )
        mem = assign_sql(
            f"""SELECT {app_key_sql()} AS akey, dyno, ts AS key_ts, ts, mem_mb AS mb
               FROM events WHERE kind = 'memory' AND dyno IS NOT NULL AND mem_mb IS NOT NULL
               UNION ALL
               SELECT {app_key_sql()}, dyno, ts, ts, memory_total_mb FROM dyno_metrics
               WHERE memory_total_mb IS NOT NULL AND dyno IS NOT NULL""",
            name,
        )
        sql = f"""
        WITH e AS (
            SELECT *, CASE WHEN lag(ts) OVER w IS NULL
                            OR ts - lag(ts) OVER w > INTERVAL {gap_minutes * 60} SECOND
                           THEN 1 ELSE 0 END AS brk
            FROM ({errs}) WHERE lifetime IS NOT NULL
            WINDOW w AS (PARTITION BY akey, dyno, lifetime, code ORDER BY ts)
        ),
        g AS (SELECT *, sum(brk) OVER (PARTITION BY akey, dyno, lifetime, code ORDER BY ts,
                                       line_no) AS ep FROM e),
        per_file AS (
            SELECT akey, dyno, lifetime, code, ep,
                   list({{'file': file, 'first_line': fl, 'last_line': ll}} ORDER BY file)
                       AS sources
            FROM (SELECT akey, dyno, lifetime, code, ep, source_file AS file,
                         min(line_no) AS fl, max(line_no) AS ll FROM g GROUP BY ALL)
            GROUP BY ALL
        ),
        eps AS (
            SELECT akey, dyno, lifetime, code, ep, min(ts) AS start, max(ts) AS "end",
                   count(*) AS count
            FROM g GROUP BY ALL
        ),
        m AS (SELECT * FROM ({mem}) WHERE lifetime IS NOT NULL)
        SELECT x.*, p.sources,
               (SELECT max(m.mb) FROM m WHERE m.akey = x.akey AND m.dyno = x.dyno
                  AND m.lifetime = x.lifetime
                  AND m.ts BETWEEN x.start - INTERVAL 1 MINUTE
                               AND x."end" + INTERVAL 1 MINUTE) AS peak_mb
        FROM eps x JOIN per_file p USING (akey, dyno, lifetime, code, ep)
        ORDER BY x.akey, x.dyno, x.start
        """
        eps = query(con, sql)
    if eps.height == 0:
        return pl.DataFrame(schema=schema)
    info = lt.select(
        app_key_expr(),
        "app",
        "dyno",
        "lifetime",
        "process_type",
        "release",
    )
    g = gr.select(
        app_key_expr(),
        "dyno",
        "lifetime",
        "quota_mb",
        "minutes_over_quota",
        "max_swap_mb",
        "r15_threshold_pct",
        "start_mb",
        "classification",
    )
    out = eps.join(info, on=["akey", "dyno", "lifetime"], how="left").join(
        g, on=["akey", "dyno", "lifetime"], how="left"
    )
    out = out.with_columns(
        pl.col("count").cast(pl.Int64),
        (100 * pl.col("peak_mb") / pl.col("quota_mb")).alias("peak_pct"),
    )
    return out.select(list(schema)).cast(schema)  # type: ignore[arg-type]


# ----- memory over time, per dyno (what the leak trend draws) ----------------------------------

_TS = pl.Datetime("us", "UTC")
TREND_SCHEMA = {
    "dyno": pl.String,
    "layer": pl.String,
    "series": pl.String,
    "ts": _TS,
    "ts_end": _TS,
    "segment": pl.Int64,
    "mb": pl.Float64,
    "mb_mean": pl.Float64,
    "count": pl.Int64,
    "label": pl.String,
    "detail": pl.String,
}


def memory_trend(
    con: duckdb.DuckDBPyConnection,
    *,
    dyno: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket_seconds: int | None = None,
    max_points: int = 4000,
    max_dynos: int = 8,
    lifetimes: pl.DataFrame | None = None,
    crash_table: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Memory per dyno over time with what surrounds it, in long form (`layer` says what a row
    is), aggregated in DuckDB so the rows stay bounded.

    Layers: `memory` (per dyno, process instance `segment` and bucket: max `mb` and mean
    `mb_mean` of memory_total and memory_rss, `count` samples), `quota` (from `ts` to `ts_end`
    at `mb`), `error` (R14/R15 per bucket: `count`, placed at the bucket's memory), `restart`
    (lifetime starts inside the log, `label` = cause; from `lifetimes`), `crash` (the crashes of
    `forensics.analyses.availability.crashes`, `label` = exit status), `release` (`label` =
    v42, repeated for each dyno). Buckets are sized so the memory rows stay near `max_points`;
    the `max_dynos` dynos with the highest memory are kept. Dynos without runtime metrics use
    `Process running mem=` events as memory_total.
    """
    from forensics.analyses.availability import crashes
    from forensics.analyses.series import conform, nice_bucket, span_seconds, where

    cond, params = where(dyno=dyno, since=since, until=until)
    dynos = _top_dynos(con, cond, params, max_dynos)
    if not dynos:
        return pl.DataFrame(schema=TREND_SCHEMA)
    params = {**params, "dynos": dynos}
    cond = f"{cond} AND list_contains($dynos, dyno)"
    if bucket_seconds is None:
        span = max(span_seconds(con, "dyno_metrics", cond, params), 0.0)
        bucket_seconds = nice_bucket(span, max(max_points // (2 * len(dynos)), 1))
    memory = _trend_memory(con, cond, params, bucket_seconds)
    lt = given_or_computed(con, lifetimes)
    k = crash_table if crash_table is not None else crashes(con)
    parts = [
        memory,
        _trend_quota(con, cond, params),
        _trend_errors(con, cond, params, bucket_seconds, memory),
        _trend_restarts(lt, dynos),
        _trend_crashes(k, dynos),
        _trend_releases(con, since, until, dynos),
    ]
    out = pl.concat([conform(p, TREND_SCHEMA) for p in parts])
    if since is not None:
        out = out.filter(pl.col("ts") >= since)
    if until is not None:
        out = out.filter(pl.col("ts") < until)
    return out.sort("dyno", "layer", "series", "ts")


def _top_dynos(con: duckdb.DuckDBPyConnection, cond: str, params: dict, limit: int) -> list[str]:
    """Dynos with memory data, highest peak first, at most `limit`, returned in name order."""
    from forensics.analyses.series import dyno_key

    df = query(
        con,
        f"""
        SELECT dyno, max(mb) AS peak FROM (
            SELECT dyno, memory_total_mb AS mb FROM dyno_metrics
            WHERE {cond} AND dyno IS NOT NULL AND memory_total_mb IS NOT NULL
            UNION ALL
            SELECT dyno, mem_mb FROM events
            WHERE {cond} AND kind = 'memory' AND dyno IS NOT NULL AND mem_mb IS NOT NULL
        ) GROUP BY dyno ORDER BY peak DESC, dyno LIMIT {int(limit)}
        """,
        params,
    )
    return sorted(df["dyno"].to_list(), key=dyno_key)


def _trend_memory(
    con: duckdb.DuckDBPyConnection, cond: str, params: dict, width: int
) -> pl.DataFrame:
    """Max and mean memory_total / memory_rss per dyno, process instance and bucket."""
    from forensics.analyses.series import bucket_sql

    wide = query(
        con,
        f"""
        WITH m AS (
            SELECT ts, dyno, dyno_id, memory_total_mb AS total, memory_rss_mb AS rss
            FROM dyno_metrics WHERE {cond} AND memory_total_mb IS NOT NULL
            UNION ALL
            SELECT ts, dyno, NULL, mem_mb, NULL FROM events e
            WHERE {cond} AND kind = 'memory' AND mem_mb IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM dyno_metrics d WHERE d.dyno = e.dyno)
        ), ids AS (
            SELECT dyno, dyno_id,
                   row_number() OVER (PARTITION BY dyno ORDER BY min(ts)) AS segment
            FROM m GROUP BY dyno, dyno_id
        )
        SELECT m.dyno, ids.segment, {bucket_sql(width, "m.ts")} AS ts,
               max(total) AS total_max, avg(total) AS total_mean,
               max(rss) AS rss_max, avg(rss) AS rss_mean,
               count(total) AS n_total, count(rss) AS n_rss
        FROM m JOIN ids ON m.dyno = ids.dyno AND m.dyno_id IS NOT DISTINCT FROM ids.dyno_id
        GROUP BY ALL
        """,
        params,
    )
    parts = []
    for series, prefix in (("memory_total", "total"), ("memory_rss", "rss")):
        parts.append(
            wide.filter(pl.col(f"n_{prefix}") > 0).select(
                "dyno",
                pl.lit("memory").alias("layer"),
                pl.lit(series).alias("series"),
                "ts",
                "segment",
                pl.col(f"{prefix}_max").round(1).alias("mb"),
                pl.col(f"{prefix}_mean").round(1).alias("mb_mean"),
                pl.col(f"n_{prefix}").alias("count"),
            )
        )
    return pl.concat(parts, how="diagonal")


def _trend_quota(con: duckdb.DuckDBPyConnection, cond: str, params: dict) -> pl.DataFrame:
    """Quota per dyno: from runtime metrics, else derived from `mem=NNNM(PP.P%)` events."""

    return query(
        con,
        f"""
        WITH q AS (
            SELECT dyno, memory_quota_mb AS mb, min(ts) AS ts, max(ts) AS ts_end
            FROM dyno_metrics WHERE {cond} AND memory_quota_mb IS NOT NULL GROUP BY ALL
        ), e AS (
            SELECT dyno, round(median(mem_mb * 100 / mem_pct)) AS mb, min(ts) AS ts,
                   max(ts) AS ts_end
            FROM events WHERE {cond} AND kind = 'memory' AND mem_pct > 0
              AND dyno NOT IN (SELECT dyno FROM q)
            GROUP BY dyno
        )
        SELECT dyno, 'quota' AS layer, 'quota' AS series, ts, ts_end, mb FROM q
        UNION ALL
        SELECT dyno, 'quota', 'quota', ts, ts_end, mb FROM e
        """,
        params,
    )


def _trend_errors(
    con: duckdb.DuckDBPyConnection, cond: str, params: dict, width: int, memory: pl.DataFrame
) -> pl.DataFrame:
    """R14/R15 counts per dyno and bucket, placed at that bucket's memory (or the quota)."""
    from forensics.analyses.series import bucket_sql

    bucket = bucket_sql(width)
    err = query(
        con,
        f"""
        WITH b AS (
            SELECT dyno, code, {bucket} AS ts, count(*) AS count
            FROM events WHERE {cond} AND kind = 'error' AND code IN ('R14', 'R15')
            GROUP BY ALL
        ), mem AS (
            SELECT dyno, {bucket} AS ts, max(mem_mb) AS ev_mb
            FROM events WHERE {cond} AND kind = 'memory' GROUP BY ALL
        ), quota AS (
            SELECT dyno, max(memory_quota_mb) AS q FROM dyno_metrics WHERE {cond} GROUP BY dyno
        )
        SELECT b.dyno, 'error' AS layer, b.code AS series, b.ts, b.count,
               coalesce(mem.ev_mb, quota.q) AS fallback_mb
        FROM b LEFT JOIN mem ON b.dyno = mem.dyno AND b.ts = mem.ts
        LEFT JOIN quota ON b.dyno = quota.dyno
        """,
        params,
    )
    at = (
        memory.filter(pl.col("series") == "memory_total")
        .group_by("dyno", "ts")
        .agg(pl.col("mb").max().alias("mem_mb"))
    )
    return (
        err.join(at, on=["dyno", "ts"], how="left")
        .with_columns(pl.coalesce("mem_mb", "fallback_mb").alias("mb"))
        .drop("mem_mb", "fallback_mb")
    )


def _trend_restarts(lt: pl.DataFrame, dynos: list[str]) -> pl.DataFrame:
    """Lifetime starts inside the log, labelled with their cause."""
    return (
        lt.filter(pl.col("dyno").is_in(dynos), ~pl.col("started_before_log"))
        .select(
            "dyno",
            pl.lit("restart").alias("layer"),
            pl.lit("restart").alias("series"),
            pl.col("start").alias("ts"),
            pl.col("start_cause").alias("label"),
            pl.format(
                "{} started ({}), release {}",
                "lifetime_id",
                "start_cause",
                pl.col("release").fill_null("?"),
            ).alias("detail"),
        )
        .drop_nulls("ts")
    )


def _trend_crashes(k: pl.DataFrame, dynos: list[str]) -> pl.DataFrame:
    """The availability analysis' crashes of the dynos shown."""
    return k.filter(pl.col("dyno").is_in(dynos)).select(
        "dyno",
        pl.lit("crash").alias("layer"),
        pl.lit("crash").alias("series"),
        "ts",
        pl.format("exit {}", pl.col("exit_status").cast(pl.String).fill_null("?")).alias("label"),
        pl.format(
            "crashed (from {}), exit status {}, cause {}",
            pl.col("from_state").fill_null("?"),
            pl.col("exit_status").cast(pl.String).fill_null("?"),
            pl.col("cause").fill_null("?"),
        ).alias("detail"),
    )


def _trend_releases(
    con: duckdb.DuckDBPyConnection,
    since: datetime | None,
    until: datetime | None,
    dynos: list[str],
) -> pl.DataFrame:
    """Each release once (its first line), repeated for every dyno of the trend."""
    from forensics.analyses.series import where

    cond, params = where(since=since, until=until)
    rel = query(
        con,
        f"""
        SELECT release AS label, min(ts) AS ts, arg_min(message, ts) AS detail
        FROM events WHERE {cond} AND kind = 'release' AND release IS NOT NULL
        GROUP BY release
        """,
        params,
    )
    return rel.join(pl.DataFrame({"dyno": dynos}), how="cross").with_columns(
        pl.lit("release").alias("layer"), pl.lit("release").alias("series")
    )
