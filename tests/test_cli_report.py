"""`forensics report`: the cut options reach the page, --redact masks it, unwritable -o is a
one-line error with exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from ingest_helpers import REAL

from forensics.cli.main import main


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "ds"
    args = ["ingest", str(REAL / "src-049.log"), "-o", str(out), "-q"]
    assert CliRunner().invoke(main, args).exit_code == 0
    return out


def report(*args: str):
    return CliRunner().invoke(main, ["report", *args])


def test_writes_the_page_with_its_cut(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = report(str(ds), "-o", str(out), "--dyno", "worker", "--title", "T1")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {out} (")
    text = out.read_text()
    assert "<title>T1</title>" in text and "dyno worker" in text


def test_redact(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert report(str(ds), "-o", str(out), "--redact").exit_code == 0
    assert "redacted" in out.read_text()


def test_unwritable_output(ds: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = blocker / "r.html"
    result = report(str(ds), "-o", str(out))
    assert result.exit_code == 2
    assert result.stderr == (
        f"forensics: error: {out}: cannot write ({blocker} is not a directory); "
        "choose another output file (-o)\n"
    )
