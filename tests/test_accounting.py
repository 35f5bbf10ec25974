"""Nothing lost: every line of every real export is covered by exactly one record, and the
summary adds up: lines read = records + rejected lines + joined wrap lines + duplicates.

The expected counts for the `heroku logs` text files were checked against an independent
classification (a prefix regex and the source/dyno of each line, plus the wraps listed in
PROVENANCE.md), so "reject everything" or "put everything in app_logs" cannot pass.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ingest_helpers import (
    ALL_TABLES,
    REAL,
    TYPED,
    Ingested,
    coverage,
    line_count_of,
    real_line,
    run_ingest,
    summary_adds_up,
    write_lines,
)


@dataclass(frozen=True)
class Expect:
    records: dict[str, int]
    rejects: dict[str, int] = field(default_factory=dict)
    joined: int = 0


# `heroku logs` text files: where their lines must land.
TEXT = {
    # Shell session pasted in (20 lines) and 4 blank lines; one line cut inside its timestamp.
    "src-007": Expect({"app_logs": 501, "requests": 67, "events": 38},
                      {"no_prefix": 20, "blank": 4}, joined=1),
    "src-009": Expect({"addon_metrics": 18, "app_logs": 5}),
    # 10 terminal-wrap continuation lines, 3 of them cut inside the timestamp.
    "src-010": Expect({"app_logs": 306, "requests": 471, "events": 224}, joined=10),
    "src-012": Expect({"events": 104, "requests": 135, "app_logs": 1261}),
    "src-014": Expect({"app_logs": 49, "requests": 26, "events": 25}),
    "src-016": Expect({"events": 40, "app_logs": 45, "requests": 15}, joined=3),
    "src-019": Expect({"events": 77, "app_logs": 18, "requests": 6}),
    "src-022": Expect({"requests": 1}),
    "src-024": Expect({"requests": 3}),
    # First line is a router line pasted without its timestamp.
    "src-027": Expect({"addon_metrics": 1, "events": 2}, {"no_timestamp": 1}),
    # First line is a router message pasted without any prefix.
    "src-033": Expect({"requests": 2}, {"no_prefix": 1}),
    "src-038": Expect({"requests": 2, "events": 8, "app_logs": 1}),
    "src-040": Expect({"events": 14}),
    # Shell prompt line.
    "src-041": Expect({"events": 8, "app_logs": 6}, {"no_prefix": 1}),
    "src-046": Expect({"requests": 3}),
    "src-049": Expect({"events": 5}),
}  # fmt: skip

# Drain-framed and wrapped-drain files. ONLY COVERAGE AND THE SUMMARY IDENTITY are checked:
# another reader (octet-framed syslog) is being added for them and will change their counts.
DRAIN = ("src-001", "src-002", "src-003", "src-004", "src-005", "src-006", "src-030",
         "src-036", "src-051")  # fmt: skip

ALL = sorted([*TEXT, *DRAIN])


def test_every_real_file_has_an_expectation():
    """A new file in tests/data/real must be added to TEXT or DRAIN here."""
    assert sorted(p.stem for p in REAL.glob("*.log")) == ALL


@pytest.fixture(scope="module")
def each(tmp_path_factory) -> dict[str, Ingested]:
    """Every real file ingested on its own into its own dataset."""
    out = {}
    for name in ALL:
        root = tmp_path_factory.mktemp(name)
        out[name] = run_ingest([REAL / f"{name}.log"], root / "ds")
    return out


def _lines_of(name: str, source_file: str) -> dict[tuple[str, int], int]:
    n = line_count_of((REAL / f"{name}.log").read_bytes())
    return {(source_file, i): 1 for i in range(1, n + 1)}


@pytest.mark.parametrize("name", sorted(TEXT))
def test_every_line_is_covered_by_exactly_one_record(each, name):
    ds = each[name]
    assert coverage(ds) == _lines_of(name, ds.file.name)


@pytest.mark.parametrize("name", DRAIN)
def test_every_line_of_a_drain_file_is_covered(each, name):
    """Drain files: only coverage. Glued frames share a line, so a line may start two rows."""
    ds = each[name]
    # src-036's only line is a bare router message with no envelope: no Heroku shape.
    assert ds.file.status == ("not_a_log" if name == "src-036" else "ingested")
    assert set(coverage(ds)) == set(_lines_of(name, ds.file.name))


@pytest.mark.parametrize("name", sorted(TEXT))
def test_summary_adds_up(each, name):
    f = each[name].file
    assert f.status == "ingested"
    assert f.lines == line_count_of((REAL / f"{name}.log").read_bytes())
    lines, parts = summary_adds_up(f)
    assert lines == parts


@pytest.mark.parametrize("name", sorted(TEXT))
def test_summary_rows_match_the_dataset(each, name):
    ds = each[name]
    for table in TYPED:
        df = ds.table(table)
        assert ds.file.rows.get(table, 0) == df.height, table
        assert ds.file.records.get(table, 0) == df.select("line_no").n_unique(), table
    rejects = ds.table("rejects")
    by_reason = dict(rejects.group_by("reason").len().iter_rows())
    assert ds.file.rejects_by_reason == by_reason


@pytest.mark.parametrize("name", sorted(TEXT))
def test_clean_lines_land_in_their_typed_tables(each, name):
    f, want = each[name].file, TEXT[name]
    assert {t: n for t, n in f.records.items() if n} == want.records
    assert f.rejects_by_reason == want.rejects
    assert f.joined_lines == want.joined
    assert f.duplicate_lines == 0


def test_all_text_files_in_one_call(tmp_path):
    """The 16 text files in one call: one result each, every line covered once (nothing taken
    for a duplicate of another file's line), and the totals add up."""
    ds = run_ingest([REAL / f"{name}.log" for name in sorted(TEXT)], tmp_path / "ds")
    assert [Path(f.name).stem for f in ds.summary.files] == sorted(TEXT)
    expected = {}
    for f in ds.summary.files:
        expected |= _lines_of(Path(f.name).stem, f.name)
        assert (f.status, f.duplicate_lines) == ("ingested", 0), f.name
    assert coverage(ds) == expected
    t = ds.summary.totals()
    assert t["lines_read"] == len(expected) == 3528
    assert t["lines_read"] == (
        sum(t["records"].values()) + t["rejected_lines"] + t["joined_lines"]
        + t["duplicate_lines"]
    )  # fmt: skip


def test_a_directory_ingests_every_file_below_it(tmp_path):
    """`forensics ingest DIR`: every file below it, in path order, dot-files left out."""
    root = tmp_path / "exports"
    (root / "day2").mkdir(parents=True)
    shutil.copy(REAL / "src-049.log", root / "a.log")
    shutil.copy(REAL / "src-024.log", root / "day2" / "b.log")
    (root / ".DS_Store").write_bytes(b"\x00\x01")
    ds = run_ingest([root], tmp_path / "ds")
    names = [Path(f.name).relative_to(root).as_posix() for f in ds.summary.files]
    assert names == ["a.log", "day2/b.log"]
    assert ds.summary.totals()["records"] == {"events": 5, "requests": 3}


def test_overlapping_exports_store_the_overlap_once(tmp_path):
    """Lines 1-600 then 401-1011 of src-010: the second input's 200 overlapping lines are
    counted as duplicates, and the dataset equals ingesting the whole file once."""
    lines = (REAL / "src-010.log").read_bytes().split(b"\n")[:-1]
    first = write_lines(tmp_path / "a.log", lines[:600])
    second = write_lines(tmp_path / "b.log", lines[400:])
    a = run_ingest([first], tmp_path / "ds")
    b = run_ingest([second], tmp_path / "ds")
    assert a.file.duplicate_lines == 0
    assert b.file.duplicate_lines == 200
    for f in (a.file, b.file):
        lines_read, parts = summary_adds_up(f)
        assert lines_read == parts
    whole = run_ingest([REAL / "src-010.log"], tmp_path / "whole")
    for table in ALL_TABLES:
        assert b.table(table).height == whole.table(table).height, table


@pytest.mark.parametrize(
    "lines",
    [
        # A timestamp cut by a terminal wrap, whose joined form is an invalid date.
        ["2015-02-", "30T18:03:03.035823+00:00 heroku[web.1]: Idling"],
        # A long line with an invalid hour, followed by a fragment without a prefix.
        [
            "2019-05-01T25:14:52.561107+00:00 app[web.1]: Completed 200 OK in 21.8ms "
            "(Views: 15.4ms | ActiveRecord: 4.5ms)",
            "and the rest of it",
        ],
    ],
    ids=["cut-timestamp-feb-30", "bad-hour-then-fragment"],
)
def test_multi_line_reject_is_counted_in_the_summary(ingest_lines, lines):
    ds = ingest_lines(lines)
    assert coverage(ds) == {(ds.file.name, 1): 1, (ds.file.name, 2): 1}
    lines_read, parts = summary_adds_up(ds.file)
    assert (lines_read, parts) == (2, 2)


# Lines a truncated or mangled export holds, inserted into every real text export: each must
# be accounted for (a record or a reject with its reason), never lost.
MUTATIONS = (
    "2023-07-04T08:15:00.000000+00:00",  # a timestamp alone (issue 16 item 6)
    "2023-07-04T08:15:00Z ",
    "2023-07-04T08:15:00.000000+00:00 heroku[web.1]:",  # an empty message: an event
    "2023-07-04T08:1",  # cut inside the timestamp
    "heroku[router]:",
    "",
)


@pytest.mark.parametrize("name", sorted(TEXT))
def test_the_summary_adds_up_on_mutated_real_exports(tmp_path, name):
    lines = (REAL / f"{name}.log").read_bytes().split(b"\n")[:-1]
    step = max(1, len(lines) // len(MUTATIONS))
    mutated = list(lines)
    for k, extra in reversed(list(enumerate(MUTATIONS))):
        mutated.insert(min(k * step, len(mutated)), extra.encode())
    src = write_lines(tmp_path / f"{name}.log", mutated)
    ds = run_ingest([src], tmp_path / "ds")
    lines_read, parts = summary_adds_up(ds.file)
    assert lines_read == len(mutated) == parts
    assert set(coverage(ds)) == {(ds.file.name, i) for i in range(1, len(mutated) + 1)}


def test_a_line_with_only_a_timestamp_is_a_no_source_reject(ingest_lines):
    # (after a line too short to have wrapped: after a long app line it is joined as a wrap)
    ds = ingest_lines([real_line("src-049:1"), "2023-07-04T08:15:00.000000+00:00"])
    rejects = ds.table("rejects")
    assert rejects.select("line_no", "reason", "raw").rows() == [
        (2, "no_source", "2023-07-04T08:15:00.000000+00:00")
    ]
    assert summary_adds_up(ds.file) == (2, 2)
