"""Incidents for the terminal: a short paragraph each, its impact line and timeline."""

from __future__ import annotations

from forensics.incidents.model import Incident


def _src(sources: list) -> str:
    return ", ".join(f"{s.file}:{s.first_line}" for s in sources[:2])


def impact_line(inc: Incident) -> str:
    i = inc.impact
    return (
        f"down {i.get('downtime_minutes', 0):g} min, {i.get('failed_requests', 0)} failed "
        f"requests, H12 {i.get('h12', 0)}, R14 {i.get('r14', 0)}, R15 {i.get('r15', 0)}, "
        f"crashes {i.get('crashes', 0)}"
        + (f", failed job runs {i['failed_jobs']}" if i.get("failed_jobs") else "")
    )


def app_label(inc: Incident, incidents: list[Incident]) -> str:
    """`shop: ` before a title when the incidents are of more than one app, else nothing."""
    if len({i.app for i in incidents}) < 2:
        return ""
    return f"{inc.app or 'no app'}: "


def incidents_text(incidents: list[Incident]) -> str:
    """The incidents as terminal paragraphs: title, cause, impact, timeline with sources."""
    if not incidents:
        return "No incidents: nothing in these logs crossed a threshold."
    out = []
    for n, inc in enumerate(incidents, 1):
        when = f"{inc.start:%Y-%m-%d %H:%M}" if inc.start else "?"
        state = " (ongoing)" if inc.ongoing else ""
        title = app_label(inc, incidents) + inc.title
        out.append(f"{n}. [{inc.severity}] {title} — {when}{state} ({inc.id})")
        out.append(f"   {inc.cause}")
        out.append(f"   impact: {impact_line(inc)}")
        for s in inc.timeline:
            ts = f"{s.ts:%m-%d %H:%M:%S}" if s.ts else "?"
            src = f"  [{_src(s.sources)}]" if s.sources else ""
            out.append(f"   {ts}  {s.text}{src}")
        out.append("")
    return "\n".join(out)
