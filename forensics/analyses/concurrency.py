"""Concurrency: how many requests each dyno had in flight, how that compares with the web
server's configured capacity (workers x threads), and whether that setting fits the memory.

In flight: a request is in flight on its dyno from `ts - service_ms` to `ts` (the router line is
written when the request ends), counted half-open, [start, end). The level seen by each arriving
request (itself included) is the in-flight count used throughout: its p95 over arrivals is "how
busy a dyno usually is when a request comes in". WebSocket upgrades (status 101) are left out.

Configured concurrency is not in the router lines; it is read from the app's boot output:
gunicorn (`Starting gunicorn`, one `Booting worker with pid: N` per worker, `Using worker:
sync|gthread|eventlet|gevent`), Puma (`Puma starting in single|cluster mode`, `* Workers: 2`,
`* Min threads: 5, max threads: 5` or `* Max threads: 5`), Unicorn (`worker=N ready`), buildpack
lines (`Defaulting WEB_CONCURRENCY to 2`, `WEB_CONCURRENCY=2`) and the `Starting process with
command` line (`-w 4`, `--workers=4`, `--threads 8`, `puma -t 5:5`). Lines of one dyno less than
`boot_gap_seconds` apart form one boot. Keyword options override what the logs say.

Tables: `in_flight` (per dyno x time bucket, with connect times and memory),
`configured_concurrency` (per boot), `sizing` (per process type: load, memory, capacity,
verdict and suggestion). `forensics.findings.concurrency` gives a `concurrency` finding per
process type whose setting is too high for its memory or too low for its load.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb
import numpy as np
import polars as pl

from forensics import heroku
from forensics.analyses.memo import per_dataset
from forensics.analyses.series import bucket_width
from forensics.analyses.sql import app_key_expr, app_key_sql, query

# Async gunicorn worker classes: one worker serves many requests; no fixed thread capacity.
ASYNC_WORKERS = ("eventlet", "gevent", "tornado", "uvicorn", "aiohttp")
_US = 1_000_000
# Join key for the app: a null app (exports that do not name it) as "", so that nulls match.
_APP = app_key_expr(alias="_app")


def _levels(con: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(levels, names): levels has one row per request with g (app x dyno id), start_us,
    end_us (epoch microseconds), level, connect_ms, service_ms; names maps g to app, dyno,
    process_type and `timed` (the dyno has requests with a service time). Only integers cross
    from DuckDB to Polars, so this stays fast on millions of requests."""
    names = query(
        con,
        f"""
        SELECT CAST(row_number() OVER (ORDER BY app NULLS FIRST, dyno) - 1 AS BIGINT) AS g,
               app, dyno, {heroku.process_type_sql("dyno")} AS process_type, timed
        FROM (SELECT app, dyno, bool_or(service_ms IS NOT NULL) AS timed
              FROM requests WHERE dyno IS NOT NULL GROUP BY ALL)
        """,
    )
    con.register("_b_names", names.select("g", "app", "dyno").to_arrow())
    try:
        r = query(
            con,
            f"""
            SELECT n.g, epoch_us(r.ts) - CAST(r.service_ms AS BIGINT) * 1000 AS start_us,
                   epoch_us(r.ts) AS end_us, r.connect_ms, r.service_ms
            FROM requests r JOIN _b_names n
              ON r.dyno = n.dyno AND {app_key_sql("r.app")} = {app_key_sql("n.app")}
            WHERE r.service_ms IS NOT NULL AND r.service_ms >= 0
              AND coalesce(r.status, 0) <> 101
            """,
        )
    finally:
        con.unregister("_b_names")
    if r.is_empty():
        return r.with_columns(pl.lit(None, pl.Int64).alias("level")), names
    return r.with_columns(in_flight_levels(r["g"], r["start_us"], r["end_us"])), names


def in_flight_levels(g: pl.Series, start_us: pl.Series, end_us: pl.Series) -> pl.Series:
    """For each request (dyno id `g`, start and end in microseconds, no nulls), the requests of
    its dyno started at or before its start minus those ended at or before it: `level`.

    One sortable integer per (dyno, time), group id * span + microseconds since the first
    start, so one global sort serves every dyno at once (keys of earlier dynos count as many
    starts as ends, and cancel out). Counted with two sorted searches in NumPy, in place:
    about half the memory of Polars' `rank` and `search_sorted` (2 M requests: 109 -> 61 MiB
    over the inputs), the same integers.

    >>> g, s, e = pl.Series([0, 0, 0, 1]), pl.Series([0, 5, 10, 0]), pl.Series([10, 7, 12, 1])
    >>> in_flight_levels(g, s, e).to_list()
    [1, 2, 1, 1]
    """
    t0 = int(start_us.min())  # type: ignore[arg-type]
    span = int(end_us.max()) - t0 + 1  # type: ignore[arg-type]
    key = g.cast(pl.Int64).to_numpy() * span  # every array below is one int64 per request
    s = start_us.cast(pl.Int64).to_numpy() - t0
    s += key  # the starts' keys
    key += end_us.cast(pl.Int64).to_numpy()
    key -= t0  # the ends' keys
    key.sort()
    ended = np.searchsorted(key, s, side="right")
    del key
    key = np.sort(s)
    level = np.searchsorted(key, s, side="right")  # starts <= s ...
    del key, s
    level -= ended  # ... minus ends <= s
    return pl.Series("level", level.astype(np.int64, copy=False))


def arrival_levels(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per request with a dyno and a service time (WebSocket upgrades left out), with the
    number of requests in flight on its dyno when it arrived.

    How: a request occupies [ts - service_ms, ts) on its dyno; `level` = requests of the dyno
    started at or before this one's start minus those ended at or before it, i.e. the ones in
    flight at its arrival, itself included (a 0 ms request is not in flight at all). Counted
    with a rank and a sorted search (Polars `rank`, `search_sorted`), no per-row Python.

    Columns: app, dyno, process_type, start, ts, level, connect_ms, service_ms.
    """
    lv, names = _levels(con)
    ts = pl.Datetime("us", "UTC")
    return lv.join(names, on="g", how="left").select(
        "app",
        "dyno",
        "process_type",
        pl.col("start_us").cast(ts).alias("start"),
        pl.col("end_us").cast(ts).alias("ts"),
        "level",
        "connect_ms",
        "service_ms",
    )


def _q(col: str, q: float) -> pl.Expr:
    return pl.col(col).quantile(q, interpolation="linear")


def in_flight(con: duckdb.DuckDBPyConnection, *, bucket_seconds: int = 60) -> pl.DataFrame:
    """Requests in flight per dyno over time, with connect times and memory.

    Answers: how busy was each dyno, minute by minute, did connect times rise with it, and what
    was its memory doing meanwhile? One row per app x dyno x bucket (`bucket_seconds` wide,
    epoch-aligned, by arrival time `ts - service_ms`) that has arrivals or memory samples.
    Levels are those of `arrival_levels`; percentiles interpolate linearly.

    Columns: app, dyno, process_type, bucket_start, arrivals, in_flight_p50, in_flight_p95,
    in_flight_max (levels seen by arrivals, themselves included), connect_p50_ms,
    connect_p95_ms, connect_max_ms, service_p95_ms, memory_max_mb, memory_mean_mb,
    memory_quota_mb (from runtime metrics in the bucket; null when there are none).
    """
    w = bucket_width(bucket_seconds)
    lv, names = _levels(con)
    step = w * _US
    a = (
        lv.with_columns(((pl.col("start_us") // step) * step).alias("_b"))
        .group_by("g", "_b")
        .agg(
            pl.len().cast(pl.Int64).alias("arrivals"),
            _q("level", 0.5).alias("in_flight_p50"),
            _q("level", 0.95).alias("in_flight_p95"),
            pl.col("level").max().alias("in_flight_max"),
            _q("connect_ms", 0.5).alias("connect_p50_ms"),
            _q("connect_ms", 0.95).alias("connect_p95_ms"),
            pl.col("connect_ms").max().alias("connect_max_ms"),
            _q("service_ms", 0.95).alias("service_p95_ms"),
        )
        .join(names.select("g", "app", "dyno"), on="g", how="left")
        .with_columns(
            pl.col("_b").cast(pl.Datetime("us", "UTC")).alias("bucket_start"),
            _APP,
        )
        .drop("g", "_b")
    )
    m = query(
        con,
        f"""
        SELECT app, dyno, to_timestamp(floor(epoch(ts) / {w}) * {w}) AS bucket_start,
               max(memory_total_mb) AS memory_max_mb, avg(memory_total_mb) AS memory_mean_mb,
               max(memory_quota_mb) AS memory_quota_mb
        FROM dyno_metrics WHERE memory_total_mb IS NOT NULL AND dyno IS NOT NULL GROUP BY ALL
        """,
    ).with_columns(_APP, pl.col("bucket_start").cast(pl.Datetime("us", "UTC")))
    out = a.join(
        m.rename({"app": "_mapp"}),
        on=["_app", "dyno", "bucket_start"],
        how="full",
        coalesce=True,
    )
    return (
        out.with_columns(
            pl.coalesce("app", "_mapp").alias("app"),
            heroku.process_type_expr("dyno"),
            pl.col("arrivals").fill_null(0),
        )
        .select(
            "app",
            "dyno",
            "process_type",
            "bucket_start",
            "arrivals",
            "in_flight_p50",
            "in_flight_p95",
            pl.col("in_flight_max").cast(pl.Int64),
            "connect_p50_ms",
            "connect_p95_ms",
            pl.col("connect_max_ms").cast(pl.Int64),
            "service_p95_ms",
            "memory_max_mb",
            "memory_mean_mb",
            "memory_quota_mb",
        )
        .sort("bucket_start", "app", "dyno", nulls_last=False)
    )


# Cheap prefilter for boot lines ('orker' covers `Booting worker`, `Using worker:`, `Workers:`
# and Unicorn's `worker=N ready`); the regexes below decide what a line says.
_BOOT_FILTER = """
    contains(message, 'orker') OR contains(message, 'threads:')
    OR contains(message, 'WEB_CONCURRENCY') OR contains(message, 'Puma starting in')
    OR contains(message, 'Starting gunicorn')
"""


@per_dataset
def configured_concurrency(
    con: duckdb.DuckDBPyConnection, *, boot_gap_seconds: int = 120
) -> pl.DataFrame:
    """The web server concurrency each boot announced (see the module doc for the lines read).

    Answers: how many worker processes and threads per process was each dyno started with?
    `threads` is 1 for gunicorn sync workers and Unicorn, null for async workers (eventlet,
    gevent...) or when no line says. `workers` for gunicorn counts the distinct `Booting worker`
    pids of a boot that also logged `Starting gunicorn` (respawns after a worker timeout do not
    count).

    Columns: app, dyno, process_type, ts (first line of the boot), server (gunicorn | puma |
    unicorn | null), worker_class, workers, threads, capacity (workers x threads),
    web_concurrency (as logged), source_file, first_line, last_line, line_nos (list).
    """
    gap = int(boot_gap_seconds)
    return query(
        con,
        f"""
        -- MATERIALIZED: keeps DuckDB from pushing the regexes below into the app_logs scan,
        -- where they would run on every line instead of the few the prefilter keeps.
        WITH l AS MATERIALIZED (
            SELECT app, dyno, ts, message AS text, source_file, line_no, false AS is_cmd
            FROM app_logs WHERE dyno IS NOT NULL AND ({_BOOT_FILTER})
            UNION ALL
            SELECT app, dyno, ts, command, source_file, line_no, true
            FROM events WHERE kind = 'start' AND command IS NOT NULL AND dyno IS NOT NULL
        ),
        x AS (
            SELECT *,
                TRY_CAST(nullif(regexp_extract(text, 'Booting worker with pid:? (\\d+)', 1), '')
                         AS BIGINT) AS g_pid,
                text LIKE '%Starting gunicorn%' AS g_master,
                nullif(regexp_extract(text, 'Using worker: ([A-Za-z_.]+)', 1), '') AS g_class,
                TRY_CAST(nullif(regexp_extract(text, '\\*\\s*Workers:\\s*(\\d+)', 1), '')
                         AS INTEGER) AS p_workers,
                TRY_CAST(nullif(regexp_extract(text, '[Mm]ax threads:\\s*(\\d+)', 1), '')
                         AS INTEGER) AS p_threads,
                text LIKE '%Puma starting in single mode%' AS p_single,
                text LIKE '%Puma starting in%' AS p_any,
                TRY_CAST(nullif(regexp_extract(text, 'worker=(\\d+) ready', 1), '')
                         AS INTEGER) AS u_worker,
                TRY_CAST(nullif(regexp_extract(text,
                         'WEB_CONCURRENCY(?:=|\\s+to\\s+|:\\s*)(\\d+)', 1), '') AS INTEGER)
                    AS web_concurrency,
                CASE WHEN is_cmd THEN TRY_CAST(nullif(regexp_extract(text,
                     '(?:^|\\s)(?:-w|--workers)(?:=|\\s*)(\\d+)', 1), '') AS INTEGER) END
                    AS c_workers,
                CASE WHEN is_cmd THEN coalesce(
                     TRY_CAST(nullif(regexp_extract(text, '--threads(?:=|\\s+)(\\d+)', 1), '')
                              AS INTEGER),
                     CASE WHEN text LIKE '%puma%' THEN TRY_CAST(nullif(regexp_extract(text,
                          '(?:^|\\s)(?:-t|--threads)(?:=|\\s+)\\d+:(\\d+)', 1), '') AS INTEGER)
                     END) END AS c_threads,
                CASE WHEN is_cmd THEN nullif(regexp_extract(text,
                     '(?:-k|--worker-class)(?:=|\\s+)([A-Za-z_.]+)', 1), '') END AS c_class,
                CASE WHEN is_cmd AND text LIKE '%gunicorn%' THEN 'gunicorn'
                     WHEN is_cmd AND text LIKE '%puma%' THEN 'puma'
                     WHEN is_cmd AND text LIKE '%unicorn%' THEN 'unicorn' END AS c_server
            FROM l
        ),
        s AS (
            SELECT *, CASE WHEN lag(ts) OVER w IS NULL
                            OR ts - lag(ts) OVER w > INTERVAL {gap} SECOND THEN 1 ELSE 0 END AS new
            FROM x
            -- only lines that say something form boots (the prefilter is loose)
            WHERE g_pid IS NOT NULL OR g_master OR g_class IS NOT NULL
               OR p_workers IS NOT NULL OR p_threads IS NOT NULL OR p_any
               OR u_worker IS NOT NULL OR web_concurrency IS NOT NULL
               OR c_workers IS NOT NULL OR c_threads IS NOT NULL OR c_class IS NOT NULL
               OR c_server IS NOT NULL
            WINDOW w AS (PARTITION BY app, dyno ORDER BY ts, line_no)
        ),
        b AS (
            SELECT *, sum(new) OVER (PARTITION BY app, dyno ORDER BY ts, line_no
                                     ROWS UNBOUNDED PRECEDING) AS boot
            FROM s
        ),
        g AS (
            SELECT app, dyno, boot, min(ts) AS ts,
                   bool_or(g_master) AS g_master, count(DISTINCT g_pid) AS g_pids,
                   coalesce(max(g_class), max(c_class)) AS worker_class,
                   max(p_workers) AS p_workers, max(p_threads) AS p_threads,
                   bool_or(p_single) AS p_single, bool_or(p_any) AS p_any,
                   max(u_worker) AS u_worker, max(web_concurrency) AS web_concurrency,
                   max(c_workers) AS c_workers, max(c_threads) AS c_threads,
                   max(c_server) AS c_server,
                   min(source_file) AS source_file, min(line_no) AS first_line,
                   max(line_no) AS last_line,
                   list(line_no ORDER BY line_no) FILTER (WHERE NOT is_cmd OR c_workers
                       IS NOT NULL OR c_threads IS NOT NULL) AS line_nos
            FROM b GROUP BY ALL
        ),
        v AS (
            SELECT *,
                CASE WHEN g_master OR g_pids > 0 OR c_server = 'gunicorn' THEN 'gunicorn'
                     WHEN p_any OR p_workers IS NOT NULL OR p_threads IS NOT NULL
                          OR c_server = 'puma' THEN 'puma'
                     WHEN u_worker IS NOT NULL OR c_server = 'unicorn' THEN 'unicorn'
                END AS server
            FROM g
        ),
        c AS (
            SELECT *,
                coalesce(
                    p_workers,
                    CASE WHEN p_single THEN 1 END,
                    CASE WHEN g_master AND g_pids > 0 THEN g_pids END,
                    u_worker + 1,
                    c_workers,
                    web_concurrency
                ) AS workers,
                coalesce(
                    p_threads,
                    c_threads,
                    CASE WHEN server = 'gunicorn' AND worker_class IN {tuple(ASYNC_WORKERS)!r}
                         THEN NULL
                         WHEN server = 'gunicorn' OR server = 'unicorn' THEN 1 END
                ) AS threads
            FROM v
        )
        SELECT app, dyno, {heroku.process_type_sql("dyno")} AS process_type, ts, server,
               worker_class,
               CAST(workers AS INTEGER) AS workers, CAST(threads AS INTEGER) AS threads,
               CAST(workers * threads AS INTEGER) AS capacity,
               CAST(web_concurrency AS INTEGER) AS web_concurrency,
               source_file, first_line, last_line, line_nos
        FROM c
        WHERE workers IS NOT NULL OR threads IS NOT NULL OR server IS NOT NULL
        ORDER BY ts, app NULLS FIRST, dyno
        """,
    )


@per_dataset
def sizing(
    con: duckdb.DuckDBPyConnection,
    *,
    workers: int | None = None,
    threads: int | None = None,
    quota_mb: float | None = None,
    memory_target: float = 0.8,
    headroom: float = 1.25,
    baseline_quantile: float = 0.1,
    min_arrivals: int = 200,
    boots: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Per process type that serves requests: load, memory, configured capacity, a verdict and
    a suggested setting.

    How: `workers` x `threads` per dyno come from the newest boot that logged them (or the
    options). Load is the in-flight level seen by arriving requests (p50/p95/max over all
    arrivals on dynos of the type); connect times are split by whether the arrival found more
    requests in flight than the capacity (queueing shows as a longer connect).
    Memory: `baseline_mb` is the median, over process lifetimes (runtime-metrics `dyno_id`), of
    each lifetime's `baseline_quantile` (p10) memory_total, so a leak's growth does not count as
    the cost of a worker; `per_worker_mb` = baseline / workers. The quota is `quota_mb`, else
    the logged `memory_quota`, else inferred from `Process running mem=NM(P%)`.

    Verdict: `too_high_for_memory` when baseline > `memory_target` x quota; `too_low_for_load`
    when the in-flight p95 exceeds the capacity (more than 5 % of requests waited for a free
    thread; judged only with `min_arrivals` requests or more); `both`, `ok`, or `unknown`
    (neither capacity nor memory can be judged). The suggestion
    keeps memory under `memory_target` x quota and gives `headroom` x the in-flight p95 of
    capacity; `reasoning` explains it in words.

    Columns: app, process_type, dynos, server, worker_class, workers, threads, capacity,
    config_source (logs | option | logs+option | null), config_line (file:line of the boot),
    arrivals, in_flight_p50, in_flight_p95, in_flight_max, saturated_share (arrivals above
    capacity), connect_p50_ms, connect_p95_ms, connect_p95_saturated_ms,
    connect_p95_unsaturated_ms, memory_quota_mb, baseline_mb, per_worker_mb, memory_p95_mb,
    memory_max_mb, r14, verdict, suggested_workers, suggested_threads, suggested_dynos,
    reasoning. `boots` may pass a `configured_concurrency` frame already computed.
    """
    boots = boots if boots is not None else configured_concurrency(con)
    mem = _memory(con, baseline_quantile)  # before the per-request frame below is held
    lv, names = _levels(con)
    # process types with dynos that logged service times, and how many such dynos
    types = (
        names.filter("timed")
        .group_by("app", "process_type")
        .agg(pl.col("dyno").n_unique().cast(pl.Int64).alias("dynos"))
    )
    if types.is_empty():
        return pl.DataFrame(schema=_SIZING_SCHEMA)
    cfg = _config(boots, types, workers, threads)
    # only what the load needs, so the times of every request are freed before it runs
    lv = lv.select("g", "level", "connect_ms")
    load = _load(lv, names, cfg)
    del lv
    df = (
        types.with_columns(_APP)
        .join(cfg.with_columns(_APP).drop("app"), on=["_app", "process_type"], how="left")
        .join(load.with_columns(_APP).drop("app"), on=["_app", "process_type"], how="left")
        .join(mem.with_columns(_APP).drop("app"), on=["_app", "process_type"], how="left")
        .drop("_app")
    )
    if quota_mb is not None:
        df = df.with_columns(pl.lit(float(quota_mb)).alias("memory_quota_mb"))
    df = df.with_columns(
        (pl.col("baseline_mb") / pl.col("workers")).alias("per_worker_mb"),
        pl.col("r14").fill_null(0),
    )
    verdicts = [
        _verdict(r, memory_target, headroom, min_arrivals) for r in df.iter_rows(named=True)
    ]
    df = df.with_columns(
        pl.Series("verdict", [v[0] for v in verdicts], pl.String),
        pl.Series("suggested_workers", [v[1] for v in verdicts], pl.Int64),
        pl.Series("suggested_threads", [v[2] for v in verdicts], pl.Int64),
        pl.Series("suggested_dynos", [v[3] for v in verdicts], pl.Int64),
        pl.Series("reasoning", [v[4] for v in verdicts], pl.String),
    )
    return (
        df.select(list(_SIZING_SCHEMA))
        .cast(_SIZING_SCHEMA)
        .sort(  # type: ignore[arg-type]
            "app", "process_type", nulls_last=False
        )
    )


def _load(lv: pl.DataFrame, names: pl.DataFrame, cfg: pl.DataFrame) -> pl.DataFrame:
    """Per process type: arrivals, in-flight levels they found, the share above capacity, and
    connect times split by it (`lv`, `names` from `_levels`; capacity from `cfg`)."""
    caps = cfg.select(_APP, "process_type", pl.col("capacity").alias("_cap"))
    # Capacity and process type per dyno id g (small), then gathered onto the requests by g:
    # no string joins over millions of rows.
    nm = (
        names.with_columns(_APP)
        .join(caps, on=["_app", "process_type"], how="left")
        .sort("g")
        .with_columns(
            (pl.concat_str("_app", pl.lit("\x00"), "process_type").rank("dense") - 1)
            .cast(pl.Int64)
            .alias("_t")
        )
    )
    g = lv["g"]
    lv = lv.select(
        "level",
        "connect_ms",
        nm["_cap"].gather(g).alias("_cap"),
        nm["_t"].gather(g).alias("_t"),
    )
    over = pl.col("level") > pl.col("_cap")
    return (
        lv.group_by("_t")
        .agg(
            pl.len().cast(pl.Int64).alias("arrivals"),
            _q("level", 0.5).alias("in_flight_p50"),
            _q("level", 0.95).alias("in_flight_p95"),
            pl.col("level").max().alias("in_flight_max"),
            pl.when(pl.col("_cap").is_not_null())
            .then(over.cast(pl.Float64))
            .mean()
            .alias("saturated_share"),
            _q("connect_ms", 0.5).alias("connect_p50_ms"),
            _q("connect_ms", 0.95).alias("connect_p95_ms"),
            pl.col("connect_ms")
            .filter(over)
            .quantile(0.95, interpolation="linear")
            .alias("connect_p95_saturated_ms"),
            pl.col("connect_ms")
            .filter(~over)
            .quantile(0.95, interpolation="linear")
            .alias("connect_p95_unsaturated_ms"),
        )
        .join(nm.select("_t", "_app", "process_type").unique(), on="_t")
        .drop("_t")
        .rename({"_app": "app"})
    )


_SIZING_SCHEMA: dict[str, Any] = {
    "app": pl.String,
    "process_type": pl.String,
    "dynos": pl.Int64,
    "server": pl.String,
    "worker_class": pl.String,
    "workers": pl.Int64,
    "threads": pl.Int64,
    "capacity": pl.Int64,
    "config_source": pl.String,
    "config_line": pl.String,
    "arrivals": pl.Int64,
    "in_flight_p50": pl.Float64,
    "in_flight_p95": pl.Float64,
    "in_flight_max": pl.Int64,
    "saturated_share": pl.Float64,
    "connect_p50_ms": pl.Float64,
    "connect_p95_ms": pl.Float64,
    "connect_p95_saturated_ms": pl.Float64,
    "connect_p95_unsaturated_ms": pl.Float64,
    "memory_quota_mb": pl.Float64,
    "baseline_mb": pl.Float64,
    "per_worker_mb": pl.Float64,
    "memory_p95_mb": pl.Float64,
    "memory_max_mb": pl.Float64,
    "r14": pl.Int64,
    "verdict": pl.String,
    "suggested_workers": pl.Int64,
    "suggested_threads": pl.Int64,
    "suggested_dynos": pl.Int64,
    "reasoning": pl.String,
}


def _config(
    boots: pl.DataFrame, types: pl.DataFrame, workers: int | None, threads: int | None
) -> pl.DataFrame:
    """Per app x process type: the newest boot that logged workers (or, failing that,
    threads), then the options on top."""
    b = boots.with_columns(
        _rank=pl.when(pl.col("workers").is_not_null())
        .then(2)
        .when(pl.col("threads").is_not_null())
        .then(1)
        .otherwise(0)
    ).filter(pl.col("_rank") > 0)
    logged = (
        b.sort("_rank", "ts")
        .group_by("app", "process_type")
        .agg(
            pl.col("server").last(),
            pl.col("worker_class").last(),
            pl.col("workers").last().alias("workers_log"),
            pl.col("threads").last().alias("threads_log"),
            pl.col("source_file").last().alias("_f"),
            pl.col("first_line").last().alias("_l"),
        )
    )
    cfg = (
        types.select("app", "process_type")
        .with_columns(_APP)
        .join(logged.with_columns(_APP).drop("app"), on=["_app", "process_type"], how="left")
        .drop("_app")
    )
    w_opt = pl.lit(workers, pl.Int64)
    t_opt = pl.lit(threads, pl.Int64)
    has_log = pl.col("workers_log").is_not_null() | pl.col("threads_log").is_not_null()
    has_opt = pl.lit(workers is not None or threads is not None)
    cfg = cfg.with_columns(
        pl.coalesce(w_opt, pl.col("workers_log").cast(pl.Int64)).alias("workers"),
        pl.coalesce(t_opt, pl.col("threads_log").cast(pl.Int64)).alias("threads"),
        pl.when(has_log & has_opt)
        .then(pl.lit("logs+option"))
        .when(has_opt)
        .then(pl.lit("option"))
        .when(has_log)
        .then(pl.lit("logs"))
        .alias("config_source"),
        pl.when(pl.col("_l").is_not_null())
        .then(pl.concat_str(pl.col("_f"), pl.lit(":"), pl.col("_l").cast(pl.String)))
        .alias("config_line"),
    )
    return cfg.with_columns((pl.col("workers") * pl.col("threads")).alias("capacity")).drop(
        "workers_log", "threads_log", "_f", "_l"
    )


def _memory(con: duckdb.DuckDBPyConnection, q: float) -> pl.DataFrame:
    """Per app x process type: quota, lifetime baseline, p95, max and R14 count."""
    return query(
        con,
        f"""
        WITH m AS (
            SELECT app, {heroku.process_type_sql("dyno")} AS process_type, dyno_id, memory_total_mb,
                   memory_quota_mb
            FROM dyno_metrics WHERE memory_total_mb IS NOT NULL
        ), life AS (
            SELECT app, process_type, dyno_id,
                   quantile_cont(memory_total_mb, {float(q)}) AS low
            FROM m GROUP BY ALL
        ), base AS (
            SELECT app, process_type, median(low) AS baseline_mb FROM life GROUP BY ALL
        ), agg AS (
            SELECT app, process_type, max(memory_quota_mb) AS logged_quota,
                   quantile_cont(memory_total_mb, 0.95) AS memory_p95_mb,
                   max(memory_total_mb) AS memory_max_mb
            FROM m GROUP BY ALL
        ), ev AS (
            SELECT app, {heroku.process_type_sql("dyno")} AS process_type,
                   count(*) FILTER (WHERE kind = 'error' AND code = 'R14') AS r14,
                   median(mem_mb / mem_pct * 100) FILTER (WHERE kind = 'memory' AND mem_pct > 0)
                       AS inferred_quota
            FROM events WHERE dyno IS NOT NULL GROUP BY ALL
        ), k AS (
            SELECT app, process_type FROM agg UNION SELECT app, process_type FROM ev
        )
        SELECT k.app, k.process_type, agg.logged_quota,
               (SELECT CASE WHEN abs(q - ev.inferred_quota) <= 0.05 * q THEN q
                            ELSE round(ev.inferred_quota, 1) END
                FROM (SELECT unnest({list(heroku.KNOWN_QUOTAS_MB)!r}) AS q)
                ORDER BY abs(q - ev.inferred_quota) LIMIT 1) AS inferred_quota,
               base.baseline_mb, agg.memory_p95_mb, agg.memory_max_mb,
               coalesce(ev.r14, 0) AS r14
        FROM k
        LEFT JOIN agg ON agg.app IS NOT DISTINCT FROM k.app AND agg.process_type = k.process_type
        LEFT JOIN base ON base.app IS NOT DISTINCT FROM k.app
                      AND base.process_type = k.process_type
        LEFT JOIN ev ON ev.app IS NOT DISTINCT FROM k.app AND ev.process_type = k.process_type
        """,
    ).with_columns(pl.coalesce("logged_quota", "inferred_quota").alias("memory_quota_mb"))


def _verdict(
    r: dict[str, Any], target: float, headroom: float, min_arrivals: int
) -> tuple[str, int | None, int | None, int | None, str]:
    """(verdict, suggested workers, threads, dynos, reasoning) for one sizing row."""
    w, t, cap = r["workers"], r["threads"], r["capacity"]
    quota, base, per = r["memory_quota_mb"], r["baseline_mb"], r["per_worker_mb"]
    p95, dynos = r["in_flight_p95"], r["dynos"]
    why: list[str] = []
    if w is None and t is None:
        why.append("no workers/threads setting in the logs (pass workers= and threads=)")
    mem_known = None not in (w, quota, base)
    load_known = cap is not None and p95 is not None and (r["arrivals"] or 0) >= min_arrivals
    if cap is not None and p95 is not None and not load_known:
        why.append(f"only {r['arrivals']} requests: too few to judge the load")
    high = bool(mem_known and base > target * quota)
    low = bool(load_known and p95 > cap)
    fit = None
    if mem_known and per and per > 0:
        fit = max(1, math.floor(target * quota / per))
        why.append(
            f"memory baseline {base:.0f} MB for {w} worker{'s' if w != 1 else ''} = "
            f"{per:.0f} MB per worker, {base / quota:.0%} of the {quota:.0f} MB quota; "
            f"{fit} worker{'s' if fit != 1 else ''} fit under {target:.0%}"
        )
    if mem_known and not high and r["r14"]:
        why.append(
            f"memory peaks at {r['memory_max_mb']:.0f} MB with {r['r14']} R14: growth within "
            "process lifetimes (see the memory findings), not the per-worker baseline"
        )
    if load_known:
        why.append(
            f"in-flight p95 {p95:.1f} vs capacity {cap} ({w} x {t}) per dyno"
            + (
                f"; connect p95 {r['connect_p95_saturated_ms']:.0f} ms when saturated vs "
                f"{r['connect_p95_unsaturated_ms']:.0f} ms otherwise"
                if r["connect_p95_saturated_ms"] is not None
                and r["connect_p95_unsaturated_ms"] is not None
                else ""
            )
        )
    elif cap is None and w is not None and p95 is not None:
        why.append(
            f"in-flight p95 {p95:.1f}; thread capacity unknown"
            + (f" ({r['worker_class']} workers are asynchronous)" if r["worker_class"] else "")
        )
    if not mem_known and not load_known:
        return "unknown", None, None, None, "; ".join(why)
    if not high and not low:
        return "ok", w, t, dynos, "; ".join(why) + "; the setting fits"
    sw, st, sd = w, t, dynos
    if high:
        sw = min(w, fit) if fit is not None else w
        if sw == w and w == 1:
            why.append("one worker already exceeds the target: a larger dyno size is needed")
        else:
            why.append(f"reduce workers to {sw}")
    if low:
        need = math.ceil(p95 * headroom)
        per_dyno_threads = t or 1
        want_w = math.ceil(need / per_dyno_threads)
        limit = fit if fit is not None else want_w
        sw = max(1, min(want_w, limit)) if not high else sw
        if sw * per_dyno_threads >= need:
            why.append(f"{headroom:g} x p95 = {need} slots: {sw} workers x {per_dyno_threads}")
        elif r["server"] == "puma" and t is not None:
            st = math.ceil(need / sw)
            why.append(
                f"{headroom:g} x p95 = {need} slots; memory allows {sw} workers, so "
                f"{st} threads each"
            )
        else:
            new_cap = sw * per_dyno_threads
            sd = math.ceil(dynos * need / new_cap) if dynos else None
            why.append(
                f"{headroom:g} x p95 = {need} slots; memory allows {new_cap} per dyno, so "
                f"{sd} dynos"
            )
    verdict = "both" if high and low else "too_high_for_memory" if high else "too_low_for_load"
    return verdict, sw, st, sd, "; ".join(why)
