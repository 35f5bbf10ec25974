"""The report page: one self-contained HTML file (styles, Vega JavaScript and chart specs inline).

Every text that comes from the logs passes through `Page.text` (optional redaction, then HTML
escaping); chart specs are embedded as JSON in `<script type="application/json">` with `<`, `>`
and `&` written as `\\u003c`... so no log content can end a script element or become markup.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from string import Template
from typing import Any

from forensics.charts.strip import impact_line
from forensics.report.assets import vega_bundle
from forensics.report.bidi import neutral_bidi

MAX_EVIDENCE_ITEMS = 8
MAX_EVIDENCE_ROWS = 12
MAX_SOURCES_SHOWN = 12
MAX_TEXT = 300
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]00:?00)$")


@dataclass
class ChartBlock:
    """One chart: its spec (Vega-Lite dict), or a note saying why there is none."""

    key: str
    title: str
    caption: str
    spec: dict[str, Any] | None = None
    note: str = ""


@dataclass
class Table:
    """One key table: column names, rows of plain values, and an optional note."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""
    numeric: set[int] = field(default_factory=set)


# A source reference: (file, first line, last line), as findings and incidents give them.
Ref = tuple[str, int, int]


@dataclass(frozen=True)
class SourceRef:
    """A table cell that is a source reference (`file:line`): drawn with its excerpt."""

    file: str
    first_line: int
    last_line: int

    @property
    def ref(self) -> Ref:
        return (self.file, self.first_line, self.last_line)


@dataclass
class IncidentView:
    """What the report shows for one incident beside its JSON: its zoomed charts, or for an
    incident that spans about the whole log, links (key, title) to the whole log's charts."""

    window: tuple[datetime, datetime] | None = None
    charts: list[ChartBlock] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)


def _plural(n: int, noun: str) -> str:
    """`1 finding`, `3 findings`."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def json_for_script(value: Any) -> str:
    """JSON safe inside a `<script>` element: `<`, `>`, `&` and all non-ASCII as escapes."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def fmt(value: Any, *, shorten: bool = True) -> str:
    """A table cell or evidence value as short text (times in UTC, numbers grouped); `shorten`
    cuts text to MAX_TEXT characters."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if 0 < abs(value) < 0.01:  # a p-value or a rate per request: not "0"
            return f"{value:.2g}"
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") + ("Z" if value.tzinfo else "")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if ISO_UTC.match(text):
        return text[:10] + " " + text[11:19] + "Z"
    return _short(text) if shorten else text


def _short(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table_html(
    heads: Sequence[str],
    rows: Sequence[Sequence[tuple[str, bool]]],
    numeric_heads: Collection[int] = (),
) -> str:
    """A `<table>` from escaped head texts and rows of (escaped cell, is a number) pairs; number
    columns and cells are right-aligned (`num`)."""
    ths = "".join(
        f'<th class="num">{h}</th>' if i in numeric_heads else f"<th>{h}</th>"
        for i, h in enumerate(heads)
    )
    trs = "\n".join(
        "<tr>"
        + "".join(f'<td class="{"num" if num else ""}">{text}</td>' for text, num in row)
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{ths}</tr></thead><tbody>{trs}</tbody></table>"


MAX_LINE = 600  # characters of one excerpt line shown


def _severity(inc: dict[str, Any]) -> str:
    sev = str(inc.get("severity", "info"))
    return sev if sev in ("critical", "warning", "info") else "info"


def _when(inc: dict[str, Any]) -> str:
    """`2024-05-20 20:00 → 05-21 17:59 (21 h 59 min, ongoing)`."""
    start, end = _dt(inc.get("start")), _dt(inc.get("end"))
    if start is None:
        return "time unknown"
    text = f"{start:%Y-%m-%d %H:%M}"
    if end is not None and end > start:
        text += f" → {end:%H:%M}" if end.date() == start.date() else f" → {end:%m-%d %H:%M}"
        text += f" ({_duration((end - start).total_seconds())}"
        text += ", ongoing)" if inc.get("ongoing") else ")"
    elif inc.get("ongoing"):
        text += " (ongoing)"
    return text


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    h, m = divmod(minutes, 60)
    if h >= 48:
        d, h = divmod(round(minutes / 60), 24)
        return f"{d} d {h} h" if h else f"{d} d"
    return f"{h} h {m} min" if m else f"{h} h"


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


class Page:
    """Builds the page; `clean` masks text (redaction) before bidi controls are made visible
    and the text is escaped."""

    def __init__(
        self, clean: Callable[[str], str], excerpts: Mapping[Ref, Sequence[Any]] | None = None
    ) -> None:
        self.clean = clean
        self.excerpts: Mapping[Ref, Sequence[Any]] = excerpts or {}
        self._specs = 0
        self._excerpt_ids: dict[Ref, str] = {}
        self._excerpt_html: list[str] = []

    def text(self, value: Any) -> str:
        """Log-derived text, masked if redacting (before it is shortened, so a cut never leaves
        half an address unmasked), HTML-escaped (safe in elements and attributes)."""
        return html.escape(neutral_bidi(_short(self.clean(fmt(value, shorten=False)))), quote=True)

    def prose(self, value: str) -> str:
        """Our own text (captions, notes), never shortened; masked and escaped all the same."""
        return html.escape(neutral_bidi(self.clean(value)), quote=True)

    # ----- sections -----------------------------------------------------------------------

    def findings(self, items: list[dict[str, Any]] | None, note: str) -> str:
        """The findings, most severe first, or the note saying why there are none."""
        if items is None:
            return f'<p class="note">{self.prose(note)}</p>'
        if not items:
            return '<p class="note">No findings: the analyses found nothing to report.</p>'
        counts: dict[str, int] = {}
        for f in items:
            counts[f.get("severity", "info")] = counts.get(f.get("severity", "info"), 0) + 1
        head = ", ".join(f"{n} {sev}" for sev, n in counts.items())
        cards = "\n".join(self._finding(f) for f in items)
        return f'<p class="count">{self.text(head)}</p>\n{cards}'

    def incidents(
        self,
        items: list[dict[str, Any]] | None,
        by_id: dict[str, dict[str, Any]],
        *,
        views: Mapping[str, IncidentView] | None = None,
        strip: ChartBlock | None = None,
    ) -> str:
        """The first screen and the incidents: how many, what each cost (one row each, a link
        to its section), the timeline `strip` of all of them over the whole log; then each
        incident (`Incident.to_json()`, most costly first): title, impact, cause, what changed
        and what ended it, advice, links to its charts zoomed to its window (`views`), the
        timeline with its sources, and its member findings folded (`by_id`: finding id ->
        finding JSON)."""
        if items is None:
            return '<p class="note">The incidents could not be built (see the findings).</p>'
        if not items:
            empty = '<p class="note">No incidents: the analyses found nothing to report.</p>'
            return empty + (self.chart(strip) if strip is not None else "")
        views = views or {}
        counts: dict[str, int] = {}
        for inc in items:
            counts[str(inc.get("severity", "info"))] = (
                counts.get(inc.get("severity", "info"), 0) + 1
            )
        by_sev = ", ".join(f"{n} {sev}" for sev, n in counts.items())
        n = self.text(_plural(len(items), "incident"))
        head = f'<p class="count">{n} ({self.text(by_sev)})</p>'
        rows = "".join(self._cost_row(rank, inc) for rank, inc in enumerate(items, start=1))
        costs = (
            '<table class="costs"><thead><tr><th>#</th><th>incident</th><th>when (UTC)</th>'
            f"<th>cost</th></tr></thead><tbody>{rows}</tbody></table>"
        )
        strip_html = self.chart(strip) if strip is not None else ""
        cards = "\n".join(
            self._incident(rank, i, by_id, views.get(str(i.get("id"))))
            for rank, i in enumerate(items, start=1)
        )
        return f'<div class="first">{head}{costs}{strip_html}</div>\n{cards}'

    def _cost_row(self, rank: int, inc: dict[str, Any]) -> str:
        sev = _severity(inc)
        return (
            f'<tr class="{sev}"><td class="num">{rank}</td>'
            f'<td><span class="sev">{self.text(sev)}</span> '
            f'<a href="#{self.text(inc.get("id"))}">'
            f"{self.prose(str(inc.get('title', '')))}</a></td>"
            f"<td>{self.text(_when(inc))}</td>"
            f'<td class="cost">{self.text(impact_line(inc.get("impact") or {}))}</td></tr>'
        )

    def _incident(
        self,
        rank: int,
        inc: dict[str, Any],
        by_id: dict[str, dict[str, Any]],
        view: IncidentView | None,
    ) -> str:
        sev_class = _severity(inc)
        changes = []
        for key, label in (("trigger", "after"), ("resolved_by", "ended by")):
            c = inc.get(key)
            if c:
                changes.append(
                    f"{label}: {self.prose(str(c.get('summary') or c.get('kind')))}"
                    + self._sources(c.get("sources") or [], inline=True)
                )
        steps = "".join(
            f"<li><code>{self.text(s.get('ts'))}</code> {self.prose(str(s.get('text', '')))}"
            f"{self._sources(s.get('sources') or [])}</li>"
            for s in inc.get("timeline") or []
        )
        members = "".join(self._finding(by_id[f]) for f in inc.get("findings", []) if f in by_id)
        advice = "".join(f"<li>{self.prose(a)}</li>" for a in inc.get("advice") or [])
        inc_id = self.text(inc.get("id"))
        charts = "" if view is None else self._zoomed(inc_id, view)
        return (
            f'<section class="incident {sev_class}" id="{inc_id}">'
            f'<h3><span class="rank">#{rank}</span> '
            f'<span class="sev">{self.text(sev_class)}</span> '
            f"{self.prose(str(inc.get('title')))}</h3>"
            f'<p class="scope">{self.text(_when(inc))} · '
            f'<b class="cost">{self.text(impact_line(inc.get("impact") or {}))}</b></p>'
            f"<p>{self.prose(str(inc.get('cause', '')))}"
            f"{self._sources(inc.get('cause_sources') or [], inline=True)}</p>"
            + (f"<p>{' · '.join(changes)}</p>" if changes else "")
            + (f'<ul class="advice">{advice}</ul>' if advice else "")
            + charts
            + f'<details class="steps"><summary>timeline</summary><ol>{steps}</ol></details>'
            + f'<details class="members"><summary>'
            f"{_plural(len(inc.get('findings', [])), 'finding')}</summary>"
            + members
            + "</details></section>"
        )

    def _zoomed(self, inc_id: str, view: IncidentView) -> str:
        """Links to the incident's charts and the charts themselves, zoomed to its window,
        folded (a link opens them)."""
        if not view.charts:
            if not view.links:
                return ""
            links = " · ".join(
                f'<a href="#{self.text(k)}">{self.text(t)}</a>' for k, t in view.links
            )
            return f'<p class="zoom-links">its window is the whole log: {links}</p>'
        links = " · ".join(
            f'<a class="zoom-link" href="#{self.text(c.key)}">{self.text(c.title)}</a>'
            for c in view.charts
        )
        span = ""
        if view.window is not None:
            span = f" ({self.text(fmt(view.window[0]))} → {self.text(fmt(view.window[1]))})"
        body = "".join(self.chart(c, level=4) for c in view.charts)
        return (
            f'<p class="zoom-links">charts of this window: {links}</p>'
            f'<details class="zoom" id="{inc_id}-charts"><summary>charts zoomed to the '
            f"incident{span}</summary>{body}</details>"
        )

    def _finding(self, f: dict[str, Any]) -> str:
        """One finding: severity, kind and summary always visible; scope, key numbers and
        sources unfolded for critical findings, one click away for the others."""
        sev = str(f.get("severity", "info"))
        sev_class = sev if sev in ("critical", "warning", "info") else "info"
        scope = []
        for key in ("app", "process_type", "dyno", "route", "release"):
            if f.get(key):
                scope.append(f"{key.replace('_', ' ')} <b>{self.text(f[key])}</b>")
        if f.get("start"):
            span = fmt(f["start"])
            if f.get("end") and f["end"] != f["start"]:
                span += " → " + fmt(f["end"])
            scope.append(self.text(span))
        evidence = "".join(self._evidence_item(k, v) for k, v in (f.get("evidence") or {}).items())
        is_open = " open" if sev_class == "critical" else ""
        return (
            f'<details class="finding {sev_class}"{is_open}>'
            f'<summary><span class="sev">{self.text(sev)}</span> '
            f'<span class="kind">{self.text(f.get("kind", ""))}</span> '
            f'<span class="summary">{self.prose(str(f.get("summary", "")))}</span></summary>'
            f'<p class="scope">{" · ".join(scope)}</p>'
            + (f'<dl class="evidence">{evidence}</dl>' if evidence else "")
            + self._sources(f.get("sources") or [])
            + "</details>"
        )

    def _evidence_item(self, key: Any, value: Any) -> str:
        """One evidence entry: inline, or a small table on its own line for a list of
        records (the lifetimes of a leak, the routes it blames, a release's regressions)."""
        label = self.text(str(key).replace("_", " "))
        if value and isinstance(value, list | tuple) and all(isinstance(v, dict) for v in value):
            return f'<div class="records"><dt>{label}</dt><dd>{self._records(value)}</dd></div>'
        return f"<div><dt>{label}</dt><dd>{self._evidence(value)}</dd></div>"

    def _records(self, rows: Sequence[dict[str, Any]]) -> str:
        """Records as a table: the union of their keys as columns, the first rows only."""
        shown = rows[:MAX_EVIDENCE_ROWS]
        columns = list(dict.fromkeys(k for r in shown for k in r))
        heads = [self.text(str(c).replace("_", " ")) for c in columns]
        cells = [
            [(self._evidence(v), isinstance(v, int | float) and not isinstance(v, bool))
             for v in (r.get(c) for c in columns)]
            for r in shown
        ]  # fmt: skip
        more = len(rows) - len(shown)
        tail = f'<p class="note">+{more} more</p>' if more > 0 else ""
        return _table_html(heads, cells) + tail

    def _evidence(self, value: Any) -> str:
        if isinstance(value, dict):
            items = list(value.items())
            shown = ", ".join(
                f"{self.text(k)}: {self.text(v)}" for k, v in items[:MAX_EVIDENCE_ITEMS]
            )
            more = len(items) - MAX_EVIDENCE_ITEMS
            return shown + (f" (+{more} more)" if more > 0 else "")
        if isinstance(value, list | tuple):
            shown = ", ".join(self.text(v) for v in value[:MAX_EVIDENCE_ITEMS])
            more = len(value) - MAX_EVIDENCE_ITEMS
            return shown + (f" (+{more} more)" if more > 0 else "")
        return self.text(value)

    def _sources(self, sources: Sequence[dict[str, Any]], *, inline: bool = False) -> str:
        """Source references, each opening the raw lines around it (`source_ref`)."""
        if not sources:
            return ""
        parts = [
            self.source_ref((str(s.get("file")), int(s.get("first_line") or 0),
                             int(s.get("last_line") or s.get("first_line") or 0)))
            for s in sources[:MAX_SOURCES_SHOWN]
        ]  # fmt: skip
        more = len(sources) - MAX_SOURCES_SHOWN
        tail = f" (+{more} more)" if more > 0 else ""
        if inline:
            return f' <span class="sources">{" ".join(parts)}{tail}</span>'
        return f'<div class="sources">sources: {" ".join(parts)}{tail}</div>'

    def source_ref(self, ref: Ref) -> str:
        """`file:line` that opens the lines around it (masked and escaped like all log text);
        a reference the dataset holds no line of says so when opened. Each excerpt is in the
        page once (a `<template>`, see `excerpt_store`) however often it is cited; opening a
        reference copies it in."""
        file, first, last = ref
        lines = f"{first}" if first == last else f"{first}–{last}"
        label = f"<code>{self.text(file)}:{self.text(lines)}</code>"
        if ref not in self._excerpt_ids:
            xid = f"x-{len(self._excerpt_ids)}"
            self._excerpt_ids[ref] = xid
            html_ = self._excerpt(self.excerpts.get(ref))
            self._excerpt_html.append(f'<template id="{xid}">{html_}</template>')
        xid = self._excerpt_ids[ref]
        return f'<details class="src" data-excerpt="{xid}"><summary>{label}</summary></details>'

    def excerpt_store(self) -> str:
        """The excerpts of every reference drawn so far, once each."""
        return '<div id="excerpts" hidden>' + "".join(self._excerpt_html) + "</div>"

    def _excerpt(self, lines: Sequence[Any] | None) -> str:
        if lines is None:
            return '<div class="excerpt note">no excerpt looked up for this reference</div>'
        if not lines:
            return '<div class="excerpt note">the dataset holds none of these lines</div>'
        out, prev = [], None
        for ln in lines:
            if prev is not None and ln.line_no > prev + 1:
                out.append('<span class="gap">⋯</span>')
            prev = ln.line_no
            when = f"{ln.ts:%Y-%m-%dT%H:%M:%S}Z " if ln.ts is not None else ""
            text = html.escape(
                neutral_bidi(_short(self.clean(f"{when}{ln.text}"), MAX_LINE)), quote=True
            )
            cls = "cited" if ln.cited else "ctx"
            out.append(f'<span class="{cls}"><i>{ln.line_no}</i> {text}</span>')
        return '<pre class="excerpt">' + "".join(out) + "</pre>"

    def chart(self, block: ChartBlock, index: int | None = None, *, level: int = 3) -> str:
        """A chart's heading, caption and either its view (spec embedded as JSON) or its note.
        Spec ids are numbered in page order (`index` is ignored: kept for callers)."""
        head = f'<h{level} id="{block.key}">{self.text(block.title)}</h{level}>'
        caption = f'<p class="caption">{self.prose(block.caption)}</p>' if block.caption else ""
        if block.spec is None:
            return f'{head}{caption}<p class="note">{self.prose(block.note)}</p>'
        n = self._specs
        self._specs += 1
        spec_id = f"spec-{n}"
        note = f'<p class="note">{self.prose(block.note)}</p>' if block.note else ""
        return (
            f"{head}{caption}{note}"
            f'<script type="application/json" id="{spec_id}">{json_for_script(block.spec)}</script>'
            f'<div class="vega-chart" id="chart-{n}" data-spec="{spec_id}"></div>'
        )

    def table(self, t: Table) -> str:
        """A key table (or its note when it has no rows)."""
        head = f'<h3 id="{t.key}">{self.text(t.title)}</h3>'
        note = f'<p class="note">{self.prose(t.note)}</p>' if t.note else ""
        if not t.rows:
            return head + (note or '<p class="note">none</p>')
        heads = [self.text(c) for c in t.columns]
        cells = [
            [(self.source_ref(v.ref) if isinstance(v, SourceRef) else self.text(v), i in t.numeric)
             for i, v in enumerate(row)]
            for row in t.rows
        ]  # fmt: skip
        return head + note + _table_html(heads, cells, numeric_heads=t.numeric)

    def definition_list(self, items: Sequence[tuple[str, Any]]) -> str:
        """`<dl>` of label -> value pairs."""
        return (
            '<dl class="facts">'
            + "".join(f"<dt>{self.text(k)}</dt><dd>{self.text(v)}</dd>" for k, v in items)
            + "</dl>"
        )

    # ----- the whole page -----------------------------------------------------------------

    def render(
        self,
        *,
        title: str,
        facts: Sequence[tuple[str, Any]],
        findings_html: str,
        charts: Sequence[ChartBlock],
        incidents_html: str = "",
        tables: Sequence[Table],
        provenance_html: str,
    ) -> str:
        """The complete HTML document."""
        chart_html = "\n".join(self.chart(c, i) for i, c in enumerate(charts))
        table_html = "\n".join(self.table(t) for t in tables)
        links = [("incidents", "Incidents"), ("findings", "Findings")]
        links += [(c.key, c.title) for c in charts] + [(t.key, t.title) for t in tables]
        links.append(("provenance", "Provenance"))
        toc = " · ".join(f'<a href="#{k}">{self.text(label)}</a>' for k, label in links)
        facts_html = " · ".join(
            f'<span><span class="k">{self.text(k)}</span> {self.text(v)}</span>' for k, v in facts
        )
        return PAGE.substitute(
            title=self.text(title),
            csp=CSP,
            css=CSS,
            head_js=HEAD_JS,
            facts=f'<p class="facts">{facts_html}</p>',
            toc=toc,
            incidents=incidents_html,
            findings=findings_html,
            charts=chart_html,
            tables=table_html,
            provenance=provenance_html,
            excerpts=self.excerpt_store(),
            bundle=vega_bundle(),
            embed_js=EMBED_JS,
        )


# Nothing may be fetched: scripts and styles are inline; Vega compiles expressions with
# Function (unsafe-eval); exports are data:/blob: URLs.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:"
)

HEAD_JS = """
(function () {
  function mark(msg) {
    var box = document.getElementById("report-errors");
    if (!box) { window.__reportErrors = (window.__reportErrors || []).concat([msg]); return; }
    var p = document.createElement("p");
    p.className = "js-error";
    p.textContent = String(msg);
    box.appendChild(p);
    box.hidden = false;
  }
  window.__reportError = mark;
  window.addEventListener("error", function (e) { mark("script error: " + e.message); });
  window.addEventListener("unhandledrejection", function (e) {
    mark("unhandled rejection: " + (e.reason && e.reason.message || e.reason));
  });
  document.addEventListener("securitypolicyviolation", function (e) {
    mark("blocked by the page's policy: " + e.violatedDirective + " " + e.blockedURI);
  });
  window.alert = function (m) { mark("alert() called: " + m); };
})();
"""

EMBED_JS = """
(function () {
  var fail = window.__reportError;
  (window.__reportErrors || []).forEach(fail);
  if (typeof vegaEmbed !== "function") { fail("vega-embed did not load"); return; }
  function dataMarks(mark) {
    var n = 0;
    (mark.items || []).forEach(function (item) {
      if (mark.marktype !== "group" && mark.role === "mark") { n += 1; }
      (item.items || []).forEach(function (child) { n += dataMarks(child); });
    });
    return n;
  }
  var opts = {
    renderer: "svg",
    actions: {export: true, source: false, compiled: false, editor: false}
  };
  var views = document.querySelectorAll("div.vega-chart");
  var jobs = [];
  Array.prototype.forEach.call(views, function (el) {
    var spec;
    try {
      spec = JSON.parse(document.getElementById(el.getAttribute("data-spec")).textContent);
    } catch (err) {
      el.setAttribute("data-status", "failed");
      fail(el.id + ": bad spec: " + err);
      return;
    }
    jobs.push(vegaEmbed(el, spec, opts).then(function (res) {
      el.setAttribute("data-marks", String(dataMarks(res.view.scenegraph().root)));
      el.setAttribute("data-status", "rendered");
    }).catch(function (err) {
      el.setAttribute("data-status", "failed");
      fail(el.id + ": " + (err && err.message || err));
    }));
  });
  document.addEventListener("toggle", function (e) {
    var el = e.target;
    if (!el.open || !el.getAttribute || !el.getAttribute("data-excerpt")) { return; }
    if (el.querySelector(".excerpt")) { return; }
    var t = document.getElementById(el.getAttribute("data-excerpt"));
    if (t) { el.appendChild(t.content.cloneNode(true)); }
  }, true);
  function reveal(id) {
    var el = id && document.getElementById(id);
    if (!el) { return; }
    for (var p = el; p; p = p.parentElement) { if (p.tagName === "DETAILS") { p.open = true; } }
    el.scrollIntoView();
  }
  window.addEventListener("hashchange", function () {
    reveal(decodeURIComponent(location.hash.slice(1)));
  });
  if (location.hash) { reveal(decodeURIComponent(location.hash.slice(1))); }
  Promise.all(jobs).then(function () {
    document.body.setAttribute("data-charts-done", String(jobs.length));
  });
})();
"""

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       margin: 0 auto; padding: 1.5em 2em 4em; max-width: 1280px; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
h3 { margin: 1.6em 0 .3em; }
code { font-size: .92em; }
.note { color: #666; font-style: italic; }
.caption { color: #444; margin: 0 0 .6em; max-width: 70em; }
.count { font-weight: 600; }
#report-errors { background: #fee; border: 1px solid #c00; padding: .5em 1em; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .15em 1.2em; }
dl.facts dt { color: #666; }
dl.facts dd { margin: 0; }
p.facts { color: #444; font-size: .9em; margin: .2em 0; }
p.facts .k { color: #888; }
nav { font-size: .85em; color: #888; margin: .3em 0 0; line-height: 1.7; }
.first { margin-bottom: 1.2em; }
.first .count { font-size: 1.15em; margin: .4em 0; }
table.costs { font-size: .95em; margin: .3em 0 .8em; }
table.costs td { padding: .3em .8em; }
table.costs tr.critical td:first-child { border-left: 5px solid #c62828; }
table.costs tr.warning td:first-child { border-left: 5px solid #ef8f00; }
table.costs tr.info td:first-child { border-left: 5px solid #1e88e5; }
table.costs .sev { font-size: .78em; font-weight: 700; text-transform: uppercase; color: #666;
                   margin-right: .3em; }
table.costs tr.critical .sev { color: #c62828; }
table.costs td.cost, .incident .cost { font-weight: 600; color: #222; }
.incident .rank { color: #888; }
.zoom-links { font-size: .9em; margin: .3em 0; }
details.zoom > summary, details.steps > summary, details.members > summary { cursor: pointer;
    color: #333; margin: .3em 0; }
details.zoom h4 { margin: .8em 0 .2em; font-size: .95em; }
details.src { display: inline-block; margin-right: .6em; }
details.src > summary { display: inline; cursor: pointer; list-style: none; }
details.src > summary::-webkit-details-marker { display: none; }
details.src > summary code { color: #0b57d0; border-bottom: 1px dotted #0b57d0; }
details.src[open] { display: block; margin: .2em 0; }
pre.excerpt { background: #f6f6f3; border: 1px solid #e0e0d8; padding: .4em .6em; margin: .2em 0;
              font-size: .82em; line-height: 1.35; white-space: pre-wrap; word-break: break-all;
              max-height: 22em; overflow: auto; }
pre.excerpt span { display: block; padding-left: 5.5em; text-indent: -5.5em; }
pre.excerpt i { font-style: normal; color: #999; display: inline-block; width: 5em;
                text-indent: 0; text-align: right; margin-right: .2em; }
pre.excerpt .cited { background: #fff3c4; }
pre.excerpt .gap { color: #999; }
div.excerpt { font-size: .85em; }
.incident { border: 1px solid #ddd; border-left: 8px solid #999; margin: .8em 0; padding: 0 1em; }
.incident.critical { border-left-color: #c62828; }
.incident.warning { border-left-color: #ef8f00; }
.incident.info { border-left-color: #1e88e5; }
.incident h3 { margin: .3em 0; font-size: 1.05em; }
.incident .sev { font-weight: 700; text-transform: uppercase; margin-right: .4em; }
.incident .scope { font-size: .9em; color: #555; }
.finding { border-left: 6px solid #999; background: #fafafa; margin: .5em 0; padding: .4em 1em; }
.finding summary { cursor: pointer; }
.finding .scope { font-size: .9em; color: #555; margin: .3em 0; }
.finding.critical { border-color: #c62828; }
.finding.warning { border-color: #ef8f00; }
.finding.info { border-color: #1e88e5; }
.finding .sev { font-weight: 700; text-transform: uppercase; }
.finding.critical .sev { color: #c62828; }
.finding.warning .sev { color: #b26a00; }
.finding .kind { font-family: monospace; margin-right: .6em; }
dl.evidence { display: flex; flex-wrap: wrap; gap: .1em 1.6em; font-size: .92em; margin: .3em 0; }
dl.evidence div { display: flex; gap: .4em; max-width: 100%; }
dl.evidence dt { color: #666; }
dl.evidence dd { margin: 0; word-break: break-word; }
dl.evidence div.records { display: block; flex-basis: 100%; }
dl.evidence div.records table { margin: .2em 0 .4em; font-size: .95em; }
dl.evidence div.records td, dl.evidence div.records th { word-break: normal; }
.sources { font-size: .85em; color: #555; margin: .3em 0 0; word-break: break-all; }
.incident .sources { word-break: normal; }
table { border-collapse: collapse; font-size: .92em; margin: .4em 0 1em; }
th, td { border-bottom: 1px solid #e3e3e3; padding: .25em .7em; text-align: left;
         vertical-align: top; }
th { background: #f3f3f3; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td { max-width: 48em; word-break: break-word; }
.vega-chart { margin: .3em 0 1.2em; overflow-x: auto; }
@media print { .vega-embed details { display: none; } }
"""

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${css}</style>
<script>${head_js}</script>
</head>
<body>
<div id="report-errors" hidden></div>
<h1>${title}</h1>
${facts}
<nav>${toc}</nav>
<h2 id="incidents">Incidents</h2>
${incidents}
<h2 id="findings">Findings</h2>
${findings}
<h2 id="charts">Charts</h2>
${charts}
<h2 id="tables">Key tables</h2>
${tables}
<h2 id="provenance">Provenance</h2>
${provenance}
${excerpts}
<script>${bundle}</script>
<script>${embed_js}</script>
</body>
</html>
""")
