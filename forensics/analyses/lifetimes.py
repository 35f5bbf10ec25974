"""Dyno lifetimes: each dyno's timeline cut at every restart, one row per process instance.

A *lifetime* is one process instance on a formation slot (`web.1`): from the platform starting
it to its exit. The timeline of a dyno is cut where

- the platform starts a process: `Starting process with command ...`, or a state change *into*
  `starting`/`created`/`up` from a stopped state (`crashed -> starting`, `down -> starting`);
  such markers less than ten minutes apart with nothing in between are one start;
- a new `dyno_id` (the `heroku.<app>.<uuid>` of log-runtime-metrics, new at every restart)
  appears in `dyno_metrics` inside a lifetime that already has another one (restarts whose
  events were lost, or exports that only hold metrics);
- evidence of a running process (metrics, requests, events, app output) comes before the first
  start marker: that is a lifetime which started before the log (`started_before_log`).

How a lifetime ended is read from the events between its start and the next one: `Process
exited`, `State changed from up to crashed/down/starting/complete`, `Restarting`, `Cycling`,
`Idling`, `Stopping ... SIGTERM`, R15 and R12 errors, plus the app's `Release vN` and
`Scaled to` events nearby. During a restart Heroku often starts the new process before the old
one has exited (and an R12 exit timeout comes 30 s after SIGTERM), so `Stopping`/`Process
exited`/R12 lines that come after the next start but within 75 s of the old process's stop
request are credited to the old process.

The release of a lifetime is the last `Release vN` event at or before its process started (its
last start marker: a dyno that sat in `starting` through a release boots that release's code).
Before the first release seen in the log it is inferred as v(N-1) (Heroku numbers releases one
by one), flagged `release_inferred`.
"""

from __future__ import annotations

import duckdb
import polars as pl

from forensics import heroku
from forensics.analyses.memo import per_dataset
from forensics.analyses.sql import app_key_sql, metric_rows_sql, query, registered

# A dyno name of the formation or a one-off: web.1, worker.12, run.1234, release.4321.
DYNO_RE = heroku.DYNO_NAME_RE

# Start markers closer than this with nothing in between are one start (a crashed dyno can
# sit minutes in `starting` before `Starting process`).
MERGE_SECONDS = 600
# Stop/exit/R12 lines up to this long after the old process's stop request belong to it.
CLAIM_SECONDS = 75
# Evidence this much before the first start marker is still the same lifetime (clock jitter).
JITTER_SECONDS = 5
# A release (or scale) this close before a restart explains it.
CAUSE_WINDOW_MINUTES = 10

START_CAUSES = (
    "before_log",
    "deploy",
    "restart",
    "cycling",
    "crash",
    "R15",
    "scale",
    "unidling",
    "one_off",
    "start",
    "unknown",
)
END_CAUSES = (
    "deploy",
    "restart",
    "cycling",
    "crash",
    "R15",
    "scale",
    "idling",
    "stop",
    "exit",
    "end_of_log",
    "unknown",
)


@per_dataset
def lifetimes(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per (app, dyno, lifetime): the process instances of every dyno, in time order.

    Columns: app, dyno, process_type, lifetime (1, 2, ... per dyno), lifetime_id
    (`web.1#3`), dyno_id (first dyno_id of its metrics, null without metrics), dyno_ids (how
    many), start (first start marker, or first evidence for `started_before_log`), up
    (`starting -> up`), end (exit, crash, or last evidence), started_before_log, start_cause
    (before_log, deploy, restart, cycling, crash, R15, scale, unidling, one_off, start,
    unknown), end_cause (deploy, restart, cycling, crash, R15, scale, idling, stop, exit,
    end_of_log, unknown), exit_status, r12 (exit timeout while stopping), release ("v42"),
    release_inferred, samples (memory samples), first_sample, last_sample, and `sources`
    (list of {file, first_line, last_line}: its lifecycle events and metrics rows per input
    file).

    The few lifecycle events are read with SQL and cut into lifetimes with Polars expressions.
    """
    ev = query(con, _EVENTS_SQL.format(dyno_re=DYNO_RE))
    evid = query(con, _EVIDENCE_SQL.format(dyno_re=DYNO_RE))
    if evid.height == 0:
        return _empty()
    ids = query(con, _IDS_SQL.format(dyno_re=DYNO_RE))
    rel = query(con, _RELEASES_SQL)
    scl = query(
        con,
        f"SELECT DISTINCT {app_key_sql()} AS akey, ts FROM events "
        "WHERE kind = 'scale' ORDER BY akey, ts",
    )
    base = _cut(ev, evid, ids, rel, scl)
    with registered(con, base) as lt:
        stats = query(con, _metrics_stats_sql(lt))
    out = base.join(stats, on=["akey", "dyno", "lifetime"], how="left")
    out = _merge_sources(out).with_columns(
        pl.col("samples").fill_null(0),
        pl.col("dyno_ids").fill_null(0),
    )
    return out.select(_COLUMNS).sort("app", "dyno", "lifetime", nulls_last=False)


KEY = ["akey", "dyno"]
_TS = pl.Datetime("us", "UTC")
_EPOCH = pl.lit(0).cast(_TS)


def _cut(
    ev: pl.DataFrame,
    evid: pl.DataFrame,
    ids: pl.DataFrame,
    rel: pl.DataFrame,
    scl: pl.DataFrame,
) -> pl.DataFrame:
    """The lifetimes of every dyno from its lifecycle events, evidence span and dyno_ids.

    Steps: start markers (and evidence before the first) give the first cut; a second dyno_id
    inside a lifetime splits it; each event then goes to its lifetime, whose end and causes
    come from those events and from the releases and scalings near its start.
    """
    ev = _ordered(ev)
    lt0 = _starts(ev, evid)
    lt = _numbered(lt0, _dyno_id_splits(lt0, ids, ev))
    agg = _aggregate(_claim_late_exits(_events_in(ev, lt)))
    # the last sample of each lifetime's dyno_ids (the end of a lifetime with no exit line)
    id_last = (
        _asof(ids.sort("first_ts"), lt.with_columns(_key("lifetime")), "first_ts", "lifetime")
        .group_by(*KEY, "lifetime")
        .agg(pl.col("last_ts").max().alias("last_sample_ts"))
    )
    j = (
        lt.join(id_last, on=[*KEY, "lifetime"], how="left")
        .join(agg, on=[*KEY, "lifetime"], how="left")
        .join(evid.select(*KEY, "app", pl.col("hi").alias("dyno_last")), on=KEY, how="left")
    )
    j = _with_context(j, rel, scl)
    inferred = pl.col("rel_name").is_null() & (pl.col("v1") > 1)
    return j.with_columns(
        _PTYPE.alias("process_type"),
        (
            pl.when(pl.col("akey") == "").then(pl.lit("")).otherwise(pl.col("akey") + "/")
            + pl.col("dyno")
            + "#"
            + pl.col("lifetime").cast(pl.String)
        ).alias("lifetime_id"),
        pl.col("up_ts").alias("up"),
        _end().alias("end"),
        (pl.col("origin") == "before_log").alias("started_before_log"),
        _start_cause().alias("start_cause"),
        pl.col("r12").fill_null(False),
        pl.coalesce("rel_name", pl.when(inferred).then(pl.format("v{}", pl.col("v1") - 1))).alias(
            "release"
        ),
        inferred.fill_null(False).alias("release_inferred"),
    ).select(
        "akey",
        "app",
        "dyno",
        "process_type",
        "lifetime",
        "lifetime_id",
        "start",
        "up",
        "end",
        "started_before_log",
        "start_cause",
        "end_cause",
        "exit_status",
        "r12",
        "release",
        "release_inferred",
        "ev_sources",
    )


_PTYPE = heroku.process_type_expr("dyno")
_WINDOW = pl.duration(minutes=CAUSE_WINDOW_MINUTES)


def _ordered(ev: pl.DataFrame) -> pl.DataFrame:
    """Events per dyno with `ord` (position in time and line order), `cand` (a start marker)
    and `sep` (an event that ends a process)."""
    c, f, t = pl.col("kind"), pl.col("from_state"), pl.col("to_state")
    state = c == "state_change"
    # `ord`: position in (time, line) order, so that a start marker logged in the same
    # microsecond as the previous process's last lines still comes after them
    return (
        ev.sort("ts", "source_file", "line_no")
        .with_columns(pl.int_range(pl.len()).cast(pl.Float64).alias("ord"))
        .sort(*KEY, "ord")
        .with_columns(
            (
                (c == "start")
                | (state & t.is_in(["starting", "created", "up"]) & ~f.is_in(["up", "starting"]))
            )
            .fill_null(False)
            .alias("cand"),
            (
                c.is_in(["restarting", "cycling", "idling", "stop", "exit"])
                | (state & f.is_in(["up", "starting"]) & (t != "up"))
            )
            .fill_null(False)
            .alias("sep"),
        )
    )


def _starts(ev: pl.DataFrame, evid: pl.DataFrame) -> pl.DataFrame:
    """The first cut: one start per run of start markers with nothing between them (and less
    than MERGE_SECONDS apart), plus a `before_log` start where evidence precedes them all."""
    lc = ev.filter(pl.col("cand") | pl.col("sep")).with_columns(
        pl.col("cand").shift(1).over(KEY).alias("prev_cand"),
        pl.col("ts").shift(1).over(KEY).alias("prev_ts"),
    )
    new = (
        pl.col("prev_cand").is_null()
        | ~pl.col("prev_cand")
        | ((pl.col("ts") - pl.col("prev_ts")).dt.total_seconds() > MERGE_SECONDS)
    )
    starts = (
        lc.filter("cand")
        .with_columns(new.cast(pl.Int64).cum_sum().over(KEY).alias("g"))
        .group_by(*KEY, "g")
        .agg(
            pl.col("ts").min().alias("start"),
            pl.col("ts").max().alias("exec_start"),
            pl.col("ord").min(),
            pl.col("from_state").first(),
        )
        .drop("g")
        .with_columns(pl.lit("event").alias("origin"))
    )
    first = starts.group_by(KEY).agg(pl.col("start").min().alias("first"))
    before = (
        evid.join(first, on=KEY, how="left")
        .filter(
            pl.col("first").is_null()
            | (pl.col("lo") < pl.col("first") - pl.duration(seconds=JITTER_SECONDS))
        )
        .select(
            *KEY,
            pl.col("lo").alias("start"),
            pl.col("lo").alias("exec_start"),
            pl.lit(-1.0).alias("ord"),
            pl.lit(None, pl.String).alias("from_state"),
            pl.lit("before_log").alias("origin"),
        )
    )
    lt0 = (
        pl.concat([starts, before])
        .sort(*KEY, "start")
        .with_columns(pl.int_range(1, pl.len() + 1).over(KEY).alias("seq"))
    )
    return lt0.with_columns(_key("seq"))


def _dyno_id_splits(lt0: pl.DataFrame, ids: pl.DataFrame, ev: pl.DataFrame) -> pl.DataFrame:
    """Extra starts where a second dyno_id appears inside one lifetime (a restart whose events
    are missing), placed in event order between the events before and after them."""
    ids_in = _asof(ids.sort("first_ts"), lt0, "first_ts", "seq").with_columns(
        pl.col("seq").fill_null(1)
    )
    splits = (
        ids_in.sort(*KEY, "first_ts")
        .filter(pl.int_range(pl.len()).over(*KEY, "seq") > 0)
        .select(
            *KEY,
            pl.col("first_ts").alias("start"),
            pl.col("first_ts").alias("exec_start"),
            pl.lit(None, pl.String).alias("from_state"),
            pl.lit("dyno_id").alias("origin"),
        )
    )
    before_ord = ev.select(*KEY, pl.col("ts").alias("first_ts"), "ord").sort("first_ts")
    return (
        splits.sort("start")
        .join_asof(
            before_ord,
            left_on="start",
            right_on="first_ts",
            by=KEY,
            strategy="backward",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        .with_columns((pl.col("ord").fill_null(-1.0) + 0.5).alias("ord"))
        .select(*KEY, "start", "exec_start", "ord", "from_state", "origin")
    )


def _numbered(lt0: pl.DataFrame, splits: pl.DataFrame) -> pl.DataFrame:
    """All starts in event order, numbered per dyno, each with the next one's start."""
    return (
        pl.concat([lt0.select(splits.columns), splits])
        .sort(*KEY, "ord", "start")
        .with_columns(
            pl.int_range(1, pl.len() + 1).over(KEY).alias("lifetime"),
            pl.col("start").shift(-1).over(KEY).alias("next_start"),
            pl.col("from_state").shift(-1).over(KEY).alias("next_from"),
        )
    )


def _events_in(ev: pl.DataFrame, lt: pl.DataFrame) -> pl.DataFrame:
    """Each event with the lifetime it falls in (the last one started before it)."""
    return (
        ev.sort("ord")
        .join_asof(
            lt.select(
                *KEY,
                "lifetime",
                pl.when(pl.col("lifetime") == 1).then(-2.0).otherwise(pl.col("ord")).alias("k"),
            ).sort("k"),
            left_on="ord",
            right_on="k",
            by=KEY,
            strategy="backward",
            check_sortedness=False,
        )
        .drop("k")
    )


def _with_context(j: pl.DataFrame, rel: pl.DataFrame, scl: pl.DataFrame) -> pl.DataFrame:
    """What happened around each lifetime: the release and scaling near its end's intent
    (for `end_cause`), the previous lifetime's end cause, the release and scaling just before
    its start, and the app's first release version."""
    j = _near(j, rel.select("akey", pl.col("ts").alias("deploy_rel")), "intent_ts", "deploy_rel")
    j = j.with_columns(pl.coalesce("intent_ts", "start").alias("_at"))
    j = _near(j, scl.select("akey", pl.col("ts").alias("scale_near")), "_at", "scale_near")
    j = j.with_columns(
        pl.when(
            (pl.col("deploy_rel") >= pl.col("start"))
            & (pl.col("deploy_rel") >= pl.col("intent_ts") - _WINDOW)
        )
        .then("deploy_rel")
        .alias("deploy_rel"),
        pl.when(pl.col("scale_near") >= pl.col("_at") - _WINDOW)
        .then("scale_near")
        .alias("scale_near"),
    )
    j = j.with_columns(_end_cause().alias("end_cause")).with_columns(
        pl.col("end_cause").shift(1).over(KEY).alias("prev_cause"),
        pl.coalesce("exit_ts", "end_state_ts").shift(1).over(KEY).alias("prev_end"),
    )
    # the release its process runs: the one in effect when the process was started (a crashed
    # dyno waiting in `starting` through a rollback boots the rollback's code)
    j = _near(
        j,
        rel.select("akey", pl.col("ts").alias("rel_before"), pl.col("release").alias("rel_name")),
        "exec_start",
        "rel_before",
    )
    j = _near(j, scl.select("akey", pl.col("ts").alias("scale_before")), "start", "scale_before")
    first_rel = rel.group_by("akey").agg(pl.col("version").sort_by("ts").first().alias("v1"))
    return j.join(first_rel, on="akey", how="left")


def _start_cause() -> pl.Expr:
    """Why a lifetime started, from its origin, process type and context (`_with_context`)."""
    near_rel = (
        (pl.col("rel_before") >= pl.col("start") - _WINDOW)
        & (
            pl.col("prev_end").is_null()
            | (pl.col("rel_before") >= pl.col("prev_end"))
            | pl.col("prev_cause").is_in(["deploy", "restart"])
        )
    ).fill_null(False)
    return (
        pl.when(pl.col("origin") == "before_log")
        .then(pl.lit("before_log"))
        .when(pl.col("origin") == "dyno_id")
        .then(pl.lit("unknown"))
        .when(_PTYPE.is_in(sorted(heroku.ONE_OFF_TYPES)))
        .then(pl.lit("one_off"))
        .when(near_rel)
        .then(pl.lit("deploy"))
        .when(pl.col("prev_cause").is_in(["restart", "cycling", "crash", "R15", "deploy"]))
        .then(pl.col("prev_cause"))
        .when(pl.col("prev_cause") == "idling")
        .then(pl.lit("unidling"))
        .when((pl.col("scale_before") >= pl.col("start") - _WINDOW).fill_null(False))
        .then(pl.lit("scale"))
        .when(pl.col("prev_cause").is_in(["stop", "exit", "scale"]))
        .then(pl.lit("start"))
        .otherwise(pl.lit("unknown"))
    )


def _end() -> pl.Expr:
    """When a lifetime ended: its exit, else its last state change, else its last evidence
    (capped at the next lifetime's start)."""
    return pl.coalesce(
        "exit_ts",
        "end_state_ts",
        pl.when(pl.col("next_start").is_null())
        .then("dyno_last")
        .otherwise(
            pl.min_horizontal(pl.max_horizontal("last_ev", "last_sample_ts", "start"), "next_start")
        ),
    )


def _key(col: str) -> pl.Expr:
    """ASOF key of a lifetime: its start, or the beginning of time for the first one."""
    return pl.when(pl.col(col) == 1).then(_EPOCH).otherwise(pl.col("start")).alias("k")


def _asof(left: pl.DataFrame, lt: pl.DataFrame, on: str, col: str) -> pl.DataFrame:
    """Attach lifetime number `col` to each row of `left` (the last lifetime started at or
    before `left[on]`, per app and dyno)."""
    right = lt.select(*KEY, "k", col).sort("k")
    return (
        left.sort(on)
        .join_asof(
            right, left_on=on, right_on="k", by=KEY, strategy="backward", check_sortedness=False
        )
        .drop("k")
    )


def _near(df: pl.DataFrame, events: pl.DataFrame, on: str, name: str) -> pl.DataFrame:
    """Attach the last app event at or before `df[on]` (its time in column `name`)."""
    right = events.sort(name)
    left = df.with_columns(pl.col(on).fill_null(_EPOCH).alias("_on")).sort("_on")
    return (
        left.join_asof(
            right,
            left_on="_on",
            right_on=name,
            by="akey",
            strategy="backward",
            check_sortedness=False,
            coalesce=False,
        )
        .drop("_on", "akey_right", strict=False)
        .with_columns(pl.when(pl.col(on).is_not_null()).then(pl.col(name)).alias(name))
        .sort(*KEY, "lifetime")
    )


def _claim_late_exits(ev: pl.DataFrame) -> pl.DataFrame:
    """Give stop/exit/R12 lines that come after the next start back to the old process.

    A lifetime that got a dyno-level stop request (Restarting, Cycling, Idling, up -> ...)
    but has no exit after it owns the first exit of the next lifetime within CLAIM_SECONDS of
    that request, and the stop / R12 lines of the next lifetime up to that exit.
    """
    c, f, t = pl.col("kind"), pl.col("from_state"), pl.col("to_state")
    req = c.is_in(["restarting", "cycling", "idling"]) | (
        (c == "state_change") & (f == "up") & t.is_in(["starting", "down", "bouncing"])
    )
    keys = [*KEY, "lifetime"]
    own = ev.group_by(keys).agg(pl.col("ts").filter(req.fill_null(False)).min().alias("req_ts"))
    exits = ev.filter(c == "exit").select(*keys, pl.col("ts").alias("x"))
    has_exit = (
        exits.join(own, on=keys)
        .filter(pl.col("x") >= pl.col("req_ts"))
        .select(keys)
        .unique()
        .with_columns(pl.lit(True).alias("has_exit"))
    )
    pending = (
        own.filter(pl.col("req_ts").is_not_null())
        .join(has_exit, on=keys, how="left")
        .filter(pl.col("has_exit").is_null())
    )
    late = (
        pending.with_columns((pl.col("lifetime") + 1).alias("nxt"))
        .join(exits, left_on=[*KEY, "nxt"], right_on=keys)
        .filter(pl.col("x") <= pl.col("req_ts") + pl.duration(seconds=CLAIM_SECONDS))
        .group_by(*KEY, "nxt")
        .agg(pl.col("x").min().alias("late_exit"))
    )
    if late.height == 0:
        return ev
    ev = ev.join(late, left_on=keys, right_on=[*KEY, "nxt"], how="left")
    moved = (
        pl.col("late_exit").is_not_null()
        & (pl.col("ts") <= pl.col("late_exit"))
        & (c.is_in(["stop", "exit"]) | (pl.col("code") == "R12")).fill_null(False)
    )
    return ev.with_columns(
        pl.when(moved).then(pl.col("lifetime") - 1).otherwise("lifetime").alias("lifetime")
    ).drop("late_exit")


def _aggregate(ev: pl.DataFrame) -> pl.DataFrame:
    """What the events of each lifetime say about its end."""
    c, f, t, ts = pl.col("kind"), pl.col("from_state"), pl.col("to_state"), pl.col("ts")
    state = c == "state_change"

    def first(cond: pl.Expr) -> pl.Expr:
        return ts.filter(cond.fill_null(False)).min()

    def any_(cond: pl.Expr) -> pl.Expr:
        return cond.fill_null(False).any()

    ev = ev.filter(pl.col("lifetime").is_not_null()).sort("ts", "line_no")
    keys = [*KEY, "lifetime"]
    agg = ev.group_by(keys).agg(
        first(c == "exit").alias("exit_ts"),
        pl.col("exit_status").filter(c == "exit").first().alias("exit_status"),
        first(state & t.is_in(["crashed", "down", "complete"])).alias("end_state_ts"),
        first(state & (t == "up")).alias("up_ts"),
        first(state & (t == "crashed")).alias("crashed_ts"),
        first(
            c.is_in(["restarting", "cycling", "idling"])
            | ((c == "stop") & (pl.col("signal") == "SIGTERM"))
            | (state & (f == "up") & t.is_in(["starting", "down", "bouncing"]))
        ).alias("intent_ts"),
        any_((c == "error") & (pl.col("code") == "R15")).alias("r15"),
        any_((c == "error") & (pl.col("code") == "R12")).alias("r12"),
        any_((c == "error") & (pl.col("code") == "R10")).alias("r10"),
        any_(c == "cycling").alias("cycling"),
        any_(c == "idling").alias("idling"),
        any_((c == "restarting") | (state & (f == "up") & t.is_in(["starting", "bouncing"]))).alias(
            "restarting"
        ),
        any_(state & (f == "up") & (t == "down")).alias("down"),
        ts.max().alias("last_ev"),
    )
    src = (
        ev.group_by(*keys, pl.col("source_file").alias("file"))
        .agg(
            pl.col("line_no").min().alias("first_line"), pl.col("line_no").max().alias("last_line")
        )
        .sort("file")
        .group_by(keys)
        .agg(pl.struct("file", "first_line", "last_line").alias("ev_sources"))
    )
    return agg.join(src, on=keys, how="left")


def _end_cause() -> pl.Expr:
    """How a lifetime ended, from its aggregated events (first matching rule wins)."""
    intent, crashed = pl.col("intent_ts"), pl.col("crashed_ts")
    no_intent = intent.is_null()
    status = pl.col("exit_status")
    return (
        pl.when(pl.col("r15").fill_null(False))
        .then(pl.lit("R15"))
        .when(crashed.is_not_null() & (no_intent | (crashed < intent)))
        .then(pl.lit("crash"))
        .when(
            no_intent
            & (pl.col("r10").fill_null(False) | (status.is_not_null() & ~status.is_in([0, 143])))
        )
        .then(pl.lit("crash"))
        .when(no_intent & (pl.col("next_from") == "crashed"))
        .then(pl.lit("crash"))
        .when(pl.col("cycling").fill_null(False))
        .then(pl.lit("cycling"))
        .when(pl.col("idling").fill_null(False))
        .then(pl.lit("idling"))
        .when(intent.is_not_null() & pl.col("deploy_rel").is_not_null())
        .then(pl.lit("deploy"))
        .when(pl.col("restarting").fill_null(False))
        .then(pl.lit("restart"))
        .when(pl.col("down").fill_null(False) & pl.col("scale_near").is_not_null())
        .then(pl.lit("scale"))
        .when(
            intent.is_not_null()
            & pl.col("next_start").is_not_null()
            & ~pl.col("down").fill_null(False)
        )
        .then(pl.lit("restart"))
        .when(intent.is_not_null() | pl.col("down").fill_null(False))
        .then(pl.lit("stop"))
        .when(pl.col("exit_ts").is_not_null() | pl.col("end_state_ts").is_not_null())
        .then(pl.lit("exit"))
        .when(pl.col("next_start").is_null())
        .then(pl.lit("end_of_log"))
        .otherwise(pl.lit("unknown"))
    )


_EVENTS_SQL = f"""
    SELECT app, {app_key_sql()} AS akey, dyno, ts, line_no, source_file, kind, code,
           from_state, to_state, exit_status, signal
    FROM events
    WHERE dyno IS NOT NULL AND regexp_full_match(dyno, '{{dyno_re}}')
      AND (kind IN ('start', 'state_change', 'exit', 'stop', 'restarting', 'cycling',
                    'idling', 'unidling')
           OR (kind = 'error' AND code IN ('R10', 'R12', 'R15')))
    QUALIFY row_number() OVER (PARTITION BY akey, dyno, ts, kind, message
                               ORDER BY source_file, line_no) = 1
"""

_EVIDENCE_SQL = f"""
    SELECT akey, any_value(app) AS app, dyno, min(lo) AS lo, max(hi) AS hi FROM (
        SELECT {app_key_sql()} AS akey, app, dyno, min(ts) AS lo, max(ts) AS hi
        FROM events WHERE dyno IS NOT NULL GROUP BY ALL
        UNION ALL
        SELECT {app_key_sql()}, app, dyno, min(ts), max(ts)
        FROM dyno_metrics WHERE dyno IS NOT NULL GROUP BY ALL
        UNION ALL
        SELECT {app_key_sql()}, app, dyno, min(ts), max(ts)
        FROM requests WHERE dyno IS NOT NULL GROUP BY ALL
        UNION ALL
        SELECT {app_key_sql()}, app, dyno, min(ts), max(ts)
        FROM app_logs WHERE dyno IS NOT NULL GROUP BY ALL
    ) WHERE regexp_full_match(dyno, '{{dyno_re}}')
    GROUP BY akey, dyno
"""

_IDS_SQL = f"""
    SELECT {app_key_sql()} AS akey, dyno, dyno_id, min(ts) AS first_ts, max(ts) AS last_ts
    FROM dyno_metrics
    WHERE dyno_id IS NOT NULL AND dyno IS NOT NULL AND regexp_full_match(dyno, '{{dyno_re}}')
    GROUP BY ALL
"""

_RELEASES_SQL = f"""
    SELECT {app_key_sql()} AS akey, release, min(ts) AS ts,
           TRY_CAST(substr(release, 2) AS BIGINT) AS version
    FROM events WHERE kind = 'release' AND release IS NOT NULL GROUP BY ALL
    ORDER BY akey, ts
"""


_COLUMNS = [
    "app",
    "dyno",
    "process_type",
    "lifetime",
    "lifetime_id",
    "dyno_id",
    "dyno_ids",
    "start",
    "up",
    "end",
    "started_before_log",
    "start_cause",
    "end_cause",
    "exit_status",
    "r12",
    "release",
    "release_inferred",
    "samples",
    "first_sample",
    "last_sample",
    "sources",
]


def _merge_sources(df: pl.DataFrame) -> pl.DataFrame:
    """Event and metrics line ranges per input file, merged into one `sources` list."""
    key = ["akey", "dyno", "lifetime"]
    parts = [
        df.select(*key, pl.col(c)).explode(c).drop_nulls(c).unnest(c)
        for c in ("ev_sources", "m_sources")
    ]
    lines = pl.concat(parts)
    merged = (
        lines.group_by(*key, "file")
        .agg(pl.col("first_line").min(), pl.col("last_line").max())
        .sort("file")
        .group_by(key)
        .agg(pl.struct("file", "first_line", "last_line").alias("sources"))
    )
    return df.join(merged, on=key, how="left", nulls_equal=True)


def _empty() -> pl.DataFrame:
    ts = pl.Datetime("us", "UTC")
    src = pl.List(pl.Struct({"file": pl.String, "first_line": pl.Int64, "last_line": pl.Int64}))
    schema = {
        "app": pl.String,
        "dyno": pl.String,
        "process_type": pl.String,
        "lifetime": pl.Int64,
        "lifetime_id": pl.String,
        "dyno_id": pl.String,
        "dyno_ids": pl.Int64,
        "start": ts,
        "up": ts,
        "end": ts,
        "started_before_log": pl.Boolean,
        "start_cause": pl.String,
        "end_cause": pl.String,
        "exit_status": pl.Int32,
        "r12": pl.Boolean,
        "release": pl.String,
        "release_inferred": pl.Boolean,
        "samples": pl.Int64,
        "first_sample": ts,
        "last_sample": ts,
        "sources": src,
    }
    return pl.DataFrame(schema=schema)


def _metrics_stats_sql(lt: str) -> str:
    return f"""
        WITH m AS ({metric_rows_sql(lt, "memory_total_mb IS NOT NULL")}),
        per_file AS (
            SELECT akey, dyno, lifetime,
                   list({{'file': file, 'first_line': fl, 'last_line': ll}} ORDER BY file)
                       AS m_sources
            FROM (SELECT akey, dyno, lifetime, source_file AS file, min(line_no) AS fl,
                         max(line_no) AS ll
                  FROM m WHERE lifetime IS NOT NULL GROUP BY ALL)
            GROUP BY ALL
        ),
        agg AS (
            SELECT akey, dyno, lifetime, count(*) AS samples, min(ts) AS first_sample,
                   max(ts) AS last_sample, count(DISTINCT dyno_id) AS dyno_ids,
                   arg_min(dyno_id, ts) AS dyno_id
            FROM m WHERE lifetime IS NOT NULL GROUP BY ALL
        )
        SELECT a.*, p.m_sources
        FROM agg a JOIN per_file p USING (akey, dyno, lifetime)
    """


def given_or_computed(
    con: duckdb.DuckDBPyConnection, lifetimes_frame: pl.DataFrame | None
) -> pl.DataFrame:
    """`lifetimes_frame` when the caller computed it already (analyses share it), else
    `lifetimes(con)`."""
    return lifetimes_frame if lifetimes_frame is not None else lifetimes(con)
