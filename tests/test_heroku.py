"""Heroku's platform facts: the doctests of forensics.heroku, the R15 limit per dyno type, the
shutdown window of an R12 line, and one process type for a dyno name in Python, SQL and Polars."""

from __future__ import annotations

import doctest

import duckdb
import polars as pl
import pytest

from forensics import heroku

ODD_NAMES = ["web.1", "worker.scheduler.2", "api", "run.1234", "a.b.1", "", None]
TYPES = ["web", "worker", "api", "run", "a", "", None]


def test_doctests() -> None:
    result = doctest.testmod(heroku)
    assert result.attempted >= 3 and result.failed == 0


@pytest.mark.parametrize(
    ("size", "logged", "limit"),
    [
        ("Standard-1X", None, 1024.0),
        ("standard-2x", None, 2048.0),
        ("Basic", None, 1024.0),
        ("Performance-M", None, 5120.0),
        ("Performance-L", None, 28672.0),
        ("Performance-L-RAM", None, 36864.0),
        ("Performance-XL", None, 1.2 * 62464),
        ("Performance-2XL", None, 1.2 * 126976),
        ("Private-M", None, 2560.0),
        ("Shield-L", None, 14336.0),
        # the log's own memory_quota wins over the table; the type still gives the factor
        ("Standard-1X", 600.0, 1200.0),
        ("Performance-XL", 60000.0, 72000.0),
        ("Private-S", 1000.0, 1000.0),
        # unknown size: 2x a logged quota, nothing without one
        (None, 512.0, 1024.0),
        ("Mega-9X", 512.0, 1024.0),
        (None, None, None),
        ("Mega-9X", None, None),
    ],
)
def test_r15_limit_mb_per_type(size: str | None, logged: float | None, limit: float | None):
    assert heroku.r15_limit_mb(size, logged_quota_mb=logged) == pytest.approx(limit)


def test_r15_pct_and_known_quotas() -> None:
    assert heroku.r15_pct(None) == heroku.r15_pct("standard-1x") == 200.0
    assert heroku.r15_pct("performance-l-ram") == pytest.approx(120.0)
    assert heroku.r15_pct("shield-xl") == 100.0
    assert list(heroku.KNOWN_QUOTAS_MB) == sorted(set(heroku.DYNO_QUOTA_MB.values()))
    assert 8192.0 not in heroku.KNOWN_QUOTAS_MB  # no dyno has 8 GB (a stale copy listed it)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("At least one process failed to exit within 30 seconds of SIGTERM", 30.0),
        ("Exit timeout: Process failed to exit within 10 seconds of SIGTERM", 10.0),
        ("failed to exit within 1 second of SIGTERM", 1.0),
        ("Exit timeout", 30.0),
        ("", 30.0),
        (None, 30.0),
    ],
)
def test_shutdown_seconds(text: str | None, seconds: float) -> None:
    assert heroku.shutdown_seconds(text) == seconds
    got = duckdb.sql(
        f"SELECT {heroku.shutdown_seconds_sql('t')} FROM (SELECT ? AS t)", params=[text]
    )
    assert got.fetchall() == [(seconds,)]


def test_process_type_is_the_same_in_python_sql_and_polars() -> None:
    assert [heroku.process_type(d) for d in ODD_NAMES] == TYPES
    sql = duckdb.sql(
        f"SELECT {heroku.process_type_sql('d')} FROM unnest(?) AS t(d)", params=[ODD_NAMES]
    )
    assert [r[0] for r in sql.fetchall()] == TYPES
    frame = pl.DataFrame({"dyno": ODD_NAMES}, schema={"dyno": pl.String})
    assert frame.select(heroku.process_type_expr("dyno"))["process_type"].to_list() == TYPES


def test_dyno_name_and_uuid_patterns() -> None:
    names = ["web.1", "worker_2.10", "run.1234", "api", "router", "heroku-postgres", "1web.1"]
    full = [d for d in names if heroku.DYNO_NAME.fullmatch(d)]
    assert full == ["web.1", "worker_2.10", "run.1234"]
    sql = duckdb.sql(
        f"SELECT d FROM unnest(?) AS t(d) WHERE regexp_full_match(d, '{heroku.DYNO_NAME_RE}')",
        params=[names],
    )
    assert [r[0] for r in sql.fetchall()] == full
    m = heroku.DYNO_ID.fullmatch("heroku.1234.8bb4cd4a-8e5b-4ad2-9f3a-1c5b2c0e9f10")
    assert m and m.group(1) == "1234"
    assert heroku.UUID_RE.search("req [8BB4CD4A-8E5B-4AD2-9F3A-1C5B2C0E9F10] ok")


def test_analyses_use_the_one_process_type() -> None:
    """The analyses' helper is heroku's (it used to cut at the last dot: `worker.scheduler`)."""
    from forensics.analyses import common

    assert common.process_type_sql is heroku.process_type_sql
    got = duckdb.sql(f"SELECT {common.process_type_sql('d')} FROM (SELECT 'a.b.1' AS d)")
    assert got.fetchall() == [("a",)]
