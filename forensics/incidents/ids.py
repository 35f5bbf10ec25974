"""Deterministic ids: the same finding or incident gets the same id in every run and command."""

from __future__ import annotations

import hashlib

from forensics.findings import Finding


def _digest(*parts: object) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def finding_key(f: Finding) -> tuple[str, ...]:
    """What identifies a finding: kind, where, when and its first source line."""
    src = f.sources[0] if f.sources else None
    first = f"{src.file}:{src.first_line}" if src else ""
    start = f.start.isoformat() if f.start else ""
    return (
        f.kind,
        f.app or "",
        f.dyno or "",
        f.process_type or "",
        f.route or "",
        f.release or "",
        start,
        first,
    )


def finding_id(f: Finding) -> str:
    """`f-` plus a short hash of the finding's key (see `finding_key`)."""
    return "f-" + _digest(*finding_key(f))


def incident_id(root: Finding) -> str:
    """`i-` plus a short hash of the root finding's kind, app, key and start."""
    return "i-" + _digest("incident", root.kind, root.app, finding_id(root), root.start)
