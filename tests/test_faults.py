"""Fault injection: an ingest killed at ~30 sampled points (renames, unlinks, writes; SIGKILL,
SIGTERM, SIGINT) leaves the dataset exactly as before an input or exactly after it, as `sql`
(the views) sees it, and a re-run gives the clean dataset; two writers started at once never
lose an input. The kill points are the hooks of `forensics.store.fs` (FORENSICS_FAULT), so
this runs anywhere; `bench/run_faults.py` kills at every rename and unlink instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from faults import (
    glob_state,
    is_before_or_after,
    leftovers,
    start_ingest,
    state,
    tiny_inputs,
)

from forensics.ingest import ingest

# 15 inputs in the dataset + 3 in the job: 18 parts per table, so the job ends with a
# compaction of tables and keys (COMPACT_MIN_PARTS = 16) whose kill points are sampled too.
BASE_FILES = 15
JOB_FILES = 3
POINTS = 30


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("faults")
    inputs = tiny_inputs(tmp / "in", BASE_FILES + JOB_FILES)
    job = inputs[BASE_FILES:]
    base = tmp / "base"
    ingest([str(p) for p in inputs[:BASE_FILES]], base)
    clean = tmp / "clean"
    shutil.copytree(base, clean)
    trace = tmp / "trace"
    os.environ["FORENSICS_FAULT_TRACE"] = str(trace)
    try:
        ingest([str(p) for p in job], clean)
    finally:
        del os.environ["FORENSICS_FAULT_TRACE"]
    ops = trace.read_text().split()
    assert {"rename", "unlink", "write"} <= set(ops)
    assert len(list((tmp / "clean" / "requests").glob("*.parquet"))) == 1  # it compacted
    return {"tmp": tmp, "base": base, "job": job, "clean": state(clean), "ops": ops}


def _points(ops: list[str], count: int) -> list[str]:
    """`count` fault specs spread evenly over the job's steps: `<op>:<n>:<signal>`, the n-th
    step of that op; mostly SIGKILL, some SIGTERM and SIGINT."""
    out = []
    for i in range(count):
        at = round(i * (len(ops) - 1) / (count - 1))
        op = ops[at]
        nth = ops[: at + 1].count(op)
        sig = "TERM" if i % 5 == 2 else "INT" if i % 7 == 3 else "KILL"
        out.append(f"{op}:{nth}:{sig}")
    return out


def test_a_kill_at_any_sampled_point_leaves_before_or_after_and_a_rerun_completes(
    setup: dict,
) -> None:
    tmp, job, clean = setup["tmp"], setup["job"], setup["clean"]
    points = _points(setup["ops"], POINTS)
    assert len(set(points)) == POINTS
    failures = []
    for batch in range(0, POINTS, 3):  # three at a time: each has its own copy
        runs = []
        for i, spec in enumerate(points[batch : batch + 3], start=batch):
            root = tmp / f"kill-{i}"
            shutil.copytree(setup["base"], root)
            cli = not spec.endswith("KILL")  # exit code and message matter there
            runs.append((spec, root, start_ingest(job, root, fault=spec, cli=cli)))
        for spec, root, proc in runs:
            _, err = proc.communicate(timeout=120)
            failures += _check(spec, root, proc.returncode, err.decode(), job, clean)
    assert failures == []


def _check(spec: str, root: Path, rc: int, err: str, job: list[Path], clean: dict) -> list[str]:
    problems = []
    sig = spec.rsplit(":", 1)[1]
    if rc != (-9 if sig == "KILL" else 130):
        problems.append(f"{spec}: exit {rc}: {err[-300:]}")
    if "Traceback" in err:
        problems.append(f"{spec}: traceback: {err[-300:]}")
    if not is_before_or_after(state(root), clean, job):
        problems.append(f"{spec}: neither before nor after an input: {state(root)}")
    if sig != "KILL" and leftovers(root):
        problems.append(f"{spec}: SIG{sig} left {leftovers(root)}")
    ingest([str(p) for p in job], root)
    if state(root) != clean or glob_state(root) != clean:
        problems.append(f"{spec}: the re-run is not the clean dataset")
    if leftovers(root):
        problems.append(f"{spec}: the re-run left {leftovers(root)}")
    return problems


def test_two_writers_started_at_once_never_lose_an_input(setup: dict) -> None:
    # Issue 16 item 1: each rewrote the manifest from its own copy (an input lost, both said
    # "1 file(s) ingested"). Now one is refused, or they ran one after the other.
    tmp, job, clean = setup["tmp"], setup["job"], setup["clean"]
    for trial in range(3):
        root = tmp / f"two-{trial}"  # new: both race to create it
        halves = (job[:2], job[2:])
        procs = [start_ingest(h, root) for h in halves]
        outcomes = [(p.wait(timeout=120), p.stderr.read().decode()) for p in procs]
        kept: list[Path] = []
        for half, (rc, err) in zip(halves, outcomes, strict=True):
            if rc == 0:
                kept += half
            else:
                assert rc == 2 and "another forensics process is writing" in err, err
        assert kept, outcomes
        assert state(root) == {str(p): clean[str(p)] for p in kept}
        assert leftovers(root) == []
        ingest([str(p) for p in job], root)
        assert state(root) == {str(p): clean[str(p)] for p in job}
