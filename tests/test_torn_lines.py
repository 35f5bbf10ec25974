"""A file still being written (`heroku logs --tail > FILE`) ends inside a line: that torn last
line is held in rejects as `partial` (never a request with null fields), and ingesting the
finished file later adds the full line once (issue 16 item 7)."""

from __future__ import annotations

from pathlib import Path

from ingest_helpers import REAL, run_ingest, summary_adds_up

from forensics.store.views import open_dataset

LINES = (REAL / "src-012.log").read_bytes().split(b"\n")[:-1]
LAST_ROUTER = max(i for i, line in enumerate(LINES) if b"heroku[router]" in line)


def _counts(root: Path) -> tuple[int, ...]:
    con = open_dataset(root)
    return con.execute(
        "SELECT (SELECT count(*) FROM requests), (SELECT count(status) FROM requests), "
        "(SELECT count(*) FROM app_logs), (SELECT count(*) FROM events)"
    ).fetchone()


def test_a_torn_last_line_is_partial_and_the_finished_file_adds_it_once(tmp_path: Path) -> None:
    growing = tmp_path / "tail.log"
    done = LINES[: LAST_ROUTER + 1]
    growing.write_bytes(b"\n".join(done[:-1]) + b"\n" + done[-1][:150])  # cut mid-line
    first = run_ingest([growing], tmp_path / "ds")
    assert first.file.rejects_by_reason == {"partial": 1}
    assert "no newline" in " ".join(first.file.notes)
    rejected = first.table("rejects")
    assert rejected.select("line_no", "reason").rows() == [(LAST_ROUTER + 1, "partial")]
    assert rejected["raw"][0] == done[-1][:150].decode()
    requests, with_status, *_ = _counts(tmp_path / "ds")
    assert requests == with_status  # no request with null fields
    assert summary_adds_up(first.file) == (LAST_ROUTER + 1,) * 2

    growing.write_bytes(b"\n".join(done) + b"\n")  # the line is finished
    second = run_ingest([growing], tmp_path / "ds")
    assert second.file.records == {"requests": 1}
    assert second.file.duplicate_lines == LAST_ROUTER
    whole = tmp_path / "whole.log"
    whole.write_bytes(b"\n".join(done) + b"\n")
    run_ingest([whole], tmp_path / "clean")
    assert _counts(tmp_path / "ds") == _counts(tmp_path / "clean")


def test_a_last_line_cut_inside_its_timestamp_is_partial_too(tmp_path: Path) -> None:
    src = tmp_path / "cut.log"
    src.write_bytes(b"\n".join(LINES[:10]) + b"\n" + LINES[10][:12])
    ds = run_ingest([src], tmp_path / "ds")
    assert ds.file.rejects_by_reason == {"partial": 1}
    assert summary_adds_up(ds.file) == (11, 11)


def test_a_file_ending_with_a_newline_has_no_partial_line(tmp_path: Path) -> None:
    src = tmp_path / "ok.log"
    src.write_bytes(b"\n".join(LINES[:10]) + b"\n")
    ds = run_ingest([src], tmp_path / "ds")
    assert ds.file.rejects_by_reason == {}
    assert ds.file.notes == []
