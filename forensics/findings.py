"""Findings: what an analysis concludes, as a sentence plus the evidence behind it.

Every analysis module under `forensics/analyses/` that concludes something exposes
`findings(con, **options) -> list[Finding]`; `collect_findings` runs them all and ranks the
result, most severe first. The JSON form is the contract of `forensics findings --json`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

Severity = Literal["critical", "warning", "info"]
SEVERITY_RANK: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}

KINDS = (
    "memory_leak",
    "memory_quota",
    "release_regression",
    "timeout_hotspot",
    "crash",
    "crash_loop",
    "boot_timeout",
    "worker_down",
    "unclean_shutdown",
    "offload_candidate",
    "concurrency",
    "log_loss",
)


@dataclass
class Source:
    """Input lines behind a piece of evidence: a file and a 1-based inclusive line range."""

    file: str
    first_line: int
    last_line: int


@dataclass
class Finding:
    """One conclusion. `score` orders findings of the same severity (bigger = worse)."""

    kind: str
    severity: Severity
    summary: str
    app: str | None = None
    dyno: str | None = None
    process_type: str | None = None
    route: str | None = None
    release: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    sources: list[Source] = field(default_factory=list)
    score: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: times as ISO-8601 UTC strings, `score` left out."""
        out = asdict(self)
        out.pop("score")
        for key in ("start", "end"):
            if out[key] is not None:
                out[key] = _iso(out[key])
        return out


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if ts.tzinfo else ts.isoformat() + "Z"


def rank(findings: list[Finding]) -> list[Finding]:
    """Most severe first; within a severity, highest score first, then earliest."""
    return sorted(
        findings,
        key=lambda f: (
            SEVERITY_RANK[f.severity],
            -f.score,
            f.start.timestamp() if f.start else float("inf"),
            f.kind,
        ),
    )


# Analysis modules that conclude something, in the order their findings are gathered.
FINDING_MODULES = ("memory", "releases", "timeouts", "availability", "concurrency")


def collect_findings(con: Any, **options: Any) -> list[Finding]:
    """Run every analysis' `findings(con)` over an open dataset and rank the result.

    `options` are passed to each module that accepts them by name (e.g. `workers=2` for the
    concurrency analysis); unknown ones are ignored by the modules that do not take them.
    """
    import importlib
    import inspect

    from forensics.analyses.attribution import route_attribution
    from forensics.analyses.memory import lifetimes_and_growth

    # Frames several analyses need: computed once here and handed to each of them.
    options["lifetimes"], options["growth"] = lifetimes_and_growth(
        con, options.get("lifetimes"), options.get("growth")
    )
    if options.get("attribution") is None:
        options["attribution"] = route_attribution(
            con, lifetimes=options["lifetimes"], growth=options["growth"]
        )
    found: list[Finding] = []
    for name in FINDING_MODULES:
        module = importlib.import_module(f"forensics.analyses.{name}")
        fn = module.findings
        params = inspect.signature(fn).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        kwargs = {k: v for k, v in options.items() if takes_any or k in params}
        found.extend(fn(con, **kwargs))
    return rank(found)
