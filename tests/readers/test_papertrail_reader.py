"""The Papertrail reader: archive TSV rows and text-view lines."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from forensics.readers import papertrail


def _read(text: str, **kw: object) -> tuple[pl.DataFrame, pl.DataFrame]:
    app = kw.pop("app", None)
    batches = list(papertrail.read([text.encode()], source_file="f", app=app, **kw))
    assert all(b.lines == b.envelope.height + b.rejects.height for b in batches)
    return pl.concat([b.envelope for b in batches]), pl.concat([b.rejects for b in batches])


def _fields(env: pl.DataFrame) -> list[tuple]:
    return env.select("ts", "app", "origin", "dyno", "message").rows()


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


ROW = (
    "50342052\t{ts}\t2011-02-10 00:19:37 -0800\t42424\twarm-cliffs-8392\t1.2.3.4\t"
    "Local3\tInfo\t{prog}\t{msg}"
)


def test_archive_rows() -> None:
    text = "\n".join(
        [
            ROW.format(ts="2011-02-10 00:19:36 -0800", prog="heroku/router", msg="at=info\tx"),
            ROW.format(ts="2011-02-10T08:19:36Z", prog="app/web.1", msg=""),
            ROW.format(ts="2011-02-10 09:19:36 +01:00", prog="sshd", msg=" lead"),
        ]
    )
    env, rej = _read(text)
    assert rej.height == 0
    t = _utc("2011-02-10T08:19:36+00:00")
    assert _fields(env) == [
        (t, "warm-cliffs-8392", "heroku", "router", "at=info\tx"),
        (t, "warm-cliffs-8392", "app", "web.1", ""),
        (t, "warm-cliffs-8392", "sshd", None, " lead"),
    ]
    env, _ = _read(text, app="given")
    assert set(env["app"]) == {"given"}


def test_archive_rejects() -> None:
    good = ROW.format(ts="2011-02-10 00:19:36 -0800", prog="app/web.1", msg="m")
    text = "\n".join([good, "1\t2\t3", "", ROW.format(ts="soon", prog="app/web.1", msg="m")])
    env, rej = _read(text)
    assert env.height == 1
    assert rej.sort("line_no").select("line_no", "reason").rows() == [
        (2, "wrong_column_count"),
        (3, "blank"),
        (4, "bad_timestamp"),
    ]


def test_text_view() -> None:
    text = (
        "Jan 08 10:55:11 warm-cliffs-8392 heroku/web.1:  State changed from up to down  \n"
        "Jan  8 10:55:12 warm-cliffs-8392 app/web.1: one space\n"
        "Jan 08 10:55:13 warm-cliffs-8392 app/web.1:\n"
        "Jan 08 10:55:14 warm-cliffs-8392 app/web.1:     indented\n"
        "nonsense\n"
    )
    env, rej = _read(text, year=2013, tz="America/New_York")
    t = _utc("2013-01-08T10:55:11-05:00")
    app = "warm-cliffs-8392"
    assert _fields(env) == [
        (t, app, "heroku", "web.1", "State changed from up to down  "),
        (t.replace(second=12), app, "app", "web.1", "one space"),
        (t.replace(second=13), app, "app", "web.1", ""),
        (t.replace(second=14), app, "app", "web.1", "   indented"),
    ]
    assert rej["reason"].to_list() == ["no_prefix"]
