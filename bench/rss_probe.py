"""RSS over time of a running `forensics ingest`, from outside: where in the job the peak sits.

Waits for a process whose command line holds `forensics` and `ingest` (the newest one), then
every --interval seconds records its RSS (/proc/PID/statm), the input file it has open (under
--corpus), whether it has a file open in the dataset's `.staging/` (a compaction writing) and
how many of its threads are running. Once the process ends it writes the samples as TSV and
prints the peak, the samples around it, and the highest RSS per phase (each input format, the
cache warm after the last input: no input open any more).

  python bench/rss_probe.py --corpus bench/data/formats-mem6-s1-10240mb --out /tmp/rss.tsv &
  python bench/run_formats.py --tag mem6 --only mixed --gate
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1 << 20


def find_ingest(after: float) -> int | None:
    """The newest process started after `after` whose command line runs `forensics ingest`."""
    best: tuple[float, int] | None = None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            started = os.stat(f"/proc/{entry}").st_mtime
        except OSError:
            continue
        names = [a.rsplit(b"/", 1)[-1] for a in argv]
        ours = b"forensics" in names and b"ingest" in argv and b"-c" not in argv
        if ours and started >= after - 1 and (best is None or started > best[0]):
            best = (started, int(entry))
    return best[1] if best else None


def sample(pid: int, corpus: str) -> tuple[float, str, bool, int, bool] | None:
    try:
        rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / MIB
        inputs, staging, locked = [], False, False
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith(corpus):
                inputs.append(target[len(corpus) :].lstrip("/"))
            elif "/.staging/" in target:
                staging = True
            elif target.endswith("/.lock"):
                locked = True
        running = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            except OSError:
                continue
            running += stat.rsplit(")", 1)[1].split()[0] == "R"
    except OSError:
        return None
    return rss, ",".join(sorted(inputs)) or "-", staging, running, locked


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--wait", type=float, default=600, help="seconds to wait for the process")
    args = ap.parse_args()
    corpus = str(args.corpus.resolve())
    t_start = time.time()
    pid = None
    while pid is None and time.time() - t_start < args.wait:
        pid = find_ingest(t_start)
        time.sleep(0.05)
    if pid is None:
        print("no forensics ingest process appeared")
        return 1
    rows: list[tuple[float, float, str, bool, int, bool]] = []
    t0 = time.perf_counter()
    while (s := sample(pid, corpus)) is not None:
        rows.append((time.perf_counter() - t0, *s))
        time.sleep(args.interval)
    with open(args.out, "w") as f:
        f.write("t\trss_mib\tinput\tstaging\trunning\tlocked\n")
        for t, rss, inp, st, run, lk in rows:
            f.write(f"{t:.2f}\t{rss:.1f}\t{inp}\t{int(st)}\t{run}\t{int(lk)}\n")
    if not rows:
        return 1
    peak = max(range(len(rows)), key=lambda i: rows[i][1])
    t, rss, inp, st, _, lk = rows[peak]
    print(f"pid {pid}: {len(rows)} samples over {rows[-1][0]:.0f} s; peak {rss:.0f} MiB at")
    print(f"  t={t:.1f} s, input {inp}, compaction writing: {st}, ingest (locked): {lk}")
    for r in rows[max(0, peak - 10) : peak + 5]:
        print(
            f"    t={r[0]:7.2f} {r[1]:6.0f} MiB  {r[2]}  staging={int(r[3])} running={r[4]} "
            f"locked={int(r[5])}"
        )
    # a sample with no input open belongs to the input before it; after the last input is
    # read come its last batches and the final compaction (dataset still locked), then the
    # cache warm (lock released)
    last = max((i for i, r in enumerate(rows) if r[2] != "-"), default=-1)
    was_locked = False
    phases: dict[str, tuple[float, float, float]] = {}  # phase: (peak, first t, last t)
    ph = "start"
    for i, (t, rss, inp, _, _, lk) in enumerate(rows):
        was_locked = was_locked or lk
        if was_locked and not lk:
            ph = "warm"
        elif i > last:
            ph = "last batches+compaction"
        elif inp != "-":
            ph = inp.split("/", 1)[0]
        p, a, _b = phases.get(ph, (0.0, t, t))
        phases[ph] = (max(p, rss), a, t)
    for ph, (p, a, b) in phases.items():
        print(f"  {ph:<24} peak {p:6.0f} MiB  t {a:7.1f}-{b:7.1f} s")
    with_staging = [r[1] for r in rows if r[3]]
    if with_staging:
        print(f"  while a compaction was writing: peak {max(with_staging):.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
