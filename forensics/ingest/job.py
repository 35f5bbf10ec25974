"""One ingest job: its inputs read, deduplicated, parsed and written, and committed in order.

Three stages overlap. A reader thread reads ahead across inputs (the next file is opened, read
and split while the current one is still being checked); the main thread deduplicates each
batch in input order; two workers parse and write. So a directory of small archives (one batch
each) keeps both cores busy. An input is committed once its batches are all written, in input
order; its keys join the index as soon as it is read, before the next input is checked.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from forensics import readers
from forensics.errors import InputError
from forensics.ingest import apps, dedup
from forensics.ingest.allocator import release_free_memory
from forensics.ingest.dedup import KeyIndex
from forensics.ingest.options import IngestOptions
from forensics.ingest.pipeline import Workers, prefetch
from forensics.ingest.summary import FileResult
from forensics.parsers import parse_envelope
from forensics.readers.envelope import REJECT_COLUMNS, Batch
from forensics.readers.source import Source, iter_chunks
from forensics.schema import TABLE_NAMES, conform
from forensics.store.manifest import Manifest, now_iso, update_manifest
from forensics.store.parts import FileWriter

ProgressFn = Callable[[int], None]


@dataclass
class Input:
    """One input of the job, with the app its lines get (`infer_app`: from its first chunk,
    for stdin and pipes, see `forensics.ingest.apps`)."""

    source: Source
    app: str | None
    infer_app: bool = False


class Job:
    """The inputs of one `ingest` call on one pool of workers (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        manifest: Manifest,
        index: KeyIndex,
        *,
        options: IngestOptions,
        progress: ProgressFn | None,
    ) -> None:
        self.root, self.manifest, self.index = root, manifest, index
        self.options, self.progress = options, progress
        self.workers = Workers(threads=2, depth=2)
        self.open: deque[_Open] = deque()  # read or being read, not committed yet
        self.owners: deque[_Open] = deque()  # the input of each unfinished batch, in order

    def run(
        self,
        inputs: list[Input],
        *,
        every_inputs: int = 0,
        on_every: Callable[[], None] | None = None,
    ) -> list[FileResult]:
        """Ingest every input and return their results, in order. `on_every` runs after each
        `every_inputs` inputs, with no batch in flight and every input so far committed (the
        place for periodic compaction). An unreadable input is a `failed` result; any other
        error stops the job with the inputs not committed yet rolled back."""
        results = [FileResult(name=i.source.name, status="ingested") for i in inputs]
        try:
            done = 0
            for kind, i, payload in prefetch(self._read_ahead(inputs)):
                if kind == "start":
                    self._start(inputs[i], results, i, payload)
                elif kind == "batch":
                    self._submit(self.open[-1], payload)
                else:  # "end" | "known" | "failed"
                    self._end(kind, inputs[i], results, i, payload)
                    done += 1
                    if every_inputs and on_every and done % every_inputs == 0:
                        self._collect(self.workers.drain())
                        self.index.settle()  # before on_every compacts key parts
                        on_every()
            self._collect(self.workers.drain())
            return results
        except BaseException:
            self.workers.cancel()  # nothing may still be writing when the parts are deleted
            for inp in self.open:
                inp.discard()
            self.open.clear()
            raise
        finally:
            self.workers.close()

    def _read_ahead(self, inputs: list[Input]) -> Iterator[tuple[str, int, Any]]:
        """(kind, input number, payload) for every input in turn (on the reader thread):
        "known" (hash) for an input the dataset holds; "start" (format), its "batch"es and
        "end"; or "failed" (InputError) where it cannot be read, even after some batches."""
        fmt = self.options.fmt
        for i, inp in enumerate(inputs):
            source = inp.source
            try:
                known = _known_file(source, self.manifest)
                if known:
                    yield "known", i, known
                    continue
                chunks = _Ending(
                    _cr_to_lf(_with_progress(iter_chunks(source), source, self.progress), source)
                )
                first = next(chunks, b"")
                if inp.infer_app:
                    inp.app = apps.app_of(first[: apps.HEAD_BYTES]) or inp.app
                name = fmt if fmt != "auto" else readers.detect(first[: readers.SNIFF_BYTES])
                yield "start", i, name
                stream = itertools.chain([first], chunks) if first else iter(())
                batches = readers.read(
                    name,
                    stream,
                    source_file=source.name,
                    app=inp.app,
                    calendar=self.options.calendar,
                    engine=self.options.engine,
                )
                lines, torn, held = 0, False, None
                for batch in batches:
                    lines += batch.lines
                    if not chunks.done:
                        yield "batch", i, batch
                        continue
                    # past the last byte: hold one batch back, so the one with the last line
                    # is known (a torn last line becomes `partial` in it)
                    if held is not None:
                        yield "batch", i, held
                    held = batch
                if held is not None:
                    if name in _LINE_FORMATS and chunks.unterminated:
                        held, torn = _hold_partial(held, last_line=lines)
                    yield "batch", i, held
                yield "end", i, torn
            except InputError as e:
                yield "failed", i, e

    def _start(self, inp: Input, results: list[FileResult], i: int, fmt: str) -> None:
        results[i] = FileResult(name=inp.source.name, status="ingested", format=fmt)
        writer = FileWriter(self.root)
        self.open.append(_Open(inp, results, i, writer, dedup.KeyWriter(self.root, writer.token)))
        if not self.index.trusted:
            results[i].notes.append(
                "duplicates were not checked against earlier inputs: they were keyed by another "
                "Polars version; ingest everything into a new directory to deduplicate across them"
            )

    def _submit(self, inp: _Open, batch: Any) -> None:
        """Deduplicate one batch here, in input order; parse and write it on a worker."""
        result = inp.result
        result.lines += batch.lines
        keyed = dedup.with_keys(batch.envelope)
        env, dropped = dedup.drop_seen(keyed, self.index, inp.carry)
        inp.carry = dedup.next_carry(inp.carry, keyed)
        inp.keys.add(keyed)
        result.duplicate_lines += int(dropped["line_count"].sum())
        env = env.drop("_key", "_day")
        read_rejects = batch.rejects.select(REJECT_COLUMNS)
        if read_rejects.height:
            keyed = dedup.with_reject_keys(read_rejects, app=inp.input.app)
            read_rejects, dropped = dedup.drop_seen(keyed, self.index, inp.reject_carry)
            inp.reject_carry = dedup.add_counts(inp.reject_carry, keyed)
            inp.keys.add(keyed)
            result.duplicate_lines += int(dropped["line_count"].sum())
            read_rejects = read_rejects.drop("_key", "_day")
        engine = self.options.engine
        job = functools.partial(_parse_and_write, env, read_rejects, inp.writer, engine)
        del batch, keyed, env, read_rejects, dropped  # the job holds what it needs
        inp.unfinished_batches += 1
        self.owners.append(inp)
        self._collect(self.workers.submit(job))
        del job
        release_free_memory()  # keeps peaks flat over a long job (see allocator.py)

    def _end(self, kind: str, inp: Input, results: list[FileResult], i: int, payload: Any) -> None:
        source = inp.source
        if kind == "known":
            results[i] = FileResult(name=source.name, status="already_ingested", sha256=payload)
            return
        if kind == "failed":
            results[i] = FileResult(name=source.name, status="failed", error=str(payload))
            if self.open and self.open[-1].slot == i:  # failed after it started: drop what it
                self._collect(self.workers.drain())  # wrote, commit the inputs before it
                self.open.pop().discard()
            return
        current = self.open[-1]
        current.read = True
        current.result.notes.extend(source.notes)
        if payload:  # its last line was torn
            current.result.notes.append(
                "its last line has no newline (a file still being written, or cut): held in "
                "rejects as `partial`; ingest the finished file again to add that line"
            )
        sha = source.sha256 or ""
        current.seen_before = bool(self.manifest.find(sha)) or any(
            o.input.source.sha256 == sha for o in self.open if o is not current
        )
        if not current.seen_before:
            self.index.absorb(current.keys.paths)  # before the next input is checked
        self._commit_finished()

    def _collect(self, outcomes: list[Tally]) -> None:
        for outcome in outcomes:
            inp = self.owners.popleft()
            inp.tally.add(outcome)
            inp.unfinished_batches -= 1
        self._commit_finished()

    def _commit_finished(self) -> None:
        """Commit, in input order, the inputs whose batches are all read and written."""
        while self.open and self.open[0].read and self.open[0].unfinished_batches == 0:
            self._commit(self.open.popleft())

    def _commit(self, inp: _Open) -> None:
        source, result, writer = inp.input.source, inp.result, inp.writer
        if inp.seen_before:
            inp.discard()
            inp.results[inp.slot] = FileResult(
                name=source.name, status="already_ingested", sha256=source.sha256
            )
            return
        if result.lines == 0:
            result.status = "empty"
        result.sha256 = source.sha256
        result.rows = {t: writer.rows[t] for t in TABLE_NAMES if t != "rejects"}
        inp.tally.fill(result)
        text = {r: n for r, n in result.rejects_by_reason.items() if r != "blank" and n}
        if result.lines and not sum(result.records.values()) and text:
            # notes or data beside the logs: say so, not "ingested" (only blank lines: empty-ish,
            # nothing to warn about)
            result.status = "not_a_log"
        writer.add_temp_files(inp.keys.paths)
        token = writer.commit()
        entry = asdict(result) | {
            "size": source.size,
            "ingested_at": now_iso(),
            "app": inp.input.app,
            "token": token,
        }
        parts = writer.parts

        def record(m: Manifest) -> None:
            m.files.append(entry)
            m.add_parts(parts)

        update_manifest(self.root, self.manifest, record)


@dataclass
class Tally:
    """What the batches of one input add up to (records, rejects, time span, apps, dynos)."""

    records: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    joined: int = 0
    lo: datetime | None = None
    hi: datetime | None = None
    apps: set[str] = field(default_factory=set)
    dynos: set[str] = field(default_factory=set)

    def add(self, other: Tally) -> None:
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


@dataclass
class _Open:
    """An input being ingested: committed once all its batches are read and written."""

    input: Input
    results: list[FileResult]
    slot: int
    writer: FileWriter
    keys: dedup.KeyWriter
    carry: pl.DataFrame = field(default_factory=dedup.empty_carry)
    reject_carry: pl.DataFrame = field(default_factory=lambda: dedup.empty_carry().drop("_last"))
    tally: Tally = field(default_factory=Tally)
    unfinished_batches: int = 0
    read: bool = False  # every batch submitted
    seen_before: bool = False  # same content as an input in the dataset or earlier in the job

    @property
    def result(self) -> FileResult:
        return self.results[self.slot]

    def discard(self) -> None:
        """Delete everything this input wrote: its table parts and its key parts."""
        self.writer.add_temp_files(self.keys.paths)
        self.writer.abort()


def _parse_and_write(
    env: pl.DataFrame, read_rejects: pl.DataFrame, writer: FileWriter, engine: str
) -> Tally:
    """Parse one deduplicated batch, write its rows and rejects; return what it adds up to."""
    parsed = parse_envelope(env, engine=engine)
    for table, rows in parsed.tables.items():
        writer.write(table, rows)
    out = Tally(records=Counter(parsed.records))
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


def _known_file(source: Source, manifest: Manifest) -> str | None:
    """The hash of a regular file the manifest already holds (checked only when a recorded
    file has the same size, so new files are not read twice)."""
    if source.path is None or not source.is_regular:
        return None  # stdin, a FIFO: read once, so never hashed ahead
    size = source.path.stat().st_size
    if not any(f.get("size") == size for f in manifest.files):
        return None
    digest = hashlib.sha256()
    with open(source.path, "rb") as fh:
        while block := fh.read(8 << 20):
            digest.update(block)
    sha = digest.hexdigest()
    return sha if manifest.find(sha) else None


def _cr_to_lf(chunks: Iterator[bytes], source: Source) -> Iterator[bytes]:
    """The chunks, with CR-only line endings (a classic Mac editor, some Windows tools) turned
    into newlines, and a note on the source: otherwise a whole export is one line. Decided on
    the first chunk: CRs and not one newline."""
    first = next(chunks, b"")
    if b"\r" not in first or b"\n" in first:
        if first:
            yield first
        yield from chunks
        return
    source.notes.append("its lines end with CR only (no newline): split at each CR")
    yield first.replace(b"\r", b"\n")
    for chunk in chunks:
        yield chunk.replace(b"\r", b"\n")


# Formats whose records end at a newline (a drain body's frames carry their length instead).
_LINE_FORMATS = frozenset(("heroku-cli", "syslog", "papertrail"))


class _Ending:
    """The input's chunks, remembering whether they are all read (`done`) and whether the
    last one ended without a newline (`unterminated`)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.done = False
        self.unterminated = False

    def __iter__(self) -> _Ending:
        return self

    def __next__(self) -> bytes:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self.done = True
            raise
        if chunk:
            self.unterminated = not chunk.endswith(b"\n")
        return chunk


def _hold_partial(batch: Any, *, last_line: int) -> tuple[Any, bool]:
    """The batch with the record (or reject) that holds the input's last line moved to rejects
    as `partial`: a line without its newline is one still being written (`heroku logs --tail >
    FILE`) or cut, whose fields would be wrong (a request with no status). Its reject key is
    its text, so the finished line ingested later is a new record, added once."""
    env, rejects = batch.envelope, batch.rejects
    end = pl.col("line_no") + pl.col("line_count") - 1
    torn = env.filter(end == last_line)
    raw = pl.col("raw") if "raw" in env.columns else pl.col("message")
    rejects = rejects.select(REJECT_COLUMNS)
    if rejects.height:
        rejects = rejects.with_columns(
            pl.when(end == last_line).then(pl.lit("partial")).otherwise("reason").alias("reason")
        )
    found = torn.height > 0 or bool((rejects["reason"] == "partial").any())
    if torn.height:
        moved = torn.select(
            *(pl.col(c).cast(rejects.schema[c]) for c in REJECT_COLUMNS[:4]),
            raw.cast(pl.String).alias("raw"),
            pl.lit("partial").alias("reason"),
        )
        env = env.filter(end != last_line)
        rejects = pl.concat([rejects, moved])
    return Batch(envelope=env, rejects=rejects, lines=batch.lines), found


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
