"""Compaction: many small parts of a table (or of a day of the key index) merged into one.

A job of hourly archives writes a part per input and table; left alone, a month of them is
thousands of files that every query and every dedup check would open.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq

from forensics.ingest import dedup
from forensics.schema import TABLE_NAMES
from forensics.store import fs
from forensics.store.layout import STAGING_DIR
from forensics.store.manifest import Manifest, part_token, update_manifest
from forensics.store.parts import parquet_writer

COMPACT_MIN_PARTS = 16
# Parts from here up are left as they are: a 250 MB input writes 15-25 MB parts, and copying
# those again cost the mixed 10 GB benchmark a third of its time; hourly archives write parts
# well under 1 MB, and 64 of them merged are past this size, so nothing is copied twice.
COMPACT_SMALL_BYTES = 8 << 20


def compact(root: Path, manifest: Manifest) -> int:
    """Merge the small parts of each table and of each day of the key index; returns the
    number of parts merged away."""
    return compact_keys(root, manifest) + compact_tables(root, manifest)


def compact_tables(root: Path, manifest: Manifest) -> int:
    """Merge the small parts of each table into one, a row group at a time (little memory, but
    most of compaction's time: this is the part that runs beside the job)."""
    with manifest.lock:
        listed = {t: list(manifest.parts.get(t, [])) for t in TABLE_NAMES}
    plans = [(root / t, _small([root / p for p in listed[t]])) for t in TABLE_NAMES]
    return _compact(root, manifest, plans, _append_parts, tables=True)


def compact_keys(root: Path, manifest: Manifest) -> int:
    """Merge the small key parts of each day into one. A day's counts are merged in memory
    (a million keys or more for a busy day): cheap in time, so it runs between batches, not
    beside them. Only key parts of inputs the manifest records are merged: beside a running
    job, an input's parts are renamed a moment before its manifest entry is saved."""
    with manifest.lock:
        live = {f.get("token") for f in manifest.files} | set(manifest.extra_tokens)
    plans = [
        (day, _small([p for p in sorted(day.glob("part-*.parquet")) if part_token(p) in live]))
        for day in sorted((root / dedup.KEYS_DIR).glob("*"))
    ]
    return _compact(root, manifest, plans, dedup.merge_key_parts, tables=False)  # max rule


def _small(parts: list[Path]) -> list[Path]:
    return [p for p in parts if p.stat().st_size < COMPACT_SMALL_BYTES]


def _compact(
    root: Path,
    manifest: Manifest,
    plans: list[tuple[Path, list[Path]]],
    merge: Callable[[list[Path], Path], None],
    *,
    tables: bool,
) -> int:
    """Merge each folder's `parts` into one with `merge(parts, out)`, where there are enough.

    Crash-safe: the merged part is written in `DIR/.staging/` and renamed into the folder,
    then the manifest records it (its token live; for tables, in place of the merged parts in
    the list readers read; the old parts as retired), and only then are they deleted. Killed
    before the manifest, the new part is an orphan; after it, the old ones are: the next
    writer removes either, and readers meanwhile read the list, so nothing counts twice.
    """
    plans = [(folder, parts) for folder, parts in plans if len(parts) >= COMPACT_MIN_PARTS]
    if not plans:
        return 0
    token = "c" + uuid.uuid4().hex[:15]
    staging = root / STAGING_DIR / token
    staging.mkdir(parents=True, exist_ok=True)
    merged_away: list[str] = []
    done: list[tuple[str, list[str], str]] = []
    for i, (folder, small) in enumerate(plans):
        tmp = staging / f"{i}.parquet"
        fs.point("write")
        merge(small, tmp)
        fs.replace(tmp, folder / f"part-{token}.parquet")
        away = [str(p.relative_to(root)) for p in small]
        merged_away.extend(away)
        done.append((folder.name, away, f"{folder.name}/part-{token}.parquet"))
    staging.rmdir()

    def retire(m: Manifest) -> None:
        m.extra_tokens.append(token)
        m.retired = sorted(set(m.retired) | set(merged_away))
        if tables:
            for table, away, merged in done:
                m.replace_parts(table, away, merged)

    update_manifest(root, manifest, retire)
    for rel in merged_away:
        fs.unlink(root / rel)

    def forget(m: Manifest) -> None:  # only its own: another compaction may be mid-way
        m.retired = sorted(set(m.retired) - set(merged_away))

    update_manifest(root, manifest, forget)
    return len(merged_away)


class BackgroundCompaction:
    """Table compaction beside an ingest job, one at a time on a thread of its own: the job's
    workers keep parsing while small table parts are merged, instead of the whole job waiting
    (copying row groups was a quarter of the ingest time of a month of hourly archives).

    Safe beside the job: it merges only parts of inputs the manifest records, both sides change
    the manifest under its lock, and nothing else reads table parts during a job. Key parts are
    not merged here (`compact_keys`, between batches): the index reads them, and merging a day
    holds its counts in memory, which beside batches in flight raised the peak. Use as a
    context manager: leaving waits for the running compaction and raises its error, unless
    the job is already raising one.
    """

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root, self.manifest = root, manifest
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forensics-compact")
        self._running: Future[int] | None = None

    def start(self) -> None:
        """Start a table compaction unless one is still running (then the next call will)."""
        if self._running is not None:
            if not self._running.done():
                return
            self._running.result()  # raises the last one's error
        self._running = self._pool.submit(compact_tables, self.root, self.manifest)

    def __enter__(self) -> BackgroundCompaction:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if self._running is not None:
                error = self._running.exception()  # waits
                if error is not None and kind is None:
                    raise error
        finally:
            self._pool.shutdown(wait=True)


def _append_parts(parts: list[Path], out: Path) -> None:
    """Copy the row groups of `parts` into one file, one row group at a time."""
    schema = pq.read_schema(parts[0])
    with parquet_writer(out, schema) as w:
        for part in parts:
            f = pq.ParquetFile(part)
            for i in range(f.num_row_groups):
                w.write_table(f.read_row_group(i).cast(schema))
