"""One-off runs: scheduler jobs, `heroku run` commands and release-phase commands, and how each
ended.

A one-off dyno (`scheduler.4821`, `run.1234`, `release.8012`; `heroku.ONE_OFF_TYPES`) runs one
command and stops: `Starting process with command ...`, `State changed from starting to up`,
the app's output, `Process exited with status N`, `State changed from up to complete`. A
non-zero exit there is not a crash of the formation (nothing restarts it, nothing is down), so
`availability.crashes` leaves it out; it is a job that failed, and nobody may have noticed:
a scheduler job that fails every hour, or a release command whose failure kept a release from
going live ("If the release command exits with a non-zero exit status ... the release will fail
and will not be deployed", Dev Center, *Release Phase*).

A run is the events of one one-off dyno from one start to the next (a dyno name is reused
only rarely). Its outcome: `succeeded` (exit 0), `failed` (any other exit, a crash, or an R15
kill), `disconnected` (a `heroku run` whose client went away: SIGHUP), `stopped` (stopped by
the platform or a user with SIGTERM/SIGKILL: 143/137 after a stop), `completed` (`up to
complete` with no exit status logged), `unfinished` (no exit before the log ends). A
release-phase run belongs to the release named by the last `Running release vN commands`
event before it.

Example lines (the first one wrapped here)::

    2026-05-12T08:05:02.000000+00:00 heroku[scheduler.4000]: Starting process with command
        `bundle exec rake reports:nightly`
    2026-05-12T08:05:10.000000+00:00 heroku[scheduler.4000]: Process exited with status 1
    2026-05-12T08:05:10.000000+00:00 heroku[scheduler.4000]: State changed from up to complete
"""

from __future__ import annotations

import duckdb
import polars as pl

from forensics.analyses.sql import app_key_sql, names_sql, query
from forensics.heroku import ONE_OFF_TYPES, process_type_sql

# How long before a run its API event `Starting process with command ... by user` may come.
RUN_COMMAND_SECONDS = 120
# How long before a release-phase run its `Running release vN commands` event may come.
RELEASE_PHASE_MINUTES = 15
OUTCOMES = ("succeeded", "failed", "completed", "disconnected", "stopped", "unfinished")

_COLUMNS = {
    "app": pl.String,
    "dyno": pl.String,
    "process_type": pl.String,
    "run": pl.Int64,
    "command": pl.String,
    "release": pl.String,
    "start": pl.Datetime("us", "UTC"),
    "end": pl.Datetime("us", "UTC"),
    "exit_status": pl.Int32,
    "platform_cause": pl.String,
    "outcome": pl.String,
    "source_file": pl.String,
    "line_no": pl.Int64,
    "first_line_no": pl.Int64,
}


def job_runs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per one-off run, in time order.

    Answers: which scheduler jobs, one-off commands and release commands ran, and which failed?

    Columns: app, dyno, process_type (scheduler, run, release, ...), run (1, 2, ... per dyno),
    command (of its `Starting process`, else of the API's `Starting process with command ...
    by user` just before; null for a release-phase run, whose logged command is the platform's
    wrapper around a signed URL), release (the release in effect; for a release-phase
    run, the release it was run for), start, end (its exit, or its last event), exit_status,
    platform_cause (R14/R15/R99 logged by its dyno, or null), outcome (`OUTCOMES`),
    source_file, line_no (its exit line, else its last event), first_line_no (its first
    event).
    """
    pt = process_type_sql("dyno")
    df = query(
        con,
        f"""
        WITH ev AS (
            SELECT *, {pt} AS ptype, {app_key_sql("app")} AS akey FROM events
            WHERE dyno IS NOT NULL AND {pt} IN {names_sql(ONE_OFF_TYPES)}
        ),
        numbered AS (
            SELECT *, sum(CASE WHEN kind = 'start' THEN 1 ELSE 0 END) OVER (
                       PARTITION BY akey, dyno ORDER BY ts, source_file, line_no
                       ROWS UNBOUNDED PRECEDING) AS n
            FROM ev
        ),
        runs AS (
            SELECT any_value(app) AS app, akey, dyno, any_value(ptype) AS process_type,
                   greatest(n, 1) AS run,
                   arg_min(command, ts) FILTER (WHERE kind = 'start') AS command,
                   min(ts) AS start, max(ts) AS last_ts,
                   arg_max(exit_status, ts) FILTER (WHERE kind = 'exit') AS exit_status,
                   max(ts) FILTER (WHERE kind = 'exit') AS exit_ts,
                   arg_max(line_no, ts) FILTER (WHERE kind = 'exit') AS exit_line,
                   arg_max(source_file, ts) FILTER (WHERE kind = 'exit') AS exit_file,
                   arg_max(line_no, ts) AS last_line, arg_max(source_file, ts) AS last_file,
                   min(line_no) AS first_line_no,
                   bool_or(kind = 'state_change' AND to_state = 'crashed') AS crashed,
                   bool_or(kind = 'sighup') AS sighup,
                   bool_or(kind = 'state_change' AND to_state = 'complete') AS completed,
                   bool_or(kind = 'stop') AS stopped,
                   arg_max(code, ts) FILTER (WHERE kind = 'error'
                        AND code IN ('R14', 'R15', 'R99')) AS platform_cause
            FROM numbered GROUP BY akey, dyno, greatest(n, 1)
        ),
        rel AS (
            SELECT {app_key_sql("app")} AS akey, ts, release, kind FROM events
            WHERE kind IN ('release', 'release_phase', 'rollback') AND release IS NOT NULL
        )
        SELECT r.*,
            (SELECT arg_max(c.command, c.ts) FROM events c WHERE c.kind = 'run_command'
             AND {app_key_sql("c.app")} = r.akey AND c.ts <= r.start
             AND c.ts >= r.start - INTERVAL {RUN_COMMAND_SECONDS} SECOND) AS api_command,
            CASE WHEN r.process_type = 'release' THEN (
                SELECT arg_max(x.release, x.ts) FROM rel x WHERE x.akey = r.akey
                AND x.kind = 'release_phase' AND x.ts <= r.start
                AND x.ts >= r.start - INTERVAL {RELEASE_PHASE_MINUTES} MINUTE) END AS phase_of,
            (SELECT arg_max(x.release, x.ts) FROM rel x WHERE x.akey = r.akey
             AND x.kind IN ('release', 'rollback') AND x.ts <= r.start) AS in_effect
        FROM runs r ORDER BY r.start, r.dyno
        """,
    )
    if df.is_empty():
        return pl.DataFrame(schema=_COLUMNS)
    return df.with_columns(
        # A release command is the platform's wrapper (with a signed S3 URL): never shown.
        pl.when(pl.col("process_type") != "release")
        .then(pl.coalesce("command", "api_command"))
        .alias("command"),
        pl.coalesce("phase_of", "in_effect").alias("release"),
        pl.coalesce("exit_ts", "last_ts").alias("end"),
        _outcome().alias("outcome"),
        pl.coalesce("exit_file", "last_file").alias("source_file"),
        pl.coalesce("exit_line", "last_line").alias("line_no"),
    ).select(list(_COLUMNS))


def _outcome() -> pl.Expr:
    status = pl.col("exit_status")
    return (
        pl.when(status == 0)
        .then(pl.lit("succeeded"))
        .when(pl.col("sighup") & (status.is_null() | (status == 129)))
        .then(pl.lit("disconnected"))
        .when(pl.col("platform_cause").is_in(["R15", "R99"]) | pl.col("crashed"))
        .then(pl.lit("failed"))
        .when(pl.col("stopped") & (status.is_null() | status.is_in([143, 137])))
        .then(pl.lit("stopped"))
        .when(status.is_not_null())
        .then(pl.lit("failed"))
        .when(pl.col("completed"))
        .then(pl.lit("completed"))
        .otherwise(pl.lit("unfinished"))
    )


def job_summary(runs: pl.DataFrame) -> pl.DataFrame:
    """Per app, process type and command: how many runs, how many failed, and when.

    Columns: app, process_type, command, runs, failed, succeeded, first_failure, last_failure,
    last_success, statuses (sorted distinct non-zero exit statuses of the failures).
    """
    fail = pl.col("outcome") == "failed"
    return (
        runs.group_by("app", "process_type", "command", maintain_order=True)
        .agg(
            pl.len().alias("runs"),
            fail.sum().alias("failed"),
            (pl.col("outcome") == "succeeded").sum().alias("succeeded"),
            pl.col("end").filter(fail).min().alias("first_failure"),
            pl.col("end").filter(fail).max().alias("last_failure"),
            pl.col("end").filter(pl.col("outcome") == "succeeded").max().alias("last_success"),
            pl.col("exit_status").filter(fail).drop_nulls().unique().sort().alias("statuses"),
        )
        .sort("app", "process_type", "command", nulls_last=True)
    )
