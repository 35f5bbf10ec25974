"""Inputs at the edges (issue 16 item 9): a file name that is not UTF-8, a FIFO in an input
directory or named on its own, CR-only line endings, a gzip with bytes after its data."""

from __future__ import annotations

import gzip
import os
import threading
from pathlib import Path

from click.testing import CliRunner
from ingest_helpers import REAL, run_ingest, summary_adds_up

from forensics.cli.main import main
from forensics.ingest import ingest

GOOD = REAL / "src-041.log"  # 15 lines: 8 events, 6 app lines, 1 shell prompt
OTHER = REAL / "src-049.log"  # 5 events


def test_a_file_name_that_is_not_utf8_is_shown_escaped_and_read(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.log").write_bytes(GOOD.read_bytes())
    bad = os.fsdecode(os.fsencode(folder) + b"/bad\xff.log")
    Path(bad).write_bytes(OTHER.read_bytes())
    ds = run_ingest([folder], tmp_path / "ds")
    names = [f.name for f in ds.summary.files]
    assert names == [f"{folder}/bad\\xff.log", f"{folder}/good.log"]
    assert [f.status for f in ds.summary.files] == ["ingested", "ingested"]
    assert set(ds.table("events")["source_file"]) == set(names)
    result = CliRunner().invoke(main, ["ingest", str(folder), "-o", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert "bad\\xff.log" not in result.output or "Traceback" not in result.output


def test_a_fifo_in_an_input_directory_is_reported_not_skipped_silently(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.log").write_bytes(GOOD.read_bytes())
    os.mkfifo(folder / "pipe")
    summary = ingest([str(folder)], tmp_path / "ds")
    by_name = {Path(f.name).name: f for f in summary.files}
    assert by_name["a.log"].status == "ingested"
    assert by_name["pipe"].status == "failed"
    assert "a FIFO (named pipe)" in by_name["pipe"].error
    result = CliRunner().invoke(main, ["ingest", str(folder), "-o", str(tmp_path / "cli")])
    assert result.exit_code == 1
    assert "skipped:" in result.stderr and "FIFO" in result.stderr


def test_a_fifo_named_on_its_own_is_read_like_stdin(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as fh:
            fh.write(GOOD.read_bytes())

    writer = threading.Thread(target=feed)
    writer.start()
    ds = run_ingest([fifo], tmp_path / "ds")
    writer.join()
    assert ds.file.status == "ingested"
    assert ds.file.records == {"events": 8, "app_logs": 6}


def test_cr_only_line_endings_are_split_with_a_note(tmp_path: Path) -> None:
    lines = GOOD.read_bytes().split(b"\n")[:-1]
    src = tmp_path / "mac.log"
    src.write_bytes(b"\r".join(lines) + b"\r")
    ds = run_ingest([src], tmp_path / "ds")
    assert ds.file.lines == len(lines) == 15
    assert ds.file.records == {"events": 8, "app_logs": 6}
    assert any("CR only" in n for n in ds.file.notes)
    assert summary_adds_up(ds.file) == (15, 15)


def test_crlf_line_endings_need_no_note(tmp_path: Path) -> None:
    src = tmp_path / "dos.log"
    src.write_bytes(GOOD.read_bytes().replace(b"\n", b"\r\n"))
    ds = run_ingest([src], tmp_path / "ds")
    assert ds.file.records == {"events": 8, "app_logs": 6}
    assert ds.file.notes == []


def test_a_gzip_followed_by_trailing_bytes_keeps_its_data_with_a_note(tmp_path: Path) -> None:
    src = tmp_path / "export.log.gz"
    src.write_bytes(gzip.compress(GOOD.read_bytes()) + b"<html>404 page appended</html>\n")
    ds = run_ingest([src], tmp_path / "ds")
    assert ds.file.status == "ingested"
    assert ds.file.records == {"events": 8, "app_logs": 6}
    assert len([n for n in ds.file.notes if "not gzip data" in n]) == 1


def test_a_gzip_cut_short_is_still_refused(tmp_path: Path) -> None:
    src = tmp_path / "cut.log.gz"
    src.write_bytes(gzip.compress(GOOD.read_bytes() * 50)[:-40])
    summary = ingest([str(src), str(OTHER)], tmp_path / "ds")
    assert [f.status for f in summary.files] == ["failed", "ingested"]
    assert "truncated" in summary.files[0].error
