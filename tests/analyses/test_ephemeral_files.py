"""Ephemeral files: missing-file errors for runtime paths, after a restart or on another dyno,
per stack; code paths and system paths are not ephemeral storage."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from forensics.analyses.ephemeral_files import ephemeral_files
from forensics.findings import collect_findings
from forensics.findings.ephemeral_files import findings
from forensics.ingest import ingest
from forensics.store.views import open_dataset

REAL = Path(__file__).resolve().parents[1] / "data" / "real"


def _l(t: str, src: str, msg: str) -> str:
    return f"2024-05-20T{t}+00:00 {src}: {msg}"


LINES = [
    _l("06:00:00.000000", "heroku[web.1]", "Starting process with command `bundle exec puma`"),
    _l("06:00:00.000000", "heroku[web.2]", "Starting process with command `bundle exec puma`"),
    # web.1 writes an upload, then restarts; the upload is gone after the restart
    _l("07:00:00.000000", "app[web.1]", "Saved upload to /app/public/uploads/1234/avatar.png"),
    _l("08:00:00.000000", "heroku[web.1]", "Restarting"),
    _l("08:00:01.000000", "heroku[web.1]", "Stopping all processes with SIGTERM"),
    _l("08:00:02.000000", "heroku[web.1]", "Process exited with status 143"),
    _l("08:00:05.000000", "heroku[web.1]", "Starting process with command `bundle exec puma`"),
    _l(
        "08:03:00.000000",
        "app[web.1]",
        "Errno::ENOENT (No such file or directory @ rb_sysopen - "
        "/app/public/uploads/1234/avatar.png):",
    ),
    # web.2 asked for a report web.1 generated (Python, Node, Java wordings)
    _l("09:00:00.000000", "app[web.1]", "report written: /tmp/reports/9f86d081884c7d65.csv"),
    _l(
        "09:00:30.000000",
        "app[web.2]",
        "FileNotFoundError: [Errno 2] No such file or directory: "
        "'/tmp/reports/9f86d081884c7d65.csv'",
    ),
    _l(
        "09:10:00.000000",
        "app[web.2]",
        "Error: ENOENT: no such file or directory, open '/tmp/reports/a1b2c3d4e5f60718.csv'",
    ),
    _l("09:10:00.000100", "app[web.2]", "  path: '/tmp/reports/a1b2c3d4e5f60718.csv'"),
    _l(
        "09:20:00.000000",
        "app[web.2]",
        "java.io.FileNotFoundException: /tmp/reports/77aa88bb99cc00dd.csv "
        "(No such file or directory)",
    ),
    # code and system paths: not ephemeral storage
    _l(
        "09:30:00.000000",
        "app[web.2]",
        "Error: ENOENT: no such file or directory, open '/app/node_modules/x/package.json'",
    ),
    _l("09:31:00.000000", "app[web.2]", "bash: bin/start: No such file or directory"),
    _l(
        "09:32:00.000000",
        "app[web.2]",
        "Errno::ENOENT: No such file or directory @ rb_sysopen - /etc/ssl/certs/ca.pem",
    ),
]


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("eph")
    log = tmp / "hand.log"
    log.write_text("\n".join(LINES) + "\n")
    ingest([str(log)], tmp / "ds")
    return open_dataset(tmp / "ds")


def test_table(con) -> None:
    t = ephemeral_files(con)
    assert t["path"].to_list() == [
        "/app/public/uploads/1234/avatar.png",
        "/tmp/reports/9f86d081884c7d65.csv",
        "/tmp/reports/a1b2c3d4e5f60718.csv",
        "/tmp/reports/77aa88bb99cc00dd.csv",
    ]
    up = t.row(0, named=True)
    assert up["path_template"] == "/app/public/uploads/:id/avatar.png"
    assert up["dyno"] == "web.1" and up["after_restart"] and up["before_restart"]
    assert up["minutes_since_start"] == pytest.approx(2 + 55 / 60)
    assert not up["other_dyno"]
    rep = t.row(1, named=True)
    assert rep["other_dyno"] and rep["named_by"] == ["web.1"] and not rep["after_restart"]
    assert rep["minutes_since_start"] == pytest.approx(180.5)
    assert set(t["path_template"].to_list()[1:]) == {"/tmp/reports/:id.csv"}
    # Node printed the error on two lines: counted once
    assert t.filter(pl.col("path").str.contains("a1b2")).height == 1


def test_findings(con) -> None:
    found = {f.evidence["path_template"]: f for f in findings(con)}
    assert set(found) == {"/app/public/uploads/:id/avatar.png", "/tmp/reports/:id.csv"}
    up = found["/app/public/uploads/:id/avatar.png"]
    assert up.severity == "warning" and up.dyno == "web.1"
    assert "within 10 min of that dyno's restart" in up.summary
    assert up.evidence["restarts"] == ["2024-05-20T08:00:05+00:00"]
    rep = found["/tmp/reports/:id.csv"]
    assert rep.evidence["errors"] == 3 and rep.evidence["other_dyno"] == 1
    assert [(s.first_line, s.last_line) for s in rep.sources] == [(10, 11), (13, 13)]


def test_registered_in_collect_findings(con) -> None:
    assert sum(f.kind == "ephemeral_files" for f in collect_findings(con)) == 2


@pytest.mark.parametrize("log", sorted(REAL.glob("*.log")), ids=lambda p: p.name)
def test_real_exports_have_none(tmp_path: Path, log: Path) -> None:
    """No real export holds a missing runtime file; nothing may be made up from them."""
    ingest([str(log)], tmp_path / "ds")
    assert ephemeral_files(open_dataset(tmp_path / "ds")).is_empty()


# Shapes the generator's knob does not write: other stacks' wordings, a worker that writes
# and a web dyno that reads, random temp names, a file nobody wrote in the log.
OTHER = [
    _l("06:00:00.000000", "heroku[worker.1]", "Starting process with command `bin/worker`"),
    _l("06:00:00.000000", "heroku[web.1]", "Starting process with command `bin/web`"),
    _l("07:00:00.000000", "app[worker.1]", "level=info msg=\"rendered /tmp/pdf/invoice-311.pdf\""),
    # Go: the web dyno serves the worker's file
    _l("07:01:00.000000", "app[web.1]",
       'level=error msg="open /tmp/pdf/invoice-311.pdf: no such file or directory"'),
    _l("07:02:00.000000", "app[web.1]",
       "panic: open /tmp/pdf/invoice-312.pdf: no such file or directory"),
    # Elixir, PHP, Java NIO, Postgres COPY from a local file
    _l("07:10:00.000000", "app[web.1]",
       '** (File.Error) could not read file "/app/priv/static/uploads/u_81.jpg": no such file '
       "or directory"),
    _l("07:20:00.000000", "app[web.1]",
       "PHP Warning:  fopen(/app/storage/exports/e-77.csv): Failed to open stream: No such file "
       "or directory in /app/src/Export.php on line 31"),
    _l("07:30:00.000000", "app[web.1]",
       "java.nio.file.NoSuchFileException: /tmp/cache/thumbs/9f2c1e/t_120.webp"),
    _l("07:40:00.000000", "app[web.1]",
       'ERROR:  could not open file "/tmp/import-2024-05-20.csv" for reading: No such file or '
       "directory"),
]  # fmt: skip


def test_other_stacks_and_shapes(tmp_path: Path) -> None:
    log = tmp_path / "other.log"
    log.write_text("\n".join(OTHER) + "\n")
    ingest([str(log)], tmp_path / "ds")
    con = open_dataset(tmp_path / "ds")
    t = ephemeral_files(con)
    assert t["path_template"].to_list() == [
        "/tmp/pdf/invoice-:id.pdf",
        "/tmp/pdf/invoice-:id.pdf",
        "/app/priv/static/uploads/u_:id.jpg",
        "/app/storage/exports/e-:id.csv",  # not the PHP script named after it
        "/tmp/cache/thumbs/:id/t_:id.webp",
        "/tmp/import-:id-:id-:id.csv",
    ]
    go = t.row(0, named=True)
    assert go["named_by"] == ["worker.1"] and go["other_dyno"] and go["process_type"] == "web"
    found = {f.evidence["path_template"]: f for f in findings(con)}
    pdf = found["/tmp/pdf/invoice-:id.pdf"]
    assert pdf.severity == "warning" and pdf.evidence["errors"] == 2
    assert "on a dyno other than the one that named the file before" in pdf.summary
    # a file no line named before, on a dyno that started long before: said, but as info
    php = found["/app/storage/exports/e-:id.csv"]
    assert php.severity == "info" and php.evidence["other_dyno"] == 0
