"""Wall and CPU seconds of the three phases of `forensics ingest`, in one process: imports, the
ingest (read, parse, write, key index, compaction) and the cache warm (the analyses' shared
tables), medians of --repeat runs each into a fresh dataset. `run_ingest.py` and
`run_formats.py` time the whole command; this says how it splits. See bench/README.md.

    .venv/bin/python bench/ingest_phases.py bench/data/scenario-s1-300mb.log --repeat 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import resource, shutil, sys, time
from pathlib import Path
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
t0, c0 = time.perf_counter(), cpu()
from forensics.ingest.allocator import release_free_memory, tune_allocators
tune_allocators()
from forensics.analyses.cache import warm
from forensics.ingest import ingest
t1, c1 = time.perf_counter(), cpu()
ingest([Path(p) for p in sys.argv[2:]], Path(sys.argv[1]), engine=None)
t2, c2 = time.perf_counter(), cpu()
release_free_memory(above_mib=0)
warm(Path(sys.argv[1]))
t3, c3 = time.perf_counter(), cpu()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(t1 - t0, c1 - c0, t2 - t1, c2 - c1, t3 - t2, c3 - c2, peak)
"""
PHASES = ("imports", "ingest", "warm")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", type=Path, help="files or directories to ingest")
    ap.add_argument("--repeat", type=int, default=3, help="runs (default 3)")
    args = ap.parse_args(argv)
    runs = []
    for _ in range(args.repeat):
        out = Path(tempfile.mkdtemp(prefix="phases-")) / "ds"
        try:
            cmd = [sys.executable, "-c", CHILD, str(out), *map(str, args.inputs)]
            text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            runs.append([float(x) for x in text.split()])
        finally:
            shutil.rmtree(out.parent, ignore_errors=True)
    med = [statistics.median(r[i] for r in runs) for i in range(7)]
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(f"{', '.join(map(str, args.inputs))}: medians of {len(runs)}, load {' '.join(load)}")
    print(f"{'phase':<10}{'wall s':>8}{'CPU s':>8}")
    for k, name in enumerate(PHASES):
        print(f"{name:<10}{med[2 * k]:>8.2f}{med[2 * k + 1]:>8.2f}")
    wall, cpu = sum(med[0:6:2]), sum(med[1:6:2])
    print(f"{'total':<10}{wall:>8.2f}{cpu:>8.2f}   peak RSS {med[6]:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
