"""`forensics sql` cannot harm the dataset or reach the network: read-only by default (only
queries, only the dataset's files), --writable for other statements and files but never into
the dataset folder, no extension installed or loaded, and SET cannot undo it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from ingest_helpers import REAL

from forensics.cli.main import main


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sqlsafe") / "ds"
    result = CliRunner().invoke(main, ["ingest", str(REAL / "src-041.log"), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out


def sql(*args: str):
    return CliRunner().invoke(main, ["sql", *args])


def _fingerprint(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _one_line_error(result, *parts: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("forensics: error: ") and result.stderr.count("\n") == 1
    for part in parts:
        assert part in result.stderr, result.stderr


def _part(ds: Path) -> Path:
    return next((ds / "events").glob("*.parquet"))


def test_copy_over_a_part_is_refused_in_both_modes(ds: Path) -> None:
    before = _fingerprint(ds)
    part = _part(ds)
    stmt = f"COPY (SELECT 1 AS x) TO '{part}' (FORMAT parquet)"
    _one_line_error(sql(str(ds), stmt), "opened read-only", "--writable")
    _one_line_error(sql(str(ds), stmt, "--writable"), "is inside the dataset")
    _one_line_error(sql(str(ds), f"EXPORT DATABASE '{ds}/events'", "--writable"), "inside")
    _one_line_error(sql(str(ds), f"ATTACH '{ds}/x.db'", "--writable"), "inside")
    result = sql(str(ds), "SELECT 1 AS x", "-o", str(part))
    _one_line_error(result, "is inside the dataset", "choose another -o")
    assert _fingerprint(ds) == before


def test_writable_writes_elsewhere(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "events.csv"
    result = sql(str(ds), f"COPY events TO '{out}'", "--writable")
    assert result.exit_code == 0, result.output
    assert out.read_text().count("\n") == 9  # header + the 8 events
    # reading the dataset in the query is fine; only the target counts
    query = f"COPY (SELECT * FROM read_parquet('{_part(ds)}')) TO '{tmp_path / 'b.csv'}'"
    assert sql(str(ds), query, "--writable").exit_code == 0


@pytest.mark.parametrize(
    "stmt",
    [
        "CREATE TABLE t AS SELECT 1",
        "SET enable_external_access = true",
        "INSERT INTO events SELECT * FROM events",
    ],
)
def test_read_only_runs_queries_only(ds: Path, stmt: str) -> None:
    _one_line_error(sql(str(ds), stmt), "opened read-only")


def test_read_only_reads_only_the_dataset(ds: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("a\n1\n")
    _one_line_error(sql(str(ds), f"SELECT * FROM read_csv('{other}')"), "Permission Error")
    result = sql(str(ds), f"SELECT * FROM read_csv('{other}')", "--writable")
    assert result.exit_code == 0 and "│ 1   │" in result.stdout
    # the dataset's own files, by path, are readable
    assert sql(str(ds), f"SELECT count(*) FROM '{_part(ds)}'").exit_code == 0


@pytest.mark.parametrize("writable", [[], ["--writable"]])
@pytest.mark.parametrize(
    ("stmt", "says"),
    [
        ("INSTALL httpfs", "never installed or loaded"),
        ("LOAD httpfs", "never installed or loaded"),
        ("SELECT * FROM 'https://example.invalid/a.parquet'", "a.parquet"),
        ("SELECT * FROM 's3://bucket/a.parquet'", "a.parquet"),
    ],
)
def test_never_the_network(ds: Path, writable: list[str], stmt: str, says: str) -> None:
    # no extension is autoloaded or installed: the URL fails at once, offline
    _one_line_error(sql(str(ds), stmt, *writable), says)


def test_set_cannot_undo_the_lock(ds: Path) -> None:
    result = sql(str(ds), "SET autoinstall_known_extensions = true", "--writable")
    _one_line_error(result, "locked")


def test_several_queries_print_the_last(ds: Path) -> None:
    result = sql(str(ds), "SELECT 1 AS a; SELECT 2 AS b")
    assert result.exit_code == 0 and "│ b   │" in result.stdout


def test_help_says_what_it_can_do() -> None:
    text = CliRunner().invoke(main, ["sql", "--help"]).output
    for part in ("read-only", "--writable", "network", "COPY", "extensions"):
        assert part in text
