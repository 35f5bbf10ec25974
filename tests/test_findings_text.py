"""The terminal form of findings (`forensics findings` without --json)."""

from __future__ import annotations

from datetime import UTC, datetime

from forensics.cli.text import findings_text
from forensics.findings import Finding, Source


def test_a_finding_is_a_heading_a_sentence_and_its_lines() -> None:
    at = datetime(2024, 5, 20, 20, 0, tzinfo=UTC)
    crash = Finding(
        kind="crash",
        severity="critical",
        summary="worker.1 crashed.",
        app="acme",
        dyno="worker.1",
        release="v3",
        start=at,
        end=at,
        sources=[
            Source("a.log", 12, 12),
            Source("a.log", 40, 44),
            Source("b.log", 7, 7),
            *[Source("b.log", n, n) for n in (9, 11, 13)],
        ],
    )
    assert findings_text([crash]).splitlines() == [
        " 1. [CRIT] crash  acme, worker.1, v3  2024-05-20T20:00:00Z .. 2024-05-20T20:00:00Z",
        "    worker.1 crashed.",
        "    lines: a.log:12, 40-44; b.log:7, 9, 11 (+1 more)",
    ]


def test_no_findings_says_so() -> None:
    assert findings_text([]) == "No findings: nothing in these logs crossed a threshold."
