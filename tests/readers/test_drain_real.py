"""Real drain bodies (src-001..006, src-051) come out field-exact, frame by frame.

Their publishers' edits made several octet counts wrong (too long, off by one, a newline where
the space after a count was); the expected envelopes were checked by hand against the bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from reader_render import frame

from forensics.readers import drain

DATA = Path(__file__).parents[1] / "data"
EXPECTED = json.loads((DATA / "formats" / "drain_real_expected.json").read_text())


def _read(data: bytes, **kw: object) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    batches = list(drain.read([data], source_file="f", app=None, **kw))
    env = pl.concat([b.envelope for b in batches]).sort("byte_offset")
    rej = pl.concat([b.rejects for b in batches]).sort("byte_offset")
    return env, rej, sum(b.lines for b in batches)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_frames_field_exact(name: str) -> None:
    data = (DATA / "real" / name).read_bytes()
    env, rej, lines = _read(data)
    got = [
        {
            "line_no": r["line_no"],
            "byte_offset": r["byte_offset"],
            "ts": r["ts"].isoformat(),
            "origin": r["origin"],
            "dyno": r["dyno"],
            "message": r["message"],
        }
        for r in env.iter_rows(named=True)
    ]
    assert got == EXPECTED[name]
    assert env["app"].is_null().all()
    assert env["line_count"].to_list() == [1] * env.height
    assert lines == env.height + rej.height


def test_real_frames_do_not_depend_on_batch_size() -> None:
    data = b"".join((DATA / "real" / n).read_bytes() for n in sorted(EXPECTED))
    whole = _read(data)
    for size in (1, 97, 1000):
        got = _read(data, batch_bytes=size)
        assert got[0].equals(whole[0])
        assert got[1].equals(whole[1])


def test_logentries_mail_prose_is_rejected_with_reasons() -> None:
    data = (DATA / "real" / "src-051.log").read_bytes()
    env, rej, lines = _read(data)
    assert rej.select("line_no", "reason").rows() == [
        (1, "not_a_frame"),
        (2, "blank"),
        (3, "not_a_frame"),  # the alert's receive time, alone on its line
        (5, "blank"),
        (6, "garbage_between_frames"),
        (7, "garbage_between_frames"),
        (8, "blank"),
        (9, "garbage_between_frames"),
    ]
    assert rej["raw"][0] == "Memory quota exceeded: Heroku/Syslog drain"
    assert rej["raw"][2] == "2019-05-01 11:23:08.383"
    covered = sorted([*env["line_no"], *rej["line_no"]])
    assert covered == list(range(1, data.count(b"\n") + 1)) == list(range(1, lines + 1))


def test_every_line_of_the_real_bodies_starts_a_row_or_holds_a_glued_one() -> None:
    for name in sorted(EXPECTED):
        data = (DATA / "real" / name).read_bytes()
        env, rej, _ = _read(data)
        assert {*env["line_no"], *rej["line_no"]} == set(range(1, data.count(b"\n") + 1))


def test_message_with_newlines_spans_its_lines() -> None:
    body = frame("<190>1 2019-11-25T18:28:00Z host app web.1 - two\nlines") + b"\n\n"
    env, rej, lines = _read(body + frame("<190>1 2019-11-25T18:28:01Z host app web.1 - x"))
    assert env.select("line_no", "line_count", "message").rows() == [
        (1, 2, "two\nlines"),
        (4, 1, "x"),
    ]
    assert rej.select("line_no", "reason").rows() == [(3, "blank")]
    assert lines == 4


def test_app_comes_from_argument_or_custom_hostname() -> None:
    body = frame("<190>1 2019-11-25T18:28:00+00:00 my-app app web.1 - - hi")
    env, _, _ = _read(body)
    assert env.select("app", "origin", "dyno", "message").row(0) == ("my-app", "app", "web.1", "hi")
    env = pl.concat([b.envelope for b in drain.read([body], source_file="f", app="given")])
    assert env["app"].to_list() == ["given"]
