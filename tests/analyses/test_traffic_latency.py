"""Traffic by status class and service-time percentiles over time: exact numbers on a
hand-written log, several windows at their own resolution in one call, empty buckets as zeros,
and the error share counted as the request-error findings count failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scenario_b import ingest_lines  # tests/analyses is on sys.path

from forensics.analyses import latency, traffic
from forensics.analyses.series import bucket_grid, window_buckets
from forensics.errors import ForensicsError


def router(ts: str, service: int, *, status: int = 200, code: str | None = None) -> str:
    head = "at=info" if code is None else f'at=error code={code} desc="x"'
    return (
        f"2024-05-20T{ts}.000000+00:00 heroku[router]: {head} method=GET path=/p "
        f'host=x.herokuapp.com request_id=r fwd="1.2.3.4" dyno=web.1 connect=1ms '
        f"service={service}ms status={status} bytes=10 protocol=https"
    )


# 10:00-10:01: four 200s, a 302, a 404, a 500, an H12 (503), a client H27 (499);
# 10:01-10:02: nothing; 10:02-10:03: two 200s and an H10
LINES = [
    *[router(f"10:00:{10 + i:02d}", s) for i, s in enumerate([100, 200, 300, 400])],
    router("10:00:20", 50, status=302),
    router("10:00:21", 20, status=404),
    router("10:00:22", 900, status=500),
    router("10:00:30", 30000, status=503, code="H12"),
    router("10:00:40", 5000, status=499, code="H27"),
    router("10:02:05", 80),
    router("10:02:06", 120),
    router("10:02:07", 0, status=503, code="H10"),
]
T0 = datetime(2024, 5, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory):
    c, _ = ingest_lines(tmp_path_factory.mktemp("traffic"), "\n".join(LINES))
    yield c
    c.close()


def test_each_request_counted_once_under_its_code_or_status_class(con) -> None:
    df = traffic.status_series(con, windows=[("w", T0, T0 + timedelta(minutes=3))])
    assert df["bucket_seconds"].unique().to_list() == [60]
    got = {
        (b.minute, c): n for b, c, n in df.select("bucket", "status_class", "requests").iter_rows()
    }
    assert got[(0, "2xx")] == 4 and got[(0, "3xx")] == 1 and got[(0, "4xx")] == 1
    assert got[(0, "5xx")] == 1 and got[(0, "H12")] == 1 and got[(0, "H27")] == 1
    assert got[(2, "2xx")] == 2 and got[(2, "H10")] == 1
    # 10:01 had no request: every class is there with 0, so a drop to nothing shows
    assert all(got[(1, c)] == 0 for c in ("2xx", "3xx", "4xx", "5xx", "H10", "H12", "H27"))
    assert df["requests"].sum() == len(LINES)
    assert (
        df.filter(pl.col("requests") > 0)["per_minute"].to_list()
        == df.filter(pl.col("requests") > 0)["requests"].cast(pl.Float64).to_list()
    )  # 1-minute buckets


def test_windows_get_their_own_resolution_in_one_call(con) -> None:
    wins = [("day", T0 - timedelta(hours=12), T0 + timedelta(hours=12)), ("zoom", T0, T0)]
    df = traffic.status_series(con, windows=wins)
    widths = dict(df.select("window", "bucket_seconds").unique().iter_rows())
    assert widths == {"day": 600, "zoom": 60}  # 24 h in <= 240 buckets; a point in 1 min
    per = df.group_by("window").agg(pl.col("requests").sum())
    assert dict(per.iter_rows()) == {"day": len(LINES), "zoom": 9}  # 10:00-10:01 only
    # the end is inclusive (a log ends at its last line): its bucket is in
    assert df.filter(pl.col("window") == "day")["bucket"].n_unique() == 145


def test_whole_log_by_default_and_the_empty_table(con, tmp_path) -> None:
    df = traffic.status_series(con)
    assert set(df["window"]) == {"all"} and df["requests"].sum() == len(LINES)
    assert df["bucket"].min() == T0 and df["bucket_end"].max() == T0 + timedelta(minutes=3)
    empty, _ = ingest_lines(tmp_path, "2024-05-20T10:00:00+00:00 app[web.1]: hello")
    assert traffic.status_series(empty).is_empty()
    assert latency.service_percentiles(empty).is_empty()
    assert list(traffic.status_series(empty).schema) == list(traffic.SCHEMA)


def test_error_share_counts_app_failures_not_the_clients(con) -> None:
    status = traffic.status_series(con, windows=[("w", T0, T0 + timedelta(minutes=3))])
    share = traffic.error_share(status)
    first, empty, last, after = share.sort("bucket").iter_rows(named=True)
    assert (first["requests"], first["failed"]) == (9, 2)  # the 500 and the H12, not H27
    assert first["error_share"] == pytest.approx(2 / 9)
    assert empty["requests"] == 0 and empty["error_share"] is None
    assert (last["failed"], last["requests"]) == (1, 3)
    assert after["bucket"] == T0 + timedelta(minutes=3) and after["requests"] == 0


def test_percentiles_are_those_of_the_bucket(con) -> None:
    df = latency.service_percentiles(con, windows=[("w", T0, T0 + timedelta(minutes=3))])
    assert df["bucket"].to_list() == [T0, T0 + timedelta(minutes=2)]  # no row for 10:01
    services = [100, 200, 300, 400, 50, 20, 900, 30000, 5000]
    first = df.row(0, named=True)
    assert first["requests"] == 9 and first["max_ms"] == 30000
    for q, col in ((50, "p50_ms"), (95, "p95_ms"), (99, "p99_ms")):
        assert first[col] == pytest.approx(np.percentile(services, q))
    assert first["bucket_end"] == T0 + timedelta(minutes=1)


def test_window_buckets_cover_the_window_in_whole_buckets() -> None:
    start = datetime(2024, 5, 20, 10, 7, 30, tzinfo=UTC)
    w = window_buckets([("a", start, start + timedelta(hours=2))], max_buckets=24)
    assert w.row(0) == (
        "a", datetime(2024, 5, 20, 10, 5, tzinfo=UTC), datetime(2024, 5, 20, 12, 10, tzinfo=UTC),
        300,
    )  # fmt: skip
    grid = bucket_grid(w)
    assert grid.height == 25 and grid["bucket"].is_sorted()
    assert (grid["bucket_end"] - grid["bucket"]).unique().to_list() == [timedelta(minutes=5)]
    with pytest.raises(ForensicsError, match="ends"):
        window_buckets([("b", start, start - timedelta(seconds=1))], max_buckets=10)
