"""Log loss (the `log_loss_*` knobs): Logplex drops lines of the export and says how many.

Logplex keeps a bounded buffer of undelivered messages per drain (and per `heroku logs --tail`
session); when the consumer falls behind, new messages are dropped and, once it can deliver
again, Logplex inserts one line saying how many it dropped since when:

    2013-04-17T19:05:46+00:00 heroku[logplex]: Error L10 (output buffer overflow): 500 messages
        dropped since 2013-04-17T19:04:46+00:00.
    2011-05-03T17:40:10+00:00 heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail
        session dropped 1101 messages since 2011-05-03T17:40:10+00:00

Both stamps are whole seconds (as in real exports). Here every source (router, app, platform,
add-ons) loses `fraction` of its lines whose sort key falls in the window: 1.0 is a gap, less a
thinning. A gap is reported once, when delivery resumes; a thinning, as Logplex does while the
buffer keeps overflowing, once per chunk of 1-3 minutes (each report counts the lines dropped
in its chunk, since the first of them). Lines are dropped at write time, so the simulation
(and everything it planted) is the same as without the knob: the export is that one minus the
dropped lines plus the reports. The knob draws from its own random stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from .timefmt import MINUTE, US, iso

CODES = ("L10", "L11")
SOURCE = "heroku[logplex]"


@dataclass
class Chunk:
    """A stretch of the window reported by one L10/L11 line."""

    start: int  # sort keys [start, end) lose lines
    end: int
    report: int  # when the report line is logged (a whole second after `end`)
    dropped: int = 0
    since: str | None = None  # the first dropped line's stamp, to the second
    first: str | None = None  # first and last dropped lines' stamps (microseconds)
    last: str | None = None
    done: bool = False


@dataclass
class LogLoss:
    """The loss window's chunks, and what was dropped and reported (for the truth)."""

    rng: np.random.Generator
    start: int
    end: int
    fraction: float
    code: str
    chunks: list[Chunk]
    by_kind: dict[str, int] = field(default_factory=dict)
    reports: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, list[np.ndarray]] = field(default_factory=dict)  # dropped, per kind

    def lost(self, kind: str, lo: int, hi: int) -> int:
        """How many dropped lines of `kind` had sort keys in [lo, hi] (for truth counts that
        the simulation made: what the log shows is that many fewer)."""
        arrs = self.keys.get(kind) or []
        return int(sum(((a >= lo) & (a <= hi)).sum() for a in arrs))

    def drop(self, keys: np.ndarray, lines: list[str], kinds: np.ndarray) -> np.ndarray:
        """Mask of the lines (in key order, `kinds` their kind names) that survive; counts the
        dropped ones into their chunk."""
        keep = np.ones(len(keys), dtype=bool)
        if not len(keys) or keys[-1] < self.start or keys[0] >= self.end:
            return keep
        for c in self.chunks:
            if c.done:
                continue
            lo, hi = np.searchsorted(keys, [c.start, c.end])
            if hi <= lo:
                continue
            gone = np.arange(lo, hi)
            if self.fraction < 1:
                gone = gone[self.rng.random(hi - lo) < self.fraction]
            if not len(gone):
                continue
            keep[gone] = False
            if c.since is None:
                c.first = lines[gone[0]].split(" ", 1)[0]
                c.since = c.first[:19] + "+00:00"
            c.last = lines[gone[-1]].split(" ", 1)[0]
            c.dropped += len(gone)
            for k, n in zip(*np.unique(kinds[gone], return_counts=True), strict=True):
                self.by_kind[str(k)] = self.by_kind.get(str(k), 0) + int(n)
                self.keys.setdefault(str(k), []).append(keys[gone][kinds[gone] == k])
        return keep

    def due(self, upto: int) -> list[tuple[int, str]]:
        """The report lines (key, text) of chunks whose report time is below `upto`; a chunk
        with nothing dropped reports nothing."""
        out = []
        for c in self.chunks:
            if c.done or c.report >= upto:
                continue
            c.done = True
            if not c.dropped:
                continue
            stamp = datetime.fromtimestamp(c.report // US, UTC).isoformat()
            out.append((c.report, f"{stamp} {SOURCE}: {report_message(self.code, c)}"))
            self.reports.append(
                {"time": stamp, "since": c.since, "dropped": c.dropped, "first": c.first,
                 "last": c.last}
            )  # fmt: skip
        return out

    def truth(self, minutes: float) -> dict[str, Any]:
        """The truth entry: the window, what was dropped, and each report."""
        dropped = [c for c in self.chunks if c.dropped]
        return {
            "code": self.code,
            "source": SOURCE,
            "window_start": iso(self.start),
            "window_end": iso(self.end),
            "minutes": minutes,
            "fraction": self.fraction,
            # the first and last dropped lines' stamps
            "start": dropped[0].first if dropped else None,
            "end": dropped[-1].last if dropped else None,
            "dropped": sum(c.dropped for c in self.chunks),
            "reported": sum(int(r["dropped"]) for r in self.reports),
            "by_kind": dict(sorted(self.by_kind.items())),
            "reports": self.reports,
        }


def report_message(code: str, c: Chunk) -> str:
    """Logplex's wording of one report."""
    if code == "L11":
        return (
            f"Error L11 (Tail buffer overflow) -> This tail session dropped {c.dropped} "
            f"messages since {c.since}"
        )
    return f"Error L10 (output buffer overflow): {c.dropped} messages dropped since {c.since}."


def new_loss(seed: int, t0: int, at_hours: float, minutes: float, fraction: float,
             code: str) -> LogLoss:  # fmt: skip
    """The knob's state: the window's chunks, drawn from a random stream of its own."""
    rng = np.random.default_rng([seed, 6])
    start = t0 + int(at_hours * 3600 * US)
    end = start + int(minutes * MINUTE)
    chunks, a = [], start
    while a < end:
        b = min(end, a + int(rng.uniform(1, 3) * MINUTE)) if fraction < 1 else end
        report = (-(-b // US) + int(rng.integers(0, 3))) * US  # the next whole second or two
        chunks.append(Chunk(a, b, report))
        a = report + 1  # lines are delivered again until the next overflow
    return LogLoss(rng, start, end, fraction, code, chunks)
