"""Request errors: bursts of requests that failed on the app's side, by route, and the app's own
exceptions behind them.

A failed request is a router line with a 5xx status or an H-code, except the client's own
H27 / H28 / H31 (`forensics.heroku.CLIENT_CODES`: the client gave up, the app did not fail).
The app-wide codes (`APP_DOWN_CODES`: H10 app crashed, H13, H14 no web dynos, H20 boot
timeout, H99) say the app could not serve at all, and the router's own pages
(`ROUTER_PAGE_CODES`: H80 maintenance mode, H81, H82) answer every route alike, so they are
grouped across routes (route null); every other failure is grouped by route.

A burst is a run of failures with no success in between: on the same route (a request there
answered below 500 without an error code; an answered `OPTIONS` preflight or `HEAD` probe is
not one: it does not run the route's work), or for the app-wide codes on any route. It ends at
the next success, not at a quiet gap or a deploy: a route that fails for an hour with nobody
calling it for 20 minutes is one burst. A route that fails part of the time for minutes (a
quarter of its requests after a deploy) is one burst too, successes and all (`in_a_row` false):
an elevated run, back-to-back 5-minute spans in which at least 10 % of its requests (and two or
more) failed, five failures or more, at three times its share outside the run. Bursts of fewer
than `min_count` failures are left out (a lone H10 or 500 is not an incident; three in a row
with nothing served between is), except that two app-wide failures are kept when the app served
nothing in the whole log (an export of an app that was down: every request it shows failed).
H12 router timeouts are left out by default (`exclude_codes`): they are the timeouts analysis'
hotspots, and neither end nor make a burst here.

Counted once: a failed request inside a web downtime window (`forensics.analyses.downtime`:
served by the down dyno or by none, H10/H14/H20..., in a window of that dyno or of the web
type) is the outage's, counted in its `failed_requests`, not here. Such a request neither fails
nor succeeds here (like H12): H10s right after an outage's `up` still make a burst of their
own, and failures on a route inside the window but served by a dyno that was up stay request
errors. Likewise a hung dyno's (`forensics.analyses.hung_dynos`): the failures with its stuck
codes it served in its window are counted there. So a web outage is one downtime (with what
users got), not also an app-wide burst, and the errors users got while the app was up are the
request errors.

Behind a burst: app lines that look like an exception (`NoMethodError (...)`, `...Error:`,
`...Exception`, `FATAL`) joined to its failed requests by request id where the app logs it,
else by dyno and time (`exception_seconds` before the router line to 1 s after).
"""

from __future__ import annotations

import duckdb
import polars as pl

from forensics.analyses.downtime import downtime
from forensics.analyses.hung_dynos import hung_dynos
from forensics.analyses.sql import (
    APP_KEY,
    app_key_expr,
    query,
    registered,
    sql_list,
)
from forensics.heroku import APP_DOWN_CODES, CLIENT_CODES, ROUTER_PAGE_CODES

MIN_COUNT = 3
# Elevated runs (see `_with_elevated_runs`): a route failing part of the time for minutes.
ELEVATED_BIN_MINUTES = 5
ELEVATED_SHARE = 0.1
ELEVATED_BIN_MIN = 2
ELEVATED_RUN_MIN = 5
ELEVATED_RATIO = 3.0
# Router timeouts are the timeouts analysis' (`timeout_hotspot`): left out here by default.
EXCLUDE_CODES = ("H12",)
EXCEPTION_SECONDS = 5
# An exception-ish app line, and the class name it names (`NoMethodError`, `ActiveRecord::...`).
# Also a namespaced Ruby class before its message in parentheses: `PG::ConnectionBad (...)`.
EXCEPTION_RE = (
    r"([A-Z][A-Za-z0-9_]*(?:::[A-Z][A-Za-z0-9_]*)*(?:Error|Exception))\b"
    r"|([A-Z][A-Za-z0-9_]*(?:::[A-Z][A-Za-z0-9_]*)+) \("
)
FATAL_RE = r"\bFATAL\b"

_CODES = pl.List(pl.Struct({"code": pl.String, "count": pl.Int64}))
_SCHEMA = {
    "app": pl.String,
    "route": pl.String,
    "start": pl.Datetime("us", "UTC"),
    "end": pl.Datetime("us", "UTC"),
    "minutes": pl.Float64,
    "count": pl.Int64,
    "share": pl.Float64,
    "share_of_all": pl.Float64,
    "in_a_row": pl.Boolean,
    "codes": _CODES,
    "statuses": pl.List(pl.Struct({"status": pl.Int32, "count": pl.Int64})),
    "dynos": pl.List(pl.String),
    "exceptions": pl.List(
        pl.Struct({"exception": pl.String, "count": pl.Int64, "example": pl.String})
    ),
    "source_file": pl.String,
    "line_nos": pl.List(pl.Int64),
}


def failed_sql(alias: str = "r") -> str:
    """SQL: a router request that failed on the app's side (5xx or H-code, not a client code)."""
    a = alias
    return (
        f"(coalesce({a}.code, '') NOT IN {sql_list(CLIENT_CODES)} "
        f"AND (coalesce({a}.status, 0) >= 500 OR coalesce({a}.code, '') LIKE 'H%'))"
    )


def request_errors(
    con: duckdb.DuckDBPyConnection,
    *,
    min_count: int = MIN_COUNT,
    exception_seconds: int = EXCEPTION_SECONDS,
    exclude_codes: tuple[str, ...] = EXCLUDE_CODES,
    downtime_windows: pl.DataFrame | None = None,
    hung: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per burst of failed requests (see the module doc).

    `downtime_windows`: the table of `forensics.analyses.downtime.downtime(con)` (computed
    when not given); the failed requests its web windows count are left out here. `hung`: the
    table of `forensics.analyses.hung_dynos.hung_dynos(con)` (computed when not given); the
    failures of a stuck dyno in its window, which it counts, are left out too.

    Answers: which route (or the whole app) failed, from when to when, how many requests, with
    which codes, and which exception did the app log for them?

    Columns: app, route (null for the app-wide codes), start, end, minutes, count, share (of the
    route's requests in the window; of all requests for route null), share_of_all (of all the
    app's requests in the window), in_a_row (false for an elevated run: failures among
    successes), codes ({code, count}: the router code, else the status),
    statuses ({status, count}), dynos, exceptions ({exception, count, example} of failed
    requests),
    source_file, line_nos (the first 50 failed requests).
    """
    if downtime_windows is None:
        downtime_windows = downtime(con)
    if hung is None:
        hung = hung_dynos(con)
    rows, every, pairs = _failed_rows(con, exclude_codes, downtime_windows, hung)
    if rows.is_empty():
        return pl.DataFrame(schema=_SCHEMA)
    key = ["app", "wide", "route", "grp"]
    rows = rows.with_columns(
        pl.struct(key).rank("dense").alias("burst"),
        pl.coalesce("code", pl.col("status").cast(pl.String)).alias("_code"),
    )
    sizes = rows.group_by("burst").agg(pl.len(), pl.col("wide", "app_served").first())
    # an app that served nothing in the whole log: even two app-wide failures are all it did
    keep = sizes.filter(
        (pl.col("len") >= min_count)
        | ((pl.col("len") >= 2) & pl.col("wide") & (pl.col("app_served") == 0))
    )["burst"]
    rows = rows.filter(pl.col("burst").is_in(keep.implode()))
    if rows.is_empty():
        return pl.DataFrame(schema=_SCHEMA)
    bursts = (
        rows.sort("ts", "line_no")
        .group_by("burst")
        .agg(
            pl.col("app").first(),
            pl.col("route").first(),
            pl.col("wide").first(),
            (pl.col("grp") >= 0).first().alias("in_a_row"),
            pl.col("ts").min().alias("start"),
            pl.col("ts").max().alias("end"),
            pl.len().cast(pl.Int64).alias("count"),
            pl.col("dyno").filter(pl.col("dyno") != "").drop_nulls().unique().sort().alias("dynos"),
            pl.col("source_file").first(),
            pl.col("line_no").head(50).alias("line_nos"),
        )
    )
    bursts = bursts.join(_counts(rows, "_code", "code"), on="burst", how="left")
    bursts = bursts.join(_counts(rows, "status", "status"), on="burst", how="left")
    bursts = bursts.join(_shares(every, pairs, bursts), on="burst", how="left")
    bursts = bursts.join(_exceptions(con, rows, exception_seconds), on="burst", how="left")
    bursts = bursts.with_columns(
        ((pl.col("end") - pl.col("start")).dt.total_seconds(fractional=True) / 60).alias("minutes"),
        pl.col("exceptions").fill_null([]),
    )
    return bursts.select(list(_SCHEMA)).cast(_SCHEMA).sort("start", "route", nulls_last=False)  # type: ignore[arg-type]


def _failed_rows(
    con: duckdb.DuckDBPyConnection,
    exclude_codes: tuple[str, ...],
    windows: pl.DataFrame,
    hung: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The failed requests, each with `grp`, its burst within its route (app-wide codes: within
    the app): gaps and islands, `grp` = the successes before it there, in log order (ts, file,
    line); every request's (app, route) code `g`, app code `a` and time, in log order; and the
    (app, route) pairs with their codes (`_shares` counts on these two).

    A cumulative sum over the requests in Polars, on integer codes: DuckDB numbers the (app,
    route) pairs and the files on their few distinct values, so the sort and the sums over the
    ~2M requests of the 1 GB benchmark move no strings (the same DuckDB window partitioned by
    its ~24k routes cost 4x the CPU: 2.7 s against 0.6 s)."""
    fail = failed_sql("r")
    if exclude_codes:  # neither a failure nor a success here
        fail = f"({fail} AND coalesce(r.code, '') NOT IN {sql_list(exclude_codes)})"
    wide = f"coalesce(r.code, '') IN {sql_list(APP_DOWN_CODES + ROUTER_PAGE_CODES)}"
    skip = sql_list((*CLIENT_CODES, *exclude_codes))
    # a CORS preflight or a HEAD probe answered is not the route's work succeeding
    ok = (
        f"(NOT {failed_sql('r')} AND coalesce(r.code, '') NOT IN {skip}"
        f" AND coalesce(r.method, '') NOT IN ('OPTIONS', 'HEAD'))"
    )
    # the failures in full (a few thousand); every request narrow, as codes (the order, the
    # successes): one wide query evaluating the flags in each column cost 1.5x the CPU of two
    failed = query(
        con,
        f"""
        SELECT r.app, r.route, r.ts, r.source_file, r.line_no, {wide} AS wide, r.status, r.code,
               r.dyno, r.request_id
        FROM requests r WHERE {fail}
        """,
    )
    if failed.is_empty():
        return failed, failed, failed
    failed = failed.with_row_index("_i")
    theirs = pl.concat([_in_downtime(failed, windows), _in_hung(failed, hung)]).unique()
    if theirs.len():  # the outage's or the hung dyno's: neither a failure nor a success here
        failed = failed.filter(~pl.col("_i").is_in(theirs.implode()))
    if failed.is_empty():
        return failed, failed, failed
    # the (app, route) pairs and the files as integer codes, numbered once here
    pairs = query(con, "SELECT DISTINCT app, route FROM requests").with_columns(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("g"),
        pl.col("app").rank("dense").fill_null(0).cast(pl.UInt32).alias("a"),
    )
    files = query(
        con,
        "SELECT DISTINCT source_file FROM requests WHERE source_file IS NOT NULL "
        "ORDER BY source_file",
    ).with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).alias("f"))
    with registered(con, pairs) as pn, registered(con, files) as fn:
        d = query(
            con,
            f"""
            SELECT p.g, p.a, r.ts, coalesce(f.f, {files.height})::UINTEGER AS f, r.line_no,
                   {fail} AS fail, CAST({ok} AS INTEGER) AS ok
            FROM requests r
            JOIN {pn} p ON r.app IS NOT DISTINCT FROM p.app
                       AND r.route IS NOT DISTINCT FROM p.route
            LEFT JOIN {fn} f ON r.source_file = f.source_file
            """,
        )
    # log order: (ts, file, line); the successes before each failure on its route, in its app
    d = d.sort("ts", "f", "line_no", nulls_last=True).with_columns(
        route_grp=pl.col("ok").cum_sum().over("g"),
        app_grp=pl.col("ok").cum_sum().over("a"),
        app_served=pl.col("ok").sum().over("a"),
    )
    rank = pl.col("source_file").replace_strict(
        files["source_file"], files["f"], default=files.height
    )
    grps = d.filter("fail").select("f", "line_no", "route_grp", "app_grp", "app_served")
    failed = (
        failed.with_columns(rank.alias("f"))
        .join(grps, on=["f", "line_no"], how="left", nulls_equal=True)
        .sort("ts", "f", "line_no", nulls_last=True)
    )
    failed = _with_elevated_runs(failed, d, pairs)
    wide_col = pl.col("wide")
    rows = failed.select(
        "app",
        pl.when(wide_col).then(None).otherwise(pl.col("route")).alias("route"),
        "wide",
        pl.when(wide_col).then(pl.col("app_grp")).otherwise(pl.col("route_grp")).alias("grp"),
        "ts",
        "status",
        "code",
        "dyno",
        "request_id",
        "source_file",
        "line_no",
        "app_served",
    )
    return rows, d.select("g", "a", "ts"), pairs


def _with_elevated_runs(failed: pl.DataFrame, d: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """Failures inside an elevated run joined into one burst (`_elevate`): a route's own
    failures by route (`route_grp`), the app-wide codes across the app, each code on its own
    (`app_grp`: H99 for half of every request during a platform incident is one burst, not
    forty runs of three; H13s then H14s with a success between stay two)."""
    wide = pl.col("wide").fill_null(False)
    failed = _elevate(failed, d, pairs, pl.col("route").is_not_null() & ~wide, by_route=True)
    codes = failed.filter(wide)["code"].unique().sort().to_list()
    for k, code in enumerate(codes):
        mine = wide & pl.col("code").eq_missing(code)
        failed = _elevate(failed, d, pairs, mine, by_route=False, first_id=k * 1_000_000)
    return failed


def _elevate(
    failed: pl.DataFrame,
    d: pl.DataFrame,
    pairs: pl.DataFrame,
    mine: pl.Expr,
    *,
    by_route: bool,
    first_id: int = 0,
) -> pl.DataFrame:
    """`route_grp` (`by_route`) or `app_grp` of the failures `mine` inside an elevated run set
    to the run (negative ids from `-1 - first_id`, apart from the success counts): spans of
    `ELEVATED_BIN_MINUTES` where at least `ELEVATED_SHARE` of the requests (of the route, or of
    the app) fail (and `ELEVATED_BIN_MIN` of them), back to back (bins with no request do not
    break a run), `ELEVATED_RUN_MIN` failures or more, and at least `ELEVATED_RATIO` times the
    share outside the run; a run that holds one burst in a row only is left as that burst. A
    route failing a quarter of the time after a deploy is one burst, not the few runs of three
    that chance strings together among its successes. The failures per bin come from
    `failed`, the successes per bin from the coded requests `d` (`pairs`: their codes)."""
    grp = "route_grp" if by_route else "app_grp"
    by = ["route"] if by_route else []
    keys, over = [APP_KEY, *by], ["app", *by]
    fails = failed.filter(mine).select("_i", app_key_expr("app"), "app", *by, "ts")
    cand = fails.group_by(keys).len().filter(pl.col("len") >= ELEVATED_RUN_MIN)
    if cand.is_empty():
        return failed
    bin_of = pl.col("ts").dt.truncate(f"{ELEVATED_BIN_MINUTES}m").alias("_bin")
    f_bins = (
        fails.join(cand.select(keys), on=keys, how="semi")
        .with_columns(bin_of)
        .group_by(*over, "_bin")
        .agg(
            pl.len().cast(pl.Int64).alias("f"),
            pl.col("ts").min().alias("first"),
            pl.col("ts").max().alias("last"),
        )
    )
    # the candidates' successes per bin, counted on the coded requests
    code = "g" if by_route else "a"
    codes = (
        pairs.with_columns(app_key_expr("app"))
        .join(cand.select(keys), on=keys, how="semi")
        .select(code, *over)
        .unique(code)
    )
    ok_bins = (
        d.filter(pl.col(code).is_in(codes[code].implode()) & (pl.col("ok") == 1))
        .group_by(code, bin_of)
        .agg(pl.len().cast(pl.Int64).alias("k"))
        .join(codes, on=code)
        .drop(code)
    )
    bins = (
        f_bins.join(ok_bins, on=[*over, "_bin"], how="full", coalesce=True, nulls_equal=True)
        .with_columns(pl.col("f").fill_null(0), pl.col("k").fill_null(0))
        .with_columns((pl.col("f") + pl.col("k")).alias("n"))
        .drop("k")
    )
    hot = (pl.col("f") >= ELEVATED_BIN_MIN) & (pl.col("f") >= ELEVATED_SHARE * pl.col("n"))
    bins = bins.filter(pl.col("f").max().over(over) >= ELEVATED_BIN_MIN)
    if bins.is_empty():
        return failed
    runs = (
        bins.sort(*over, "_bin", nulls_last=True)
        .with_columns(hot.alias("hot"))
        .with_columns(
            (pl.col("hot") != pl.col("hot").shift(1).over(over))
            .fill_null(True)
            .cum_sum()
            .alias("_run"),
            pl.col("f").sum().over(over).alias("F"),
            pl.col("n").sum().over(over).alias("N"),
        )
        .filter("hot")
        .group_by(*over, "_run")
        .agg(
            pl.col("f").sum(),
            pl.col("n").sum(),
            pl.col("F").first(),
            pl.col("N").first(),
            pl.col("first").min().alias("_rs"),
            pl.col("last").max().alias("_re"),
        )
    )
    outside = (pl.col("F") - pl.col("f")) / (pl.col("N") - pl.col("n"))
    runs = runs.filter(
        (pl.col("n") > pl.col("f"))  # with no success in it, it is a burst in a row already
        & (pl.col("f") >= ELEVATED_RUN_MIN)
        & ((pl.col("N") == pl.col("n")) | (pl.col("f") / pl.col("n") >= ELEVATED_RATIO * outside))
    )
    if runs.is_empty():
        return failed
    runs = runs.with_row_index("_rid").select(
        app_key_expr("app"),
        *by,
        (-1 - first_id - pl.col("_rid").cast(pl.Int64)).alias("_grp"),
        "_rs",
        "_re",
    )
    inside = (
        fails.drop("app")
        .join(runs, on=keys)
        .filter(pl.col("ts").is_between("_rs", "_re"))
        .select("_i", "_grp")
        .unique("_i")
        .join(failed.select("_i", pl.col(grp).alias("_was")), on="_i")
        # a run that holds one burst in a row only is that burst (its edges stay with it)
        .filter(pl.col("_was").n_unique().over("_grp") > 1)
        .select("_i", "_grp")
    )
    return (
        failed.join(inside, on="_i", how="left", maintain_order="left")
        .with_columns(pl.coalesce("_grp", pl.col(grp).cast(pl.Int64)).alias(grp))
        .drop("_grp")
    )


def _in_downtime(failed: pl.DataFrame, windows: pl.DataFrame) -> pl.Series:
    """The `_i` of the failures a web downtime window counts (the rule of
    `forensics.analyses.downtime`: same app, inside the window, served by the window's dyno or
    by none; any dyno for a process-type window)."""
    w = windows.filter(pl.col("process_type") == "web")
    if w.is_empty():
        return pl.Series("_i", [], pl.UInt32)
    return (
        failed.select("_i", app_key_expr("app"), "ts", "dyno")
        .join(
            w.select(
                app_key_expr("app"),
                pl.col("dyno").alias("_wdyno"),
                pl.col("start").alias("_ws"),
                pl.col("end").alias("_we"),
            ),
            on=APP_KEY,
        )
        .filter(
            pl.col("ts").is_between("_ws", "_we")
            & (
                pl.col("_wdyno").is_null()
                | pl.col("dyno").is_null()
                | (pl.col("dyno") == "")
                | (pl.col("dyno") == pl.col("_wdyno"))
            )
        )["_i"]
        .unique()
    )


def _in_hung(failed: pl.DataFrame, hung: pl.DataFrame) -> pl.Series:
    """The `_i` of the failures a hung dyno's window counts: served by that dyno inside its
    window, with one of the codes it was stuck on (H12, H13...)."""
    h = hung.filter(pl.col("kind") == "stuck_requests")
    if h.is_empty():
        return pl.Series("_i", [], pl.UInt32)
    return (
        failed.select("_i", app_key_expr("app"), "ts", "dyno", "code")
        .join(
            h.select(
                app_key_expr("app"),
                "dyno",
                pl.col("start").alias("_hs"),
                pl.col("end").alias("_he"),
                pl.col("codes").alias("_hc"),
            ),
            on=[APP_KEY, "dyno"],
        )
        .filter(
            pl.col("ts").is_between("_hs", "_he")
            & pl.col("code").is_not_null()
            & pl.col("_hc").list.contains(pl.col("code"))
        )["_i"]
        .unique()
    )


def _counts(rows: pl.DataFrame, col: str, name: str) -> pl.DataFrame:
    """Per burst: a list of {name, count}, most frequent first."""
    c = (
        rows.group_by("burst", col)
        .len()
        .sort("burst", "len", col, descending=[False, True, False])
        .group_by("burst", maintain_order=True)
        .agg(pl.struct(pl.col(col).alias(name), pl.col("len").cast(pl.Int64).alias("count")))
    )
    return c.rename({c.columns[1]: "statuses" if name == "status" else "codes"})


def _shares(every: pl.DataFrame, pairs: pl.DataFrame, bursts: pl.DataFrame) -> pl.DataFrame:
    """Per burst: failures / the route's requests, failures / all requests, in its window
    (inclusive), counted on `every` (the (app, route) code `g`, the app code `a` and ts of
    every request, in log order; `pairs` maps (app, route) to the codes) by binary search: one
    slice of the app's or the route's times per burst, not a join per request."""
    b = bursts.select("burst", "app", "route", "wide", "start", "end", "count").join(
        pairs, on=["app", "route"], how="left", nulls_equal=True
    )
    apps = pairs.select("app", pl.col("a").alias("_a")).unique("app")
    b = b.join(apps, on="app", how="left", nulls_equal=True)
    by_app = every.partition_by("a", as_dict=True, maintain_order=True)
    routes = b.filter(~pl.col("wide"))["g"].unique()
    by_route = every.filter(pl.col("g").is_in(routes.implode())).partition_by(
        "g", as_dict=True, maintain_order=True
    )
    out = []
    for burst, a, g, wide, start, end, n in b.select(
        "burst", "_a", "g", "wide", "start", "end", "count"
    ).iter_rows():
        ts_all = by_app[(a,)]["ts"]
        n_all = ts_all.search_sorted(end, "right") - ts_all.search_sorted(start, "left")
        if wide:
            n_route = n_all
        else:
            ts = by_route[(g,)]["ts"]
            n_route = ts.search_sorted(end, "right") - ts.search_sorted(start, "left")
        out.append((burst, n / n_route, n / n_all))
    return pl.DataFrame(
        out,
        schema={"burst": bursts.schema["burst"], "share": pl.Float64, "share_of_all": pl.Float64},
        orient="row",
    )


def _exceptions(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, seconds: int) -> pl.DataFrame:
    """Per burst: the exceptions the app logged for its failed requests, {exception, count,
    example (one line that named it, as logged)}."""
    f = rows.filter(pl.col("dyno").is_not_null() | pl.col("request_id").is_not_null()).select(
        "burst", "app", "dyno", "ts", "request_id", "line_no", "source_file"
    )
    if f.is_empty():
        return pl.DataFrame(
            schema={"burst": rows.schema["burst"], "exceptions": _SCHEMA["exceptions"]}
        )
    # Join first on cheap keys, then run the regexes on the few app lines that joined: by
    # request id, or by dyno and whole second (each failure listed under the seconds its window
    # covers: an equality join), then the exact window.
    exc = (
        f"coalesce(nullif(regexp_extract(m.message, '{EXCEPTION_RE}', 1), ''), "
        f"nullif(regexp_extract(m.message, '{EXCEPTION_RE}', 2), ''), "
        f"CASE WHEN regexp_matches(m.message, '{FATAL_RE}') THEN 'FATAL' END)"
    )
    sec = "CAST(floor(epoch({})) AS BIGINT)"
    with registered(con, f) as name:
        return query(
            con,
            f"""
            WITH fs AS (
                SELECT f.*, unnest(range({sec.format(f"f.ts - INTERVAL {int(seconds)} SECOND")},
                                         {sec.format("f.ts + INTERVAL 1 SECOND")} + 1)) AS sec
                FROM {name} f WHERE f.dyno IS NOT NULL
            ),
            m AS (
                SELECT f.burst, f.source_file, f.line_no, a.message
                FROM {name} f JOIN app_logs a
                  ON a.request_id = f.request_id AND a.app IS NOT DISTINCT FROM f.app
                UNION ALL
                SELECT f.burst, f.source_file, f.line_no, a.message
                FROM fs f JOIN app_logs a
                  ON a.dyno = f.dyno AND a.app IS NOT DISTINCT FROM f.app
                 AND {sec.format("a.ts")} = f.sec
                WHERE a.request_id IS NULL
                  AND a.ts >= f.ts - INTERVAL {int(seconds)} SECOND
                  AND a.ts <= f.ts + INTERVAL 1 SECOND
            ),
            j AS (
                SELECT m.burst, m.source_file, m.line_no, {exc} AS exception,
                       min(m.message) AS message
                FROM m WHERE regexp_matches(m.message, '{EXCEPTION_RE}|{FATAL_RE}')
                GROUP BY m.burst, m.source_file, m.line_no, exception
            )
            SELECT burst, list({{'exception': exception, 'count': n, 'example': example}}
                               ORDER BY n DESC, exception) AS exceptions
            FROM (SELECT burst, exception, count(*) AS n, min(message) AS example
                  FROM j GROUP BY burst, exception)
            GROUP BY burst
            """,
        )
