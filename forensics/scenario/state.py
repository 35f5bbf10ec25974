"""Simulation state: dynos and their lifetimes (one process instance between two restarts)."""

from __future__ import annotations

from dataclasses import dataclass

from .lifecycle import Proc
from .memory import MemoryModel
from .timefmt import iso


@dataclass
class Lifetime:
    """One process instance: its dyno id, release, memory model and how it ended."""

    dyno: str
    ptype: str
    dyno_id: str
    start: int  # `Starting process` time (us)
    release: int
    proc: Proc
    mem: MemoryModel
    up: int | None = None
    end: int | None = None
    ended_by: str | None = None
    before_log: bool = False
    tick_next: int = 0
    leak_count0: int = 0  # leak requests already held when the log starts

    def leak_in_log(self, t0: int, log_end: int) -> tuple[float, float]:
        """(MB the leak retained inside the log, hours it was up inside the log)."""
        up = self.up if self.up is not None else self.end
        end = min(self.end if self.end is not None else log_end, log_end)
        if up is None or up >= end:
            return 0.0, 0.0
        mb = (self.mem.leak_count - self.leak_count0) * self.mem.leak_mb
        return mb, (end - max(up, t0)) / 3_600_000_000

    def truth(self, log_end: int, t0: int | None = None) -> dict[str, object]:
        """The ground-truth record of this lifetime."""
        leaked, up_h = self.leak_in_log(self.start if t0 is None else t0, log_end)
        end, how = self.end, self.ended_by
        if end is None or end >= log_end:
            end, how = log_end, "end-of-log"
        return {
            "dyno": self.dyno,
            "process_type": self.ptype,
            "dyno_id": self.dyno_id,
            "start": iso(self.start),
            "up": iso(self.up) if self.up is not None and self.up < log_end else None,
            "end": iso(end),
            "ended_by": how,
            "release": f"v{self.release}",
            "started_before_log": self.before_log,
            "leak_mb_per_request": self.mem.leak_mb,
            "leak_requests": self.mem.leak_count,
            "leaked_mb": round(self.mem.leak_count * self.mem.leak_mb, 2),
            "leaked_in_log_mb": round(leaked, 2),
            "up_in_log_hours": round(up_h, 3),
            "max_memory_total_mb": round(self.mem.max_total, 2),
            "memory_quota_mb": self.mem.quota,
        }


@dataclass
class Dyno:
    """A formation slot (web.1, worker.2): its state and current lifetime."""

    name: str
    ptype: str
    slot: int  # index used to count lines per dyno
    quota: float
    state: str = "down"  # up | starting | crashed | down
    life: Lifetime | None = None
    broken: bool = False  # the crashed worker: every later boot fails
    crashes: int = 0  # failed boots since the last release (the restart back-off's index)
    retry_at: int = -1  # the one pending back-off retry (older ones are stale)

    @property
    def index(self) -> int:
        return int(self.name.split(".")[1])
