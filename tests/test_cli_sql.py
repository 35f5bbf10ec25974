"""`forensics sql`: a table on the terminal, -o to CSV / JSON / Parquet, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from ingest_helpers import REAL

from forensics.cli.main import main

Q = "SELECT dyno, count(*) AS n FROM events WHERE dyno IS NOT NULL GROUP BY 1 ORDER BY 1"


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sql") / "ds"
    result = CliRunner().invoke(main, ["ingest", str(REAL / "src-041.log"), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out


def sql(*args: str):
    return CliRunner().invoke(main, ["sql", *args])


def test_prints_a_table(ds: Path) -> None:
    result = sql(str(ds), "SELECT count(*) AS n FROM events")
    assert result.exit_code == 0, result.output
    assert "│ n   │" in result.stdout and "│ 8   │" in result.stdout


@pytest.mark.parametrize("ext", ["csv", "json", "parquet"])
def test_writes_every_format(ds: Path, tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"r.{ext}"
    result = sql(str(ds), Q, "-o", str(out))
    assert result.exit_code == 0, result.output
    want = sql(str(ds), Q, "-o", str(tmp_path / "w.parquet"))
    assert want.exit_code == 0
    rows = pl.read_parquet(tmp_path / "w.parquet").to_dicts()
    assert rows and result.stderr == f"{len(rows)} rows written to {out}\n"
    if ext == "json":
        assert json.loads(out.read_text()) == rows  # an array of row objects by column name
    elif ext == "csv":
        assert pl.read_csv(out).to_dicts() == rows
    else:
        assert pl.read_parquet(out).to_dicts() == rows


def test_bad_sql(ds: Path) -> None:
    result = sql(str(ds), "SELEC 1")
    assert result.exit_code == 2
    assert result.stderr.startswith("forensics: error: SQL error: Parser Error: syntax error")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_sql(ds: Path, text: str) -> None:
    result = sql(str(ds), text)
    assert result.exit_code == 2
    assert result.stderr == (
        "forensics: error: empty SQL; give a query, e.g. SELECT count(*) FROM requests\n"
    )


def test_unwritable_output(ds: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = blocker / "r.csv"
    result = sql(str(ds), Q, "-o", str(out))
    assert result.exit_code == 2
    assert result.stderr == (
        f"forensics: error: {out}: cannot write ({blocker} is not a directory); "
        "choose another output file (-o)\n"
    )


def test_output_into_a_new_folder(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "results" / "r.csv"
    assert sql(str(ds), Q, "-o", str(out)).exit_code == 0
    assert out.read_text().startswith("dyno,n\n")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_full_disk_is_one_line_naming_the_reason(ds: Path, fmt: str) -> None:
    """Every writer (Polars' Rust ones report errno in their text) says why, in words."""
    result = sql(str(ds), Q, "-o", "/dev/full", "--format", fmt)
    assert result.exit_code == 2
    assert result.stderr == (
        "forensics: error: /dev/full: cannot write (No space left on device); "
        "choose another output file (-o)\n"
    )


def test_unknown_output_format(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.xlsx"
    result = sql(str(ds), Q, "-o", str(out))
    assert result.exit_code == 2
    assert result.stderr == (
        f"forensics: error: {out}: unknown output format; use .csv, .json or .parquet, "
        "or --format\n"
    )
