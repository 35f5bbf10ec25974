"""The report page: one self-contained HTML file (styles, Vega JavaScript and chart specs inline).

Every text that comes from the logs passes through `Page.text` (optional redaction, then HTML
escaping); chart specs are embedded as JSON in `<script type="application/json">` with `<`, `>`
and `&` written as `\\u003c`... so no log content can end a script element or become markup.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from string import Template
from typing import Any

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


def _plural(n: int, noun: str) -> str:
    """`1 finding`, `3 findings`."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def json_for_script(value: Any) -> str:
    """JSON safe inside a `<script>` element: `<`, `>`, `&` and all non-ASCII as escapes."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def fmt(value: Any) -> str:
    """A table cell or evidence value as short text (times in UTC, numbers grouped)."""
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
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


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


class Page:
    """Builds the page; `clean` masks text (redaction) before bidi controls are made visible
    and the text is escaped."""

    def __init__(self, clean: Callable[[str], str]) -> None:
        self.clean = clean

    def text(self, value: Any) -> str:
        """Log-derived text, masked if redacting, HTML-escaped (safe in elements and attributes)."""
        return html.escape(neutral_bidi(self.clean(fmt(value))), quote=True)

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
        self, items: list[dict[str, Any]] | None, by_id: dict[str, dict[str, Any]]
    ) -> str:
        """The incidents (`Incident.to_json()`), most costly first: title, impact, cause, what
        changed and what ended it, the timeline with its sources, and the member findings
        folded (`by_id`: finding id -> finding JSON)."""
        if items is None:
            return '<p class="note">The incidents could not be built (see the findings).</p>'
        if not items:
            return '<p class="note">No incidents: the analyses found nothing to report.</p>'
        head = _plural(len(items), "incident")
        return f'<p class="count">{self.text(head)}</p>\n' + "\n".join(
            self._incident(i, by_id) for i in items
        )

    def _incident(self, inc: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> str:
        sev = str(inc.get("severity", "info"))
        sev_class = sev if sev in ("critical", "warning", "info") else "info"
        imp = inc.get("impact") or {}
        impact = ", ".join(
            f"{label} {fmt(imp.get(key))}"
            for key, label in (
                ("downtime_minutes", "minutes down"),
                ("failed_requests", "failed requests"),
                ("h12", "H12"),
                ("r14", "R14"),
                ("r15", "R15"),
                ("crashes", "crashes"),
            )
            if imp.get(key)
        )
        span = fmt(inc.get("start")) + (" (ongoing)" if inc.get("ongoing") else "")
        changes = []
        for key, label in (("trigger", "after"), ("resolved_by", "ended by")):
            c = inc.get(key)
            if c:
                changes.append(f"{label}: {c.get('summary') or c.get('kind')}")
        steps = "".join(
            f"<li><code>{self.text(s.get('ts'))}</code> {self.prose(str(s.get('text', '')))}"
            f"{self._sources(s.get('sources') or [])}</li>"
            for s in inc.get("timeline") or []
        )
        members = "".join(self._finding(by_id[f]) for f in inc.get("findings", []) if f in by_id)
        advice = "".join(f"<li>{self.prose(a)}</li>" for a in inc.get("advice") or [])
        return (
            f'<section class="incident {sev_class}" id="{self.text(inc.get("id"))}">'
            f'<h3><span class="sev">{self.text(sev)}</span> {self.prose(str(inc.get("title")))}'
            f'</h3><p class="scope">{self.text(span)} · {self.text(impact or "no loss measured")}'
            f"</p><p>{self.prose(str(inc.get('cause', '')))}</p>"
            + (f"<p>{self.prose(' · '.join(changes))}</p>" if changes else "")
            + (f'<ul class="advice">{advice}</ul>' if advice else "")
            + f"<details><summary>timeline</summary><ol>{steps}</ol></details>"
            + f"<details><summary>{_plural(len(inc.get('findings', [])), 'finding')}</summary>"
            + members
            + "</details></section>"
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

    def _sources(self, sources: Sequence[dict[str, Any]]) -> str:
        if not sources:
            return ""
        parts = []
        for s in sources[:MAX_SOURCES_SHOWN]:
            first, last = s.get("first_line"), s.get("last_line")
            lines = f"{first}" if first == last else f"{first}–{last}"
            parts.append(f"<code>{self.text(s.get('file'))}:{self.text(lines)}</code>")
        more = len(sources) - MAX_SOURCES_SHOWN
        tail = f" (+{more} more)" if more > 0 else ""
        return f'<p class="sources">sources: {", ".join(parts)}{tail}</p>'

    def chart(self, block: ChartBlock, index: int) -> str:
        """A chart's heading, caption and either its view (spec embedded as JSON) or its note."""
        head = f'<h3 id="{block.key}">{self.text(block.title)}</h3>'
        caption = f'<p class="caption">{self.prose(block.caption)}</p>' if block.caption else ""
        if block.spec is None:
            return f'{head}{caption}<p class="note">{self.prose(block.note)}</p>'
        spec_id = f"spec-{index}"
        note = f'<p class="note">{self.prose(block.note)}</p>' if block.note else ""
        return (
            f"{head}{caption}{note}"
            f'<script type="application/json" id="{spec_id}">{json_for_script(block.spec)}</script>'
            f'<div class="vega-chart" id="chart-{index}" data-spec="{spec_id}"></div>'
        )

    def table(self, t: Table) -> str:
        """A key table (or its note when it has no rows)."""
        head = f'<h3 id="{t.key}">{self.text(t.title)}</h3>'
        note = f'<p class="note">{self.prose(t.note)}</p>' if t.note else ""
        if not t.rows:
            return head + (note or '<p class="note">none</p>')
        heads = [self.text(c) for c in t.columns]
        cells = [[(self.text(v), i in t.numeric) for i, v in enumerate(row)] for row in t.rows]
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
        toc = "".join(f'<li><a href="#{k}">{self.text(label)}</a></li>' for k, label in links)
        return PAGE.substitute(
            title=self.text(title),
            csp=CSP,
            css=CSS,
            head_js=HEAD_JS,
            facts=self.definition_list(facts),
            toc=toc,
            incidents=incidents_html,
            findings=findings_html,
            charts=chart_html,
            tables=table_html,
            provenance=provenance_html,
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
nav ul { columns: 2; padding-left: 1.2em; }
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
<nav><ul>${toc}</ul></nav>
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
<script>${bundle}</script>
<script>${embed_js}</script>
</body>
</html>
""")
