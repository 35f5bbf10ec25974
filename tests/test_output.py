"""User output files are written all or nothing: a full disk or a failing writer leaves the old
file (or none) and no temporary file, with one line saying why."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import BinaryIO

import pytest

from forensics.errors import OutputError
from forensics.output import os_reason, write_atomic, write_text_atomic


def _fills_the_disk(fh: BinaryIO) -> None:
    fh.write(b"route,count\n/a,1\n")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    out.write_text("the previous result\n")
    with pytest.raises(OutputError) as e:
        write_atomic(out, _fills_the_disk)
    assert str(e.value) == (
        f"{out}: cannot write (No space left on device); choose another output file"
    )
    assert out.read_text() == "the previous result\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_a_failed_new_file_is_not_created(tmp_path: Path) -> None:
    out = tmp_path / "new.csv"
    with pytest.raises(OutputError):
        write_atomic(out, _fills_the_disk)
    assert list(tmp_path.iterdir()) == []


def test_a_rust_writers_error_text_gives_the_reason(tmp_path: Path) -> None:
    class ComputeError(Exception):
        pass

    def polars_like(fh: BinaryIO) -> None:
        raise ComputeError("failed to write whole buffer: No space left on device (os error 28)")

    with pytest.raises(OutputError, match=r"cannot write \(No space left on device\)"):
        write_atomic(tmp_path / "r.parquet", polars_like)


def test_a_bug_in_a_writer_is_not_called_a_write_failure(tmp_path: Path) -> None:
    def broken(fh: BinaryIO) -> None:
        raise KeyError("column")

    with pytest.raises(KeyError):
        write_atomic(tmp_path / "r.csv", broken)
    assert list(tmp_path.iterdir()) == []


def test_text_round_trip(tmp_path: Path) -> None:
    write_text_atomic(tmp_path / "sub" / "p.md", "# Incident review\n")
    assert (tmp_path / "sub" / "p.md").read_text() == "# Incident review\n"


def test_os_reason_without_strerror() -> None:
    assert os_reason(OSError("boom")) == "boom"
    assert os_reason(OSError(errno.EACCES, "Permission denied")) == "Permission denied"


CLI = "import sys; from forensics.cli import main; sys.exit(main())"
FULL_STDOUT = (
    "forensics: error: cannot write to standard output (No space left on device); free space, "
    "or send it elsewhere\n"
)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args", [["--help"], ["findings", "{ds}"], ["ingest", "{log}", "-o", "{ds}", "--json"]]
)
def test_standard_output_on_a_full_disk_is_one_line(tmp_path: Path, args: list[str]) -> None:
    # `forensics findings DIR > out.txt` on a full disk: one line, no traceback; an ingest's
    # data is committed before its summary is printed, so it is kept
    import subprocess
    import sys

    log = tmp_path / "a.log"
    log.write_text(
        "2024-05-20T10:00:00.000000+00:00 heroku[web.1]: State changed from up to down\n"
    )
    ds = tmp_path / "ds"
    if args[0] == "findings":
        subprocess.run([sys.executable, "-c", CLI, "ingest", str(log), "-o", str(ds)], check=True)
    argv = [a.format(ds=ds, log=log) for a in args]
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-c", CLI, *argv], stdout=full, stderr=subprocess.PIPE, text=True
        )
    assert (done.returncode, done.stderr) == (2, FULL_STDOUT)
    assert (ds / "manifest.json").exists() == (args[0] != "--help")
