"""The simulation loop: segments of traffic and metrics between platform events, in time order."""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from forensics import heroku

from . import files, loss, memory, render, traffic
from .addons import Addons
from .catalog import ROUTES, route_index
from .config import DYNO_SIZES, ScenarioConfig
from .events import handle, on_r15
from .ids import hexes, ip_pool, uuid4s, zipf_weights
from .lifecycle import Block, Proc, new_proc
from .memory import TICK_US
from .state import Dyno, Lifetime
from .timefmt import HOUR, MINUTE, US, iso, stamps, to_us
from .writer import Emitter, Sink

SEGMENT_US = 15 * MINUTE
Jobs = tuple[np.ndarray, np.ndarray, np.ndarray]  # starts, durations, job classes
GUARD_US = 120 * US  # no new platform events this close to the planned end


class Simulation:
    """All state of one generated export; `run()` writes the log, `events.py` mutates dynos."""

    def __init__(self, cfg: ScenarioConfig, sink: Sink) -> None:
        self.cfg = cfg
        self.sink = sink
        self.rng = np.random.default_rng(cfg.seed)
        aux = np.random.default_rng([cfg.seed, 1])
        self.t0 = to_us(cfg.start_dt())
        self.planned_end = self.t0 + int(cfg.hours * HOUR)
        self.open_ended = cfg.size_mb is not None
        self.limit = int((cfg.size_mb or 0) * 1e6)
        self.end = self.planned_end
        self.app_id = int(aux.integers(10_000_000, 99_999_999))
        self.host = f"{cfg.app_name}-{hexes(aux, 1, 12)[0]}.herokuapp.com"
        a, b, c, d = aux.integers(3, 250, 4).tolist()
        port = int(aux.integers(10000, 30000))
        self.redis_url = f"rediss://:REDACTED@ec2-{a}-{b}-{c}-{d}.compute-1.amazonaws.com:{port}"
        self.email = "dev@example.com"
        self.clients = render.Clients(ip_pool(aux, 3000), zipf_weights(3000))
        self.addons = Addons.create(aux, self.t0)
        self.release = cfg.initial_release
        self.digest = hexes(aux, 1, 32)[0]
        commit = hexes(aux, 1, 8)[0]
        self.releases: list[dict[str, object]] = [
            {"version": f"v{self.release}", "time": None, "commit": commit, "in_log": False}
        ]
        self.leak_idx = route_index(cfg.leak_route) if cfg.leak_route else -1
        self.trans_idx = route_index(cfg.transient_route) if cfg.transient_route else -1
        self.burst = None
        if cfg.h12_route:
            ws = self.t0 + int((cfg.h12_start_min or 0) * MINUTE)
            we = ws + int(cfg.h12_minutes * MINUTE)
            self.burst = traffic.H12Burst(route_index(cfg.h12_route), ws, we, cfg.h12_fraction)
        self.errors = None
        if cfg.error_route:
            es = self.t0 + int((cfg.error_start_min or 0) * MINUTE)
            ee = es + int(cfg.error_minutes * MINUTE)
            self.errors = traffic.ErrorBurst(
                route_index(cfg.error_route), es, ee, cfg.error_fraction
            )
        self.error_count = 0
        self.hung: tuple[int, int] | None = None
        if cfg.hung_dyno:
            hs = self.t0 + int((cfg.hung_at_hours or 0) * HOUR)
            self.hung = (hs, hs + int(cfg.hung_minutes * MINUTE))
        self.hung_count = 0
        self.hung_peers = 0  # most other web dynos up while it hung
        self.no_web: list[tuple[int, int, int]] = []  # (first, last, H10s) with no web up
        self.quiet: tuple[int, int] | None = None
        if cfg.idle_at_hours is not None:
            qs = self.t0 + int(cfg.idle_at_hours * HOUR)
            self.quiet = (qs, qs + int(cfg.idle_minutes * MINUTE))
        self.idled: list[str] = []
        self.files = (
            files.new_files(cfg.seed, cfg.ephemeral_stack, cfg.ephemeral_reads_per_hour)
            if cfg.ephemeral_files
            else None
        )
        self.worker_fixed = False
        self.recoveries: list[dict[str, Any]] = []
        self.outage: dict[str, Any] = {"start_us": None, "boot_failures": 0, "failed": 0}
        self.dynos: dict[str, Dyno] = {}
        self.lifetimes: list[Lifetime] = []
        self.events: list[tuple[int, int, str, tuple[object, ...]]] = []
        self._seq = itertools.count()
        self.graceful = 0
        self.restarts: list[dict[str, object]] = []
        self.r12: dict[str, Any] | None = None
        self.r15: list[dict[str, object]] = []
        self.crash: dict[str, Any] | None = None
        # every crash planted: dyno, time (us) and what the app printed before it ("job": the
        # worker's job exception, "boot": the boot error, None: an R15 kill, nothing printed)
        self.crash_events: list[dict[str, Any]] = []
        self.scale: dict[str, Any] | None = None
        prompt = f"dev@laptop:~/src/{cfg.app_name}$ heroku logs -n 1500 -a {cfg.app_name}"
        self.emitter = Emitter(sink, self._artifact_targets(aux), aux, prompt)
        if cfg.log_loss_at_hours is not None:
            self.emitter.loss = loss.new_loss(
                cfg.seed, self.t0, cfg.log_loss_at_hours, cfg.log_loss_minutes,
                cfg.log_loss_fraction, cfg.log_loss_code,
            )  # fmt: skip

    # ----- setup -------------------------------------------------------------------------

    def _artifact_targets(self, aux: np.random.Generator) -> list[tuple[int, str]]:
        n = self.cfg.artifacts
        lo, hi = self.t0 + MINUTE, self.planned_end - 2 * MINUTE
        when = aux.integers(lo, max(hi, lo + 1), 3 * n).tolist()
        return [(t, ("prompt", "blank", "wrap")[i % 3]) for i, t in enumerate(when)]

    def leaking(self, version: int) -> bool:
        """Whether code of release v{version} leaks."""
        c = self.cfg
        fixed = c.fixed_release is None or version < c.fixed_release
        return bool(c.leak_route) and version >= c.leak_release and fixed

    def web_broken(self) -> bool:
        """Whether web boots on the current release crash (the web outage knob)."""
        first = self.cfg.web_outage_release
        return first is not None and first <= self.release < first + self.cfg.web_outage_releases

    def push(self, t: int, kind: str, *args: object) -> None:
        """Schedule a platform event."""
        heapq.heappush(self.events, (int(t), next(self._seq), kind, args))

    def add_dyno(self, ptype: str, index: int) -> Dyno:
        """Create (or return the scaled-down) formation slot `ptype.index`."""
        name = f"{ptype}.{index}"
        if name not in self.dynos:
            size = self.cfg.web_size if ptype == "web" else self.cfg.worker_size
            self.dynos[name] = Dyno(name, ptype, len(self.dynos) + 1, DYNO_SIZES[size][0])
        return self.dynos[name]

    def new_life(self, d: Dyno, start: int, proc: Proc | None = None) -> Lifetime:
        """Start a new process instance on dyno d (new dyno uuid, fresh memory)."""
        c, rng = self.cfg, self.rng
        workers = c.web_concurrency if d.ptype == "web" else 1
        proc = proc or new_proc(rng, d.name, d.ptype, workers)
        leak = c.leak_mb if d.ptype == "web" and self.leaking(self.release) else 0.0
        trans = c.transient_mb if self.trans_idx >= 0 else 0.0
        mem = memory.new_model(rng, d.ptype, d.quota, leak, trans, c.worker_cache_mb)
        if c.worker_warmup_hours is not None and d.ptype == "worker":
            mem.plateau_s = c.worker_warmup_hours * 3600
        dyno_id = f"heroku.{self.app_id}.{uuid4s(rng, 1)[0]}"
        life = Lifetime(d.name, d.ptype, dyno_id, int(start), self.release, proc, mem)
        d.life = life
        self.lifetimes.append(life)
        return life

    def setup(self) -> None:
        """Dynos already up when the log starts, and the scheduled platform events."""
        c, rng = self.cfg, self.rng
        for ptype, n in (("web", c.web_dynos), ("worker", c.worker_dynos)):
            for i in range(1, n + 1):
                d = self.add_dyno(ptype, i)
                life = self.new_life(d, self.t0 - int(rng.uniform(1, 20) * HOUR))
                life.before_log, life.up = True, life.start + int(rng.uniform(6, 15) * US)
                life.tick_next = self.t0 + int(rng.integers(0, TICK_US))
                d.state = "up"
                if life.mem.leak_mb:
                    rate = c.rps * ROUTES[self.leak_idx].weight / _total_weight() / c.web_dynos
                    life.mem.leak_count = int(rng.poisson(rate * (self.t0 - life.start) / US))
                    life.leak_count0 = life.mem.leak_count
                self.schedule_cycle(d, life)
        for k, h in enumerate(c.release_hours or ()):
            t = self.t0 + int(h * HOUR) + int(rng.integers(0, 60 * US))
            self.push(
                t - int(rng.uniform(60, 240) * US), "build", "Build started by user " + self.email
            )
            self.push(t + int(rng.uniform(-20, 12) * US), "build", "Build succeeded")
            self.push(t, "release", self.release + k + 1)
        if c.scale_at_hours is not None:
            self.push(self.t0 + int(c.scale_at_hours * HOUR), "scale")
        if c.crash_worker:
            self.push(self.t0 + int((c.crash_at_hours or 0) * HOUR), "crash")
        for h in c.restart_at_hours:
            self.push(self.t0 + int(h * HOUR), "manual")
        if self.hung is not None:
            self.push(self.hung[1] + int(rng.uniform(5, 60) * US), "unhang", c.hung_dyno)
        if self.quiet is not None:
            self.push(self.quiet[0], "idle")
            self.push(self.quiet[1], "unidle")

    def schedule_cycle(self, d: Dyno, life: Lifetime) -> None:
        """Daily restart: about 24 h after the start plus 0-216 minutes."""
        if self.cfg.cycling:
            self.push(
                life.start + 24 * HOUR + int(self.rng.uniform(0, 216) * MINUTE),
                "cycle",
                d.name,
                life,
            )

    # ----- output helpers -----------------------------------------------------------------

    def emit(self, b: Block, slot: int) -> None:
        """Queue a lifecycle block; a third of its platform lines get a small sort-key jitter."""
        if not b.items:
            return
        t = np.array([x[0] for x in b.items], dtype=np.int64)
        ts = stamps(t)
        platform = np.array([x[1].startswith("heroku[") for x in b.items])
        late = platform & (self.rng.random(len(t)) < 0.3)
        keys = t + np.where(late, self.rng.integers(0, 20_000, len(t)), 0)
        for i, (_, src, msg, kind) in enumerate(b.items):
            s = 0 if src == "app[api]" else slot
            self.emitter.add(keys[i : i + 1], [f"{ts[i]}+00:00 {src}: {msg}"], kind, s)

    def emit_at(self, t: int, src: str, msg: str, kind: str, second: bool = False) -> None:
        """Queue one line (second=True prints the next whole second, `.000000`)."""
        if second:
            t = -(-t // US) * US
        self.emitter.add(np.array([t]), [f"{iso(t)} {src}: {msg}"], kind, 0)

    # ----- the loop ------------------------------------------------------------------------

    def run(self) -> None:
        """Simulate until the planned end (or until size_mb is written)."""
        self.setup()
        t = self.t0
        while self.open_ended or t < self.planned_end:
            nxt = self.events[0][0] if self.events else t + SEGMENT_US
            t1 = min(nxt, t + SEGMENT_US)
            if not self.open_ended:
                t1 = min(t1, self.planned_end)
            if t1 > t:
                t_end, r15 = self.segment(t, t1)
                self.emitter.flush(t_end)
                t = t_end
                if self.open_ended and self.sink.bytes >= self.limit:
                    break
                if r15 is not None:
                    on_r15(self, *r15)
                    continue
            while self.events and self.events[0][0] <= t:
                ev_t, _, kind, args = heapq.heappop(self.events)
                if kind != "up" and not self.open_ended and ev_t > self.planned_end - GUARD_US:
                    continue
                handle(self, ev_t, kind, args)
        self.end = t
        self.emitter.drop_pending()

    def segment(self, t0: int, t1: int) -> tuple[int, tuple[Dyno, int, int] | None]:
        """Traffic, metrics and add-on lines for [t0, t1), cut short at the first R15."""
        c, rng = self.cfg, self.rng
        webs = [d for d in self.dynos.values() if d.ptype == "web" and d.state == "up"]
        workers = [d for d in self.dynos.values() if d.ptype == "worker" and d.state == "up"]
        zero = not any(d.ptype == "web" and d.state != "down" for d in self.dynos.values())
        hung = None
        names = [d.name for d in webs]
        if self.hung is not None and c.hung_dyno in names:
            hung = (names.index(str(c.hung_dyno)), *self.hung)
            if t0 < self.hung[1] and self.hung[0] < t1:
                self.hung_peers = max(self.hung_peers, len(names) - 1)
        req = traffic.generate(rng, t0, t1, c.rps, len(webs), self.burst, zero, self.errors, hung)
        if self.quiet is not None:
            req = req.take((req.arrive < self.quiet[0]) | (req.arrive >= self.quiet[1] + 30 * US))
        jobs = {d.name: render.plan_jobs(rng, t0, t1, c.worker_jobs_per_min) for d in workers}
        plans = [self._plan(d, j, req, jobs, t1) for j, d in enumerate(webs + workers)]
        hits = [(p.r15, i) for i, p in enumerate(plans) if p.r15 is not None]
        first = min(hits) if hits else None
        t_end = first[0] + 1 if first else t1
        if first:
            req = req.take(req.arrive < t_end)
        if self.files is not None:
            self.files.segment(self, t0, t_end, req, webs)
        self._count(req, hung)
        for i, p in enumerate(plans):
            self._commit(p, t_end, first is not None and first[1] == i)
        targets = [render.WebTarget(d.name, d.slot, d.life.proc.pids) for d in webs if d.life]
        ratio = c.app_line_ratio
        for batch in render.requests(
            rng, req, targets, self.host, self.clients, self.digest, ratio
        ):
            self.emitter.add(*batch)
        for d in workers:
            start, dur, cls = jobs[d.name]
            keep = start < t_end
            assert d.life is not None
            for batch in render.jobs(rng, d.life.proc, d.slot, start[keep], dur[keep], cls[keep]):
                self.emitter.add(*batch)
        for t, kind, line in self.addons.lines(rng, t_end, c.rps):
            self.emitter.add(np.array([t]), [line], kind, 0)
        if first is None:
            return t_end, None
        p = plans[first[1]]
        total = int(p.samples.total_c[np.searchsorted(p.ticks, first[0])])
        return t_end, (p.dyno, first[0], total)

    def _count(self, req: traffic.Requests, hung: tuple[int, int, int] | None) -> None:
        """Tally the planted incidents' failed requests for the truth file."""
        e = self.errors
        if e is not None:
            hit = (req.route == e.route) & (req.status == 500)
            self.error_count += int((hit & (req.arrive >= e.start) & (req.arrive < e.end)).sum())
        if hung is not None:
            on = (req.dyno == hung[0]) & (req.arrive >= hung[1]) & (req.arrive < hung[2])
            self.hung_count += int((on & (req.code == traffic.H12)).sum())
        down = self.outage["start_us"]
        if down is not None and (req.dyno < 0).all():
            self.outage["failed"] += int(((req.code == traffic.H10) & (req.arrive >= down)).sum())
        h10 = req.code == traffic.H10
        if len(req) and (req.dyno < 0).all() and h10.any():
            # no web dyno up (a restart of the only one, an outage, an R15): H10 App crashed
            self.no_web.append((int(req.arrive[h10].min()), int(req.logged[h10].max()),
                                int(h10.sum())))  # fmt: skip

    def _plan(
        self, d: Dyno, j: int, req: traffic.Requests, jobs: dict[str, Jobs], t1: int
    ) -> DynoPlan:
        """Memory samples of an up dyno at its metric ticks in the segment, and its first R15."""
        life = d.life
        assert life is not None
        m, rng = life.mem, self.rng
        ticks = np.arange(life.tick_next, t1, TICK_US, dtype=np.int64)
        leak = tr_s = tr_e = np.zeros(0, np.int64)
        if d.ptype == "web":
            mine = req.dyno == j
            arr, dur = req.arrive[mine], req.duration[mine]
            if m.leak_mb:
                leak = req.arrive[mine & (req.route == self.leak_idx)]
            if m.transient_mb:
                tm = mine & (req.route == self.trans_idx)
                tr_s = req.arrive[tm]
                tr_e = tr_s + req.duration[tm] + rng.integers(30, 120, int(tm.sum())) * US
        else:
            arr, dur, _ = jobs[d.name]
        s = memory.sample(m, rng, life.start, ticks, leak, tr_s, tr_e, _busy(arr, dur, ticks))
        over = np.flatnonzero(s.total_c > heroku.R15_FACTOR_DEFAULT * d.quota * 100)
        r15 = None
        if len(over) and (self.open_ended or ticks[over[0]] < self.planned_end - 5 * US):
            r15 = int(ticks[over[0]])
        return DynoPlan(d, ticks, s, leak, tr_s, tr_e, r15)

    def _commit(self, p: DynoPlan, t_end: int, r15_here: bool) -> None:
        """Keep the part of a plan before t_end: carry memory state, queue metric/R14 lines."""
        life = p.dyno.life
        assert life is not None
        n = int(np.searchsorted(p.ticks, t_end))
        kept = p.tr_s < t_end
        leaked = int(np.searchsorted(p.leak, t_end))
        memory.commit(life.mem, p.samples, n, t_end, leaked, p.tr_s[kept], p.tr_e[kept])
        life.tick_next = int(p.ticks[n]) if n < len(p.ticks) else _next_tick(life.tick_next, t_end)
        d = p.dyno
        r15_tick = p.r15 if r15_here else None
        for batch in render.metrics(
            self.rng, d.name, life.dyno_id, d.slot, d.quota, p.ticks, p.samples, n, r15_tick
        ):
            self.emitter.add(*batch)


@dataclass
class DynoPlan:
    """One dyno's share of a segment before it is cut at an R15."""

    dyno: Dyno
    ticks: np.ndarray
    samples: memory.Samples
    leak: np.ndarray  # arrivals of leak-route requests it served
    tr_s: np.ndarray  # transient allocations: start and end
    tr_e: np.ndarray
    r15: int | None  # tick of the first sample over twice the quota


def _busy(arrive: np.ndarray, duration: np.ndarray, ticks: np.ndarray) -> np.ndarray:
    """Busy threads per tick: work started in the 20 s before the tick, per second."""
    cs = np.concatenate([[0], np.cumsum(duration)])
    hi = np.searchsorted(arrive, ticks, "right")
    lo = np.searchsorted(arrive, ticks - TICK_US, "right")
    return (cs[hi] - cs[lo]) / TICK_US


def _next_tick(tick: int, t_end: int) -> int:
    """First metrics tick at or after t_end on the grid through `tick`."""
    if tick >= t_end:
        return tick
    return tick + -(-(t_end - tick) // TICK_US) * TICK_US


def _total_weight() -> float:
    return float(sum(r.weight for r in ROUTES))
