"""Request arrivals (Poisson, diurnal), routing over the up web dynos, latencies, router codes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forensics import heroku

from .catalog import ROUTES
from .timefmt import HOUR, US

OK, H10, H12, H13, H27, H14 = 0, 1, 2, 3, 4, 5
CODE_NAMES = {H10: "H10", H12: "H12", H13: "H13", H27: "H27", H14: "H14"}
BIN_US = 10 * US

_WEIGHTS = np.array([r.weight for r in ROUTES])
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
_MU = np.log(np.array([r.median_ms for r in ROUTES]))
_SIGMA = np.array([r.sigma for r in ROUTES])
_BYTES = np.array([r.bytes_median for r in ROUTES], dtype=np.float64)
_OK = np.array([r.ok_status for r in ROUTES])
_IS_ACTION = np.array([r.action not in (None, "probe") for r in ROUTES])
_IS_ASSET = np.array([r.template.startswith("/assets/") for r in ROUTES])
_NOT_FOUNDABLE = np.array([r.template in ("/users/:id", "/products/:id") for r in ROUTES])
_IS_POST = np.array([r.method in ("POST", "PATCH") for r in ROUTES])


@dataclass
class H12Burst:
    """Requests to `route` whose timeout would be logged in [start, end) time out with this odds."""

    route: int
    start: int
    end: int
    fraction: float


@dataclass
class Requests:
    """One segment of requests as parallel arrays, sorted by arrival."""

    arrive: np.ndarray  # us
    route: np.ndarray  # index into ROUTES
    dyno: np.ndarray  # index into the up-dyno list, -1 when none was up (H10)
    connect: np.ndarray  # ms
    service: np.ndarray  # ms as logged by the router
    duration: np.ndarray  # us the app really spent (longer than service for H12)
    status: np.ndarray  # as the router logs it
    app_status: np.ndarray  # as the app logs it (differs for H12, H13, H27)
    nbytes: np.ndarray
    code: np.ndarray  # OK, H10, H12, H13, H27
    logged: np.ndarray  # us of the router line

    def take(self, mask: np.ndarray) -> Requests:
        """The subset selected by a boolean mask or index array."""
        return Requests(**{k: v[mask] for k, v in self.__dict__.items()})

    def __len__(self) -> int:
        return len(self.arrive)


def diurnal(us: np.ndarray) -> np.ndarray:
    """Traffic multiplier with mean 1: peak mid-afternoon UTC, trough before dawn."""
    hour = (us % (24 * HOUR)) / HOUR
    return 1.0 + 0.55 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)


def arrivals(rng: np.random.Generator, t0: int, t1: int, rps: float) -> np.ndarray:
    """Sorted Poisson arrival times in [t0, t1) with the diurnal rate."""
    edges = np.arange(t0, t1, BIN_US, dtype=np.int64)
    lengths = np.minimum(edges + BIN_US, t1) - edges
    mids = edges + lengths // 2
    counts = rng.poisson(rps * diurnal(mids) * lengths / US)
    starts = np.repeat(edges, counts)
    spans = np.repeat(lengths, counts)
    return np.sort(starts + (rng.random(len(starts)) * spans).astype(np.int64))


def generate(
    rng: np.random.Generator,
    t0: int,
    t1: int,
    rps: float,
    n_up: int,
    burst: H12Burst | None,
    scaled_to_zero: bool = False,
) -> Requests:
    """All requests arriving in [t0, t1), load-balanced at random over n_up web dynos.

    With no web dyno up they fail with H10 (App crashed), or H14 when web is scaled to 0.
    """
    arrive = arrivals(rng, t0, t1, rps)
    n = len(arrive)
    route = rng.choice(len(ROUTES), size=n, p=_WEIGHTS).astype(np.int16)
    service = np.maximum(
        0, np.round(np.exp(_MU[route] + _SIGMA[route] * rng.standard_normal(n)))
    ).astype(np.int64)
    connect = rng.choice(np.array([0, 1, 2, 3, 5]), size=n, p=[0.46, 0.44, 0.06, 0.03, 0.01])
    status = _OK[route].copy()
    u = rng.random(n)
    status[_IS_ASSET[route] & (u < 0.25)] = 304
    status[_NOT_FOUNDABLE[route] & (u < 0.01)] = 404
    status[_IS_POST[route] & (status < 300) & (u > 0.98)] = 422
    status[_IS_ACTION[route] & (u > 0.9985) & (status != 422)] = 500
    body = _BYTES[route] * np.exp(0.3 * rng.standard_normal(n))
    body[status == 304] = 0
    nbytes = (body + rng.integers(240, 720, n)).astype(np.int64)
    duration = service * 1000
    code = np.zeros(n, np.int8)
    if n_up == 0:
        dyno = np.full(n, -1, np.int16)
        code[:] = H14 if scaled_to_zero else H10
    else:
        dyno = rng.integers(0, n_up, n).astype(np.int16)
        v = rng.random(n)
        code[v < 0.0015] = H27
        code[(v >= 0.0015) & (v < 0.0018)] = H13
        if burst is not None:
            limit_us = heroku.ROUTER_TIMEOUT_MS * 1000
            hit = (route == burst.route) & (arrive + limit_us >= burst.start)
            hit &= (arrive + limit_us + 20_000 < burst.end) & (rng.random(n) < burst.fraction)
            code[hit] = H12
            connect[hit] = 0
            k = int(hit.sum())
            service[hit] = heroku.ROUTER_TIMEOUT_MS + rng.integers(0, 9, k)
            duration[hit] = limit_us + (np.exp(rng.normal(np.log(6.0), 0.6, k)) * US).astype(
                np.int64
            )
    app_status = status.copy()
    h27 = code == H27
    service[h27] = (service[h27] * rng.uniform(0.1, 0.9, int(h27.sum()))).astype(np.int64)
    logged = arrive + (connect + service) * 1000 + rng.integers(300, 2500, n)
    status[h27] = 499
    status[(code == H13) | (code == H12) | (code == H10) | (code == H14)] = 503
    none = (code == H10) | (code == H14)
    logged[none] = arrive[none] + rng.integers(500, 4000, int(none.sum()))
    return Requests(
        arrive, route, dyno, connect, service, duration, status, app_status, nbytes, code, logged
    )
