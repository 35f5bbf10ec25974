"""Golden app output lines (`app[<dyno>]`) -> `app_logs`: message kept as written (leading
spaces, tabs, ANSI escapes, empty), request id extracted when the line carries one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_helpers import (
    REAL,
    Golden,
    check_golden,
    golden_dataset,
    golden_params,
    run_ingest,
    utc,
    write_lines,
)

T = "app_logs"


def drain_message(name: str, line_no: int, after: str) -> str:
    """The message of a real drain frame: the text after `after` on that line."""
    line = (REAL / f"{name}.log").read_text().split("\n")[line_no - 1]
    return line.split(after, 1)[1]


BUNYAN = drain_message("src-004", 3, " host app web.1 - ")
RAILS_TAGGED = drain_message("src-051", 10, " app web.1 - - ")
ANSI = '\x1b[1m\x1b[35mSQL (0.4ms)\x1b[0m  SELECT 1 AS one FROM \x1b[1m\x1b[36m"users"\x1b[0m'

CASES = [
    Golden(T, ref="src-041:10", expected=dict(
        ts=utc(2018, 12, 25, 1, 16, 6, 197287), dyno="web.1",
    )),
    # `app[web.1]:` with nothing after it: a real, empty message.
    Golden(T, ref="src-041:11", expected=dict(
        ts=utc(2018, 12, 25, 1, 16, 51, 157425), dyno="web.1", message="",
    )),
    # Leading spaces and a leading tab belong to the message.
    Golden(T, ref="src-007:5", expected=dict(
        ts=utc(2014, 1, 14, 8, 31, 53, 407980), dyno="web.1",
        message='  Parameters: {"user_id"=>"6"}',
    )),
    Golden(T, ref="src-007:430", expected=dict(
        ts=utc(2014, 1, 14, 10, 14, 43, 877756), dyno="web.1",
        message="\tscript/rails:6:in `<main>'",
    )),
    # A URL with a query string is not a request id.
    Golden(T, ref="src-009:16", expected=dict(
        ts=utc(2016, 7, 8, 23, 47, 29, 730567), dyno="web.1",
    )),
    # gunicorn access line (2025), no request id in it.
    Golden(T, ref="src-014:1", expected=dict(
        ts=utc(2025, 2, 7, 15, 19, 57, 3088), dyno="web.1",
    )),
    # Release-phase dyno (release.NNNN) output.
    Golden(T, ref="src-014:42", expected=dict(
        ts=utc(2025, 2, 7, 15, 33, 48, 723640), dyno="release.8012",
    )),
    # Rails tagged logging (src-051 drain frame, re-enveloped): bracketed UUID.
    Golden(T, text=f"2019-05-01T11:14:52.561107+00:00 app[web.1]: {RAILS_TAGGED}", expected=dict(
        ts=utc(2019, 5, 1, 11, 14, 52, 561107), dyno="web.1",
        request_id="32853e1c-a9c1-4d9b-910c-5e49389f928e",
    )),
    # bunyan JSON with "requestId" (src-004 drain frame, re-enveloped).
    Golden(T, text=f"2015-06-08T21:53:21.461086+00:00 app[web.1]: {BUNYAN}", expected=dict(
        ts=utc(2015, 6, 8, 21, 53, 21, 461086), dyno="web.1",
        request_id="f76651b2-8f29-4c21-8f5a-92bd9f0cfb3d",
    )),
    # logfmt request_id= (app's own logfmt line).
    Golden(
        T,
        text="2024-05-20T22:17:58.000001+00:00 app[worker.2]: at=info "
        "request_id=df4352ea-ba08-49cb-b95c-3aa4c5d309d1 msg=done",
        expected=dict(ts=utc(2024, 5, 20, 22, 17, 58, 1), dyno="worker.2",
                      request_id="df4352ea-ba08-49cb-b95c-3aa4c5d309d1"),
    ),
    # ANSI colour codes in a Rails SQL log line are kept; a -07:00 offset becomes UTC.
    Golden(T, text=f"2010-10-06T21:51:07.5-07:00 app[web.1]: {ANSI}", expected=dict(
        ts=utc(2010, 10, 7, 4, 51, 7, 500000), dyno="web.1", message=ANSI,
    )),
    # One-off and scheduler dynos.
    Golden(T, text="2017-08-30T07:11:33.000001+00:00 app[scheduler.9200]: done", expected=dict(
        ts=utc(2017, 8, 30, 7, 11, 33, 1), dyno="scheduler.9200",
    )),
]  # fmt: skip


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return golden_dataset(tmp_path_factory, CASES)


@pytest.mark.parametrize(("line_no", "case"), golden_params(CASES))
def test_app_line(ds, line_no, case):
    check_golden(ds, line_no, case)


def test_every_app_line_is_one_record(ds):
    assert ds.file.records == {T: len(CASES)}


def test_request_ids_join_router_and_app_lines(tmp_path: Path):
    """A router line and the app line of the same request share request_id."""
    rid = "32853e1c-a9c1-4d9b-910c-5e49389f928e"
    src = write_lines(tmp_path / "x.log", [
        f"2019-05-01T11:14:52.561107+00:00 app[web.1]: {RAILS_TAGGED}",
        f'2019-05-01T11:14:52.600000+00:00 heroku[router]: at=info method=GET path="/" '
        f'host=coderdojo.jp request_id={rid} fwd="1.2.3.4" dyno=web.1 connect=0ms '
        "service=60ms status=200 bytes=100 protocol=https",
    ])  # fmt: skip
    ds = run_ingest([src], tmp_path / "ds")
    joined = ds.table("requests").join(ds.table(T), on="request_id")
    assert joined.select("request_id", "line_no", "line_no_right").rows() == [(rid, 2, 1)]
