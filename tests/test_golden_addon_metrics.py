"""Golden add-on metric lines (`app[heroku-redis]`, `app[heroku-postgres]`, custom `sample#`)
-> `addon_metrics`, one row per `sample#key=value`, every column of every row checked.
"""

from __future__ import annotations

import pytest
from ingest_helpers import (
    REAL,
    Golden,
    check_golden,
    golden_dataset,
    golden_params,
    run_ingest,
    utc,
)

T = "addon_metrics"


def samples(*triples: tuple[str, float | None, str | None]) -> tuple[dict, ...]:
    return tuple({"metric": m, "value": v, "unit": u} for m, v, u in triples)


CASES = [
    # src-009 (2016): old Redis line, no addon=, `.0kB` values, second-resolution time.
    Golden(
        T, ref="src-009:1",
        expected=dict(ts=utc(2016, 7, 8, 23, 29, 17), dyno="heroku-redis", source="REDIS"),
        rows=samples(
            ("active-connections", 3.0, None), ("load-avg-1m", 0.025, None),
            ("load-avg-5m", 0.03, None), ("load-avg-15m", 0.05, None),
            ("read-iops", 0.0, None), ("write-iops", 0.0, None),
            ("memory-total", 15664884.0, "kB"), ("memory-free", 4570588.0, "kB"),
            ("memory-cached", 9798148.0, "kB"), ("memory-redis", 334656.0, "bytes"),
            ("hit-rate", 1.0, None), ("evicted-keys", 0.0, None),
        ),
    ),
    # src-027 (2018): Postgres with addon=, `bytes` and `kB` units, `_` and `-` in names.
    Golden(
        T, ref="src-027:2",
        expected=dict(ts=utc(2018, 12, 6, 22, 59, 22), dyno="heroku-postgres",
                      addon="postgresql-shaped-31311", source="HEROKU_POSTGRESQL_WHITE"),
        rows=samples(
            ("current_transaction", 6081637.0, None), ("db_size", 4736005607.0, "bytes"),
            ("tables", 29.0, None), ("active-connections", 6.0, None),
            ("waiting-connections", 0.0, None), ("index-cache-hit-rate", 1.0, None),
            ("table-cache-hit-rate", 0.3005, None), ("load-avg-1m", 0.0, None),
            ("load-avg-5m", 0.0, None), ("load-avg-15m", 0.0, None),
            ("read-iops", 0.0, None), ("write-iops", 0.0, None),
            ("memory-total", 8173640.0, "kB"), ("memory-free", 162364.0, "kB"),
            ("memory-cached", 6904300.0, "kB"), ("memory-postgres", 14968.0, "kB"),
        ),
    ),
    # src-005 drain frame (2016), re-enveloped: `.0kB` next to plain `kB`, source=DATABASE.
    Golden(
        T,
        text="2016-02-13T21:20:25+00:00 app[heroku-postgres]: source=DATABASE "
        "sample#current_transaction=15365 sample#db_size=4347350804bytes sample#tables=43 "
        "sample#write-iops=112.73 sample#memory-total=15405636.0kB sample#memory-free=214004kB",
        expected=dict(ts=utc(2016, 2, 13, 21, 20, 25), dyno="heroku-postgres",
                      source="DATABASE"),
        rows=samples(
            ("current_transaction", 15365.0, None), ("db_size", 4347350804.0, "bytes"),
            ("tables", 43.0, None), ("write-iops", 112.73, None),
            ("memory-total", 15405636.0, "kB"), ("memory-free", 214004.0, "kB"),
        ),
    ),
    # src-001 drain frame (2019), re-enveloped: Redis with addon= and a named attachment.
    Golden(
        T,
        text="2019-11-25T18:29:19+00:00 app[heroku-redis]: source=CACHE_STORE "
        "addon=redis-regular-64666 sample#active-connections=18 sample#write-iops=22.552 "
        "sample#memory-redis=3045976bytes sample#hit-rate=0.97585",
        expected=dict(ts=utc(2019, 11, 25, 18, 29, 19), dyno="heroku-redis",
                      addon="redis-regular-64666", source="CACHE_STORE"),
        rows=samples(
            ("active-connections", 18.0, None), ("write-iops", 22.552, None),
            ("memory-redis", 3045976.0, "bytes"), ("hit-rate", 0.97585, None),
        ),
    ),
    # src-001 drain frame: tmp-disk-* values are bytes without a unit suffix.
    Golden(
        T,
        text="2019-11-25T18:28:54+00:00 app[heroku-postgres]: source=HEROKU_POSTGRESQL_GREEN "
        "addon=postgresql-triangular-70792 sample#tmp-disk-used=33849344 "
        "sample#tmp-disk-available=72944943104",
        expected=dict(ts=utc(2019, 11, 25, 18, 28, 54), dyno="heroku-postgres",
                      addon="postgresql-triangular-70792", source="HEROKU_POSTGRESQL_GREEN"),
        rows=samples(("tmp-disk-used", 33849344.0, None),
                     ("tmp-disk-available", 72944943104.0, None)),
    ),
    # src-002 drain frame: a custom app metric (no source=), from an app dyno.
    Golden(
        T,
        text="2017-11-30T06:45:29+00:00 app[web.3]: sample#service.dataset_count=19071",
        expected=dict(ts=utc(2017, 11, 30, 6, 45, 29), dyno="web.3"),
        rows=samples(("service.dataset_count", 19071.0, None)),
    ),
    # Parser doc: a non-numeric sample keeps null value and its text in `extra`.
    Golden(
        T,
        text="2019-11-25T18:30:00+00:00 app[heroku-redis]: source=REDIS "
        "sample#active-connections=4 sample#maxmemory-policy=noeviction",
        expected=dict(ts=utc(2019, 11, 25, 18, 30), dyno="heroku-redis", source="REDIS"),
        rows=(
            {"metric": "active-connections", "value": 4.0, "unit": None},
            {"metric": "maxmemory-policy", "value": None, "unit": None,
             "extra": "sample#maxmemory-policy=noeviction"},
        ),
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return golden_dataset(tmp_path_factory, CASES)


@pytest.mark.parametrize(("line_no", "case"), golden_params(CASES))
def test_addon_metrics_line(ds, line_no, case):
    check_golden(ds, line_no, case)


def test_records_count_lines_and_rows_count_samples(ds):
    assert ds.file.records == {T: len(CASES)}
    assert ds.file.rows[T] == sum(len(c.rows) for c in CASES)


def test_src_009_redis_lines_all_land_in_addon_metrics(tmp_path):
    ds = run_ingest([REAL / "src-009.log"], tmp_path / "ds")
    assert ds.file.records == {T: 18, "app_logs": 5}
    assert ds.file.rows[T] == 18 * 12
    per_line = ds.table(T).group_by("line_no").len()
    assert set(per_line["len"]) == {12}
