"""What the (cut) dataset holds: its time span and rows per table, for provenance."""

from __future__ import annotations

from typing import Any

import duckdb

from forensics.analyses.sql import query
from forensics.schema import TABLE_NAMES

TIMED = tuple(t for t in TABLE_NAMES if t != "rejects")


def time_span(con: duckdb.DuckDBPyConnection) -> tuple[Any, Any]:
    """First and last timestamp over every timed table of the (cut) dataset."""
    union = " UNION ALL ".join(f"SELECT min(ts) AS lo, max(ts) AS hi FROM {t}" for t in TIMED)
    row = query(con, f"SELECT min(lo) AS lo, max(hi) AS hi FROM ({union})")
    return row["lo"][0], row["hi"][0]


def row_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per table in the (cut) dataset."""
    union = " UNION ALL ".join(f"SELECT '{t}' AS t, count(*) AS n FROM {t}" for t in TABLE_NAMES)
    return {t: int(n) for t, n in query(con, union).iter_rows()}
