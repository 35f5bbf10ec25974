"""The per-dataset memo: one computation per connection and arguments, defaults filled in."""

from __future__ import annotations

import duckdb
import polars as pl

from forensics.analyses.memo import per_dataset

calls: list[tuple] = []


@per_dataset
def _table(con: duckdb.DuckDBPyConnection, *, n: int = 1, frame: pl.DataFrame | None = None):
    calls.append((n, frame is None))
    return pl.DataFrame({"n": [n]})


def test_same_connection_and_arguments_compute_once() -> None:
    calls.clear()
    con = duckdb.connect()
    first = _table(con)
    assert _table(con, n=1) is first  # the default, given or not, is one key
    assert _table(con, n=2) is not first
    other = duckdb.connect()
    assert _table(other) is not first  # another dataset: its own entry
    assert calls == [(1, True), (2, True), (1, True)]


def test_frames_are_compared_by_identity() -> None:
    calls.clear()
    con = duckdb.connect()
    a, b = pl.DataFrame({"x": [1]}), pl.DataFrame({"x": [1]})
    assert _table(con, frame=a) is _table(con, frame=a)
    _table(con, frame=b)
    assert len(calls) == 2
