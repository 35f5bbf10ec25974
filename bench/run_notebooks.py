"""Notebook benchmark: each notebook run top to bottom on the sample dataset, as
`jupyter nbconvert --to html --execute` and as nbval (`pytest --nbval-lax`), against a
one-cell notebook run the same way in the same command (the kernel's and the runner's own
start-up cost).

Target (issue 15): every notebook under 30 s under each runner. The machine is shared:
medians over --repeat rounds are printed, with the CPU seconds of the runner's whole process
tree beside wall seconds, and each notebook's time as a ratio to the one-cell baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TARGET_S = 30.0
BASELINE = {
    "cells": [
        {"cell_type": "code", "execution_count": None, "id": "baseline", "metadata": {},
         "outputs": [], "source": ["print(1)"]}
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                "name": "python3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}  # fmt: skip


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _command(runner: str, notebook: Path, out: Path) -> list[str]:
    if runner == "nbconvert":
        return [sys.executable, "-m", "nbconvert", "--to", "html", "--execute", str(notebook),
                "--output-dir", str(out), "--log-level", "WARN"]  # fmt: skip
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
            "--rootdir", str(ROOT), str(notebook)]  # fmt: skip


def _run(runner: str, notebook: Path, out: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run (CPU: the runner and its kernel, which it waits for)."""
    cpu, t = _children_cpu(), time.perf_counter()
    done = subprocess.run(
        _command(runner, notebook, out), cwd=ROOT, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-2000:]
        raise SystemExit(f"{runner} failed on {notebook.name} ({done.returncode}):\n{tail}")
    return wall, _children_cpu() - cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="rounds (median reported)")
    ap.add_argument("--runner", choices=("nbconvert", "nbval", "both"), default="both")
    ap.add_argument("--only", nargs="*", help="notebook names (default: all)")
    ap.add_argument("--json", type=Path, default=HERE / "results" / "notebooks.json")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    from forensics.notebook import ensure_dataset

    ensure_dataset()  # ingest the sample once, outside the timings
    runners = ("nbconvert", "nbval") if args.runner == "both" else (args.runner,)
    picked = [p for p in NOTEBOOKS if not args.only or p.stem in args.only or p.name in args.only]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
               os.environ.get("PYTHONPATH")])))  # fmt: skip
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-notebooks-") as tmp:
        out = Path(tmp)
        baseline = out / "one_cell.ipynb"
        baseline.write_text(json.dumps(BASELINE))
        contenders = [baseline, *picked]
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.repeat):  # rounds interleave the contenders: load hits all alike
            for runner in runners:
                for nb in contenders:
                    times.setdefault((runner, nb.stem), []).append(_run(runner, nb, out, env))
        for runner in runners:
            base = statistics.median(w for w, _ in times[(runner, baseline.stem)])
            for nb in contenders:
                runs = times[(runner, nb.stem)]
                wall = statistics.median(w for w, _ in runs)
                results.append({
                    "runner": runner, "notebook": nb.stem, "wall_s": round(wall, 2),
                    "cpu_s": round(statistics.median(c for _, c in runs), 2),
                    "x_baseline": round(wall / base, 2), "runs": [round(w, 2) for w, _ in runs],
                })  # fmt: skip
    print(f"{'runner':<10} {'notebook':<14} {'wall s':>7} {'cpu s':>7} {'x one-cell':>10}  target")
    for r in results:
        ok = "" if r["notebook"] == baseline.stem else (
            "ok" if r["wall_s"] < TARGET_S else f"OVER {TARGET_S:.0f} s")  # fmt: skip
        print(f"{r['runner']:<10} {r['notebook']:<14} {r['wall_s']:>7.2f} {r['cpu_s']:>7.2f} "
              f"{r['x_baseline']:>10.2f}  {ok}")  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"repeat": args.repeat, "results": results}, indent=2))
    return 0 if all(r["wall_s"] < TARGET_S for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
