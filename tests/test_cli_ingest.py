"""`forensics ingest` from the command line: help, version, one-line errors with exit 2,
partial failures with exit 1, re-ingesting, --json, stdin, gzip.

Most cases use click's CliRunner; the ones about what a user sees in a terminal (no traceback,
exit codes) also run the installed `forensics` script in a subprocess.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from ingest_helpers import REAL, TYPED, read_table

from forensics import __version__
from forensics.cli.main import main

SCRIPT = Path(sys.executable).with_name("forensics")
GOOD = REAL / "src-041.log"  # 15 lines: 8 events, 6 app lines, 1 shell prompt


def cli(*args: str, input: bytes | None = None):
    return CliRunner().invoke(main, list(args), input=input)


def run_script(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *args], input=stdin, capture_output=True, timeout=120, check=False
    )


def row_counts(root: Path) -> dict[str, int]:
    return {t: read_table(root, t).height for t in (*TYPED, "rejects")}


def assert_one_line_error(stderr: str, message: str) -> None:
    assert stderr == f"forensics: error: {message}\n"
    assert "Traceback" not in stderr


# --- help and version --------------------------------------------------------------------


def test_help_has_examples():
    top = cli("--help")
    assert top.exit_code == 0
    assert "forensics ingest" in top.stdout
    for step in ("forensics findings incident/", "forensics report incident/ -o incident.html"):
        assert step in top.stdout  # the whole session, not only its first command
    sub = cli("ingest", "-h")
    assert sub.exit_code == 0
    assert "Examples:" in sub.stdout
    assert "forensics ingest heroku.log -o incident/" in sub.stdout
    assert "-o, --output" in sub.stdout


def test_version():
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"forensics, version {__version__}\n"


def test_script_help_and_version():
    assert SCRIPT.exists()
    helped = run_script("ingest", "--help")
    assert helped.returncode == 0
    assert b"Examples:" in helped.stdout
    version = run_script("-V")
    assert (version.returncode, version.stdout) == (
        0,
        f"forensics, version {__version__}\n".encode(),
    )


# --- user errors: exit 2, one line, no traceback -----------------------------------------


def test_missing_path(tmp_path):
    missing = tmp_path / "nope.log"
    result = cli("ingest", str(missing), "-o", str(tmp_path / "ds"))
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, f"{missing}: no such file or directory")
    assert result.stdout == ""


def test_missing_path_in_a_real_process(tmp_path):
    missing = tmp_path / "nope.log"
    proc = run_script("ingest", str(missing), "-o", str(tmp_path / "ds"))
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr.decode(), f"{missing}: no such file or directory")
    assert proc.stdout == b""


def test_glob_matching_nothing(tmp_path):
    pattern = str(tmp_path / "exports" / "*.log.gz")
    result = cli("ingest", pattern, "-o", str(tmp_path / "ds"))
    assert result.exit_code == 2
    assert_one_line_error(
        result.stderr, f"{pattern}: the pattern matches no file; check the path and quoting"
    )


def test_empty_directory(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("ingest", str(empty), "-o", str(tmp_path / "ds"))
    assert result.exit_code == 2
    assert_one_line_error(
        result.stderr, f"{empty}: directory has no files; pass log files or a glob"
    )


def test_binary_file(tmp_path):
    binary = tmp_path / "core.bin"
    binary.write_bytes(bytes(range(256)) * 40)
    proc = run_script("ingest", str(binary), "-o", str(tmp_path / "ds"))
    assert proc.returncode == 2
    assert_one_line_error(
        proc.stderr.decode(),
        f"{binary}: not a text log (binary data); pass a Heroku log export or its .gz",
    )


def test_truncated_gzip(tmp_path):
    whole = gzip.compress(GOOD.read_bytes())
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    result = cli("ingest", str(cut), "-o", str(tmp_path / "ds"))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"forensics: error: {cut}: gzip stream is truncated")
    assert result.stderr.count("\n") == 1


def test_output_path_is_an_existing_file(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("not a dataset")
    proc = run_script("ingest", str(GOOD), "-o", str(taken))
    assert proc.returncode == 2
    assert_one_line_error(
        proc.stderr.decode(),
        f"{taken}: exists and is not a directory; choose another output directory (-o)",
    )
    assert taken.read_text() == "not a dataset"


def test_output_dir_that_is_not_a_dataset(tmp_path):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"\xff\xd8")
    result = cli("ingest", str(GOOD), "-o", str(other))
    assert result.exit_code == 2
    assert_one_line_error(
        result.stderr,
        f"{other}: directory is not empty and is not a forensics dataset; "
        "choose another output directory (-o)",
    )
    assert sorted(p.name for p in other.iterdir()) == ["cat.jpg"]


def test_unknown_format(tmp_path):
    result = cli("ingest", str(GOOD), "-o", str(tmp_path / "ds"), "--format", "csv")
    assert result.exit_code == 2
    assert result.stderr.startswith("forensics: error: unknown format 'csv'; choose one of:")
    assert result.stderr.count("\n") == 1


def test_unknown_time_zone(tmp_path):
    result = cli("ingest", str(GOOD), "-o", str(tmp_path / "ds"), "--tz", "Mars/Olympus")
    assert result.exit_code == 2
    assert result.stderr == (
        "forensics: error: unknown time zone 'Mars/Olympus'; use an IANA name such as "
        "Europe/Paris, or UTC\n"
    )
    assert not (tmp_path / "ds").exists()


def test_year_out_of_range(tmp_path):
    result = cli("ingest", str(GOOD), "-o", str(tmp_path / "ds"), "--year", "12")
    assert result.exit_code == 2
    assert "'--year'" in result.stderr and "12 is not in the range 1970<=x<=2200" in result.stderr


YEARLESS = {
    "syslog": b"Dec 31 23:59:58 my-app app[web.1]: Completed 200 OK in 12ms\n",
    "papertrail": b"Dec 31 23:59:58 my-app app/web.1: Completed 200 OK in 12ms\n",
}


@pytest.mark.parametrize("fmt", sorted(YEARLESS))
@pytest.mark.parametrize(
    ("options", "want"),
    [
        (["--year", "2019"], "2019-12-31T23:59:58+00:00"),
        (["--year", "2019", "--tz", "America/Los_Angeles"], "2020-01-01T07:59:58+00:00"),
        (["--year", "2019", "--tz", "Asia/Tokyo"], "2019-12-31T14:59:58+00:00"),
    ],
)
def test_year_and_tz_place_yearless_timestamps(tmp_path, fmt, options, want):
    path = tmp_path / "export.log"
    path.write_bytes(YEARLESS[fmt])
    result = cli("ingest", str(path), "-o", str(tmp_path / "ds"), "--json", "-q", *options)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["files"][0]["format"] == fmt
    assert summary["totals"]["time_span"] == [want, want]
    logs = read_table(tmp_path / "ds", "app_logs")
    assert logs["message"].to_list() == ["Completed 200 OK in 12ms"]


def test_year_and_tz_leave_full_timestamps_alone(tmp_path):
    plain = cli("ingest", str(GOOD), "-o", str(tmp_path / "a"), "--json", "-q")
    placed = cli("ingest", str(GOOD), "-o", str(tmp_path / "b"), "--json", "-q",
                 "--year", "1999", "--tz", "Asia/Tokyo")  # fmt: skip
    assert placed.exit_code == plain.exit_code == 0
    span = json.loads(plain.stdout)["totals"]["time_span"]
    assert json.loads(placed.stdout)["totals"]["time_span"] == span


# --- what gets ingested ------------------------------------------------------------------


def test_empty_file(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    result = cli("ingest", str(empty), "-o", str(tmp_path / "ds"))
    assert result.exit_code == 0
    assert f"{empty}: empty, nothing ingested" in result.stdout
    assert "0 file(s) ingested" in result.stdout
    assert sum(row_counts(tmp_path / "ds").values()) == 0


def test_one_input_missing_among_good_ones(tmp_path):
    missing = tmp_path / "gone.log"
    proc = run_script("ingest", str(GOOD), str(missing), "-o", str(tmp_path / "ds"), "--json")
    assert proc.returncode == 1
    assert proc.stderr.decode() == f"forensics: skipped: {missing}: no such file or directory\n"
    summary = json.loads(proc.stdout)
    assert summary["totals"]["files"] == {
        "ingested": 1, "empty": 0, "already_ingested": 0, "not_a_log": 0, "failed": 1,
    }  # fmt: skip
    assert row_counts(tmp_path / "ds") == {
        "requests": 0, "dyno_metrics": 0, "addon_metrics": 0, "events": 8, "app_logs": 6,
        "rejects": 1,
    }  # fmt: skip


def test_same_file_twice_adds_nothing(tmp_path):
    out = tmp_path / "ds"
    first = cli("ingest", str(GOOD), "-o", str(out))
    assert first.exit_code == 0
    before = row_counts(out)
    assert before["events"] == 8
    again = cli("ingest", str(GOOD), "-o", str(out))
    assert again.exit_code == 0
    assert f"{GOOD}: already in the dataset (same content), nothing added" in again.stdout
    assert row_counts(out) == before


def test_same_content_under_another_name_adds_nothing(tmp_path):
    out = tmp_path / "ds"
    copy = tmp_path / "copy.log"
    shutil.copy(GOOD, copy)
    result = cli("ingest", str(GOOD), str(copy), "-o", str(out), "--json")
    assert result.exit_code == 0
    files = json.loads(result.stdout)["files"]
    assert [f["status"] for f in files] == ["ingested", "already_ingested"]
    assert row_counts(out)["events"] == 8


def test_a_file_named_twice_is_read_once(tmp_path, monkeypatch):
    from forensics.readers import source as source_mod

    alias = tmp_path / "alias.log"
    alias.symlink_to(GOOD.resolve())
    opened = []
    real_open = source_mod._open_raw
    monkeypatch.setattr(source_mod, "_open_raw", lambda s: opened.append(s.name) or real_open(s))
    out = tmp_path / "ds"
    result = cli("ingest", str(GOOD), str(alias), str(GOOD), "-o", str(out), "--json")
    assert result.exit_code == 0
    assert opened == [str(GOOD)]
    files = json.loads(result.stdout)["files"]
    assert [f["status"] for f in files] == ["ingested", "already_ingested", "already_ingested"]
    assert files[1]["notes"] == [f"the same file as {GOOD}, named more than once; read once"]
    assert row_counts(out)["events"] == 8


def test_json_summary(tmp_path):
    result = cli("ingest", str(GOOD), str(REAL / "src-027.log"), "-o", str(tmp_path / "ds"),
                 "--json")  # fmt: skip
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    t = summary["totals"]
    assert t["lines_read"] == 19
    assert t["records"] == {"events": 10, "app_logs": 6, "addon_metrics": 1}
    assert t["rows"]["addon_metrics"] == 16
    assert t["rejects_by_reason"] == {"no_prefix": 1, "no_timestamp": 1}
    assert t["rejected_lines"] == 2
    assert (t["joined_lines"], t["duplicate_lines"]) == (0, 0)
    assert t["lines_read"] == sum(t["records"].values()) + t["rejected_lines"]
    assert t["dynos"] == ["heroku-postgres", "web.1", "worker.3"]
    assert [f["name"] for f in summary["files"]] == [str(GOOD), str(REAL / "src-027.log")]
    assert summary["dataset"] == str(tmp_path / "ds")


def test_stdin(tmp_path):
    out = tmp_path / "ds"
    result = cli("ingest", "-", "-o", str(out), input=GOOD.read_bytes())
    assert result.exit_code == 0
    assert "lines read                15" in result.stdout
    events = read_table(out, "events")
    assert events.height == 8
    assert set(events["source_file"]) == {"-"}


def test_stdin_in_a_real_process(tmp_path):
    proc = run_script("ingest", "-", "-o", str(tmp_path / "ds"), stdin=GOOD.read_bytes())
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert row_counts(tmp_path / "ds")["app_logs"] == 6


def _rows_without_source(root: Path) -> dict[str, list[tuple]]:
    return {t: read_table(root, t).drop("source_file").rows() for t in (*TYPED, "rejects")}


def test_gzip_gives_the_same_rows_as_plain(tmp_path):
    packed = tmp_path / "src-010.log.gz"
    packed.write_bytes(gzip.compress((REAL / "src-010.log").read_bytes()))
    plain = cli("ingest", str(REAL / "src-010.log"), "-o", str(tmp_path / "plain"))
    gz = cli("ingest", str(packed), "-o", str(tmp_path / "gz"))
    assert (plain.exit_code, gz.exit_code) == (0, 0)
    assert _rows_without_source(tmp_path / "gz") == _rows_without_source(tmp_path / "plain")
    assert row_counts(tmp_path / "gz")["requests"] == 471


def test_gzip_of_an_ingested_file_adds_no_typed_rows(tmp_path):
    out = tmp_path / "ds"
    packed = tmp_path / "src-041.log.gz"
    packed.write_bytes(gzip.compress(GOOD.read_bytes()))
    assert cli("ingest", str(GOOD), "-o", str(out)).exit_code == 0
    before = row_counts(out)
    again = cli("ingest", str(packed), "-o", str(out), "--json")
    assert again.exit_code == 0
    assert (
        json.loads(again.stdout)["totals"]["duplicate_lines"] == 15
    )  # 14 log lines and the shell-prompt reject
    assert {t: n for t, n in row_counts(out).items() if t != "rejects"} == {
        t: n for t, n in before.items() if t != "rejects"
    }


def test_gzip_of_an_ingested_file_adds_nothing(tmp_path):
    out = tmp_path / "ds"
    packed = tmp_path / "src-041.log.gz"
    packed.write_bytes(gzip.compress(GOOD.read_bytes()))
    assert cli("ingest", str(GOOD), "-o", str(out)).exit_code == 0
    before = row_counts(out)
    assert cli("ingest", str(packed), "-o", str(out)).exit_code == 0
    assert row_counts(out) == before


def test_rows_say_which_file_they_came_from(tmp_path):
    result = cli("ingest", str(REAL / "src-049.log"), str(REAL / "src-024.log"), "-o",
                 str(tmp_path / "ds"))  # fmt: skip
    assert result.exit_code == 0
    sources = read_table(tmp_path / "ds", "events").select("source_file", "line_no").rows()
    assert sources == [(str(REAL / "src-049.log"), n) for n in range(1, 6)]
    req = read_table(tmp_path / "ds", "requests")
    assert req.select(pl.col("source_file").unique()).item() == str(REAL / "src-024.log")


# --- apps ------------------------------------------------------------------------------------


def _drain_frame(message: str) -> bytes:
    """One octet-counted frame as an HTTPS drain sends it (hostname `host`: no app)."""
    frame = f"<190>1 2024-05-01T10:00:00.000000+00:00 host app web.1 - {message}".encode()
    return b"%d %s\n" % (len(frame), frame)


def _apps_by_file(root: Path) -> dict[str, str | None]:
    assert read_table(root, "rejects").height == 0
    df = read_table(root, "app_logs").select(
        pl.col("source_file").str.split("/").list.last(), "app"
    )
    return dict(df.unique().sort("source_file").iter_rows())


def test_app_per_file(tmp_path):
    (tmp_path / "drains").mkdir()
    for name in ("shop-1.log", "shop-2.log", "api-1.log", "other.log"):
        (tmp_path / "drains" / name).write_bytes(_drain_frame(f"Completed 200 OK ({name})"))
    result = cli("ingest", str(tmp_path / "drains"), "-o", str(tmp_path / "ds"), "-q",
                 "--app", "shop-*=acme-shop", "--app", "*/api-*.log=acme-api",
                 "--app", "fallback")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _apps_by_file(tmp_path / "ds") == {
        "api-1.log": "acme-api",
        "other.log": "fallback",
        "shop-1.log": "acme-shop",
        "shop-2.log": "acme-shop",
    }


def test_app_per_file_without_default_leaves_the_rest_null(tmp_path):
    for name in ("shop.log", "other.log"):
        (tmp_path / name).write_bytes(_drain_frame(f"Completed 200 OK ({name})"))
    result = cli("ingest", str(tmp_path / "shop.log"), str(tmp_path / "other.log"),
                 "-o", str(tmp_path / "ds"), "-q", "--app", "shop*=acme-shop")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _apps_by_file(tmp_path / "ds") == {"other.log": None, "shop.log": "acme-shop"}


def test_two_plain_app_names_is_an_error(tmp_path):
    result = cli("ingest", str(GOOD), "-o", str(tmp_path / "ds"), "--app", "a", "--app", "b")
    assert result.exit_code == 2
    assert result.stderr == (
        "forensics: error: --app given 2 names (a, b); give one, or name the app per file "
        "with GLOB=NAME\n"
    )


def test_app_mapping_needs_both_sides(tmp_path):
    result = cli("ingest", str(GOOD), "-o", str(tmp_path / "ds"), "--app", "=acme")
    assert result.exit_code == 2
    assert result.stderr == (
        "forensics: error: --app =acme: expected GLOB=NAME, e.g. 'shop-*=acme-shop'\n"
    )


def test_a_file_with_no_heroku_line_is_named_and_exits_1(tmp_path):
    result = cli("ingest", str(REAL), "-o", str(tmp_path / "ds"), "-q")
    assert result.exit_code == 1
    notes = REAL / "PROVENANCE.md"
    lines = len(notes.read_text().splitlines())
    assert (
        f"  {notes}: not a Heroku log (no line has a Heroku shape); its {lines:,} lines are "
        "in rejects" in result.stdout.splitlines()
    )
    assert "not a Heroku log)" in result.stdout.splitlines()[0]
    kept = read_table(tmp_path / "ds", "rejects").filter(pl.col("source_file") == str(notes))
    assert kept.height == lines  # still accounted for


def test_summary_folds_the_database_backends_into_one_entry(tmp_path) -> None:
    """Heroku Postgres logs each backend as `app[postgres.<pid>]`: hundreds of streams that
    are not dynos of the app, shown as one entry."""
    lines = [
        f"2024-05-20T10:{m:02d}:00+00:00 app[postgres.{4000 + m}]: [DATABASE] [1-1] LOG:  "
        f"duration: 2100.5 ms  statement: SELECT {m}"
        for m in range(40)
    ]
    lines.append("2024-05-20T10:00:01+00:00 app[worker.1]: job done")
    log = tmp_path / "pg.log"
    log.write_text("\n".join(lines) + "\n")
    r = CliRunner().invoke(main, ["ingest", str(log), "-o", str(tmp_path / "ds")])
    assert r.exit_code == 0, r.output
    (row,) = [x for x in r.output.splitlines() if x.strip().startswith("dynos")]
    assert row.split(None, 1)[1] == "worker.1, postgres.* (40 streams)"
