"""The dataset's manifest (`DIR/manifest.json`): what it holds, one entry per ingested input.

Each input file's rows are written under temporary names and renamed only when the whole file
is done (`forensics.store.parts`), then the manifest (rewritten atomically) records it with its
content hash and counts. An interrupted ingest therefore leaves the dataset as it was before that
file, and ingesting a file whose hash the manifest already holds adds nothing.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forensics import __version__
from forensics.errors import OutputError
from forensics.schema import SCHEMA_VERSION, TABLE_NAMES
from forensics.store.layout import KEYS_DIR, MANIFEST, ROUTES_FILE, TMP_PREFIX


@dataclass
class Manifest:
    """What a dataset holds: tool and schema version, and one entry per ingested input."""

    files: list[dict[str, Any]] = field(default_factory=list)
    extra_tokens: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    key_canary: int | None = None
    schema_version: int = SCHEMA_VERSION
    tool_version: str = __version__
    _file_lines: list[str] = field(default_factory=list, repr=False, compare=False)
    # Held while the manifest changes and is saved: compaction runs beside the job's commits.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def find(self, sha256: str) -> dict[str, Any] | None:
        return next((f for f in self.files if f.get("sha256") == sha256), None)

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
    return Manifest(
        files=data.get("files", []),
        extra_tokens=data.get("extra_tokens", []),
        retired=data.get("retired", []),
        key_canary=data.get("key_canary"),
        tool_version=data.get("tool_version", "?"),
    )


def open_for_writing(root: Path) -> Manifest:
    """Check `root` can hold a dataset (creating it); clear stale temp parts; read the manifest."""
    if root.exists() and not root.is_dir():
        raise OutputError(f"{root}: exists and is not a directory; choose another output directory")
    ours = (*TABLE_NAMES, MANIFEST, KEYS_DIR, ROUTES_FILE)
    foreign = (
        [p for p in root.iterdir() if p.name not in ours and not p.name.startswith(TMP_PREFIX)]
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
        probe = root / f"{TMP_PREFIX}probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise OutputError(
            f"{root}: cannot write here ({e.strerror}); choose another output directory"
        ) from None
    manifest = load_manifest(root)
    remove_orphans(root, manifest)
    return manifest


def update_manifest(root: Path, manifest: Manifest, change: Callable[[Manifest], None]) -> None:
    """Apply `change` to the manifest and save it, both under its lock."""
    with manifest.lock:
        change(manifest)
        _save_manifest(root, manifest)


def _save_manifest(root: Path, manifest: Manifest) -> None:
    """Write the manifest atomically (temp file + rename); see `update_manifest`."""
    tmp = root / f"{TMP_PREFIX}{MANIFEST}"
    tmp.write_text(_manifest_text(manifest))
    os.replace(tmp, root / MANIFEST)


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
    """Delete temp files, parts whose token no manifest entry records, and parts a compaction
    retired; returns how many."""
    live = {f.get("token") for f in manifest.files} | set(manifest.extra_tokens)
    retired = set(manifest.retired)
    removed = 0
    for path in root.glob("**/*.parquet"):
        name = path.name
        token = part_token(path)
        rel = str(path.relative_to(root))
        orphan = name.startswith("part-") and token not in live
        if name.startswith(TMP_PREFIX) or orphan or rel in retired:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def part_token(path: Path) -> str:
    """The token of the input (or compaction) that wrote a part: `part-<token>[-<n>].parquet`."""
    return path.name.removeprefix("part-").removesuffix(".parquet").split("-")[0]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
