"""Heroku Postgres (every ~5 min) and Heroku Data for Redis (every ~1 min) metrics lines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .timefmt import US, iso

ADJECTIVES = ("shaped", "triangular", "curved", "rigid", "cubic", "spherical", "regular", "opaque")


def _num(x: float, digits: int) -> str:
    """Plain decimal with up to `digits` decimals and no trailing zeros, as the add-ons print."""
    return f"{x:.{digits}f}".rstrip("0").rstrip(".") or "0"


@dataclass
class Addons:
    """Add-on identities and the slowly moving state their metrics report."""

    pg_name: str
    redis_name: str
    next_pg: int
    next_redis: int
    txid: int
    db_size: int

    @classmethod
    def create(cls, rng: np.random.Generator, t0: int) -> Addons:
        """Random add-on names; first samples within a period of the start."""
        pg = f"postgresql-{rng.choice(ADJECTIVES)}-{rng.integers(10000, 99999)}"
        redis = f"redis-{rng.choice(ADJECTIVES)}-{rng.integers(10000, 99999)}"
        return cls(
            pg,
            redis,
            t0 + int(rng.integers(1, 300)) * US,
            t0 + int(rng.integers(1, 60)) * US,
            int(rng.integers(2_000_000, 9_000_000)),
            int(rng.integers(2_000_000_000, 6_000_000_000)),
        )

    def lines(self, rng: np.random.Generator, t_end: int, rps: float) -> list[tuple[int, str, str]]:
        """(time, kind, line) for every sample due before t_end; second-resolution timestamps."""
        out: list[tuple[int, str, str]] = []
        while self.next_pg < t_end:
            out.append((self.next_pg, "heroku-postgres", self._pg(rng, self.next_pg, rps)))
            self.next_pg += int(rng.integers(295, 306)) * US
        while self.next_redis < t_end:
            out.append((self.next_redis, "heroku-redis", self._redis(rng, self.next_redis)))
            self.next_redis += int(rng.integers(58, 76)) * US
        return out

    def _pg(self, rng: np.random.Generator, t: int, rps: float) -> str:
        self.txid += int(rng.poisson(max(rps, 0.01) * 300 * 0.4)) + 1
        self.db_size += int(rng.integers(0, 400_000))
        free = int(rng.integers(140_000, 420_000))
        cached = 15657100 - free - int(rng.integers(300_000, 600_000))
        samples = {
            "current_transaction": self.txid,
            "db_size": f"{self.db_size}bytes",
            "tables": 29,
            "active-connections": int(rng.integers(4, 9)) + int(rps),
            "waiting-connections": 0,
            "index-cache-hit-rate": f"{rng.uniform(0.9985, 1):.5f}",
            "table-cache-hit-rate": f"{rng.uniform(0.985, 1):.5f}",
            "load-avg-1m": _num(rng.uniform(0, 0.2), 3),
            "load-avg-5m": _num(rng.uniform(0, 0.12), 3),
            "load-avg-15m": _num(rng.uniform(0, 0.08), 3),
            "read-iops": _num(rng.uniform(0, 1.5), 4),
            "write-iops": _num(rng.uniform(0.05, 4), 4),
            "tmp-disk-used": 33849344,
            "tmp-disk-available": 72944943104,
            "memory-total": "15657100kB",
            "memory-free": f"{free}kB",
            "memory-cached": f"{cached}kB",
            "memory-postgres": f"{int(rng.integers(40_000, 90_000))}kB",
        }
        return f"{iso(t)} app[heroku-postgres]: source=DATABASE addon={self.pg_name} " + _join(
            samples
        )

    def _redis(self, rng: np.random.Generator, t: int) -> str:
        samples = {
            "active-connections": int(rng.integers(12, 20)),
            "load-avg-1m": _num(rng.uniform(0, 0.3), 3),
            "load-avg-5m": _num(rng.uniform(0, 0.2), 3),
            "load-avg-15m": _num(rng.uniform(0, 0.15), 3),
            "read-iops": 0,
            "write-iops": _num(rng.uniform(5, 40), 5),
            "memory-total": "15664216kB",
            "memory-free": f"{int(rng.integers(8_000_000, 9_000_000))}kB",
            "memory-cached": f"{int(rng.integers(4_000_000, 4_400_000))}kB",
            "memory-redis": f"{int(rng.integers(2_900_000, 3_300_000))}bytes",
            "hit-rate": f"{rng.uniform(0.95, 0.995):.5f}",
            "evicted-keys": 0,
        }
        return f"{iso(t)} app[heroku-redis]: source=REDIS addon={self.redis_name} " + _join(samples)


def _join(samples: dict[str, object]) -> str:
    """`sample#key=value` pairs in order."""
    return " ".join(f"sample#{k}={v}" for k, v in samples.items())
