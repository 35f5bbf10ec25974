"""Platform events: releases, restarts, daily cycling, R15, the crashing worker, scaling."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forensics import heroku as platform

from . import lifecycle as lc
from .config import DYNO_SIZES
from .ids import hexes
from .lifecycle import Block, new_proc
from .state import Dyno, Lifetime
from .timefmt import MINUTE, US, iso

if TYPE_CHECKING:
    from .engine import Simulation

FIRST_LINE = {"deploy": "Restarting", "restart": "Restarting", "cycling": "Cycling"}


def handle(sim: Simulation, t: int, kind: str, args: tuple[Any, ...]) -> None:
    """Dispatch one scheduled event."""
    if kind == "up":
        on_up(sim, t, args[0], args[1])
    elif kind in ("restart", "cycle"):
        how = "cycling" if kind == "cycle" else args[2]
        on_restart(sim, t, sim.dynos[args[0]], args[1], how)
    elif kind == "build":
        sim.emit_at(t, "app[api]", args[0], "api", second=True)
    elif kind == "release":
        on_release(sim, t, args[0])
    elif kind == "retry":
        if len(args) == 1 or sim.dynos[args[0]].retry_at == t:
            on_retry(sim, t, sim.dynos[args[0]])
    elif kind == "recover":
        sim.worker_fixed = True
        on_retry(sim, t, sim.dynos[args[0]])
    elif kind == "unhang":
        d = sim.dynos[args[0]]
        if d.state == "up" and d.life is not None:
            on_restart(sim, t, d, d.life, "restart")
    elif kind == "idle":
        on_idle(sim, t)
    elif kind == "unidle":
        on_unidle(sim, t)
    elif kind == "crash":
        on_crash(sim, t)
    elif kind == "scale":
        on_scale(sim, t)
    elif kind == "manual":
        for d in sim.dynos.values():
            if d.state == "up":
                when = t + int(sim.rng.uniform(0.2, 2.0) * US)
                sim.push(when, "restart", d.name, d.life, "restart")


def _boot(sim: Simulation, b: Block, d: Dyno, gap_s: tuple[float, float]) -> Lifetime:
    """Advance, start a new lifetime on d with its boot output, and schedule it `up`."""
    b.t += int(sim.rng.uniform(*gap_s) * US)
    life = sim.new_life(d, b.t)
    t_up = lc.boot(b, sim.rng, life.proc, sim.cfg.web_threads, sim.redis_url)
    d.state = "starting"
    sim.push(t_up, "up", d.name, life)
    return life


def on_up(sim: Simulation, t: int, name: str, life: Lifetime) -> None:
    """A booted process is up: metrics start; restart it again if a release came meanwhile."""
    d = sim.dynos[name]
    if d.life is not life or d.state != "starting":
        return
    d.state, life.up = "up", t
    life.tick_next = t + int(sim.rng.integers(1 * US, 20 * US))
    sim.schedule_cycle(d, life)
    if life.release != sim.release:
        sim.push(t + int(sim.rng.uniform(1, 3) * US), "restart", name, life, "deploy")


def on_restart(sim: Simulation, t: int, d: Dyno, life: Lifetime, how: str) -> None:
    """Graceful restart (deploy, cycling, ps:restart): SIGTERM (maybe R12), then a new boot."""
    if d.life is not life or d.state != "up":
        return
    sim.graceful += 1
    r12 = sim.cfg.r12_restart == sim.graceful
    b = Block(t)
    life.end = lc.graceful_stop(b, sim.rng, life.proc, FIRST_LINE[how], r12)
    life.ended_by = how
    if r12:
        t_r12 = next(x[0] for x in b.items if x[3] == "r12")
        sim.r12 = {
            "dyno": d.name,
            "dyno_id": life.dyno_id,
            "time": iso(t_r12),
            "restart_index": sim.graceful,
            "restart_kind": how,
            "restart_time": iso(t),
        }
    sim.restarts.append({"dyno": d.name, "time": iso(t), "kind": how, "r12": r12})
    if d.ptype == "web" and sim.web_broken():
        b.t += int(sim.rng.uniform(1.0, 5.0) * US)
        _fail_boot(sim, b, d, from_crashed=False)
    else:
        _boot(sim, b, d, (1.0, 5.0))
    sim.emit(b, d.slot)


def on_r15(sim: Simulation, d: Dyno, tick: int, total_c: int) -> None:
    """R15 at a metrics tick: SIGKILL, crashed, then the platform boots a fresh process."""
    life = d.life
    assert life is not None
    b = Block(tick + 30_000)
    mem = total_c / 100
    life.end = lc.r15_kill(b, sim.rng, life.proc, mem, mem / d.quota * 100)
    life.ended_by = "R15"
    sim.crash_events.append({"dyno": d.name, "time": life.end, "reason": None})
    sim.r15.append(
        {
            "dyno": d.name,
            "dyno_id": life.dyno_id,
            "time": iso(b.items[1][0]),
            "memory_total_mb": mem,
            "memory_quota_mb": d.quota,
        }
    )
    sim.restarts.append({"dyno": d.name, "time": iso(b.t), "kind": "R15", "r12": False})
    d.state = "crashed"
    b.add(
        sim.rng.uniform(1, 4) * US,
        lc.heroku(life.proc),
        "State changed from crashed to starting",
        "state_change",
    )
    _boot(sim, b, d, (1.5, 5.0))
    sim.emit(b, d.slot)


def on_release(sim: Simulation, t: int, version: int) -> None:
    """Build, deploy and release lines, then every dyno restarts on the new release."""
    rng, user = sim.rng, sim.email
    commit = hexes(rng, 1, 8)[0]
    sim.emit_at(t, "app[api]", f"Deploy {commit} by user {user}", "api")
    sim.emit_at(t, "app[api]", f"Release v{version} created by user {user}", "api")
    sim.release, sim.digest = version, hexes(rng, 1, 32)[0]
    sim.releases.append(
        {"version": f"v{version}", "time": iso(t), "commit": commit, "in_log": True}
    )
    if sim.cfg.crash_recovery == "deploy" and sim.crash is not None:
        sim.worker_fixed = True
    for d in sim.dynos.values():
        delay = t + int(rng.uniform(0.5, 4.0) * US)
        if d.state == "up":
            sim.push(delay, "restart", d.name, d.life, "deploy")
        elif d.state == "crashed" and d.broken and d.ptype == "web":
            d.crashes, d.retry_at = 0, delay
            sim.push(delay, "retry", d.name, delay)
        elif d.state == "crashed" and d.broken:
            sim.push(delay, "retry", d.name)


def on_crash(sim: Simulation, t: int) -> None:
    """The configured worker dies on an unhandled error and never boots again."""
    d = sim.dynos[str(sim.cfg.crash_worker)]
    if d.state == "starting":
        sim.push(t + MINUTE, "crash")
        return
    if d.state != "up" or d.life is None:
        return
    b = Block(t)
    jid = hexes(sim.rng, 1, 24)[0]
    d.life.end = lc.job_crash(b, sim.rng, d.life.proc, jid, sim.cfg.crash_stack)
    d.life.ended_by = "crash"
    sim.crash_events.append({"dyno": d.name, "time": d.life.end, "reason": "job"})
    d.state, d.broken = "crashed", True
    sim.crash = {
        "dyno": d.name,
        "dyno_id": d.life.dyno_id,
        "time": iso(d.life.end),
        "down_from": iso(d.life.end),
        "exit_status": 1,
        "attempts": [],
    }
    sim.emit(b, d.slot)
    when = d.life.end
    for i in range(sim.cfg.crash_loops):
        when += int((sim.rng.uniform(1, 4) if i == 0 else sim.rng.uniform(600, 1200)) * US)
        sim.push(when, "retry", d.name)
    if sim.cfg.crash_recovery == "cooloff":
        cool = platform.CRASH_RESTART_BACKOFF_MINUTES[1] * MINUTE
        sim.push(when + cool + int(sim.rng.uniform(0, 120) * US), "recover", d.name)


def on_retry(sim: Simulation, t: int, d: Dyno) -> None:
    """A boot attempt of a broken dyno: fails within seconds (no metrics), or boots when fixed."""
    if d.state != "crashed" or not d.broken:
        return
    if (sim.web_broken() if d.ptype == "web" else not sim.worker_fixed) is False:
        _recover(sim, t, d)
        return
    b = Block(t)
    end = _fail_boot(sim, b, d, from_crashed=True)
    if d.ptype == "worker" and sim.crash is not None:
        sim.crash["attempts"] = [*sim.crash["attempts"], iso(t)]
        sim.crash["last_crash"] = iso(end)
    sim.emit(b, d.slot)


def _fail_boot(sim: Simulation, b: Block, d: Dyno, from_crashed: bool) -> int:
    """A boot that prints the crash reason and exits 1; web dynos retry on the back-off."""
    workers = sim.cfg.web_concurrency if d.ptype == "web" else 1
    proc = new_proc(sim.rng, d.name, d.ptype, workers)
    n = len(b.items)
    end = lc.boot_crash(b, sim.rng, proc, sim.redis_url, sim.cfg.crash_stack, from_crashed)
    start = next(x[0] for x in b.items[n:] if x[2].startswith("Starting process"))
    life = sim.new_life(d, start, proc)
    life.end, life.ended_by = end, "crash"
    sim.crash_events.append({"dyno": d.name, "time": end, "reason": "boot"})
    d.state, d.broken = "crashed", True
    if d.ptype == "web":
        o = sim.outage
        o["boot_failures"] += 1
        webs = [x for x in sim.dynos.values() if x.ptype == "web" and x.state != "down"]
        if o["start_us"] is None and all(x.state == "crashed" for x in webs):
            o["start_us"] = end
        steps = platform.CRASH_RESTART_BACKOFF_MINUTES
        wait = steps[min(d.crashes, len(steps) - 1)] * MINUTE + int(sim.rng.uniform(1, 4) * US)
        d.crashes += 1
        d.retry_at = end + int(wait)
        sim.push(d.retry_at, "retry", d.name, d.retry_at)
    return end


def _recover(sim: Simulation, t: int, d: Dyno) -> None:
    """A broken dyno boots again (cool-off over, or a fixed release): its downtime ends."""
    b = Block(t)
    b.add(0, lc.heroku(d.life.proc) if d.life else f"heroku[{d.name}]",
          "State changed from crashed to starting", "state_change")  # fmt: skip
    d.broken, d.crashes = False, 0
    life = _boot(sim, b, d, (1.5, 5.0))
    sim.emit(b, d.slot)
    if d.ptype == "worker" and sim.crash is not None:
        how = "deploy" if sim.cfg.crash_recovery == "deploy" else "cooloff"
        sim.recoveries.append({"dyno": d.name, "ptype": "worker", "life": life, "how": how})
    elif d.ptype == "web":
        sim.recoveries.append({"dyno": d.name, "ptype": "web", "life": life, "how": "release"})


def on_idle(sim: Simulation, t: int) -> None:
    """Eco web dynos idle after a quiet spell: `Idling`, up -> down, SIGTERM, exit 143."""
    for d in sim.dynos.values():
        if d.ptype != "web" or d.state != "up" or d.life is None:
            continue
        b = Block(t + int(sim.rng.uniform(0.1, 2.0) * US))
        b.add(0, f"heroku[{d.name}]", "Idling", "lifecycle")
        d.life.end = lc.graceful_stop(b, sim.rng, d.life.proc, "", False)
        d.life.ended_by = "idle"
        d.state, d.life = "idle", None
        sim.idled.append(d.name)
        sim.emit(b, d.slot)


def on_unidle(sim: Simulation, t: int) -> None:
    """The first request after the quiet spell: `Unidling`, down -> starting, a fresh boot."""
    for d in sim.dynos.values():
        if d.state != "idle":
            continue
        b = Block(t + int(sim.rng.uniform(0.05, 0.5) * US))
        b.add(0, f"heroku[{d.name}]", "Unidling", "lifecycle")
        b.add(sim.rng.uniform(5, 50) * 1000, f"heroku[{d.name}]",
              "State changed from down to starting", "state_change")  # fmt: skip
        _boot(sim, b, d, (0.2, 1.0))
        sim.emit(b, d.slot)


def on_scale(sim: Simulation, t: int) -> None:
    """`Scaled to web@N:Size worker@M:Size`: start new dynos, stop the highest-numbered ones."""
    c, rng = sim.cfg, sim.rng
    want: dict[str, int | None] = {"web": c.scale_web, "worker": c.scale_worker}
    parts, counts = [], {}
    for ptype, size in (("web", c.web_size), ("worker", c.worker_size)):
        active = [d for d in sim.dynos.values() if d.ptype == ptype and d.state != "down"]
        active.sort(key=lambda d: d.index)
        n = want[ptype]
        n = len(active) if n is None else n
        counts[ptype] = n
        if n or active:
            parts.append(f"{ptype}@{n}:{DYNO_SIZES[size][1]}")
        for i in range(len(active) + 1, n + 1):
            d = sim.add_dyno(ptype, i)
            b = Block(t + int(rng.uniform(0.5, 2.0) * US))
            _boot(sim, b, d, (0.5, 3.0))
            sim.emit(b, d.slot)
        for d in active[n:]:
            _stop(sim, t + int(rng.uniform(0.5, 3.0) * US), d)
    formation = " ".join(parts)
    sim.emit_at(t, "app[api]", f"Scaled to {formation} by user {sim.email}", "api")
    sim.scale = {"time": iso(t), "formation": formation, **counts}


def _stop(sim: Simulation, t: int, d: Dyno) -> None:
    """Scale-down of one dyno: up -> down, SIGTERM, exit 143 (crashed ones just go down)."""
    b = Block(t)
    if d.state == "up" and d.life is not None:
        d.life.end = lc.graceful_stop(b, sim.rng, d.life.proc, "", False)
        d.life.ended_by = "scale-down"
    elif d.state == "crashed":
        b.add(0, f"heroku[{d.name}]", "State changed from crashed to down", "state_change")
    elif d.life is not None:
        d.life.end, d.life.ended_by = t, "scale-down"
    d.state, d.life = "down", None
    sim.emit(b, d.slot)
