"""Concurrency: exact numbers on hand-written logs (Puma, gunicorn, Unicorn, buildpack lines),
ground truth on generated scenarios, and every real export."""

from __future__ import annotations

import polars as pl
import pytest
from scenario_b import (  # tests/analyses is on sys.path (pytest rootdir-relative import)
    REAL_LOGS,
    ingest_lines,
    real_dataset_fixture,  # noqa: F401 (fixture `b_real`)
    scenario_fixture,  # noqa: F401 (fixture `b_scenario`)
    utc,
)

from forensics.analyses import concurrency
from forensics.findings import Source
from forensics.findings.concurrency import findings
from forensics.store.views import open_dataset


def metrics(ts: str, dyno: str, dyno_id: str, total: float, quota: float = 512) -> str:
    return (
        f"2024-05-20T{ts}.000000+00:00 heroku[{dyno}]: source={dyno} dyno={dyno_id} "
        f"sample#memory_total={total:.2f}MB sample#memory_rss={total - 20:.2f}MB "
        "sample#memory_cache=20.00MB sample#memory_swap=0.00MB sample#memory_pgpgin=100pages "
        f"sample#memory_pgpgout=50pages sample#memory_quota={quota:.2f}MB"
    )


def router(ts: str, dyno: str, service: int, connect: int, rid: str) -> str:
    return (
        f'2024-05-20T{ts}.000000+00:00 heroku[router]: at=info method=GET path="/search" '
        f'host=x.herokuapp.com request_id={rid} fwd="1.2.3.4" dyno={dyno} connect={connect}ms '
        f"service={service}ms status=200 bytes=10 protocol=https"
    )


# Puma 2 workers x 2 threads; six 10 s requests starting a second apart (each arrival finds
# 1..6 in flight), the last two with long connect times; memory 420..460 MB of 512 MB.
BOOT = """
2024-05-20T09:59:00.000000+00:00 heroku[web.1]: Starting process with command `bundle exec puma -C config/puma.rb`
2024-05-20T09:59:02.000000+00:00 app[web.1]: [3] Puma starting in cluster mode...
2024-05-20T09:59:02.000300+00:00 app[web.1]: [3] * Puma version: 6.4.2 (ruby 3.2.2-p53) ("The Eagle of Durango")
2024-05-20T09:59:02.000340+00:00 app[web.1]: [3] * Min threads: 2, max threads: 2
2024-05-20T09:59:02.000380+00:00 app[web.1]: [3] * Workers: 2
2024-05-20T09:59:04.000000+00:00 heroku[web.1]: State changed from starting to up
"""  # noqa: E501
MEMORY = [
    ("10:00:00", 420),
    ("10:00:20", 430),
    ("10:00:40", 440),
    ("10:01:00", 450),
    ("10:01:20", 460),
]
PUMA = [
    *BOOT.strip().splitlines(),
    *[metrics(t, "web.1", "heroku.1.aaa", m) for t, m in MEMORY],
    *[
        router(f"10:00:1{i}", "web.1", 10000, c, f"r{i}")
        for i, c in enumerate([1, 1, 1, 1, 30, 40])
    ],
]


@pytest.fixture(scope="module")
def puma(tmp_path_factory: pytest.TempPathFactory):
    con, log = ingest_lines(tmp_path_factory.mktemp("puma"), "\n".join(PUMA))
    return con, str(log)


def test_in_flight(puma) -> None:
    con, _ = puma
    df = concurrency.in_flight(con, bucket_seconds=60)
    assert df.select("dyno", "bucket_start", "arrivals", "in_flight_max").rows() == [
        ("web.1", utc("2024-05-20T10:00:00Z"), 6, 6),
        ("web.1", utc("2024-05-20T10:01:00Z"), 0, None),
    ]
    r = df.row(0, named=True)
    assert (r["in_flight_p50"], r["in_flight_p95"]) == (3.5, pytest.approx(5.75))
    assert (r["connect_p50_ms"], r["connect_p95_ms"], r["connect_max_ms"]) == (
        1.0,
        pytest.approx(37.5),
        40,
    )
    assert r["service_p95_ms"] == 10000.0
    assert (r["memory_max_mb"], r["memory_mean_mb"], r["memory_quota_mb"]) == (440.0, 430.0, 512.0)
    assert df.row(1, named=True)["memory_max_mb"] == 460.0


def test_arrival_levels_match_brute_force(tmp_path) -> None:
    # Two dynos with interleaved requests: equal starts, a request ending exactly when another
    # starts (half-open, so not in flight then), a 0 ms request, and a WebSocket upgrade.
    reqs = [  # (dyno, end as seconds after 10:00, service ms)
        ("web.1", 10.0, 10000),
        ("web.1", 10.0, 10000),
        ("web.1", 12.0, 2000),
        ("web.1", 15.0, 3000),
        ("web.1", 15.5, 0),
        ("web.1", 20.0, 9000),
        ("web.2", 10.0, 10000),
        ("web.2", 11.0, 500),
        ("web.2", 14.0, 4000),
        ("web.2", 14.0, 0),
    ]
    lines = [
        f'2024-05-20T10:00:{end:09.6f}+00:00 heroku[router]: at=info method=GET path="/a" '
        f'host=x.herokuapp.com request_id=r{i} fwd="1.2.3.4" dyno={dyno} connect=1ms '
        f"service={svc}ms status=200 bytes=10 protocol=https"
        for i, (dyno, end, svc) in enumerate(reqs)
    ]
    lines.append(lines[0].replace("r0", "ws").replace("status=200", "status=101"))
    con, _ = ingest_lines(tmp_path, "\n".join(lines))
    got = sorted(concurrency.arrival_levels(con).select("dyno", "start", "ts", "level").rows())

    def at(sec: float):
        return utc(f"2024-05-20T10:00:{sec:09.6f}Z")

    spans = [(d, end - svc / 1000, end) for d, end, svc in reqs]
    want = sorted(
        (d, at(s), at(e), sum(d2 == d and s2 <= s < e2 for d2, s2, e2 in spans))
        for d, s, e in spans
    )
    assert got == want
    assert [lv for *_, lv in got] == [2, 2, 1, 2, 2, 1, 1, 1, 2, 0]


def test_configured_concurrency_puma(puma) -> None:
    con, _ = puma
    c = concurrency.configured_concurrency(con)
    assert c.select("dyno", "server", "workers", "threads", "capacity", "first_line").rows() == [
        ("web.1", "puma", 2, 2, 4, 1)
    ]
    assert c["line_nos"].to_list() == [[2, 4, 5]]


def test_sizing_both_too_high_and_too_low(puma) -> None:
    con, log = puma
    s = concurrency.sizing(con, min_arrivals=1).row(0, named=True)
    assert (s["process_type"], s["dynos"], s["server"], s["workers"], s["threads"]) == (
        "web",
        1,
        "puma",
        2,
        2,
    )
    assert (s["capacity"], s["config_source"], s["config_line"]) == (4, "logs", f"{log}:1")
    assert (s["arrivals"], s["in_flight_max"]) == (6, 6)
    assert s["in_flight_p95"] == pytest.approx(5.75)
    assert s["saturated_share"] == pytest.approx(2 / 6)
    # queueing shows as connect time: the two arrivals above capacity waited 30-40 ms
    assert s["connect_p95_saturated_ms"] == pytest.approx(39.5)
    assert s["connect_p95_unsaturated_ms"] == 1.0
    assert (s["memory_quota_mb"], s["baseline_mb"], s["per_worker_mb"]) == (512.0, 424.0, 212.0)
    assert (s["memory_p95_mb"], s["memory_max_mb"], s["r14"]) == (pytest.approx(458.0), 460.0, 0)
    assert s["verdict"] == "both"
    # 1 worker fits under 80 % of 512 MB (212 MB each); 1.25 x 5.75 -> 8 slots -> 8 threads
    assert (s["suggested_workers"], s["suggested_threads"], s["suggested_dynos"]) == (1, 8, 1)
    assert "212 MB per worker" in s["reasoning"] and "8 threads" in s["reasoning"]


def test_sizing_options(puma) -> None:
    con, _ = puma
    s = concurrency.sizing(con, workers=4, threads=2, min_arrivals=1).row(0, named=True)
    assert (s["capacity"], s["config_source"], s["per_worker_mb"]) == (8, "logs+option", 106.0)
    assert (s["verdict"], s["suggested_workers"], s["suggested_threads"]) == (
        "too_high_for_memory",
        3,
        2,
    )
    s = concurrency.sizing(con, quota_mb=1024, min_arrivals=1).row(0, named=True)
    assert (s["verdict"], s["suggested_workers"], s["suggested_threads"]) == (
        "too_low_for_load",
        3,
        3,
    )
    s = concurrency.sizing(con, quota_mb=1024, workers=3, threads=3, min_arrivals=1)
    assert s["verdict"].to_list() == ["ok"]
    s = concurrency.sizing(con)  # 6 requests are too few to judge the load by default
    assert s["verdict"].to_list() == ["too_high_for_memory"]


def test_concurrency_finding(puma) -> None:
    con, log = puma
    (f,) = findings(con, min_arrivals=1)
    assert (f.kind, f.severity, f.process_type, f.dyno) == ("concurrency", "warning", "web", None)
    assert "2 workers x 2 threads is too high for the memory and too low for the load" in (
        f.summary
    )
    assert "suggest 1 workers x 8 threads" in f.summary
    assert f.evidence["in_flight_p95"] == 5.75 and f.evidence["capacity"] == 4
    assert (f.start, f.end) == (utc("2024-05-20T10:00:10Z"), utc("2024-05-20T10:00:15Z"))
    assert f.sources == [Source(log, 2, 2), Source(log, 4, 5)]
    assert findings(con, quota_mb=1024, workers=3, threads=3, min_arrivals=1) == []


OTHERS = """
2024-05-20T08:00:00.000000+00:00 heroku[web.1]: Starting process with command `gunicorn app.wsgi --log-file -`
2024-05-20T08:00:01.000000+00:00 app[web.1]: [2024-05-20 08:00:01 +0000] [3] [INFO] Starting gunicorn 19.1.1
2024-05-20T08:00:01.000100+00:00 app[web.1]: [2024-05-20 08:00:01 +0000] [3] [INFO] Listening at: http://0.0.0.0:29829 (3)
2024-05-20T08:00:01.000200+00:00 app[web.1]: [2024-05-20 08:00:01 +0000] [3] [INFO] Using worker: sync
2024-05-20T08:00:01.000300+00:00 app[web.1]: [2024-05-20 08:00:01 +0000] [9] [INFO] Booting worker with pid: 9
2024-05-20T08:00:01.000400+00:00 app[web.1]: [2024-05-20 08:00:01 +0000] [10] [INFO] Booting worker with pid: 10
2024-05-20T08:01:00.000000+00:00 app[web.1]: background worker heartbeat (noise: no boot line)
2024-05-20T08:30:00.000000+00:00 app[web.1]: background worker heartbeat (noise: no boot line)
2024-05-20T09:00:00.000000+00:00 app[web.1]: [2024-05-20 09:00:00 +0000] [3] [CRITICAL] WORKER TIMEOUT (pid:9)
2024-05-20T09:00:00.100000+00:00 app[web.1]: [2024-05-20 09:00:00 +0000] [11] [INFO] Booting worker with pid: 11
2024-05-20T09:10:00.000000+00:00 heroku[web.2]: Starting process with command `gunicorn app.wsgi -w 3 --threads 4 -k gthread`
2024-05-20T09:10:01.000000+00:00 app[web.2]: [2024-05-20 09:10:01 +0000] [4] [INFO] Starting gunicorn 21.2.0
2024-05-20T09:10:01.000100+00:00 app[web.2]: [2024-05-20 09:10:01 +0000] [4] [INFO] Using worker: gthread
2024-05-20T09:10:01.000200+00:00 app[web.2]: [2024-05-20 09:10:01 +0000] [7] [INFO] Booting worker with pid: 7
2024-05-20T09:10:01.000300+00:00 app[web.2]: [2024-05-20 09:10:01 +0000] [8] [INFO] Booting worker with pid: 8
2024-05-20T09:10:01.000400+00:00 app[web.2]: [2024-05-20 09:10:01 +0000] [9] [INFO] Booting worker with pid: 9
2024-05-20T09:20:00.000000+00:00 app[web.3]: Detected 512 MB available memory, 512 MB limit per process (WEB_MEMORY)
2024-05-20T09:20:00.000100+00:00 app[web.3]: Recommending WEB_CONCURRENCY=1
2024-05-20T09:30:00.000000+00:00 app[web.4]: Puma starting in single mode...
2024-05-20T09:30:00.000100+00:00 app[web.4]: *  Max threads: 5
2024-05-20T09:40:00.000000+00:00 app[web.5]: I, [2024-05-20T09:40:00.000000 #5]  INFO -- : worker=0 ready
2024-05-20T09:40:00.100000+00:00 app[web.5]: I, [2024-05-20T09:40:00.100000 #6]  INFO -- : worker=1 ready
2024-05-20T09:40:00.200000+00:00 app[web.5]: I, [2024-05-20T09:40:00.200000 #7]  INFO -- : worker=2 ready
2024-05-20T09:50:00.000000+00:00 heroku[web.6]: Starting process with command `gunicorn --worker-class eventlet -w 1 app:app --preload`
2024-05-20T10:00:00.000000+00:00 heroku[web.1]: Process running mem=600M(117.2%)
2024-05-20T10:00:00.000100+00:00 heroku[web.1]: Error R14 (Memory quota exceeded)
2024-05-20T10:00:05.000000+00:00 heroku[router]: at=info method=GET path="/" host=x.herokuapp.com request_id=a fwd="1.2.3.4" dyno=web.1 connect=1ms service=5ms status=200 bytes=10 protocol=https
"""  # noqa: E501


def test_configured_concurrency_servers(tmp_path) -> None:
    con, _ = ingest_lines(tmp_path, OTHERS)
    c = concurrency.configured_concurrency(con)
    assert c.select("dyno", "server", "worker_class", "workers", "threads", "capacity").rows() == [
        ("web.1", "gunicorn", "sync", 2, 1, 2),
        ("web.1", "gunicorn", None, None, 1, None),  # a respawn after WORKER TIMEOUT
        ("web.2", "gunicorn", "gthread", 3, 4, 12),
        ("web.3", None, None, 1, None, None),
        ("web.4", "puma", None, 1, 5, 5),
        ("web.5", "unicorn", None, 3, 1, 3),
        ("web.6", "gunicorn", "eventlet", 1, None, None),
    ]
    assert c["web_concurrency"].to_list() == [None, None, None, 1, None, None, None]
    # sizing takes the newest boot that logged workers, and infers the quota from R14 lines
    s = concurrency.sizing(con).row(0, named=True)
    assert (s["workers"], s["threads"], s["capacity"]) == (1, None, None)  # web.6: async
    assert (s["memory_quota_mb"], s["r14"], s["verdict"]) == (512.0, 1, "unknown")
    assert "eventlet workers are asynchronous" in s["reasoning"]


# ----- generated scenarios ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["healthy", "tune-b", "unseen-c"])
def test_scenario_configuration_from_boot_lines(b_scenario, name: str) -> None:
    s = b_scenario(name)
    app = s.truth["app"]
    con = s.connect()
    web = concurrency.sizing(con).filter(pl.col("process_type") == "web").row(0, named=True)
    assert (web["server"], web["workers"], web["threads"], web["config_source"]) == (
        "puma",
        app["web_concurrency"],
        app["web_threads"],
        "logs",
    )
    assert web["memory_quota_mb"] == app["dyno_sizes"]["web"]["memory_quota_mb"]
    assert web["dynos"] == s.truth["config"]["web_dynos"]
    assert (
        web["arrivals"] == s.truth["counts"]["requests"] - s.truth["counts"]["router_error"]["H10"]
    )
    flight = concurrency.in_flight(con)
    assert flight["arrivals"].sum() == web["arrivals"]
    assert flight.filter(pl.col("process_type") == "worker")[
        "memory_quota_mb"
    ].unique().to_list() == [app["dyno_sizes"]["worker"]["memory_quota_mb"]]


def test_healthy_scenario_fits(b_scenario) -> None:
    con = b_scenario("healthy").connect()
    web = concurrency.sizing(con).filter(pl.col("process_type") == "web").row(0, named=True)
    assert web["verdict"] == "ok"
    assert web["in_flight_p95"] <= web["capacity"]
    assert web["baseline_mb"] < 0.8 * web["memory_quota_mb"]
    assert findings(con) == []


# ----- real exports ----------------------------------------------------------------------------


@pytest.mark.parametrize("stem", REAL_LOGS)
def test_every_concurrency_analysis_runs_on_real_exports(b_real, stem: str) -> None:
    con = open_dataset(b_real(stem))
    concurrency.in_flight(con)
    s = concurrency.sizing(con)  # runs configured_concurrency and arrival levels
    assert set(s["verdict"].to_list()) <= {"ok", "unknown", "too_high_for_memory",
                                           "too_low_for_load", "both"}  # fmt: skip
    for f in findings(con, min_arrivals=20):
        assert f.kind == "concurrency" and f.summary


def test_real_gunicorn_boot_lines(b_real) -> None:
    con = open_dataset(b_real("src-010"))
    c = concurrency.configured_concurrency(con)
    assert set(c.select("server", "worker_class", "workers", "threads").rows()) == {
        ("gunicorn", "sync", 2, 1)
    }
    s = concurrency.sizing(con).row(0, named=True)
    assert (s["capacity"], s["arrivals"], s["verdict"]) == (2, 471, "ok")
    assert s["in_flight_p95"] <= 2
    eventlet = concurrency.sizing(open_dataset(b_real("src-012"))).row(0, named=True)
    assert (eventlet["worker_class"], eventlet["workers"], eventlet["verdict"]) == (
        "eventlet",
        1,
        "unknown",
    )
