"""Releases compared: exact statistics and regressions on a hand-made log, memory regressions
against the generator's ground truth, and every real export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from forensics.analyses.releases import release_regressions, release_stats
from forensics.findings.releases import findings
from forensics.store.views import open_dataset, query


def _restart(lines, t: float) -> list[str]:
    e, h = lines.event, "heroku[web.1]"
    return [
        e(t, h, "Restarting"),
        e(t + 0.5, h, "State changed from up to starting"),
        e(t + 1, h, "Stopping all processes with SIGTERM"),
        e(t + 2, h, "Process exited with status 143"),
        e(t + 5, h, "Starting process with command `bundle exec puma`"),
        e(t + 8, h, "State changed from starting to up"),
    ]


@pytest.fixture
def two_releases(dataset_from_lines, lines):
    """v1 (before the log's first release, one request), v2 for an hour: GET /x in 100 ms
    with 3 errors, v3 for an hour: GET /x in 250 ms, 20 x 503 and 10 x H12, 12 R14s."""
    r, e = lines.router, lines.event
    out = [r(-100, "web.1", "/x", service=100)]
    out += [e(0, "app[api]", "Release v2 created by user dev@example.com"), *_restart(lines, 1)]
    for i in range(300):
        out.append(r(20 + i * 10, "web.1", "/x", service=100, status=500 if i < 3 else 200))
    for i in range(100):
        out.append(r(25 + i * 30, "web.1", "/y", service=50))
    out += [e(3600, "app[api]", "Release v3 created by user dev@example.com")]
    out += _restart(lines, 3601)
    for i in range(300):
        if i < 10:
            out.append(r(3620 + i * 10, "web.1", "/x", service=30000, status=503, code="H12"))
        else:
            out.append(r(3620 + i * 10, "web.1", "/x", service=250, status=503 if i < 30 else 200))
    for i in range(100):
        out.append(r(3625 + i * 30, "web.1", "/y", service=50))
    for i in range(12):
        out.append(e(4000 + i * 60, "heroku[web.1]", "Error R14 (Memory quota exceeded)"))
    out.append(r(7200, "web.1", "/y", service=50))
    return open_dataset(dataset_from_lines(out, "releases"))


def test_hand_built_stats_exact(two_releases, lines, by_key):
    st = release_stats(two_releases)
    rows = {k[0]: v for k, v in by_key(st, "release").items()}
    assert list(st["release"]) == ["v1", "v2", "v3"]
    v1, v2, v3 = rows["v1"], rows["v2"], rows["v3"]
    assert v1["inferred"] and v1["requests"] == 1 and v1["source_file"] is None
    assert not v2["inferred"] and v2["start"] == lines.at(0) and v2["end"] == lines.at(3600)
    assert v2["line_no"] == 2  # the `Release v2` line, after the first request
    assert (v2["requests"], v2["errors_5xx"], v2["h12"], v2["r14"]) == (400, 3, 0, 0)
    assert (v3["requests"], v3["errors_5xx"], v3["h12"], v3["r14"]) == (401, 30, 10, 12)
    assert v2["p50_ms"] == 100 and v3["p50_ms"] == 250
    assert v2["error_rate"] == pytest.approx(3 / 400) and v3["h12_rate"] == pytest.approx(10 / 401)
    assert v3["hours"] == pytest.approx(1.0)
    routes = {(x["method"], x["route"]): x for x in v3["routes"]}
    assert routes[("GET", "/x")]["requests"] == 300 and routes[("GET", "/x")]["p50_ms"] == 250
    assert (v2["lifetimes"], v3["lifetimes"]) == (1, 1)


def test_hand_built_regressions_exact(two_releases):
    reg = release_regressions(two_releases)
    got = {(r["release"], r["metric"], r["route"]) for r in reg.iter_rows(named=True)}
    assert got == {
        ("v3", "p50_ms", "GET /x"),
        ("v3", "p95_ms", "GET /x"),
        ("v3", "error_rate", None),
        ("v3", "h12_rate", None),
        ("v3", "r14_per_hour", None),
    }
    p50 = reg.filter(reg["metric"] == "p50_ms").row(0, named=True)
    assert (p50["previous"], p50["previous_value"], p50["value"]) == ("v2", 100, 250)
    err = reg.filter(reg["metric"] == "error_rate").row(0, named=True)
    assert err["previous_value"] == pytest.approx(3 / 400) and err["value"] == pytest.approx(
        30 / 401
    )
    assert err["p_value"] < 0.001
    r14 = reg.filter(reg["metric"] == "r14_per_hour").row(0, named=True)
    assert r14["previous_value"] == 0 and r14["p_value"] < 0.01

    found = findings(two_releases)
    assert len(found) == 1
    f = found[0]
    assert (f.kind, f.release, f.severity) == ("release_regression", "v3", "warning")
    assert "p50 service time of GET /x 250 ms (was 100 ms)" in f.summary
    assert f.evidence["previous"] == "v2" and len(f.evidence["regressions"]) == 5
    log = two_releases_log(two_releases)
    v3_line = next(i + 1 for i, x in enumerate(log) if "Release v3 created" in x)
    first_v3_request = next(i + 1 for i, x in enumerate(log) if i + 1 > v3_line and "router" in x)
    assert [(s.first_line, s.last_line) for s in f.sources] == [
        (v3_line, v3_line),
        (first_v3_request, len(log)),
    ]
    f.to_json()


def two_releases_log(con) -> list[str]:
    """The lines of the hand-made log behind a connection (its only input file)."""
    path = query(con, "SELECT DISTINCT source_file AS f FROM requests")["f"][0]
    return Path(path).read_text().splitlines()


def test_no_releases_no_rows(dataset_from_lines, lines):
    con = open_dataset(dataset_from_lines([lines.router(0, "web.1", "/")]))
    assert release_stats(con).height == 0
    assert release_regressions(con).height == 0
    assert findings(con) == []


def test_memory_regression_is_the_leaking_release(scenario):
    """The release that starts leaking regresses on memory; a later release that keeps
    leaking does not regress again, and the fix is not a regression."""
    for name, release in (("leak_v3", "v3"), ("fixed_v4", "v2"), ("lifecycle", "v2")):
        sc = scenario(name)
        assert sc.truth["leak"]["from_release"] == release
        memory = [
            f
            for f in sc.release_findings()
            if any(r["metric"] == "memory_slope_mb_h" for r in f.evidence["regressions"])
        ]
        assert [f.release for f in memory] == [release], name
        assert memory[0].process_type == "web"


def test_healthy_has_no_memory_regression(scenario):
    sc = scenario("healthy")
    st = sc.release_stats()
    assert st.height == len(sc.truth["releases"])
    assert (st["leak_lifetimes"] == 0).all()
    for f in sc.release_findings():
        assert all(r["metric"] != "memory_slope_mb_h" for r in f.evidence["regressions"])


def test_every_real_export(real_results, real_log):
    res = real_results(real_log)
    st = res["release_stats"]
    assert "p95_ms" in st.columns
    if st.height:
        assert st["start"].is_sorted()
    assert "metric" in res["regressions"].columns
    for f in res["release_findings"]:
        assert f.kind == "release_regression" and f.summary
        f.to_json()


def test_binomial_p_value_is_scipy_binomtest() -> None:
    from scipy.stats import binomtest

    from forensics.analyses.releases import _binom_greater

    rng = np.random.default_rng(7)
    for _ in range(2000):
        n = int(rng.integers(1, 3000))
        k = int(rng.integers(1, n + 1))
        p = float(rng.choice([rng.random(), 0.5, 1 / 3, 1e-9, 1 - 1e-9]))
        ref = binomtest(k, n, p, alternative="greater").pvalue
        assert _binom_greater(k, n, p) == pytest.approx(ref, rel=1e-9, abs=1e-300), (k, n, p)
