"""Baseline: parse a `heroku logs` export with a plain Python line loop, `re` and pyarrow.

The second yardstick of the ingest benchmark: the same fields as baseline_duckdb.py, written
to zstd Parquet in batches so memory stays bounded. Usage:
    python bench/baseline_python.py INPUT OUTDIR
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

BATCH = 100_000
TS_RE = re.compile(r"\d{4}-\d\d-\d\dT\S+")
DYNO_RE = re.compile(r"\S+ \w+\[([^\]]+)\]: ")
KV_RE = re.compile(r'([\w#]+)=("[^"]*"|\S*)')
EVENT_RE = re.compile(
    r"Error R\d\d|State changed from|Process exited with status|Release v\d+ created by"
)
ERROR_RE = re.compile(r"Error (R\d\d)")
STATE_RE = re.compile(r"State changed from (\w+) to (\w+)")
EXIT_RE = re.compile(r"Process exited with status (\d+)")
RELEASE_RE = re.compile(r"Release (v\d+) created by (?:user )?(\S+)")
TS = pa.timestamp("us", "UTC")
STR, I32, I64, F64 = pa.string(), pa.int32(), pa.int64(), pa.float64()


def ts(line: str) -> datetime | None:
    """The leading ISO-8601 timestamp of a line, or None."""
    m = TS_RE.match(line)
    try:
        return datetime.fromisoformat(m.group()) if m else None
    except ValueError:
        return None


def text(v: str | None) -> str | None:
    """A logfmt value without its quotes; None when absent or empty."""
    v = v.strip('"') if v else v
    return v or None


def num(cast: Callable[[str], Any], suffix: str = "") -> Callable[[str | None], Any]:
    """A converter of a logfmt value like '12ms' to a number, None when absent or malformed."""

    def conv(v: str | None) -> Any:
        if not v or not v.endswith(suffix):
            return None
        try:
            return cast(v[: len(v) - len(suffix)])
        except ValueError:
            return None

    return conv


MS, INT, MB, PAGES, FLOAT = (
    num(int, "ms"),
    num(int),
    num(float, "MB"),
    num(int, "pages"),
    num(float),
)
# table -> [(column, arrow type, logfmt key, converter)]; ts is added to every table.
Field = tuple[str, pa.DataType, str, Callable[[str | None], Any]]
REQUEST_FIELDS: list[Field] = [
    *((k, STR, k, text) for k in ("method", "path", "host", "request_id", "fwd", "dyno")),
    ("connect_ms", I64, "connect", MS),
    ("service_ms", I64, "service", MS),
    ("status", I32, "status", INT),
    ("bytes", I64, "bytes", INT),
    *((k, STR, k, text) for k in ("protocol", "at", "code", "desc")),
]
METRIC_FIELDS: list[Field] = [
    ("dyno", STR, "source", text),
    ("dyno_id", STR, "dyno", text),
    *((f"memory_{m}_mb", F64, f"sample#memory_{m}", MB) for m in ("total", "rss", "cache", "swap")),
    ("memory_pgpgin_pages", I64, "sample#memory_pgpgin", PAGES),
    ("memory_pgpgout_pages", I64, "sample#memory_pgpgout", PAGES),
    ("memory_quota_mb", F64, "sample#memory_quota", MB),
    *((f"load_avg_{w}", F64, f"sample#load_avg_{w}", FLOAT) for w in ("1m", "5m", "15m")),
]
EVENT_COLS = [
    ("dyno", STR),
    ("kind", STR),
    ("code", STR),
    ("from_state", STR),
    ("to_state", STR),
    ("exit_status", I32),
    ("release", STR),
    ("user", STR),
]


class Table:
    """Column buffers of one output table, flushed to a zstd Parquet file every BATCH rows."""

    def __init__(self, path: Path, cols: list[tuple[str, pa.DataType]]) -> None:
        self.schema = pa.schema([("ts", TS), *cols])
        self.writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self.cols: list[list[Any]] = [[] for _ in self.schema]
        self.rows = 0

    def add(self, row: list[Any]) -> None:
        """Buffer one row (values in schema order); flush when the batch is full."""
        for col, v in zip(self.cols, row, strict=True):
            col.append(v)
        if len(self.cols[0]) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one row group."""
        self.rows += len(self.cols[0])
        arrays = [pa.array(c, type=f.type) for c, f in zip(self.cols, self.schema, strict=True)]
        self.writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        self.cols = [[] for _ in self.schema]

    def close(self) -> int:
        """Flush the rest, close the file and return the total row count."""
        self.flush()
        self.writer.close()
        return self.rows


def event_row(line: str) -> list[Any]:
    """The event columns (after ts) of a line that EVENT_RE found."""
    m = DYNO_RE.match(line)
    row: list[Any] = [m.group(1) if m else None, None, None, None, None, None, None, None]
    if e := ERROR_RE.search(line):
        row[1:3] = "error", e.group(1)
    elif e := STATE_RE.search(line):
        row[1], row[3], row[4] = "state_change", e.group(1), e.group(2)
    elif e := EXIT_RE.search(line):
        row[1], row[5] = "exit", int(e.group(1))
    elif e := RELEASE_RE.search(line):
        row[1], row[6], row[7] = "release", e.group(1), e.group(2)
    return row


def main(argv: list[str]) -> int:
    """Parse INPUT into OUTDIR/{requests,dyno_metrics,events}.parquet and print row counts."""
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    src, out = Path(argv[0]), Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    req = Table(out / "requests.parquet", [(c, t) for c, t, _, _ in REQUEST_FIELDS])
    met = Table(out / "dyno_metrics.parquet", [(c, t) for c, t, _, _ in METRIC_FIELDS])
    evt = Table(out / "events.parquet", EVENT_COLS)
    with open(src, encoding="utf-8", errors="replace") as f:
        for line in f:
            if " heroku[router]: " in line:
                kv = dict(KV_RE.findall(line))
                req.add([ts(line), *(conv(kv.get(k)) for _, _, k, conv in REQUEST_FIELDS)])
            elif "sample#memory_total=" in line or "sample#load_avg_1m=" in line:
                kv = dict(KV_RE.findall(line))
                met.add([ts(line), *(conv(kv.get(k)) for _, _, k, conv in METRIC_FIELDS)])
            elif EVENT_RE.search(line):
                evt.add([ts(line), *event_row(line)])
    for name, table in (("requests", req), ("dyno_metrics", met), ("events", evt)):
        print(f"{name}\t{table.close()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
