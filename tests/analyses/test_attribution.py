"""Route attribution: a hand-made app where one rare route retains memory and a frequent one
allocates transiently, the generator's ground truth, and every real export."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from forensics.analyses.attribution import route_attribution
from forensics.store.views import open_dataset, query

HOURS = 6


def _app(lines, retain_mb: float, seed: int) -> list[str]:
    """Two web dynos for six hours. GET /orders/:id (~2/min/dyno) keeps `retain_mb` per
    request; GET /search (~18/min) keeps nothing; POST /reports (~0.6/min) holds 30 MB for a
    minute. Memory is sampled every 20 s; the traffic follows a daily-like swell."""
    rng = np.random.default_rng(seed)
    out = [lines.event(0, "app[api]", "Release v7 created by user dev@example.com")]
    seconds = np.arange(1, HOURS * 3600)
    swell = 1 + 0.5 * np.sin(seconds / 3600 / HOURS * np.pi)
    for dyno in ("web.1", "web.2"):
        arrivals = {}
        for path, method, per_min in (
            ("/orders/{}", "GET", 2.0),
            ("/search", "GET", 18.0),
            ("/reports", "POST", 0.6),
        ):
            hit = rng.random(len(seconds)) < per_min / 60 * swell
            arrivals[path] = seconds[hit]
            for t in seconds[hit].tolist():
                p = path.format(int(rng.integers(1, 10_000)))
                out.append(lines.router(t + 0.5, dyno, p, method=method))
        kept = arrivals["/orders/{}"]
        held = arrivals["/reports"]
        for t in range(1, HOURS * 3600, 20):
            retained = retain_mb * np.searchsorted(kept, t, side="right")
            active = np.searchsorted(held, t, side="right") - np.searchsorted(held, t - 60)
            out.append(lines.metric(t, dyno, f"{dyno}x", 300 + retained + 30 * active))
    return out


def test_hand_built_leak_is_found_and_ranked_first(dataset_from_lines, lines):
    con = open_dataset(dataset_from_lines(_app(lines, 0.2, seed=7), "leaky"))
    a = route_attribution(con)
    top = a.filter(pl.col("rank") == 1).row(0, named=True)
    assert (top["method"], top["route"]) == ("GET", "/orders/:id")
    assert top["mb_per_request"] == pytest.approx(0.2, abs=0.005)
    assert top["leak"] and top["significant"] and top["release_grows"]
    assert top["confidence"] >= 0.95 and top["ci_low"] > 0.15
    assert (top["release"], top["process_type"], top["lifetimes"]) == ("v7", "web", 2)
    counted = a.filter(pl.col("route") == "/orders/:id")["requests"].item()
    served = query(con, "SELECT count(*) AS n FROM requests WHERE route = '/orders/:id'")
    assert 0.95 * served["n"].item() <= counted <= served["n"].item()
    others = a.filter(pl.col("route") != "/orders/:id")
    assert (others["mb_per_request"] == 0).all() and not others["leak"].any()
    # the frequent route that allocates transiently gets nothing retained
    assert a.filter(pl.col("route") == "/reports")["mb_per_request"].item() == 0


def test_hand_built_no_growth_blames_nobody(dataset_from_lines, lines):
    con = open_dataset(dataset_from_lines(_app(lines, 0.0, seed=8), "flat"))
    a = route_attribution(con)
    assert a.height > 0
    assert not a["release_grows"].any() and not a["leak"].any()
    assert (a["mb_per_request"] == 0).all()


def test_leaking_route_ranks_first_in_scenarios(scenario):
    for name in ("leak_v3", "fixed_v4", "lifecycle"):
        sc = scenario(name)
        a = sc.attribution()
        truth = sc.truth["leak"]
        leaking = a.filter(pl.col("leak"))
        assert leaking.height, name
        # every release with a leaking route blames the true one, and first
        for rel in leaking["release"].unique().to_list():
            first = a.filter(pl.col("release") == rel, pl.col("rank") == 1).row(0, named=True)
            assert (first["method"], first["route"]) == (truth["method"], truth["route"])
            assert first["mb_per_request"] == pytest.approx(truth["mb_per_request"], rel=0.25)
        # and no other route is called a leak
        assert set(leaking["route"]) == {truth["route"]}
        # releases before the leak blame nothing
        before = int(truth["from_release"][1:])
        early = a.filter(pl.col("release").str.slice(1).cast(pl.Int64) < before)
        assert not early["leak"].any()


def test_every_real_export(real_results, real_log):
    a = real_results(real_log)["attribution"]
    assert {"route", "mb_per_request", "confidence", "leak", "rank"} <= set(a.columns)
    assert not a["leak"].any()  # none of them has memory samples that grow


def test_f_critical_value_is_scipy_f_ppf() -> None:
    from scipy.stats import f

    from forensics.analyses.attribution import _f_crit

    for m in (1, 2, 5, 17, 120):
        for df in (1, 2, 3, 10, 57, 400, 10_000):
            assert _f_crit(m, df) == pytest.approx(float(f.ppf(1 - 0.01 / m, 1, df)), rel=1e-9)
