"""What the notebooks call: open (or build) the dataset, widgets to pick app, dyno, route and
time window, and a chart (of an analysis' table) redrawn in place on each selection.

Charts render offline: `open_for_notebook` turns on `offline_charts()`, an Altair renderer
whose HTML output carries the Vega, Vega-Lite and vega-embed JavaScript that vl-convert bundles
(the report's copy), so JupyterLab, VS Code and `nbconvert --to html` show them with no network.
The logic behind the widgets is plain functions (`options`, `selection`), tested as such; the
notebooks stay a few lines each.
"""

from __future__ import annotations

import base64
import functools
import gzip
import html
import inspect
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from forensics.store.layout import MANIFEST
from forensics.store.views import Cut, open_dataset, query

ALL = "(all)"
_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_LOG = _ROOT / "data" / "samples" / "heroku-sample.log.gz"
SAMPLE_APP = "acme-shop"
DEFAULT_DATASET = _ROOT / "out" / "sample"


def ensure_dataset(path: str | Path | None = None) -> Path:
    """The dataset to open: `path`, or the one `make run` builds from the bundled sample,
    ingesting the sample first if that dataset is not there yet."""
    if path is not None:
        return Path(path)
    if not (DEFAULT_DATASET / MANIFEST).exists():
        from forensics.ingest import ingest

        ingest([str(SAMPLE_LOG)], DEFAULT_DATASET, app=SAMPLE_APP)
    return DEFAULT_DATASET


@dataclass(frozen=True)
class Options:
    """What the widgets offer: apps, dynos, busiest routes, and the time span."""

    apps: list[str]
    dynos: list[str]
    routes: list[str]
    start: datetime | None
    end: datetime | None


def options(con: duckdb.DuckDBPyConnection, *, max_routes: int = 40) -> Options:
    """Choices for the widgets, from the data."""
    apps = query(con, "SELECT DISTINCT app FROM requests WHERE app IS NOT NULL ORDER BY 1")
    dynos = query(
        con,
        "SELECT DISTINCT dyno FROM dyno_metrics UNION SELECT DISTINCT dyno FROM requests "
        "WHERE dyno IS NOT NULL ORDER BY 1",
    )
    routes = query(
        con,
        f"SELECT route FROM requests WHERE route IS NOT NULL GROUP BY route "
        f"ORDER BY count(*) DESC LIMIT {int(max_routes)}",
    )
    span = query(
        con, "SELECT min(ts) AS a, max(ts) AS b FROM (SELECT ts FROM requests "
        "UNION ALL SELECT ts FROM dyno_metrics UNION ALL SELECT ts FROM events)"
    )  # fmt: skip
    return Options(
        apps=apps["app"].to_list(),
        dynos=[d for d in dynos["dyno"].to_list() if d],
        routes=routes["route"].to_list(),
        start=span["a"][0],
        end=span["b"][0],
    )


def selection(
    *, dyno: str = ALL, route: str = ALL, window: tuple[datetime, datetime] | None = None
) -> dict[str, Any]:
    """Widget values -> keyword filters the drawable analysis tables take (`dyno`, `route`,
    `since`, `until`: `memory.memory_trend`, `timeouts.error_heatmap`, `availability.timeline`);
    `(all)` means no filter."""
    picked: dict[str, Any] = {}
    if dyno != ALL:
        picked["dyno"] = dyno
    if route != ALL:
        picked["route"] = route
    if window is not None:
        picked["since"], picked["until"] = window
    return picked


def open_for_notebook(path: str | Path | None = None, *, app: str | None = None) -> Any:
    """(connection, dataset path) for a notebook: the sample dataset unless told otherwise.
    Turns on `offline_charts()`."""
    offline_charts()
    root = ensure_dataset(path)
    return open_dataset(root, cut=Cut(app=app)), root


# ----- charts with no network ----------------------------------------------------------------

RENDERER = "forensics-offline"
EMBED_OPTIONS = {
    "renderer": "svg",
    "actions": {"export": True, "source": False, "compiled": False, "editor": False},
}


def offline_charts() -> None:
    """Make Altair draw charts as `chart_html` output (no CDN) in this kernel."""
    from forensics.charts._altair import alt

    if RENDERER not in alt.renderers.names():
        alt.renderers.register(RENDERER, _render)
    alt.renderers.enable(RENDERER)


def _render(spec: dict[str, Any], **_: Any) -> dict[str, str]:
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    return {
        "text/html": chart_html(spec),
        "text/plain": f"<chart{': ' + str(title) if title else ''} (shown by JavaScript)>",
    }


@functools.lru_cache(maxsize=1)
def _packed_bundle() -> str:
    """The report's Vega bundle gzipped and base64-encoded: 0.4 MB per chart output, not
    0.9 MB; the browser unpacks it with its own DecompressionStream."""
    from forensics.report.assets import vega_bundle

    raw = gzip.compress(vega_bundle().encode("utf-8"), compresslevel=9, mtime=0)
    return base64.b64encode(raw).decode("ascii")


def chart_html(spec: dict[str, Any]) -> str:
    """A self-contained HTML fragment drawing the Vega-Lite `spec` with vega-embed.

    It carries the packed libraries; the first chart on a page unpacks them into `window`, the
    others reuse them. The chart element says how it went: `data-status` "rendered" (with
    `data-marks`, the number of data marks drawn) or "failed" (with the reason shown)."""
    uid = f"forensics-chart-{uuid.uuid4().hex}"
    spec_js = _script_safe(json.dumps(spec, allow_nan=False, default=str))
    options_js = json.dumps(EMBED_OPTIONS)
    return (
        f'<div class="vega-chart" id="{html.escape(uid)}" data-status="loading">{_UNDRAWN}</div>\n'
        f'<script type="text/javascript">\n({_EMBED_JS})({json.dumps(uid)}, {spec_js}, '
        f'{options_js}, "{_packed_bundle()}");\n</script>\n'
    )


# What shows where scripts do not run (a notebook from elsewhere that JupyterLab does not trust,
# a viewer without JavaScript); the script replaces it with the chart.
_UNDRAWN = (
    '<p class="forensics-undrawn" style="color:#555">Chart not drawn here: it needs JavaScript. '
    "Run the cell (or trust the notebook: Trust Notebook in the command palette) to draw it.</p>"
)


def _script_safe(text: str) -> str:
    """JSON `text` that cannot end or confuse the script element it sits in."""
    return text.replace("</", "<\\/").replace("<!--", "<\\u0021--")


_EMBED_JS = """function (id, spec, opts, packed) {
  var el = document.getElementById(id);
  if (!el && document.currentScript) { el = document.currentScript.previousElementSibling; }
  function fail(err) {
    el.textContent = "";
    el.setAttribute("data-status", "failed");
    var p = document.createElement("pre");
    p.className = "forensics-chart-error";
    p.style.color = "#b00020";
    p.textContent = "chart not drawn: " + (err && err.message || err);
    el.appendChild(p);
  }
  function library() {
    if (typeof window.vegaEmbed === "function") { return Promise.resolve(window.vegaEmbed); }
    if (!window.__forensicsVega) {
      if (typeof DecompressionStream !== "function") {
        return Promise.reject(new Error("this browser cannot unpack the bundled Vega"));
      }
      var bytes = Uint8Array.from(atob(packed), function (c) { return c.charCodeAt(0); });
      var text = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      window.__forensicsVega = new Response(text).text().then(function (src) {
        new Function(src)();
        return window.vegaEmbed;
      });
    }
    return window.__forensicsVega;
  }
  function dataMarks(mark) {
    var n = 0;
    (mark.items || []).forEach(function (item) {
      if (mark.marktype !== "group" && mark.role === "mark") { n += 1; }
      (item.items || []).forEach(function (child) { n += dataMarks(child); });
    });
    return n;
  }
  library().then(function (embed) {
    el.textContent = "";
    return embed(el, spec, opts);
  }).then(function (res) {
    el.setAttribute("data-marks", String(dataMarks(res.view.scenegraph().root)));
    el.setAttribute("data-status", "rendered");
  }).catch(fail);
}"""


def controls(con: duckdb.DuckDBPyConnection) -> Any:
    """ipywidgets for dyno, route and time window (hourly steps over the data's span)."""
    import ipywidgets as w

    opts = options(con)
    dyno = w.Dropdown(options=[ALL, *opts.dynos], description="dyno")
    route = w.Dropdown(options=[ALL, *opts.routes], description="route")
    hours = _hours(opts.start, opts.end)
    window = w.SelectionRangeSlider(
        options=[(h.strftime("%m-%d %H:%M"), h) for h in hours],
        index=(0, len(hours) - 1),
        description="window",
        continuous_update=False,  # one redraw when the handle is let go, not one per hour
        layout=w.Layout(width="90%"),
    )
    return w.VBox([w.HBox([dyno, route]), window])


def _hours(start: datetime | None, end: datetime | None) -> list[datetime]:
    if start is None or end is None:
        now = datetime.now().astimezone()
        return [now, now]
    first = start.replace(minute=0, second=0, microsecond=0)
    out = pl.datetime_range(first, end, interval="1h", eager=True).to_list()
    return out if len(out) > 1 else [first, end]


def values(box: Any) -> dict[str, Any]:
    """The current filters from a `controls()` box."""
    (dyno, route), window = box.children[0].children, box.children[1]
    return selection(dyno=dyno.value, route=route.value, window=tuple(window.value))


def follow(
    box: Any, render: Callable[..., Any], *args: Any, takes: tuple[str, ...] | None = None
) -> None:
    """Show `render(*args, **filters)` as this cell's output and redraw it in place (through
    its display handle) whenever the controls change.

    A plain output, not an ipywidgets `Output`: `nbconvert --execute` does not wait on a widget
    and an exported notebook shows the chart. `takes` limits the filters passed to those
    `render` accepts; by default, the keyword-only parameters it names (all with `**kwargs`).
    """
    wanted = _filters_taken(render) if takes is None else set(takes)

    def draw() -> Any:
        now = values(box)
        return render(*args, **{k: v for k, v in now.items() if wanted is None or k in wanted})

    handle = _display_handle()
    handle.display(draw())

    def redraw(_: Any = None) -> None:
        try:
            shown = draw()
        except Exception as err:
            handle.update(_failed(err))
            raise
        handle.update(shown)

    for child in (*box.children[0].children, box.children[1]):
        child.observe(redraw, names="value")


def _filters_taken(render: Callable[..., Any]) -> set[str] | None:
    """The filters `render` names as keyword-only parameters; None (all) for `**kwargs`."""
    params = inspect.signature(render).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind is p.KEYWORD_ONLY}


def _display_handle() -> Any:
    from IPython.display import DisplayHandle

    return DisplayHandle()


def _failed(err: Exception) -> Any:
    from IPython.display import HTML

    text = html.escape(f"could not draw this selection: {type(err).__name__}: {err}")
    return HTML(f'<pre class="forensics-chart-error" style="color:#b00020">{text}</pre>')


# ----- what the widgets redraw: a chart, or a sentence when the selection holds nothing -------


def memory_view(
    con: duckdb.DuckDBPyConnection,
    *,
    dyno: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Any:
    """`leak_trend_chart` of `memory.memory_trend` for the selection; a sentence instead when
    it holds no memory sample."""
    from forensics.analyses.memory import memory_trend
    from forensics.charts import leak_trend_chart

    trend = memory_trend(con, dyno=dyno, since=since, until=until)
    if trend.filter(pl.col("layer") == "memory").is_empty():
        return empty_note("No memory sample", dyno=dyno, since=since, until=until)
    return leak_trend_chart(trend)


def timeouts_view(
    con: duckdb.DuckDBPyConnection,
    *,
    dyno: str | None = None,
    route: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Any:
    """`timeout_hotspots_chart` of `timeouts.error_heatmap` and the percentiles of its routes
    (the chart says so itself when there is no H12)."""
    from forensics.analyses import timeouts
    from forensics.charts import timeout_hotspots_chart

    picked = {"dyno": dyno, "since": since, "until": until}
    heat = timeouts.error_heatmap(con, route=route, **picked)
    routes = heat["route"].unique(maintain_order=True).to_list()
    pct = timeouts.route_percentiles(con, route=routes, **picked) if routes else pl.DataFrame()
    return timeout_hotspots_chart(heat, pct)


def timeline_view(
    con: duckdb.DuckDBPyConnection,
    *,
    dyno: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Any:
    """`event_timeline_chart` of `availability.timeline` for the selection; a sentence instead
    when nothing happened in it."""
    from forensics.analyses.availability import timeline
    from forensics.charts import event_timeline_chart

    events = timeline(con, dyno=dyno, since=since, until=until)
    if events.is_empty():
        what = "No release, scaling, restart, crash or downtime"
        return empty_note(what, dyno=dyno, since=since, until=until)
    return event_timeline_chart(events)


def empty_note(
    what: str,
    *,
    dyno: str | None = None,
    route: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Any:
    """ "<what> in this selection (...)." as the output where the chart would be."""
    from IPython.display import HTML

    where = [f"dyno {dyno}" if dyno else "", f"route {route}" if route else ""]
    if since is not None or until is not None:
        where.append(f"{_cell(since) or 'start'} to {_cell(until) or 'end'}")
    told = ", ".join(w for w in where if w)
    text = f"{what} in this selection{f' ({told})' if told else ''}."
    return HTML(f'<p class="forensics-empty" style="color:#555">{html.escape(text)}</p>')


_FOUND: dict[int, tuple[duckdb.DuckDBPyConnection, list[Any]]] = {}


def findings(con: duckdb.DuckDBPyConnection) -> list[Any]:
    """`collect_findings(con)`, computed once per connection: the incidents and the findings
    table of a notebook show the same findings (a dataset does not change under it)."""
    from forensics.findings import collect_findings

    kept = _FOUND.get(id(con))
    if kept is None or kept[0] is not con:
        _FOUND.clear()  # the last connection's only: a notebook has one
        kept = _FOUND[id(con)] = (con, collect_findings(con))
    return kept[1]


def findings_table(con: duckdb.DuckDBPyConnection) -> Table:
    """The ranked findings (severity, kind, where, when, summary), every row and whole
    sentences."""
    rows = [
        {
            "severity": f.severity,
            "kind": f.kind,
            "dyno": f.dyno or f.process_type,
            "route": f.route,
            "release": f.release,
            "start": f.start,
            "summary": f.summary,
        }
        for f in findings(con)
    ]
    return Table(pl.DataFrame(rows) if rows else pl.DataFrame({"summary": ["no findings"]}))


@dataclass(frozen=True)
class Table:
    """A table the notebook shows whole: every row, every cell uncut (a polars frame shows
    10 rows and cuts strings at 30 characters). `frame` is the data."""

    frame: pl.DataFrame

    def _repr_html_(self) -> str:
        head = "".join(f"<th{_LEFT}>{html.escape(c)}</th>" for c in self.frame.columns)
        body = "".join(
            "<tr>"
            + "".join(
                f"<td{_LEFT if isinstance(v, str | bool) or v is None else _NOWRAP}>"
                f"{html.escape(_cell(v))}</td>"
                for v in row
            )
            + "</tr>"
            for row in self.frame.iter_rows()
        )
        return (
            f'<table class="forensics-table"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table><small>{self.frame.height} rows</small>"
        )

    def __repr__(self) -> str:
        with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=1000, tbl_width_chars=1000):
            return repr(self.frame)


# Jupyter's table style right-aligns every cell; text reads better from the left, a time
# reads better on one line.
_LEFT = ' style="text-align:left;vertical-align:top"'
_NOWRAP = ' style="text-align:right;vertical-align:top;white-space:nowrap"'


def whole(frame: pl.DataFrame) -> Table:
    """`frame` shown whole in a notebook: every row, no cell cut."""
    return Table(frame)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def incidents_view(con: duckdb.DuckDBPyConnection, *, excerpts: bool = False) -> Any:
    """The incidents, most costly first, as Markdown the notebook renders: each its impact,
    cause, what changed, advice and timeline (with the raw lines around each source when
    `excerpts`)."""
    from IPython.display import Markdown

    from forensics.incidents import build_incidents, incidents_markdown
    from forensics.store.excerpts import excerpter

    found = build_incidents(con, findings(con))
    if not found:
        return Markdown("No incidents: the analyses found nothing to report.")
    if excerpts:
        return Markdown(incidents_markdown(found, excerpt=excerpter(con)))
    return Markdown(incidents_markdown(found))
