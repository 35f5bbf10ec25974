"""`ingest`: inputs -> readers -> parsers -> the Parquet dataset, with a summary that adds up.

The summary's counts add up for every input (see `forensics.ingest.summary`); how the inputs are
read, deduplicated, parsed and written in parallel is in `forensics.ingest.job`. The library
reports progress through a callback and never prints; the CLI decides what to show.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Sequence
from pathlib import Path

from forensics.errors import ForensicsError, InputError, OutputError
from forensics.ingest import apps as app_evidence
from forensics.ingest import dedup
from forensics.ingest.compaction import BackgroundCompaction, compact, compact_keys
from forensics.ingest.dedup import KeyIndex
from forensics.ingest.job import Input, Job, ProgressFn
from forensics.ingest.options import IngestOptions
from forensics.ingest.summary import FileResult, IngestSummary
from forensics.readers.source import Source, expand_paths
from forensics.store import fs
from forensics.store.manifest import Manifest, load_manifest, writing


def ingest(
    paths: list[str],
    out_dir: Path,
    *,
    app: str | None = None,
    app_by_file: Sequence[tuple[str, str]] = (),
    fmt: str = "auto",
    year: int | None = None,
    tz: str = "UTC",
    engine: str | None = None,
    progress: ProgressFn | None = None,
) -> IngestSummary:
    """Ingest every input into the dataset at `out_dir`.

    `app` names the app for formats that do not carry it; `app_by_file` maps input paths to apps
    per file instead (`(glob, app)`, first match on the path or the file name wins, e.g.
    `("drains/shop-*", "acme-shop")`). `year` and `tz` place timestamps that carry no year or
    zone (BSD syslog, Papertrail's text view); by default the current year (the last one for
    dates ahead of today) and UTC. `engine` is `native` (the compiled core) or `polars`; by
    default native when it is built.

    Raises ForensicsError when nothing can be done (bad output dir, another process writing
    it, no input could be read, a full disk); a bad input among good ones is recorded as
    `failed` in the summary instead. One writer at a time: the dataset is locked meanwhile
    (`forensics.store.lock`). SIGTERM and SIGINT raise `KeyboardInterrupt` (`fs.Interrupted`)
    after removing what was not committed; the inputs committed before are kept.

    For long jobs from Python (a notebook, a script), call
    `forensics.ingest.allocator.tune_allocators()`
    before Polars and pyarrow are imported, as the CLI does: memory then stays flat over many
    inputs (see that module).
    """
    # Validated once (a bad format or zone fails here, before anything is written).
    options = IngestOptions(
        app=app, app_by_file=app_by_file, fmt=fmt, year=year, tz=tz, engine=engine
    )
    created = not out_dir.exists()
    with fs.signals_raise(), writing(out_dir) as w:
        try:
            summary = _run(paths, out_dir, w.manifest, options, progress)
        except Exception as e:
            if not _disk_full(e):
                raise
            kept = len(load_manifest(out_dir).files)
            raise OutputError(
                f"{out_dir}: no space left on the device; the {kept} input(s) committed before "
                "are kept, nothing of the rest was; free space and run the same command again"
            ) from None
        except InputError:
            if created:  # nothing could be read into a directory made for it
                shutil.rmtree(out_dir, ignore_errors=True)
            raise
        if w.stale_holder:
            pid = w.stale_holder.get("pid")
            summary.notes.append(
                f"an earlier writer (pid {pid}) had stopped mid-way; what it had not "
                "committed was removed"
            )
    return summary


def _run(
    paths: list[str],
    out_dir: Path,
    manifest: Manifest,
    options: IngestOptions,
    progress: ProgressFn | None,
) -> IngestSummary:
    """The job itself, under the dataset's write lock (see `ingest`)."""
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
    for skipped in [s for s in sources if s.skipped]:
        errors.append(skipped.skipped)
        results.append(FileResult(name=skipped.name, status="failed", error=skipped.skipped))
    sources, repeats = _named_once([s for s in sources if not s.skipped])
    named = app_evidence.assign(sources, options.app_for)  # --app, else what the logs say
    inputs = [
        Input(s, app, infer_app=infer)
        for s, app, infer in zip(sources, named.apps, named.infer_in_job, strict=True)
    ]
    job = Job(out_dir, manifest, index, options=options, progress=progress)
    with BackgroundCompaction(out_dir, manifest) as compaction:

        def every_inputs() -> None:
            compact_keys(out_dir, manifest)
            compaction.start()

        done = job.run(inputs, every_inputs=COMPACT_EVERY_FILES, on_every=every_inputs)
    results += done + repeats
    errors += [r.error for r in done if r.error]
    if errors and all(r.status == "failed" for r in results):
        raise InputError(errors[0] if len(errors) == 1 else "; ".join(errors))
    compact(out_dir, manifest)
    warnings = named.warnings([i.app for i in inputs])
    return IngestSummary(
        dataset=str(out_dir), files=results, warnings=warnings, engine=options.engine
    )


def _disk_full(error: BaseException) -> bool:
    """A full disk or quota, however the writer reported it (OSError, or pyarrow's and
    Polars' own errors, which carry only the message)."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error)
    return "No space left on device" in text or "Disk quota exceeded" in text


def _named_once(sources: list[Source]) -> tuple[list[Source], list[FileResult]]:
    """Each file once, however many arguments name it (`logs/ logs/a.log`): the repeats are
    results that say so, rather than a second full read that adds nothing."""
    first: dict[tuple[int, int], str] = {}
    kept: list[Source] = []
    repeats: list[FileResult] = []
    for source in sources:
        ident = None
        if source.path is not None:
            st = source.path.stat()
            ident = (st.st_dev, st.st_ino)
        if ident in first:
            note = f"the same file as {first[ident]}, named more than once; read once"
            repeats.append(FileResult(name=source.name, status="already_ingested", notes=[note]))
            continue
        if ident is not None:
            first[ident] = source.name
        kept.append(source)
    return kept, repeats


# A job of many small inputs (hourly archives) merges its small parts as it goes, so neither
# the key index of a day nor a table is spread over thousands of files.
COMPACT_EVERY_FILES = 64


__all__ = ["FileResult", "ForensicsError", "IngestSummary", "ingest"]
