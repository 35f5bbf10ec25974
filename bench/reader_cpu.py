"""CPU seconds of one reader alone (line split or framing, and the envelope) for each engine,
the two alternating in one process, min and median of --repeat rounds. What the core saves
per format, without the parsers, the writes or start-up. See bench/README.md.

    .venv/bin/python bench/reader_cpu.py syslog bench/data/formats-ns-s1-1200mb/syslog/*-00[01].log
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from pathlib import Path

from forensics import native, readers

CHUNK = 1 << 20  # what the file source hands the readers


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("format", choices=sorted(readers.READERS), help="the reader to run")
    ap.add_argument("files", nargs="+", type=Path, help="inputs (.gz is undone before timing)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    args = ap.parse_args(argv)
    if not native.AVAILABLE:
        ap.error(native.NOT_BUILT)
    datas = [
        gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes() for f in args.files
    ]
    cpu: dict[str, list[float]] = {"polars": [], "native": []}
    rows = 0
    for r in range(args.repeat):
        for engine in ("native", "polars") if r % 2 == 0 else ("polars", "native"):
            t = time.process_time()
            rows = 0
            for data in datas:
                chunks = (data[i : i + CHUNK] for i in range(0, len(data), CHUNK))
                for batch in readers.read(
                    args.format, chunks, source_file="x", app=None, engine=engine
                ):
                    rows += batch.envelope.height
            cpu[engine].append(time.process_time() - t)
    mb = sum(map(len, datas)) / 1e6
    print(f"{args.format}: {len(datas)} files, {mb:,.0f} MB, {rows:,} envelope rows")
    for engine, v in cpu.items():
        print(f"  {engine:<7} CPU s min {min(v):.2f}  median {statistics.median(v):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
