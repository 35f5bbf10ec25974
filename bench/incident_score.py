"""Incident precision and recall for the accuracy benchmark (issue 14's checks).

The planted findings of a scenario (`run_accuracy.planted`) are gathered into the incidents a
person would tell: the leak (its R15 kills and their restarts are part of it), the H12 burst,
the worker outage (its crashes and downtime), the web outage (its crashes, downtime and the
H10s users got), an R12, a hung dyno, an error burst, lost files, a log loss (its L10/L11
reports), and the H10 blips of the only web dyno restarting (one recurring pattern, however
many restarts). Then, against the
incidents `forensics.incidents.build_incidents` made of the findings:

- recall: a planted incident is found when an incident holds a finding that tells it;
- split: a found planted incident whose findings are spread over more than one incident;
- precision: an incident (not info) is true when one of its findings tells some planted
  incident (a finding of a kind with no truth of its own, e.g. crash_loop: when it is where
  and when a planted incident was);
- count: incidents (not info) per scenario against planted ones (5 planted: at most 8).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from forensics.findings import Finding

Agree = Any  # run_accuracy._agree: (finding, planted) -> bool
Candidates = Any  # run_accuracy._candidates: (plants, kind) -> planted entries
NEAR = timedelta(minutes=2)


def planted_incidents(plants: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The planted incidents: each a name and its planted entries as (kind, entry) pairs, the
    first one the entry that must be found."""
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    def add(name: str, kind: str, p: dict[str, Any]) -> None:
        out.setdefault(name, []).append((kind, p))

    for p in plants["memory_leak"]:
        add("leak", "memory_leak", p)
    for p in plants["timeout_hotspot"]:
        add(f"H12 burst on {p['route']}", "timeout_hotspot", p)
    leak = bool(plants["memory_leak"])
    web_outage = [p for p in plants["downtime"] if p.get("cause") != "R15" and not p.get("dyno")]
    web_outage = [p for p in web_outage if p["process_type"] == "web"]
    for p in plants["downtime"]:
        if p.get("cause") == "R15":
            add("leak" if leak else f"R15 kill of {p.get('dyno') or 'web'}", "downtime", p)
        elif p["process_type"] == "worker":
            add("worker outage", "downtime", p)
        else:
            add("web outage", "downtime", p)
    for p in plants["crash"]:
        if p.get("dyno", "").startswith("worker"):
            add("worker outage", "crash", p)
        elif p.get("process_type") == "web":
            add("web outage", "crash", p)
        else:  # an R15 kill
            add("leak" if leak else f"R15 kill of {p.get('dyno')}", "crash", p)
    for p in plants["unclean_shutdown"]:
        add(f"R12 on {p['dyno']}", "unclean_shutdown", p)
    for p in plants["hung_dyno"]:
        add(f"hung {p['dyno']}", "hung_dyno", p)
    for p in plants["ephemeral_files"]:
        add("lost files", "ephemeral_files", p)
    for p in plants["log_loss"]:
        add("log loss", "log_loss", p)
    for p in plants["request_errors"]:
        what = str(p.get("what") or "")
        if what == "no web up (restart)":
            # the H10s of the restart an R12 held up are that deploy's story
            r12 = [q for q in plants["unclean_shutdown"] if _near(p, [q])]
            add(f"R12 on {r12[0]['dyno']}" if r12 else "restart blips", "request_errors", p)
        elif what == "no web up (outage)":
            name = "web outage" if web_outage and _near(p, web_outage) else None
            add(name or ("leak" if leak else "R15 kill of web"), "request_errors", p)
        else:
            add(f"error burst on {p.get('route')}", "request_errors", p)
    # the leak's R15s are its story; without a planted leak each R15 kill stands alone
    return [{"name": k, "entries": v} for k, v in out.items()]


def _near(p: dict[str, Any], others: list[dict[str, Any]]) -> bool:
    from run_accuracy import _ts  # the benchmark's own time parser

    ps, pe = _ts(p["start"]), _ts(p["end"])
    return any(
        _ts(o["start"]) - NEAR <= pe and ps <= _ts(o["end"]) + NEAR  # type: ignore[operator]
        for o in others
    )


def _tells(f: Finding, kind: str, p: dict[str, Any], agree: Agree) -> bool:
    kinds = (kind, *p.get("alt", ()), *p.get("also", {}))
    if f.kind not in kinds:
        return False
    q = {**p, **p.get("also", {}).get(f.kind, {})} if f.kind in p.get("also", {}) else p
    return bool(agree(f, q))


def score_incidents(
    plants: dict[str, list[dict[str, Any]]],
    incidents: list[Any],
    agree: Agree,
    candidates: Candidates,
) -> dict[str, Any]:
    """Recall, splits, precision and count of one scenario's incidents (module doc)."""
    wanted = planted_incidents(plants)
    members = [[m.finding for m in inc.members] for inc in incidents]
    found, split, misses = 0, [], []
    for w in wanted:
        kind, first = w["entries"][0]
        holding = {
            i
            for i, fs in enumerate(members)
            for k, p in w["entries"]
            if any(_tells(f, k, p, agree) for f in fs)
        }
        if not any(_tells(f, kind, first, agree) for fs in members for f in fs):
            misses.append(w["name"])
            continue
        found += 1
        if len(holding) > 1:
            split.append(
                f"{w['name']} in {len(holding)} incidents: "
                + "; ".join(incidents[i].title or incidents[i].id for i in sorted(holding))
            )
    every = [p for ps in plants.values() for p in ps]

    def told(f: Finding) -> bool:
        if f.kind in plants:  # a scored kind: it must agree with a planted entry of its kind
            return any(agree(f, p) for p in candidates(plants, f.kind))
        # a kind with no truth of its own (crash_loop, memory_quota, release_regression,
        # offload_candidate...): true when it is where and when a planted incident was
        return any(agree(f, {**p, "route": None}) for p in every)

    true = [any(told(f) for f in fs) for fs in members]
    # info incidents (an inconclusive memory growth, a crash while stopping) claim no problem:
    # precision and the count are over the others
    serious = [inc.severity != "info" for inc in incidents]
    n_serious = sum(serious)
    return {
        "planted": len(wanted),
        "found": found,
        "incidents": len(incidents),
        "serious": n_serious,
        "true_serious": sum(t for t, s in zip(true, serious, strict=True) if s),
        "split": split,
        "missed": misses,
        "false": [
            f"{inc.kind} ({inc.severity}): {inc.title}"
            for inc, ok, s in zip(incidents, true, serious, strict=True)
            if s and not ok
        ],
        "too_many": n_serious > max(len(wanted), 1) + 3,
    }
