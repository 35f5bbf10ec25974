"""Helpers every analysis shares: process types, and which release was in effect when."""

from __future__ import annotations

import duckdb
import polars as pl

from forensics.views import query

# SQL expression for the process type of a dyno name: web.1 -> web, run.1234 -> run.
PROCESS_TYPE_SQL = "regexp_replace({col}, '\\.[^.]*$', '')"


def process_type_sql(col: str = "dyno") -> str:
    """`web.1` -> `web` as a SQL expression over `col`."""
    return PROCESS_TYPE_SQL.format(col=col)


def releases(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per release seen in the log (`Release vN created`), per app, in time order:
    app, release, version (int), start, end (start of the next release, or null).
    A release logged twice (overlapping exports) counts once, at its first time.
    """
    return query(
        con,
        """
        WITH r AS (
            SELECT app, release, min(ts) AS start
            FROM events WHERE kind = 'release' AND release IS NOT NULL
            GROUP BY app, release
        )
        SELECT app, release, CAST(substr(release, 2) AS INTEGER) AS version, start,
               lead(start) OVER (PARTITION BY app ORDER BY start) AS "end"
        FROM r ORDER BY app NULLS FIRST, start
        """,
    )


def release_at_sql(ts_col: str, app_col: str = "app") -> str:
    """A correlated SQL subquery giving the release in effect at `ts_col` (null before the
    first release seen). Use inside queries over the views, e.g. for tagging lifetimes."""
    return (
        "(SELECT e.release FROM events e WHERE e.kind = 'release' "
        f"AND e.ts <= {ts_col} AND e.app IS NOT DISTINCT FROM {app_col} "
        "ORDER BY e.ts DESC LIMIT 1)"
    )
