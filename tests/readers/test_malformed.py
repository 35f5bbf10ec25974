"""Malformed inputs for every reader: clear rejects or a one-line InputError, nothing lost.

Each case goes through `forensics.ingest.ingest` with the format forced; the lines (frames,
for drains) read must equal the records kept plus the rejected lines.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
from reader_render import TOKEN, frame

from forensics.errors import InputError
from forensics.ingest import IngestSummary, ingest

ROUTER = (
    "<158>1 2019-11-25T18:28:00.089034+00:00 host heroku router - at=info method=GET "
    'path="/" host=a.example request_id=f24c9831 fwd="1.2.3.4" dyno=web.1 connect=0ms '
    "service=25ms status=200 bytes=1541 protocol=https"
)
STATE = "<45>1 2019-11-25T18:28:01+00:00 host heroku web.1 - State changed from up to down"
APPL = f"<190>1 2019-11-25T18:28:02.5+00:00 {TOKEN} app web.1 - - Completed 200 OK"
R, S, A = frame(ROUTER), frame(STATE), frame(APPL)


def _wrong(raw: bytes, delta: int) -> bytes:
    n, rest = raw.split(b" ", 1)
    return str(int(n) + delta).encode() + b" " + rest


def _framed(body: bytes) -> bytes:
    return str(len(body)).encode() + b" " + body


TSV_ROW = (
    "1\t2019-11-25 10:28:00 -0800\t2019-11-25 10:28:01 -0800\t7\tmy-app\t1.2.3.4\tLocal3\t"
    "Info\theroku/router\tat=info method=GET path=/ status=200"
)
TEXT_ROW = "Nov 25 18:28:00 my-app heroku/web.1:  State changed from up to down"

# name -> (format, input bytes, reasons expected among the rejects, frames/lines kept)
CASES: dict[str, tuple[str, bytes, set[str], int]] = {
    "drain_ok": ("drain", R + S + A, set(), 3),
    "drain_empty": ("drain", b"", set(), 0),
    "drain_blank": ("drain", b"\n\n  \n", {"blank"}, 0),
    "drain_cut_in_message": ("drain", R + S + A[:-9], set(), 3),
    "drain_cut_in_header": ("drain", R + S + A[:30], {"bad_header"}, 2),
    "drain_count_too_long": ("drain", _wrong(R, 40) + _wrong(S, 9) + A, set(), 3),
    "drain_count_too_short": ("drain", _wrong(R, -12) + S + A, {"bad_frame_length"}, 3),
    "drain_count_too_short_lines": (
        "drain",
        _wrong(R, -5) + b"\n" + S + b"\n" + A + b"\n",
        {"bad_frame_length"},
        3,
    ),
    "drain_count_huge": ("drain", b"999999999" + R[3:] + S, set(), 2),
    "drain_garbage_glued": ("drain", R + b"GARBAGE" + S + A, {"bad_frame_length"}, 3),
    "drain_garbage_lines": (
        "drain",
        b"Subject: alert\n\n" + R + b"\nsome prose\nmore prose\n" + S + b"\n",
        {"not_a_frame", "blank", "garbage_between_frames"},
        2,
    ),
    "drain_bad_timestamp": (
        "drain",
        R + frame("<45>1 2019-11-25T25:61:00+00:00 host heroku web.1 - Idling") + A,
        {"bad_timestamp"},
        2,
    ),
    "drain_bad_header": (
        "drain",
        R + frame("<45>1 2019-11-25T18:28:01+00:00 host") + A,
        {"bad_header"},
        2,
    ),
    "drain_invalid_utf8": (
        "drain",
        R + _framed(b"<190>1 2019-11-25T18:28:00Z host app web.1 - caf\xe9 \xff!") + S,
        set(),
        3,
    ),
    "syslog_ok": ("syslog", (ROUTER + "\n" + STATE + "\n").encode(), set(), 2),
    "syslog_empty": ("syslog", b"", set(), 0),
    "syslog_crlf": ("syslog", (ROUTER + "\r\n" + STATE + "\r\n").encode(), set(), 2),
    "syslog_bad_timestamps": (
        "syslog",
        b"<13>1 2019-02-30T10:00:00Z host app web.1 - x\nFeb 30 10:00:00 host app[web.1]: x\n",
        {"bad_timestamp"},
        0,
    ),
    "syslog_missing_fields": (
        "syslog",
        b"<13>1 2019-11-25T18:28:00Z host app web.1\n",
        {"bad_header"},
        0,
    ),
    "syslog_prose_and_blanks": (
        "syslog",
        f"hello\n\n{STATE}\nJan  8 10:55:11 host app[web.1]: hi\n".encode(),
        {"no_prefix", "blank"},
        2,
    ),
    "papertrail_ok": ("papertrail", (TSV_ROW + "\n").encode(), set(), 1),
    "papertrail_empty": ("papertrail", b"", set(), 0),
    "papertrail_too_few_columns": (
        "papertrail",
        (TSV_ROW + "\n" + "\t".join(TSV_ROW.split("\t")[:6]) + "\n\n").encode(),
        {"wrong_column_count", "blank"},
        1,
    ),
    "papertrail_tabs_in_message": ("papertrail", (TSV_ROW + "\tmore\t\n").encode(), set(), 1),
    "papertrail_bad_timestamp": (
        "papertrail",
        (TSV_ROW.replace("2019-11-25 10:28:00", "yesterday noon") + "\n" + TSV_ROW + "\n").encode(),
        {"bad_timestamp"},
        1,
    ),
    # a Unicode digit in the fraction (U+0663) is a bad time, not a crash of the reader
    "cli_unicode_digit_in_fraction": (
        "heroku-cli",
        "2016-01-17T16:13:56.\u0663Z app[web.1]: x\n2016-01-17T16:13:56Z app[web.1]: ok\n".encode(),
        {"bad_timestamp"},
        1,
    ),
    # a status past Int32 is a null status, not a crash of the router parser
    "cli_router_status_overflow": (
        "heroku-cli",
        b"2016-01-17T16:13:56Z heroku[router]: at=info method=GET path=/ host=h fwd=f "
        b"dyno=web.1 connect=1 service=2 status=2147483648 bytes=3\n",
        set(),
        1,
    ),
    "papertrail_text": (
        "papertrail",
        f"{TEXT_ROW}\nJan 32 10:00:00 my-app app/web.1:  x\nnot a line\n".encode(),
        {"bad_timestamp", "no_prefix"},
        1,
    ),
}


def _ingest(tmp_path: Path, fmt: str, data: bytes, suffix: str = ".log") -> IngestSummary:
    path = tmp_path / f"input{suffix}"
    path.write_bytes(data)
    return ingest([str(path)], tmp_path / "ds", fmt=fmt)


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed(tmp_path: Path, name: str) -> None:
    fmt, data, reasons, kept = CASES[name]
    summary = _ingest(tmp_path, fmt, data)
    (f,) = summary.files
    # a file with lines but no record, and not only blank lines, is named "not a Heroku log"
    no_log = f.lines and not kept and reasons - {"blank"}
    assert f.status == ("not_a_log" if no_log else "ingested" if f.lines else "empty")
    records = sum(f.records.values())
    assert f.lines == records + f.rejected_lines + f.joined_lines + f.duplicate_lines
    assert set(f.rejects_by_reason) == reasons
    assert records == kept


@pytest.mark.parametrize("fmt", ["drain", "syslog", "papertrail"])
def test_truncated_gzip_is_one_line_input_error(tmp_path: Path, fmt: str) -> None:
    body = (R + S + A) * 2000 if fmt == "drain" else (TSV_ROW + "\n").encode() * 2000
    gz = gzip.compress(body)
    with pytest.raises(InputError) as err:
        _ingest(tmp_path, fmt, gz[: len(gz) // 2], ".gz")
    assert "truncated" in str(err.value)
    assert "\n" not in str(err.value)


def test_count_too_short_keeps_both_parts(tmp_path: Path) -> None:
    summary = _ingest(tmp_path, "drain", _wrong(R, -12) + S)
    assert summary.files[0].rejects_by_reason == {"bad_frame_length": 1}
    rej = pl.read_parquet(tmp_path / "ds" / "rejects" / "*.parquet")
    assert rej["raw"].to_list() == ["protocol=https"[-12:]]
