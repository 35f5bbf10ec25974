"""A postmortem draft in Markdown: summary, impact, timeline, root cause, what changed, advice,
each step with the log lines that prove it (`excerpt(file, line)`) and their `file:line`."""

from __future__ import annotations

from collections.abc import Callable

from forensics.incidents.model import Incident
from forensics.incidents.text import app_label, impact_line

Excerpt = Callable[[str, int], list[str]]


def _no_excerpt(file: str, line: int) -> list[str]:
    return []


def _sources(sources: list, excerpt: Excerpt) -> list[str]:
    out = []
    for s in sources[:3]:
        out.append(f"  - `{s.file}:{s.first_line}`")
        lines = excerpt(s.file, s.first_line)
        if lines:
            out.append("    ```")
            out += [f"    {x}" for x in lines]
            out.append("    ```")
    return out


def incidents_markdown(incidents: list[Incident], excerpt: Excerpt = _no_excerpt) -> str:
    out = ["# Incident review", ""]
    if not incidents:
        out += ["No incidents: nothing in these logs crossed a threshold.", ""]
    for inc in incidents:
        out += [
            f"## {app_label(inc, incidents)}{inc.title}",
            "",
            f"`{inc.id}`, {inc.severity}, {inc.start} to {inc.end}"
            + (" (ongoing)" if inc.ongoing else ""),
            "",
            "### Summary",
            "",
            inc.cause,
            "",
            "### Impact",
            "",
            impact_line(inc),
            "",
            "### Timeline",
            "",
        ]
        for s in inc.timeline:
            out.append(f"- {s.ts:%Y-%m-%d %H:%M:%S} {s.text}" if s.ts else f"- {s.text}")
            out += _sources(s.sources, excerpt)
        out += ["", "### Root cause", "", inc.cause]
        out += _sources(inc.cause_sources, excerpt)
        out += ["", "### What changed", ""]
        for label, c in (("Trigger", inc.trigger), ("Resolved by", inc.resolved_by)):
            out.append(
                f"- {label}: "
                + (f"{c.kind} {c.release or ''} at {c.ts} {c.summary}" if c else "none found")
            )
        out += ["", "### Advice", ""] + [f"- {a}" for a in inc.advice] + [""]
    return "\n".join(out)
