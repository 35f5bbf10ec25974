"""Formatting of the bulk lines (router, Rails, runtime metrics, R14, Sidekiq jobs) in lists."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forensics import heroku

from .catalog import JOBS, ROUTES, STATUS_TEXT
from .ids import hexes, uuid4s
from .lifecycle import Proc, sidekiq
from .memory import Samples
from .timefmt import US, rails_stamp, stamps
from .traffic import CODE_NAMES, H10, H12, H13, H14, H27, OK, Requests

Batch = tuple[np.ndarray, list[str], str, np.ndarray | int]  # keys, lines, kind, dyno slots

_HEADS = {
    c: f"{'sock=client at=warning' if c == H27 else 'at=error'} code={CODE_NAMES[c]} "
    f'desc="{heroku.ERROR_CODES[CODE_NAMES[c]]}"'
    for c in (H12, H13, H27, H10, H14)
}
ROUTING_ERROR = "ActionController::RoutingError "
_METHODS = [r.method for r in ROUTES]
_ACTIONS = np.array([r.action is not None for r in ROUTES])
_PROBE = np.array([r.action == "probe" for r in ROUTES])
_HTML = np.array([not r.template.startswith("/api/") for r in ROUTES])
_JOB_P = np.array([j[1] for j in JOBS]) / sum(j[1] for j in JOBS)


@dataclass
class WebTarget:
    """What the request renderer needs about an up web dyno."""

    name: str
    slot: int
    pids: list[int]


@dataclass
class Clients:
    """Client addresses (X-Forwarded-For) with a heavy-tailed popularity."""

    ips: list[str]
    weights: np.ndarray

    def pick(self, rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
        """fwd values (some with a proxy hop) and the client IP the app sees."""
        first = rng.choice(len(self.ips), n, p=self.weights).tolist()
        hop = rng.choice(len(self.ips), n).tolist()
        two = (rng.random(n) < 0.03).tolist()
        client = [self.ips[i] for i in first]
        fwd = [f"{c},{self.ips[h]}" if t else c for c, h, t in zip(client, hop, two, strict=True)]
        return fwd, client


def paths(rng: np.random.Generator, route: np.ndarray, digest: str) -> list[str]:
    """Concrete paths (with ids and query strings) for each request's route."""
    out = np.empty(len(route), dtype=object)
    for r in np.unique(route).tolist():
        where = np.flatnonzero(route == r)
        out[where] = ROUTES[r].make(rng, len(where), digest)
    return out.tolist()


def requests(
    rng: np.random.Generator,
    req: Requests,
    webs: list[WebTarget],
    host: str,
    clients: Clients,
    digest: str,
    app_ratio: float,
) -> list[Batch]:
    """Router lines for every request, plus Rails Started/Completed lines for a share of them."""
    n = len(req)
    if n == 0:
        return []
    path = paths(rng, req.route, digest)
    rid = uuid4s(rng, n)
    fwd, client = clients.pick(rng, n)
    ts = stamps(req.logged)
    method = [_METHODS[r] for r in req.route.tolist()]
    names = ["", *[w.name for w in webs]]
    slots = np.array([0, *[w.slot for w in webs]])
    dyno = [names[d + 1] for d in req.dyno.tolist()]
    code = req.code.tolist()
    svc, con, st, nb = (a.tolist() for a in (req.service, req.connect, req.status, req.nbytes))
    batches: list[Batch] = []
    ok = [i for i, c in enumerate(code) if c == OK]
    lines = [
        f'{ts[i]}+00:00 heroku[router]: at=info method={method[i]} path="{path[i]}" host={host} '
        f'request_id={rid[i]} fwd="{fwd[i]}" dyno={dyno[i]} connect={con[i]}ms '
        f"service={svc[i]}ms status={st[i]} bytes={nb[i]} protocol=https"
        for i in ok
    ]
    late = _jitter(rng, n)
    batches.append((req.logged[ok] + late[ok], lines, "router", slots[req.dyno[ok] + 1]))
    for c in (H10, H12, H13, H27, H14):
        idx = [i for i, x in enumerate(code) if x == c]
        if not idx:
            continue
        if c in (H10, H14):
            tail = ["dyno= connect= service= status=503 bytes="] * len(idx)
        else:
            b = "" if c == H27 else "0"
            tail = [
                f"dyno={dyno[i]} connect={con[i]}ms service={svc[i]}ms status={st[i]} bytes={b}"
                for i in idx
            ]
        lines = [
            f'{ts[i]}+00:00 heroku[router]: {_HEADS[c]} method={method[i]} path="{path[i]}" '
            f'host={host} request_id={rid[i]} fwd="{fwd[i]}" {t} protocol=https'
            for i, t in zip(idx, tail, strict=True)
        ]
        batches.append(
            (req.logged[idx] + late[idx], lines, CODE_NAMES[c], slots[req.dyno[idx] + 1])
        )
    batches.extend(_rails(rng, req, webs, path, rid, client, method, app_ratio))
    return batches


def _rails(
    rng: np.random.Generator,
    req: Requests,
    webs: list[WebTarget],
    path: list[str],
    rid: list[str],
    client: list[str],
    method: list[str],
    ratio: float,
) -> list[Batch]:
    """Rails tagged-logger lines joined to router lines by request id."""
    n = len(req)
    chosen = (rng.random(n) < ratio) & _ACTIONS[req.route] & (req.dyno >= 0)
    idx = np.flatnonzero(chosen)
    if not len(idx):
        return []
    k = len(idx)
    pid_pick = rng.integers(0, 64, k)
    d = req.dyno[idx]
    pid = [
        webs[x].pids[p % len(webs[x].pids)]
        for x, p in zip(d.tolist(), pid_pick.tolist(), strict=True)
    ]
    src = [f"app[{webs[x].name}]" for x in d.tolist()]
    slot = np.array([w.slot for w in webs])[d]
    t_start = req.arrive[idx] + req.connect[idx] * 1000 + rng.integers(100, 1500, k)
    t_done = np.maximum(
        t_start + 200,
        req.arrive[idx] + req.connect[idx] * 1000 + req.duration[idx] - rng.integers(100, 1500, k),
    )
    s_out, s_in = stamps(t_start), stamps(t_start - rng.integers(20, 400, k))
    ids = idx.tolist()
    started = [
        f"{s_out[j]}+00:00 {src[j]}: I, [{s_in[j]} #{pid[j]}]  INFO -- : [{rid[i]}] Started "
        f'{method[i]} "{path[i]}" for {client[i]} at {rails_stamp(s_in[j])}'
        for j, i in enumerate(ids)
    ]
    out: list[Batch] = [(t_start, started, "app", slot)]
    ms = np.maximum(0, req.duration[idx] // 1000 - rng.integers(0, 2, k))
    views = ms * np.where(
        _HTML[req.route[idx]], rng.uniform(0.1, 0.5, k), rng.uniform(0.01, 0.06, k)
    )
    ar = ms * rng.uniform(0.05, 0.4, k)
    d_out, d_in = stamps(t_done), stamps(t_done - rng.integers(20, 400, k))
    app_status, codes, probe = (
        req.app_status[idx].tolist(),
        req.code[idx].tolist(),
        _PROBE[req.route[idx]].tolist(),
    )
    lines, keep = [], []
    for j, i in enumerate(ids):
        if codes[j] == H13:
            continue
        head = f"{d_out[j]}+00:00 {src[j]}: "
        if probe[j]:
            no_route = f'No route matches [{method[i]}] "{path[i]}"'
            msg = f"F, [{d_in[j]} #{pid[j]}] FATAL -- : [{rid[i]}] {ROUTING_ERROR}({no_route}):"
        else:
            s = app_status[j]
            timing = f"ActiveRecord: {ar[j]:.1f}ms"
            if s == 200:
                timing = f"Views: {views[j]:.1f}ms | {timing}"
            done = f"Completed {s} {STATUS_TEXT[s]} in {ms[j]}ms ({timing})"
            msg = f"I, [{d_in[j]} #{pid[j]}]  INFO -- : [{rid[i]}] {done}"
        lines.append(head + msg)
        keep.append(j)
    out.append((t_done[keep], lines, "app", slot[keep]))
    fail = [j for j in keep if app_status[j] == 500]
    if fail:
        lines = [
            f"{d_out[j]}+00:00 {src[j]}: F, [{d_in[j]} #{pid[j]}] FATAL -- : [{rid[ids[j]]}] "
            "NoMethodError (undefined method `total_cents' for nil):"
            for j in fail
        ]
        out.append((t_done[fail] + 1, lines, "app", slot[fail]))
    return out


def _jitter(rng: np.random.Generator, k: int) -> np.ndarray:
    """Sort-key offsets: a quarter of router lines land up to 40 ms late, as in real exports."""
    late = rng.random(k) < 0.25
    return np.where(late, rng.integers(0, 40_000, k), 0)


def metrics(
    rng: np.random.Generator,
    dyno: str,
    dyno_id: str,
    slot: int,
    quota: float,
    ticks: np.ndarray,
    s: Samples,
    n: int,
    r15_tick: int | None,
) -> list[Batch]:
    """The two log-runtime-metrics lines per tick, and R14 pairs for samples over quota."""
    if n == 0:
        return []
    printed = ticks[:n] + rng.integers(0, 30_000, n)
    ts = stamps(printed)
    head = [f"{t}+00:00 heroku[{dyno}]: source={dyno} dyno={dyno_id} " for t in ts]
    l1, l5, l15 = (s.load[:n, i].tolist() for i in range(3))
    load = [
        f"{h}sample#load_avg_1m={a:.2f} sample#load_avg_5m={b:.2f} sample#load_avg_15m={c:.2f}"
        for h, a, b, c in zip(head, l1, l5, l15, strict=True)
    ]
    q = f"{quota:.2f}"
    tot, rss, cache, swap = (_mb(a[:n]) for a in (s.total_c, s.rss_c, s.cache_c, s.swap_c))
    pin, pout = s.pgpgin[:n].tolist(), s.pgpgout[:n].tolist()
    mem = [
        f"{head[i]}sample#memory_total={tot[i]}MB sample#memory_rss={rss[i]}MB "
        f"sample#memory_cache={cache[i]}MB sample#memory_swap={swap[i]}MB "
        f"sample#memory_pgpgin={pin[i]}pages sample#memory_pgpgout={pout[i]}pages "
        f"sample#memory_quota={q}MB"
        for i in range(n)
    ]
    out: list[Batch] = [
        (printed, load, "metrics_load", slot),
        (printed, mem, "metrics_memory", slot),
    ]
    over = np.flatnonzero(s.total_c[:n] > quota * 100)
    if r15_tick is not None:
        over = over[ticks[over] != r15_tick]
    if len(over):
        t_run = printed[over] + rng.integers(500_000, 8 * US, len(over))
        t_err = t_run + rng.integers(100, 300, len(over))
        total = s.total_c[over] / 100
        run = [
            f"{t}+00:00 heroku[{dyno}]: Process running mem={round(m)}M({m / quota * 100:.1f}%)"
            for t, m in zip(stamps(t_run), total.tolist(), strict=True)
        ]
        err = [
            f"{t}+00:00 heroku[{dyno}]: Error R14 (Memory quota exceeded)" for t in stamps(t_err)
        ]
        out += [(t_run, run, "process_running", slot), (t_err, err, "r14", slot)]
    return out


def _mb(cents: np.ndarray) -> list[str]:
    """Hundredths of MB as `123.45`."""
    return [f"{c // 100}.{c % 100:02d}" for c in cents.tolist()]


def plan_jobs(
    rng: np.random.Generator, t0: int, t1: int, per_min: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sidekiq jobs starting in [t0, t1): sorted starts (us), durations (us), class indexes."""
    k = int(rng.poisson(per_min * (t1 - t0) / (60 * US)))
    start = np.sort(t0 + (rng.random(k) * (t1 - t0)).astype(np.int64))
    cls = rng.choice(len(JOBS), k, p=_JOB_P)
    med = np.array([j[2] for j in JOBS])[cls]
    dur = (med * np.exp(0.5 * rng.standard_normal(k)) * US).astype(np.int64)
    return start, dur, cls


def jobs(
    rng: np.random.Generator,
    p: Proc,
    slot: int,
    start: np.ndarray,
    dur: np.ndarray,
    cls: np.ndarray,
) -> list[Batch]:
    """Sidekiq `INFO: start` and `elapsed=... INFO: done` lines for planned jobs."""
    k = len(start)
    if k == 0:
        return []
    jid = hexes(rng, k, 24)
    tid = [p.tids[i] for i in rng.integers(0, len(p.tids), k).tolist()]
    a = f"app[{p.dyno}]"
    ctx = [f"class={JOBS[c][0]} jid={j}" for c, j in zip(cls.tolist(), jid, strict=True)]
    s1 = [
        f"{t}+00:00 {a}: {sidekiq(p, f'{c} INFO: start', d)}"
        for t, c, d in zip(stamps(start), ctx, tid, strict=True)
    ]
    done = start + dur
    el = (dur / US).tolist()
    s2 = [
        f"{t}+00:00 {a}: {sidekiq(p, f'{c} elapsed={e:.3f} INFO: done', d)}"
        for t, c, e, d in zip(stamps(done), ctx, el, tid, strict=True)
    ]
    return [(start, s1, "app", slot), (done, s2, "app", slot)]
