"""Compaction: many small parts of a table (or of a day of the key index) merged into one.

A job of hourly archives writes a part per input and table; left alone, a month of them is
thousands of files that every query and every dedup check would open.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow.parquet as pq

from forensics import dedup
from forensics.dataset import TMP_PREFIX, Manifest, parquet_writer, save_manifest
from forensics.schema import TABLE_NAMES

COMPACT_MIN_PARTS = 16
# Parts from here up are left as they are: a 250 MB input writes 15-25 MB parts, and copying
# those again cost the mixed 10 GB benchmark a third of its time; hourly archives write parts
# well under 1 MB, and 64 of them merged are past this size, so nothing is copied twice.
COMPACT_SMALL_BYTES = 8 << 20


def compact(root: Path, manifest: Manifest) -> int:
    """Merge the small parts of each table (and of each day of the key index) into one.

    Crash-safe: the merged part is written under a temp name and renamed, then the manifest
    records its token as live and the old parts as retired, and only then are they deleted
    (a retired part left behind is removed on next open). Row groups are copied one at a
    time, so memory stays bounded. Returns the number of parts merged away.
    """
    folders = [root / t for t in TABLE_NAMES] + sorted((root / dedup.KEYS_DIR).glob("*"))
    plans = []
    for folder in folders:
        small = sorted(
            p for p in folder.glob("part-*.parquet") if p.stat().st_size < COMPACT_SMALL_BYTES
        )
        if len(small) >= COMPACT_MIN_PARTS:
            plans.append((folder, small))
    if not plans:
        return 0
    token = "c" + uuid.uuid4().hex[:15]
    merged_away = []
    for folder, small in plans:
        tmp = folder / f"{TMP_PREFIX}{token}.parquet"
        if folder.parent.name == dedup.KEYS_DIR:
            dedup.merge_key_parts(small, tmp)  # counts merge by the multiplicity rule
        else:
            _append_parts(small, tmp)
        os.replace(tmp, folder / f"part-{token}.parquet")
        merged_away.extend(str(p.relative_to(root)) for p in small)
    manifest.extra_tokens.append(token)
    manifest.retired = sorted(set(manifest.retired) | set(merged_away))
    save_manifest(root, manifest)
    for rel in merged_away:
        (root / rel).unlink(missing_ok=True)
    manifest.retired = []
    save_manifest(root, manifest)
    return len(merged_away)


def _append_parts(parts: list[Path], out: Path) -> None:
    """Copy the row groups of `parts` into one file, one row group at a time."""
    schema = pq.read_schema(parts[0])
    with parquet_writer(out, schema) as w:
        for part in parts:
            f = pq.ParquetFile(part)
            for i in range(f.num_row_groups):
                w.write_table(f.read_row_group(i).cast(schema))
