"""Render events into each export format, for the reader tests (counts always correct)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

TOKEN = "d.8f7a4b11-c323-c764-a74f-89bf4c1100ab"
PRI = {"router": 158, "heroku": 45, "app": 190, "heroku-postgres": 134, "heroku-redis": 134}
_CLI = re.compile(r"^(\S+) ([a-z][a-z0-9_-]*)\[([^\]]+)\]:(?: (.*))?$")


@dataclass(frozen=True)
class Event:
    """One log event as the envelope sees it, with its timestamp as written."""

    ts_text: str
    origin: str
    dyno: str
    message: str

    @property
    def ts(self) -> datetime:
        return datetime.fromisoformat(self.ts_text)

    @property
    def pri(self) -> int:
        return PRI.get(self.dyno, PRI.get(self.origin, 13))


def parse_cli(text: str) -> list[Event]:
    """Events from `heroku logs` lines (`TS origin[dyno]: message`)."""
    out = []
    for line in text.splitlines():
        m = _CLI.match(line)
        assert m, line
        out.append(Event(m[1], m[2], m[3], m[4] or ""))
    return out


def frame(body: str) -> bytes:
    """One octet-counted frame."""
    raw = body.encode()
    return str(len(raw)).encode() + b" " + raw


def drain_body(events: list[Event]) -> bytes:
    """Frames in every header layout, glued or newline-separated, some with Logentries times."""
    out = bytearray()
    for i, e in enumerate(events):
        head = f"<{e.pri}>1 {e.ts_text}"
        if i % 4 == 3 and e.origin == "heroku":
            body = f"{head} heroku {e.dyno} {TOKEN} - {e.message}"
        elif i % 4 == 1:
            body = f"{head} {TOKEN} {e.origin} {e.dyno} - - {e.message}"
        elif i % 5 == 4:
            body = f"{head} {e.origin} {e.dyno} - - {e.message}"
            out += (
                b"2019-05-01 11:14:53.114 "
                if out.endswith(b"\n")
                else b"\n2019-05-01 11:14:53.114 "
            )
        else:
            body = f"{head} host {e.origin} {e.dyno} - {e.message}"
        out += frame(body)
        if i % 2:
            out += b"\n"
    return bytes(out)


def syslog_5424(events: list[Event]) -> bytes:
    """Newline-delimited RFC 5424 (with and without PRI, `T` or space) and RFC 3339 tag lines."""
    lines = []
    for i, e in enumerate(events):
        if i % 4 == 0:
            lines.append(f"<{e.pri}>1 {e.ts_text} host {e.origin} {e.dyno} - {e.message}")
        elif i % 4 == 1:
            lines.append(f"{e.ts_text} {TOKEN} {e.origin} {e.dyno} - - {e.message}")
        elif i % 4 == 2:
            ts = e.ts_text.replace("T", " ", 1)
            lines.append(f"{ts} {e.origin} {e.dyno} - - {e.message}")
        else:
            lines.append(f"{e.ts_text} {TOKEN} {e.origin}[{e.dyno}]: {e.message}")
    return ("\n".join(lines) + "\n").encode()


def _local(e: Event, tz: str) -> datetime:
    return e.ts.astimezone(ZoneInfo(tz))


def bsd(events: list[Event], tz: str, host: str = "host") -> bytes:
    """Classic BSD syslog lines (`Mon dd HH:MM:SS`) in zone `tz`."""
    lines = []
    for e in events:
        t = _local(e, tz)
        lines.append(f"{t:%b} {t.day:2d} {t:%H:%M:%S} {host} {e.origin}[{e.dyno}]: {e.message}")
    return ("\n".join(lines) + "\n").encode()


def papertrail_text(events: list[Event], tz: str, system: str) -> bytes:
    """Papertrail text view lines in zone `tz` (two spaces after the colon)."""
    lines = []
    for e in events:
        t = _local(e, tz)
        lines.append(f"{t:%b %d %H:%M:%S} {system} {e.origin}/{e.dyno}:  {e.message}")
    return ("\n".join(lines) + "\n").encode()


def papertrail_tsv(events: list[Event], system: str) -> bytes:
    """Papertrail archive rows, times at -0800 like Papertrail's own example."""
    west = timezone(timedelta(hours=-8))
    lines = []
    for i, e in enumerate(events):
        gen = e.ts.astimezone(west)
        rec = gen + timedelta(seconds=1)
        cols = [
            str(700000000 + i),
            gen.strftime("%Y-%m-%d %H:%M:%S %z"),
            rec.strftime("%Y-%m-%d %H:%M:%S %z"),
            "42424",
            system,
            "10.0.0.1",
            "Local7",
            "Info",
            f"{e.origin}/{e.dyno}",
            e.message,
        ]
        lines.append("\t".join(cols))
    return ("\n".join(lines) + "\n").encode()
