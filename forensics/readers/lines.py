"""Split streamed bytes into numbered line batches (Polars frames), never a Python loop per line.

A batch ends before the last line that starts a record (per `record_start`), so a record and the
wrapped continuation lines that follow it always land in the same batch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import polars as pl

BATCH_BYTES = 32 << 20
_HOLDBACK_SCAN = 256 << 10


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _split(text: str, first_line_no: int, source_file: str) -> pl.DataFrame:
    df = pl.DataFrame({"raw": [text]}).select(pl.col("raw").str.split("\n")).explode("raw")
    n = df.height
    return df.select(
        pl.lit(source_file, dtype=pl.String).alias("source_file"),
        pl.int_range(first_line_no, first_line_no + n, dtype=pl.Int64).alias("line_no"),
        pl.col("raw").str.strip_suffix("\r"),
    )


def iter_line_batches(
    chunks: Iterable[bytes],
    *,
    source_file: str,
    record_start: re.Pattern[bytes] | None = None,
    batch_bytes: int = BATCH_BYTES,
) -> Iterator[pl.DataFrame]:
    """Yield frames `source_file, line_no, raw` covering every line of the input exactly once.

    A final line without a trailing newline is still a line; an empty input yields nothing.
    """
    pending = bytearray()
    next_line_no = 1
    for chunk in chunks:
        pending += chunk
        if len(pending) < batch_bytes:
            continue
        cut = _cut_point(pending, record_start)
        if cut <= 0:
            continue
        body = bytes(pending[: cut - 1])  # without the newline at the cut
        del pending[:cut]
        batch = _split(_decode(body), next_line_no, source_file)
        next_line_no += batch.height
        yield batch
    if pending:
        body = bytes(pending[:-1] if pending.endswith(b"\n") else pending)
        yield _split(_decode(body), next_line_no, source_file)


def _cut_point(buf: bytearray, record_start: re.Pattern[bytes] | None) -> int:
    """Index just after the newline where this batch ends (0 when no newline is there yet)."""
    last_nl = buf.rfind(b"\n")
    if last_nl < 0:
        return 0
    if record_start is None:
        return last_nl + 1
    lo = max(0, last_nl - _HOLDBACK_SCAN)
    best = -1
    for m in record_start.finditer(buf, lo, last_nl + 1):
        best = m.start()
    if best <= 0:
        return last_nl + 1
    return best  # `record_start` matches just after a newline, so buf[best-1] == "\n"
