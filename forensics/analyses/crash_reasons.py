"""Crash reasons: the app's own last words before each crash.

Why a dyno crashed is usually in the lines it printed just before `Process exited with status
1`: a missing config var in an `Error:` line, an exception with its stack and `Caused by:`
chain, a refused connection to a backing service. For every crash of
`forensics.analyses.availability.crashes` (non-zero exits, `... to crashed`, R10 boot timeouts,
R15 kills) this reads the app lines of the same app and dyno since the start of the crashed
process (its lifetime, from `forensics.analyses.lifetimes`, or the last `Starting process` when
no lifetime matches), at most `lookback_minutes` back, and takes the last error block
(`forensics.analyses.app_errors`) that is not noise from the stop itself; a block that only
sounds like a failure ("could not connect") counts when no real error was printed. A crash whose
dyno printed nothing error-like gets reason null: nothing is guessed.

Tables: `crash_reasons` (one row per crash) and `reason_groups` (one row per distinct reason).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from forensics.analyses.app_errors import Block, error_blocks, reason_key
from forensics.analyses.availability import crashes
from forensics.analyses.sql import app_key_expr, app_key_sql, query, registered

# A crash line and its lifetime's end this close are the same event.
MATCH_SECONDS = 15
# App lines this long after the crash line still belong to the crashed process (clock skew).
AFTER_SECONDS = 2

_SRC = pl.List(pl.Struct({"file": pl.String, "first_line": pl.Int64, "last_line": pl.Int64}))
_COLUMNS: dict[str, Any] = {
    "app": pl.String,
    "dyno": pl.String,
    "process_type": pl.String,
    "release": pl.String,
    "crash_ts": pl.Datetime("us", "UTC"),
    "crash_kind": pl.String,
    "exit_status": pl.Int32,
    "platform_cause": pl.String,
    "during_shutdown": pl.Boolean,
    "process_start": pl.Datetime("us", "UTC"),
    "command": pl.String,
    "reason": pl.String,
    "reason_kind": pl.String,
    "stack": pl.String,
    "location": pl.String,
    "first_frame": pl.String,
    "deepest_frame": pl.String,
    "caused_by": pl.List(pl.String),
    "reason_detail": pl.List(pl.String),
    "reason_ts": pl.Datetime("us", "UTC"),
    "seconds_before_crash": pl.Float64,
    "reason_sources": _SRC,
    "reason_key": pl.String,
    "source_file": pl.String,
    "line_no": pl.Int64,
}


def crash_reasons(
    con: duckdb.DuckDBPyConnection,
    *,
    crash_table: pl.DataFrame | None = None,
    lifetimes: pl.DataFrame | None = None,
    lookback_minutes: float = 30,
    message_seconds: float = 60,
) -> pl.DataFrame:
    """One row per crash, with the last error block its process printed (a line that only
    sounds like a failure counts when no real error was printed and it came at most
    `message_seconds` before the crash: the app's last words, not a remark from long before).

    Answers: what did the app say when it died, and with which boot command?

    Columns: app, dyno, process_type, release, crash_ts, crash_kind (boot_timeout, memory_kill,
    crashed, exit), exit_status, platform_cause (R10, R14, R15, R99... or null),
    during_shutdown, process_start, command (its `Starting process with command`), reason (one
    line: exception type and message, or the error line; null when nothing error-like was
    printed), reason_kind (exception, error_line, message), stack (python, ruby, rails, node,
    java, go, elixir, plain), location (the app's own innermost frame, `app/config.py:12`),
    first_frame, deepest_frame, caused_by (list), reason_detail (list: the block's key
    lines), reason_ts, seconds_before_crash, reason_sources (list of {file, first_line,
    last_line}), reason_key (normalized, for grouping), source_file, line_no (the crash line).
    """
    k = crash_table if crash_table is not None else crashes(con)
    if k.is_empty():
        return pl.DataFrame(schema=_COLUMNS)
    win = _windows(con, k, lifetimes, lookback_minutes)
    with registered(con, win) as w:
        lines = query(
            con,
            f"""
            SELECT w.crash_id, l.ts, l.message, l.request_id IS NOT NULL AS tagged,
                   l.source_file, l.line_no
            FROM {w} w JOIN app_logs l
              ON l.dyno = w.dyno AND {app_key_sql("l.app")} = w.akey
             AND l.ts >= w.lo AND l.ts <= w.hi
            ORDER BY w.crash_id, l.ts, l.source_file, l.line_no
            """,
        )
    at = dict(zip(win["crash_id"].to_list(), win["crash_ts"].to_list(), strict=True))
    found = {
        cid: _reason(g, at[cid], message_seconds)
        for (cid,), g in lines.partition_by("crash_id", as_dict=True).items()
    }
    rows = []
    for r in win.iter_rows(named=True):
        rec = found.get(r["crash_id"]) or {}
        ts = rec.get("reason_ts")
        rows.append(
            {
                **{c: r[c] for c in ("app", "dyno", "process_type", "release", "crash_ts")},
                "crash_kind": r["crash_kind"],
                "exit_status": r["exit_status"],
                "platform_cause": r["platform_cause"],
                "during_shutdown": r["during_shutdown"],
                "process_start": r["process_start"],
                "command": r["command"],
                **{c: rec.get(c) for c in _REASON_COLS},
                "caused_by": rec.get("caused_by") or [],
                "reason_detail": rec.get("detail") or [],
                "reason_ts": ts,
                "seconds_before_crash": (r["crash_ts"] - ts).total_seconds() if ts else None,
                "reason_sources": rec.get("sources") or [],
                "reason_key": reason_key(rec.get("reason")),
                "source_file": r["source_file"],
                "line_no": r["line_no"],
            }
        )
    return pl.DataFrame(rows, schema=_COLUMNS).sort("crash_ts", "line_no")


_REASON_COLS = ("reason", "reason_kind", "stack", "location", "first_frame", "deepest_frame")


def reason_groups(reasons: pl.DataFrame) -> pl.DataFrame:
    """The crashes grouped by reason (`reason_key`), most frequent first; crashes without a
    reason are left out.

    Columns: reason_key, reason (the latest wording), location, count, dynos (list), first,
    last, platform_causes (list), commands (list).
    """
    r = reasons.filter(pl.col("reason_key").is_not_null())
    if r.is_empty():
        schema = {
            "reason_key": pl.String,
            "reason": pl.String,
            "location": pl.String,
            "count": pl.UInt32,
            "dynos": pl.List(pl.String),
            "first": reasons.schema["crash_ts"],
            "last": reasons.schema["crash_ts"],
            "platform_causes": pl.List(pl.String),
            "commands": pl.List(pl.String),
        }
        return pl.DataFrame(schema=schema)
    return (
        r.sort("crash_ts")
        .group_by("reason_key", maintain_order=True)
        .agg(
            pl.col("reason").last(),
            pl.col("location").drop_nulls().last(),
            pl.len().alias("count"),
            pl.col("dyno").unique().sort().alias("dynos"),
            pl.col("crash_ts").min().alias("first"),
            pl.col("crash_ts").max().alias("last"),
            pl.col("platform_cause").drop_nulls().unique().sort().alias("platform_causes"),
            pl.col("command").drop_nulls().unique().sort().alias("commands"),
        )
        .sort(["count", "first"], descending=[True, False])
    )


def reason_for(
    reasons: pl.DataFrame,
    *,
    app: str | None,
    dyno: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any] | None:
    """The reason of the crashes of `dyno` (of `app`) between `start` and `end` (inclusive, any
    bound may be None), as `evidence.reason`: the most frequent one, latest on a tie, as
    {text, location, kind, key, crashes (with it), of_crashes (with any reason), detail,
    caused_by (the `Caused by:` / chained exceptions, outermost first), sources, command,
    others (the other reasons: text, crashes)}; None when none has one."""
    f = reasons.filter(
        (pl.col("dyno") == dyno)
        & app_key_expr("app").eq(app or "")
        & pl.col("reason").is_not_null()
    )
    if start is not None:
        f = f.filter(pl.col("crash_ts") >= start)
    if end is not None:
        f = f.filter(pl.col("crash_ts") <= end)
    return reason_evidence(f)


def reason_evidence(rows: pl.DataFrame) -> dict[str, Any] | None:
    """`evidence.reason` for a set of `crash_reasons` rows (see `reason_for`)."""
    rows = rows.filter(pl.col("reason").is_not_null())
    if rows.is_empty():
        return None
    counts = rows.group_by("reason_key").agg(pl.len().alias("n"), pl.col("crash_ts").max())
    key = counts.sort(["n", "crash_ts"], descending=True)["reason_key"][0]
    best = rows.filter(pl.col("reason_key") == key).sort("crash_ts").row(-1, named=True)
    return {
        "text": best["reason"],
        "location": best["location"],
        "kind": best["reason_kind"],
        "key": key,
        "crashes": int(counts.filter(pl.col("reason_key") == key)["n"][0]),
        "of_crashes": rows.height,
        "detail": list(best["reason_detail"] or []),
        "caused_by": list(best.get("caused_by") or []),
        "sources": [dict(s) for s in best["reason_sources"] or []],
        "command": best["command"],
        "others": [
            {"text": o["reason"], "crashes": int(o["n"])}
            for o in rows.sort("crash_ts")
            .group_by("reason_key", maintain_order=True)
            .agg(pl.col("reason").last(), pl.len().alias("n"))
            .filter(pl.col("reason_key") != key)
            .iter_rows(named=True)
        ],
    }


def block_sources(rows: pl.DataFrame) -> list[dict[str, Any]]:
    """The input lines of every reason block of a set of `crash_reasons` rows (file order)."""
    if rows.is_empty():
        return []
    src = rows.select(pl.col("reason_sources").explode()).drop_nulls().unnest("reason_sources")
    return src.unique().sort("file", "first_line").to_dicts()


def _crash_kind() -> pl.Expr:
    cause = pl.col("cause")
    return (
        pl.when(cause == "R10")
        .then(pl.lit("boot_timeout"))
        .when(cause == "R15")
        .then(pl.lit("memory_kill"))
        .when(pl.col("from_state").is_not_null())
        .then(pl.lit("crashed"))
        .otherwise(pl.lit("exit"))
    )


def _windows(
    con: duckdb.DuckDBPyConnection,
    k: pl.DataFrame,
    lifetimes: pl.DataFrame | None,
    lookback_minutes: float,
) -> pl.DataFrame:
    """Per crash: the span of app lines that belong to the crashed process, and its command.

    The process started at the start of the lifetime that ends at the crash (lifetimes claim
    the late exit of a process stopped while its successor boots), else at the dyno's last
    `Starting process` before the crash; the span ends a moment after the crash line, before
    the next start.
    """
    crash = k.with_row_index("crash_id").with_columns(
        app_key_expr("app"),
        pl.col("ts").alias("crash_ts"),
        _crash_kind().alias("crash_kind"),
        pl.col("cause").alias("platform_cause"),
    )
    starts = query(
        con,
        f"SELECT {app_key_sql('app')} AS akey, dyno, ts, command FROM events "
        "WHERE kind = 'start' AND dyno IS NOT NULL AND command IS NOT NULL",
    )
    ts = pl.Datetime("us", "UTC")
    lt = pl.DataFrame(
        schema={"akey": pl.String, "dyno": pl.String, "start": ts, "end": ts, "bl": pl.Boolean}
    )
    if lifetimes is not None and not lifetimes.is_empty():
        lt = lifetimes.select(
            app_key_expr("app"),
            "dyno",
            "start",
            "end",
            pl.col("started_before_log").alias("bl"),
        )
    with registered(con, crash) as c, registered(con, starts) as s, registered(con, lt) as lf:
        win = query(
            con,
            f"""
            WITH m AS (
                SELECT c.crash_id, l.start, l.bl,
                       row_number() OVER (PARTITION BY c.crash_id
                           ORDER BY abs(epoch(l."end") - epoch(c.crash_ts))) AS rn
                FROM {c} c JOIN {lf} l ON l.akey = c.akey AND l.dyno = c.dyno
                 AND l.start <= c.crash_ts
                 AND l."end" BETWEEN c.crash_ts - INTERVAL {MATCH_SECONDS} SECOND
                                 AND c.crash_ts + INTERVAL {MATCH_SECONDS} SECOND
            ),
            base AS (
                SELECT c.*, m.start AS lt_start, coalesce(m.bl, false) AS bl,
                       (SELECT max(s.ts) FROM {s} s WHERE s.akey = c.akey AND s.dyno = c.dyno
                        AND s.ts <= c.crash_ts) AS last_start
                FROM {c} c LEFT JOIN m ON m.crash_id = c.crash_id AND m.rn = 1
            ),
            b2 AS (
                SELECT *, CASE WHEN bl THEN NULL ELSE coalesce(lt_start, last_start) END
                          AS process_start FROM base
            )
            SELECT b.*,
                (SELECT arg_min(s.command, s.ts) FROM {s} s WHERE s.akey = b.akey
                 AND s.dyno = b.dyno AND s.ts >= b.process_start AND s.ts <= b.crash_ts)
                    AS command,
                (SELECT min(s.ts) FROM {s} s WHERE s.akey = b.akey AND s.dyno = b.dyno
                 AND s.ts > b.crash_ts) AS next_start
            FROM b2 b ORDER BY crash_id
            """,
        )
    back = pl.duration(seconds=lookback_minutes * 60)
    hi = pl.col("crash_ts") + pl.duration(seconds=AFTER_SECONDS)
    return win.with_columns(
        pl.max_horizontal(
            pl.col("process_start").fill_null(pl.col("crash_ts") - back), pl.col("crash_ts") - back
        ).alias("lo"),
        pl.when(pl.col("next_start").is_not_null() & (pl.col("next_start") < hi))
        .then(pl.col("next_start") - pl.duration(microseconds=1))
        .otherwise(hi)
        .alias("hi"),
    )


def _reason(g: pl.DataFrame, crash_ts: datetime, message_seconds: float) -> dict[str, Any] | None:
    """The reason among one crash's app lines: the last real error block that is not noise
    from the stop itself, else the last line shortly before the crash that only sounds like
    a failure."""
    blocks = error_blocks(g["message"].to_list(), g["tagged"].to_list())
    real = [b for b in blocks if b.kind != "message" and not b.shutdown_noise]
    ts = g["ts"].to_list()
    weak = [
        b
        for b in blocks
        if b.kind == "message" and (crash_ts - ts[b.rows[0]]).total_seconds() <= message_seconds
    ]
    chosen: Block | None = real[-1] if real else (weak[-1] if weak else None)
    if chosen is None:
        return None
    rows = g[chosen.rows]
    src = (
        rows.group_by(pl.col("source_file").alias("file"))
        .agg(
            pl.col("line_no").min().alias("first_line"), pl.col("line_no").max().alias("last_line")
        )
        .sort("file")
    )
    return {
        **chosen.to_dict(),
        "reason_ts": rows["ts"].max(),
        "sources": src.to_dicts(),
    }
