"""Leak or warm-up, judged by age since boot across lifetimes and releases (`trend`): memory
series written directly as runtime-metrics lines, every lifetime booted in the log."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import polars as pl
import pytest

from forensics.analyses import trend
from forensics.analyses.lifetimes import lifetimes
from forensics.analyses.memory import memory_growth
from forensics.analyses.releases import memory_not_comparable, release_stats
from forensics.findings.memory import findings as memory_findings
from forensics.findings.releases import findings as release_findings
from forensics.store.views import open_dataset

Curve = Callable[[float, int, int], float]  # (age in hours, release number, dyno index) -> MB


def build(
    lines,
    deploys_h: list[float],
    curve: Curve,
    *,
    end_h: float,
    ptype: str = "worker",
    dynos: int = 1,
    gc_mb: float = 4.0,
    noise_mb: float = 1.5,
    quota: float = 1024.0,
    seed: int = 7,
    before_log_h: float | None = None,
) -> list[str]:
    """Release v1 at deploys_h[0], v2 at the next...; each deploy restarts every dyno (a new
    dyno_id), which boots 10 s later. Samples every 20 s: curve + GC sawtooth + noise.
    With `before_log_h`, the v1 dynos were already up when the log starts (no v1 release or
    boot lines), booted that many hours earlier."""
    rng = np.random.default_rng(seed)
    e, m = lines.event, lines.metric
    out = []
    ends = [*deploys_h[1:], end_h]
    for r, (t0, t1) in enumerate(zip(deploys_h, ends, strict=True), start=1):
        s0 = t0 * 3600
        before = r == 1 and before_log_h is not None
        if not before:
            out.append(e(s0, "app[api]", f"Release v{r} created by user dev@example.com"))
        for d in range(dynos):
            name = f"{ptype}.{d + 1}"
            src = f"heroku[{name}]"
            if r > 1:
                out.append(e(s0 + 1, src, "Restarting"))
                out.append(e(s0 + 2, src, "State changed from up to starting"))
                out.append(e(s0 + 3, src, "Stopping all processes with SIGTERM"))
                out.append(e(s0 + 5, src, "Process exited with status 143"))
            if not before:
                out.append(e(s0 + 6, src, "Starting process with command `bin/run`"))
                out.append(e(s0 + 10, src, "State changed from starting to up"))
            boot = s0 + 10 if not before else s0 - (before_log_h or 0.0) * 3600
            gc_period, phase = 300.0, rng.uniform(0, 300)
            for t in np.arange(max(boot, s0) + 20, t1 * 3600 - 1, 20.0):
                age = (t - boot) / 3600
                saw = gc_mb * (((t + phase) % gc_period) / gc_period)
                rss = curve(age, r, d) + saw + rng.normal(0, noise_mb)
                out.append(m(float(t), name, f"r{r}d{d}", rss, quota=quota))
    return out


def judged(ds) -> tuple[pl.DataFrame, list, list]:
    con = open_dataset(ds)
    lt = lifetimes(con)
    g = memory_growth(con, lifetimes=lt)
    mem = memory_findings(con, lifetimes=lt, growth=g)
    rel = release_findings(con, lifetimes=lt, growth=g)
    return g, mem, rel


def kinds(found: list, kind: str) -> dict[str, object]:
    return {f.release: f for f in found if f.kind == kind}


def warmup(base: float, size: float, tau_h: float) -> Callable[[float], float]:
    return lambda age: base + size * (1 - math.exp(-age / tau_h))


TAUS = {1: 8.0, 2: 6.0, 3: 10.0, 4: 7.0, 5: 9.0}  # one time constant per release, 6-10 h


def test_slow_warmup_deployed_every_few_hours_is_not_a_leak(dataset_from_lines, lines):
    """(a) every lifetime follows 250 + 600 (1 - exp(-age/tau)), tau 6-10 h, deploys every 3-4
    h: ~60-100 MB/h and still rising at every restart, on every release. Not a leak."""
    deploys = [0.0, 3.5, 7.0, 10.5, 14.0]
    out = build(lines, deploys, lambda a, r, d: warmup(250, 600, TAUS[r])(a), end_h=17.5, dynos=2)
    g, mem, rel = judged(dataset_from_lines(out, "slow-warmup"))
    assert (g["slope_mb_h"] > 40).all()  # grows fast in every lifetime
    assert not kinds(mem, "memory_leak")
    assert not kinds(rel, "release_regression")
    cls = dict(zip(g["release"], g["classification"], strict=False))
    assert cls["v1"] == "inconclusive"  # no earlier release, 3.5 h: cannot tell yet
    later = g.filter(pl.col("release") != "v1")
    assert (later["classification"] == "warmup").all(), later["judgement"].to_list()
    assert all("as earlier releases" in j for j in later["judgement"])
    # the first release is said to be inconclusive, with what would settle it
    info = kinds(mem, "memory_growth")
    assert set(info) == {"v1"} and info["v1"].severity == "info"
    assert "a lifetime longer than 5 h" in info["v1"].summary
    assert info["v1"].evidence["settle"] == ["a lifetime longer than 5 h"]
    # v2 against v1: nothing measured on v1, so not comparable (and never "was 0.0 MB/h")
    nc = memory_not_comparable(release_stats(open_dataset(dataset_from_lines(out, "again"))))
    assert nc.select("release", "previous").rows() == [("v2", "v1")]
    assert nc["reason"][0].startswith("not comparable: v1 gave no lifetime longer than 5 h")


def test_leak_introduced_by_v3_is_found_on_v3_only(dataset_from_lines, lines):
    """(b) flat releases v1, v2; v3 leaks 15 MB/h; v4 fixes it."""

    def curve(a: float, r: int, d: int) -> float:
        return warmup(280, 20, 0.1)(a) + (15 * a if r == 3 else 0.0)

    out = build(lines, [0.0, 4.0, 7.5, 11.5], curve, end_h=15.0, ptype="web", dynos=2)
    g, mem, rel = judged(dataset_from_lines(out, "leak-v3"))
    assert set(kinds(mem, "memory_leak")) == {"v3"}
    v3 = g.filter(pl.col("release") == "v3")
    assert (v3["classification"] == "leak").all(), v3["judgement"].to_list()
    assert set(kinds(rel, "release_regression")) == {"v3"}
    reg = kinds(rel, "release_regression")["v3"]
    mem_reg = [r for r in reg.evidence["regressions"] if r["metric"] == "memory_slope_mb_h"]
    assert len(mem_reg) == 1 and "at the same age" in mem_reg[0]["test"]
    assert all("earlier releases" in j for j in v3["judgement"])
    assert (v3["ref_slope_mb_h"].abs() < 2).all()  # v1, v2 were flat at the same age
    assert (g.filter(pl.col("release") != "v3")["classification"] != "leak").all()


def test_leak_from_the_first_release_with_long_lifetimes(dataset_from_lines, lines):
    """(c) one release, a 14 h lifetime growing 12 MB/h from the start: its own shape says
    leak (it does not bend as a warm-up would within 5 h)."""
    out = build(lines, [0.0], lambda a, r, d: 280 + 12 * a, end_h=14.0, ptype="web")
    g, mem, _ = judged(dataset_from_lines(out, "leak-first"))
    assert g["classification"].to_list() == ["leak"], g["judgement"].to_list()
    assert set(kinds(mem, "memory_leak")) == {"v1"}


@pytest.mark.parametrize("jump_h", [1.5, 2.5, 3.5])
def test_one_bloat_step_is_not_a_leak(dataset_from_lines, lines, jump_h):
    """(d) flat, one jump of 120 MB (a bloat request), flat again, over 5 h. Early, the shape
    alone says it stopped growing (plateau); late, the robust slope stays flat (healthy); in
    the middle it looks like growth until the step test."""
    out = build(
        lines, [0.0], lambda a, r, d: 300 + (120 if a >= jump_h else 0), end_h=5.0, ptype="web"
    )
    g, mem, _ = judged(dataset_from_lines(out, "bloat"))
    want = {1.5: ["plateau"], 2.5: ["step"], 3.5: ["healthy"]}[jump_h]
    assert g["classification"].to_list() == want, g["judgement"].to_list()
    assert not kinds(mem, "memory_leak")


def test_twenty_minute_lifetimes_are_inconclusive(dataset_from_lines, lines):
    """(e) deploys every 20 min, growing 60 MB/h: too short to measure, said so."""
    deploys = [k / 3 for k in range(12)]
    out = build(lines, deploys, lambda a, r, d: 250 + 60 * a, end_h=4.0)
    g, mem, rel = judged(dataset_from_lines(out, "short"))
    assert set(g["classification"]) <= {"insufficient", "inconclusive"}
    assert not kinds(mem, "memory_leak") and not kinds(rel, "release_regression")
    info = list(kinds(mem, "memory_growth").values())
    assert info and all(f.evidence["verdict"] == "inconclusive" for f in info)
    assert all("a lifetime longer than" in f.summary for f in info)


def test_fast_warmup_plateaus(dataset_from_lines, lines):
    """(f) tau 1 h: the cache fills within each 4 h lifetime and stays."""
    out = build(lines, [0.0, 4.0, 8.0], lambda a, r, d: warmup(250, 150, 1.0)(a), end_h=12.0)
    g, mem, rel = judged(dataset_from_lines(out, "fast-warmup"))
    assert set(g["classification"]) == {"plateau"}, g["judgement"].to_list()
    assert not kinds(mem, "memory_leak") and not kinds(rel, "release_regression")


def test_gc_sawtooth_on_a_flat_level_is_not_a_leak(dataset_from_lines, lines):
    """(g) flat 300 MB with a 40 MB GC sawtooth and noise, 8 h."""
    out = build(lines, [0.0], lambda a, r, d: 300.0, end_h=8.0, gc_mb=40, noise_mb=4, ptype="web")
    g, mem, _ = judged(dataset_from_lines(out, "sawtooth"))
    assert g["classification"].to_list() in (["healthy"], ["spike"])
    assert not kinds(mem, "memory_leak")


def test_stair_leak_is_a_leak(dataset_from_lines, lines):
    """Growth in steps of 15 MB every hour (not one step): a leak, on v2 only."""

    def curve(a: float, r: int, d: int) -> float:
        return 300 + (15 * math.floor(a) if r == 2 else 0.0)

    out = build(lines, [0.0, 4.0], curve, end_h=9.5, ptype="web", dynos=2)
    g, mem, _ = judged(dataset_from_lines(out, "stairs"))
    v2 = g.filter(pl.col("release") == "v2")
    assert (v2["classification"] == "leak").all(), v2["judgement"].to_list()
    assert set(kinds(mem, "memory_leak")) == {"v2"}


def test_warmup_with_a_leak_on_top_is_a_leak(dataset_from_lines, lines):
    """v1 warms up (tau 1 h) and levels off; v2 warms up the same way and leaks 12 MB/h."""

    def curve(a: float, r: int, d: int) -> float:
        return warmup(250, 150, 0.75)(a) + (12 * a if r == 2 else 0.0)

    out = build(lines, [0.0, 5.0], curve, end_h=10.0, dynos=2)
    g, mem, _ = judged(dataset_from_lines(out, "warm-leak"))
    v2 = g.filter(pl.col("release") == "v2")
    assert (v2["classification"] == "leak").all(), v2["judgement"].to_list()
    assert set(kinds(mem, "memory_leak")) == {"v2"}
    assert (g.filter(pl.col("release") == "v1")["classification"] == "plateau").all()


@pytest.mark.parametrize(
    ("y", "p_below"),
    [(np.arange(10.0), 0.001), (np.zeros(10), None), (np.array([3.0, 1, 2]), None)],
)
def test_mann_kendall(y, p_below):
    p = trend.mann_kendall_p(y)
    assert (p < p_below) if p_below else (p >= 0.5)


def test_sen_slope_ignores_an_outlier():
    x = np.arange(20.0)
    y = 2 * x
    y[5] = 500
    assert trend.sen_slope(x, y) == pytest.approx(2.0)


def test_previous_release_too_short_is_not_comparable(dataset_from_lines, lines):
    """v1 lives 40 min (no slope), v2 leaks 12 MB/h for 10 h: v2 is a leak, but its memory
    growth is not a regression "against 0.0 MB/h": v1 measured nothing."""
    out = build(lines, [0.0, 40 / 60], lambda a, r, d: 280 + 12 * a, end_h=10.7, ptype="web")
    ds = dataset_from_lines(out, "short-prev")
    _, mem, rel = judged(ds)
    assert set(kinds(mem, "memory_leak")) == {"v2"}
    regs = [r for f in rel for r in f.evidence["regressions"]]
    assert not [r for r in regs if r["metric"] == "memory_slope_mb_h"]
    nc = memory_not_comparable(release_stats(open_dataset(ds)))
    assert nc.select("release", "previous", "process_type").rows() == [("v2", "v1", "web")]
    assert nc["reason"][0].startswith("not comparable: v1 gave no lifetime longer than 1.25 h")


def test_leak_that_predates_the_log_is_a_leak_on_every_release(dataset_from_lines, lines):
    """Every release leaks 30 MB/h, from before the log: the dynos up when it starts (booted
    6 h earlier) are ~180 MB higher and still rise as fast as the 2 h lifetimes after each
    deploy. Each release alone grows as the one before at the same age (what a slow cache
    does too); that the growth does not slow down higher up is what tells the leak."""
    out = build(
        lines, [0.0, 2.0, 4.0, 6.0], lambda a, r, d: 280 + 30 * a, end_h=8.0, ptype="web",
        dynos=2, before_log_h=6.0,
    )  # fmt: skip
    g, mem, _ = judged(dataset_from_lines(out, "leak-before-log"))
    assert set(kinds(mem, "memory_leak")) == {"v1", "v2", "v3", "v4"}
    assert (g["classification"] == "leak").all(), g["judgement"].to_list()
    young = g.filter(~pl.col("started_before_log"))
    assert all("does not slow down higher up" in j or "judged to leak" in j
               for j in young["judgement"])  # fmt: skip


@pytest.mark.parametrize("before_h", [3.0, 10.0])
def test_slow_warmup_that_predates_the_log_is_not_a_leak(dataset_from_lines, lines, before_h):
    """The same cache (tau 8 h) on every release, the first dynos booted 3 or 10 h before the
    log: higher up they rise more slowly (a cache filling up), so nothing leaks."""
    out = build(
        lines, [0.0, 2.0, 4.0, 6.0], lambda a, r, d: warmup(250, 600, 8.0)(a), end_h=8.0,
        dynos=2, before_log_h=before_h,
    )  # fmt: skip
    g, mem, rel = judged(dataset_from_lines(out, f"warm-before-log-{before_h:g}"))
    assert (g.filter(~pl.col("started_before_log"))["slope_mb_h"] > 40).all()
    assert not kinds(mem, "memory_leak"), g["judgement"].to_list()
    assert not (g["classification"] == "leak").any()
    assert not kinds(rel, "release_regression")


def test_short_lifetimes_past_where_the_previous_release_levelled_off(dataset_from_lines, lines):
    """v1 (up before the log) is flat at 300 MB; v2 and v3 grow 60 MB/h in 1.5 h lifetimes,
    ending ~90 MB above it: shorter than a lifetime's own shape needs, but the earlier
    release is the comparison, so each is a leak."""

    def curve(a: float, r: int, d: int) -> float:
        return 300.0 + (60 * a if r > 1 else 0.0)

    out = build(lines, [0.0, 2.0, 3.5], curve, end_h=5.0, ptype="web", dynos=2, before_log_h=12.0)
    g, mem, _ = judged(dataset_from_lines(out, "short-past-flat"))
    assert set(kinds(mem, "memory_leak")) == {"v2", "v3"}
    later = g.filter(pl.col("release") != "v1")
    assert (later["classification"] == "leak").all(), later["judgement"].to_list()
    assert all("levelled off" in j for j in later["judgement"])


def test_dyno_killed_by_r15_and_climbing_again_leaks(dataset_from_lines, lines):
    """web.1 is killed for memory (R15 at 1,100 MB) as the log starts, boots and climbs 40 MB/h
    again, linear, for 2 h on v1 and 2 h on v2: the R15'd lifetime above is where that line
    goes. The same R15 on another dyno says nothing about web.1 (see test_memory)."""
    e, m = lines.event, lines.metric
    src = "heroku[web.1]"
    out = [
        m(1, "web.1", "old", 1090.0),
        e(2, src, "Process running mem=1100M(214.8%)"),
        e(2.01, src, "Error R15 (Memory quota vastly exceeded)"),
        e(2.02, src, "Stopping process with SIGKILL"),
        e(2.3, src, "Process exited with status 137"),
        e(2.4, src, "State changed from up to crashed"),
        e(4, src, "State changed from crashed to starting"),
    ]
    body = build(lines, [0.0, 2.0], lambda a, r, d: 280 + 40 * a, end_h=4.0, ptype="web")
    # v1's boot lines come from `build`: drop its release line (v1 was already running)
    out += [x for x in body if "Release v1 created" not in x]
    g, mem, _ = judged(dataset_from_lines(out, "r15-climb"))
    young = g.filter(pl.col("samples") > 1)  # the two lifetimes after the R15
    assert young.height == 2
    assert (young["classification"] == "leak").all(), young["judgement"].to_list()
    assert "R15" in young["judgement"][0]
    assert set(kinds(mem, "memory_leak")) >= {"v2"}
