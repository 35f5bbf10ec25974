"""Accuracy benchmark: findings against the generator's ground truth on random scenarios.

Each seed (a fixed list no test uses) draws its own scenario: a random subset of incidents
(leak, H12 burst, warm-up, error burst, worker crash with or without recovery, web outage
across failing releases, Eco idling, a hung dyno, R12, files lost on restart, log loss: an L10
or L11 gap or thinning of every source, away from the other incidents), random times,
sizes and process counts, and some apps with no incident at all. Each scenario is generated,
ingested and run through `collect_findings`; findings are matched to planted incidents per
kind (same dyno, process type or route, overlapping windows) and precision, recall and the
error of downtime minutes are printed, with every miss and false alarm listed; the incidents
made of the findings are scored against the planted ones (`incident_score`). A JSON goes to
bench/results/.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from incident_score import score_incidents

from forensics.findings import KINDS, Finding, collect_findings
from forensics.incidents import build_incidents
from forensics.ingest.run import ingest
from forensics.scenario import generate
from forensics.scenario.config import ScenarioConfig
from forensics.store.views import open_dataset

HERE = Path(__file__).resolve().parent
SEEDS = tuple(range(1000, 1030))
SCORED = (
    "memory_leak",
    "timeout_hotspot",
    "downtime",
    "request_errors",
    "unclean_shutdown",
    "log_loss",
    "crash",
    "hung_dyno",
    "ephemeral_files",
)
EPHEMERAL_STACKS = ("ruby", "python", "node", "java")
ERROR_ROUTES = ("/users/:id", "/products/:id", "/api/v1/items/:id", "/search")
BURST_MIN = 3  # failed requests that make a burst (request_errors' own least count)
SLACK = timedelta(minutes=2)  # windows closer than this count as overlapping


def draw(seed: int) -> ScenarioConfig:
    """The random scenario of one seed: incidents, times, sizes and process counts."""
    rng = np.random.default_rng([seed, 77])
    hours = float(rng.uniform(6, 10))
    web = int(rng.integers(1, 4))
    worker = int(rng.integers(0, 3))
    interval = float(rng.uniform(1.5, 3.5))
    n_rel = max(1, int(hours / interval))
    quiet = rng.random() < 0.15  # an app with no incident at all
    on = lambda p: (not quiet) and bool(rng.random() < p)  # noqa: E731
    k: dict[str, Any] = {
        "seed": seed,
        "hours": round(hours, 2),
        "rps": round(float(rng.uniform(0.3, 0.7)), 2),
        "web_dynos": web,
        "worker_dynos": worker,
        "releases": n_rel,
        "cycling": False,
        "leak_route": None,
        "h12_route": None,
        "transient_route": "/reports/:id/export" if rng.random() < 0.5 else None,
    }
    if on(0.3):
        k.update(leak_route="/users/:id/orders/:id", leak_mb=round(float(rng.uniform(0.4, 1.2)), 2))
        k.update(leak_release=int(rng.integers(1, 3)))
    if on(0.3):
        k.update(h12_route=str(rng.choice(["/search", "/users/:id/orders"])))
        k.update(h12_start_min=round(float(rng.uniform(30, hours * 60 - 60)), 1))
        k.update(h12_minutes=round(float(rng.uniform(10, 40)), 1))
        k.update(h12_fraction=round(float(rng.uniform(0.4, 0.8)), 2))
    if worker and on(0.3):
        k.update(worker_warmup_hours=round(float(rng.uniform(1, 12)), 1))
    if on(0.35):
        k.update(error_route=str(rng.choice(ERROR_ROUTES)))
        k.update(error_start_min=round(float(rng.uniform(20, hours * 60 - 40)), 1))
        k.update(error_minutes=round(float(rng.uniform(5, 30)), 1))
        k.update(error_fraction=round(float(rng.uniform(0.6, 1.0)), 2))
    stacks = ["ruby", "python", "node", "java"]
    k["crash_stack"] = str(rng.choice(stacks))
    if worker and on(0.35):
        k.update(crash_worker=f"worker.{int(rng.integers(1, worker + 1))}")
        k.update(crash_at_hours=round(float(rng.uniform(0.5, hours - 1.5)), 2))
        k.update(crash_recovery=[None, "cooloff", "deploy"][int(rng.integers(0, 3))])
    if n_rel >= 2 and on(0.3):
        first = int(rng.integers(2, n_rel + 1))
        k.update(web_outage_release=first, web_outage_releases=int(rng.integers(1, 3)))
    if on(0.2):
        k.update(web_size="eco", web_dynos=1, hung_dyno=None)
        k.update(idle_at_hours=round(float(rng.uniform(0.5, hours - 2)), 2))
        k.update(idle_minutes=round(float(rng.uniform(30, 90)), 1))
    elif on(0.25):
        k.update(hung_dyno=f"web.{int(rng.integers(1, web + 1))}")
        k.update(hung_at_hours=round(float(rng.uniform(0.5, hours - 1)), 2))
        k.update(hung_minutes=round(float(rng.uniform(5, 30)), 1))
    if on(0.25):
        k.update(r12_restart=int(rng.integers(1, 4)))
    # drawn last, so that the scenarios drawn before this knob existed stay the same
    if on(0.3):
        k.update(ephemeral_files=True, ephemeral_stack=str(rng.choice(EPHEMERAL_STACKS)))
        k.update(ephemeral_reads_per_hour=round(float(rng.uniform(4, 20)), 1))
    if on(0.35):
        minutes = round(float(rng.uniform(5, 30)), 1)
        at = None
        if rng.random() < 0.5:  # over a plain deploy: its restarts' lines (the `up`s) lost
            at = _over_release(k, hours, minutes, float(rng.random()), float(rng.uniform(-3, 1)))
        at = _quiet_start(k, hours, minutes, float(rng.random())) if at is None else at
        if at is not None:
            full = rng.random() < 0.5
            k.update(log_loss_at_hours=at, log_loss_minutes=minutes)
            k.update(log_loss_fraction=1.0 if full else round(float(rng.uniform(0.3, 0.9)), 2))
            k.update(log_loss_code="L11" if rng.random() < 0.3 else "L10")
    return ScenarioConfig(**k)


LOSS_CLEAR = 0.2  # hours kept between a log loss and any other planted event or a release


def _release_hours(k: dict[str, Any], hours: float) -> list[float]:
    """When the releases of a drawn scenario happen (evenly spread, as the generator does)."""
    n = int(k["releases"])
    return [hours * (i + 1) / (n + 1) for i in range(n)]


def _over_release(
    k: dict[str, Any], hours: float, minutes: float, u: float, offset_min: float
) -> float | None:
    """An hour for a log loss that starts `offset_min` minutes from a plain release (one that
    starts no planted incident: not the leaking one, not an outage's or its fix, not one whose
    restarts may hit the planted R12, not a crashed worker's recovery), clear of the other
    planted windows; `u` picks the release (else the next one that fits); None when none
    fits. The deploy's restarts lose some of their lines, their `up`s among them: no downtime
    must be read into that."""
    rels = _release_hours(k, hours)
    plain = []
    for i, h in enumerate(rels):
        v = i + 2  # v1 runs when the log starts
        if v == k.get("leak_release") and k.get("leak_route"):
            continue
        first = k.get("web_outage_release")
        if first and first <= v <= first + k.get("web_outage_releases", 1):
            continue
        if k.get("r12_restart") and i < k["r12_restart"]:
            continue
        if k.get("crash_worker") and h >= k["crash_at_hours"]:
            continue  # a deploy may bring the crashed worker back
        plain.append(h)
    if not plain:
        return None
    first = min(int(u * len(plain)), len(plain) - 1)
    length = minutes / 60
    for h in plain[first:] + plain[:first]:  # the picked one, else the next that fits
        at = h + offset_min / 60
        busy = [b for b in _busy(k, hours) if not b[0] <= h <= b[1]]
        if at < 0.25 or at + length > hours - 0.25:
            continue
        if not any(at - LOSS_CLEAR < b and a < at + length + LOSS_CLEAR for a, b in busy):
            return round(at, 3)
    return None


def _quiet_start(k: dict[str, Any], hours: float, minutes: float, u: float) -> float | None:
    """An hour for a log loss of `minutes` clear of the scenario's releases and planted
    windows (LOSS_CLEAR either side), `u` (0-1) picking among the free spans; None when no
    span is free. The loss hides lines, so over another incident it would hide that incident
    (the benchmark scores what the log shows); alone, it checks that nothing is read into the
    missing lines."""
    length = minutes / 60
    edges = sorted((a - LOSS_CLEAR - length, b + LOSS_CLEAR) for a, b in _busy(k, hours))
    free, lo = [], 0.25  # starts in [lo, hi): the loss begins a quarter hour in at the soonest
    for a, b in edges:
        if a > lo:
            free.append((lo, a))
        lo = max(lo, b)
    if hours - 0.25 - length > lo:
        free.append((lo, hours - 0.25 - length))
    total = sum(b - a for a, b in free)
    if total <= 0:
        return None
    x = u * total
    for a, b in free:
        if x < b - a:
            return round(a + x, 3)
        x -= b - a
    return round(free[-1][1], 3)


def _busy(k: dict[str, Any], hours: float) -> list[tuple[float, float]]:
    """The hours a drawn scenario's releases and planted incidents take."""
    n = int(k["releases"])
    busy = [(h - 0.1, h + 0.1) for h in _release_hours(k, hours)]
    if k.get("h12_route"):
        a = k["h12_start_min"] / 60
        busy.append((a, a + k["h12_minutes"] / 60))
    if k.get("error_route"):
        a = k["error_start_min"] / 60
        busy.append((a, a + k["error_minutes"] / 60))
    if k.get("crash_worker"):
        # the crash, its failed boots (up to ~40 min) and a cool-off recovery (~20 min more)
        busy.append((k["crash_at_hours"], k["crash_at_hours"] + 1.2))
    if k.get("web_outage_release"):
        first = k["web_outage_release"] - 1  # release v2 is the first of the log
        last = min(first + k["web_outage_releases"], n)
        busy.append((hours * first / (n + 1), hours * (last + 1) / (n + 1)))
    if k.get("idle_at_hours") is not None:
        busy.append((k["idle_at_hours"], k["idle_at_hours"] + k["idle_minutes"] / 60))
    if k.get("hung_dyno"):
        busy.append((k["hung_at_hours"], k["hung_at_hours"] + k["hung_minutes"] / 60))
    return busy


def _ts(s: str | datetime | None) -> datetime | None:
    if s is None:
        return None
    d = s if isinstance(s, datetime) else datetime.fromisoformat(s)
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d


def planted(truth: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Incidents per finding kind, each with the keys a finding must agree on and a window."""
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in SCORED}
    leak = truth.get("leak")
    if leak and leak.get("visible_in_log", leak["active_in_log"]):
        out["memory_leak"].append(
            {"process_type": "web", "start": truth["start"], "end": truth["end"], "what": "leak"}
        )
    h12 = truth.get("h12")
    if h12 and h12["count"]:
        out["timeout_hotspot"].append(
            {"route": h12["route"], "start": h12["window_start"], "end": h12["window_end"]}
        )
    for d in truth.get("downtime") or []:
        out["downtime"].append({**d, "what": f"{d['process_type']} {d['ended_by']}"})
    for e in truth.get("request_errors") or []:
        if e["count"]:
            out["request_errors"].append(e)
    for g in truth.get("no_web_up") or []:
        # requests that got H10 while no web dyno was up: the only web dyno restarting (a
        # deploy, a cycle), an outage, an R15 kill; an app-wide request_errors burst (of 3 or
        # more: one or two failed requests in a restart's seconds are not a burst)
        if g["h10"] < BURST_MIN or g["in_downtime"]:
            continue  # a web outage's H10s are its downtime's failed_requests, counted once
        what = "no web up (outage)" if g["in_downtime"] else "no web up (restart)"
        out["request_errors"].append({"route": None, "app_wide": True, **g, "what": what})
    r12 = truth.get("r12")
    if r12:
        t = _ts(r12["time"])
        out["unclean_shutdown"].append(
            {"dyno": r12["dyno"], "start": t - timedelta(seconds=40), "end": t}
        )
    crash = truth.get("crashed_worker")
    if crash:
        last = crash.get("last_crash") or crash["time"]
        out["crash"].append({"dyno": crash["dyno"], "start": crash["time"], "end": last})
    for d in truth.get("downtime") or []:
        if d["process_type"] == "web":
            out["crash"].append({"process_type": "web", "start": d["start"], "end": d["end"]})
    for r in truth.get("r15") or []:
        out["crash"].append({"dyno": r["dyno"], "start": r["time"], "end": r["time"]})
    hung = truth.get("hung_dyno")
    if hung and hung["h12"]:
        p = {"dyno": hung["dyno"], "start": hung["start"], "end": hung["end"]}
        if hung.get("only_dyno"):
            # the only web dyno: no other dyno to compare, so the logs show a dyno-wide
            # timeout (every request it got timed out), which a timeout_hotspot may tell
            p["alt"] = ("timeout_hotspot",)
        out["hung_dyno"].append(p)
    loss = truth.get("log_loss")
    if loss and loss["reported"]:
        # what the log can show: lines missing from the first dropped one to the last report
        last = loss["reports"][-1]["time"]
        out["log_loss"].append({"start": loss["start"], "end": last, "what": loss["code"]})
    eph = truth.get("ephemeral_files")
    if eph and eph["errors"]:
        # the failed downloads are 500s to users too: a request_errors finding on the read
        # route in that window tells them truly (not a false alarm), though not as lost files
        also = {"request_errors": {"route": eph["read_route"]}}
        out["ephemeral_files"].append({"start": eph["start"], "end": eph["end"], "also": also})
    return out


def _candidates(plants: dict[str, list[dict[str, Any]]], kind: str) -> list[dict[str, Any]]:
    """The planted incidents a finding of `kind` may match: its own, and those of other kinds
    that name `kind` as an alternative way to see them (`alt`, which also counts for their
    recall) or as another true telling of them (`also`, with the keys that must agree, e.g. the
    route: precision only)."""
    out = list(plants[kind])
    for k, ps in plants.items():
        if k == kind:
            continue
        out += [p for p in ps if kind in p.get("alt", ())]
        out += [{**p, **p["also"][kind]} for p in ps if kind in p.get("also", {})]
    return out


def _agree(f: Finding, p: dict[str, Any]) -> bool:
    """Same dyno / process type / route, and the windows overlap (with SLACK)."""
    if p.get("route") and f.route != p["route"]:
        return False
    if p.get("app_wide") and f.route is not None:
        return False
    if p.get("dyno"):
        dynos = set((f.evidence or {}).get("dynos") or [])
        by_type = f.dyno is None and f.process_type == p["dyno"].split(".")[0]
        if f.dyno != p["dyno"] and p["dyno"] not in dynos and not by_type:
            return False
    if (
        p.get("process_type")
        and (f.process_type or (f.dyno or "").split(".")[0]) != p["process_type"]
    ):
        return False
    fs, fe = _ts(f.start), _ts(f.end) or _ts(f.start)
    ps, pe = _ts(p["start"]), _ts(p["end"])
    if fs is None or ps is None or pe is None or fe is None:
        return True
    return fs <= pe + SLACK and ps <= fe + SLACK


def _during(f: Finding, plants: dict[str, list[dict[str, Any]]], kind: str) -> str:
    """` (during a planted X)` when a false alarm overlaps an incident of another kind."""
    order = sorted(plants, key=lambda k: k == "memory_leak")  # the leak spans the whole log
    for other in order:
        ps = plants[other]
        if other != kind and any(_agree(f, {**p, "route": None}) for p in ps):
            return f" (during a planted {other})"
    return ""


def _brief(f: Finding) -> str:
    where = f.dyno or f.process_type or f.route or "app"
    mins = (f.evidence or {}).get("minutes")
    m = f" {mins} min" if mins is not None else ""
    codes = (f.evidence or {}).get("codes")
    if isinstance(codes, dict) and codes:
        m += " " + ",".join(f"{c}x{n}" for c, n in codes.items())
    return f"{where} {f.start:%H:%M}-{f.end:%H:%M}{m}" if f.start and f.end else where


def _pbrief(p: dict[str, Any]) -> str:
    where = p.get("dyno") or p.get("process_type") or p.get("route") or "app"
    s, e = _ts(p["start"]), _ts(p["end"])
    mins = f" {p['minutes']} min" if "minutes" in p else ""
    return f"{where} {s:%H:%M}-{e:%H:%M}{mins}"


def score(
    seed: int, truth: dict[str, Any], found: list[Finding], kinds: tuple[str, ...]
) -> dict[str, Any]:
    """Per kind: planted, found, matched on both sides; downtime minutes; crash-reason check."""
    plants = planted(truth)
    res: dict[str, Any] = {"seed": seed, "kinds": {}, "misses": [], "false": []}
    for kind in kinds:
        fs = [f for f in found if f.kind == kind]
        ps = plants[kind]
        hit_p = [
            any(_agree(f, p) for f in found if f.kind in (kind, *p.get("alt", ()))) for p in ps
        ]
        hit_f = [any(_agree(f, p) for p in _candidates(plants, kind)) for f in fs]
        res["kinds"][kind] = {
            "planted": len(ps),
            "found": len(fs),
            "tp_planted": sum(hit_p),
            "tp_found": sum(hit_f),
        }
        res["misses"] += [f"{kind}: {_pbrief(p)}" for p, h in zip(ps, hit_p, strict=True) if not h]
        res["false"] += [
            f"{kind}: {_brief(f)}{_during(f, plants, kind)}"
            for f, h in zip(fs, hit_f, strict=True)
            if not h
        ]
    warm = truth.get("warmup")
    if warm:
        leaks = [f for f in found if f.kind == "memory_leak" and (f.process_type == "worker")]
        res["warmup_leak_free"] = not leaks
    idle = truth.get("idling")
    if idle:
        p = {"process_type": "web", "start": idle["start"], "end": idle["end"]}
        res["idle_no_downtime"] = not [f for f in found if f.kind == "downtime" and _agree(f, p)]
    hung = truth.get("hung_dyno")
    if hung and hung["h12"]:
        p = {"dyno": hung["dyno"], "start": hung["start"], "end": hung["end"]}
        seen = [f for f in found if f.kind == "timeout_hotspot" and _agree(f, p)]
        res["hung_as_timeouts"] = len(seen)
    res["downtime_errors"] = []
    for p in plants["downtime"]:
        match = [f for f in found if f.kind == "downtime" and _agree(f, p)]
        # the finding at the truth's own level (the dyno, or the process type as a whole)
        same = [f for f in match if f.dyno == p.get("dyno")]
        if (same or match) and p["minutes"] > 0:
            pick = same or match
            got = max(float(f.evidence.get("minutes", 0)) for f in pick)
            res["downtime_errors"].append(
                {
                    "truth": p["minutes"],
                    "found": round(got, 2),
                    "rel": abs(got - p["minutes"]) / p["minutes"],
                }
            )
    res["reasons"] = reason_checks(truth, found)
    return res


REASON_KINDS = ("crash", "crash_loop", "downtime")
REASON_SLACK = timedelta(seconds=5)


def _covered(f: Finding, crashes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The planted crashes a finding's window holds, on its dyno (or its type's dynos)."""
    fs, fe = _ts(f.start), _ts(f.end) or _ts(f.start)
    if fs is None or fe is None:
        return []
    ptype = f.process_type or (f.dyno or "").split(".")[0]
    return [
        c
        for c in crashes
        if (c["dyno"] == f.dyno if f.dyno else c["dyno"].split(".")[0] == ptype)
        and fs - REASON_SLACK <= _ts(c["time"]) <= fe + REASON_SLACK  # type: ignore[operator]
    ]


def reason_checks(truth: dict[str, Any], found: list[Finding]) -> list[dict[str, Any]]:
    """Strict crash-reason check, per crash-related finding over planted crashes: a `downtime`
    must name the reason of the crash that opened it (what took it down), a `crash` or
    `crash_loop` the reason most of its crashes printed; where the planted crashes printed
    nothing (R15 kills), the finding must name none (never an invented reason)."""
    crashes = sorted(truth.get("crashes") or [], key=lambda c: c["time"])
    stack = (truth.get("crash_reason") or {}).get("stack") or truth["config"]["crash_stack"]
    out = []
    for f in found:
        if f.kind not in REASON_KINDS:
            continue
        held = _covered(f, crashes)
        if not held:
            continue
        if f.kind == "downtime":
            want = {held[0]["reason"]}
        else:
            said = [c["reason"] for c in held]
            top = max(said.count(x) for x in set(said))
            want = {x for x in set(said) if said.count(x) == top}
        got = str(((f.evidence or {}).get("reason") or {}).get("text") or "") or None
        if want == {None}:
            ok = got is None
        else:
            ok = got is not None and any(w and _same_reason(w, got) for w in want)
        out.append(
            {
                "kind": f.kind,
                "where": f.dyno or f.process_type,
                "stack": stack,
                "ok": ok,
                "planted": sorted(str(w) for w in want),
                "found": got,
            }
        )
    return out


def _same_reason(planted_text: str, found_text: str) -> bool:
    """Every word of the planted reason (class, message, config var) is in the found one."""
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_.]{2,}", planted_text)
    return bool(found_text) and all(w in found_text for w in words)


def run_one(cfg: ScenarioConfig, work: Path) -> tuple[dict[str, Any], list[Finding], float]:
    """Generate, ingest and run the findings of one scenario; returns truth, findings, seconds."""
    truth, found, _, secs = run_incidents(cfg, work)
    return truth, found, secs


def run_incidents(
    cfg: ScenarioConfig, work: Path
) -> tuple[dict[str, Any], list[Finding], list[Any], float]:
    """`run_one`, and the incidents made of the findings."""
    t = time.perf_counter()
    log = work / f"s{cfg.seed}.log"
    truth = generate(cfg, log)
    ds = work / f"ds{cfg.seed}"
    ingest([str(log)], ds, app=cfg.app_name)
    con = open_dataset(ds)
    try:
        found = collect_findings(con)
        incidents = build_incidents(con, found)
    finally:
        con.close()
    return truth, found, incidents, time.perf_counter() - t


def _table(results: list[dict[str, Any]], kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for kind in kinds:
        k = [r["kinds"][kind] for r in results]
        planted_n, found_n = sum(x["planted"] for x in k), sum(x["found"] for x in k)
        tp_p, tp_f = sum(x["tp_planted"] for x in k), sum(x["tp_found"] for x in k)
        rows.append(
            {
                "kind": kind,
                "planted": planted_n,
                "found": found_n,
                "tp": tp_p,
                "precision": tp_f / found_n if found_n else None,
                "recall": tp_p / planted_n if planted_n else None,
            }
        )
    return rows


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=len(SEEDS), help="How many of the seeds to run.")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "accuracy.json")
    args = ap.parse_args()
    kinds = tuple(k for k in SCORED if k in KINDS)
    absent = [k for k in SCORED if k not in KINDS]
    results, per = [], []
    with tempfile.TemporaryDirectory(prefix="forensics-accuracy-") as tmp:
        for seed in SEEDS[: args.seeds]:
            cfg = draw(seed)
            truth, found, incidents, secs = run_incidents(cfg, Path(tmp))
            r = score(seed, truth, found, kinds)
            r["incidents"] = score_incidents(planted(truth), incidents, _agree, _candidates)
            r["seconds"] = round(secs, 1)
            r["planted"] = {k: len(v) for k, v in planted(truth).items() if v}
            r["found"] = {
                k: sum(f.kind == k for f in found) for k in KINDS if any(f.kind == k for f in found)
            }
            results.append(r)
            per.append(cfg.as_dict())
            print(
                f"seed {seed}: {secs:.0f} s, planted {r['planted']}, found {r['found']}", flush=True
            )
    rows = _table(results, kinds)
    print()
    print(f"{'kind':<18}{'planted':>8}{'found':>7}{'tp':>5}{'precision':>11}{'recall':>8}")
    for r in rows:
        print(
            f"{r['kind']:<18}{r['planted']:>8}{r['found']:>7}{r['tp']:>5}"
            f"{_pct(r['precision']):>11}{_pct(r['recall']):>8}"
        )
    if absent:
        print(f"not scored (no such finding kind on this branch): {', '.join(absent)}")
    warm = [r["warmup_leak_free"] for r in results if "warmup_leak_free" in r]
    print(f"warm-up scenarios without a worker memory_leak: {sum(warm)}/{len(warm)}")
    idle = [r["idle_no_downtime"] for r in results if "idle_no_downtime" in r]
    print(f"idling scenarios without a web downtime in the idle window: {sum(idle)}/{len(idle)}")
    hung = [(r["seed"], r["hung_as_timeouts"]) for r in results if "hung_as_timeouts" in r]
    if "hung_dyno" not in kinds:
        seen = ", ".join(f"seed {s}: {n}" for s, n in hung)
        print(
            f"hung dynos ({len(hung)}) seen only as timeout_hotspot findings on that dyno: {seen}"
        )
    errs = [e["rel"] for r in results for e in r["downtime_errors"]]
    if errs:
        print(
            f"downtime minutes, relative error over {len(errs)} matched: "
            f"median {100 * statistics.median(errs):.1f} %, max {100 * max(errs):.1f} %"
        )
    reasons = [(r["seed"], x) for r in results for x in r["reasons"]]
    print(
        f"crash reasons (each crash, crash_loop and downtime over planted crashes names the "
        f"planted one): {sum(x['ok'] for _, x in reasons)}/{len(reasons)}"
    )
    for seed, x in reasons:
        if not x["ok"]:
            print(
                f"  seed {seed} {x['stack']:<7}MISS {x['kind']} {x['where']}: planted "
                f"{' or '.join(x['planted'])!r}, found {x['found']!r}"
            )
    inc = [r["incidents"] for r in results]
    n_planted, n_found = sum(x["planted"] for x in inc), sum(x["found"] for x in inc)
    n_serious, n_true = sum(x["serious"] for x in inc), sum(x["true_serious"] for x in inc)
    splits = [(r["seed"], s) for r in results for s in r["incidents"]["split"]]
    many = [r["seed"] for r in results if r["incidents"]["too_many"]]
    most = max(inc, key=lambda x: x["serious"] - x["planted"])
    print(
        f"incidents: recall {n_found}/{n_planted} planted incidents ({_pct(n_found / n_planted)})"
        f", precision {n_true}/{n_serious} incidents not info ({_pct(n_true / n_serious)}), "
        f"{len(splits)} planted incidents split, {len(many)} scenarios with more than planted + 3 "
        f"incidents (most: {most['serious']} for {most['planted']} planted; "
        f"{sum(x['incidents'] for x in inc)} incidents in all, info included)"
    )
    for seed, s in splits:
        print(f"  seed {seed} split {s}")
    for r in results:
        for m in r["incidents"]["missed"]:
            print(f"  seed {r['seed']} incident missed: {m}")
        for m in r["incidents"]["false"]:
            print(f"  seed {r['seed']} incident false: {m}")
    print("\nmisses and false alarms:")
    for r in results:
        for m in r["misses"]:
            print(f"  seed {r['seed']} missed {m}")
        for m in r["false"]:
            print(f"  seed {r['seed']} false  {m}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"table": rows, "not_scored": absent, "scenarios": results, "configs": per}
    args.out.write_text(json.dumps(summary, indent=1, default=str) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
