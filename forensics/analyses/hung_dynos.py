"""Hung dynos: a dyno that stays `up` but stops doing its work, until a restart or it resumes.

Two kinds, one row each:

- `stuck_requests`: a web-like dyno (one that serves router requests) whose requests end in
  timeouts (H12, or H13/H18/H19 on connect) for minutes while the other dynos of its process
  type serve normally. Timeouts are clustered per dyno (gaps up to `gap_seconds`); a cluster is
  a hung dyno when it has `min_timeouts`+ timeouts, they are `min_share`+ of that dyno's
  requests in the window, and the type's other dynos served `min_other_requests`+ requests in
  the same window with at most `max_other_share` of them timing out, also on the routes the
  stuck dyno timed out on. A route slow on every dyno is a `timeout_hotspot`, not a hung dyno.
  A dyno alone in its type (no other dyno of the type served anything in the window: the one
  web dyno of a small app) has no one to compare with; it is hung when the `min_share` of its
  requests end in H12 (the router's 30 s timeout: it does not answer; H13s are an app that
  fails each request at once, request errors) on `min_routes_alone`+ routes (a stuck dyno
  times out on every route it is sent: a deadlock, an exhausted pool, every thread busy): one
  slow route on a dyno that still serves the others is a hotspot. Timeouts that end in the dyno's
  crash or stop (within `gap_seconds`) are the crash's, left to the downtime analysis.
- `silent`: a dyno of another formation type (worker, clock...) whose own output (app_logs)
  and runtime metrics (dyno_metrics) both stop, with no lifecycle line (exit, crash, stop,
  idling) for it, for `silence_factor` times its own usual gap (the 90th percentile of the gaps
  of each stream) and at least `min_silence_seconds` (`min_silence_no_metrics_seconds` for a
  dyno without runtime metrics, whose output alone must stop). A worker quiet by nature (one
  line an hour) is not hung while its metrics still come. A silence is the dyno's own only
  when the rest of the log goes on meanwhile (no gap of the whole export as long as the
  silence's threshold) and no log loss (L10-L13) is reported for it (an episode from its
  first "dropped since" time to its last report that overlaps the silence).

Each row ends at what ended it (`ended_by`): the dyno's `Restarting` (`restart`), `Cycling`
(`cycling`), a release of the app (`release`: just before the dyno's stop, or with no line of
the dyno after it), a SIGTERM stop, `up -> starting` or a new process starting without any of
those (`restart`), or the dyno's next served request / output line (`resumed`); for stuck
requests only within `gap_seconds` of the last timeout. `ongoing` when nothing ends it before
the log does; null when the dyno simply got no more requests (its row ends at its last
timeout). A silence ended by a crash, exit, idling or scale-down is not a hung dyno (downtime
or sleep). One-off dynos (run, scheduler, release) are left out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from forensics.analyses.availability import app_log_ends, log_end, log_loss
from forensics.analyses.memo import per_dataset
from forensics.analyses.sql import app_key_expr, names_sql, query, registered
from forensics.heroku import (
    DYNO_NAME_RE,
    ONE_OFF_TYPES,
    process_type_sql,
)

STUCK_CODES = ("H12", "H13", "H18", "H19")
# A release this close before a dyno's stop is what stopped it.
TRIGGER_SECONDS = 60
ENDED_BY = ("restart", "cycling", "release", "resumed")

_SCHEMA: dict[str, Any] = {
    "app": pl.String,
    "dyno": pl.String,
    "process_type": pl.String,
    "kind": pl.String,
    "start": pl.Datetime("us", "UTC"),
    "end": pl.Datetime("us", "UTC"),
    "minutes": pl.Float64,
    "ongoing": pl.Boolean,
    "ended_by": pl.String,
    "release": pl.String,
    "requests": pl.Int64,
    "timeouts": pl.Int64,
    "timeout_share": pl.Float64,
    "codes": pl.List(pl.String),
    "routes": pl.List(pl.String),
    "other_dynos": pl.List(pl.String),
    "other_requests": pl.Int64,
    "other_timeouts": pl.Int64,
    "other_share": pl.Float64,
    "usual_gap_seconds": pl.Float64,
    "had_metrics": pl.Boolean,
    "first_file": pl.String,
    "first_line": pl.Int64,
    "last_file": pl.String,
    "last_line": pl.Int64,
}

_ONE_OFF = names_sql(ONE_OFF_TYPES)
_DYNO_OK = f"dyno IS NOT NULL AND regexp_full_match(dyno, '{DYNO_NAME_RE}')"

_LIFECYCLE_SQL = f"""
    SELECT app, dyno, ts, kind, from_state, to_state, exit_status, signal, source_file, line_no
    FROM events
    WHERE {_DYNO_OK}
      AND kind IN ('state_change', 'stop', 'start', 'exit', 'restarting', 'cycling', 'idling',
                   'unidling')
    ORDER BY app, dyno, ts, line_no
"""

_RELEASE_SQL = """
    SELECT app, ts, release, source_file, line_no FROM events
    WHERE kind IN ('release', 'deploy', 'rollback')
    ORDER BY app, ts, line_no
"""


@per_dataset
def hung_dynos(
    con: duckdb.DuckDBPyConnection,
    *,
    gap_seconds: float = 300,
    min_timeouts: int = 5,
    min_minutes: float = 2.0,
    min_share: float = 0.8,
    min_other_requests: int = 10,
    max_other_share: float = 0.1,
    min_routes_alone: int = 3,
    silence_factor: float = 10.0,
    min_silence_seconds: float = 600,
    min_silence_no_metrics_seconds: float = 3600,
) -> pl.DataFrame:
    """The hung-dyno table (see the module doc), earliest first."""
    end_of_log = log_end(con)
    if end_of_log is None:
        return pl.DataFrame(schema=_SCHEMA)
    life = query(con, _LIFECYCLE_SQL)
    rels = query(con, _RELEASE_SQL)
    ends = app_log_ends(con)
    rows = _stuck(
        con,
        life,
        rels,
        ends,
        gap_seconds=gap_seconds,
        min_timeouts=min_timeouts,
        min_minutes=min_minutes,
        min_share=min_share,
        min_other_requests=min_other_requests,
        max_other_share=max_other_share,
        min_routes_alone=min_routes_alone,
    )
    rows += _silent(
        con,
        life,
        rels,
        end_of_log,
        ends,
        silence_factor=silence_factor,
        min_silence_seconds=min_silence_seconds,
        min_silence_no_metrics_seconds=min_silence_no_metrics_seconds,
    )
    out = pl.DataFrame(rows, schema=_SCHEMA) if rows else pl.DataFrame(schema=_SCHEMA)
    return out.sort("start", "app", "dyno", nulls_last=True)


# ----- what ended it --------------------------------------------------------------------------


def _ending(
    life: pl.DataFrame, rels: pl.DataFrame, app: str | None, dyno: str, after: datetime
) -> tuple[str, dict[str, Any]] | None:
    """The first lifecycle line of `dyno` after `after`: (what it means, the row), where the
    meaning is restart / cycling / release, or `other` (a crash, exit, idling, scale-down...:
    not the end of a hang but of the dyno). A release of the app with no line of the dyno
    within `TRIGGER_SECONDS` after it ends it too (a release restarts every dyno). None when
    nothing later is logged."""
    mine = life.filter(
        (app_key_expr("app") == (app or "")) & (pl.col("dyno") == dyno) & (pl.col("ts") > after)
    )
    later = rels.filter((app_key_expr("app") == (app or "")) & (pl.col("ts") > after))
    if later.height and (
        mine.is_empty() or mine["ts"][0] > later["ts"][0] + timedelta(seconds=TRIGGER_SECONDS)
    ):
        return "release", later.row(0, named=True)  # its stop line is not in the log
    if mine.is_empty():
        return None
    r = mine.row(0, named=True)
    kind = r["kind"]
    if kind == "cycling":
        return "cycling", r
    restart = kind == "restarting" or (kind == "stop" and (r["signal"] or "SIGTERM") == "SIGTERM")
    restart = restart or (
        kind == "state_change" and r["from_state"] == "up" and r["to_state"] == "starting"
    )
    # a new process starting with the stop lines missing: restarted (not from a crash)
    restart = restart or kind == "start"
    restart = restart or (
        kind == "state_change"
        and r["to_state"] in ("starting", "up")
        and r["from_state"] not in ("crashed", "down")
    )
    if not restart:
        return "other", r
    app_rels = rels.filter(
        (app_key_expr("app") == (app or ""))
        & pl.col("ts").is_between(max(after, r["ts"] - timedelta(seconds=TRIGGER_SECONDS)), r["ts"])
    )
    return ("release" if app_rels.height else "restart"), r


def _release_at(rels: pl.DataFrame, app: str | None, ts: datetime) -> str | None:
    before = rels.filter(
        (app_key_expr("app") == (app or ""))
        & (pl.col("ts") <= ts)
        & pl.col("release").is_not_null()
    )
    return before["release"][-1] if before.height else None


# ----- stuck web dynos ------------------------------------------------------------------------


def _stuck(
    con: duckdb.DuckDBPyConnection,
    life: pl.DataFrame,
    rels: pl.DataFrame,
    ends: dict[Any, datetime],
    **t: Any,
) -> list[dict[str, Any]]:
    """Stuck web dynos (`ends`: each app's last time, where an ongoing one ends). The timeouts
    alone are read and clustered; each cluster long enough to be a candidate is then measured
    against the requests of its window in one SQL join (its own requests, the other dynos', its
    next served request), never the whole requests table."""
    codes = ", ".join(f"'{c}'" for c in STUCK_CODES)
    ptype = process_type_sql("dyno")
    bad = query(
        con,
        f"""
        SELECT app, dyno, {ptype} AS ptype, ts, route, code, source_file, line_no
        FROM requests
        WHERE code IN ({codes}) AND {_DYNO_OK} AND {ptype} NOT IN {_ONE_OFF}
        ORDER BY app, dyno, ts, line_no
        """,
    )
    if bad.is_empty():
        return []
    gap = timedelta(seconds=t["gap_seconds"])
    bad = bad.with_columns(
        grp=(
            (pl.col("ts") - pl.col("ts").shift(1).over("app", "dyno")).fill_null(gap * 2) > gap
        ).cum_sum()
    )
    clusters = (
        bad.group_by("app", "dyno", "grp", maintain_order=True)
        .agg(
            pl.col("ptype").first(),
            pl.col("ts").min().alias("start"),
            pl.col("ts").max().alias("last"),
            pl.len().alias("timeouts"),
            (pl.col("code") == "H12").sum().alias("h12"),
            pl.col("route")
            .filter(pl.col("route").is_not_null() & (pl.col("route") != ""))
            .unique()
            .sort()
            .alias("routes"),
        )
        .filter(
            (pl.col("timeouts") >= t["min_timeouts"])
            & ((pl.col("last") - pl.col("start")).dt.total_seconds(fractional=True) / 60
               >= t["min_minutes"])
        )
        .with_row_index("cid")
    )  # fmt: skip
    if clusters.is_empty():
        return []
    stats = _window_stats(con, clusters, codes, t["gap_seconds"])
    out = []
    for c in clusters.join(stats, on="cid", how="left").iter_rows(named=True):
        app, dyno, start, last = c["app"], c["dyno"], c["start"], c["last"]
        g = bad.filter(
            (app_key_expr("app") == (app or "")) & (pl.col("dyno") == dyno)
            & (pl.col("grp") == c["grp"])
        )  # fmt: skip
        share = c["timeouts"] / c["own"]
        if share < t["min_share"]:
            continue
        others = c["others"] or 0
        if others == 0:  # alone in its type: H12s on every route it is sent
            if len(c["routes"]) < t["min_routes_alone"] or c["h12"] / c["own"] < t["min_share"]:
                continue
            other_share = 0.0
        elif others < t["min_other_requests"]:
            continue
        else:
            other_share = c["other_bad"] / others
        if other_share > t["max_other_share"]:
            continue
        if (c["on_routes"] or 0) >= 3 and c["on_routes_bad"] / c["on_routes"] > 0.25:
            continue  # those routes time out on the other dynos too: a hotspot
        ending = _ending(life, rels, app, dyno, last)
        resumed = c["resumed"]  # the next served request, only within `gap` of the last timeout
        if ending and ending[1]["ts"] - last > gap:
            ending = None  # nor is it the restart hours later that ended it
        if (
            ending
            and ending[0] == "other"
            and ending[1]["ts"] - last <= gap
            and (resumed is None or ending[1]["ts"] <= resumed)
        ):
            continue  # the timeouts end in a crash or stop of the dyno: downtime's to tell
        if ending and ending[0] != "other" and (resumed is None or ending[1]["ts"] <= resumed):
            ended_by, end = ending[0], ending[1]["ts"]
            end_file, end_line = ending[1]["source_file"], ending[1]["line_no"]
        elif resumed is not None:
            ended_by, end = "resumed", resumed
            end_file, end_line = c["resumed_file"], c["resumed_line"]
        else:
            ended_by, end = None, last
            end_file, end_line = g["source_file"][-1], g["line_no"][-1]
        app_end = ends.get(app, last)
        ongoing = ended_by is None and (app_end - last) <= gap
        if ongoing:
            end = app_end
        out.append(
            {
                "app": app,
                "dyno": dyno,
                "process_type": c["ptype"],
                "kind": "stuck_requests",
                "start": start,
                "end": end,
                "minutes": (end - start).total_seconds() / 60,
                "ongoing": ongoing,
                "ended_by": ended_by,
                "release": _release_at(rels, app, start),
                "requests": c["own"],
                "timeouts": c["timeouts"],
                "timeout_share": share,
                "codes": sorted(set(g["code"].to_list())),
                "routes": list(c["routes"]),
                "other_dynos": list(c["other_dynos"] or []),
                "other_requests": others,
                "other_timeouts": int(c["other_bad"] or 0),
                "other_share": float(other_share),
                "usual_gap_seconds": None,
                "had_metrics": None,
                "first_file": g["source_file"][0],
                "first_line": g["line_no"][0],
                "last_file": end_file,
                "last_line": end_line,
            }
        )
    return out


def _window_stats(
    con: duckdb.DuckDBPyConnection, clusters: pl.DataFrame, codes: str, gap_seconds: float
) -> pl.DataFrame:
    """Per candidate cluster (`cid`): the requests of its process type from its first to its
    last timeout (own, others, others timed out, others on its routes and how many of those
    timed out, the other dynos) and the dyno's first served request within `gap_seconds` after
    the last timeout (resumed, resumed_file, resumed_line)."""
    c = clusters.select("cid", "app", "dyno", "ptype", "start", "last", "routes")
    bad = f"(r.code IS NOT NULL AND r.code IN ({codes}))"
    with registered(con, c) as name:
        window = query(
            con,
            f"""
            SELECT c.cid,
                   count(*) FILTER (WHERE r.dyno = c.dyno) AS own,
                   count(*) FILTER (WHERE r.dyno <> c.dyno) AS others,
                   count(*) FILTER (WHERE r.dyno <> c.dyno AND {bad}) AS other_bad,
                   count(*) FILTER (WHERE r.dyno <> c.dyno AND list_contains(c.routes, r.route))
                       AS on_routes,
                   count(*) FILTER (WHERE r.dyno <> c.dyno AND list_contains(c.routes, r.route)
                                    AND {bad}) AS on_routes_bad,
                   list(DISTINCT r.dyno ORDER BY r.dyno) FILTER (WHERE r.dyno <> c.dyno)
                       AS other_dynos
            FROM {name} c JOIN requests r
              ON r.app IS NOT DISTINCT FROM c.app AND r.dyno LIKE c.ptype || '.%'
             AND r.ts >= c.start AND r.ts <= c.last
            WHERE {_DYNO_OK.replace("dyno", "r.dyno")} AND {process_type_sql("r.dyno")} = c.ptype
            GROUP BY c.cid
            """,
        )
        resumed = query(
            con,
            f"""
            SELECT c.cid, arg_min(r.ts, (r.ts, r.line_no)) AS resumed,
                   arg_min(r.source_file, (r.ts, r.line_no)) AS resumed_file,
                   arg_min(r.line_no, (r.ts, r.line_no)) AS resumed_line
            FROM {name} c JOIN requests r
              ON r.app IS NOT DISTINCT FROM c.app AND r.dyno = c.dyno
             AND r.ts > c.last AND r.ts <= c.last + to_microseconds({round(gap_seconds * 1e6)})
            WHERE NOT {bad}
            GROUP BY c.cid
            """,
        )
    return window.join(resumed, on="cid", how="left").cast({"cid": pl.UInt32})


# ----- silent workers -------------------------------------------------------------------------


def _silent(
    con: duckdb.DuckDBPyConnection,
    life: pl.DataFrame,
    rels: pl.DataFrame,
    end_of_log: datetime,
    ends: dict[Any, datetime],
    **t: Any,
) -> list[dict[str, Any]]:
    """Silent workers. Each dyno's usual gap per stream (the 90th percentile of the gaps between
    its consecutive lines, nearest rank, as Polars' `quantile(0.9)`; none with fewer than 4
    lines), the silence it needs and the gaps of its merged output that reach it are all found in
    one SQL query; only those candidate silences come back to be checked one by one. A silence
    still running ends at its app's last line (`ends`); the dataset's `end_of_log` only bounds
    the candidates."""
    ptype = process_type_sql("dyno")
    skip = names_sql({*ONE_OFF_TYPES, "web"})
    end_us = "epoch_us($end_of_log)"
    cands = query(
        con,
        f"""
        WITH a AS (
            SELECT app, dyno, {ptype} AS ptype, ts, 'app' AS stream, source_file, line_no
            FROM app_logs WHERE {_DYNO_OK} AND {ptype} NOT IN {skip}
            UNION ALL
            SELECT app, dyno, {ptype}, ts, 'metrics', source_file, line_no FROM dyno_metrics
            WHERE {_DYNO_OK} AND {ptype} NOT IN {skip}
        ),
        gaps AS (
            SELECT app, dyno, stream,
                   (epoch_us(ts) - epoch_us(lag(ts) OVER (PARTITION BY app, dyno, stream
                                                         ORDER BY ts))) / 1e6 AS gap
            FROM a
        ),
        per AS (
            SELECT app, dyno, stream, count(*) AS n,
                   list_sort(list(gap) FILTER (WHERE gap IS NOT NULL)) AS gaps
            FROM gaps GROUP BY ALL
        ),
        usual AS (
            SELECT app, dyno,
                   max(n) FILTER (WHERE stream = 'metrics') >= 4 AS had_metrics,
                   max(gaps[CAST(round((len(gaps) - 1) * 0.9) AS BIGINT) + 1])
                       FILTER (WHERE stream = 'metrics' AND n >= 4) AS usual_m,
                   max(gaps[CAST(round((len(gaps) - 1) * 0.9) AS BIGINT) + 1])
                       FILTER (WHERE stream = 'app' AND n >= 4) AS usual_a
            FROM per GROUP BY ALL
        ),
        need AS (
            SELECT app, dyno, coalesce(had_metrics, false) AS had_metrics,
                   CASE WHEN had_metrics THEN usual_m ELSE usual_a END AS usual,
                   CASE WHEN had_metrics
                        THEN greatest($min_s, $factor * usual_m, coalesce(3 * usual_a, 0))
                        ELSE greatest($min_no_metrics_s, $factor * usual_a) END AS need
            FROM usual WHERE coalesce(had_metrics, false) OR usual_a IS NOT NULL
        ),
        m AS (
            SELECT app, dyno, ptype, ts, source_file, line_no,
                   lead(ts) OVER w AS nxt, lead(source_file) OVER w AS nxt_file,
                   lead(line_no) OVER w AS nxt_line
            FROM a WINDOW w AS (PARTITION BY app, dyno ORDER BY ts, line_no)
        )
        SELECT m.*, need.need, need.usual, need.had_metrics
        FROM m JOIN need ON m.app IS NOT DISTINCT FROM need.app AND m.dyno = need.dyno
        WHERE coalesce(epoch_us(m.nxt), {end_us}) - epoch_us(m.ts) >= need.need * 1e6
        ORDER BY m.app, m.dyno, m.ts, m.line_no
        """,
        {
            "end_of_log": end_of_log,
            "min_s": float(t["min_silence_seconds"]),
            "min_no_metrics_s": float(t["min_silence_no_metrics_seconds"]),
            "factor": float(t["silence_factor"]),
        },
    )
    loss: pl.DataFrame | None = None  # loaded once a silence needs checking
    out = []
    for cand in cands.iter_rows(named=True):
        app, dyno, t0, t1, need = cand["app"], cand["dyno"], cand["ts"], cand["nxt"], cand["need"]
        ending = _ending(life, rels, app, dyno, t0)
        stop_ts = ending[1]["ts"] if ending else None
        if stop_ts is not None and (t1 is None or stop_ts <= t1):
            if ending[0] == "other":  # type: ignore[index]
                continue  # it crashed, exited, idled or was scaled away: not hung
            ended_by, end = ending[0], stop_ts  # type: ignore[index]
            end_file, end_line = ending[1]["source_file"], ending[1]["line_no"]  # type: ignore[index]
            ongoing = False
        elif t1 is not None:
            ended_by, end = "resumed", t1
            end_file, end_line = cand["nxt_file"], cand["nxt_line"]
            ongoing = False
        else:
            ended_by, end, end_file, end_line = None, ends.get(app, end_of_log), None, None
            ongoing = True
        if (end - t0).total_seconds() < need:
            continue
        if loss is None:
            loss = log_loss(con).select("app", "since", "last")
        if _log_lost(loss, app, t0, end) or _export_gap(con, app, dyno, t0, end, need):
            continue
        out.append(
            {
                "app": app,
                "dyno": dyno,
                "process_type": cand["ptype"],
                "kind": "silent",
                "start": t0,
                "end": end,
                "minutes": (end - t0).total_seconds() / 60,
                "ongoing": ongoing,
                "ended_by": ended_by,
                "release": _release_at(rels, app, t0),
                "requests": None,
                "timeouts": None,
                "timeout_share": None,
                "codes": [],
                "routes": [],
                "other_dynos": [],
                "other_requests": None,
                "other_timeouts": None,
                "other_share": None,
                "usual_gap_seconds": cand["usual"],
                "had_metrics": cand["had_metrics"],
                "first_file": cand["source_file"],
                "first_line": cand["line_no"],
                "last_file": end_file,
                "last_line": end_line,
            }
        )
    return out


def _log_lost(loss: pl.DataFrame, app: str | None, start: datetime, end: datetime) -> bool:
    """Whether the app's log reports lines lost (L10-L13) between `start` and `end`: a loss
    episode (its first "dropped since" time to its last report) overlaps the silence. The
    report comes when delivery resumes, often after the dyno's first line back, so its own
    time alone may fall outside."""
    return (
        loss.filter(
            (app_key_expr("app") == (app or ""))
            & (pl.col("since") <= end)
            & (pl.col("last") >= start)
        ).height
        > 0
    )


def _export_gap(
    con: duckdb.DuckDBPyConnection,
    app: str | None,
    dyno: str,
    start: datetime,
    end: datetime,
    seconds: float,
) -> bool:
    """Whether the rest of its app's log (every line not from `dyno`, by whole second) is itself
    silent for `seconds` somewhere between `start` and `end`: a gap in the export, not in the
    dyno. One query over that window: the longest step between `start`, those seconds and
    `end`."""
    window = "app IS NOT DISTINCT FROM $app AND ts >= $lo AND ts <= $end"
    union = " UNION ALL ".join(
        f"SELECT dyno, ts FROM {t} WHERE {window}"
        for t in ("requests", "events", "app_logs", "dyno_metrics")
    )
    gap = query(
        con,
        f"""
        WITH p AS (
            SELECT DISTINCT date_trunc('second', ts) AS ts FROM ({union})
            WHERE coalesce(dyno, '') <> $dyno
              AND date_trunc('second', ts) >= $start AND date_trunc('second', ts) <= $end
            UNION ALL SELECT $start UNION ALL SELECT $end
        )
        SELECT max(epoch_us(nx) - epoch_us(ts)) / 1e6 AS gap
        FROM (SELECT ts, lead(ts) OVER (ORDER BY ts) AS nx FROM p)
        """,
        {"lo": start - timedelta(seconds=1), "start": start, "end": end, "dyno": dyno, "app": app},
    )["gap"][0]
    return gap is not None and gap >= seconds
