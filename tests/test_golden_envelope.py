"""The `heroku logs` envelope: timestamps to the microsecond in UTC, terminal-wrapped lines
joined back (real wraps from src-007, src-010, src-016), rejects with their reason and raw
text, CRLF, and lines at the end of the input.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from ingest_helpers import REAL, Ingested, real_line, run_ingest, utc, write_lines

from forensics.readers import cli_text
from forensics.readers.lines import iter_line_batches

# --- timestamps --------------------------------------------------------------------------

TIMESTAMPS = [
    ("2012-08-06T19:11:20+00:00", utc(2012, 8, 6, 19, 11, 20)),  # no fraction
    ("2018-01-24T23:40:28.000000+00:00", utc(2018, 1, 24, 23, 40, 28)),  # padded .000000
    ("2022-01-26T20:25:08.61556+00:00", utc(2022, 1, 26, 20, 25, 8, 615560)),  # 5 digits
    ("2022-01-26T20:25:08.6+00:00", utc(2022, 1, 26, 20, 25, 8, 600000)),  # 1 digit
    ("2022-01-26T20:25:08.123456000+00:00", utc(2022, 1, 26, 20, 25, 8, 123456)),  # 9 digits
    ("2022-01-26T20:25:08.615560Z", utc(2022, 1, 26, 20, 25, 8, 615560)),  # Z
    ("2010-10-06T21:51:07-07:00", utc(2010, 10, 7, 4, 51, 7)),  # doc-era -07:00
    ("2010-10-06T21:51:07.25-0700", utc(2010, 10, 7, 4, 51, 7, 250000)),  # no colon
    ("2015-06-30T23:30:00.000001+05:30", utc(2015, 6, 30, 18, 0, 0, 1)),  # half-hour east
    ("2016-12-31T23:59:59.999999-01:00", utc(2017, 1, 1, 0, 59, 59, 999999)),  # year rolls
]


@pytest.fixture(scope="module")
def ts_ds(tmp_path_factory) -> Ingested:
    root = tmp_path_factory.mktemp("ts")
    lines = [f"{text} app[web.1]: case {i}" for i, (text, _) in enumerate(TIMESTAMPS)]
    return run_ingest([write_lines(root / "ts.log", lines)], root / "ds")


@pytest.mark.parametrize(("i", "expected"), list(enumerate(e for _, e in TIMESTAMPS)),
                         ids=[t for t, _ in TIMESTAMPS])  # fmt: skip
def test_timestamp_is_normalized_to_utc_microseconds(ts_ds, i, expected):
    row = ts_ds.table("app_logs").row(i, named=True)
    assert (row["line_no"], row["message"]) == (i + 1, f"case {i}")
    assert row["ts"] == expected
    assert row["ts"].utcoffset().total_seconds() == 0


def test_timestamp_column_type(ts_ds):
    assert str(ts_ds.table("app_logs").schema["ts"]) == "Datetime(time_unit='us', time_zone='UTC')"
    assert ts_ds.file.ts_min == utc(2010, 10, 7, 4, 51, 7)
    assert ts_ds.file.ts_max == utc(2022, 1, 26, 20, 25, 8, 615560)


# --- wrapped lines in real exports -------------------------------------------------------

# (file, first line, line_count, table, columns the joined record must have)
WRAPS = [
    ("src-010", 118, 2, "events", dict(kind="stop", signal="SIGTERM",
                                       message="Stopping all processes with SIGTERM")),
    ("src-010", 204, 2, "requests", dict(service_ms=2, status=304, bytes=110)),
    ("src-010", 285, 2, "requests", dict(path="/static/admin/img/nav-bg-reverse.gif",
                                         bytes=445)),
    ("src-010", 349, 2, "requests", dict(fwd="106.221.134.63", dyno="web.1", bytes=4132)),
    ("src-010", 434, 1, "requests", dict(path="/static/css/scrolling-nav.css", bytes=1722)),
    ("src-010", 435, 2, "requests", dict(ts=utc(2015, 2, 17, 18, 3, 3, 35823),
                                         path="/static/css/font-awesome.min.css", bytes=110)),
    ("src-010", 496, 2, "requests", dict(request_id="7f2f0caf-ac3d-4e7c-870a-b941ca191661")),
    ("src-010", 602, 2, "requests", dict(host="www.loremipsum.co.in", bytes=901)),
    ("src-010", 702, 2, "app_logs", dict(
        ts=utc(2015, 2, 18, 12, 13, 38, 68032),
        message="[2015-02-18 12:13:38 +0000] [9] [INFO] Booting worker with pid: 9")),
    ("src-010", 817, 2, "events", dict(kind="state_change", from_state="starting",
                                       to_state="up")),
    ("src-010", 930, 1, "events", dict(kind="state_change", to_state="starting")),
    ("src-010", 931, 2, "events", dict(kind="start",
                                       command="gunicorn contactlist.wsgi --log-file -")),
    ("src-016", 62, 2, "app_logs", dict(
        dyno="web.1", message="!! Unexpected error while processing request: can't modify "
        "frozen array")),
    ("src-007", 145, 2, "app_logs", dict(
        ts=utc(2014, 1, 14, 8, 34, 44, 381742),
        message="Completed 302 Found in 4.1ms (ActiveRecord: 2.4ms)")),
]  # fmt: skip


@pytest.fixture(scope="module")
def real_ds(tmp_path_factory) -> Ingested:
    root = tmp_path_factory.mktemp("wraps")
    names = ("src-007", "src-010", "src-016", "src-027", "src-033", "src-041")
    files = [REAL / f"{name}.log" for name in names]
    return run_ingest(files, root / "ds")


def _record(ds: Ingested, name: str, line_no: int) -> tuple[str, dict]:
    found = []
    for table in ("requests", "events", "app_logs", "rejects"):
        df = ds.table(table).filter(
            pl.col("source_file").str.ends_with(f"{name}.log") & (pl.col("line_no") == line_no)
        )
        found += [(table, r) for r in df.to_dicts()]
    assert len(found) == 1, f"{name}:{line_no} starts {len(found)} records: {found}"
    return found[0]


@pytest.mark.parametrize(("name", "line_no", "count", "table", "want"), WRAPS,
                         ids=[f"{w[0]}:{w[1]}" for w in WRAPS])  # fmt: skip
def test_wrapped_line_is_joined_back(real_ds, name, line_no, count, table, want):
    got_table, row = _record(real_ds, name, line_no)
    assert (got_table, row["line_count"]) == (table, count)
    assert {k: row[k] for k in want} == want


def test_src_016_wrapped_app_line_keeps_all_its_text(real_ds):
    _, row = _record(real_ds, "src-016", 12)
    expected = real_line("src-016:12").split("]: ", 1)[1] + real_line("src-016:13")
    assert row["line_count"] == 2
    assert row["message"] == expected


# --- rejects -----------------------------------------------------------------------------

REJECTS = [
    ("src-041:1", "no_prefix"),  # shell prompt
    ("src-027:1", "no_timestamp"),  # router line pasted without its time, trailing space kept
    ("src-033:1", "no_prefix"),  # router message pasted without prefix, leading space
    ("src-007:406", "blank"),
    ("src-007:407", "no_prefix"),  # Windows prompt
    ("src-007:429", "no_prefix"),  # cp850 byte 0x81: replaced, never fatal
]


def _rejects_of(ds: Ingested, name: str) -> pl.DataFrame:
    return ds.table("rejects").filter(pl.col("source_file").str.ends_with(f"/{name}.log"))


@pytest.mark.parametrize(("ref", "reason"), REJECTS, ids=[r for r, _ in REJECTS])
def test_line_without_envelope_is_rejected_with_reason_and_raw_text(real_ds, ref, reason):
    name, no = ref.split(":")
    rej = _rejects_of(real_ds, name).filter(pl.col("line_no") == int(no))
    assert rej.select("line_count", "reason", "raw").rows() == [(1, reason, real_line(ref))]


def test_invalid_utf8_is_replaced_in_raw(real_ds):
    raw = _rejects_of(real_ds, "src-007").filter(pl.col("line_no") == 429)["raw"].item()
    assert raw == "Dr\ufffdcken Sie eine beliebige Taste . . . "


def test_bad_timestamp_is_rejected(ingest_lines):
    ds = ingest_lines([
        "2019-02-30T11:14:52.561107+00:00 app[web.1]: February 30th",
        "2019-05-01T11:14:52.561107 app[web.1]: no offset",
        "2019-05-01T11:14:52.561107+00:00 app[web.1]: fine",
    ])  # fmt: skip
    rej = ds.table("rejects").select("line_no", "line_count", "reason").rows()
    assert rej == [(1, 1, "bad_timestamp"), (2, 1, "bad_timestamp")]
    assert ds.table("app_logs")["line_no"].to_list() == [3]


def test_prefixless_line_after_complete_router_line_is_not_swallowed(ingest_lines):
    """A line ending in protocol= is complete: the next prefix-less line is a reject (was a
    bug until b8340ec: it was appended and landed in the router line's `extra`)."""
    ds = ingest_lines([real_line("src-033:3"), real_line("src-033:1")])
    req = ds.table("requests").select("line_no", "line_count", "extra").rows()
    assert req == [(1, 1, None)]
    assert ds.table("rejects").select("line_no", "reason").rows() == [(2, "no_prefix")]


def test_prefixless_line_after_complete_legacy_router_line_is_rejected(ingest_lines):
    ds = ingest_lines([real_line("src-024:1"), real_line("src-033:1")])
    assert ds.table("requests").select("line_no", "line_count").rows() == [(1, 1)]
    assert ds.table("rejects").select("line_no", "reason").rows() == [(2, "no_prefix")]


def test_shell_prompt_after_a_log_line_is_not_joined(ingest_lines):
    long_line = f"2024-05-20T22:30:18.747121+00:00 app[web.1]: {'x' * 80}"
    ds = ingest_lines([long_line, "zen@zen:~/app$ heroku logs"])
    assert ds.table("app_logs").select("line_no", "line_count").rows() == [(1, 1)]
    assert ds.table("rejects").select("line_no", "reason").rows() == [(2, "no_prefix")]


# --- line endings and the end of the input ----------------------------------------------


def _typed_rows(ds: Ingested) -> dict[str, list[tuple]]:
    return {t: ds.table(t).drop("source_file").rows() for t in ("events", "app_logs", "rejects")}


def test_crlf_gives_the_same_rows_as_lf(tmp_path: Path):
    lines = (REAL / "src-041.log").read_bytes().split(b"\n")[:-1]
    lf = run_ingest([write_lines(tmp_path / "lf.log", lines)], tmp_path / "lf")
    crlf = run_ingest([write_lines(tmp_path / "crlf.log", lines, end=b"\r\n")], tmp_path / "cr")
    assert _typed_rows(crlf) == _typed_rows(lf)
    assert crlf.file.lines == lf.file.lines == 15


def test_last_line_without_newline_is_a_line_held_as_partial(tmp_path: Path):
    # Still a line, but one still being written or cut (see tests/test_torn_lines.py): in
    # rejects as `partial`, not a record with what fields it happened to have.
    data = real_line("src-049:1") + "\n" + real_line("src-049:2")
    src = tmp_path / "x.log"
    src.write_text(data)
    ds = run_ingest([src], tmp_path / "ds")
    assert ds.file.lines == 2
    assert ds.table("events").select("line_no", "kind").rows() == [(1, "memory")]
    assert ds.table("rejects").select("line_no", "reason").rows() == [(2, "partial")]


# --- batches -----------------------------------------------------------------------------


def _batches_of(data: bytes, *, chunk: int, batch: int) -> list[pl.DataFrame]:
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    return list(
        iter_line_batches(
            chunks, source_file="x", record_start=cli_text.RECORD_START, batch_bytes=batch
        )
    )


def test_batches_number_every_line_once():
    data = (REAL / "src-010.log").read_bytes()
    batches = _batches_of(data, chunk=4096, batch=20_000)
    assert len(batches) > 1
    numbers = pl.concat(batches)["line_no"].to_list()
    assert numbers == list(range(1, 1012))


def test_wrapped_continuation_stays_in_its_heads_batch():
    """src-010 lines 118-119 (`...with SIGTE` + `RM`), a chunk ending right after line 118."""
    lines = (REAL / "src-010.log").read_bytes().split(b"\n")[117:120]
    head = lines[0] + b"\n"
    chunks = [head, b"\n".join(lines[1:]) + b"\n"]
    batches = list(
        iter_line_batches(
            chunks, source_file="x", record_start=cli_text.RECORD_START, batch_bytes=len(head)
        )
    )
    assert batches[0]["line_no"].to_list()[:2] == [1, 2]


def _batches(data: bytes, *, chunk: int, batch_bytes: int) -> list[pl.DataFrame]:
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    return list(
        iter_line_batches(
            chunks, source_file="x", record_start=cli_text.RECORD_START, batch_bytes=batch_bytes
        )
    )


def test_a_long_line_keeps_its_wrap():
    """A 300 KB line: no record start in the last 256 KB, so the batch waits for the next one."""
    head = b"2024-05-20T10:00:00+00:00 app[web.1]: " + b"x" * (300 << 10)
    data = b"2024-05-20T09:59:59+00:00 app[web.1]: before\n" + head + b"\ncontinued\n"
    data += b"2024-05-20T10:00:01+00:00 app[web.1]: after\n"
    batches = _batches(data, chunk=64 << 10, batch_bytes=len(head) - 100)
    lines = pl.concat(batches)["line_no"].to_list()
    assert lines == [1, 2, 3, 4]
    with_head = next(b for b in batches if 2 in b["line_no"].to_list())
    assert with_head["line_no"].to_list()[-1] == 3  # the continuation stayed with its head


def test_text_without_record_starts_is_still_cut_into_bounded_batches():
    """No line starts a record: batches are held back at most four batch sizes, then cut."""
    data = b"".join(b"no timestamp here, line %d\n" % i for i in range(40_000))
    batches = _batches(data, chunk=16 << 10, batch_bytes=64 << 10)
    assert pl.concat(batches)["line_no"].to_list() == list(range(1, 40_001))
    assert len(batches) > 3
    assert max(b["raw"].str.len_bytes().sum() + b.height for b in batches) <= 5 * (64 << 10)
