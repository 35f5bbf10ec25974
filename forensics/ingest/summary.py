"""What an ingest did: one result per input, and totals that add up.

For every input: lines read = records in typed tables + rejected lines + lines joined into the
line above (terminal wraps) + duplicate lines skipped. A record is one log line (or one re-joined
wrapped line); a table may hold several rows per record (one per add-on sample).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class FileResult:
    """What happened to one input."""

    name: str
    status: str  # ingested | empty | already_ingested | not_a_log (every line rejected) | failed
    format: str | None = None
    sha256: str | None = None
    lines: int = 0
    records: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    joined_lines: int = 0
    duplicate_lines: int = 0
    ts_min: datetime | None = None
    ts_max: datetime | None = None
    apps: list[str] = field(default_factory=list)
    dynos: list[str] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rejected_lines(self) -> int:
        return sum(self.rejects_by_reason.values())


@dataclass
class IngestSummary:
    """The whole job: one result per input, and totals that add up."""

    dataset: str
    files: list[FileResult]
    engine: str = "polars"  # the parsing engine that ran: native (compiled core) or polars
    warnings: list[str] = field(default_factory=list)  # about the job as a whole (apps)
    notes: list[str] = field(default_factory=list)  # about the dataset, not one input

    def _sum(self, attr: str) -> Counter[str]:
        total: Counter[str] = Counter()
        for f in self.files:
            total.update(getattr(f, attr))
        return total

    def totals(self) -> dict[str, Any]:
        ok = [f for f in self.files if f.status == "ingested"]
        starts = [f.ts_min for f in ok if f.ts_min]
        ends = [f.ts_max for f in ok if f.ts_max]
        return {
            "lines_read": sum(f.lines for f in self.files),
            "records": dict(self._sum("records")),
            "rows": dict(self._sum("rows")),
            "rejects_by_reason": dict(self._sum("rejects_by_reason")),
            "rejected_lines": sum(f.rejected_lines for f in self.files),
            "joined_lines": sum(f.joined_lines for f in self.files),
            "duplicate_lines": sum(f.duplicate_lines for f in self.files),
            "time_span": [min(starts) if starts else None, max(ends) if ends else None],
            "apps": sorted({a for f in ok for a in f.apps}),
            "dynos": sorted({d for f in ok for d in f.dynos}),
            "files": {s: sum(f.status == s for f in self.files) for s in _STATUSES},
        }

    @property
    def not_logs(self) -> list[FileResult]:
        """Inputs in which no line has a Heroku shape (all in rejects): not a Heroku log."""
        return [f for f in self.files if f.status == "not_a_log"]

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: times as ISO-8601 strings."""
        return _iso_times(
            {
                "dataset": self.dataset,
                "engine": self.engine,
                "totals": self.totals(),
                "files": [asdict(f) for f in self.files],
                "warnings": self.warnings,
                "notes": self.notes,
            }
        )


def _iso_times(value: Any) -> Any:
    """Datetimes anywhere in a JSON-ready structure as ISO-8601 strings."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _iso_times(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_iso_times(v) for v in value]
    return value


_STATUSES = ("ingested", "empty", "already_ingested", "not_a_log", "failed")
