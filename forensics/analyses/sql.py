"""The SQL helpers every analysis and finding uses: one runner (`query`), the app join key,
frames registered as views, cheap existence checks, SQL lists of error codes, and the join of
rows to dyno lifetimes. Analyses import SQL helpers from here only, never from each other."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import duckdb
import polars as pl

from forensics.errors import ForensicsError
from forensics.store import views

# Name of the app join key column: the app, or '' when the log names none (a null app must
# still join to itself, which SQL `=` and Polars joins on null do not do).
APP_KEY = "akey"


def query(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> pl.DataFrame:
    """Run SQL (with named `$parameters`) over the dataset's views and return a Polars frame;
    SQL errors become ForensicsError (the store's own runner, so analyses and the CLI report
    them alike)."""
    return views.query(con, sql, params)


def app_key_sql(col: str = "app") -> str:
    """The app join key as a SQL expression over `col`: the app, '' when null."""
    return f"coalesce({col}, '')"


def app_key_expr(col: str | pl.Expr = "app", *, alias: str = APP_KEY) -> pl.Expr:
    """The app join key as a Polars expression over `col` (see `app_key_sql`), named `alias`."""
    expr = pl.col(col) if isinstance(col, str) else col
    return expr.fill_null("").alias(alias)


def has_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the connection has a table or view `name` (e.g. the uncut `_raw_events`)."""
    try:
        con.execute(f"SELECT 1 FROM {name} LIMIT 0")
    except duckdb.Error:
        return False
    return True


def sql_list(codes: Iterable[str]) -> str:
    """`('H12', 'H13')` for a SQL IN list; only Heroku-style codes (H12, R10, L11) are allowed."""
    items = [str(c).strip().upper() for c in codes]
    bad = [c for c in items if not re.fullmatch(r"[A-Z]\d{2}", c)]
    if bad or not items:
        raise ForensicsError(f"error codes must look like H12 or R10, got {list(codes)!r}")
    return "(" + ", ".join(f"'{c}'" for c in items) + ")"


def names_sql(names: Iterable[str]) -> str:
    """`('run', 'scheduler')` for a SQL IN list of process types or kinds (plain names only)."""
    items = sorted(str(n) for n in names)
    bad = [n for n in items if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", n)]
    if bad or not items:
        raise ForensicsError(f"names must be plain words, got {list(names)!r}")
    return "(" + ", ".join(f"'{n}'" for n in items) + ")"


EPOCH_SQL = "TIMESTAMPTZ '1970-01-01 00:00:00+00'"


@contextlib.contextmanager
def registered(con: duckdb.DuckDBPyConnection, df: pl.DataFrame) -> Iterator[str]:
    """Register a Polars frame on the connection under a fresh name for the `with` block."""
    name = f"_fx_{uuid.uuid4().hex[:12]}"
    con.register(name, df)
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):
            con.unregister(name)


def has_rows(con: duckdb.DuckDBPyConnection, table: str, where: str = "TRUE") -> bool:
    """Whether `table` (a view) has a row matching `where`: a cheap check before big queries."""
    return query(con, f"SELECT 1 AS x FROM {table} WHERE {where} LIMIT 1").height > 0


def assign_sql(source: str, lt: str) -> str:
    """SQL joining each row of `source` to its lifetime in the registered lifetimes frame `lt`.

    `source` must yield `akey` (app or ''), `dyno` and `key_ts` (the time that decides the
    lifetime: the row time, or for metrics the first time of the row's dyno_id). Adds
    `lifetime` (null for dynos without lifetimes). Exact, and fast on millions of rows: rows
    are looked up by (dyno, minute) in a small map; only rows in a minute where a lifetime
    starts are placed one by one (ASOF join).
    """
    return f"""
        WITH _src AS (SELECT *, epoch_us(key_ts) // 60000000 AS _m FROM ({source})),
        _lk AS (
            SELECT {app_key_sql()} AS l_akey, dyno AS l_dyno, lifetime,
                   CASE WHEN lifetime = 1 THEN {EPOCH_SQL} ELSE start END AS l_key,
                   epoch_us(start) // 60000000 AS l_m
            FROM {lt}
        ),
        _edge AS (SELECT DISTINCT l_akey, l_dyno, l_m FROM _lk WHERE lifetime > 1),
        _keys AS (SELECT DISTINCT akey, dyno, _m FROM _src),
        _km AS (
            SELECT k.akey, k.dyno, k._m, l.lifetime AS _lt, e.l_m IS NOT NULL AS _is_edge
            FROM _keys k
            ASOF LEFT JOIN _lk l ON k.akey = l.l_akey AND k.dyno = l.l_dyno
                 AND make_timestamp(k._m * 60000000) >= l.l_key
            LEFT JOIN _edge e ON k.akey = e.l_akey AND k.dyno = e.l_dyno AND k._m = e.l_m
        ),
        _j AS (
            SELECT s.*, km._lt, km._is_edge FROM _src s
            JOIN _km km ON s.akey = km.akey AND s.dyno = km.dyno AND s._m = km._m
        )
        SELECT * EXCLUDE (_m, _lt, _is_edge), _lt AS lifetime FROM _j WHERE NOT _is_edge
        UNION ALL
        SELECT j.* EXCLUDE (_m, _lt, _is_edge), l.lifetime
        FROM (SELECT * FROM _j WHERE _is_edge) j
        ASOF LEFT JOIN _lk l ON j.akey = l.l_akey AND j.dyno = l.l_dyno AND j.key_ts >= l.l_key
    """


def metric_rows_sql(lt: str, where: str = "TRUE") -> str:
    """dyno_metrics rows (matching `where`) with `akey` and their `lifetime`.

    A row with a dyno_id goes to the lifetime where that dyno_id was first seen, so all
    samples of one process instance stay together even when they overlap the next start;
    rows without one are placed by their time.
    """
    ids = assign_sql(
        f"""SELECT {app_key_sql()} AS akey, dyno, dyno_id, min(ts) AS key_ts
            FROM dyno_metrics WHERE dyno_id IS NOT NULL AND dyno IS NOT NULL GROUP BY ALL""",
        lt,
    )
    loose = assign_sql("SELECT * FROM _m WHERE dyno_id IS NULL", lt)
    return f"""
        WITH _m AS (
            SELECT *, {app_key_sql()} AS akey, ts AS key_ts FROM dyno_metrics
            WHERE dyno IS NOT NULL AND ({where})
        ),
        _ids AS ({ids})
        SELECT m.*, i.lifetime FROM _m m
        JOIN _ids i ON m.akey = i.akey AND m.dyno = i.dyno AND m.dyno_id = i.dyno_id
        UNION ALL
        SELECT * FROM ({loose})
    """
