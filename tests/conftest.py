"""Shared helpers for the ingest tests: run `ingest` on lines or files and read the dataset back.

Golden tests describe one input line and the exact row it must become (`Golden`); every value
column not named in the case must be null, so a stray value fails the test as surely as a
missing one.
"""

from __future__ import annotations

import itertools
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from forensics.ingest import IngestSummary, ingest
from forensics.schema import PROVENANCE, TABLES, empty_frame

# Test modules import these helpers as `ingest_helpers`: under pytest's default import mode
# every conftest.py is the module `conftest`, so a nested one would shadow this one.
sys.modules["ingest_helpers"] = sys.modules[__name__]

REAL = Path(__file__).parent / "data" / "real"
TYPED = ("requests", "dyno_metrics", "addon_metrics", "events", "app_logs")
ALL_TABLES = (*TYPED, "rejects")
_PROV = {c.name for c in PROVENANCE}


def utc(*parts: int) -> datetime:
    """A UTC datetime: `utc(2016, 1, 15, 16, 13, 56, 982182)`."""
    return datetime(*parts, tzinfo=UTC)


def real_line(ref: str) -> str:
    """Line `N` of `tests/data/real/<file>.log` given as "src-012:4" (invalid UTF-8 replaced)."""
    name, no = ref.split(":")
    lines = (REAL / f"{name}.log").read_bytes().split(b"\n")
    return lines[int(no) - 1].decode("utf-8", errors="replace")


def line_count_of(data: bytes) -> int:
    """Lines in a file the way `grep -c ''` counts them (a last line without newline counts)."""
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def read_table(root: Path, name: str) -> pl.DataFrame:
    """All rows of a dataset table, sorted by line number (an empty frame when none)."""
    folder = root / name
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        return empty_frame(name)
    return pl.read_parquet(files).sort("source_file", "line_no", maintain_order=True)


@dataclass
class Ingested:
    """A dataset built by one `ingest` call, with its summary."""

    root: Path
    summary: IngestSummary

    def table(self, name: str) -> pl.DataFrame:
        return read_table(self.root, name)

    def rows_at(self, line_no: int) -> dict[str, list[dict[str, Any]]]:
        """Every row of every table that starts at `line_no`, by table (empty tables left out)."""
        out = {}
        for name in ALL_TABLES:
            rows = self.table(name).filter(pl.col("line_no") == line_no).to_dicts()
            if rows:
                out[name] = rows
        return out

    @property
    def file(self):
        (only,) = self.summary.files
        return only


def write_lines(path: Path, lines: Iterable[str | bytes], *, end: bytes = b"\n") -> Path:
    """Write lines (text as UTF-8, bytes as is), each followed by `end`."""
    data = b"".join((ln.encode() if isinstance(ln, str) else ln) + end for ln in lines)
    path.write_bytes(data)
    return path


def run_ingest(paths: list[Path | str], out: Path, **kwargs: Any) -> Ingested:
    summary = ingest([str(p) for p in paths], out, **kwargs)
    return Ingested(out, summary)


def coverage(ds: Ingested) -> Counter[tuple[str, int]]:
    """How many records cover each (source_file, line_no).

    A record covers `line_no .. line_no + line_count - 1`. `addon_metrics` has one row per
    sample, so its rows are counted once per record (distinct source_file, line_no).
    """
    seen: Counter[tuple[str, int]] = Counter()
    for name in ALL_TABLES:
        df = ds.table(name).select("source_file", "line_no", "line_count")
        if name == "addon_metrics":
            df = df.unique()
        for src, first, n in df.iter_rows():
            for line_no in range(first, first + n):
                seen[(src, line_no)] += 1
    return seen


def summary_adds_up(result) -> tuple[int, int]:
    """(lines read, records + rejected + joined + duplicates) for one FileResult."""
    parts = (
        sum(result.records.values())
        + result.rejected_lines
        + result.joined_lines
        + result.duplicate_lines
    )
    return result.lines, parts


@pytest.fixture
def ingest_lines(tmp_path: Path) -> Callable[..., Ingested]:
    """`ingest_lines(["line", ...])` -> Ingested; each call gets its own input and dataset."""
    counter = itertools.count()

    def run(lines: Iterable[str | bytes], **kwargs: Any) -> Ingested:
        n = next(counter)
        src = write_lines(tmp_path / f"in-{n}.log", lines)
        return run_ingest([src], tmp_path / f"ds-{n}", **kwargs)

    return run


# --- golden cases ------------------------------------------------------------------------


@dataclass(frozen=True)
class Golden:
    """One input line and the row it must become in `table`.

    `ref` names a real line ("src-012:4"); `text` gives a line that is not in a real
    `heroku logs` file (a catalogue example, or a drain frame's message re-enveloped).
    `rows` is for tables with several rows per line (addon_metrics): per-row values merged
    over `expected`. `bug` marks a case the code gets wrong today (a strict xfail).
    """

    table: str
    expected: dict[str, Any]
    ref: str | None = None
    text: str | None = None
    rows: tuple[dict[str, Any], ...] = field(default=())
    bug: str | None = None

    @property
    def line(self) -> str:
        return real_line(self.ref) if self.ref else str(self.text)

    @property
    def id(self) -> str:
        return self.ref or str(self.text)[33:80]


def message_of(line: str) -> str:
    """The message of a CLI line: everything after the first `]: ` ("" for a bare `]:`)."""
    _, sep, rest = line.partition("]: ")
    return rest if sep else ""


def expected_rows(case: Golden) -> list[dict[str, Any]]:
    """The full rows (every value column) a golden case expects."""
    base = {c.name: None for c in TABLES[case.table] if c.name not in _PROV}
    if "message" in base:
        base["message"] = message_of(case.line)
    base |= case.expected
    return [base | r for r in case.rows] if case.rows else [base]


def check_golden(ds: Ingested, line_no: int, case: Golden) -> None:
    """The rows starting at `line_no` are exactly the expected ones, in `case.table` only."""
    found = ds.rows_at(line_no)
    assert list(found) == [case.table], f"line landed in {list(found)}: {found}"
    rows = found[case.table]
    for r in rows:
        assert r["line_count"] == 1
    got = [{k: v for k, v in r.items() if k not in _PROV} for r in rows]
    want = expected_rows(case)
    assert len(got) == len(want), f"{len(got)} rows, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        diff = {k: (g.get(k), w.get(k)) for k in w.keys() | g.keys() if g.get(k) != w.get(k)}
        assert not diff, f"row {i}: column: (actual, expected): {diff}"


def golden_dataset(tmp_path_factory: pytest.TempPathFactory, cases: list[Golden]) -> Ingested:
    """Ingest every case's line, in order, as one `heroku logs` file (case i is line i + 1)."""
    root = tmp_path_factory.mktemp("golden")
    src = write_lines(root / "golden.log", [c.line for c in cases])
    ds = run_ingest([src], root / "ds")
    assert ds.file.status == "ingested"
    assert ds.file.lines == len(cases)
    return ds


def golden_params(cases: list[Golden]) -> list[Any]:
    """pytest params `(line_no, case)`; a case with a `bug` is a strict xfail with that reason."""
    out = []
    for i, case in enumerate(cases):
        marks = [pytest.mark.xfail(strict=True, reason=f"BUG: {case.bug}")] if case.bug else []
        out.append(pytest.param(i + 1, case, id=case.id, marks=marks))
    return out
