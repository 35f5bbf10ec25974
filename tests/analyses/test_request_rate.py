"""The app's request rate in a window against the hour before: the doctest, a log that starts
inside the hour, and windows of several apps kept apart."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl

from forensics.analyses import request_rate as mod
from forensics.analyses.request_rate import request_rate

T0 = datetime(2024, 5, 20, 9, 0, tzinfo=UTC)


def test_doctests() -> None:
    assert doctest.testmod(mod).failed == 0


def _con(rows: list[tuple[str | None, datetime]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    frame = pl.DataFrame(rows, schema={"app": pl.String, "ts": pl.Datetime("us", "UTC")},
                         orient="row")  # fmt: skip
    con.register("requests", frame)
    return con


def test_rates_per_app_and_a_short_before() -> None:
    # app a: 1/min for 20 min, then 4/min for 10; app b (null app): 2/min throughout
    a = [("a", T0 + timedelta(minutes=m)) for m in range(20)]
    a += [("a", T0 + timedelta(minutes=20, seconds=15 * k)) for k in range(40)]
    b = [(None, T0 + timedelta(seconds=30 * k)) for k in range(60)]
    con = _con(a + b)
    w = pl.DataFrame(
        {"app": ["a", None], "start": [T0 + timedelta(minutes=20)] * 2,
         "end": [T0 + timedelta(minutes=30)] * 2},
        schema={"app": pl.String, "start": pl.Datetime("us", "UTC"),
                "end": pl.Datetime("us", "UTC")},
    )  # fmt: skip
    got = request_rate(con, w).select("app", "per_minute", "before_per_minute", "ratio").rows()
    # the log began 20 min before the window: the before rate is over those 20 min, not 60
    assert got == [("a", 4.0, 1.0, 4.0), (None, 2.0, 2.0, 1.0)]


def test_too_short_to_tell_is_null() -> None:
    con = _con([("a", T0 + timedelta(seconds=s)) for s in range(0, 600, 5)])
    w = pl.DataFrame(
        {"app": ["a"], "start": [T0 + timedelta(seconds=20)], "end": [T0 + timedelta(minutes=5)]},
        schema={"app": pl.String, "start": pl.Datetime("us", "UTC"),
                "end": pl.Datetime("us", "UTC")},
    )  # fmt: skip
    (row,) = request_rate(con, w).rows(named=True)
    assert row["before_per_minute"] is None and row["ratio"] is None
    assert row["per_minute"] is not None
