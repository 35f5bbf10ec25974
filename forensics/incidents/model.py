"""The incident: one story made of findings, with what started it and what ended it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from forensics.analyses.request_rate import SURGE_RATIO
from forensics.findings import Finding, Source

# Version of the JSON form of an incident, described by schema/incidents.schema.json; bumped
# when a change would break a reader.
INCIDENTS_SCHEMA_VERSION = 1


@dataclass
class Change:
    """A change to the app from the events table: kind is release, deploy, config, scale,
    restart or one-off; `release` as logged ("v42") or None."""

    kind: str
    ts: datetime
    release: str | None = None
    dyno: str | None = None
    command: str | None = None
    user: str | None = None
    summary: str = ""
    source: Source | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ts"] = _iso(self.ts)
        out.pop("source")
        out["sources"] = [_src(self.source)] if self.source else []
        return out


@dataclass
class Step:
    """One line of the timeline: when, a short sentence, and the lines that prove it."""

    ts: datetime | None
    text: str
    sources: list[Source] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"ts": _iso(self.ts), "text": self.text, "sources": [_src(s) for s in self.sources]}


@dataclass
class Member:
    """A finding in an incident, with the rule that put it there (`root` for the root)."""

    finding: Finding
    id: str
    rule: str


@dataclass
class Incident:
    id: str
    kind: str
    app: str | None
    members: list[Member]
    severity: str = "info"
    title: str = ""
    process_types: list[str] = field(default_factory=list)
    dynos: list[str] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    ongoing: bool = False
    impact: dict[str, Any] = field(default_factory=dict)
    cost: float = 0.0
    trigger: Change | None = None
    resolved_by: Change | None = None
    cause: str = ""
    cause_sources: list[Source] = field(default_factory=list)
    timeline: list[Step] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    @property
    def root(self) -> Finding:
        return self.members[0].finding

    def trigger_regression(self) -> Finding | None:
        """Its release_regression of the release that triggered it, if it holds one."""
        t = self.trigger
        if t is None or t.kind != "release":
            return None
        return next(
            (
                m.finding
                for m in self.members
                if m.finding.kind == "release_regression" and m.finding.release == t.release
            ),
            None,
        )

    def _hotspot_evidence(self, key: str) -> list[dict[str, Any]]:
        """`evidence[key]` of each timeout_hotspot member that has it as a dict."""
        return [
            e
            for m in self.members
            if m.finding.kind == "timeout_hotspot"
            and isinstance(e := m.finding.evidence.get(key), dict)
        ]

    def surge(self) -> dict[str, Any] | None:
        """The largest traffic surge its timeouts came with (`evidence.traffic` of a
        timeout_hotspot at `SURGE_RATIO` or more the hour before's rate), if any."""
        rates = [
            t for t in self._hotspot_evidence("traffic") if (t.get("ratio") or 0) >= SURGE_RATIO
        ]
        return max(rates, key=lambda t: t["ratio"], default=None)

    def busy_database(self) -> dict[str, Any] | None:
        """The database's numbers during its timeouts when they show it busy (`evidence.database`
        of a timeout_hotspot with `busy`), the one with the most slow statements."""
        rows = [d for d in self._hotspot_evidence("database") if d.get("busy")]
        return max(rows, key=lambda d: d.get("slow_statements") or 0, default=None)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: times as ISO-8601 UTC strings."""
        return {
            "schema_version": INCIDENTS_SCHEMA_VERSION,
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "kind": self.kind,
            "app": self.app,
            "process_types": self.process_types,
            "dynos": self.dynos,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "ongoing": self.ongoing,
            "impact": self.impact,
            "cost": round(self.cost, 1),
            "trigger": self.trigger.to_json() if self.trigger else None,
            "resolved_by": self.resolved_by.to_json() if self.resolved_by else None,
            "cause": self.cause,
            "cause_sources": [_src(s) for s in self.cause_sources],
            "timeline": [s.to_json() for s in self.timeline],
            "findings": [m.id for m in self.members],
            "rules": {m.id: m.rule for m in self.members},
            "advice": self.advice,
        }


def _src(s: Source) -> dict[str, Any]:
    return {"file": s.file, "first_line": s.first_line, "last_line": s.last_line}


def _iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if ts.tzinfo else ts.isoformat() + "Z"
