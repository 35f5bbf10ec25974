"""The key index's counts: sums within an input, the max across inputs, lookups by binary
search, checked against a plain dict."""

from __future__ import annotations

from collections import Counter

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.ingest.dedup import MERGE_AFTER, Counts, KeyIndex, KeyWriter, read_day

keys_st = st.lists(st.integers(0, 40), max_size=60)


def _counts(keys: list[int]) -> Counts:
    return Counts.summed(np.array(keys, dtype=np.uint64), np.ones(len(keys), dtype=np.uint32))


@given(st.lists(keys_st, min_size=1, max_size=5), st.lists(st.integers(0, 50), max_size=30))
@settings(max_examples=200, deadline=None)
def test_max_of_sums_matches_a_dict(inputs: list[list[int]], probe: list[int]) -> None:
    want: Counter[int] = Counter()
    for keys in inputs:
        for k, n in Counter(keys).items():
            want[k] = max(want[k], n)
    merged = Counts.max_of([_counts(k) for k in inputs])
    assert list(merged.keys) == sorted(want)
    assert merged.lookup(np.array(probe, dtype=np.uint64)).tolist() == [want[k] for k in probe]


def test_lookup_in_nothing_is_zero() -> None:
    assert _counts([]).lookup(np.array([1, 2], dtype=np.uint64)).tolist() == [0, 0]


def test_keys_near_the_top_of_uint64_sort_and_match() -> None:
    big = [2**64 - 1, 2**63, 5, 2**64 - 1]
    c = _counts(big)
    assert c.keys.tolist() == [5, 2**63, 2**64 - 1]
    assert c.n.tolist() == [1, 1, 2]
    assert c.lookup(np.array([2**64 - 1, 2**64 - 2], dtype=np.uint64)).tolist() == [2, 0]


def _keyed(keys: list[int], day: str) -> pl.DataFrame:
    return pl.DataFrame(
        {"_key": pl.Series(keys, dtype=pl.UInt64), "_day": [day] * len(keys)}
    ).with_columns(pl.col("_day").str.to_date())


def test_index_counts_days_on_disk_and_absorbed_inputs(tmp_path) -> None:
    day = "2024-05-20"
    # On disk: input "a" wrote key 1 twice over two parts (summed), input "b" once (max -> 2).
    for token, part, keys in [("a", 0, [1]), ("a", 1, [1, 2]), ("b", 0, [1, 3])]:
        w = KeyWriter(tmp_path, token)
        w.add(_keyed(keys, day))
        for p in w.paths:
            (tmp_path / "_keys" / day / p.split("/")[-1]).rename(
                tmp_path / "_keys" / day / f"part-{token}-{part}.parquet"
            )
    on_disk = read_day(sorted((tmp_path / "_keys" / day).glob("part-*.parquet")))
    assert dict(zip(on_disk.keys.tolist(), on_disk.n.tolist(), strict=True)) == {1: 2, 2: 1, 3: 1}

    index = KeyIndex(tmp_path)
    the_day = _keyed([0], day)["_day"][0]
    probe = pl.Series([1, 3, 3, 4], dtype=pl.UInt64)
    assert sorted(index.counts([the_day], probe).iter_rows()) == [(1, 2), (3, 1)]
    # A later input with key 3 three times raises its stored count to 3, key 1 stays at 2.
    w = KeyWriter(tmp_path, "c")
    w.add(_keyed([3, 3, 3, 1], day))
    index.absorb(w.paths)
    assert sorted(index.counts([the_day], probe).iter_rows()) == [(1, 2), (3, 3)]


def test_many_absorbed_inputs_are_merged_by_the_max_rule(tmp_path) -> None:
    day = "2024-05-21"
    index = KeyIndex(tmp_path)
    the_day = _keyed([0], day)["_day"][0]
    index.counts([the_day], pl.Series([7], dtype=pl.UInt64))  # the day is now held
    for k in [3, 1, 9, 2, 5, 4, 8, 6, 2, 1, 7]:
        w = KeyWriter(tmp_path, f"t{k}")
        w.add(_keyed([7] * k + [k + 100], day))
        index.absorb(w.paths)
    held = index._cache[the_day]
    assert len(held) <= MERGE_AFTER
    got = dict(index.counts([the_day], pl.Series([7, 101, 109, 110], dtype=pl.UInt64)).iter_rows())
    assert got == {7: 9, 101: 1, 109: 1}
