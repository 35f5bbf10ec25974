"""Plain-text renderings of library results for the terminal (the CLI prints them)."""

from __future__ import annotations

import re
from datetime import datetime

from forensics import native
from forensics.findings import Finding, Source
from forensics.heroku import ADDON_LOG_TYPES, process_type
from forensics.ingest.summary import IngestSummary

# C0 controls but tab and newline (ESC starts `ESC[2J`, `ESC]0;title`), DEL, C1 controls (CSI,
# OSC as one byte), bidi embeddings, overrides, isolates and marks, line/paragraph separators
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """`text` fit for a terminal: every control or bidi character shown as an escape (`\\x1b`,
    `\\u202e`), so log text can neither drive the terminal nor reorder what is shown."""
    return _UNSAFE.sub(_escape, text)


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_STATUS = {"already_ingested": "already ingested", "not_a_log": "not a Heroku log"}
_TABLE_ORDER = ("requests", "dyno_metrics", "addon_metrics", "events", "app_logs")


def _iso(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S") + "Z" if ts else "-"


def _list(items: list[str], limit: int = 12) -> str:
    if not items:
        return "-"
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _dyno_list(dynos: list[str]) -> str:
    """The dynos, with the many per-backend streams of an add-on's server log (`postgres.4242`,
    one per Postgres pid) folded into one entry: `postgres.* (984 streams)`."""
    streams: dict[str, int] = {}
    kept = []
    for d in dynos:
        t = process_type(d)
        if t in ADDON_LOG_TYPES and d != t:
            streams[t] = streams.get(t, 0) + 1
        else:
            kept.append(d)
    folded = [f"{t}.* ({n} stream{'s' if n > 1 else ''})" for t, n in sorted(streams.items())]
    return _list(kept + folded) if kept or folded else "-"


def ingest_summary_text(summary: IngestSummary) -> str:
    """The end-of-ingest summary: files, lines read, where they went, span, apps, dynos."""
    t = summary.totals()
    files = t["files"]
    head = f"{files['ingested']} file(s) ingested into {summary.dataset}"
    extra = [f"{n} {_STATUS.get(s, s)}" for s, n in files.items() if n and s != "ingested"]
    if extra:
        head += " (" + ", ".join(extra) + ")"
    rows = [head, f"  {'lines read':<16}{t['lines_read']:>12,}"]
    for table in _TABLE_ORDER:
        rec = t["records"].get(table, 0)
        n = t["rows"].get(table, 0)
        if rec or n:
            tail = f" rows from {rec:,} lines" if n != rec else " rows"
            rows.append(f"  {table:<16}{n:>12,}{tail}")
    reasons = ", ".join(f"{r} {n:,}" for r, n in sorted(t["rejects_by_reason"].items()))
    rows.append(
        f"  {'rejected':<16}{t['rejected_lines']:>12,} lines" + (f": {reasons}" if reasons else "")
    )
    rows.append(f"  {'joined wraps':<16}{t['joined_lines']:>12,} lines")
    rows.append(f"  {'duplicates':<16}{t['duplicate_lines']:>12,} lines skipped")
    start, end = t["time_span"]
    rows.append(f"  {'time span':<16}{_iso(start)} .. {_iso(end)}")
    rows.append(f"  {'apps':<16}{_list(t['apps'])}")
    rows.append(f"  {'dynos':<16}{_dyno_list(t['dynos'])}")
    rows.append(f"  {'engine':<16}{summary.engine}")
    if summary.engine != "native" and not native.AVAILABLE:
        rows.append(f"  note: {native.NOT_BUILT}")
    for warning in summary.warnings:
        rows.append(f"  warning: {warning}")
    rows.extend(f"  note: {note}" for note in summary.notes)
    for f in summary.files:
        for note in f.notes:
            rows.append(f"  {f.name}: note: {note}")
        if f.status == "empty":
            rows.append(f"  {f.name}: empty, nothing ingested")
        elif f.status == "not_a_log":
            rows.append(
                f"  {f.name}: not a Heroku log (no line has a Heroku shape); "
                f"its {f.lines:,} lines are in rejects"
            )
        elif f.status == "already_ingested":
            rows.append(f"  {f.name}: already in the dataset (same content), nothing added")
    return "\n".join(rows)


_MARK = {"critical": "CRIT", "warning": "WARN", "info": "INFO"}


def findings_text(findings: list[Finding]) -> str:
    """Ranked findings, one paragraph each: severity, kind, where and when, the sentence,
    and the input lines behind it."""
    if not findings:
        return "No findings: nothing in these logs crossed a threshold."
    out = []
    several = len({f.app for f in findings}) > 1  # then every line names its app
    for i, f in enumerate(findings, start=1):
        app = f.app or ("no app" if several else None)
        where = ", ".join(x for x in (app, f.dyno or f.process_type, f.route, f.release) if x)
        span = f"{_iso(f.start)} .. {_iso(f.end)}" if f.start else ""
        out.append(f"{i:>2}. [{_MARK[f.severity]}] {f.kind}  {where}  {span}".rstrip())
        out.append(f"    {f.summary}")
        if f.sources:
            out.append(f"    lines: {_lines(f.sources)}")
    return "\n".join(out)


def _lines(sources: list[Source], limit: int = 5) -> str:
    """`a.log:12, 40-44; b.log:7 (+3 more)`: the first input lines behind a finding, grouped
    by file, a single line without a range."""
    by_file: dict[str, list[str]] = {}
    for s in sources[:limit]:
        span = f"{s.first_line}" if s.first_line == s.last_line else f"{s.first_line}-{s.last_line}"
        by_file.setdefault(s.file, []).append(span)
    text = "; ".join(f"{file}:{', '.join(spans)}" for file, spans in by_file.items())
    return text + (f" (+{len(sources) - limit} more)" if len(sources) > limit else "")
