"""Scenario knobs: one frozen dataclass, dyno sizes, and defaults derived from the run length."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime

from forensics import heroku

# The sizes the generator can run, as `Scaled to web@2:<label>` prints them; their memory
# quotas are the platform's (forensics.heroku). All of them are R15'd at the default factor.
_LABELS = ("Eco", "Basic", "Standard-1X", "Standard-2X", "Performance-M", "Performance-L")
# Memory quota (MB) and the label, per dyno size key.
DYNO_SIZES: dict[str, tuple[float, str]] = {
    label.lower(): (heroku.DYNO_QUOTA_MB[label.lower()], label) for label in _LABELS
}


def size_key(size: str) -> str:
    """Normalize a dyno size name (`Standard-1X`, `standard_1x`) to a DYNO_SIZES key."""
    key = size.strip().lower().replace("_", "-")
    if key not in DYNO_SIZES:
        raise ValueError(f"unknown dyno size {size!r}; known: {', '.join(DYNO_SIZES)}")
    return key


@dataclass(frozen=True)
class ScenarioConfig:
    """Every knob of a synthetic Heroku export; None means 'derive a default from the run'."""

    seed: int = 42
    start: str = "2024-05-20T06:00:00+00:00"
    hours: float = 24.0
    size_mb: float | None = None  # keep going until this many MB (uncompressed) are written
    rps: float = 2.0
    app_name: str = "acme-shop"
    web_dynos: int = 2
    web_size: str = "standard-1x"
    web_concurrency: int = 2
    web_threads: int = 5
    worker_dynos: int = 1
    worker_size: str = "standard-2x"
    worker_concurrency: int = 10
    worker_jobs_per_min: float = 4.0
    # Releases: the log starts on v{initial_release}; each release adds one.
    initial_release: int = 1
    releases: int | None = None  # how many releases happen in the log
    release_hours: tuple[float, ...] | None = None  # explicit times, hours after start
    release_interval_hours: float = 8.0
    # Memory leak: each request to leak_route retains leak_mb from v{leak_release} on.
    leak_route: str | None = "/users/:id/orders/:id"
    leak_mb: float = 0.2
    leak_release: int = 3
    fixed_release: int | None = None
    # Transient: each request to transient_route holds transient_mb for a minute or two.
    transient_route: str | None = "/reports/:id/export"
    transient_mb: float = 25.0
    worker_cache_mb: float = 200.0
    # H12 burst: a fraction of h12_route requests time out, logged inside the window.
    h12_route: str | None = "/search"
    h12_start_min: float | None = None
    h12_minutes: float = 20.0
    h12_fraction: float = 0.6
    # A worker that crashes (exit 1) and stays crashed; crash_loops boot attempts fail too.
    crash_worker: str | None = None
    crash_at_hours: float | None = None
    crash_loops: int = 2
    r12_restart: int | None = None  # the N-th graceful (SIGTERM) restart hits R12
    scale_at_hours: float | None = None
    scale_web: int | None = None
    scale_worker: int | None = None
    restart_at_hours: tuple[float, ...] = ()  # `heroku ps:restart` of every dyno
    cycling: bool = True
    healthy: bool = False
    app_line_ratio: float = 0.5
    artifacts: bool = False

    def resolved(self) -> ScenarioConfig:
        """A copy with sizes normalized, healthy mode applied and run-relative defaults filled."""
        hours = self.hours
        if self.size_mb is not None:
            hours = estimate_hours(self)
        changes: dict[str, object] = {
            "hours": float(hours),
            "web_size": size_key(self.web_size),
            "worker_size": size_key(self.worker_size),
        }
        if self.healthy:
            changes.update(leak_route=None, crash_worker=None)
        if self.h12_route and self.h12_start_min is None:
            changes["h12_start_min"] = round(hours * 60 * 0.45, 1)
        if self.crash_worker and self.crash_at_hours is None:
            changes["crash_at_hours"] = round(hours * 0.6, 3)
        if self.release_hours is None:
            changes["release_hours"] = default_release_hours(self, hours)
        else:
            changes["release_hours"] = tuple(sorted(float(h) for h in self.release_hours))
        cfg = dataclasses.replace(self, **changes)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raise ValueError on knob combinations that cannot be simulated."""
        if self.rps <= 0 or self.hours <= 0:
            raise ValueError("rps and hours must be positive")
        if self.web_dynos < 1:
            raise ValueError("at least one web dyno is needed")
        if self.worker_dynos < 0:
            raise ValueError("worker_dynos must be >= 0")
        if not 0 <= self.app_line_ratio <= 1 or not 0 <= self.h12_fraction <= 1:
            raise ValueError("app_line_ratio and h12_fraction must be within 0..1")
        if self.fixed_release is not None and self.fixed_release <= self.leak_release:
            raise ValueError("fixed_release must come after leak_release")
        if self.crash_worker:
            name, _, idx = self.crash_worker.partition(".")
            if name != "worker" or not idx.isdigit() or not 1 <= int(idx) <= self.worker_dynos:
                raise ValueError(f"crash_worker {self.crash_worker!r} is not one of the workers")
        if self.scale_at_hours is not None and self.scale_web is None and self.scale_worker is None:
            raise ValueError("scale_at_hours needs scale_web and/or scale_worker")

    def start_dt(self) -> datetime:
        """The start time as an aware UTC datetime."""
        dt = datetime.fromisoformat(self.start.replace("Z", "+00:00"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.astimezone(UTC)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready dict of every knob."""
        d = dataclasses.asdict(self)
        d["release_hours"] = list(self.release_hours or ())
        d["restart_at_hours"] = list(self.restart_at_hours)
        return d


def default_release_hours(cfg: ScenarioConfig, hours: float) -> tuple[float, ...]:
    """Spread `releases` evenly, or place one every release_interval_hours (first at half of it)."""
    if cfg.releases is not None:
        n = cfg.releases
        return tuple(round(hours * (i + 1) / (n + 1), 3) for i in range(n))
    step = cfg.release_interval_hours
    out, t = [], step / 2
    while t < hours - 0.25:
        out.append(round(t, 3))
        t += step
    return tuple(out)


def estimate_hours(cfg: ScenarioConfig) -> float:
    """Rough run length (hours) that writes size_mb MB, from per-line byte estimates."""
    assert cfg.size_mb is not None
    per_request = 330 + cfg.app_line_ratio * 0.85 * 2 * 205
    dynos = cfg.web_dynos + cfg.worker_dynos
    per_hour = cfg.rps * 3600 * per_request + dynos * 180 * 470 + 60 * 420 + 12 * 640
    per_hour += cfg.worker_dynos * cfg.worker_jobs_per_min * 60 * 2 * 140
    return max(0.5, cfg.size_mb * 1e6 / per_hour)
