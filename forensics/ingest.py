"""`ingest`: inputs -> readers -> parsers -> the Parquet dataset, with a summary that adds up.

For every input: lines read = records in typed tables + rejected lines + lines joined into the
line above (terminal wraps) + duplicate lines skipped. A record is one log line (or one re-joined
wrapped line); a table may hold several rows per record (one per add-on sample).
The library reports progress through a callback and never prints; the CLI decides what to show.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import itertools
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from forensics import dedup, readers
from forensics.allocator import release_free_memory
from forensics.dataset import (
    FileWriter,
    Manifest,
    compact,
    now_iso,
    open_for_writing,
    save_manifest,
)
from forensics.dedup import KeyIndex
from forensics.errors import ForensicsError, InputError
from forensics.parsers import parse_envelope
from forensics.pipeline import Workers, prefetch
from forensics.readers.envelope import REJECT_COLUMNS
from forensics.readers.source import Source, expand_paths, iter_chunks
from forensics.readers.syslog import Calendar
from forensics.schema import TABLE_NAMES, conform

ProgressFn = Callable[[int], None]


@dataclass
class FileResult:
    """What happened to one input."""

    name: str
    status: str  # ingested | empty | already_ingested | failed
    format: str | None = None
    sha256: str | None = None
    lines: int = 0
    records: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    joined_lines: int = 0
    duplicate_lines: int = 0
    ts_min: datetime | None = None
    ts_max: datetime | None = None
    apps: list[str] = field(default_factory=list)
    dynos: list[str] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rejected_lines(self) -> int:
        return sum(self.rejects_by_reason.values())


@dataclass
class IngestSummary:
    """The whole job: one result per input, and totals that add up."""

    dataset: str
    files: list[FileResult]

    def _sum(self, attr: str) -> Counter[str]:
        total: Counter[str] = Counter()
        for f in self.files:
            total.update(getattr(f, attr))
        return total

    def totals(self) -> dict[str, Any]:
        ok = [f for f in self.files if f.status == "ingested"]
        starts = [f.ts_min for f in ok if f.ts_min]
        ends = [f.ts_max for f in ok if f.ts_max]
        return {
            "lines_read": sum(f.lines for f in self.files),
            "records": dict(self._sum("records")),
            "rows": dict(self._sum("rows")),
            "rejects_by_reason": dict(self._sum("rejects_by_reason")),
            "rejected_lines": sum(f.rejected_lines for f in self.files),
            "joined_lines": sum(f.joined_lines for f in self.files),
            "duplicate_lines": sum(f.duplicate_lines for f in self.files),
            "time_span": [min(starts) if starts else None, max(ends) if ends else None],
            "apps": sorted({a for f in ok for a in f.apps}),
            "dynos": sorted({d for f in ok for d in f.dynos}),
            "files": {s: sum(f.status == s for f in self.files) for s in _STATUSES},
        }

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: times as ISO-8601 strings."""
        return _iso_times(
            {
                "dataset": self.dataset,
                "totals": self.totals(),
                "files": [asdict(f) for f in self.files],
            }
        )


def _iso_times(value: Any) -> Any:
    """Datetimes anywhere in a JSON-ready structure as ISO-8601 strings."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _iso_times(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_iso_times(v) for v in value]
    return value


_STATUSES = ("ingested", "empty", "already_ingested", "failed")


def ingest(
    paths: list[str],
    out_dir: Path,
    *,
    app: str | None = None,
    app_by_file: Sequence[tuple[str, str]] = (),
    fmt: str = "auto",
    year: int | None = None,
    tz: str = "UTC",
    progress: ProgressFn | None = None,
) -> IngestSummary:
    """Ingest every input into the dataset at `out_dir`.

    `app` names the app for formats that do not carry it; `app_by_file` maps input paths to apps
    per file instead (`(glob, app)`, first match on the path or the file name wins, e.g.
    `("drains/shop-*", "acme-shop")`). `year` and `tz` place timestamps that carry no year or
    zone (BSD syslog, Papertrail's text view); by default the current year (the last one for
    dates ahead of today) and UTC.

    Raises ForensicsError when nothing can be done (bad output dir, no input could be read);
    a bad input among good ones is recorded as `failed` in the summary instead.
    """
    if fmt != "auto":
        readers.get(fmt)
    Calendar(year, tz)  # a bad zone fails here, before anything is written
    created = not out_dir.exists()
    manifest = open_for_writing(out_dir)
    canary = dedup.hash_canary()
    if manifest.key_canary is None:
        manifest.key_canary = canary
    index = KeyIndex(out_dir, trusted=manifest.key_canary == canary)
    results: list[FileResult] = []
    errors: list[str] = []
    sources: list[Source] = []
    for arg in paths:
        try:
            sources.extend(expand_paths([arg]))
        except InputError as e:
            errors.append(str(e))
            results.append(FileResult(name=arg, status="failed", error=str(e)))
    workers = Workers(threads=2, depth=2)
    try:
        for i, source in enumerate(sources, start=1):
            try:
                result = _ingest_one(
                    source,
                    out_dir,
                    manifest,
                    index,
                    workers,
                    app=app_for(source.name, app=app, app_by_file=app_by_file),
                    fmt=fmt,
                    calendar=(year, tz),
                    progress=progress,
                )
            except InputError as e:
                errors.append(str(e))
                result = FileResult(name=source.name, status="failed", error=str(e))
            results.append(result)
            if i % COMPACT_EVERY_FILES == 0:
                compact(out_dir, manifest)
    finally:
        workers.close()
    if errors and all(r.status == "failed" for r in results):
        if created:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise InputError(errors[0] if len(errors) == 1 else "; ".join(errors))
    compact(out_dir, manifest)
    return IngestSummary(dataset=str(out_dir), files=results)


def app_for(name: str, *, app: str | None, app_by_file: Sequence[tuple[str, str]]) -> str | None:
    """The app for the input `name`: the first `(glob, app)` whose glob matches its path or its
    file name, else `app`."""
    for pattern, mapped in app_by_file:
        if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(Path(name).name, pattern):
            return mapped
    return app


# A job of many small inputs (hourly archives) merges its small parts as it goes, so neither
# the key index of a day nor a table is spread over thousands of files.
COMPACT_EVERY_FILES = 64


def _ingest_one(
    source: Source,
    root: Path,
    manifest: Manifest,
    index: KeyIndex,
    workers: Workers,
    *,
    app: str | None,
    fmt: str,
    calendar: tuple[int | None, str],
    progress: ProgressFn | None,
) -> FileResult:
    known = _known_file(source, manifest)
    if known:
        return FileResult(name=source.name, status="already_ingested", sha256=known)
    chunks = _with_progress(iter_chunks(source), source, progress)
    first = next(chunks, b"")
    name = fmt if fmt != "auto" else readers.detect(first[: readers.SNIFF_BYTES])
    result = FileResult(name=source.name, status="ingested", format=name)
    writer = FileWriter(root)
    if not index.trusted:
        result.notes.append(
            "duplicates were not checked against earlier inputs: they were keyed by another "
            "Polars version; ingest everything into a new directory to deduplicate across them"
        )
    carry = dedup.empty_carry()
    reject_carry = dedup.empty_carry().drop("_last")
    key_writer = dedup.KeyWriter(root, writer.token)
    tally = _Tally()
    try:
        stream = itertools.chain([first], chunks) if first else iter(())
        year, tz = calendar
        batches = readers.read(name, stream, source_file=source.name, app=app, year=year, tz=tz)
        for batch in prefetch(batches):
            result.lines += batch.lines
            # Deduplication runs here, in input order; parsing and writing on the workers.
            keyed = dedup.with_keys(batch.envelope)
            env, dropped = dedup.drop_seen(keyed, index, carry)
            carry = dedup.next_carry(carry, keyed)
            key_writer.add(keyed)
            result.duplicate_lines += int(dropped["line_count"].sum())
            env = env.drop("_key", "_day")
            read_rejects = batch.rejects.select(REJECT_COLUMNS)
            if read_rejects.height:
                keyed = dedup.with_reject_keys(read_rejects, app=app)
                read_rejects, dropped = dedup.drop_seen(keyed, index, reject_carry)
                reject_carry = dedup.add_counts(reject_carry, keyed)
                key_writer.add(keyed)
                result.duplicate_lines += int(dropped["line_count"].sum())
                read_rejects = read_rejects.drop("_key", "_day")
            job = functools.partial(_parse_and_write, env, read_rejects, writer)
            del batch, keyed, env, read_rejects, dropped  # the job holds what it needs
            for outcome in workers.submit(job):
                tally.add(outcome)
            del job
            release_free_memory()  # keeps peaks flat over a long job (see allocator.py)
        for outcome in workers.drain():
            tally.add(outcome)
        writer.add_temp_files(key_writer.paths)
        if manifest.find(source.sha256 or ""):
            writer.abort()
            return FileResult(name=source.name, status="already_ingested", sha256=source.sha256)
    except BaseException:
        workers.cancel()  # nothing may still be writing when the parts are deleted
        writer.add_temp_files(key_writer.paths)
        writer.abort()
        raise
    if result.lines == 0:
        result.status = "empty"
    result.sha256 = source.sha256
    result.rows = {t: writer.rows[t] for t in TABLE_NAMES if t != "rejects"}
    tally.fill(result)
    index.absorb(key_writer.paths)  # read before commit renames them; the job stops if it fails
    token = writer.commit()
    entry = asdict(result) | {"size": source.size, "ingested_at": now_iso(), "app": app}
    entry["token"] = token
    manifest.files.append(entry)
    save_manifest(root, manifest)
    return result


def _known_file(source: Source, manifest: Manifest) -> str | None:
    """The hash of a regular file the manifest already holds (checked only when a recorded
    file has the same size, so new files are not read twice)."""
    if source.path is None:
        return None
    size = source.path.stat().st_size
    if not any(f.get("size") == size for f in manifest.files):
        return None
    digest = hashlib.sha256()
    with open(source.path, "rb") as fh:
        while block := fh.read(8 << 20):
            digest.update(block)
    sha = digest.hexdigest()
    return sha if manifest.find(sha) else None


@dataclass
class _Tally:
    """What the batches of one input add up to (records, rejects, time span, apps, dynos)."""

    records: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    joined: int = 0
    lo: datetime | None = None
    hi: datetime | None = None
    apps: set[str] = field(default_factory=set)
    dynos: set[str] = field(default_factory=set)

    def add(self, other: _Tally) -> None:
        self.records.update(other.records)
        self.reasons.update(other.reasons)
        self.joined += other.joined
        self.lo = min(d for d in (self.lo, other.lo) if d) if self.lo or other.lo else None
        self.hi = max(d for d in (self.hi, other.hi) if d) if self.hi or other.hi else None
        self.apps |= other.apps
        self.dynos |= other.dynos

    def fill(self, result: FileResult) -> None:
        result.records = dict(self.records)
        result.rejects_by_reason = dict(self.reasons)
        result.joined_lines = self.joined
        result.ts_min, result.ts_max = self.lo, self.hi
        result.apps, result.dynos = sorted(self.apps), sorted(self.dynos)


def _parse_and_write(env: pl.DataFrame, read_rejects: pl.DataFrame, writer: FileWriter) -> _Tally:
    """Parse one deduplicated batch, write its rows and rejects; return what it adds up to."""
    parsed = parse_envelope(env)
    for table, rows in parsed.tables.items():
        writer.write(table, rows)
    out = _Tally(records=Counter(parsed.records))
    rejects = [r for r in (read_rejects, parsed.rejects) if r is not None and r.height]
    if rejects:
        rej = conform(pl.concat([r.select(REJECT_COLUMNS) for r in rejects]), "rejects")
        writer.write("rejects", rej)
        per_reason = rej.group_by("reason").agg(pl.col("line_count").sum())
        out.reasons.update(dict(per_reason.iter_rows()))
    if env.height:
        joined, out.lo, out.hi = env.select(
            (pl.col("line_count").sum() - pl.len()).alias("joined"),
            pl.col("ts").min().alias("lo"),
            pl.col("ts").max().alias("hi"),
        ).row(0)
        out.joined = int(joined)
        out.apps = {a for a in env["app"].unique().to_list() if a}
        out.dynos = set(env.filter(pl.col("dyno") != "router")["dyno"].unique().to_list())
    return out


def _with_progress(
    chunks: Iterator[bytes], source: Source, progress: ProgressFn | None
) -> Iterator[bytes]:
    """Report raw bytes consumed (compressed bytes for gzip) after each chunk."""
    seen = 0
    for chunk in chunks:
        yield chunk
        if progress is not None:
            progress(source.bytes_read - seen)
            seen = source.bytes_read


__all__ = ["FileResult", "ForensicsError", "IngestSummary", "ingest"]
