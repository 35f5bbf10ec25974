"""Parquet parts: one input's rows written table by table in `DIR/.staging/<token>/`, renamed to
`DIR/<table>/part-<token>.parquet` at commit, with the dataset's one set of writer settings."""

from __future__ import annotations

import contextlib
import threading
import uuid
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from forensics.schema import TABLE_NAMES, polars_schema
from forensics.store import fs
from forensics.store.layout import STAGING_DIR, TMP_PREFIX

# Columns with mostly distinct values: dictionary encoding only costs time there.
_NO_DICTIONARY = frozenset(
    ("ts", "message", "raw", "request_id", "path", "query", "fwd", "extra", "command",
     "description", "dyno_id", "line_no", "byte_offset", "service_ms", "connect_ms", "bytes",
     "value", "memory_total_mb", "memory_rss_mb", "memory_cache_mb", "memory_swap_mb",
     "memory_pgpgin_pages", "memory_pgpgout_pages")
)  # fmt: skip
# Min/max statistics where they prune reads (time ranges, line ranges).
_STATISTICS = ["ts", "line_no"]
ZSTD_LEVEL = 1


def _arrow(df: pl.DataFrame) -> pa.Table:
    """Polars' own Arrow layout (string views): zero-copy, unlike the legacy large strings."""
    return df.to_arrow(compat_level=pl.CompatLevel.newest())


def parquet_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    """A writer with the dataset's settings: zstd, dictionaries only where values repeat,
    statistics only where they prune reads. Ingest and compaction both write through it."""
    return pq.ParquetWriter(
        path,
        schema,
        compression="zstd",
        compression_level=ZSTD_LEVEL,
        use_dictionary=[n for n in schema.names if n not in _NO_DICTIONARY],
        write_statistics=[n for n in _STATISTICS if n in schema.names],
    )


class FileWriter:
    """Writes one input's rows, table by table, as staged Parquet files until `commit`.

    Staged files live outside the table folders (`DIR/.staging/<token>/`), so a reader of
    `DIR/<table>/*.parquet` never meets one. Final names carry the writer's token; `parts`
    (what the manifest then records) lists them: a part renamed in but not recorded is an
    orphan of an interrupted commit, removed by the next writer.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.token = uuid.uuid4().hex[:16]
        self.staging = root / STAGING_DIR / self.token
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._paths: dict[str, Path] = {}
        self._extra: list[Path] = []
        self.parts: list[str] = []
        self.rows: dict[str, int] = dict.fromkeys(TABLE_NAMES, 0)
        self._locks = {t: threading.Lock() for t in TABLE_NAMES}

    def write(self, table: str, df: pl.DataFrame) -> None:
        """Append rows (already in the table's schema) as one row group; thread-safe."""
        if df.height == 0:
            return
        data = _arrow(df)
        with self._locks[table]:
            self._append(table, data)

    def _append(self, table: str, data: pa.Table) -> None:
        if table not in self._writers:
            self.staging.mkdir(parents=True, exist_ok=True)
            path = self.staging / f"{table}.parquet"
            schema = _arrow(pl.DataFrame(schema=polars_schema(table))).schema
            self._writers[table] = parquet_writer(path, schema)
            self._paths[table] = path
        fs.point("write")
        self._writers[table].write_table(data)
        self.rows[table] += data.num_rows

    def add_temp_files(self, paths: list[str]) -> None:
        """Other temp files (`.tmp-<token>...`) to rename with the parts at commit."""
        self._extra.extend(Path(p) for p in paths if Path(p) not in self._extra)

    def commit(self) -> str:
        """Close and rename every staged file to its final name (`parts` then lists the table
        parts, for the manifest); returns the token."""
        for writer in self._writers.values():
            fs.point("write")
            writer.close()
        self._writers.clear()
        for path in self._extra:
            fs.replace(path, path.with_name(path.name.replace(TMP_PREFIX, "part-", 1)))
        for table, path in self._paths.items():
            (self.root / table).mkdir(exist_ok=True)
            rel = f"{table}/part-{self.token}.parquet"
            fs.replace(path, self.root / rel)
            self.parts.append(rel)
        with contextlib.suppress(OSError):
            self.staging.rmdir()
        return self.token

    def abort(self) -> None:
        """Close and delete everything written so far."""
        for writer in self._writers.values():
            with contextlib.suppress(Exception):
                writer.close()
        self._writers.clear()
        for path in [*self._paths.values(), *self._extra]:
            fs.unlink(path)
        with contextlib.suppress(OSError):
            self.staging.rmdir()
