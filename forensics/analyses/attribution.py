"""Route attribution of memory growth: which requests leave memory behind, in MB per request.

Within each dyno lifetime, memory is cut into windows of several minutes (15 by default, after
the warm-up skipped by `memory`; whole minutes, as requests are counted per minute). The level
of a window is a low quantile (10 %) of its resident+swap samples, so the 20 s noise, the GC
sawtooth and short-lived allocations (a request that holds 25 MB for a minute) barely move it,
while retained memory accumulates. The model, over all lifetimes of one (app, release,
process type):

    level(lifetime, k) = base(lifetime) + sum_r beta_r * C_r(k) + gamma * hours(k)
                                        + sum_r delta_r * n_r(k) + noise

C_r(k) counts the requests to route r (method + path template) the dyno served from the start
of the analysis to the middle of window k (what retention accumulates on), n_r(k) those in
window k itself (memory held only while requests run raises busy windows), hours(k) the time
(growth that follows no route: a cache, the tail of warm-up). `base` is free per lifetime
(levels and columns are centred within each lifetime), beta_r >= 0 is the MB retained per
request of route r.

Consecutive 20 s samples are never differenced: such differences are noise and transient
allocations, and rank the route that allocates most, not the one that retains. And because the
cumulative counts of all routes follow the same daily traffic curve they are nearly collinear:
an NNLS over every route at once spreads the growth over many of them. The fit therefore adds
one column at a time, the one that reduces the residual most with a positive coefficient,
while its F statistic passes a Bonferroni-corrected 1 % test (at most `max_terms` columns),
and then fits the chosen columns with non-negative least squares (`forensics.analyses.stats.nnls`).

Confidence: the selection and fit are repeated on bootstrap resamples of the windows (100 by
default, fixed seed; skipped when the fit blames no route); `confidence` is the share of
refits that choose the route, `ci_low`/`ci_high` the 5th/95th percentiles of its coefficient.
A route is `significant` when the full fit chose it and at least `min_confidence` (60 %) of
the refits did.

A coefficient means a leak only where the lifetimes of that release really grow (the
`memory` classification calls at least half of them `leak`) and it is significant; elsewhere
`leak` is false even if some route got a coefficient. Rows are ranked per group: leaking
routes first, then by MB retained in total (beta x requests).
"""

from __future__ import annotations

import functools

import duckdb
import numpy as np
import polars as pl

from forensics.analyses.lifetimes import given_or_computed
from forensics.analyses.memo import per_dataset
from forensics.analyses.memory import DEFAULTS as MEMORY_DEFAULTS
from forensics.analyses.memory import NO_VERDICT, memory_growth
from forensics.analyses.sql import (
    app_key_sql,
    assign_sql,
    has_rows,
    metric_rows_sql,
    query,
    registered,
)
from forensics.analyses.stats import f_critical, nnls

OTHER = "(other)"

DEFAULTS: dict[str, float] = {
    "window_minutes": 15.0,
    "min_route_requests": 30.0,  # routes with fewer requests in a group go to "(other)"
    "max_routes": 40.0,
    "bootstrap": 100.0,
    "min_windows": 8.0,  # windows needed to fit a group
    "max_terms": 5.0,  # routes (or the time drift) a fit may use
    "min_confidence": 0.6,  # share of bootstrap refits that must choose a route
    "min_leak_share": 0.5,  # share of a release's sufficient lifetimes classified leak
}

GROUP = ["app", "release", "process_type"]


@per_dataset
def route_attribution(
    con: duckdb.DuckDBPyConnection,
    *,
    lifetimes: pl.DataFrame | None = None,
    growth: pl.DataFrame | None = None,
    **options: float,
) -> pl.DataFrame:
    """MB retained per request, by route, per (app, release, process_type).

    Columns: app, release, process_type, method, route ("(other)" pools routes with fewer
    than `min_route_requests` requests), requests (served in the fitted windows),
    mb_per_request (NNLS coefficient, 0 when not chosen), ci_low, ci_high (bootstrap 5 % /
    95 %), confidence (share of bootstrap refits choosing it), retained_mb (mb_per_request x
    requests), significant, release_grows (the release's lifetimes leak), leak (significant
    and release_grows), rank (1 = most to blame within the group), windows (used in the
    fit), lifetimes (they came from), r2 (share of the within-lifetime variance of the
    levels the fit explains), drift_mb_h (growth given to time rather than to a route).
    """
    opts = {**MEMORY_DEFAULTS, **DEFAULTS, **options}
    if not (
        has_rows(con, "dyno_metrics", "memory_total_mb IS NOT NULL")
        and has_rows(con, "requests", "dyno IS NOT NULL")
    ):
        return _empty()
    lt = given_or_computed(con, lifetimes)
    if lt.height == 0:
        return _empty()
    gr = growth if growth is not None else memory_growth(con, lifetimes=lt)
    with registered(con, lt.drop("sources")) as name:
        levels = query(con, _levels_sql(name, opts))
        if levels.height == 0:
            return _empty()
        spans = levels.select("akey", "dyno", "lifetime", "a0m", "Wm").unique()
        with registered(con, spans) as pw:
            counts = query(con, _counts_sql(name, pw))
    grows = _release_grows(gr, opts)
    life = ["akey", "dyno", "lifetime"]
    groups = levels.select(*life, *GROUP).unique()
    counts_by = counts.join(groups, on=life, how="inner").partition_by(GROUP, as_dict=True)
    out = []
    # one fit per release and process type (a handful of groups, each a small matrix)
    for key, rows in levels.group_by(GROUP, maintain_order=True):
        mine = counts_by.get(tuple(key))
        if mine is None:
            continue
        fitted = _fit_group(rows, mine.drop(GROUP), opts)
        if fitted is None:
            continue
        out.append(
            fitted.with_columns(
                pl.lit(v, dtype=pl.String).alias(k) for k, v in zip(GROUP, key, strict=True)
            )
        )
    if not out:
        return _empty()
    res = pl.concat(out, how="vertical_relaxed")
    res = res.join(grows, on=GROUP, how="left", nulls_equal=True).with_columns(
        pl.col("release_grows").fill_null(False)
    )
    res = res.with_columns(
        (pl.col("significant") & pl.col("release_grows") & (pl.col("route") != OTHER)).alias("leak")
    )
    res = res.sort(
        [*GROUP, "leak", "retained_mb", "confidence", "requests"],
        descending=[False, False, False, True, True, True, True],
        nulls_last=False,
    ).with_columns(pl.int_range(1, pl.len() + 1).over(GROUP).alias("rank"))
    return res.select(_COLUMNS)


_COLUMNS = [
    "app",
    "release",
    "process_type",
    "method",
    "route",
    "requests",
    "mb_per_request",
    "ci_low",
    "ci_high",
    "confidence",
    "retained_mb",
    "significant",
    "release_grows",
    "leak",
    "rank",
    "windows",
    "lifetimes",
    "r2",
    "drift_mb_h",
]


def _empty() -> pl.DataFrame:
    f, i, s, b = pl.Float64, pl.Int64, pl.String, pl.Boolean
    schema = {
        "app": s,
        "release": s,
        "process_type": s,
        "method": s,
        "route": s,
        "requests": i,
        "mb_per_request": f,
        "ci_low": f,
        "ci_high": f,
        "confidence": f,
        "retained_mb": f,
        "significant": b,
        "release_grows": b,
        "leak": b,
        "rank": i,
        "windows": i,
        "lifetimes": i,
        "r2": f,
        "drift_mb_h": f,
    }
    return pl.DataFrame(schema=schema)


def _release_grows(growth: pl.DataFrame, o: dict[str, float]) -> pl.DataFrame:
    """Per (app, release, process_type): do its lifetimes really grow (mostly `leak`)?"""
    enough = growth.filter(~pl.col("classification").is_in(NO_VERDICT))
    return enough.group_by(GROUP).agg(
        ((pl.col("classification") == "leak").mean() >= o["min_leak_share"]).alias("release_grows")
    )


def _levels_sql(lt: str, o: dict[str, float]) -> str:
    """The level (low quantile of rss+swap) of every whole-minute window of every lifetime
    with samples, after the warm-up."""
    samples = metric_rows_sql(lt, "memory_total_mb IS NOT NULL")
    warm = o["warmup_minutes"] * 60
    wm = max(1, round(o["window_minutes"]))
    q = o["level_quantile"]
    return f"""
    WITH L AS (SELECT *, {app_key_sql()} AS akey FROM {lt}),
    s AS (
        SELECT akey, dyno, lifetime, ts, epoch_us(ts) // 60000000 AS m,
               coalesce(memory_rss_mb + coalesce(memory_swap_mb, 0), memory_total_mb) AS lvl
        FROM ({samples}) WHERE lifetime IS NOT NULL
    ),
    a AS (
        SELECT l.akey, l.dyno, l.lifetime, l.app, l.release, l.process_type,
               -- analysis start, rounded up to a whole minute (requests are counted per
               -- minute, windows are whole minutes)
               (epoch_us(CASE WHEN l.started_before_log THEN min(s.ts)
                    ELSE greatest(min(s.ts), coalesce(l.up, l.start) + to_seconds({warm}))
               END) + 59999999) // 60000000 AS a0m,
               {wm}::BIGINT AS Wm
        FROM L l JOIN s ON s.akey = l.akey AND s.dyno = l.dyno AND s.lifetime = l.lifetime
        GROUP BY l.akey, l.dyno, l.lifetime, l.app, l.release, l.process_type,
                 l.started_before_log, l.up, l.start
    ),
    w AS (
        SELECT s.akey, s.dyno, s.lifetime, (s.m - a.a0m) // a.Wm AS k,
               quantile_cont(s.lvl, {q}) AS lvl, count(*) AS n
        FROM s JOIN a ON s.akey = a.akey AND s.dyno = a.dyno AND s.lifetime = a.lifetime
        WHERE s.m >= a.a0m
        GROUP BY ALL HAVING count(*) >= 3
    )
    SELECT a.app, a.release, a.process_type, a.akey, a.dyno, a.lifetime, a.a0m, a.Wm,
           w.k, w.lvl
    FROM w JOIN a ON a.akey = w.akey AND a.dyno = w.dyno AND a.lifetime = w.lifetime
    ORDER BY a.akey, a.dyno, a.lifetime, w.k
    """


def _counts_sql(lt: str, pw: str) -> str:
    reqs = assign_sql(
        f"""SELECT akey, dyno, m, method, route, n,
                  make_timestamp(m * 60000000 + 30000000) AS key_ts
           FROM (SELECT {app_key_sql()} AS akey, dyno, epoch_us(ts) // 60000000 AS m,
                        coalesce(method, '') AS method, coalesce(route, '') AS route,
                        count(*) AS n
                 FROM requests WHERE dyno IS NOT NULL GROUP BY ALL)""",
        lt,
    )
    return f"""
    SELECT r.akey, r.dyno, r.lifetime, (r.m - p.a0m) // p.Wm AS k, r.method, r.route,
           sum(r.n)::BIGINT AS n
    FROM ({reqs}) r
    JOIN {pw} p ON r.akey = p.akey AND r.dyno = p.dyno AND r.lifetime = p.lifetime
    WHERE r.m >= p.a0m
    GROUP BY ALL
    """


def _fit_group(
    rows: pl.DataFrame, counts: pl.DataFrame, o: dict[str, float]
) -> pl.DataFrame | None:
    """Fit the window levels of one group (release and process type), with a bootstrap.

    Columns: cumulative requests per route (retention), hours (drift), requests per route in
    the window itself (transient use). Each lifetime has its own free intercept (its base
    memory), removed by centring levels and columns within the lifetime; coefficients come
    from `_select` (forward selection, then NNLS), so they are never negative.
    """
    life = ["akey", "dyno", "lifetime"]
    key = [*life, "k"]
    rows = rows.sort(key).with_row_index("row")
    if rows.height < o["min_windows"]:
        return None
    c = counts.join(rows.select(*life).unique(), on=life, how="inner")
    if c.height == 0:
        return None
    totals = (
        c.group_by("method", "route")
        .agg(pl.col("n").sum())
        .sort("n", "method", "route", descending=[True, False, False])
    )
    keep = totals.filter(pl.col("n") >= o["min_route_requests"]).head(int(o["max_routes"]))
    keep = keep.select("method", "route").with_row_index("col")
    c = c.join(keep, on=["method", "route"], how="left").with_columns(
        pl.col("col").fill_null(len(keep))
    )
    has_other = bool(c["col"].max() == len(keep))
    ncol = len(keep) + (1 if has_other else 0)
    if ncol == 0:
        return None
    # requests per (lifetime, window) and column, including windows without memory samples
    lives = rows.select(life).unique(maintain_order=True).with_row_index("li")
    c = c.join(lives, on=life, how="inner")
    kmax = int(max(rows["k"].max(), c["k"].max())) + 1
    per = np.zeros((lives.height, kmax, ncol))
    np.add.at(per, (c["li"].to_numpy(), c["k"].to_numpy(), c["col"].to_numpy()), c["n"].to_numpy())
    # cumulative count at the middle of each window
    cum = np.cumsum(per, axis=1) - per / 2
    r = rows.join(lives, on=life, how="left")
    li, k = r["li"].to_numpy(), r["k"].to_numpy()
    x = cum[li, k, :]
    y = r["lvl"].to_numpy().astype(float)
    # centre within each lifetime (profiles out a free intercept per lifetime)
    nl = lives.height
    cnt = np.bincount(li, minlength=nl).astype(float)
    y_mean = np.bincount(li, weights=y, minlength=nl) / cnt
    x_mean = np.stack([np.bincount(li, weights=x[:, j], minlength=nl) for j in range(ncol)], 1)
    x_mean /= cnt[:, None]
    xc, yc = x - x_mean[li], y - y_mean[li]
    # hours since the analysis start, centred likewise: growth with time but not with any
    # route's requests (warm-up tail, a cache) is given to it instead of to a route
    t = r["k"].to_numpy() * float(r["Wm"][0]) / 60
    tc = t - (np.bincount(li, weights=t, minlength=nl) / cnt)[li]
    # requests in the window itself: memory a route holds only while its requests run
    # (transient allocations) raises the level of busy windows but does not accumulate
    cur = per[li, k, :]
    cur_mean = np.stack([np.bincount(li, weights=cur[:, j], minlength=nl) for j in range(ncol)], 1)
    curc = cur - (cur_mean / cnt[:, None])[li]
    xa = np.column_stack([xc, tc, curc])
    df0 = len(yc) - nl
    beta_all = _select(xa[None], yc[None], df0, o)[0]
    rng = np.random.default_rng(0)
    n = len(yc)
    # the bootstrap only matters when the fit blames some route
    reps = int(o["bootstrap"]) if beta_all[:ncol].any() else 0
    if reps:
        idx = rng.integers(0, n, (reps, n))
        boots = _select(xa[idx], yc[idx], df0, o)
    else:
        boots = np.zeros((1, xa.shape[1]))
    beta, drift = beta_all[:ncol], float(beta_all[ncol])
    boots = boots[:, :ncol]
    resid = yc - xa @ beta_all
    ss = float((yc**2).sum())
    r2 = 1 - float((resid**2).sum()) / ss if ss > 0 else 0.0
    labels = keep.select("method", "route")
    if has_other:
        labels = pl.concat([labels, pl.DataFrame({"method": [""], "route": [OTHER]})])
    req = per.sum(axis=(0, 1))
    low = np.percentile(boots, 5, axis=0)
    return labels.with_columns(
        pl.Series("requests", req.astype(np.int64)),
        pl.Series("mb_per_request", beta),
        pl.Series("ci_low", low),
        pl.Series("ci_high", np.percentile(boots, 95, axis=0)),
        pl.Series("confidence", (boots > 0).mean(axis=0)),
        pl.Series("retained_mb", beta * req),
        pl.Series("significant", (beta > 0) & ((boots > 0).mean(axis=0) >= o["min_confidence"])),
        pl.lit(n, dtype=pl.Int64).alias("windows"),
        pl.lit(nl, dtype=pl.Int64).alias("lifetimes"),
        pl.lit(r2).alias("r2"),
        pl.lit(drift).alias("drift_mb_h"),
    )


def _select(x: np.ndarray, y: np.ndarray, df0: int, o: dict[str, float]) -> np.ndarray:
    """Forward selection of the columns that explain y, then NNLS on the chosen ones.

    Cumulative counts of different routes are nearly collinear (they all follow the traffic),
    so an NNLS over every route spreads the growth over many of them. Instead the column that
    reduces the residual most (with a positive coefficient) is added while its F statistic
    passes a Bonferroni-corrected 1 % test, at most `max_terms` columns; the coefficients are
    then fitted by NNLS on the chosen columns only.

    Batched: x is (B, n, p) and y (B, n), one problem per bootstrap resample, all stepped
    together with Gram-Schmidt updates. Returns (B, p) coefficients, 0 where not chosen.
    """
    nb, _, p = x.shape
    out = np.zeros((nb, p))
    chosen = np.zeros((nb, p), dtype=bool)
    active = np.ones(nb, dtype=bool)
    xr, yr = x.copy(), y.copy()
    ssr = np.einsum("bi,bi->b", y, y)
    norms = np.einsum("bij,bij->bj", x, x)
    crit = _f_crit(p, max(df0 - 1, 1))
    rows = np.arange(nb)
    for step in range(int(o["max_terms"])):
        num = np.einsum("bij,bi->bj", xr, yr)
        den = np.einsum("bij,bij->bj", xr, xr)
        ok = (num > 0) & (den > 1e-9 * np.maximum(norms, 1e-12)) & ~chosen
        score = np.where(ok, num * num / np.where(ok, den, 1.0), -1.0)
        j = score.argmax(axis=1)
        best = score[rows, j]
        df = df0 - step - 1
        new_ssr = ssr - best
        take = active & (best > 0) & (new_ssr > 0) & (df > 0)
        take &= best / np.where(new_ssr > 0, new_ssr, 1.0) * df >= crit
        active = take
        if not active.any():
            break
        chosen[rows[take], j[take]] = True
        ssr = np.where(take, new_ssr, ssr)
        q = xr[rows, :, j] / np.sqrt(np.where(den[rows, j] > 0, den[rows, j], 1.0))[:, None]
        q[~take] = 0.0
        yr -= q * np.einsum("bi,bi->b", q, yr)[:, None]
        xr -= q[:, :, None] * np.einsum("bi,bij->bj", q, xr)[:, None, :]
    for b in np.flatnonzero(chosen.any(axis=1)):
        cols = np.flatnonzero(chosen[b])
        out[b, cols] = nnls(x[b][:, cols], y[b])
    return out


@functools.lru_cache(maxsize=256)
def _f_crit(m: int, df: int) -> float:
    """Critical F(1, df) at 1 % / m (Bonferroni), what `scipy.stats.f.ppf` computes."""
    return f_critical(1, df, 1 - 0.01 / max(m, 1))
