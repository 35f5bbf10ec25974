"""The DuckDB connection every command, notebook and script reads a dataset through: a long
query prints nothing on stdout (DuckDB's progress bar went into a script's redirected output),
and a query too large for memory spills into the system's temporary directory, never into the
current one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from forensics.ingest import ingest
from forensics.store.views import SPILL_DIR, open_dataset

LINE = b"2016-01-17T16:13:56Z app[web.1]: hi\n"
# a sort of a few seconds: DuckDB draws its progress bar after 2 s
LONG = "SELECT count(*) FROM (SELECT range, random() AS r FROM range(40000000) ORDER BY r)"


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    log = tmp_path / "in.log"
    log.write_bytes(LINE)
    ingest([log], tmp_path / "ds")
    return tmp_path / "ds"


def test_a_long_query_prints_nothing_on_stdout(dataset: Path) -> None:
    # a process of its own, its stdout a pipe (under pytest's capture DuckDB leaves its bar
    # off by itself)
    code = (
        "import sys; from forensics.store.views import open_dataset; "
        f"con = open_dataset(sys.argv[1]); assert con.sql({LONG!r}).fetchall()[0][0] > 0"
    )
    run = subprocess.run([sys.executable, "-c", code, str(dataset)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""


def test_a_spilling_query_writes_nothing_in_the_current_directory(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    con = open_dataset(dataset)
    con.execute("SET memory_limit = '64MB'")
    con.execute("SET threads = 1")
    con.execute("SET preserve_insertion_order = false")
    sql = "SELECT count(*) FROM (SELECT range, random() AS r FROM range(8000000) ORDER BY r)"
    assert con.sql(sql).fetchall() == [(8_000_000,)]
    assert os.listdir(cwd) == []  # DuckDB's default: `.tmp/` here
    assert Path(con.sql("SELECT current_setting('temp_directory')").fetchall()[0][0]) == SPILL_DIR
