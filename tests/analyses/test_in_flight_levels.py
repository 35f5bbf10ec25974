"""`in_flight_levels` (NumPy sorted searches) gives the counts the rank formula gives: requests
of the dyno started at or before each start minus those ended at or before it, ties included,
in any row order."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.analyses.concurrency import in_flight_levels


def _by_rank(df: pl.DataFrame) -> pl.Series:
    """The formula `in_flight_levels` replaced (Polars `rank` and `search_sorted`)."""
    t0 = df["start_us"].min()
    span = df["end_us"].max() - t0 + 1
    s = pl.col("g") * span + pl.col("start_us") - t0
    e = pl.col("g") * span + pl.col("end_us") - t0
    level = s.rank("max").cast(pl.Int64) - e.sort().search_sorted(s, side="right").cast(pl.Int64)
    return df.select(level.alias("level"))["level"]


_REQUEST = st.tuples(st.integers(0, 3), st.integers(0, 40), st.integers(0, 15))


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(st.lists(_REQUEST, min_size=1, max_size=60))
def test_levels_match_the_rank_formula(requests):
    g, start, length = zip(*requests, strict=True)
    df = pl.DataFrame(
        {
            "g": list(g),
            "start_us": list(start),
            "end_us": [s + n for s, n in zip(start, length, strict=True)],
        },
        schema={"g": pl.Int64, "start_us": pl.Int64, "end_us": pl.Int64},
    )
    got = in_flight_levels(df["g"], df["start_us"], df["end_us"])
    assert got.dtype == pl.Int64
    assert got.to_list() == _by_rank(df).to_list()


def test_a_request_is_in_flight_with_the_ones_it_overlaps():
    # web.1: [0, 10), [5, 7), [10, 12); web.2: [0, 1)
    g, s, e = pl.Series([0, 0, 0, 1]), pl.Series([0, 5, 10, 0]), pl.Series([10, 7, 12, 1])
    assert in_flight_levels(g, s, e).to_list() == [1, 2, 1, 1]
