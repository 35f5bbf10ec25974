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
    # Crash recovery of crash_worker: None stays down; "cooloff" boots after the failed
    # attempts and a back-off; "deploy" boots on the next release.
    crash_recovery: str | None = None
    # Stack whose error block is printed before each crash exit: ruby, python, node, java.
    crash_stack: str = "ruby"
    # Worker cache warm-up time constant (hours); None draws 1-2 h.
    worker_warmup_hours: float | None = None
    # Error burst: error_fraction of error_route requests answer 500 for error_minutes.
    error_route: str | None = None
    error_start_min: float | None = None
    error_minutes: float = 10.0
    error_fraction: float = 0.9
    # Web outage: every web boot on v{web_outage_release} .. +web_outage_releases-1 crashes.
    web_outage_release: int | None = None
    web_outage_releases: int = 1
    # Idling (Eco): no traffic and web dynos idled for idle_minutes from idle_at_hours.
    idle_at_hours: float | None = None
    idle_minutes: float = 60.0
    # Hung dyno: every request routed to hung_dyno H12s for hung_minutes, then a restart.
    hung_dyno: str | None = None
    hung_at_hours: float | None = None
    hung_minutes: float = 15.0
    # Files lost on restart: the export route writes each report to the dyno's disk; a
    # download route reads one back later (ephemeral_reads_per_hour), from any web dyno, and
    # fails with the ephemeral_stack's missing-file error when that dyno did not write it or
    # restarted since.
    ephemeral_files: bool = False
    ephemeral_stack: str = "ruby"
    ephemeral_reads_per_hour: float = 12.0
    # Log loss: Logplex drops log_loss_fraction of every source's lines (1.0: all of them, a
    # gap; less: a thinning) for log_loss_minutes from log_loss_at_hours, and reports them
    # with log_loss_code: L10 (a drain's output buffer overflow) or L11 (a `heroku logs
    # --tail` session's buffer), "N messages dropped since T".
    log_loss_at_hours: float | None = None
    log_loss_minutes: float = 10.0
    log_loss_fraction: float = 1.0
    log_loss_code: str = "L10"
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
        if self.error_route and self.error_start_min is None:
            changes["error_start_min"] = round(hours * 60 * 0.3, 1)
        if self.hung_dyno and self.hung_at_hours is None:
            changes["hung_at_hours"] = round(hours * 0.7, 3)
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
        if not all(0 <= x <= 1 for x in (self.app_line_ratio, self.h12_fraction,
                                          self.error_fraction)):  # fmt: skip
            raise ValueError("app_line_ratio, h12_fraction and error_fraction must be within 0..1")
        if self.fixed_release is not None and self.fixed_release <= self.leak_release:
            raise ValueError("fixed_release must come after leak_release")
        if self.crash_worker:
            name, _, idx = self.crash_worker.partition(".")
            if name != "worker" or not idx.isdigit() or not 1 <= int(idx) <= self.worker_dynos:
                raise ValueError(f"crash_worker {self.crash_worker!r} is not one of the workers")
        if self.crash_recovery not in (None, "cooloff", "deploy"):
            raise ValueError("crash_recovery must be cooloff or deploy")
        if self.crash_stack not in ("ruby", "python", "node", "java"):
            raise ValueError("crash_stack must be one of ruby, python, node, java")
        if self.ephemeral_stack not in ("ruby", "python", "node", "java"):
            raise ValueError("ephemeral_stack must be one of ruby, python, node, java")
        if self.ephemeral_reads_per_hour < 0:
            raise ValueError("ephemeral_reads_per_hour must be >= 0")
        if self.worker_warmup_hours is not None and not 0 < self.worker_warmup_hours <= 48:
            raise ValueError("worker_warmup_hours must be within 0..48")
        if self.hung_dyno:
            name, _, idx = self.hung_dyno.partition(".")
            if name != "web" or not idx.isdigit() or not 1 <= int(idx) <= self.web_dynos:
                raise ValueError(f"hung_dyno {self.hung_dyno!r} is not one of the web dynos")
        if self.web_outage_release is not None and self.web_outage_releases < 1:
            raise ValueError("web_outage_releases must be >= 1")
        if self.log_loss_at_hours is not None:
            if not 0 < self.log_loss_fraction <= 1:
                raise ValueError("log_loss_fraction must be within 0..1 (and above 0)")
            if self.log_loss_minutes <= 0 or self.log_loss_at_hours < 0:
                raise ValueError("log_loss_minutes must be positive, log_loss_at_hours >= 0")
            if self.log_loss_code not in ("L10", "L11"):
                raise ValueError("log_loss_code must be L10 or L11")
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
