"""Memory model of a dyno lifetime: warm-up, page cache, GC sawtooth, noise, leak, spikes, swap."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .timefmt import US

TICK_US = 20 * US  # log-runtime-metrics period
PAGES_PER_MB = 256  # 4 KiB pages


@dataclass
class MemoryModel:
    """Per-lifetime parameters plus the state carried from one segment to the next."""

    quota: float
    base: float  # steady resident memory of this process type (MB)
    boot: float  # resident memory right after boot
    warm_s: float  # warm-up time constant
    cache_max: float
    cache_s: float
    gc_period_s: float
    gc_amp: float
    gc_phase_s: float
    noise: float
    plateau: float  # worker cache that grows then saturates
    plateau_s: float
    leak_mb: float  # retained per leak-route request (0: no leak in this lifetime)
    transient_mb: float
    pg_rate: float  # pages/s of churn for pgpgin/pgpgout
    pg0: float
    leak_count: int = 0
    trans_start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    trans_end: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    load: tuple[float, float, float] = (0.05, 0.05, 0.05)
    pgpgin_last: int = 0
    max_total: float = 0.0


def new_model(
    rng: np.random.Generator,
    ptype: str,
    quota: float,
    leak_mb: float,
    transient_mb: float,
    plateau_mb: float,
) -> MemoryModel:
    """Draw the parameters of a fresh lifetime of a `web` or `worker` process."""
    base = float(rng.normal(300.0, 12.0) if ptype == "web" else rng.normal(230.0, 10.0))
    return MemoryModel(
        quota=quota,
        base=base,
        boot=base * float(rng.uniform(0.35, 0.5)),
        warm_s=float(rng.uniform(150, 300)),
        cache_max=float(rng.uniform(12, 28) if ptype == "web" else rng.uniform(20, 45)),
        cache_s=float(rng.uniform(5400, 10800)),
        gc_period_s=float(rng.uniform(150, 420)),
        gc_amp=base * float(rng.uniform(0.04, 0.07)),
        gc_phase_s=float(rng.uniform(0, 400)),
        noise=float(rng.uniform(0.8, 1.8)),
        plateau=plateau_mb if ptype == "worker" else 0.0,
        plateau_s=float(rng.uniform(3600, 7200)),
        leak_mb=leak_mb,
        transient_mb=transient_mb if ptype == "web" else 0.0,
        pg_rate=float(rng.uniform(1.0, 5.0)),
        pg0=float(rng.uniform(20_000, 60_000)),
    )


@dataclass
class Samples:
    """Memory samples (MB, two decimals as cents) and load at a run of metric ticks."""

    rss_c: np.ndarray
    cache_c: np.ndarray
    swap_c: np.ndarray
    total_c: np.ndarray
    pgpgin: np.ndarray
    pgpgout: np.ndarray
    load: np.ndarray  # (n, 3)


def sample(
    m: MemoryModel,
    rng: np.random.Generator,
    start_us: int,
    ticks: np.ndarray,
    leak_arrivals: np.ndarray,
    trans_start: np.ndarray,
    trans_end: np.ndarray,
    busy: np.ndarray,
) -> Samples:
    """Memory at `ticks` (sorted us) given this segment's leak and transient requests; pure."""
    age = (ticks - start_us) / US
    warm = m.boot + (m.base - m.boot) * (1 - np.exp(-age / m.warm_s))
    saw = m.gc_amp * (((age + m.gc_phase_s) / m.gc_period_s) % 1.0)
    rss = warm + saw + rng.normal(0.0, m.noise, len(ticks))
    rss += m.plateau * (1 - np.exp(-age / m.plateau_s))
    if m.leak_mb:
        held = m.leak_count + np.searchsorted(leak_arrivals, ticks, side="right")
        rss += m.leak_mb * held
    if m.transient_mb:
        starts = np.sort(np.concatenate([m.trans_start, trans_start]))
        ends = np.sort(np.concatenate([m.trans_end, trans_end]))
        active = np.searchsorted(starts, ticks, "right") - np.searchsorted(ends, ticks, "right")
        rss += m.transient_mb * active
    cache = m.cache_max * (1 - np.exp(-age / m.cache_s)) + np.abs(rng.normal(0, 0.4, len(ticks)))
    demand = rss + cache
    soft = 0.95 * m.quota
    swap = np.where(demand > soft, (demand - soft) * 0.35, 0.0)
    rss_c = np.round((rss - swap) * 100).astype(np.int64)
    cache_c = np.round(cache * 100).astype(np.int64)
    swap_c = np.round(swap * 100).astype(np.int64)
    total_c = rss_c + cache_c + swap_c
    pgpgout = (m.pg0 + m.pg_rate * age).astype(np.int64)
    pgpgin = (
        np.maximum.accumulate(np.maximum(pgpgout + rss_c * PAGES_PER_MB // 100, m.pgpgin_last))
        if len(ticks)
        else pgpgout
    )
    return Samples(rss_c, cache_c, swap_c, total_c, pgpgin, pgpgout, _loads(m, rng, busy))


def _loads(m: MemoryModel, rng: np.random.Generator, busy: np.ndarray) -> np.ndarray:
    """1/5/15-minute load averages as exponentially damped busy-thread counts."""
    out = np.empty((len(busy), 3))
    l1, l5, l15 = m.load
    raw = 0.02 + busy + np.abs(rng.normal(0, 0.03, len(busy)))
    a1, a5, a15 = (float(np.exp(-20 / s)) for s in (60, 300, 900))
    for i, r in enumerate(raw.tolist()):
        l1 = l1 * a1 + r * (1 - a1)
        l5 = l5 * a5 + r * (1 - a5)
        l15 = l15 * a15 + r * (1 - a15)
        out[i] = (l1, l5, l15)
    return out


def commit(
    m: MemoryModel,
    s: Samples,
    n: int,
    t_end: int,
    leak_kept: int,
    trans_start: np.ndarray,
    trans_end: np.ndarray,
) -> None:
    """Carry state past the first n samples of `s` (those before t_end) into the model."""
    m.leak_count += leak_kept
    if m.transient_mb:
        starts = np.concatenate([m.trans_start, trans_start])
        ends = np.concatenate([m.trans_end, trans_end])
        live = ends > t_end
        m.trans_start, m.trans_end = starts[live], ends[live]
    if n:
        m.load = tuple(s.load[n - 1].tolist())
        m.pgpgin_last = int(s.pgpgin[n - 1])
        m.max_total = max(m.max_total, float(s.total_c[:n].max()) / 100)
