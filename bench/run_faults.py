"""Fault benchmark: kill a small ingest at EVERY rename and every unlink it does, and check.

The job: a dataset of 15 small inputs, then one `ingest` of 3 more small inputs and 4 real
exports (tests/data/real, ~3,200 lines), which ends with a compaction of tables and keys. One
traced run counts its renames and unlinks (FORENSICS_FAULT_TRACE, `forensics.store.fs`); then,
for each one, a fresh copy of the dataset is ingested into with FORENSICS_FAULT=<op>:<n>:KILL
(SIGKILL just before that step; `--signals KILL,TERM,INT` tries each), and a kill point passes
when the views (`sql`) show the dataset exactly before or after an input of the job, SIGTERM
and SIGINT left no staged or temp file, and a re-run gives the clean dataset, both through the
views and through a plain `DIR/<table>/*.parquet` glob, with nothing left behind.

    PYTHONPATH=. .venv/bin/python bench/run_faults.py [--signals KILL] [--jobs 3]

Prints one line per failing point and the totals (kill points, passed); exit 1 if any failed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the fault helpers the test suite uses

from faults import (  # noqa: E402
    glob_state,
    is_before_or_after,
    leftovers,
    start_ingest,
    state,
    tiny_inputs,
)

from forensics.ingest import ingest  # noqa: E402

REAL = ROOT / "tests" / "data" / "real"
REAL_INPUTS = ("src-007.log", "src-010.log", "src-012.log", "src-019.log")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signals", default="KILL", help="comma-separated: KILL, TERM, INT")
    ap.add_argument("--jobs", type=int, default=3, help="kill runs at once")
    args = ap.parse_args()
    signals = [s.strip().upper() for s in args.signals.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="forensics-faults-") as tmp_name:
        tmp = Path(tmp_name)
        inputs = tiny_inputs(tmp / "in", 18)
        for name in REAL_INPUTS:
            shutil.copy(REAL / name, tmp / "in" / name)
        job = [*inputs[15:], *(tmp / "in" / n for n in REAL_INPUTS)]
        base = tmp / "base"
        ingest([str(p) for p in inputs[:15]], base)
        clean_root = tmp / "clean"
        shutil.copytree(base, clean_root)
        trace = tmp / "trace"
        traced = start_ingest(job, clean_root, trace=trace, cli=False)
        traced.communicate(timeout=600)
        ops = trace.read_text().split()
        clean = state(clean_root)
        points = [
            f"{op}:{n}:{sig}"
            for op in ("rename", "unlink")
            for n in range(1, ops.count(op) + 1)
            for sig in signals
        ]
        print(
            f"job: {len(job)} inputs into a dataset of 15; {ops.count('rename')} renames, "
            f"{ops.count('unlink')} unlinks, {ops.count('write')} writes; "
            f"{len(points)} kill points ({', '.join(signals)})",
            flush=True,
        )
        failed = 0
        for at in range(0, len(points), args.jobs):
            runs = []
            for i, spec in enumerate(points[at : at + args.jobs], start=at):
                root = tmp / f"kill-{i}"
                shutil.copytree(base, root)
                cli = not spec.endswith("KILL")
                runs.append((spec, root, start_ingest(job, root, fault=spec, cli=cli)))
            for spec, root, proc in runs:
                _, err = proc.communicate(timeout=600)
                problems = _check(spec, root, proc.returncode, err.decode(), job, clean)
                for p in problems:
                    print(f"FAIL {p}", flush=True)
                failed += bool(problems)
                shutil.rmtree(root)
        print(f"kill points: {len(points)}  passed: {len(points) - failed}  failed: {failed}")
        return 1 if failed else 0


def _check(spec: str, root: Path, rc: int, err: str, job: list[Path], clean: dict) -> list[str]:
    problems = []
    sig = spec.rsplit(":", 1)[1]
    if rc != (-9 if sig == "KILL" else 130):
        problems.append(f"{spec}: exit {rc} {err[-200:]!r}")
    if not is_before_or_after(state(root), clean, job):
        problems.append(f"{spec}: the views show neither before nor after an input")
    if sig != "KILL" and leftovers(root):
        problems.append(f"{spec}: SIG{sig} left {leftovers(root)}")
    ingest([str(p) for p in job], root)
    if state(root) != clean:
        problems.append(f"{spec}: the re-run is not the clean dataset (views)")
    if glob_state(root) != clean:
        problems.append(f"{spec}: the re-run is not the clean dataset (glob)")
    if leftovers(root):
        problems.append(f"{spec}: the re-run left {leftovers(root)}")
    return problems


if __name__ == "__main__":
    sys.exit(main())
