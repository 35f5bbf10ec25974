"""The dataset's manifest (`DIR/manifest.json`): what it holds, one entry per ingested input,
and the list of table parts that make it up.

Each input file's rows are written under `DIR/.staging/` and renamed into the table folders
only when the whole file is done (`forensics.store.parts`), then the manifest (rewritten
atomically: the commit point) records it with its content hash, counts and parts. Readers read
the parts the manifest lists, nothing else, so an interrupted ingest leaves the dataset as it
was before that file (a part renamed in but not recorded is removed by the next writer), and
ingesting a file whose hash the manifest already holds adds nothing. `writing` is the one way
to write a dataset: under its lock (`forensics.store.lock`), cleaning what a dead writer left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forensics import __version__
from forensics.errors import OutputError
from forensics.schema import SCHEMA_VERSION, TABLE_NAMES
from forensics.store import fs
from forensics.store.layout import (
    KEYS_DIR,
    LOCK_FILE,
    MANIFEST,
    ROUTES_FILE,
    STAGING_DIR,
    TMP_PREFIX,
)
from forensics.store.lock import WriteLock, acquire


@dataclass
class Manifest:
    """What a dataset holds: tool and schema version, and one entry per ingested input."""

    files: list[dict[str, Any]] = field(default_factory=list)
    extra_tokens: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    # Per table, the parts (paths relative to the dataset) readers read, in commit order.
    parts: dict[str, list[str]] = field(default_factory=dict)
    key_canary: int | None = None
    schema_version: int = SCHEMA_VERSION
    tool_version: str = __version__
    _file_lines: list[str] = field(default_factory=list, repr=False, compare=False)
    # Held while the manifest changes and is saved: compaction runs beside the job's commits.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def find(self, sha256: str) -> dict[str, Any] | None:
        return next((f for f in self.files if f.get("sha256") == sha256), None)

    def add_parts(self, paths: list[str]) -> None:
        """Record committed parts (`<table>/part-<token>.parquet`)."""
        for path in paths:
            self.parts.setdefault(path.split("/", 1)[0], []).append(path)

    def replace_parts(self, table: str, away: list[str], merged: str) -> None:
        """Record a compaction: `away` (of `table`) are now the one part `merged`."""
        gone = set(away)
        self.parts[table] = [p for p in self.parts.get(table, []) if p not in gone] + [merged]

    def file_lines(self) -> list[str]:
        """Each file entry as one line of JSON, encoded once: entries are only ever appended and
        never change, and the manifest is rewritten after every input (re-encoding all of them
        each time cost a month of hourly archives ~7 s)."""
        for entry in self.files[len(self._file_lines) :]:
            self._file_lines.append(json.dumps(entry, default=str))
        return self._file_lines

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": "forensics",
            "tool_version": self.tool_version,
            "schema_version": self.schema_version,
            "tables": list(TABLE_NAMES),
            "files": self.files,
            "extra_tokens": self.extra_tokens,
            "retired": self.retired,
            "parts": {t: self.parts[t] for t in TABLE_NAMES if self.parts.get(t)},
            "key_canary": self.key_canary,
        }


def load_manifest(root: Path) -> Manifest:
    """Read `root/manifest.json`; a missing one means an empty dataset."""
    path = root / MANIFEST
    if not path.exists():
        return Manifest()
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise OutputError(
            f"{path}: unreadable manifest ({e}); use a new output directory"
        ) from None
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise OutputError(
            f"{root}: dataset has schema version {version}, this forensics writes "
            f"{SCHEMA_VERSION}; ingest into a new directory"
        )
    manifest = Manifest(
        files=data.get("files", []),
        extra_tokens=data.get("extra_tokens", []),
        retired=data.get("retired", []),
        key_canary=data.get("key_canary"),
        tool_version=data.get("tool_version", "?"),
    )
    if "parts" in data:
        manifest.parts = {t: list(v) for t, v in data["parts"].items()}
    else:  # written before the manifest listed its parts: the recorded tokens' parts
        manifest.parts = {t: _recorded_parts(root, manifest, t) for t in TABLE_NAMES}
    return manifest


def _recorded_parts(root: Path, manifest: Manifest, table: str) -> list[str]:
    live = _live_tokens(manifest)
    retired = set(manifest.retired)
    return [
        rel
        for p in sorted((root / table).glob("part-*.parquet"))
        if part_token(p) in live and (rel := f"{table}/{p.name}") not in retired
    ]


def _live_tokens(manifest: Manifest) -> set[str | None]:
    return {f.get("token") for f in manifest.files} | set(manifest.extra_tokens)


@dataclass
class Writing:
    """A dataset open for writing: its manifest, and the lock held meanwhile."""

    root: Path
    manifest: Manifest
    lock: WriteLock

    @property
    def stale_holder(self) -> dict[str, Any] | None:
        """The record of a writer that died holding the lock (its leftovers are gone now)."""
        return self.lock.stale


_OURS = (*TABLE_NAMES, MANIFEST, KEYS_DIR, ROUTES_FILE, LOCK_FILE, STAGING_DIR)


@contextlib.contextmanager
def writing(root: Path) -> Iterator[Writing]:
    """Open `root` for writing (creating it): take its lock (OutputError naming the holder if
    another process writes it), clear what an interrupted writer left, read the manifest.
    On leaving, however it is left, what this writer did not commit is removed."""
    if root.exists() and not root.is_dir():
        raise OutputError(f"{root}: exists and is not a directory; choose another output directory")
    foreign = (
        [p for p in root.iterdir() if p.name not in _OURS and not p.name.startswith(TMP_PREFIX)]
        if root.is_dir()
        else []
    )
    if foreign and not (root / MANIFEST).exists():
        raise OutputError(
            f"{root}: directory is not empty and is not a forensics dataset; "
            "choose another output directory"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f"{TMP_PREFIX}probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink(missing_ok=True)  # the lock holder may clean it first
    except OSError as e:
        raise OutputError(
            f"{root}: cannot write here ({e.strerror}); choose another output directory"
        ) from None
    lock = acquire(root)
    try:
        manifest = load_manifest(root)
        remove_orphans(root, manifest)
        yield Writing(root, manifest, lock)
    finally:
        try:
            if (root / MANIFEST).exists():
                remove_orphans(root, load_manifest(root))
            else:
                shutil.rmtree(root / STAGING_DIR, ignore_errors=True)
        except (OSError, OutputError):
            pass  # the next writer cleans up
        finally:
            lock.release()


def update_manifest(root: Path, manifest: Manifest, change: Callable[[Manifest], None]) -> None:
    """Apply `change` to the manifest and save it, both under its lock."""
    with manifest.lock, fs.critical():
        change(manifest)
        _save_manifest(root, manifest)


def _save_manifest(root: Path, manifest: Manifest) -> None:
    """Write the manifest atomically (temp file + rename); see `update_manifest`."""
    tmp = root / f"{TMP_PREFIX}{MANIFEST}"
    fs.point("write")
    tmp.write_text(_manifest_text(manifest))
    fs.replace(tmp, root / MANIFEST)


def _manifest_text(manifest: Manifest) -> str:
    """JSON with one line per key and per ingested file: readable, and written by json's C
    encoder (`indent=` switches to the pure-Python one, 3x slower; the manifest is rewritten
    after every input, so a month of hourly archives paid seconds for it)."""

    def item(key: str, value: Any) -> str:
        if key == "files" and value:
            rows = ",\n  ".join(manifest.file_lines())
            return f' "files": [\n  {rows}\n ]'
        return f" {json.dumps(key)}: {json.dumps(value, default=str)}"

    return "{\n" + ",\n".join(item(k, v) for k, v in manifest.to_json().items()) + "\n}\n"


def remove_orphans(root: Path, manifest: Manifest) -> int:
    """Delete what the manifest does not hold: staged files, table parts it does not list, key
    parts whose token no entry records or that a compaction retired, temp files; returns how
    many. Only for the lock holder (see `writing`)."""
    removed = 0
    staging = root / STAGING_DIR
    if staging.exists():
        removed += sum(1 for p in staging.rglob("*") if p.is_file())
        shutil.rmtree(staging, ignore_errors=True)
    for table in TABLE_NAMES:
        listed = {p.split("/", 1)[1] for p in manifest.parts.get(table, [])}
        for path in (root / table).glob("*.parquet"):
            ours = path.name.startswith(("part-", TMP_PREFIX))
            if ours and path.name not in listed:
                fs.unlink(path)
                removed += 1
    live = _live_tokens(manifest)
    retired = set(manifest.retired)
    for path in (root / KEYS_DIR).glob("*/*.parquet"):
        name = path.name
        orphan = name.startswith("part-") and part_token(path) not in live
        if name.startswith(TMP_PREFIX) or orphan or str(path.relative_to(root)) in retired:
            fs.unlink(path)
            removed += 1
    for path in root.glob(f"{TMP_PREFIX}*"):
        fs.unlink(path)
        removed += 1
    return removed


def part_token(path: Path) -> str:
    """The token of the input (or compaction) that wrote a part: `part-<token>[-<n>].parquet`."""
    return path.name.removeprefix("part-").removesuffix(".parquet").split("-")[0]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
