"""Random and mutated drain bodies never crash the drain reader, and nothing is lost.

Every byte of the input lies in a frame or a rejected span, or is whitespace between them;
the result does not depend on where the input is cut into chunks or batches.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import reader_render as rr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reader_render import TOKEN, frame

from forensics.readers import drain

_HEADS = [
    "<158>1 2019-11-25T18:28:00.089034+00:00 host heroku router - ",
    "<190>1 2014-07-17T12:59:25.223980+00:00 " + TOKEN + " app web.2 - - ",
    "<40>1 2012-11-30T06:45:26+00:00 heroku web.3 " + TOKEN + " - ",
    "<45>1 2019-05-01T11:23:05.806472+00:00 heroku web.1 - - ",
    "<13>1 2019-13-45T99:00:00+00:00 host app web.1 - ",
    "<13>1 2019-11-25T18:28:00Z host",
]
_MESSAGES = st.text(
    alphabet=st.sampled_from(list('abc =0123456789<>-.:"é\n\t ')), max_size=60
) | st.sampled_from(["", "bytes=1541", "since 2017-08-28T08:07:27+00:00.", "- lead", "x 12 <3>1 y"])


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """A drain body: frames (counts right or off), separators, junk, then random mutations."""
    out = bytearray()
    for _ in range(draw(st.integers(0, 6))):
        body = draw(st.sampled_from(_HEADS)) + draw(_MESSAGES)
        raw = frame(body)
        fix = draw(st.sampled_from([0, 0, 0, 1, -1, 7, -7, 1000]))
        if fix:
            n = int(raw.split(b" ", 1)[0])
            raw = str(max(1, n + fix)).encode() + raw[raw.index(b" ") :]
        if draw(st.booleans()):
            out += b"2019-05-01 11:14:53.114 "
        out += raw
        out += draw(st.sampled_from([b"", b"", b"\n", b"\r\n", b"\n\n", b" junk\n", b"prose"]))
    for _ in range(draw(st.integers(0, 3))):
        if not out:
            break
        i = draw(st.integers(0, len(out) - 1))
        op = draw(st.sampled_from(["cut", "drop", "byte", "insert"]))
        if op == "cut":
            del out[i:]
        elif op == "drop":
            del out[i : i + draw(st.integers(1, 20))]
        elif op == "byte":
            out[i] = draw(st.integers(1, 255))
        else:
            out[i:i] = draw(st.binary(max_size=12))
    return bytes(out)


def _covered(data: bytes) -> None:
    spans, used, _ = drain.frame_spans(data, final=True)
    slow, _, _ = drain.frame_spans(data, final=True, vectorized=False)
    assert [c.tolist() for c in spans.columns()] == [c.tolist() for c in slow.columns()]
    assert used == len(data)
    pos = 0
    for kind, start, off, body, end in zip(
        spans.kind, spans.start, spans.off, spans.body, spans.end, strict=True
    ):
        assert kind in range(len(drain.REASONS))
        assert not data[pos:start].strip(), (pos, start)
        assert start <= off <= body <= end
        pos = end
    assert not data[pos:].strip()


def _run(data: bytes, chunk: int, batch: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    env, rej = [], []
    for b in drain.read(chunks, source_file="f", app=None, batch_bytes=batch):
        assert b.lines == b.envelope["line_count"].sum() + b.rejects["line_count"].sum()
        env.append(b.envelope)
        rej.append(b.rejects)
    if not env:
        return pl.DataFrame(), pl.DataFrame()
    return pl.concat(env).sort("byte_offset"), pl.concat(rej).sort("byte_offset")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_every_byte_is_a_frame_a_reject_or_whitespace(data: bytes) -> None:
    _covered(data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies(), st.integers(1, 300), st.integers(40, 400))
def test_read_never_crashes_and_ignores_chunking(data: bytes, chunk: int, batch: int) -> None:
    whole = _run(data, max(1, len(data)), 1 << 20)
    cut = _run(data, chunk, batch)
    assert cut[0].equals(whole[0])
    assert cut[1].equals(whole[1])


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _covered(data)


def test_random_bytes_through_read() -> None:
    data = bytes(range(256)) * 3 + frame("<13>1 2019-11-25T18:28:00Z host app web.1 - x") * 2
    env, rej = _run(data, 17, 50)
    assert env.height == 2
    assert rej.height > 0


def test_array_framing_matches_the_loop_on_rendered_bodies() -> None:
    text = (Path(__file__).parents[1] / "data" / "formats" / "equivalence.log").read_text()
    events = rr.parse_cli(text)
    for data in (rr.drain_body(events), rr.drain_body(events[::-1]) * 3):
        _covered(data)
        assert drain._runs(data, len(data)).heads  # the array path takes frames here


def test_readers_stream_with_bounded_lookahead() -> None:
    """The first batch comes out long before the input ends (nothing reads it all first)."""
    from forensics.readers import papertrail, syslog

    text = (Path(__file__).parents[1] / "data" / "formats" / "equivalence.log").read_text()
    events = rr.parse_cli(text)
    bodies = {
        drain: rr.drain_body(events),
        syslog: rr.syslog_5424(events),
        papertrail: rr.papertrail_tsv(events, "my-app"),
    }
    for mod, body in bodies.items():
        consumed = 0

        def chunks(body: bytes = body) -> object:
            nonlocal consumed
            for _ in range(10000):
                consumed += 1
                yield body

        kw = {"batch_bytes": 1 << 20} if mod is drain else {}
        first = next(iter(mod.read(chunks(), source_file="f", app=None, **kw)))
        assert first.envelope.height
        assert consumed * len(body) < 48 << 20 < 10000 * len(body), mod.NAME
