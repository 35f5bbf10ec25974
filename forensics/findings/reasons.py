"""The app's own reason for a crash (`forensics.analyses.crash_reasons`) as finding text,
evidence and sources: shared by every crash-related finding (crash, crash_loop, boot_timeout,
downtime)."""

from __future__ import annotations

from typing import Any

import polars as pl

from forensics.analyses.crash_reasons import block_sources
from forensics.findings import Source


def with_reason(summary: str, reason: dict[str, Any] | None, *, of: str = "crashes") -> str:
    """`summary` ending with the app's own reason: `...: KeyError: 'X' (app/config.py:12).`
    (`of` names what the reason's counts count: crashes, or a job's failed runs.)"""
    if not reason:
        return summary
    where = f" ({reason['location']})" if reason.get("location") else ""
    share = ""
    if reason.get("of_crashes", 0) > reason.get("crashes", 0):
        share = f" in {reason['crashes']} of {reason['of_crashes']} {of}"
    also = "; ".join(f"{o['text']} ({o['crashes']})" for o in reason.get("others", [])[:2])
    also = f"; also {also}" if also else ""
    text = str(reason["text"]).rstrip(".")
    return f"{summary.rstrip('.')}: {text}{where}{_root_cause(reason)}{share}{also}."


def _message(line: str) -> str:
    return line.split(": ", 1)[-1].strip().rstrip(".")


def _root_cause(reason: dict[str, Any]) -> str:
    """`, caused by <the deepest cause>` when it says something the exception does not (Java's
    `Caused by: java.net.UnknownHostException: db...` under a BeanCreationException; not
    Python's psycopg2 error that Django re-raises with the same message)."""
    causes = [str(c) for c in reason.get("caused_by") or [] if str(c).strip()]
    if not causes or _message(causes[-1]) == _message(str(reason["text"])):
        return ""
    return f", caused by {causes[-1].rstrip('.')}"


def reason_sources(reason: dict[str, Any] | None, rows: pl.DataFrame | None = None) -> list[Source]:
    """The input lines of a reason's error block, or of every crash's block among `rows`."""
    if rows is not None and "reason_sources" in rows.columns:
        items = block_sources(rows)
    else:
        items = (reason or {}).get("sources", [])
    return [Source(s["file"], int(s["first_line"]), int(s["last_line"])) for s in items]


def attach_reason(evidence: dict[str, Any], reason: dict[str, Any] | None) -> dict[str, Any]:
    """`evidence` with `reason` under its key when there is one."""
    if reason:
        evidence["reason"] = reason
    return evidence
