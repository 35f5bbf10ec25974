"""Availability: crashes, crash loops, boot timeouts, dynos that crashed and stayed down, unclean
shutdowns, daily cycling and log loss, from the platform's own lines (the `events` table).

What the platform logs, and how it is read here:

- a crash is `State changed from <x> to crashed`, or a `Process exited with status N` (N != 0)
  that is not an orderly stop. Orderly: 143 after `Stopping all processes with SIGTERM` (within
  `shutdown_seconds`), and 137 right after an R12 exit timeout (see `unclean_shutdowns`) or
  after a SIGTERM with no `to up` in between. Any other non-zero exit after a SIGTERM (no `up`,
  no new `Starting process` and no earlier exit in between: the stopped process's own exit) is
  a crash while stopping (`during_shutdown`); the exit of the process started after it is not.
  An exit and a crashed state change of the same dyno within `pair_seconds` (the nearest exit)
  are one crash. The cause is the last R-error (R10, R14, R15, R99...) of the dyno in the
  `cause_seconds` before the crash. A one-off dyno whose non-zero exit is followed by
  `to complete` did not crash (its command failed);
- a crash loop is `min_crashes` or more crashes of one dyno, each within `gap_minutes` of the
  previous (the platform retries a crashed dyno at once, then every ~10-20 minutes);
- a dyno stayed down when it crashed after its last `State changed ... to up` and never came up
  again (no `to up`, no runtime metrics) until the end of the log; `workers` are the process
  types other than web and one-off dynos (run, scheduler, release);
- an unclean shutdown is an R12 (exit timeout): SIGTERM, the shutdown window
  (30 s; 10 s in 2012-era logs: the R12 line states it), R12, SIGKILL, exit 137;
- daily cycling is `Cycling`: the platform restarts every dyno about every 24 h (+0-216 min);
- log loss is L10/L11/L12/L13: Logplex or the log drain dropped N messages since T; one
  episode per code and reporter while the reports follow each other (`log_loss`).

Tables: `crashes`, `crash_loops`, `boot_timeouts`, `stayed_down`, `unclean_shutdowns`,
`cycling`, `log_loss`. `forensics.findings.availability` turns them into `crash`,
`crash_loop`, `boot_timeout`, `worker_down`, `unclean_shutdown` and `log_loss` findings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from forensics import heroku
from forensics.analyses.common import with_release
from forensics.analyses.memo import per_dataset
from forensics.analyses.sql import app_key_expr, query, sql_list
from forensics.heroku import process_type_sql

ONE_OFF_TYPES = tuple(sorted(heroku.ONE_OFF_TYPES))
LOG_LOSS_CODES = heroku.LOG_LOSS_CODES
# Log-loss reports of one code further apart than this (since T after the previous report)
# are separate episodes.
LOSS_GAP_MINUTES = 10.0
_PT = process_type_sql("dyno")


def _same(a: str, b: str) -> str:
    """SQL: rows `a` and `b` are about the same app and dyno."""
    return f"{a}.dyno = {b}.dyno AND {a}.app IS NOT DISTINCT FROM {b}.app"


@per_dataset
def log_end(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The last timestamp in the (cut) dataset, over every table."""
    row = query(
        con,
        "SELECT max(m) AS m FROM (SELECT max(ts) AS m FROM requests UNION ALL "
        "SELECT max(ts) FROM events UNION ALL SELECT max(ts) FROM app_logs UNION ALL "
        "SELECT max(ts) FROM dyno_metrics UNION ALL SELECT max(ts) FROM addon_metrics)",
    )
    return row["m"][0]


def app_log_ends(con: duckdb.DuckDBPyConnection) -> dict[Any, datetime]:
    """Each app's last timestamp, over every table: where its own export ends (in a dataset of
    several apps, another app's later lines say nothing of this one)."""
    union = " UNION ALL ".join(
        f"SELECT app, max(ts) AS m FROM {t} GROUP BY app"
        for t in ("requests", "events", "app_logs", "dyno_metrics", "addon_metrics")
    )
    rows = query(con, f"SELECT app, max(m) AS m FROM ({union}) GROUP BY app")
    return {app: m for app, m in rows.iter_rows() if m is not None}


# ----- tables --------------------------------------------------------------------------------


@per_dataset
def crashes(
    con: duckdb.DuckDBPyConnection,
    *,
    shutdown_seconds: int = 60,
    pair_seconds: int = 10,
    cause_seconds: int = 60,
) -> pl.DataFrame:
    """One row per crash (see the module doc for what counts).

    Answers: which dyno crashed when, with which exit status and why? `during_shutdown` marks a
    non-zero exit other than 143/137 right after a SIGTERM (the process failed while stopping).

    Columns: ts, app, dyno, process_type, release (in effect at ts), from_state (null when only
    the exit line is logged), exit_status, cause (R-code or null), cause_description,
    during_shutdown, source_file, line_no (the crash line), exit_line_no, cause_line_no.
    """
    df = query(
        con,
        f"""
        WITH ev AS (SELECT * FROM events WHERE dyno IS NOT NULL),
        exits AS (
            SELECT x.app, x.dyno, x.ts, x.exit_status, x.source_file, x.line_no,
                   (SELECT max(s.ts) FROM ev s WHERE s.kind = 'stop' AND s.signal = 'SIGTERM'
                    AND {_same("s", "x")} AND s.ts <= x.ts
                    AND s.ts >= x.ts - INTERVAL {int(shutdown_seconds)} SECOND) AS sigterm_ts,
                   EXISTS (SELECT 1 FROM ev r WHERE r.kind = 'error' AND r.code = 'R12'
                           AND {_same("r", "x")} AND r.ts <= x.ts
                           AND r.ts >= x.ts - INTERVAL 10 SECOND) AS after_r12
            FROM ev x WHERE x.kind = 'exit' AND x.exit_status IS NOT NULL
        ),
        exits2 AS (
            SELECT *, sigterm_ts IS NOT NULL AND NOT EXISTS (
                       SELECT 1 FROM ev u
                       WHERE ((u.kind = 'state_change' AND u.to_state = 'up')
                              OR u.kind = 'start' OR u.kind = 'exit')
                       AND {_same("u", "exits")} AND u.ts > exits.sigterm_ts
                       AND (u.ts < exits.ts OR (u.ts = exits.ts AND u.line_no < exits.line_no
                            AND u.source_file IS NOT DISTINCT FROM exits.source_file))
                       ) AS stopping
            FROM exits
        ),
        exits3 AS (
            SELECT *, (exit_status = 143 AND sigterm_ts IS NOT NULL)
                      OR (exit_status = 137 AND (after_r12 OR stopping)) AS orderly,
                      stopping AND exit_status NOT IN (0, 143, 137) AS after_sigterm
            FROM exits2
        ),
        bad AS (
            SELECT * FROM exits3 x WHERE exit_status <> 0 AND NOT orderly
            AND NOT EXISTS (SELECT 1 FROM ev c WHERE c.kind = 'state_change'
                            AND c.to_state = 'complete' AND {_same("c", "x")}
                            AND c.ts BETWEEN x.ts AND x.ts + INTERVAL {int(pair_seconds)} SECOND)
        ),
        cs AS (
            SELECT app, dyno, ts, from_state, source_file, line_no FROM ev
            WHERE kind = 'state_change' AND to_state = 'crashed'
        ),
        pairs AS (
            SELECT c.app, c.dyno, c.ts, e.exit_status, e.line_no AS exit_line_no,
                   e.source_file AS exit_file, e.after_sigterm,
                   row_number() OVER (PARTITION BY c.app, c.dyno, c.ts, c.line_no
                                      ORDER BY abs(epoch(c.ts) - epoch(e.ts)), e.line_no) AS rn
            FROM cs c JOIN exits3 e ON {_same("e", "c")}
             AND e.ts BETWEEN c.ts - INTERVAL {int(pair_seconds)} SECOND
                          AND c.ts + INTERVAL {int(pair_seconds)} SECOND
        ),
        crash AS (
            SELECT c.ts, c.app, c.dyno, c.from_state, p.exit_status,
                   coalesce(p.after_sigterm, false) AS during_shutdown,
                   c.source_file, c.line_no, p.exit_line_no
            FROM cs c LEFT JOIN pairs p
              ON p.rn = 1 AND {_same("p", "c")} AND p.ts = c.ts
            UNION ALL
            SELECT b.ts, b.app, b.dyno, NULL, b.exit_status, b.after_sigterm,
                   b.source_file, b.line_no, b.line_no
            FROM bad b
            WHERE NOT EXISTS (
                SELECT 1 FROM pairs p WHERE p.rn = 1 AND {_same("p", "b")}
                AND p.exit_line_no = b.line_no AND p.exit_file IS NOT DISTINCT FROM b.source_file)
        ),
        causes AS (
            SELECT k.ts, k.app, k.dyno, k.line_no, r.code, r.description,
                   r.line_no AS cause_line_no,
                   row_number() OVER (PARTITION BY k.ts, k.app, k.dyno, k.line_no
                                      ORDER BY r.ts DESC, r.line_no DESC) AS rn
            FROM crash k JOIN ev r ON {_same("r", "k")} AND r.kind = 'error'
             AND r.code LIKE 'R%' AND r.ts <= k.ts + INTERVAL 1 SECOND
             AND r.ts >= k.ts - INTERVAL {int(cause_seconds)} SECOND
        )
        SELECT k.ts, k.app, k.dyno, {process_type_sql("k.dyno")} AS process_type,
               k.from_state, k.exit_status, c.code AS cause, c.description AS cause_description,
               k.during_shutdown, k.source_file, k.line_no, k.exit_line_no, c.cause_line_no
        FROM crash k LEFT JOIN causes c
          ON c.rn = 1 AND c.ts = k.ts AND {_same("c", "k")} AND c.line_no = k.line_no
        ORDER BY k.ts, k.line_no
        """,
    )
    return _with_release_after(con, df, "ts", "process_type")


def _with_release_after(
    con: duckdb.DuckDBPyConnection, df: pl.DataFrame, ts_col: str, after: str
) -> pl.DataFrame:
    """`with_release`, with the `release` column placed right after column `after`."""
    df = with_release(con, df, ts_col)
    cols = [c for c in df.columns if c != "release"]
    i = cols.index(after) + 1
    return df.select([*cols[:i], "release", *cols[i:]])


def crash_loops(
    con: duckdb.DuckDBPyConnection,
    *,
    gap_minutes: float = 30,
    min_crashes: int = 3,
    crash_table: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Crash loops: `min_crashes` or more crashes of one dyno, each within `gap_minutes` of the
    previous one (crashes while stopping, `during_shutdown`, are left out).

    Answers: which dyno kept crashing on restart, from when to when?

    Columns: app, dyno, process_type, release (at the first crash), start, end (first and last
    crash), crashes, mean_gap_minutes, exit_statuses (list, distinct), causes (list, distinct),
    line_nos (list of crash lines), source_file.
    """
    k = crash_table if crash_table is not None else crashes(con)
    k = k.filter(~pl.col("during_shutdown"))
    schema = {
        "app": pl.String,
        "dyno": pl.String,
        "process_type": pl.String,
        "release": pl.String,
        "start": k.schema["ts"],
        "end": k.schema["ts"],
        "crashes": pl.UInt32,
        "mean_gap_minutes": pl.Float64,
        "exit_statuses": pl.List(pl.Int32),
        "causes": pl.List(pl.String),
        "line_nos": pl.List(pl.Int64),
        "source_file": pl.String,
    }
    if k.is_empty():
        return pl.DataFrame(schema=schema)
    gap = pl.duration(seconds=gap_minutes * 60)
    by = ["app", "dyno"]
    k = k.sort("app", "dyno", "ts", nulls_last=False).with_columns(
        new=(pl.col("ts").diff().over(by).is_null() | (pl.col("ts").diff().over(by) > gap))
    )
    k = k.with_columns(episode=pl.col("new").cum_sum().over(by))
    loops = (
        k.group_by([*by, "episode"], maintain_order=True)
        .agg(
            pl.col("process_type").first(),
            pl.col("release").first(),
            pl.col("ts").min().alias("start"),
            pl.col("ts").max().alias("end"),
            pl.len().alias("crashes"),
            pl.col("exit_status").drop_nulls().unique().sort().alias("exit_statuses"),
            pl.col("cause").drop_nulls().unique().sort().alias("causes"),
            pl.col("line_no").alias("line_nos"),
            pl.col("source_file").first(),
        )
        .filter(pl.col("crashes") >= min_crashes)
        .with_columns(
            mean_gap_minutes=(pl.col("end") - pl.col("start")).dt.total_seconds(fractional=True)
            / 60
            / (pl.col("crashes") - 1)
        )
    )
    return loops.select(list(schema)).cast(schema).sort("start")  # type: ignore[arg-type]


def boot_timeouts(con: duckdb.DuckDBPyConnection, *, crash_seconds: int = 60) -> pl.DataFrame:
    """R10 boot timeouts: the process did not bind to $PORT in time and was killed.

    Answers: which dyno failed to boot in time, and did it crash because of it?

    Columns: ts, app, dyno, process_type, release, description, crashed (a crashed state change
    of the dyno within `crash_seconds` after), command (of the dyno's last `Starting process`
    before), source_file, line_no.
    """
    df = query(
        con,
        f"""
        SELECT r.ts, r.app, r.dyno, {process_type_sql("r.dyno")} AS process_type, r.description,
               EXISTS (SELECT 1 FROM events c WHERE c.kind = 'state_change'
                       AND c.to_state = 'crashed' AND {_same("c", "r")} AND c.ts >= r.ts
                       AND c.ts <= r.ts + INTERVAL {int(crash_seconds)} SECOND) AS crashed,
               (SELECT s.command FROM events s WHERE s.kind = 'start' AND {_same("s", "r")}
                AND s.ts <= r.ts ORDER BY s.ts DESC LIMIT 1) AS command,
               r.source_file, r.line_no
        FROM events r WHERE r.kind = 'error' AND r.code = 'R10'
        ORDER BY r.ts, r.line_no
        """,
    )
    return _with_release_after(con, df, "ts", "process_type")


def stayed_down(
    con: duckdb.DuckDBPyConnection, *, crash_table: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Dynos that crashed after their last `State changed ... to up` and were still down at the
    end of the log (last state not `down`, i.e. not scaled away; no runtime metrics after the
    last crash).

    Answers: which dyno has been down, since when and for how long? `worker` is true for process
    types other than web and one-off dynos (run, scheduler, release, console, rake).

    Columns: app, dyno, process_type, worker, release (at down_since), down_since (first crash
    after the last up), last_crash, crashes (since down_since), restart_attempts (`crashed to
    starting` since down_since), last_state, log_end, down_minutes, exit_status and cause (of
    the first crash), source_file, line_no (first crash), line_nos (all crash lines since).
    """
    k = crash_table if crash_table is not None else crashes(con)
    k = k.filter(~pl.col("during_shutdown"))
    end = log_end(con)
    state = query(
        con,
        """
        SELECT app, dyno, max(ts) FILTER (WHERE to_state = 'up') AS last_up,
               arg_max(to_state, ts) AS last_state
        FROM events WHERE kind = 'state_change' AND dyno IS NOT NULL GROUP BY ALL
        """,
    )
    retries = query(
        con,
        "SELECT app, dyno, ts FROM events WHERE kind = 'state_change' "
        "AND from_state = 'crashed' AND to_state = 'starting'",
    )
    metrics = query(con, "SELECT app, dyno, max(ts) AS last_metric FROM dyno_metrics GROUP BY ALL")
    key = [app_key_expr(alias="_app"), "dyno"]
    st = state.with_columns(key[0])
    d = k.with_columns(key[0]).join(st.drop("app"), on=["_app", "dyno"], how="left")
    d = d.filter(pl.col("last_up").is_null() | (pl.col("ts") > pl.col("last_up")))
    d = d.filter(pl.col("last_state").is_null() | (pl.col("last_state") != "down"))
    agg = (
        d.sort("ts")
        .group_by("_app", "dyno", maintain_order=True)
        .agg(
            pl.col("app").first(),
            pl.col("process_type").first(),
            pl.col("release").first(),
            pl.col("ts").min().alias("down_since"),
            pl.col("ts").max().alias("last_crash"),
            pl.len().alias("crashes"),
            pl.col("last_state").first(),
            pl.col("exit_status").first(),
            pl.col("cause").first(),
            pl.col("source_file").first(),
            pl.col("line_no").first(),
            pl.col("line_no").alias("line_nos"),
        )
    )
    m = metrics.with_columns(key[0]).drop("app")
    agg = agg.join(m, on=["_app", "dyno"], how="left").filter(
        pl.col("last_metric").is_null() | (pl.col("last_metric") <= pl.col("last_crash"))
    )
    r = (
        retries.with_columns(key[0])
        .drop("app")
        .join(agg.select("_app", "dyno", "down_since"), on=["_app", "dyno"])
        .filter(pl.col("ts") >= pl.col("down_since"))
        .group_by("_app", "dyno")
        .agg(pl.len().alias("restart_attempts"))
    )
    agg = agg.join(r, on=["_app", "dyno"], how="left")
    worker = (pl.col("process_type") != "web") & ~pl.col("process_type").is_in(ONE_OFF_TYPES)
    end_lit = pl.lit(end, dtype=k.schema["ts"])
    return (
        agg.with_columns(
            worker.alias("worker"),
            pl.col("restart_attempts").fill_null(0).cast(pl.UInt32),
            end_lit.alias("log_end"),
            ((end_lit - pl.col("down_since")).dt.total_seconds(fractional=True) / 60).alias(
                "down_minutes"
            ),
        )
        .select(
            "app",
            "dyno",
            "process_type",
            "worker",
            "release",
            "down_since",
            "last_crash",
            pl.col("crashes").cast(pl.UInt32),
            "restart_attempts",
            "last_state",
            "log_end",
            "down_minutes",
            "exit_status",
            "cause",
            "source_file",
            "line_no",
            "line_nos",
        )
        .sort("down_since")
    )


def unclean_shutdowns(con: duckdb.DuckDBPyConnection, *, window_seconds: int = 120) -> pl.DataFrame:
    """R12 exit timeouts: after SIGTERM a process did not exit in time and was SIGKILLed.

    Answers: which dyno was killed uncleanly, when, and what stop was it (cycling, restart,
    deploy, scale-down)? `release` is the release in effect at the R12 (for a deploy, the new
    one); `process_release` the one in effect when the killed process started (its last
    `Starting process`, or the log start when it started before the log), i.e. the code that
    hung.

    Columns: ts (the R12), app, dyno, process_type, release, process_release, trigger
    (cycling / restarting / stop), sigterm_ts, sigkill_ts, exit_status, seconds_to_kill
    (SIGTERM to SIGKILL), shutdown_seconds (the window the R12 line states, 30 s when it states
    none: `forensics.heroku.shutdown_seconds`), source_file, line_no, sigkill_line_no,
    exit_line_no.
    """
    w = int(window_seconds)
    df = query(
        con,
        f"""
        WITH ev AS (SELECT * FROM events WHERE dyno IS NOT NULL),
        r12 AS (SELECT * FROM ev WHERE kind = 'error' AND code = 'R12'),
        x AS (
            SELECT r.ts, r.app, r.dyno, r.source_file, r.line_no,
                {heroku.shutdown_seconds_sql("r.message")} AS shutdown_seconds,
                (SELECT max(s.ts) FROM ev s WHERE s.kind = 'stop' AND s.signal = 'SIGTERM'
                 AND {_same("s", "r")} AND s.ts <= r.ts
                 AND s.ts >= r.ts - INTERVAL {w} SECOND) AS sigterm_ts,
                (SELECT arg_min(struct_pack(ts := k.ts, line := k.line_no), k.ts) FROM ev k
                 WHERE k.kind = 'stop' AND k.signal = 'SIGKILL' AND {_same("k", "r")}
                 AND k.ts >= r.ts AND k.ts <= r.ts + INTERVAL 10 SECOND) AS kill,
                (SELECT arg_min(struct_pack(st := e.exit_status, line := e.line_no), e.ts)
                 FROM ev e WHERE e.kind = 'exit' AND {_same("e", "r")}
                 AND e.ts >= r.ts AND e.ts <= r.ts + INTERVAL 10 SECOND) AS ex,
                (SELECT arg_max(t.kind, t.ts) FROM ev t
                 WHERE t.kind IN ('cycling', 'restarting') AND {_same("t", "r")}
                 AND t.ts <= r.ts AND t.ts >= r.ts - INTERVAL {w} SECOND) AS trig,
                (SELECT max(p.ts) FROM ev p WHERE p.kind = 'start' AND {_same("p", "r")}
                 AND p.ts < r.ts - to_seconds({heroku.shutdown_seconds_sql("r.message")}))
                   AS process_start
            FROM r12 r
        )
        SELECT ts, app, dyno, {_PT} AS process_type,
               coalesce(trig, 'stop') AS trigger, sigterm_ts, kill.ts AS sigkill_ts,
               ex.st AS exit_status,
               epoch(kill.ts) - epoch(sigterm_ts) AS seconds_to_kill, shutdown_seconds,
               source_file, line_no, kill.line AS sigkill_line_no, ex.line AS exit_line_no,
               coalesce(process_start, (SELECT min(ts) FROM events)) AS process_start
        FROM x ORDER BY ts, line_no
        """,
    )
    df = with_release(con, df, "process_start", out="process_release").drop("process_start")
    df = _with_release_after(con, df, "ts", "process_type")
    cols = [c for c in df.columns if c != "process_release"]
    i = cols.index("release") + 1
    return df.select([*cols[:i], "process_release", *cols[i:]])


def cycling(con: duckdb.DuckDBPyConnection, *, window_seconds: int = 120) -> pl.DataFrame:
    """Daily cycling: one row per `Cycling` line.

    Answers: when did the platform cycle each dyno, and was that the usual ~24 h after the
    process started? `uptime_hours` runs from the dyno's last `Starting process` before the
    cycling (null when it started before the log); `hours_since_previous` from its previous
    cycling (null for the first one seen). `r12` marks a cycling that ended in an R12 within
    `window_seconds`.

    Columns: ts, app, dyno, process_type, release, process_start, uptime_hours,
    previous_cycling, hours_since_previous, r12, source_file, line_no.
    """
    df = query(
        con,
        f"""
        WITH c AS (SELECT * FROM events WHERE kind = 'cycling' AND dyno IS NOT NULL)
        SELECT c.ts, c.app, c.dyno, {process_type_sql("c.dyno")} AS process_type,
               (SELECT max(s.ts) FROM events s WHERE s.kind = 'start' AND {_same("s", "c")}
                AND s.ts < c.ts) AS process_start,
               lag(c.ts) OVER (PARTITION BY c.app, c.dyno ORDER BY c.ts) AS previous_cycling,
               EXISTS (SELECT 1 FROM events r WHERE r.kind = 'error' AND r.code = 'R12'
                       AND {_same("r", "c")} AND r.ts >= c.ts
                       AND r.ts <= c.ts + INTERVAL {int(window_seconds)} SECOND) AS r12,
               c.source_file, c.line_no
        FROM c ORDER BY c.ts, c.line_no
        """,
    )
    hours = 3600.0
    df = df.with_columns(
        ((pl.col("ts") - pl.col("process_start")).dt.total_seconds(fractional=True) / hours).alias(
            "uptime_hours"
        ),
        (
            (pl.col("ts") - pl.col("previous_cycling")).dt.total_seconds(fractional=True) / hours
        ).alias("hours_since_previous"),
    )
    df = _with_release_after(con, df, "ts", "process_type")
    return df.select(
        "ts",
        "app",
        "dyno",
        "process_type",
        "release",
        "process_start",
        "uptime_hours",
        "previous_cycling",
        "hours_since_previous",
        "r12",
        "source_file",
        "line_no",
    )


def log_loss(
    con: duckdb.DuckDBPyConnection,
    *,
    codes: tuple[str, ...] = LOG_LOSS_CODES,
    gap_minutes: float = LOSS_GAP_MINUTES,
) -> pl.DataFrame:
    """Log loss: Logplex / drain errors saying messages were dropped (L10 output buffer
    overflow, L11 tail buffer overflow, L12 local buffer overflow, L13 local delivery error),
    one row per episode of one code from one reporter.

    Answers: is the log complete, and where is it not? Logplex logs a report when it can
    deliver again, so a report stands for the lines missing *before* it: "500 messages dropped
    since T" (the L11 wording: "dropped 1101 messages since T"). `since` is the earliest T of
    the episode (the report's own time when it names none), `first`/`last` the reports' times;
    the log is incomplete from `since` to `last`. Reports of one code and reporter are one
    episode while each one's T is at most `gap_minutes` after the previous report (an overflow
    that goes on is reported again and again; two overflows hours apart are two episodes).
    `dropped` sums the N of the reports; a report without a number counts 0.

    Columns: app, code, dyno (the reporting process, e.g. logplex), errors, dropped, since,
    first, last, description (first seen), line_nos (list), source_file.
    """
    since_re = r"since (\d{4}-\d\d-\d\d[T ][0-9:.]+(?:Z|[+-]\d\d:?\d\d)?)"
    return query(
        con,
        f"""
        WITH e AS (
            SELECT app, code, dyno, ts, line_no, source_file, description,
                   coalesce(dropped,
                       TRY_CAST(regexp_extract(coalesce(description, message),
                                '(\\d+) messages', 1) AS BIGINT),
                       TRY_CAST(regexp_extract(coalesce(description, message),
                                'dropped (\\d+)', 1) AS BIGINT),
                       0) AS n,
                   least(ts, coalesce(TRY_CAST(nullif(regexp_extract(
                       coalesce(description, message), '{since_re}', 1), '') AS TIMESTAMPTZ),
                       ts)) AS since
            FROM events WHERE kind = 'error' AND code IN {sql_list(codes)}
        ),
        s AS (
            SELECT *, sum(CASE WHEN prev IS NULL
                                 OR since > prev + INTERVAL ({float(gap_minutes) * 60}) SECOND
                               THEN 1 ELSE 0 END)
                          OVER (PARTITION BY app, code, dyno ORDER BY ts, line_no) AS episode
            FROM (SELECT *, max(ts) OVER (PARTITION BY app, code, dyno ORDER BY ts, line_no
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                            AS prev
                  FROM e)
        )
        SELECT app, code, dyno, count(*) AS errors, CAST(sum(n) AS BIGINT) AS dropped,
               min(since) AS since, min(ts) AS first, max(ts) AS last,
               arg_min(description, ts) AS description,
               list(line_no ORDER BY ts, line_no) AS line_nos,
               min(source_file) AS source_file
        FROM s GROUP BY app, code, dyno, episode ORDER BY since, code, dyno
        """,
    )


# ----- crashes with context, and the event timeline (what the report draws) -----------------


def crash_context(
    con: duckdb.DuckDBPyConnection,
    *,
    crash_table: pl.DataFrame | None = None,
    context_seconds: int = 120,
) -> pl.DataFrame:
    """`crashes` with the dyno's last app line (not a backtrace continuation) in the
    `context_seconds` before each crash: often the exception that killed it.

    Columns: those of `crashes`, then last_app_line, last_app_line_no.
    """
    k = crash_table if crash_table is not None else crashes(con)
    if k.is_empty():
        return k.with_columns(
            pl.lit(None, pl.String).alias("last_app_line"),
            pl.lit(None, pl.Int64).alias("last_app_line_no"),
        )
    keys = k.select("dyno", "ts").unique().with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    con.register("_crash_keys", keys.to_arrow())
    try:
        lines = query(
            con,
            f"""
            WITH a AS (
                SELECT DISTINCT a.dyno, a.ts, a.message, a.line_no
                FROM app_logs a JOIN _crash_keys c
                  ON a.dyno = c.dyno AND a.ts <= c.ts
                 AND a.ts >= c.ts - INTERVAL {int(context_seconds)} SECOND
                WHERE NOT regexp_matches(a.message, '^\\s')
            )
            SELECT c.dyno, c.ts, a.message AS last_app_line, a.line_no AS last_app_line_no
            FROM _crash_keys c ASOF LEFT JOIN a ON c.dyno = a.dyno AND c.ts >= a.ts
            """,
        )
    finally:
        con.unregister("_crash_keys")
    lines = lines.with_columns(pl.col("ts").cast(k.schema["ts"]))
    return k.join(lines, on=["dyno", "ts"], how="left", nulls_equal=True)


TIMELINE_KINDS = (
    "release",
    "deploy",
    "rollback",
    "scale",
    "restart",
    "crash",
    "error",
    "down",
    "stopped",
)
APP_LANE = "app"
_TL_TS = pl.Datetime("us", "UTC")
TIMELINE_SCHEMA = {
    "lane": pl.String,
    "kind": pl.String,
    "ts": _TL_TS,
    "ts_end": _TL_TS,
    "label": pl.String,
    "detail": pl.String,
}


def timeline(
    con: duckdb.DuckDBPyConnection,
    *,
    dyno: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    max_dynos: int = 24,
    max_events: int = 4000,
    lifetimes: pl.DataFrame | None = None,
    crash_table: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """What happened when, one row per event or period: lane (`app` or a dyno), kind (see
    TIMELINE_KINDS), ts, ts_end (periods only), label, detail.

    - app lane: release (label v42), deploy (commit), rollback, scale (formation);
    - dyno lanes: restart (lifetime start inside the log, label = cause), crash (the rows of
      `crashes`, detail with the last app line of `crash_context`), error (platform errors
      except the very frequent R14), down (from a crash until the dyno is `up` again or the
      log ends; crashes in a row without an `up` between are one period) and stopped (`to
      down` until up again);
    - at most `max_dynos` lanes (dynos with the most events first) and `max_events` rows (the
      earliest kept).
    """
    from forensics.analyses.lifetimes import given_or_computed
    from forensics.analyses.series import conform, where

    cond, params = where(dyno=dyno, since=since, until=until)
    app_cond, app_params = where(since=since, until=until)
    app = query(
        con,
        f"""
        SELECT '{APP_LANE}' AS lane, kind, min(ts) AS ts,
               coalesce(release, commit, formation, kind) AS label,
               arg_min(message, ts) AS detail
        FROM events
        WHERE {app_cond} AND kind IN ('release', 'deploy', 'rollback', 'scale')
        GROUP BY kind, label, CASE WHEN kind = 'release' THEN NULL ELSE ts END
        """,
        app_params,
    )
    k = crash_context(con, crash_table=crash_table if crash_table is not None else crashes(con))
    k = _filtered(k, "ts", dyno, since, until)
    crash_rows = k.select(
        pl.col("dyno").alias("lane"),
        pl.lit("crash").alias("kind"),
        "ts",
        pl.format("exit {}", pl.col("exit_status").cast(pl.String).fill_null("?")).alias("label"),
        pl.format(
            "crashed (from {}), exit status {}, cause {}; last app line: {}",
            pl.col("from_state").fill_null("?"),
            pl.col("exit_status").cast(pl.String).fill_null("?"),
            pl.col("cause").fill_null("?"),
            pl.col("last_app_line").fill_null("(none)"),
        ).alias("detail"),
    )
    errors = query(
        con,
        f"""
        SELECT dyno AS lane, 'error' AS kind, ts, code AS label,
               code || ' ' || coalesce(description, '') AS detail
        FROM events WHERE {cond} AND dyno IS NOT NULL AND kind = 'error'
          AND code IS NOT NULL AND code <> 'R14'
          AND regexp_full_match(dyno, '{heroku.DYNO_NAME_RE}')
        """,
        params,
    )
    end = log_end(con)
    periods = _down_periods(con, k, end, dyno, since, until)
    lt = given_or_computed(con, lifetimes)
    restarts = _filtered(lt.filter(~pl.col("started_before_log")), "start", dyno, since, until)
    restarts = restarts.select(
        pl.col("dyno").alias("lane"),
        pl.lit("restart").alias("kind"),
        pl.col("start").alias("ts"),
        pl.col("start_cause").alias("label"),
        pl.format(
            "{} started ({}), release {}",
            "lifetime_id",
            "start_cause",
            pl.col("release").fill_null("?"),
        ).alias("detail"),
    )
    rows = pl.concat(
        [conform(f, TIMELINE_SCHEMA) for f in (crash_rows, errors, periods, restarts)]
    ).drop_nulls("ts")
    lanes = (
        rows.group_by("lane").len().sort(["len", "lane"], descending=[True, False]).head(max_dynos)
    )
    rows = rows.filter(pl.col("lane").is_in(lanes["lane"].to_list()))
    out = pl.concat([conform(app, TIMELINE_SCHEMA), rows])
    # releases last among equal times, so their mark is drawn over the deploy's
    return out.sort(pl.col("ts"), pl.col("kind") == "release").head(max_events)


def _filtered(
    df: pl.DataFrame, ts: str, dyno: str | None, since: datetime | None, until: datetime | None
) -> pl.DataFrame:
    """Rows of `df` for a dyno (or process type) and a time window, like `series.where`."""
    if dyno is not None:
        df = df.filter((pl.col("dyno") == dyno) | pl.col("dyno").str.starts_with(dyno + "."))
    if since is not None:
        df = df.filter(pl.col(ts) >= since)
    if until is not None:
        df = df.filter(pl.col(ts) < until)
    return df


def _down_periods(
    con: duckdb.DuckDBPyConnection,
    k: pl.DataFrame,
    end: datetime | None,
    dyno: str | None,
    since: datetime | None,
    until: datetime | None,
) -> pl.DataFrame:
    """`down` periods (from a crash of `k` until the dyno's next `to up`, else the log end) and
    `stopped` periods (`to down` until up again); consecutive crashes make one period."""
    from forensics.analyses.series import where

    cond, params = where(dyno=dyno, since=since, until=until)
    states = query(
        con,
        f"""
        SELECT dyno, ts, to_state FROM events
        WHERE {cond} AND kind = 'state_change' AND dyno IS NOT NULL
          AND to_state IN ('up', 'down')
        """,
        params,
    )
    starts = pl.concat(
        [
            k.select("dyno", "ts", pl.lit("crashed").alias("to_state")),
            states.select("dyno", pl.col("ts").cast(k.schema["ts"]), "to_state"),
        ]
    ).sort("dyno", "ts")
    starts = starts.with_columns(
        pl.col("to_state").shift(1).over("dyno").alias("prev_state")
    ).filter(
        pl.col("to_state").is_in(["crashed", "down"])
        & (pl.col("prev_state").is_null() | ~pl.col("prev_state").is_in(["crashed", "down"]))
    )
    ups = (
        states.filter(pl.col("to_state") == "up")
        .select("dyno", pl.col("ts").cast(k.schema["ts"]).alias("up_ts"))
        .sort("up_ts")
    )
    j = starts.sort("ts").join_asof(
        ups,
        left_on="ts",
        right_on="up_ts",
        by="dyno",
        strategy="forward",
        allow_exact_matches=False,
        check_sortedness=False,  # both sorted by time above
    )
    end_lit = pl.lit(end).cast(k.schema["ts"])
    crashed = pl.col("to_state") == "crashed"
    return j.select(
        pl.col("dyno").alias("lane"),
        pl.when(crashed).then(pl.lit("down")).otherwise(pl.lit("stopped")).alias("kind"),
        "ts",
        pl.coalesce("up_ts", end_lit).alias("ts_end"),
        pl.col("to_state").alias("label"),
        pl.format(
            "{} until {}",
            pl.when(crashed).then(pl.lit("crashed")).otherwise(pl.lit("stopped")),
            pl.when(pl.col("up_ts").is_null())
            .then(pl.lit("the end of the log"))
            .otherwise(pl.lit("up again")),
        ).alias("detail"),
    )
