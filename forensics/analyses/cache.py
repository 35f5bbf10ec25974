"""Shared tables kept on disk between commands: what `@per_dataset` analyses computed for a
whole dataset, written once after ingest (`warm`) and read back by the next `findings`,
`incidents` or `report` instead of being recomputed.

Where: `DIR/_cache/<key>/`, outside the table folders (`DIR/<table>/*.parquet` stay as they
are). The key is a hash of the manifest's bytes, the route rules in force, and the code version
(the kit's version, a digest of its Python sources, the Polars and DuckDB versions): a new
ingest, another kit or an edited route file names another folder, so a stale table is never
read. Each table is one Arrow IPC file (Polars dtypes round-trip exactly), written atomically;
`index.json`, written last, lists them with their byte sizes, and a folder without it (a warm
that was killed) or a file of another size is not trusted. A cut dataset (--app, --since,
--until, --dyno) never uses the cache: `attach` is only called for a whole dataset.

A call is cacheable when its arguments are plain values or frames that came from another
cacheable call (named by that call's key); anything else is computed as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import time
import weakref
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

CACHE_DIR = "_cache"
INDEX = "index.json"
_FORMAT = 1  # bumped when the layout of a cache folder changes
_PLAIN = (str, int, float, bool)


@dataclass
class _Cache:
    """One connection's cache folder, the frames it handed out (by id, for naming arguments),
    and, when warming, the frames to write."""

    folder: Path
    index: dict[str, int]
    names: dict[int, str] = field(default_factory=dict)
    record: dict[str, pl.DataFrame] | None = None


_ATTACHED: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, _Cache] = (
    weakref.WeakKeyDictionary()
)


@cache
def code_version() -> str:
    """A digest of what could change a cached table: the kit's version and sources, and the
    Polars and DuckDB versions."""
    import forensics

    versions = f"{_FORMAT}|{forensics.__version__}|{pl.__version__}|{duckdb.__version__}"
    h = hashlib.sha256(versions.encode())
    pkg = Path(forensics.__file__).parent
    for p in sorted(pkg.rglob("*.py")):
        h.update(str(p.relative_to(pkg)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _key(root: Path, manifest: bytes, routes_file: Path | None) -> str:
    """The cache key of a dataset: its manifest, its route rules and the code version."""
    from forensics.store.layout import ROUTES_FILE

    rules = routes_file or (root / ROUTES_FILE)
    h = hashlib.sha256(manifest + b"\0" + code_version().encode() + b"\0")
    with contextlib.suppress(OSError):
        h.update(rules.read_bytes())
    return h.hexdigest()[:24]


def _manifest_bytes(root: Path) -> bytes | None:
    from forensics.store.layout import MANIFEST

    try:
        return (root / MANIFEST).read_bytes()
    except OSError:
        return None


def open_cached(
    root: Path, *, routes_file: Path | None = None, record: bool = False
) -> duckdb.DuckDBPyConnection:
    """`open_dataset(root)` (whole, no cut) with its cache attached: the shared tables are read
    from it when fresh; with `record`, the ones computed are kept for `save`."""
    from forensics.store.views import open_dataset

    before = _manifest_bytes(root)
    con = open_dataset(root, routes_file=routes_file)
    if before is not None and _manifest_bytes(root) == before:  # not changed under us
        folder = root / CACHE_DIR / _key(root, before, routes_file)
        _ATTACHED[con] = _Cache(folder, _read_index(folder), record={} if record else None)
    return con


def _read_index(folder: Path) -> dict[str, int]:
    """The files a complete cache folder holds (name -> bytes); empty when none is trusted."""
    try:
        index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
        if index.get("key") == folder.name and isinstance(index.get("files"), dict):
            return {str(k): int(v) for k, v in index["files"].items()}
    except (OSError, ValueError, AttributeError, TypeError):
        pass
    return {}


def call_name(con: duckdb.DuckDBPyConnection, fn: str, args: list[tuple[str, Any]]) -> str | None:
    """The stable name of `fn(con, **args)` when the connection has a cache and every argument
    is a plain value or a frame this cache named; else None."""
    c = _ATTACHED.get(con)
    if c is None:
        return None
    parts = []
    for k, v in args:
        if v is None or isinstance(v, _PLAIN):
            parts.append(f"{k}={v!r}")
        elif isinstance(v, dict) and all(isinstance(x, _PLAIN) for x in v.values()):
            parts.append(f"{k}={sorted(v.items())!r}")
        elif isinstance(v, pl.DataFrame) and id(v) in c.names:
            parts.append(f"{k}=<{c.names[id(v)]}>")
        else:
            return None
    return f"{fn}({', '.join(parts)})"


def _file(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:24] + ".arrow"


def load(con: duckdb.DuckDBPyConnection, name: str) -> pl.DataFrame | None:
    """The cached frame of call `name`, or None when the cache has no trusted copy."""
    c = _ATTACHED.get(con)
    if c is None or c.record is not None:
        return None
    f = _file(name)
    size = c.index.get(f)
    if size is None:
        return None
    path = c.folder / f
    try:
        data = path.read_bytes()
        if len(data) != size:
            return None
        return pl.read_ipc(io.BytesIO(data))
    except Exception:  # an unreadable copy is recomputed, never trusted
        return None


def remember(con: duckdb.DuckDBPyConnection, name: str, value: Any) -> None:
    """Name a frame handed out for call `name` (so calls taking it are cacheable too) and,
    when warming, keep it for `save`."""
    c = _ATTACHED.get(con)
    if c is None or not isinstance(value, pl.DataFrame):
        return
    c.names[id(value)] = name
    if c.record is not None:
        c.record[name] = value


def save(con: duckdb.DuckDBPyConnection) -> None:
    """Write the recorded frames to the connection's cache folder: each file atomically, then
    the index that makes them trusted; older cache folders go."""
    from forensics.output import write_atomic, write_text_atomic

    c = _ATTACHED.get(con)
    if c is None or not c.record:
        return
    files: dict[str, int] = {}
    names: dict[str, str] = {}
    for name, df in c.record.items():
        f = _file(name)
        try:
            write_atomic(c.folder / f, lambda fh, df=df: df.write_ipc(fh, compression="lz4"))
            files[f] = (c.folder / f).stat().st_size
        except Exception:  # a frame IPC cannot hold, or no room: that one is recomputed
            continue
        names[f] = name
    index = {"key": c.folder.name, "files": files, "calls": names, "written": time.time()}
    write_text_atomic(c.folder / INDEX, json.dumps(index, indent=1))
    for old in c.folder.parent.iterdir():
        if old != c.folder and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def warm(root: Path) -> bool:
    """Compute the tables the findings, the incidents and the report share for the dataset at
    `root` and write them to its cache (what `forensics ingest` does after its commit).
    False when that failed (the dataset is as good without a cache: readers recompute)."""
    try:
        con = open_cached(root, record=True)
        _shared(con)
        save(con)
        return True
    except Exception:  # a cache is optional: never fail the ingest that asked for it
        return False


def _shared(con: duckdb.DuckDBPyConnection) -> None:
    """The shared tables, called as `collect_findings` and the report call them."""
    from forensics.analyses import availability, concurrency, releases
    from forensics.analyses.attribution import route_attribution
    from forensics.analyses.downtime import downtime
    from forensics.analyses.dyno_service import quota_service
    from forensics.analyses.hung_dynos import hung_dynos
    from forensics.analyses.memory import lifetimes_and_growth, quota_episodes

    lt, gr = lifetimes_and_growth(con)
    route_attribution(con, lifetimes=lt, growth=gr)
    quota_service(con, quota_episodes(con, lifetimes=lt, growth=gr))
    releases.release_stats(con, lifetimes=lt, growth=gr)
    availability.crashes(con)
    hung_dynos(con)
    downtime(con)
    concurrency.configured_concurrency(con)
    concurrency.sizing(con)
