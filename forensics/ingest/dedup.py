"""Overlapping exports: the same log line arriving twice is stored once.

The rule. A line's key is (app, second of its UTC timestamp, origin, dyno, message): whole
seconds, so a Papertrail line (whole seconds) matches the same line from the CLI or a drain
(microseconds). Within one input, lines with the same key are true repeats and all kept. Across
inputs, the dataset keeps, per key, as many copies as the input that had the most: an input
with n copies of a key the dataset already holds m times adds max(0, n - m) of them (its first
n - m in line order are dropped, so the ones it adds are its last). Two overlapping
`heroku logs -n 1500` dumps therefore store the overlap once, and a message logged twice in
the same second survives as twice.

Keys are 64-bit hashes with counts, kept in `DIR/_keys/<YYYY-MM-DD>/` by the day of the line,
so checking a file only reads the days it touches, never the whole dataset. Polars' hash is
stable within a version only: the manifest records a canary key, and if it no longer matches,
stored keys are not trusted (the summary says so) rather than silently missing duplicates.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from forensics.store.layout import KEYS_DIR, TMP_PREFIX
from forensics.store.manifest import part_token
from forensics.store.parts import ZSTD_LEVEL

_SEP = "\x1f"


def with_keys(env: pl.DataFrame) -> pl.DataFrame:
    """`env` plus `_key` (UInt64) and `_day` (Date) columns.

    Each key column is hashed on its own and the hashes combined arithmetically: several
    times cheaper than hashing a struct or a concatenated string.
    """
    # reinterpreted, not cast: a year-12 timestamp (a mangled line) has a negative epoch
    sec = pl.col("ts").dt.epoch("s").cast(pl.Int64).reinterpret(signed=False)
    key = (
        pl.col("message").hash(seed=0)
        ^ (pl.col("dyno").hash(seed=1) * 0x9E3779B97F4A7C15)
        ^ (pl.col("origin").hash(seed=2) * 0xC2B2AE3D27D4EB4F)
        ^ (pl.col("app").hash(seed=3) * 0x165667B19E3779F9)
        ^ (sec * 0x27D4EB2F165667C5)
    )
    return env.with_columns(key.alias("_key"), pl.col("ts").dt.date().alias("_day"))


def with_reject_keys(rejects: pl.DataFrame, *, app: str | None) -> pl.DataFrame:
    """Rejected lines keyed by their text (and app), under no day: a line that is no log line
    (a shell prompt, a fragment) arriving again with an overlapping export is stored once too."""
    key = pl.col("raw").hash(seed=5) ^ (
        pl.lit(app, dtype=pl.String).hash(seed=3) * 0x165667B19E3779F9
    )
    return rejects.with_columns(key.alias("_key"), pl.lit(None, dtype=pl.Date).alias("_day"))


def add_counts(carry: pl.DataFrame, keyed: pl.DataFrame) -> pl.DataFrame:
    """Running per-key counts of a whole input (for rejects, which have no time to bound it)."""
    counts = keyed.group_by("_key").agg(pl.len().cast(pl.UInt32).alias("n"))
    both = pl.concat([carry, counts]) if carry.height else counts
    return both.group_by("_key").agg(pl.col("n").sum())


def hash_canary() -> int:
    """A fixed input's key: stored in the manifest, so a Polars upgrade that changed its hash
    (it is stable only within a version) is noticed instead of silently missing duplicates."""
    probe = pl.DataFrame(
        {"message": ["canary"], "dyno": ["web.1"], "origin": ["app"], "app": ["a"]}
    ).with_columns(pl.lit("2020-01-01T00:00:00").str.to_datetime(time_zone="UTC").alias("ts"))
    return int(with_keys(probe)["_key"][0])


class KeyIndex:
    """The stored key counts of a dataset, a day at a time, for one ingest job.

    The most recently used days stay in memory, as many as fit in `max_bytes` (at least the
    last one used; inputs are mostly in time order, so consecutive files touch the same days);
    `absorb` adds each finished input's counts to them, so a job of many files reads a day's
    keys from disk once, not once per file.

    Counts are held as sorted NumPy arrays and probed by binary search: exactly 12 bytes a key,
    and no hash table built per batch or per input.
    """

    def __init__(self, root: Path, *, trusted: bool = True, max_bytes: int = 32 << 20) -> None:
        self.dir = root / KEYS_DIR
        self.trusted = trusted
        self.max_bytes = max_bytes
        # Per day: the counts read from disk, then one entry per input absorbed since (merged
        # by the max rule when there are more than MERGE_AFTER of them).
        self._cache: OrderedDict[date | None, list[Counts]] = OrderedDict()
        # Per cached day: the key parts of each input absorbed since, not read yet.
        self._pending: dict[date | None, list[list[str]]] = {}

    def counts(self, days: list[date | None], keys: pl.Series) -> pl.DataFrame:
        """Max stored count, over the given days, of each of `keys` the dataset holds: columns
        `_key`, `_stored`, one row per distinct key."""
        held = [c for d in days for c in self._day(d)] if self.trusted else []
        if not held:
            return _EMPTY_STORED.clear()
        wanted = np.unique(keys.to_numpy())
        best = np.zeros(len(wanted), dtype=np.uint32)
        for c in held:
            np.maximum(best, c.lookup(wanted), out=best)
        hit = best > 0
        return pl.DataFrame({"_key": wanted[hit], "_stored": best[hit]})

    def absorb(self, paths: list[str]) -> None:
        """Add an input's key parts (written by its KeyWriter) to the cached days; `counts`
        takes the max over inputs (the multiplicity rule). Days not in memory are left alone:
        they are read from disk when needed. The parts are read when a day is next probed (or
        at `settle`), not here: the last input of a job is never read back (a third of a
        second at the end of a 300 MB ingest)."""
        by_day: dict[str, list[str]] = {}
        for path in paths:
            by_day.setdefault(Path(path).parent.name, []).append(path)
        for day in self._cache:
            files = by_day.get(_folder(day))
            if files:
                self._pending.setdefault(day, []).append(files)

    def settle(self) -> None:
        """Read every absorbed part now (before key parts are compacted: they merge the
        parts of several inputs into one)."""
        for day in list(self._pending):
            self._read_pending(day)
        self._evict()

    def _read_pending(self, day: date | None) -> None:
        """Add the absorbed inputs' parts of `day`, in absorb order, as `absorb` once did."""
        held = self._cache.get(day)
        for files in self._pending.pop(day, []):
            if held is not None:
                held.append(Counts.summed(*_read_counts([_current(f) for f in files])))
                if len(held) > MERGE_AFTER:
                    held[:] = [Counts.max_of(held)]

    def _day(self, day: date | None) -> list[Counts]:
        if day in self._cache:
            self._cache.move_to_end(day)
            if day in self._pending:
                self._read_pending(day)
                self._evict()
            return self._cache[day]
        files = sorted((self.dir / _folder(day)).glob("part-*.parquet"))
        held = [read_day(files)] if files else []
        self._cache[day] = held
        self._evict()
        return held

    def _evict(self) -> None:
        """Forget the least recently used days while over budget (never the last one)."""
        while len(self._cache) > 1 and self._bytes() > self.max_bytes:
            day, _ = self._cache.popitem(last=False)
            self._pending.pop(day, None)  # on disk: read with the day when it is next used

    def _bytes(self) -> int:
        return sum(c.keys.nbytes + c.n.nbytes for held in self._cache.values() for c in held)


MERGE_AFTER = 8


@dataclass(frozen=True)
class Counts:
    """Sorted distinct keys (UInt64) with a count each (UInt32)."""

    keys: np.ndarray
    n: np.ndarray

    @classmethod
    def summed(cls, keys: np.ndarray, n: np.ndarray) -> Counts:
        """Counts of the same input: repeated keys add up."""
        return cls(*_reduce_sorted(keys, n, np.add))

    @classmethod
    def max_of(cls, parts: list[Counts]) -> Counts:
        """Counts of different inputs: the max per key (the multiplicity rule)."""
        keys = np.concatenate([p.keys for p in parts])
        n = np.concatenate([p.n for p in parts])
        return cls(*_reduce_sorted(keys, n, np.maximum))

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The count of each of `keys` (0 where absent)."""
        if not len(self.keys):
            return np.zeros(len(keys), dtype=np.uint32)
        pos = np.searchsorted(self.keys, keys).clip(max=len(self.keys) - 1)
        return np.where(self.keys[pos] == keys, self.n[pos], np.uint32(0))


def _reduce_sorted(keys: np.ndarray, n: np.ndarray, op: np.ufunc) -> tuple[np.ndarray, ...]:
    """(distinct keys sorted, `op` over the counts of each)."""
    if not len(keys):
        return keys.astype(np.uint64), n.astype(np.uint32)
    order = np.argsort(keys)  # sums and maxima need no stable order (radix: ~10x slower)
    keys, n = keys[order], n[order].astype(np.uint32)
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[starts], op.reduceat(n, starts)


def _current(path: str) -> str:
    """A key part's path now: its temp name, or its final one once its input is committed."""
    if Path(path).exists():
        return path
    p = Path(path)
    return str(p.with_name(p.name.replace(TMP_PREFIX, "part-", 1)))


def _read_counts(files: list[str] | list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """The `_key` and `n` columns of key parts, as NumPy arrays."""
    df = pl.read_parquet(files, columns=["_key", "n"])
    return df["_key"].to_numpy(), df["n"].to_numpy()


_EMPTY_STORED = pl.DataFrame(schema={"_key": pl.UInt64, "_stored": pl.UInt32})


def drop_seen(
    env: pl.DataFrame, index: KeyIndex, carry: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a keyed envelope batch into (kept rows, dropped rows).

    `carry` holds the counts of keys this input produced at the end of earlier batches, so
    occurrence numbers continue across batch boundaries. When the dataset holds no key of the
    days this batch covers (a first ingest), nothing can be a duplicate and the per-key work
    is skipped.
    """
    days = env.select(pl.col("_day").unique()).to_series().to_list()
    stored = index.counts(days, env.get_column("_key"))
    if stored.height == 0:
        return env, env.clear()
    occ = pl.int_range(pl.len(), dtype=pl.UInt32).over("_key", order_by="line_no") + 1
    df = env.with_columns(_occ=occ)
    if carry.height:
        prev = carry.select("_key", pl.col("n").alias("_prev"))
        df = df.join(prev, on="_key", how="left").with_columns(
            (pl.col("_occ") + pl.col("_prev").fill_null(0)).alias("_occ")
        )
    df = df.join(stored, on="_key", how="left")
    dup = pl.col("_occ") <= pl.col("_stored").fill_null(0)
    drop = [c for c in ("_occ", "_prev", "_stored") if c in df.columns]
    return df.filter(~dup).drop(drop), df.filter(dup).drop(drop)


CARRY_SECONDS = 120


def next_carry(carry: pl.DataFrame, env: pl.DataFrame) -> pl.DataFrame:
    """Per-key counts of this input's lines in the last two minutes seen so far (lines are in
    near time order), so the carry stays small whatever the input size."""
    horizon = env.select(pl.col("ts").max()).item()
    if horizon is None:
        return carry
    cutoff = horizon - timedelta(seconds=CARRY_SECONDS)
    tail = (
        env.filter(pl.col("ts") >= cutoff)
        .group_by("_key")
        .agg(pl.len().cast(pl.UInt32).alias("n"), pl.col("ts").max().alias("_last"))
    )
    both = pl.concat([carry.filter(pl.col("_last") >= cutoff), tail])
    return both.group_by("_key").agg(pl.col("n").sum(), pl.col("_last").max())


def empty_carry() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"_key": pl.UInt64, "n": pl.UInt32, "_last": pl.Datetime("us", "UTC")}
    )


class KeyWriter:
    """Writes one input's key counts batch by batch under temp names, so memory stays bounded
    however large the input; `paths` are renamed with the input's parts at commit."""

    def __init__(self, root: Path, token: str) -> None:
        self.root = root
        self.token = token
        self.paths: list[str] = []

    def add(self, keyed: pl.DataFrame) -> None:
        counts = keyed.group_by("_key", "_day").agg(pl.len().cast(pl.UInt32).alias("n"))
        for (day,), part in counts.partition_by("_day", as_dict=True).items():
            folder = self.root / KEYS_DIR / _folder(day)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f".tmp-{self.token}-{len(self.paths)}.parquet"
            _write_counts(part.select("_key", "n"), path)
            self.paths.append(str(path))


def merge_key_parts(parts: list[Path], out: Path) -> None:
    """One key part holding what `parts` (of one day) hold together, for compaction."""
    merged = read_day(parts)
    _write_counts(pl.DataFrame({"_key": merged.keys, "n": merged.n}), out)


def _write_counts(counts: pl.DataFrame, path: Path) -> None:
    counts.write_parquet(path, compression="zstd", compression_level=ZSTD_LEVEL)


def read_day(files: list[Path]) -> Counts:
    """The stored count per key of one day's key files: summed within an input (its parts
    share a token), the max across inputs (the multiplicity rule)."""
    by_token: dict[str, list[Path]] = {}
    for f in files:
        by_token.setdefault(part_token(f), []).append(f)
    return Counts.max_of([Counts.summed(*_read_counts(fs)) for fs in by_token.values()])


def _folder(day: date | None) -> str:
    return day.isoformat() if day else "undated"
