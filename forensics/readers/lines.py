"""Split streamed bytes into numbered line batches (Polars frames), never a Python loop per line.

A batch ends before the last line that starts a record (per `record_start`), so a record and the
wrapped continuation lines that follow it always land in the same batch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import polars as pl

from forensics import native

# 8 MB, not 12: ~75 MiB lower peak for ~10 % more CPU (alternating medians, 1 GB of syslog
# files); the job holds about five batches at once (two parsing, one deduplicating, two read).
BATCH_BYTES = 8 << 20
# The native engine holds less per batch (348 -> 289 MiB peak on 300 MB of CLI text at 8 MB),
# so it takes 16 MB batches: ~12 % less CPU in the per-batch plans, peak ~370 MiB (alternating
# runs, 300 MB, 2026-12-02).
NATIVE_BATCH_BYTES = 16 << 20
_HOLDBACK_SCAN = 256 << 10
_HOLD_MAX_BATCHES = 4  # a buffer with no record start is held back up to this many batches


def _raw_lines(buf: bytes, end: int) -> pl.DataFrame:
    """One row per line of `buf[:end]` (no trailing newline there), invalid UTF-8 replaced,
    CR dropped.

    Polars' CSV reader with a separator that cannot occur is the fast path (~30x a Python
    split); it reads the first lines of `buf` without slicing (a copy) when `buf` holds more.
    If its row count disagrees with the newline count, the exact slow path is used.
    """
    expected = buf.count(b"\n", 0, end) + 1
    if buf.find(b"\x00", 0, end) >= 0:
        buf, end = buf[:end].replace(b"\x00", "\ufffd".encode()), None
    df = pl.read_csv(
        buf,
        has_header=False,
        separator="\x00",
        quote_char=None,
        new_columns=["raw"],
        schema={"raw": pl.String},
        encoding="utf8-lossy",
        raise_if_empty=False,
        n_rows=expected,
    )
    if df.height == expected:
        return df.select(pl.col("raw").fill_null("").str.strip_suffix("\r"))
    text = buf[:end].decode("utf-8", errors="replace")
    return pl.DataFrame({"raw": text.split("\n")}).select(pl.col("raw").str.strip_suffix("\r"))


def _split(buf: bytes, end: int, first_line_no: int, source_file: str, engine: str) -> pl.DataFrame:
    native_split = engine == "native"
    df = native.split_lines(buf, end).to_frame() if native_split else _raw_lines(buf, end)
    n = df.height
    return df.select(
        pl.lit(source_file, dtype=pl.String).alias("source_file"),
        pl.int_range(first_line_no, first_line_no + n, dtype=pl.Int64).alias("line_no"),
        "raw",
    )


def iter_line_batches(
    chunks: Iterable[bytes],
    *,
    source_file: str,
    record_start: re.Pattern[bytes] | None = None,
    batch_bytes: int = BATCH_BYTES,
    engine: str = "polars",
) -> Iterator[pl.DataFrame]:
    """Yield frames `source_file, line_no, raw` covering every line of the input exactly once.

    A final line without a trailing newline is still a line; an empty input yields nothing.
    `engine="native"` splits with the compiled core (the same lines; `_raw_lines` is the
    reference).
    """
    parts: list[bytes] = []
    size = 0
    next_line_no = 1
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size < batch_bytes:
            continue
        buf = parts[0] if len(parts) == 1 else b"".join(parts)
        cut = _cut_point(buf, record_start, force=size >= _HOLD_MAX_BATCHES * batch_bytes)
        if cut <= 0:
            parts, size = [buf], len(buf)
            continue
        # up to the newline at the cut
        batch = _split(buf, cut - 1, next_line_no, source_file, engine)
        rest = buf[cut:]
        parts, size = [rest], len(rest)
        next_line_no += batch.height
        yield batch
    buf = b"".join(parts)
    if buf:
        end = len(buf) - 1 if buf.endswith(b"\n") else len(buf)
        yield _split(buf, end, next_line_no, source_file, engine)


def _cut_point(buf: bytes, record_start: re.Pattern[bytes] | None, *, force: bool) -> int:
    """Index just after the newline where this batch ends (0: no cut yet, read more).

    With `record_start`, the batch ends before the last record start in its last 256 KB, so a
    record's wrapped continuation lines stay with it. When there is none (a very long line,
    or text that is no log), the next chunk may still continue the last record, so the buffer
    is held back, unless `force` (it has grown too large: memory stays bounded, and a wrap
    across that cut is not re-joined).
    """
    last_nl = buf.rfind(b"\n")
    if last_nl < 0:
        return 0
    if record_start is None:
        return last_nl + 1
    best = -1
    for m in record_start.finditer(buf, max(0, last_nl - _HOLDBACK_SCAN), last_nl + 1):
        best = m.start()
    if best > 0:
        return best  # `record_start` matches just after a newline, so buf[best-1] == "\n"
    return last_nl + 1 if force else 0
