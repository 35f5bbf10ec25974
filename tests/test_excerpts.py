"""Log excerpts: the lines around many source references looked up at once, rebuilt from the
tables (router lines from their fields), rejected lines as read, long ranges as their two ends."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from forensics.ingest import ingest
from forensics.store.excerpts import MAX_WHOLE_RANGE, excerpt, excerpts, wanted_lines
from forensics.store.views import Cut, open_dataset

LINES = [
    "2024-05-20T10:00:00.000000+00:00 app[web.1]: line one",  # 1
    "2024-05-20T10:00:01.000000+00:00 heroku[web.1]: State changed from up to crashed",  # 2
    '2024-05-20T10:00:02.000000+00:00 heroku[router]: at=error code=H12 desc="Request timeout" '
    'method=GET path="/search?q=x" host=a.herokuapp.com request_id=abc fwd="1.2.3.4" '
    "dyno=web.1 connect=1ms service=30000ms status=503 bytes=0 protocol=https",  # 3
    "this line is no log line at all",  # 4
    "2024-05-20T10:00:04.000000+00:00 heroku[web.1]: source=web.1 dyno=heroku.1.abc "
    "sample#memory_total=512.30MB sample#memory_rss=500.00MB sample#memory_quota=512.00MB",  # 5
    *[f"2024-05-20T10:01:{i:02d}.000000+00:00 app[worker.1]: step {i}" for i in range(6, 41)],
    "2024-05-20T10:02:00+00:00 app[heroku-postgres]: source=DATABASE addon=postgresql-x-1 "
    "sample#active-connections=6 sample#load-avg-1m=0.5 sample#db_size=47360bytes",  # 41
]


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("excerpts")
    log = root / "x.log"
    log.write_text("\n".join(LINES) + "\n")
    ingest([str(log)], root / "ds")
    c = open_dataset(root / "ds")
    yield SimpleNamespace(con=c, file=str(log), root=root)
    c.close()


def test_many_references_in_one_call(ds) -> None:
    con, f = ds.con, ds.file
    refs = [(f, 3, 3), (f, 20, 20), (f, 10, 12), ("other.log", 1, 1)]
    got = excerpts(con, refs, context_lines=1)
    assert list(got) == refs
    assert [ln.line_no for ln in got[(f, 3, 3)]] == [2, 3, 4]
    assert [ln.cited for ln in got[(f, 3, 3)]] == [False, True, False]
    assert [ln.line_no for ln in got[(f, 10, 12)]] == [9, 10, 11, 12, 13]
    assert got[(f, 20, 20)][1].text == "app[worker.1]: step 20"
    assert got[("other.log", 1, 1)] == []  # a file the dataset does not hold


def test_lines_are_rebuilt_as_heroku_wrote_them(ds) -> None:
    con, f = ds.con, ds.file
    lines = {ln.line_no: ln for ln in excerpts(con, [(f, 3, 3)], context_lines=2)[(f, 3, 3)]}
    router = lines[3].text
    assert router.startswith('heroku[router]: at=error code=H12 desc="Request timeout"')
    for left_out in ("q=x", "request_id", "fwd", "1.2.3.4", "host="):
        assert left_out not in router, left_out
    for part in ('path="/search"', "service=30000ms",
                 "status=503", "dyno=web.1"):  # fmt: skip
        assert part in router, part
    assert lines[2].text == "heroku[web.1]: State changed from up to crashed"
    assert lines[4].text == "this line is no log line at all" and lines[4].ts is None
    assert "sample#memory_total=512.3MB" in lines[5].text
    assert str(lines[3]).startswith(">3: 2024-05-20T10:00:02Z heroku[router]:")


def test_an_addon_metrics_line_is_one_line(ds) -> None:
    # the table holds one row per sample#; the excerpt shows the line, once
    con, f = ds.con, ds.file
    (line,) = [x for x in excerpts(con, [(f, 41, 41)], context_lines=0)[(f, 41, 41)]]
    assert line.text == (
        "app[heroku-postgres]: source=DATABASE addon=postgresql-x-1 "
        "sample#active-connections=6.0 sample#db_size=47360.0bytes sample#load-avg-1m=0.5"
    )


def test_a_long_range_shows_its_two_ends(ds) -> None:
    con, f = ds.con, ds.file
    ref = (f, 8, 30)
    assert MAX_WHOLE_RANGE <= 30 - 8
    assert wanted_lines(ref, 2) == [6, 7, 8, 9, 10, 28, 29, 30, 31, 32]
    got = excerpts(con, [ref])[ref]
    assert [ln.line_no for ln in got] == [6, 7, 8, 9, 10, 28, 29, 30, 31, 32]
    assert [ln.cited for ln in got] == [False, False, True, True, True, True, True, True,
                                        False, False]  # fmt: skip
    assert wanted_lines((f, 1, 1), 2) == [1, 2, 3]  # no line 0 or below


def test_single_excerpt_is_the_batch_one(ds) -> None:
    con, f = ds.con, ds.file
    assert excerpt(con, f, 3) == [str(x) for x in excerpts(con, [(f, 3, 3)])[(f, 3, 3)]]
    assert excerpt(con, f, 3)[2].startswith(">3: ")


def test_the_cut_applies(ds) -> None:
    cut = open_dataset(ds.root / "ds", cut=Cut(dyno="worker"))
    try:
        got = excerpts(cut, [(ds.file, 6, 6)], context_lines=2)[(ds.file, 6, 6)]
    finally:
        cut.close()
    # line 4 (rejected: no dyno) is kept, web.1's line 5 is outside the cut
    assert [ln.line_no for ln in got] == [4, 6, 7, 8]
