"""Reader for Logplex drain bodies: RFC 5424 syslog frames with octet counting (RFC 6587).

A frame is `LEN <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`, where LEN counts the
octets after its space. HTTPS drains POST frames glued together; drain consumers often save
them one per line. Header layouts and the envelope each becomes:

    83 <40>1 2012-11-30T06:45:29+00:00 host app web.3 - State changed from starting to up
    -> ts=2012-11-30 06:45:29 UTC, origin=app, dyno=web.3, message="State changed from ..."
    200 <190>1 2014-07-17T12:59:25.223980+00:00 d.8f7a4b11-c323-... app web.2 - - Started GET "/"
    -> origin=app, dyno=web.2, message='Started GET "/"'         (syslog drain: MSGID and SD)
    156 <40>1 2012-11-30T06:45:26+00:00 heroku web.3 d.73ea7440-... - Starting process ...
    -> origin=heroku, dyno=web.3, message="Starting process ..."   (old layout: PROCID = token)
    2019-05-01 11:14:53.114 129 <45>1 2019-05-01T11:23:05.806472+00:00 heroku web.1 - - Error R14
    -> origin=heroku, dyno=web.1, message="Error R14"   (Logentries: receive time, no HOSTNAME)

`app` is the `--app` argument, else a HOSTNAME that is not `host`, `heroku` or a `d.` token.
A PROCID of `-` gives a null dyno; `host app - MSG` (PROCID left out) keeps MSG whole.

Framing trusts LEN when it lands on the next frame header (`\\d+ <\\d+>1 `, maybe after
whitespace) or on the end of input. Otherwise LEN is wrong (publishers edit sample bodies) and
the frame ends at the next header or the end of its line, whichever comes first; a count that
ends mid-line keeps the frame up to it and the rest of the line becomes a `bad_frame_length`
reject. Text outside frames becomes one reject per line: `not_a_frame` before the first frame
(a Logentries receive time alone on its line is one), `garbage_between_frames` after it, and
`blank` for empty lines. Frames whose header does not parse are `bad_header` or
`bad_timestamp`. Rows carry `byte_offset` (of the frame's count), `line_no` (where its syslog
message starts: an edited body may put LEN at the end of the line before) and `line_count`
(1, more for a message holding newlines); glued frames share a line. The reader's line count
is the sum of `line_count` over frames and rejects.

With `engine="native"` the compiled core (`native/src/syslog.rs`) reads the headers in their
plain form (one-token timestamp, HOSTNAME to MSGID present); `rfc5424` decides every other one
and stays the reference. Framing is this module's, for both engines.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa

from forensics import native
from forensics.readers.envelope import (
    ENVELOPE_COLUMNS,
    REJECT_COLUMNS,
    Batch,
    with_fallback,
    with_timestamp,
)
from forensics.readers.lines import BATCH_BYTES  # one batch size for every reader

# The envelope also carries the input line (or frame) as read, so a parser reject keeps it.
KEEP = (*ENVELOPE_COLUMNS, "raw")

NAME = "drain"
CALENDAR = False  # timestamps carry their year and zone
NATIVE = True  # `read` takes `engine="native"` (the compiled core) as well as "polars"

LOOKAHEAD = 96  # more than any frame header: receive time, count, `<PRI>1 `
MAX_FRAME = 1 << 20  # a count above this is not believed (Logplex frames are ~10 kB at most)
MAX_CARRY = 64 << 20  # undecided bytes carried to the next buffer before they are forced out

# A frame header: optional Logentries receive time at a line start, the count, `<PRI>1 `.
HEADER = re.compile(
    rb"(?:(?<![^\n])\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,9})? )?"
    rb"([1-9]\d{0,8})(?: |\r?\n)(?=<\d{1,3}>1 )"
)
_BLANK = re.compile(rb"[ \t\r\n]*")
_WS = frozenset(b" \t\r\n")
_NL = frozenset(b"\r\n")
_DIGITS = frozenset(b"0123456789")
SNIFF = re.compile(
    rb"(?m)^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\S* )?[1-9]\d{0,8} <\d{1,3}>1 \d{4}-\d\d-\d\dT"
)

FRAME = 0
REASONS = ("", "bad_frame_length", "garbage_between_frames", "not_a_frame", "blank")
BAD_LENGTH, GARBAGE, NOT_A_FRAME, BLANK = 1, 2, 3, 4

_SOURCES = ["app", "heroku"]


def sniff(head: bytes) -> bool:
    """True when a line of the first bytes starts with an octet-counted RFC 5424 frame."""
    return SNIFF.search(head) is not None


def read(
    chunks: Iterable[bytes],
    *,
    source_file: str,
    app: str | None,
    batch_bytes: int = BATCH_BYTES,
    engine: str = "polars",
) -> Iterator[Batch]:
    """Yield envelope batches (and rejects) for one drain body, `batch_bytes` (8 MB) at once;
    `engine="native"` reads the frames' headers with the compiled core."""
    carry = b""
    cur = _Cursor()
    for block in itertools.chain(_blocks(chunks, batch_bytes), [b""]):
        final = not block
        buf = carry + block if carry else block
        del block
        spans, used, cur.seen = frame_spans(buf, final=final, seen=cur.seen)
        batch = _batch(buf, spans, used, cur, final, source_file, app, engine)
        cur.advance(buf, used)
        carry = buf[used:]
        del buf, spans  # not held while the batch is being parsed
        if batch.lines:
            yield batch


@dataclass
class _Cursor:
    """Where the next buffer starts in the input: byte offset, line number, at a line start."""

    offset: int = 0
    line_no: int = 1
    line_start: bool = True
    seen: bool = False  # a frame was found already

    def advance(self, buf: bytes, used: int) -> None:
        if used:
            self.offset += used
            self.line_no += buf.count(b"\n", 0, used)
            self.line_start = buf[used - 1] == 0x0A


def _blocks(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Regroup byte chunks into blocks of at least `size` bytes (the last may be shorter)."""
    parts: list[bytes] = []
    n = 0
    for chunk in chunks:
        if not chunk:
            continue
        parts.append(chunk)
        n += len(chunk)
        if n >= size:
            yield b"".join(parts)
            parts, n = [], 0
    if parts:
        yield b"".join(parts)


@dataclass
class Spans:
    """Records found in a buffer, in order: frames and rejected spans, as byte positions.

    `start` is where the record begins (a frame's receive-time prefix included), `off` the
    position reported as `byte_offset` (a frame's count), `body` where its text starts
    (`<PRI>` for a frame), `end` where it ends (trailing newlines excluded). Records found one
    by one go to `flat` (kind, start, off, body, end, repeated); runs found with array
    operations go to `parts` as rows, `flat` being flushed there first to keep the order.
    """

    flat: list[int] = field(default_factory=list)
    parts: list[np.ndarray] = field(default_factory=list)

    def add(self, kind: int, start: int, off: int, body: int, end: int) -> None:
        self.flat.extend((kind, start, off, body, end))

    def add_rows(self, rows: np.ndarray) -> None:
        if self.flat:
            self.parts.append(np.asarray(self.flat, dtype=np.int64).reshape(-1, 5))
            self.flat.clear()
        self.parts.append(rows)

    def columns(self) -> tuple[np.ndarray, ...]:
        """kind, start, off, body, end as arrays."""
        rows = [*self.parts, np.asarray(self.flat, dtype=np.int64).reshape(-1, 5)]
        return tuple(np.ascontiguousarray(c) for c in np.concatenate(rows).T)

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts) + len(self.flat) // 5

    @property
    def kind(self) -> list[int]:
        return self.columns()[0].tolist()

    @property
    def start(self) -> list[int]:
        return self.columns()[1].tolist()

    @property
    def off(self) -> list[int]:
        return self.columns()[2].tolist()

    @property
    def body(self) -> list[int]:
        return self.columns()[3].tolist()

    @property
    def end(self) -> list[int]:
        return self.columns()[4].tolist()


_IS_DIGIT = np.zeros(256, dtype=bool)
_IS_DIGIT[0x30:0x3A] = True
_POW10 = 10 ** np.arange(11, dtype=np.int64)


@dataclass
class _Runs:
    """Frames whose counts land exactly on the next frame, found with array operations.

    `heads` maps the count position of a run's first frame to its index; frames `i` up to
    `stop[i]` (excluded) form the run, as `rows`; frame `k` starts at `count_at[k]` and its
    count ends at `ends[k]`.
    """

    heads: dict[int, int]
    stop: np.ndarray
    rows: np.ndarray
    count_at: np.ndarray
    ends: np.ndarray


def _runs(buf: bytes, limit: int) -> _Runs:
    """Find the regular frames of `buf` without a Python step per frame.

    A candidate is `COUNT <PRI>1 `, its count the digits before the space (only those after
    the end of the frame before, when a message ending in digits is glued to it). It is
    regular when its count ends exactly at the next candidate, or a newline (or CR LF) before
    it. Everything else (wrong counts, receive-time prefixes, garbage) is left to the
    per-frame loop, which gives the same result, only slower.
    """
    a = np.frombuffer(buf, dtype=np.uint8)
    n = len(a)
    lt = np.flatnonzero(a == 0x3C)
    lt = lt[(lt >= 2) & (lt + 8 <= n)]
    x1, x2, x3, x4 = (a[lt + k] for k in (1, 2, 3, 4))
    d2, d3 = _IS_DIGIT[x2], _IS_DIGIT[x3]
    gt = np.where(
        x2 == 0x3E,
        lt + 2,
        np.where(d2 & (x3 == 0x3E), lt + 3, np.where(d2 & d3 & (x4 == 0x3E), lt + 4, 0)),
    )
    ok = _IS_DIGIT[x1] & (gt > 0) & (a[lt - 1] == 0x20)
    lt, gt = lt[ok], gt[ok]
    ok = (a[gt + 1] == 0x31) & (a[gt + 2] == 0x20)
    lt = lt[ok]
    if not len(lt):
        none = np.zeros(0, dtype=np.int64)
        return _Runs({}, none, np.zeros((0, 5), dtype=np.int64), none, none)
    run = np.zeros(len(lt), dtype=np.int64)
    value = np.zeros(len(lt), dtype=np.int64)
    going = np.ones(len(lt), dtype=bool)
    for k in range(1, 11):  # the digits before the space, right to left (10 = ten or more)
        p = np.maximum(lt - 1 - k, 0)
        going &= (lt - 1 - k >= 0) & _IS_DIGIT[a[p]]
        value += np.where(going, (a[p].astype(np.int64) - 0x30) * _POW10[k - 1], 0)
        run += going
    # Where the count starts: the whole run of digits, unless the frame before ends inside
    # it (a message ending in digits, glued); a few rounds settle chains of such frames.
    first = lt - 1 - run
    c = first
    for _ in range(3):
        e = lt + value % _POW10[lt - 1 - c]
        before = np.concatenate(([-1], e[:-1]))
        inside = (before > first) & (before < lt - 1)
        c = np.where(inside & (a[np.clip(before, 0, n - 1)] != 0x30), before, first)
    width = lt - 1 - c
    ok = (width >= 1) & (width <= 9) & (a[np.minimum(c, n - 1)] != 0x30)
    c, lt = c[ok], lt[ok]
    e = lt + value[ok] % _POW10[width[ok]]
    nxt = np.minimum(np.arange(1, len(c) + 1), max(len(c) - 1, 0))
    gap = c[nxt] - e if len(c) else e
    at = np.minimum(e, n - 2)
    lands = (gap == 0) | ((gap == 1) & (a[at] == 0x0A))
    lands |= (gap == 2) & (a[at] == 0x0D) & (a[at + 1] == 0x0A)
    lands &= (np.arange(len(c)) + 1 < len(c)) & (c[nxt] < limit)
    e = np.minimum(e, n)  # beyond: not landing anyway
    end = e - (a[e - 1] == 0x0A)
    end = end - ((end < e) & (a[end - 1] == 0x0D))
    lands &= (a[end - 1] != 0x0A) & (a[end - 1] != 0x0D)
    # Ending on a digit run's inner edge is right only if the next frame lands as well.
    glued = (gap == 0) & _IS_DIGIT[a[np.maximum(c[nxt] - 1, 0)]]
    lands &= ~glued | np.append(lands[1:], False)
    bad = np.append(np.flatnonzero(~lands), len(c))
    stop = bad[np.searchsorted(bad, np.arange(len(c)))]
    first = lands & ~np.concatenate(([False], lands[:-1]))
    heads = dict(zip(c[first].tolist(), np.flatnonzero(first).tolist(), strict=True))
    rows = np.stack([np.full(len(c), FRAME), c, c, lt, end], axis=1)
    return _Runs(heads, stop, rows, c, e)


class _NeedMore(Exception):
    """The buffer ends before the current record can be decided."""


def frame_spans(
    buf: bytes, *, final: bool, seen: bool = False, vectorized: bool = True
) -> tuple[Spans, int, bool]:
    """Frame `buf`: (records, bytes consumed, whether a frame was seen yet).

    Framing is sequential (each count says where the next frame starts): `_runs` first finds,
    with array operations, the stretches where every count lands on the next frame; a tight
    loop takes those whole and walks the rest frame by frame (`vectorized=False` walks
    everything, for tests: the result is the same). Unless `final`, it stops where the buffer
    might end mid-record; the caller carries the rest over. Between records there is only
    whitespace.
    """
    sp = Spans()
    put, match, blank = sp.flat.extend, HEADER.match, _BLANK.match
    n = len(buf)
    limit = n if final else n - LOOKAHEAD
    runs = _runs(buf, limit)
    heads = runs.heads if vectorized else {}
    pos = 0
    m: re.Match[bytes] | None = None
    while True:
        if m is None:
            nxt_pos = _BLANK.match(buf, pos).end()
            more = (nxt_pos >= n and not final) or nxt_pos > limit
            if more and n - pos < MAX_CARRY:
                break  # leave the whitespace to the next buffer: it may end in a blank line
            if nxt_pos >= n:
                pos = n
                break
            pos = nxt_pos
            m = HEADER.match(buf, pos)
        if m is None:
            nxt = HEADER.search(buf, pos)
            if nxt is not None:
                stop = nxt.start()
            elif final:
                stop = n
            else:
                stop = buf.rfind(b"\n", pos, limit) + 1
                if stop <= pos:
                    if n - pos < MAX_CARRY:
                        break
                    stop = limit
            _text(sp, buf, pos, stop, GARBAGE if seen else NOT_A_FRAME)
            pos = stop
            continue
        seen = True
        i = heads.get(m.start(1))
        if i is not None:  # a run of regular frames, found beforehand
            k = int(runs.stop[i])
            rows = runs.rows[i:k]
            rows[0, 1] = m.start()  # with its receive time, if any
            sp.add_rows(rows)
            pos = int(runs.ends[k - 1])
            m = match(buf, int(runs.count_at[k]))
            continue
        # Fast path, most other frames: the count lands on the next header.
        s = m.end()
        e = s + int(m.group(1))
        if e < limit:
            j = blank(buf, e).end() if buf[e] in _WS else e
            nxt = match(buf, j) if j < limit else None
            if nxt is not None and (j != e or buf[e - 1] not in _DIGITS or nxt.start(1) != j):
                sure = True
            elif nxt is not None:  # `...=15` + `302 <158>1`: sure if the next count lands too
                e2 = nxt.end() + int(nxt.group(1))
                j2 = blank(buf, e2).end() if e2 < limit and buf[e2] in _WS else e2
                sure = j2 < limit and match(buf, j2) is not None
            else:
                sure = False
            if sure:
                end = e
                while buf[end - 1] in _NL:
                    end -= 1
                put((FRAME, m.start(), m.start(1), s, end))
                m, pos = nxt, e
                continue
        try:
            m, pos = _frame(sp, buf, m, final, limit)
        except _NeedMore:
            pos = m.start()
            break
    return sp, (pos if pos < n else n), seen


def _frame(
    sp: Spans, buf: bytes, m: re.Match[bytes], final: bool, limit: int
) -> tuple[re.Match[bytes] | None, int]:
    """Record the frame whose header is `m`; return the next header (if known) and position."""
    n = len(buf)
    s = m.end()
    count = int(m.group(1))
    e = s + count
    if e > limit and not final and count <= MAX_FRAME:
        raise _NeedMore
    landed, nxt = _land(buf, e, final, limit)
    if landed is not None:
        sp.add(FRAME, m.start(), m.start(1), s, _rstrip_nl(buf, s, landed))
        return nxt, landed
    # The count is wrong: end at the next header or the end of the line, whichever is first.
    eol = buf.find(b"\n", s)
    if eol < 0 or eol > limit:
        if not final and n - m.start() < MAX_CARRY:
            raise _NeedMore
        eol = n if eol < 0 else eol
    stop = _next_header(buf, s, eol, final, limit)
    if e >= stop:
        sp.add(FRAME, m.start(), m.start(1), s, _rstrip_nl(buf, s, stop))
        return None, stop
    while e > s and buf[e] & 0xC0 == 0x80:  # never cut inside a UTF-8 sequence
        e -= 1
    sp.add(FRAME, m.start(), m.start(1), s, e)
    tail = _rstrip_nl(buf, e, stop)
    if tail > e and buf[e:tail].strip():
        sp.add(BAD_LENGTH, e, e, e, tail)
    return None, stop


def _land(buf: bytes, e: int, final: bool, limit: int) -> tuple[int | None, re.Match[bytes] | None]:
    """Where a frame counted to end at `e` ends, if the count is right, and the next header.

    Right means: only whitespace, then a header or the end of input, follows `e`. When `e`
    splits a run of digits (a message ending in digits glued to the next count), the split
    whose next frame also lands wins, so `...:00.291 <158>1` is not read as `.2` + `91 <158>`.
    """
    n = len(buf)
    if e > n:
        return None, None
    j = _BLANK.match(buf, e).end() if e < n and buf[e] in _WS else e
    if j >= n:
        if not final:
            raise _NeedMore
        return e, None
    if j > limit:
        raise _NeedMore
    nxt = HEADER.match(buf, j)
    if nxt is None:
        return None, None
    if j != e or buf[e - 1] not in _DIGITS or nxt.start(1) != nxt.start():
        return e, nxt
    if _lands_plain(buf, nxt, final, limit):
        return e, nxt
    r0 = e - 1
    while r0 > 0 and buf[r0 - 1] in _DIGITS and nxt.end(1) - r0 < 9:
        r0 -= 1
    for c in sorted([*range(r0, e), *range(e + 1, nxt.end(1))], key=lambda c: abs(c - e)):
        alt = HEADER.match(buf, c)
        if alt is not None and _lands_plain(buf, alt, final, limit):
            return c, alt
    return e, nxt


def _lands_plain(buf: bytes, m: re.Match[bytes], final: bool, limit: int) -> bool:
    """True when the count of header `m` ends on whitespace then a header, or the end."""
    n = len(buf)
    e = m.end() + int(m.group(1))
    if e > n:
        if not final and int(m.group(1)) <= MAX_FRAME:
            raise _NeedMore
        return False
    j = _BLANK.match(buf, e).end()
    if j >= n:
        if not final:
            raise _NeedMore
        return True
    if j > limit:
        raise _NeedMore
    return HEADER.match(buf, j) is not None


def _next_header(buf: bytes, s: int, eol: int, final: bool, limit: int) -> int:
    """Start of the first header after `s` that begins before `eol`, else `eol`.

    A bare count glued to a message that ends in digits (`keys=0302 <158>1`) is split where
    the next frame's count lands, else where it comes closest to the next header after it.
    """
    nxt = HEADER.search(buf, s, min(len(buf), eol + LOOKAHEAD))
    if nxt is None or nxt.start() >= eol:
        return eol
    c0 = nxt.start()
    digits = nxt.group(1)
    if nxt.start(1) != c0 or len(digits) == 1 or c0 == 0 or buf[c0 - 1] in _WS:
        return c0
    cands = [c0 + k for k in range(len(digits)) if digits[k] != 0x30]
    alts = [HEADER.match(buf, c) for c in cands]
    for c, alt in zip(cands, alts, strict=True):
        if alt is not None and _lands_plain(buf, alt, final, limit):
            return c
    after = HEADER.search(buf, nxt.end())
    if after is None and not final and len(buf) - c0 < MAX_CARRY:
        raise _NeedMore
    target = after.start() if after is not None else len(buf)
    best = min(
        (abs(alt.end() + int(alt.group(1)) - target), c)
        for c, alt in zip(cands, alts, strict=True)
        if alt is not None
    )
    return best[1]


def _rstrip_nl(buf: bytes, lo: int, hi: int) -> int:
    """`hi` moved back over trailing CR/LF, not below `lo`."""
    while hi > lo and buf[hi - 1] in _NL:
        hi -= 1
    return hi


def _text(sp: Spans, buf: bytes, lo: int, hi: int, kind: int) -> None:
    """Record each non-blank line of `buf[lo:hi]` as a rejected span of `kind`."""
    while lo < hi:
        nl = buf.find(b"\n", lo, hi)
        end = hi if nl < 0 else nl
        stop = _rstrip_nl(buf, lo, end)
        if buf[lo:stop].strip():
            sp.add(kind, lo, lo, lo, stop)
        lo = end + 1


def _texts(
    buf: bytes, used: int, tile: np.ndarray, start: np.ndarray, end: np.ndarray
) -> pl.Series:
    """The text of each record, `buf[start:end]`, without copying it through Python strings.

    Records lie in order in disjoint tiles (`tile` holds their first bytes), so Arrow can view
    the buffer as one binary array; each element is then cut to its record and decoded. A
    buffer holding invalid UTF-8 (rare) is decoded record by record in Python instead, with
    U+FFFD for the bad bytes like the line reader.
    """
    tiles = np.append(tile, used)
    tiles[0] = 0
    arr = pa.Array.from_buffers(
        pa.large_binary(), len(tile), [None, pa.py_buffer(tiles), pa.py_buffer(buf)]
    )
    cut = pl.DataFrame({"b": pl.from_arrow(arr), "o": start - tiles[:-1], "n": end - start})
    cut = cut.select(pl.col("b").bin.slice(pl.col("o"), pl.col("n")))["b"]
    try:
        return cut.cast(pl.String)
    except pl.exceptions.ComputeError:  # invalid UTF-8 somewhere: decode record by record
        text = [buf[a:b].decode("utf-8", "replace") for a, b in zip(start, end, strict=True)]
        return pl.Series(text, dtype=pl.String)


def _blank_lines(
    buf: bytes,
    newlines: np.ndarray,
    used: int,
    rec: tuple[np.ndarray, np.ndarray],
    line_start: bool,
    final: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (CR excluded) of the lines in `buf[:used]` that no record touches.

    Between records there is only whitespace, so these are blank lines. `rec` holds the
    records' starts and ends (in order); a first line begun in an earlier buffer is not one.
    """
    ends = newlines
    starts = np.concatenate(([0], newlines[:-1] + 1)) if len(ends) else ends
    last = newlines[-1] + 1 if len(newlines) else 0
    if final and last < used:
        starts, ends = np.append(starts, last), np.append(ends, used)
    if not line_start and len(starts):
        starts, ends = starts[1:], ends[1:]
    if len(rec[0]):
        k = np.searchsorted(rec[1], starts, side="right")
        hit = rec[0][np.minimum(k, len(rec[0]) - 1)] < ends
        keep = (k >= len(rec[0])) | ~hit
        starts, ends = starts[keep], ends[keep]
    if len(ends):
        arr = np.frombuffer(buf, dtype=np.uint8, count=used)
        ends = ends - ((ends > starts) & (arr[np.maximum(ends - 1, 0)] == 0x0D))
    return starts, ends


def _batch(
    buf: bytes,
    sp: Spans,
    used: int,
    cur: _Cursor,
    final: bool,
    source_file: str,
    app: str | None,
    engine: str = "polars",
) -> Batch:
    """Turn the records of one buffer, and its blank lines, into an envelope batch and rejects."""
    kind, start, off, body, end = sp.columns()
    kind = kind.astype(np.int8)
    newlines = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8, count=used) == 0x0A)
    b0, b1 = _blank_lines(buf, newlines, used, (start, end), cur.line_start, final)
    if len(b0):
        order = np.argsort(np.concatenate((start, b0)), kind="stable")
        kind = np.concatenate((kind, np.full(len(b0), BLANK, dtype=np.int8)))[order]
        start, off, body, end = (
            np.concatenate((v, w))[order]
            for v, w in ((start, b0), (off, b0), (body, b0), (end, b1))
        )
    # A frame's lines run from where its syslog message starts (`LEN` may end the line
    # before it) to its end; a message holding newlines spans several.
    first = np.searchsorted(newlines, np.where(kind == FRAME, body, off))
    count = np.where(kind == FRAME, np.searchsorted(newlines, end) - first, 0) + 1
    df = pl.DataFrame(
        {
            "_kind": kind,
            "line_no": cur.line_no + first,
            "line_count": count.astype(np.int32),
            "byte_offset": off + cur.offset,
            "_hdr": body - off,
            "raw": _texts(buf, used, start, off, end),
        }
    ).with_columns(pl.lit(source_file, dtype=pl.String).alias("source_file"))
    frames = df.filter(pl.col("_kind") == FRAME)
    spans = df.filter(pl.col("_kind") != FRAME).with_columns(
        pl.col("_kind").replace_strict(range(len(REASONS)), REASONS).alias("reason")
    )
    parsed = parse_rfc5424(frames, "raw", app=app, skip="_hdr", engine=engine)
    good = parsed.filter(pl.col("_ok")).select(KEEP)
    bad = parsed.filter(~pl.col("_ok")).with_columns(
        pl.col("_why").replace("no_prefix", "bad_header").alias("reason")
    )
    rejects = pl.concat([spans.select(REJECT_COLUMNS), bad.select(REJECT_COLUMNS)])
    return Batch(envelope=good, rejects=rejects, lines=int(count.sum()))


def parse_rfc5424(
    df: pl.DataFrame, col: str, *, app: str | None, skip: str | None = None, engine: str = "polars"
) -> pl.DataFrame:
    """`rfc5424` on `df` (its `skip` column: characters to skip), collected; `engine="native"`
    reads the headers in their plain form with the compiled core and leaves every other row to
    `rfc5424`, so the two engines can only differ on the rows the core takes."""
    if engine != "native":
        skip_expr = None if skip is None else pl.col(skip)
        return rfc5424(df.lazy(), col, app=app, skip=skip_expr).collect(engine="streaming")
    env = native.rfc5424_envelope(df.get_column(col), None if skip is None else df[skip])
    handled = env.get_column("handled")
    good = df.with_columns(
        (pl.lit(app, dtype=pl.String) if app else env.get_column("host")).alias("app"),
        env.get_column("origin"),
        env.get_column("dyno"),
        env.get_column("message"),
        env.get_column("ts"),
        pl.lit(True).alias("_ok"),
        pl.lit("bad_timestamp").alias("_why"),  # as `rfc5424` says it on a good row
    )
    return with_fallback(
        df, handled, good, lambda rest: parse_rfc5424(rest, col, app=app, skip=skip)
    )


def rfc5424(
    lf: pl.LazyFrame, col: str, *, app: str | None, skip: pl.Expr | None = None
) -> pl.LazyFrame:
    """Add the envelope columns parsed from RFC 5424 text in `col`, plus `_ok` and `_why`.

    The text (after `skip` characters, e.g. a frame's count) may lack `<PRI>1 `, and its
    timestamp may have a space instead of `T`. Layouts are told apart by HOSTNAME and the
    fields around it (see the module docstring); MSGID is dropped, and SD only where the
    layout has one and it is `-` or a single `[...]` token, so a message that itself starts
    with `- ` keeps it elsewhere. Fields come from one `splitn` on spaces (several times
    cheaper than a regex with captures). `_why` says what is wrong with a row that is not
    `_ok`: `no_prefix` (no RFC 5424 header), `bad_header` (fields missing) or `bad_timestamp`.
    """
    text = pl.col(col) if skip is None else pl.col(col).str.slice(skip)
    skip = pl.lit(0, dtype=pl.Int64) if skip is None else skip.cast(pl.Int64)
    tok = [pl.col("_s").struct.field(f"field_{i}") for i in range(9)]
    # Tokens before HOSTNAME: `<PRI>1`, then the timestamp, in one token or two (date, time).
    pri = tok[0].str.starts_with("<")
    split_ts = pl.when(pri).then(tok[1]).otherwise(tok[0]).str.len_bytes() == 10
    lead = pri.cast(pl.Int32) + split_ts.cast(pl.Int32)
    date = pl.when(pri).then(tok[1]).otherwise(tok[0])
    clock = pl.when(pri).then(tok[2]).otherwise(tok[1])
    lf = lf.with_columns(text.str.splitn(" ", 9).alias("_s")).with_columns(
        lead.alias("_lead"),
        (~pri | tok[0].str.contains(r"^<\d{1,3}>1$")).alias("_pri_ok"),
        pl.when(split_ts).then(date + "T" + clock).otherwise(date).alias("_ts"),
        *(_pick(tok, lead + 1 + i, 1 + i, 3 + i).alias(f"_t{i + 1}") for i in range(5)),
        *((tok[i].str.len_chars().fill_null(-1) + 1).alias(f"_n{i}") for i in range(8)),
    )
    lf = lf.with_columns(  # _c{k}: where token k starts
        pl.sum_horizontal(f"_n{i}" for i in range(k)).alias(f"_c{k}") for k in range(4, 9)
    )
    t1, t2, t3, t4, t5 = (pl.col(f"_t{i}") for i in range(1, 6))
    e4, e5 = t4.fill_null(""), t5.fill_null("")
    old = (t1 == "heroku") & t3.str.starts_with("d.")
    bare = ~old & t1.is_in(_SOURCES) & ~t2.is_in(_SOURCES)
    host = ~old & ~bare & (t1 == "host")
    custom = ~old & ~bare & ~host & ~t1.str.starts_with("d.")
    no_procid = host & (t3 == "-") & (e4 != "-")
    fields = (
        pl.when(old)
        .then(4)
        .when(bare)
        .then(3 + _is_sd(e4))
        .when(host)
        .then(4 - no_procid.cast(pl.Int32))
        .otherwise(4 + _is_sd(e5))
    )
    starts = {k: pl.col(f"_c{k}") for k in range(4, 9)}
    start = _pick(starts, pl.col("_lead") + 1 + fields, 4, 8)
    needed = pl.when(bare | no_procid).then(t3).otherwise(t4).is_not_null()
    dyno = pl.when(old | bare).then(t2).when(no_procid).then(None).otherwise(t3)
    app_expr = pl.lit(app, dtype=pl.String) if app else pl.when(custom).then(t1)
    shape = (
        pl.col("_pri_ok")
        & pl.col("_ts").str.contains(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
        & t3.is_not_null()
        & ~t1.str.contains("[", literal=True)
        & ~t2.str.contains("[", literal=True)
    )
    lf = lf.with_columns(
        app_expr.alias("app"),
        pl.when(old).then(pl.lit("heroku")).when(bare).then(t1).otherwise(t2).alias("origin"),
        pl.when(dyno != "-").then(dyno).alias("dyno"),
        pl.col(col).str.slice(skip + start).fill_null("").alias("message"),
        shape.fill_null(False).alias("_match"),
        needed.fill_null(False).alias("_need"),
    )
    lf = with_timestamp(lf, "_ts")
    ok = pl.col("_match") & pl.col("_need") & pl.col("ts").is_not_null()
    why = (
        pl.when(~pl.col("_match"))
        .then(pl.lit("no_prefix"))
        .when(~pl.col("_need"))
        .then(pl.lit("bad_header"))
        .otherwise(pl.lit("bad_timestamp"))
    )
    return lf.with_columns(ok.alias("_ok"), why.alias("_why")).drop(_SCRATCH)


_SCRATCH = (
    ["_s", "_lead", "_pri_ok", "_ts", "_match", "_need"]
    + [f"_t{i}" for i in range(1, 6)]
    + [f"_n{i}" for i in range(8)]
    + [f"_c{k}" for k in range(4, 9)]
)


def _pick(exprs: Sequence[pl.Expr] | dict[int, pl.Expr], idx: pl.Expr, lo: int, hi: int) -> pl.Expr:
    """`exprs[idx]` row by row, for an index known to lie in `lo..hi`."""
    out = pl.when(idx == lo).then(exprs[lo])
    for k in range(lo + 1, hi):
        out = out.when(idx == k).then(exprs[k])
    return out.otherwise(exprs[hi])


def _is_sd(tok: pl.Expr) -> pl.Expr:
    """1 where a field is a STRUCTURED-DATA value: `-` or one `[...]` element without spaces."""
    return ((tok == "-") | (tok.str.starts_with("[") & tok.str.ends_with("]"))).cast(pl.Int32)
