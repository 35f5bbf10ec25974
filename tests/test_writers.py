"""One writer at a time, and readers that see only what the manifest commits: a second
ingest is refused while the first holds the lock (and leaves its files alone), a lock left by
a dead writer is taken over, staged parts never sit in a table folder, SIGTERM/SIGINT clean up.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from faults import (
    glob_state,
    leftovers,
    resume,
    start_ingest,
    state,
    tiny_inputs,
    wait_stopped,
)

from forensics.errors import OutputError
from forensics.ingest import ingest
from forensics.store import lock as lock_mod


def test_a_second_writer_is_refused_and_leaves_the_first_ones_files_alone(
    tmp_path: Path,
) -> None:
    # Issue 16 item 1: the second ingest into a new directory deleted the first's temp files
    # (FileNotFoundError in the first) and two ingests into one dataset lost an input.
    first, second = tiny_inputs(tmp_path / "in", 2)
    root = tmp_path / "new"  # does not exist yet: the first ingest creates it
    proc = start_ingest([first], root, fault="write:1:STOP")  # stops with a part staged
    wait_stopped(proc)
    staged = leftovers(root)
    assert staged, "the first ingest should be stopped holding a staged part"
    with pytest.raises(OutputError, match=r"another forensics process is writing this dataset"):
        ingest([str(second)], root)
    assert leftovers(root) == staged  # nothing of the first's was touched
    rc, err = resume(proc)
    assert rc == 0, err
    ingest([str(second)], root)  # now it can
    assert set(state(root)) == {str(first), str(second)}
    assert leftovers(root) == []


def test_the_refusal_is_one_line_naming_the_holder(tmp_path: Path) -> None:
    first, second = tiny_inputs(tmp_path / "in", 2)
    root = tmp_path / "ds"
    proc = start_ingest([first], root, fault="write:1:STOP")
    wait_stopped(proc)
    try:
        other = start_ingest([second], root)
        _, err = other.communicate(timeout=120)
        assert other.returncode == 2
        assert err.decode().count("\n") == 1 and "Traceback" not in err.decode()
        assert f"pid {proc.pid} on {socket.gethostname()}" in err.decode()
    finally:
        resume(proc)


def test_readers_see_the_committed_dataset_while_an_ingest_is_writing(tmp_path: Path) -> None:
    # Issue 16 item 3: `sql` on a dataset being ingested met `.tmp-*.parquet` in the table
    # folders ("No magic bytes") and failed with a traceback.
    base, more = tiny_inputs(tmp_path / "in", 2)
    root = tmp_path / "ds"
    ingest([str(base)], root)
    before = state(root)
    proc = start_ingest([more], root, fault="write:3:STOP")
    wait_stopped(proc)
    try:
        assert state(root) == before
        assert glob_state(root) == before  # DIR/<table>/*.parquet holds committed parts only
    finally:
        assert resume(proc)[0] == 0
    assert set(state(root)) == {str(base), str(more)}


def test_a_lock_left_by_a_killed_writer_is_taken_over_and_its_files_removed(
    tmp_path: Path,
) -> None:
    first, second = tiny_inputs(tmp_path / "in", 2)
    root = tmp_path / "ds"
    ingest([str(first)], root)
    proc = start_ingest([second], root, fault="write:2:KILL")
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    record = json.loads((root / ".lock").read_text())
    assert record["pid"] == proc.pid
    assert leftovers(root)  # what it had staged
    summary = ingest([str(second)], root)
    assert f"pid {proc.pid}" in " ".join(summary.notes)
    assert leftovers(root) == []
    assert (root / ".lock").read_text() == ""  # released
    assert set(state(root)) == {str(first), str(second)}


def _no_flock(monkeypatch: pytest.MonkeyPatch) -> None:
    def unsupported(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "no locks available")

    monkeypatch.setattr(fcntl, "flock", unsupported)


def test_without_flock_a_live_recorded_holder_refuses_and_a_dead_one_is_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where flock does nothing (some network filesystems), the record decides: the holder's
    # pid must be alive here with the start time it recorded.
    (a,) = tiny_inputs(tmp_path / "in", 1)
    root = tmp_path / "ds"
    root.mkdir()
    _no_flock(monkeypatch)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ticks = lock_mod._start_ticks(sleeper.pid)
        me = lock_mod._me() | {"pid": sleeper.pid, "start_ticks": ticks}
        (root / ".lock").write_text(json.dumps(me))
        with pytest.raises(OutputError, match=rf"pid {sleeper.pid} .*delete .*\.lock"):
            ingest([str(a)], root)
        # the same pid with another start time is a reused pid, not the holder
        (root / ".lock").write_text(json.dumps(me | {"start_ticks": -1}))
        ingest([str(a)], root)
    finally:
        sleeper.kill()
        sleeper.wait()
    dead = lock_mod._me() | {"pid": sleeper.pid}
    (root / ".lock").write_text(json.dumps(dead))
    summary = ingest([str(a)], root)  # already ingested; the stale record is replaced
    assert summary.files[0].status == "already_ingested"
    assert (root / ".lock").read_text() == ""


@pytest.mark.parametrize("sig", ["TERM", "INT"])
def test_sigterm_and_sigint_remove_what_was_not_committed(tmp_path: Path, sig: str) -> None:
    # Issue 16 item 3: SIGTERM left 19 `.tmp` files beside the parts.
    inputs = tiny_inputs(tmp_path / "in", 4)
    root = tmp_path / "ds"
    ingest([str(inputs[0])], root)
    before = state(root)
    proc = start_ingest(inputs[1:], root, fault=f"write:2:{sig}")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err.decode() and "interrupted" in err.decode()
    assert leftovers(root) == []
    assert (root / ".lock").read_text() == ""
    seen = state(root)
    assert set(before) <= set(seen) < {str(p) for p in inputs}
    assert glob_state(root) == seen


def test_an_injected_full_disk_is_one_line_and_keeps_what_was_committed(tmp_path: Path) -> None:
    inputs = tiny_inputs(tmp_path / "in", 3)
    root = tmp_path / "ds"
    ingest([str(inputs[0])], root)
    before = state(root)
    proc = start_ingest(inputs[1:], root, fault="write:2:ENOSPC")
    _, err = proc.communicate(timeout=120)
    text = err.decode()
    assert proc.returncode == 2, text
    assert text.startswith("forensics: error: ") and text.count("\n") == 1
    assert "no space left on the device" in text and "run the same command again" in text
    seen = state(root)
    assert set(before) <= set(seen) and str(inputs[2]) not in seen
    assert leftovers(root) == []
    ingest([str(p) for p in inputs], root)
    assert set(state(root)) == {str(p) for p in inputs}


def test_a_full_disk_while_saving_the_manifest_keeps_the_previous_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = tiny_inputs(tmp_path / "in", 2)
    root = tmp_path / "ds"
    ingest([str(inputs[0])], root)
    before = state(root)
    manifest = (root / "manifest.json").read_text()
    # the writes of this job, counted on a copy: the manifest's is the last one
    trace = tmp_path / "trace"
    shutil.copytree(root, tmp_path / "copy")
    monkeypatch.setenv("FORENSICS_FAULT_TRACE", str(trace))
    ingest([str(inputs[1])], tmp_path / "copy")
    monkeypatch.delenv("FORENSICS_FAULT_TRACE")
    writes = trace.read_text().split().count("write")
    proc = start_ingest([inputs[1]], root, fault=f"write:{writes}:ENOSPC")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "no space left" in err.decode()
    assert (root / "manifest.json").read_text() == manifest
    assert state(root) == before == glob_state(root)
    assert leftovers(root) == []


def test_the_lock_file_is_not_a_foreign_file(tmp_path: Path) -> None:
    # A first ingest that was killed before writing its manifest leaves `.lock` (and staging):
    # the directory is still ours, not "not a forensics dataset".
    (a,) = tiny_inputs(tmp_path / "in", 1)
    root = tmp_path / "ds"
    proc = start_ingest([a], root, fault="write:1:KILL")
    proc.communicate(timeout=120)
    assert not (root / "manifest.json").exists()
    ingest([str(a)], root)
    assert set(state(root)) == {str(a)}
    assert os.listdir(root / "requests")


def test_readers_read_the_parts_the_manifest_lists_not_the_folder(tmp_path: Path) -> None:
    # Issue 16 item 2: a kill after a compaction renamed its merged part in, before the
    # manifest recorded it, doubled every count (the views globbed the folder).
    inputs = tiny_inputs(tmp_path / "in", 2)
    root = tmp_path / "ds"
    ingest([str(p) for p in inputs], root)
    before = state(root)
    part = next((root / "requests").glob("part-*.parquet"))
    shutil.copy(part, root / "requests" / "part-cdeadbeefdeadbee.parquet")  # not recorded
    assert state(root) == before
    ingest([str(inputs[0])], root)  # the next writer removes it
    assert glob_state(root) == before


def test_a_manifest_written_before_it_listed_parts_still_opens(tmp_path: Path) -> None:
    inputs = tiny_inputs(tmp_path / "in", 2)
    root = tmp_path / "ds"
    ingest([str(p) for p in inputs], root)
    before = state(root)
    data = json.loads((root / "manifest.json").read_text())
    del data["parts"]
    (root / "manifest.json").write_text(json.dumps(data))
    assert state(root) == before
    more = tiny_inputs(tmp_path / "in", 1, start=5)
    ingest([str(more[0])], root)
    assert set(state(root)) == {*before, str(more[0])}


def test_a_full_disk_when_taking_the_lock_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the lock file exists (an empty file needs no space) but its record cannot be written
    inputs = tiny_inputs(tmp_path / "in", 2)
    root = tmp_path / "ds"
    ingest([str(inputs[0])], root)
    before = state(root)

    def full(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lock_mod.os, "pwrite", full)
    with pytest.raises(OutputError) as e:
        ingest([str(inputs[1])], root)
    assert str(e.value) == (
        f"{root}: cannot record the dataset's writer in .lock (No space left on device); "
        "nothing was written; free space and run the same command again"
    )
    monkeypatch.undo()
    assert state(root) == before and leftovers(root) == []
    ingest([str(inputs[1])], root)  # the lock is free again
    assert set(state(root)) == {str(p) for p in inputs}


def _stale_once(
    monkeypatch: pytest.MonkeyPatch,
    module: object,
    root: Path,
    more: list[Path],
    name: str = "open_dataset",
):
    """`module.<name>` (the dataset opener it uses) whose first call returns views that an
    ingest beside them (a compaction) has then made stale; later calls open the dataset as it
    is."""
    real, calls = getattr(module, name), []

    def opened(*args: object, **kwargs: object) -> object:
        con = real(*args, **kwargs)
        if not calls:
            ingest([str(p) for p in more], root)
        calls.append(1)
        return con

    monkeypatch.setattr(module, name, opened)
    return calls


def _fifteen(tmp_path: Path, name: str) -> tuple[Path, list[Path]]:
    """A dataset of 15 inputs (15 parts a table: one below compaction) and 2 more inputs."""
    inputs = tiny_inputs(tmp_path / f"in-{name}", 17)
    root = tmp_path / name
    ingest([str(p) for p in inputs[:15]], root)
    return root, inputs[15:]


def test_a_reader_beside_a_compaction_reads_the_dataset_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a reader's views list the parts of the manifest it opened; a compaction by an ingest
    # beside it merges those away: the query says so (DatasetChangedError) and the CLI runs
    # the command again, instead of failing or writing a report with empty sections
    from click.testing import CliRunner

    from forensics.cli.main import main
    from forensics.errors import DatasetChangedError
    from forensics.report import writer
    from forensics.store import views

    root, more = _fifteen(tmp_path, "a")
    con = views.open_dataset(root)
    ingest([str(p) for p in more], root)
    assert len(list((root / "requests").glob("*.parquet"))) == 1  # merged
    with pytest.raises(DatasetChangedError):
        views.query(con, "SELECT count(*) FROM requests")

    root, more = _fifteen(tmp_path, "b")
    out = tmp_path / "n.csv"
    calls = _stale_once(monkeypatch, views, root, more)
    sql = ["sql", str(root), "SELECT count(*) n FROM requests", "-o", str(out)]
    result = CliRunner().invoke(main, sql)
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines() == ["n", "17"] and len(calls) == 2

    root, more = _fifteen(tmp_path, "c")
    # the whole dataset opens with its cache of shared tables (forensics.analyses.cache)
    calls = _stale_once(monkeypatch, writer, root, more, name="open_cached")
    page = tmp_path / "r.html"
    result = CliRunner().invoke(main, ["report", str(root), "-o", str(page)])
    assert result.exit_code == 0, result.output
    assert len(calls) == 2 and "DatasetChangedError" not in page.read_text()
