"""The syslog reader: RFC 5424 layouts, BSD lines, year and time-zone options."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from reader_render import TOKEN

from forensics.errors import ForensicsError
from forensics.readers import syslog

DATA = Path(__file__).parents[1] / "data"


def _read(text: str | bytes, **kw: object) -> tuple[pl.DataFrame, pl.DataFrame]:
    data = text.encode() if isinstance(text, str) else text
    batches = list(syslog.read([data], source_file="f", app=kw.pop("app", None), **kw))
    assert all(b.lines == b.envelope.height + b.rejects.height for b in batches)
    return pl.concat([b.envelope for b in batches]), pl.concat([b.rejects for b in batches])


def _fields(env: pl.DataFrame) -> list[tuple]:
    return env.select("ts", "app", "origin", "dyno", "message").rows()


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("line", "origin", "dyno", "message", "app"),
    [
        ("<40>1 T host app web.3 - State changed", "app", "web.3", "State changed", None),
        ("T host app web.3 - - starts with a dash", "app", "web.3", "- starts with a dash", None),
        (f"<190>1 T {TOKEN} app web.2 - - Started GET", "app", "web.2", "Started GET", None),
        (f"T {TOKEN} app web.2 - - - dash", "app", "web.2", "- dash", None),
        (f"<40>1 T heroku web.3 {TOKEN} - Starting", "heroku", "web.3", "Starting", None),
        ("<45>1 T heroku web.1 - - Error R14", "heroku", "web.1", "Error R14", None),
        ("T my-app heroku router - - at=info", "heroku", "router", "at=info", "my-app"),
        ("T host app - sample#x=1", "app", None, "sample#x=1", None),
        ("T host app web.1 -", "app", "web.1", "", None),
        ("T host app web.1 -   indented", "app", "web.1", "  indented", None),
        (f"T {TOKEN} heroku[web.1]: Error R14", "heroku", "web.1", "Error R14", None),
        (f"T heroku web.3[{TOKEN}]: Starting", "heroku", "web.3", "Starting", None),
    ],
)
def test_rfc5424_layouts(
    line: str, origin: str, dyno: str | None, message: str, app: str | None
) -> None:
    ts = "2019-05-01T11:23:05.806472+00:00"
    env, rej = _read(line.replace("T", ts, 1) + "\n")
    assert rej.height == 0
    assert _fields(env) == [(_utc(ts), app, origin, dyno, message)]


def test_real_src_030_space_timestamps() -> None:
    env, rej = _read((DATA / "real" / "src-030.log").read_bytes())
    assert rej.height == 0
    assert env["ts"].to_list()[:2] == [
        _utc("2015-01-26T00:16:57.648942+00:00"),
        _utc("2015-01-26T00:16:59.148687+00:00"),
    ]
    assert env["dyno"].to_list() == ["web.1", "worker.1", "worker.1", "web.1", "web.1"]
    assert set(env["origin"]) == {"heroku"}
    assert env["message"][1] == (
        "source=worker.1 dyno=heroku.26192163.df9651d3-9b45-482f-afbc-5f82282b0550 "
        "sample#load_avg_1m=0.00 sample#load_avg_5m=0.00 sample#load_avg_15m=0.00"
    )


def test_bsd_year_and_zone() -> None:
    text = (
        "Dec 31 23:59:58 my-app app[web.1]: last of the year\n"
        "Jan  1 00:00:01 my-app app[web.1]:  two spaces\n"
        "Dec 31 23:59:59 my-app app[web.1]: late line\n"
        "Jan  1 00:00:02 host heroku[router]: at=info\n"
    )
    env, rej = _read(text, year=2018, tz="Europe/Paris")
    assert rej.height == 0
    assert _fields(env) == [
        (_utc("2018-12-31T23:59:58+01:00"), "my-app", "app", "web.1", "last of the year"),
        (_utc("2019-01-01T00:00:01+01:00"), "my-app", "app", "web.1", " two spaces"),
        (_utc("2018-12-31T23:59:59+01:00"), "my-app", "app", "web.1", "late line"),
        (_utc("2019-01-01T00:00:02+01:00"), None, "heroku", "router", "at=info"),
    ]


def test_bsd_default_year_is_not_in_the_future() -> None:
    env, _ = _read("Jan  1 00:00:00 host app[web.1]: x\nDec 31 23:00:00 host app[web.1]: y\n")
    now = datetime.now(UTC)
    assert env["ts"][0].year in (now.year, now.year - 1)
    assert all(t <= now.replace(year=now.year + 1) for t in env["ts"])


def test_app_argument_wins() -> None:
    env, _ = _read("Jan  1 00:00:00 other app[web.1]: x\n", app="given", year=2020)
    assert env["app"].to_list() == ["given"]


def test_rejects_have_reasons() -> None:
    text = (
        "hello there\n"
        "\n"
        "<13>1 2019-11-25T18:28:00Z host app web.1\n"
        "<13>1 2019-11-25T24:28:00Z host app web.1 - x\n"
        "Feb 30 10:00:00 host app[web.1]: x\n"
    )
    env, rej = _read(text, year=2020)
    assert env.height == 0
    assert rej.sort("line_no")["reason"].to_list() == [
        "no_prefix",
        "blank",
        "bad_header",
        "bad_timestamp",
        "bad_timestamp",
    ]


def test_unknown_time_zone_is_a_clear_error() -> None:
    with pytest.raises(ForensicsError, match="unknown time zone 'Mars/Olympus'"):
        _read("x\n", tz="Mars/Olympus")
