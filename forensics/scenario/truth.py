"""The ground-truth JSON: config, app identity, releases, lifetimes, faults, line counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import files
from .catalog import ROUTES, route_index
from .config import DYNO_SIZES
from .lifecycle import CRASH_STACKS, WEB_COMMAND, WORKER_COMMAND
from .timefmt import HOUR, MINUTE, iso, to_us

if TYPE_CHECKING:
    from .engine import Simulation

CODES = ("H10", "H12", "H13", "H14", "H27")
JOB_REASON = "undefined method `fetch' for nil (NoMethodError)"  # lifecycle.JOB_ERROR's
LEAK_VISIBLE_HOURS = 1.25
LEAK_VISIBLE_MB = 20.0


def default_truth_path(out: str | Path) -> Path:
    """`x.log.gz` / `x.log` / `x` -> `x.truth.json` beside it."""
    p = Path(out)
    name = p.name
    for suffix in (".gz", ".log"):
        name = name.removesuffix(suffix)
    return p.with_name(f"{name}.truth.json")


def _route(template: str | None) -> dict[str, object] | None:
    if not template:
        return None
    r = ROUTES[route_index(template)]
    return {"route": r.template, "method": r.method}


def build(sim: Simulation, out: str | Path) -> dict[str, object]:
    """Assemble the truth dict of a finished simulation."""
    c, em, end = sim.cfg, sim.emitter, sim.end
    names = {d.slot: d.name for d in sim.dynos.values()}

    def per_dyno(kind: str) -> dict[str, int]:
        arr = em.by_slot(kind)
        return {names[i]: int(arr[i]) for i in sorted(names) if arr[i]}

    lifetimes = sorted((x for x in sim.lifetimes if x.start < end), key=lambda x: (x.start, x.dyno))
    releases = [r for r in sim.releases if r["time"] is None or str(r["time"]) < iso(end)]
    rel_time = {r["version"]: r["time"] for r in releases}
    sizes = {p: (c.web_size if p == "web" else c.worker_size) for p in ("web", "worker")}
    truth: dict[str, object] = {
        "generator": "forensics.scenario",
        "format": "heroku logs (CLI text)",
        "config": c.as_dict(),
        "app": {
            "name": c.app_name,
            "host": sim.host,
            "app_id": sim.app_id,
            "web_command": WEB_COMMAND,
            "worker_command": WORKER_COMMAND,
            "web_concurrency": c.web_concurrency,
            "web_threads": c.web_threads,
            "worker_concurrency": c.worker_concurrency,
            "dyno_sizes": {
                p: {"size": DYNO_SIZES[s][1], "memory_quota_mb": DYNO_SIZES[s][0]}
                for p, s in sizes.items()
            },
            "addons": {
                "heroku-postgres": sim.addons.pg_name,
                "heroku-redis": sim.addons.redis_name,
            },
        },
        "start": iso(sim.t0),
        "end": iso(end),
        "hours": round((end - sim.t0) / HOUR, 4),
        "output": {"path": str(out), "bytes": sim.sink.bytes, "gzip": str(out).endswith(".gz")},
        "routes": [{"route": r.template, "method": r.method, "weight": r.weight} for r in ROUTES],
        "releases": releases,
        "lifetimes": [x.truth(end, sim.t0) for x in lifetimes],
        "restarts": [r for r in sim.restarts if str(r["time"]) < iso(end)],
        "leak": None,
        "transient": None,
        "h12": None,
        "crashed_worker": sim.crash,
        "r12": sim.r12 if sim.r12 and str(sim.r12["time"]) < iso(end) else None,
        "r14": {"count": em.count("r14"), "by_dyno": per_dyno("r14")},
        "r15": [r for r in sim.r15 if str(r["time"]) < iso(end)],
        "scale": sim.scale,
        "artifacts": em.artifacts,
    }
    if c.leak_route:
        leaking = [x for x in lifetimes if x.mem.leak_mb and x.ptype == "web"]
        fixed = f"v{c.fixed_release}" if c.fixed_release is not None else None
        truth["leak"] = {
            **(_route(c.leak_route) or {}),
            "mb_per_request": c.leak_mb,
            "from_release": f"v{c.leak_release}",
            "from_time": rel_time.get(f"v{c.leak_release}"),
            "fixed_release": fixed,
            "fixed_time": rel_time.get(fixed) if fixed else None,
            "active_in_log": bool(leaking),
            # what the log can show: a leaking lifetime up for 1.25 h or more in the log (an
            # hour past the boot's warm-up) that retained 20 MB or more there (the GC sawtooth
            # alone swings 12-21 MB); a leaking release whose dynos never came up, or lived
            # minutes, leaves no trace of it
            "visible_in_log": any(
                up_h >= LEAK_VISIBLE_HOURS and mb >= LEAK_VISIBLE_MB
                for mb, up_h in (x.leak_in_log(sim.t0, end) for x in leaking)
            ),
            "dynos": sorted({x.dyno for x in leaking}),
            "lifetimes": [x.dyno_id for x in leaking],
        }
    if c.transient_route:
        truth["transient"] = {
            **(_route(c.transient_route) or {}),
            "mb_per_request": c.transient_mb,
            "held_seconds": "request duration + 30..120 s",
        }
    if sim.burst is not None:
        truth["h12"] = {
            **(_route(c.h12_route) or {}),
            "window_start": iso(sim.burst.start),
            "window_end": iso(sim.burst.end),
            "window_minutes": c.h12_minutes,
            "fraction": c.h12_fraction,
            "count": em.count("H12"),
            "by_dyno": per_dyno("H12"),
            "note": "H12 router lines are logged 30 s after arrival; all fall inside the window",
        }
    if sim.crash is not None:
        sim.crash["stays_down"] = not sim.recoveries or all(
            r["ptype"] != "worker" for r in sim.recoveries
        )
    truth.update(_incidents(sim))
    truth["counts"] = _counts(sim, per_dyno)
    return truth


def _minutes(a: int, b: int) -> float:
    return round((b - a) / MINUTE, 2)


def _incidents(sim: Simulation) -> dict[str, object]:
    """Truth of the newer knobs: warm-up, error bursts, downtime, crash reason, idling, hung,
    lost files, log loss."""
    c, end = sim.cfg, sim.end
    out: dict[str, object] = {
        "warmup": None,
        "request_errors": [],
        "downtime": [],
        "crash_reason": None,
        "crashes": [],
        "idling": None,
        "hung_dyno": None,
        "ephemeral_files": None,
        "log_loss": None,
    }
    if sim.emitter.loss is not None:
        out["log_loss"] = sim.emitter.loss.truth(c.log_loss_minutes)
    if c.worker_warmup_hours is not None and c.worker_dynos:
        out["warmup"] = {
            "process_type": "worker",
            "dynos": sorted(d.name for d in sim.dynos.values() if d.ptype == "worker"),
            "hours": c.worker_warmup_hours,
            "cache_mb": c.worker_cache_mb,
            "leak": False,
        }
    e = sim.errors
    if e is not None and e.start < end:
        out["request_errors"] = [
            {
                **(_route(c.error_route) or {}),
                "start": iso(e.start),
                "end": iso(min(e.end, end)),
                "count": sim.error_count,
                "status": 500,
                "exception": "NoMethodError",
            }
        ]
    downtime: list[dict[str, object]] = []
    if sim.crash is not None:
        start = to_us(datetime.fromisoformat(str(sim.crash["down_from"])))
        rec = [r for r in sim.recoveries if r["ptype"] == "worker" and r["life"].up]
        stop, how = (rec[0]["life"].up, rec[0]["how"]) if rec else (end, "end-of-log")
        stop = min(stop, end)
        downtime.append(
            {
                "dyno": sim.crash["dyno"],
                "process_type": "worker",
                "start": iso(start),
                "end": iso(stop),
                "minutes": _minutes(start, stop),
                "ended_by": how if stop < end else "end-of-log",
                "failed_requests": 0,
            }
        )
    o = sim.outage
    if o["start_us"] is not None and o["start_us"] < end:
        ups = [r["life"].up for r in sim.recoveries if r["ptype"] == "web" and r["life"].up]
        stop = min([*ups, end])
        downtime.append(
            {
                "dyno": None,
                "process_type": "web",
                "start": iso(o["start_us"]),
                "end": iso(stop),
                "minutes": _minutes(o["start_us"], stop),
                "ended_by": "release" if stop < end else "end-of-log",
                "failed_requests": o["failed"],
                "boot_failures": o["boot_failures"],
                "from_release": f"v{c.web_outage_release}",
                "fixed_release": f"v{(c.web_outage_release or 0) + c.web_outage_releases}",
            }
        )
    crashed = bool(downtime)  # the crashed worker or the web outage: they print a reason
    downtime += _r15_downtime(sim)
    out["downtime"] = downtime
    boot = CRASH_STACKS[c.crash_stack][0]  # what every failing boot printed
    job = JOB_REASON if c.crash_stack == "ruby" else boot  # the crashed worker's job
    if crashed:
        texts = [job, boot] if sim.crash is not None and job != boot else [boot]
        out["crash_reason"] = {
            "stack": c.crash_stack, "text": texts[0], "texts": texts, "job": job, "boot": boot,
        }  # fmt: skip
    # every crash, with the reason the app printed before it (null: none, an R15 kill)
    said = {"job": job, "boot": boot}
    out["crashes"] = [
        {"dyno": x["dyno"], "time": iso(x["time"]), "reason": said.get(x["reason"] or "")}
        for x in sim.crash_events
        if x["time"] < end
    ]
    if sim.quiet is not None and sim.idled:
        out["idling"] = {
            "dynos": sorted(sim.idled),
            "start": iso(sim.quiet[0]),
            "end": iso(sim.quiet[1]),
            "downtime": False,
        }
    out["no_web_up"] = _no_web(sim, downtime)
    f = sim.files
    if f is not None:
        lost = [x for x in f.errors if x["time"] < iso(end)]
        out["ephemeral_files"] = {
            "stack": c.ephemeral_stack,
            "write_route": files.WRITE_ROUTE,
            "read_route": files.READ_ROUTE,
            "directory": files.DIRS[c.ephemeral_stack],
            "writes": f.writes,
            "reads": f.reads,
            "errors": len(lost),
            "start": lost[0]["time"] if lost else None,
            "end": lost[-1]["time"] if lost else None,
            "dynos": sorted({x["dyno"] for x in lost}),
            "other_dyno": sum(x["why"] == "other_dyno" for x in lost),
            "after_restart": sum(x["why"] == "restart" for x in lost),
            "lost": lost[:200],
        }
    if sim.hung is not None and sim.hung[0] < end:
        out["hung_dyno"] = {
            "dyno": c.hung_dyno,
            "process_type": "web",
            "start": iso(sim.hung[0]),
            "end": iso(min(sim.hung[1], end)),
            "minutes": c.hung_minutes,
            "h12": sim.hung_count,
            "ended_by": "restart",
            # no other web dyno served meanwhile: the logs cannot tell a stuck dyno from a
            # stalled app, only that every request it got timed out (a dyno-wide timeout)
            "only_dyno": sim.hung_peers == 0,
        }
    return out


def _no_web(sim: Simulation, downtime: list[dict[str, object]]) -> list[dict[str, object]]:
    """The times no web dyno was up and requests got H10 (App crashed), merged when closer
    than a minute, each with its H10 count (lines in the log: a log loss drops some) and
    whether a planted downtime holds it: the only web dyno restarting for a deploy, a cycle or
    a restart (seconds; Heroku's preboot would avoid them), or an outage / an R15 kill (planted
    as downtime)."""
    spans: list[list[int]] = []
    for a, b, n in sorted(sim.no_web):
        if spans and a - spans[-1][1] < MINUTE:
            spans[-1][1], spans[-1][2] = max(spans[-1][1], b), spans[-1][2] + n
        else:
            spans.append([a, b, n])
    down = [
        (
            to_us(datetime.fromisoformat(str(d["start"]))),
            to_us(datetime.fromisoformat(str(d["end"]))),
        )
        for d in downtime
        if d["process_type"] == "web"
    ]
    loss = sim.emitter.loss  # H10 lines Logplex dropped are not in the log
    return [
        {
            "start": iso(a),
            "end": iso(b),
            "h10": n - (loss.lost("H10", a, b + 50_000) if loss is not None else 0),
            "in_downtime": any(s - MINUTE <= b and a <= e + MINUTE for s, e in down),
        }
        for a, b, n in spans
        if a < sim.end
    ]


def _r15_downtime(sim: Simulation) -> list[dict[str, object]]:
    """An R15 kill is a crash: the dyno is down from `up -> crashed` to its next `up` (seconds,
    the platform restarts it at once), and its process type too when no other of its dynos
    was up meanwhile (the only web dyno: requests get H10 App crashed)."""
    end = sim.end
    lives = sorted(sim.lifetimes, key=lambda x: x.start)
    out: list[dict[str, object]] = []
    for r in sim.r15:
        dead = next((x for x in lives if x.dyno_id == r["dyno_id"]), None)
        if dead is None or dead.end is None or dead.end >= end:
            continue
        t0 = dead.end
        ups = [x.up for x in lives if x.dyno == dead.dyno and x.up is not None and x.up > t0]
        t1 = min([*ups, end])
        base = {
            "process_type": dead.ptype,
            "start": iso(t0),
            "end": iso(t1),
            "minutes": _minutes(t0, t1),
            "ended_by": "platform" if t1 < end else "end-of-log",
            "failed_requests": None,
            "cause": "R15",
        }
        out.append({"dyno": dead.dyno, **base})
        others_up = any(
            x.ptype == dead.ptype
            and x.dyno != dead.dyno
            and x.up is not None
            and x.up <= t0
            and (x.end is None or x.end >= t1)
            for x in lives
        )
        if not others_up:
            out.append({"dyno": None, **base})
    return out


def _counts(sim: Simulation, by: Callable[[str], dict[str, int]]) -> dict[str, object]:
    """Lines written, by kind (and a few per dyno)."""
    em = sim.emitter
    errors = {code: em.count(code) for code in CODES}
    return {
        "lines": em.logical,
        "physical_lines": em.physical,
        "requests": em.count("router") + sum(errors.values()),
        "router": em.count("router"),
        "router_error": errors,
        "runtime_metrics": em.count("metrics_load") + em.count("metrics_memory"),
        "runtime_metrics_load": em.count("metrics_load"),
        "runtime_metrics_memory": em.count("metrics_memory"),
        "process_running": em.count("process_running"),
        "r14": em.count("r14"),
        "r15": em.count("r15"),
        "r12": em.count("r12"),
        "api": em.count("api"),
        "state_changes": em.count("state_change"),
        "lifecycle_other": em.count("lifecycle"),
        "app": em.count("app"),
        "addon_metrics": {k: em.count(k) for k in ("heroku-postgres", "heroku-redis")},
        "artifacts": {
            k: sum(a["kind"] == k for a in em.artifacts) for k in ("wrap", "prompt", "blank")
        },
        "by_dyno": {
            "router": by("router"),
            "runtime_metrics_memory": by("metrics_memory"),
            "app": by("app"),
        },
    }
