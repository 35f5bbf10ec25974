"""Golden log-runtime-metrics lines (`heroku[<dyno>]: source=... dyno=heroku.`) -> `dyno_metrics`.

None of the real `heroku logs` text files has runtime metrics, so the messages are taken from
the real drain frames (src-001, src-003, src-030: real values, real dyno ids) and put in the
`heroku logs` envelope `TIMESTAMP heroku[<source>]: MESSAGE`; the 2013 `measure=` form and
the unit conversions come from the catalogue (section 7) and the parser's documentation.
"""

from __future__ import annotations

import pytest
from ingest_helpers import Golden, check_golden, golden_dataset, golden_params, utc

T = "dyno_metrics"
ID_001_LOAD = "heroku.97268060.b6e1c119-fba6-4c25-8129-ccf81cefd942"
ID_001_MEM = "heroku.97268060.cfb234af-179b-484d-87ef-49cf17de13ae"
ID_003 = "heroku.55681600.b0bc8784-5574-4f35-9508-5ea02d47d251"
ID_030 = "heroku.26192163.d31c5193-9585-4b67-9f22-57eff253d226"
ID_DOC = "heroku.2808254.d97d0ea7-cf3d-411b-b453-d2943a50b456"

CASES = [
    # src-001 frame 1: load averages of a process type with `_` in its name.
    Golden(
        T,
        text=f"2019-11-25T18:28:00.226738+00:00 heroku[imports_worker.2]: source=imports_worker.2 "
        f"dyno={ID_001_LOAD} sample#load_avg_1m=0.00 sample#load_avg_5m=0.00 "
        "sample#load_avg_15m=0.00",
        expected=dict(ts=utc(2019, 11, 25, 18, 28, 0, 226738), dyno="imports_worker.2",
                      dyno_id=ID_001_LOAD, load_avg_1m=0.0, load_avg_5m=0.0, load_avg_15m=0.0),
    ),
    # src-001 frame 2: memory with memory_quota (2016+).
    Golden(
        T,
        text="2019-11-25T18:28:15.490955+00:00 heroku[background_worker.1]: "
        f"source=background_worker.1 dyno={ID_001_MEM} sample#memory_total=324.41MB "
        "sample#memory_rss=317.93MB sample#memory_cache=6.48MB sample#memory_swap=0.00MB "
        "sample#memory_pgpgin=145418pages sample#memory_pgpgout=62370pages "
        "sample#memory_quota=512.00MB",
        expected=dict(
            ts=utc(2019, 11, 25, 18, 28, 15, 490955), dyno="background_worker.1",
            dyno_id=ID_001_MEM, memory_total_mb=324.41, memory_rss_mb=317.93,
            memory_cache_mb=6.48, memory_swap_mb=0.0, memory_pgpgin_pages=145418,
            memory_pgpgout_pages=62370, memory_quota_mb=512.0,
        ),
    ),
    # src-003: swap in use.
    Golden(
        T,
        text=f"2017-08-31T14:47:13.830269+00:00 heroku[web.1]: source=web.1 dyno={ID_003} "
        "sample#memory_total=201.71MB sample#memory_rss=190.07MB sample#memory_cache=0.33MB "
        "sample#memory_swap=11.30MB sample#memory_pgpgin=88604pages "
        "sample#memory_pgpgout=53146pages sample#memory_quota=512.00MB",
        expected=dict(
            ts=utc(2017, 8, 31, 14, 47, 13, 830269), dyno="web.1", dyno_id=ID_003,
            memory_total_mb=201.71, memory_rss_mb=190.07, memory_cache_mb=0.33,
            memory_swap_mb=11.3, memory_pgpgin_pages=88604, memory_pgpgout_pages=53146,
            memory_quota_mb=512.0,
        ),
    ),
    # src-030 (2015): no memory_quota yet.
    Golden(
        T,
        text=f"2015-01-26T00:16:57.648942+00:00 heroku[web.1]: source=web.1 dyno={ID_030} "
        "sample#memory_total=296.29MB sample#memory_rss=260.94MB sample#memory_cache=1.55MB "
        "sample#memory_swap=33.80MB sample#memory_pgpgin=97082pages "
        "sample#memory_pgpgout=29885pages",
        expected=dict(
            ts=utc(2015, 1, 26, 0, 16, 57, 648942), dyno="web.1", dyno_id=ID_030,
            memory_total_mb=296.29, memory_rss_mb=260.94, memory_cache_mb=1.55,
            memory_swap_mb=33.8, memory_pgpgin_pages=97082, memory_pgpgout_pages=29885,
        ),
    ),
    # Catalogue 7: the 2013 pre-release form, one metric per line, id inside source=.
    Golden(
        T,
        text="2013-03-01T00:00:00+00:00 heroku[web.1]: "
        "source=heroku.2808254.web.1.d97d0ea7-cf3d-411b-b453-d2943a50b456 "
        "measure=load_avg_1m val=2.46",
        expected=dict(ts=utc(2013, 3, 1), dyno="web.1", dyno_id=ID_DOC, load_avg_1m=2.46),
    ),
    Golden(
        T,
        text="2013-03-01T00:00:01+00:00 heroku[web.1]: "
        "source=heroku.2808254.web.1.d97d0ea7-cf3d-411b-b453-d2943a50b456 "
        "measure=memory_total val=21.00",
        expected=dict(ts=utc(2013, 3, 1, 0, 0, 1), dyno="web.1", dyno_id=ID_DOC,
                      memory_total_mb=21.0),
    ),
    # Parser doc: kB and GB become MB; unknown sample# keys go to `extra`; any key order.
    Golden(
        T,
        text=f"2016-01-01T00:00:00.5+00:00 heroku[web.2]: source=web.2 dyno={ID_DOC} "
        "sample#memory_rss=1.5GB sample#memory_total=2048kB sample#memory_quota=512.00MB "
        "sample#cpu_pct=3",
        expected=dict(ts=utc(2016, 1, 1, 0, 0, 0, 500000), dyno="web.2", dyno_id=ID_DOC,
                      memory_total_mb=2.0, memory_rss_mb=1536.0, memory_quota_mb=512.0,
                      extra="sample#cpu_pct=3"),
    ),
    # Catalogue 7: a line with only load_avg_1m.
    Golden(
        T,
        text=f"2016-01-01T00:00:01+00:00 heroku[web.2]: source=web.2 dyno={ID_DOC} "
        "sample#load_avg_1m=1.25",
        expected=dict(ts=utc(2016, 1, 1, 0, 0, 1), dyno="web.2", dyno_id=ID_DOC,
                      load_avg_1m=1.25),
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return golden_dataset(tmp_path_factory, CASES)


@pytest.mark.parametrize(("line_no", "case"), golden_params(CASES))
def test_runtime_metrics_line(ds, line_no, case):
    check_golden(ds, line_no, case)


def test_every_metrics_line_is_one_record(ds):
    assert ds.file.records == {T: len(CASES)}
    assert ds.file.rows[T] == len(CASES)


def test_app_line_shaped_like_metrics_is_not_a_dyno_metric(ingest_lines):
    """Only heroku-origin lines are runtime metrics; an app printing the same text is app output."""
    line = (
        f"2019-11-25T18:28:00.226738+00:00 app[web.1]: source=web.1 dyno={ID_001_LOAD} "
        "sample#load_avg_1m=0.00"
    )
    ds = ingest_lines([line])
    assert ds.table(T).height == 0
    assert ds.file.records.get(T, 0) == 0
    assert sum(ds.file.records.values()) == 1
