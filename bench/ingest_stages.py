"""Where ingest's CPU goes, stage by stage, for each engine, and the Parquet-write floor.

Runs the stages of one `heroku logs` input one after the other on one thread of the caller
(Polars on one thread too, POLARS_MAX_THREADS=1, so the CPU of a stage is its own), and prints
CPU seconds per stage and engine: read (decompress + hash), line split, envelope, dedup keys,
key counts, family routing + parsers (the router alone as well), Parquet writes of the tables,
and the floor: the raw lines alone written as zstd Parquet. See bench/README.md.

    .venv/bin/python bench/ingest_stages.py bench/data/scenario-s1-300mb.log
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")

import argparse
import resource
import tempfile
from collections import Counter
from pathlib import Path

import polars as pl

from forensics import native
from forensics.ingest import dedup
from forensics.parsers import FAMILIES, family_expr, parse_envelope, router
from forensics.readers import cli_text
from forensics.readers.lines import BATCH_BYTES, NATIVE_BATCH_BYTES, iter_line_batches
from forensics.readers.source import Source, iter_chunks
from forensics.store.parts import FileWriter, parquet_writer


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Clock:
    """CPU seconds per stage, summed over batches."""

    def __init__(self) -> None:
        self.t: Counter[str] = Counter()

    def iterate(self, stage: str, items, inner: str | None = None):
        """`items`, the CPU of producing each charged to `stage` (less what `inner` took)."""
        it = iter(items)
        while True:
            before = self.t[inner] if inner else 0.0
            c = cpu()
            item = next(it, None)
            self.t[stage] += cpu() - c - ((self.t[inner] - before) if inner else 0.0)
            if item is None:
                return
            yield item

    def __call__(self, stage: str, fn, *args, **kwargs):
        c = cpu()
        out = fn(*args, **kwargs)
        self.t[stage] += cpu() - c
        return out


def run(path: Path, engine: str, out: Path) -> Counter[str]:
    """Every stage of ingesting `path` with `engine`, timed."""
    clock = Clock()
    chunks = clock.iterate("read", iter_chunks(Source(name=path.name, path=path)))
    size = NATIVE_BATCH_BYTES if engine == "native" else BATCH_BYTES  # as cli_text.read
    lines_iter = iter_line_batches(
        chunks,
        source_file=path.name,
        record_start=cli_text.RECORD_START,
        batch_bytes=size,
        engine=engine,
    )
    batches = clock.iterate("split", lines_iter, inner="read")
    writer = FileWriter(out)
    for lines in batches:
        env = clock("envelope", cli_text.envelope, lines, app="a", engine=engine)
        keyed = clock("dedup keys", dedup.with_keys, env.envelope)
        clock("key counts", lambda k=keyed: k.group_by("_key", "_day").agg(pl.len()))
        body = keyed.drop("_key", "_day")
        part = body.drop("raw").with_row_index("_row")
        if engine == "native":
            route = lambda p=part: p.with_columns(native.families(p).alias("_f"))  # noqa: E731
        else:
            route = lambda p=part: p.with_columns(family_expr().alias("_f"))  # noqa: E731
        fam = clock("family routing", route)
        routed = fam.filter(pl.col("_f") == FAMILIES.index(router)).drop("_f")
        parse = router.parse_native if engine == "native" else router.parse
        clock("  of which router", lambda r=routed, f=parse: pl.collect_all([f(r.lazy())[0]]))
        parsed = clock("parse (all families)", parse_envelope, body, engine=engine)
        for table, rows in parsed.tables.items():
            clock("parquet write", writer.write, table, rows)
    writer.commit()
    return clock.t


def floor(path: Path, out: Path) -> float:
    """CPU seconds to write the input's raw lines alone as zstd Parquet (no parsing)."""
    c = cpu()
    df = pl.read_csv(
        path, has_header=False, separator="\x00", quote_char=None, new_columns=["raw"],
        schema={"raw": pl.String}, encoding="utf8-lossy",
    )  # fmt: skip
    w = parquet_writer(out / "floor.parquet", df.to_arrow().schema)
    for frame in df.iter_slices(500_000):
        w.write_table(frame.to_arrow())
    w.close()
    return cpu() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("input", type=Path)
    args = ap.parse_args()
    engines = ["polars", "native"] if native.AVAILABLE else ["polars"]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for e in engines:
            out = Path(tmp) / e
            out.mkdir()
            results[e] = run(args.input, e, out)
        floor_s = floor(args.input, Path(tmp))
    stages = list(dict.fromkeys(s for r in results.values() for s in r))
    mb = args.input.stat().st_size / 1e6
    print(f"{args.input.name}: {mb:,.0f} MB, CPU seconds per stage (POLARS_MAX_THREADS=1)")
    print(f"{'stage':<24}" + "".join(f"{e:>10}" for e in engines))
    for s in stages:
        print(f"{s:<24}" + "".join(f"{results[e][s]:>10.2f}" for e in engines))
    total = {e: sum(v for k, v in r.items() if not k.startswith(" ")) for e, r in results.items()}
    print(f"{'total':<24}" + "".join(f"{total[e]:>10.2f}" for e in engines))
    print(f"floor: raw lines -> zstd Parquet, no parsing: {floor_s:.2f} s CPU")


if __name__ == "__main__":
    main()
