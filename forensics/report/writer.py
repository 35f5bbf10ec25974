"""`write_report`: one self-contained HTML file from a dataset: findings, charts, key tables,
provenance. Aggregated data only, so it stays small and is written in seconds."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from forensics.analyses import availability, concurrency, latency, releases, timeouts, traffic
from forensics.analyses.attribution import route_attribution
from forensics.analyses.availability import APP_LANE
from forensics.analyses.cache import open_cached
from forensics.analyses.dataset import time_span
from forensics.analyses.lifetimes import lifetimes
from forensics.analyses.memory import memory_growth, memory_trend, quota_episodes
from forensics.analyses.series import Window
from forensics.analyses.traffic import error_share
from forensics.charts._altair import alt
from forensics.charts.attribution import attribution_bars, route_attribution_chart
from forensics.charts.availability import event_timeline_chart
from forensics.charts.concurrency import concurrency_chart
from forensics.charts.latency import latency_chart
from forensics.charts.memory import growth_by_release_chart, growth_points, leak_trend_chart
from forensics.charts.releases import release_comparison_chart
from forensics.charts.strip import incident_rows, incident_strip_chart
from forensics.charts.timeouts import timeout_hotspots_chart
from forensics.charts.traffic import status_chart
from forensics.errors import DatasetChangedError, ForensicsError
from forensics.findings import Finding, collect_findings, rank
from forensics.incidents import build_incidents, finding_id
from forensics.incidents.model import Incident
from forensics.output import write_text_atomic
from forensics.report import provenance, tables
from forensics.report.bidi import neutral_value
from forensics.report.page import (
    MAX_SOURCES_SHOWN,
    ChartBlock,
    IncidentView,
    Page,
    SourceRef,
    Table,
    json_for_script,
)
from forensics.report.redact import Redactor
from forensics.report.zoom import MAX_ZOOMED, cut_to, dyno_filter, side_chart, zoom_window
from forensics.store.excerpts import excerpts
from forensics.store.views import Cut, open_dataset

WHOLE = "all"  # the key of the whole log's window in the traffic and latency series
WHOLE_SHARE = 0.9  # an incident window this much of the log is drawn by the whole log's charts


@dataclass
class _Build:
    """The analysis tables the sections share (computed once, the same the findings use)."""

    con: duckdb.DuckDBPyConnection
    redact: bool
    redactor: Redactor | None = None  # masks every text and chart value when redacting
    lifetimes: pl.DataFrame | None = None
    growth: pl.DataFrame | None = None
    attribution: pl.DataFrame | None = None
    crashes: pl.DataFrame | None = None
    span: tuple[Any, Any] = (None, None)
    status: pl.DataFrame | None = None
    latency: pl.DataFrame | None = None
    zooms: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    trend: pl.DataFrame | None = None
    events: pl.DataFrame | None = None
    errors: list[str] = field(default_factory=list)


def write_report(
    dataset_dir: str | Path,
    out_path: str | Path,
    *,
    cut: Cut | None = None,
    redact: bool = False,
    findings: Sequence[Finding] | None = None,
    title: str | None = None,
    routes_file: Path | None = None,
) -> dict[str, Any]:
    """Write the report for the dataset at `dataset_dir` to `out_path` (one HTML file).

    `findings`: the findings to show (`Finding`s); None collects them with
    `forensics.findings.collect_findings`.
    `redact` masks personal data and secrets everywhere in the page
    (`forensics.report.redact`; file names become stable references).
    `cut` and `routes_file` are those of `forensics.store.views.open_dataset`.
    Returns stats: path, bytes, charts (rendered), tables, findings (count or None),
    seconds, redacted, notes (sections shown as a note instead of a chart), errors (sections
    that hit a ForensicsError, shown in the page; any other exception propagates: it is a bug).
    """
    t0 = time.perf_counter()
    root = Path(dataset_dir)
    if cut is None or cut == Cut():  # the whole dataset: its cached shared tables serve
        con = open_cached(root, routes_file=routes_file)
    else:
        con = open_dataset(root, cut=cut, routes_file=routes_file)
    try:
        html_text, stats = _build(root, con, cut, redact, findings, title)
    finally:
        con.close()
    out = Path(out_path)
    write_text_atomic(out, html_text)
    return {
        "path": str(out),
        "bytes": out.stat().st_size,
        **stats,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def _build(
    root: Path,
    con: duckdb.DuckDBPyConnection,
    cut: Cut | None,
    redact: bool,
    findings: Sequence[Finding] | None,
    title: str | None,
) -> tuple[str, dict[str, Any]]:
    """The page and its stats (without path, bytes, seconds)."""
    b = _Build(con=con, redact=redact, redactor=Redactor.for_dataset(root) if redact else None)

    b.lifetimes = _guard(b, "lifetimes", lambda: lifetimes(con), None)
    if b.lifetimes is not None:
        b.growth = _guard(
            b, "memory growth", lambda: memory_growth(con, lifetimes=b.lifetimes), None
        )
    if b.growth is not None:
        b.attribution = _guard(
            b,
            "route attribution",
            lambda: route_attribution(con, lifetimes=b.lifetimes, growth=b.growth),
            None,
        )
    b.crashes = _guard(b, "crashes", lambda: availability.crashes(con), None)
    if findings is None:
        frames = {"lifetimes": b.lifetimes, "growth": b.growth, "attribution": b.attribution}
        items = _guard(
            b,
            "findings",
            lambda: collect_findings(con, **{k: v for k, v in frames.items() if v is not None}),
            None,
        )
    else:
        items = list(findings)
    ranked = None if items is None else rank(_checked(items))
    finding_dicts = None if ranked is None else [f.to_json() for f in ranked]
    incidents = (
        None
        if ranked is None
        else _guard(b, "incidents", lambda: build_incidents(con, ranked), None)
    )
    by_id = {} if ranked is None else {finding_id(f): f.to_json() for f in ranked}
    incident_dicts = None if incidents is None else [i.to_json() for i in incidents]

    # the traffic and latency series of the whole log and of every incident's window: one
    # query each, shared by the strip, the charts section and the zoomed charts
    b.span = _guard(b, "time span", lambda: time_span(con), (None, None))
    windows = _windows(b, incidents or [])
    b.status = _guard(b, "traffic", lambda: traffic.status_series(con, windows=windows), None)
    b.latency = _guard(
        b, "service time", lambda: latency.service_percentiles(con, windows=windows), None
    )
    strip = _chart(
        b, "chart-strip", "The whole log", STRIP_CAPTION, lambda b: _strip(b, incident_dicts)
    )
    views = {inc.id: _view(b, inc) for inc in (incidents or []) if inc.id in b.zooms}

    charts = [
        _chart(b, "chart-status", "Requests by status", STATUS_CAPTION, _status),
        _chart(b, "chart-latency", "Service time", LATENCY_CAPTION, _latency),
        _chart(b, "chart-leak", "Memory per dyno", LEAK_CAPTION, _leak),
        _chart(b, "chart-growth", "Memory growth by release", GROWTH_CAPTION, _growth),
        _chart(b, "chart-attribution", "Memory growth by route", ATTR_CAPTION, _attribution),
        _chart(b, "chart-timeouts", "Timeout hotspots", TIMEOUT_CAPTION, _timeouts),
        _chart(b, "chart-releases", "Releases compared", RELEASE_CAPTION, _releases),
        _chart(b, "chart-timeline", "Event timeline", TIMELINE_CAPTION, _timeline),
        _chart(b, "chart-concurrency", "Concurrency", CONCURRENCY_CAPTION, _concurrency),
    ]
    key_tables = [
        _table(b, "table-routes", "Slowest routes by p95 service time", _routes_table),
        _table(b, "table-r14", "R14 / R15 memory episodes", _memory_table),
        _table(b, "table-crashes", "Crashes", _crash_table),
    ]
    refs = source_refs(incident_dicts or [], finding_dicts or [], key_tables)
    found = _guard(b, "log excerpts", lambda: excerpts(con, refs), {})
    page = Page(b.redactor.text if b.redactor else _same, excerpts=found)
    incidents_html = page.incidents(incident_dicts, by_id, views=views, strip=strip)
    findings_html = page.findings(finding_dicts, "The findings could not be collected.")

    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    facts = _guard(
        b,
        "provenance",
        lambda: provenance.facts(root, con, cut, redacted=redact, generated=generated, span=b.span),
        [],
    )
    inputs_table = _guard(
        b, "input files", lambda: provenance.inputs_table(root), Table("inputs", "Inputs", [], [])
    )
    provenance_html = page.definition_list(facts) + page.table(inputs_table)
    head = [f for f in facts if f[0] in ("dataset", "time span (UTC)", "cut", "generated")]
    if redact:
        head.append(("redacted", "yes"))
    errors_html = "".join(f'<p class="note">failed: {page.text(e)}</p>' for e in b.errors)
    html_text = page.render(
        title=title or _title(root, facts),
        facts=head,
        findings_html=findings_html,
        incidents_html=errors_html + incidents_html,
        charts=charts,
        tables=key_tables,
        provenance_html=provenance_html,
    )
    zoomed = [c for v in views.values() for c in v.charts]
    every = [strip, *charts, *zoomed]
    return html_text, {
        "charts": sum(c.spec is not None for c in every),
        "sections": sum(c.spec is not None for c in charts),
        "zoomed": sum(c.spec is not None for c in zoomed),
        "strip": strip.spec is not None,
        "tables": len(key_tables),
        "findings": None if finding_dicts is None else len(finding_dicts),
        "incidents": None if incidents is None else len(incidents),
        "excerpts": len(found),
        "redacted": redact,
        "notes": [f"{c.title}: {c.note}" for c in every if c.spec is None],
        "errors": b.errors,
    }


def _windows(b: _Build, incidents: Sequence[Incident]) -> list[Window]:
    """The whole log ("all") and each of the most costly incidents' zoom windows."""
    lo, hi = b.span
    if lo is None or hi is None:
        return []
    out: list[Window] = [(WHOLE, lo, hi)]
    for inc in incidents[:MAX_ZOOMED]:
        if inc.start is None:
            continue
        b.zooms[inc.id] = zoom_window(inc, log_start=lo, log_end=hi)
        if not _whole(b, inc.id):  # else drawn by the whole log's charts
            out.append((inc.id, *b.zooms[inc.id]))
    return out


def _view(b: _Build, inc: Incident) -> IncidentView:
    """The incident's charts zoomed to its window; when that window is about the whole log,
    links to the whole log's charts instead of copies of them."""
    window = b.zooms[inc.id]
    if _whole(b, inc.id):
        side = {
            "memory": [("chart-leak", "Memory per dyno")],
            "availability": [("chart-timeline", "Event timeline")],
        }.get(side_chart(inc) or "", [])
        links = [("chart-status", "Requests by status"), ("chart-latency", "Service time"), *side]
        return IncidentView(window=window, links=links)
    return IncidentView(window=window, charts=_zoomed(b, inc))


def _whole(b: _Build, inc_id: str) -> bool:
    """Whether the incident's window is about the whole log."""
    (lo, hi), window = b.span, b.zooms[inc_id]
    return (window[1] - window[0]) >= WHOLE_SHARE * (hi - lo)


def _rows(df: pl.DataFrame | None, key: str) -> pl.DataFrame | None:
    return None if df is None else df.filter(pl.col("window") == key)


def source_refs(
    incidents: Sequence[dict[str, Any]],
    findings: Sequence[dict[str, Any]],
    key_tables: Sequence[Table],
) -> list[tuple[str, int, int]]:
    """Every source reference the page shows (the first MAX_SOURCES_SHOWN of each list), once,
    to look their excerpts up in one go."""
    lists: list[list[dict[str, Any]]] = []
    for inc in incidents:
        lists.append(inc.get("cause_sources") or [])
        lists += [s.get("sources") or [] for s in inc.get("timeline") or []]
        lists += [(inc.get(k) or {}).get("sources") or [] for k in ("trigger", "resolved_by")]
    lists += [f.get("sources") or [] for f in findings]
    refs = {
        (str(s.get("file")), int(s.get("first_line") or 0),
         int(s.get("last_line") or s.get("first_line") or 0)): None
        for sources in lists
        for s in sources[:MAX_SOURCES_SHOWN]
    }  # fmt: skip
    for t in key_tables:
        for row in t.rows:
            for v in row:
                if isinstance(v, SourceRef):
                    refs[v.ref] = None
    return list(refs)


# ----- charts --------------------------------------------------------------------------------

LEAK_CAPTION = (
    "Per dyno (one row each): the highest memory_total and memory_rss of each time bucket, the "
    "quota (red dashed), R14/R15 per bucket (triangles), restarts (grey: a new process; the "
    "cause is in the tooltip), crashes (purple) and releases (green, labelled). A line that "
    "climbs to the quota and drops at a restart is a leak; the release line before the climb "
    "is where it began."
)
GROWTH_CAPTION = (
    "Each point is one process lifetime: how fast its resident memory (+swap) grew (MB per "
    "hour, Theil-Sen after warm-up), coloured by the memory analysis' verdict; the black tick "
    "is the median per release and process type that the release analysis compares "
    "(lifetimes too short to judge left out)."
)
ATTR_CAPTION = (
    "MB of memory a request of each route leaves behind (fitted per release and process type "
    "over the lifetimes' memory levels), largest first, with its bootstrap interval. Red: a "
    "significant route in a release whose lifetimes leak."
)
TIMEOUT_CAPTION = (
    "H12 (request timeout) counts per route and time bucket, the routes with the most first; "
    "beside it the service time p50/p95/p99 of the same routes (log scale)."
)
RELEASE_CAPTION = (
    "For each release, the period it was in effect: median memory growth of its lifetimes, "
    "p50/p95 service time, 5xx and H12 shares, R14, R15 and crashes per hour. Red: the release "
    "analysis found a regression against the release before (the same test as the findings; "
    "for service time, on some route: see the tooltip)."
)
TIMELINE_CAPTION = (
    "Releases, deploys and scaling (app lane); per dyno: restarts (with cause), crashes (as the "
    "availability findings count them, with the app's last line before), platform errors other "
    "than R14, and down periods (from a crash until the dyno is up again)."
)
CONCURRENCY_CAPTION = (
    "Per process type (workers x threads as logged at boot): requests in flight (p50, p95, max "
    "seen by arriving requests) against the capacity (dashed), and memory (baseline, p95, max) "
    "against the quota (dashed), coloured by the concurrency analysis' verdict."
)

STRIP_CAPTION = (
    "Requests per minute (grey), the share that failed on the app's side (red: 5xx and H-codes "
    "but the client's H27/H28/H31), and each incident over its span (click one to open it)."
)
STATUS_CAPTION = (
    "Requests per minute per time bucket, each counted once: under its router error code when "
    "the router logged one (H12, H10, ...; purple, at the bottom), else under its status class "
    "(5xx red, 4xx orange, 3xx blue, 2xx green)."
)
LATENCY_CAPTION = (
    "p50 / p95 / p99 of the router's service time per time bucket (log scale; a request the "
    "router gave up on counts with the time it waited), and above it the buckets with router "
    "error codes (size: how many requests got that code)."
)

ChartResult = tuple[alt.TopLevelMixin | None, str]


def _strip(b: _Build, incidents: list[dict[str, Any]] | None) -> ChartResult:
    status, (lo, hi) = _rows(b.status, WHOLE), b.span
    if status is None or status.is_empty() or lo is None:
        return None, "No router lines: no traffic to draw the incidents over."
    rows = incident_rows(incidents or [], log_end=hi)
    note = ""
    if incidents and len(incidents) > rows.height:
        note = f"The {rows.height} most costly of {len(incidents)} incidents are drawn."
    return incident_strip_chart(error_share(status), rows, window=(lo, hi)), note


def _status(b: _Build) -> ChartResult:
    status = _rows(b.status, WHOLE)
    if status is None or status.is_empty():
        return None, "No router lines in the selected data."
    return status_chart(status), ""


def _latency(b: _Build) -> ChartResult:
    pct = _rows(b.latency, WHOLE)
    if pct is None or pct.is_empty():
        return None, "No router lines with a service time in the selected data."
    return latency_chart(pct, _rows(b.status, WHOLE)), ""


def _zoomed(b: _Build, inc: Incident) -> list[ChartBlock]:
    """The incident's charts, zoomed to its window: status, service time, and its memory or
    availability chart (`forensics.report.zoom.side_chart`)."""
    window = b.zooms[inc.id]
    span = (inc.start or window[0], inc.end or inc.start or window[0])
    key = f"{inc.id}-"

    def status(b: _Build) -> ChartResult:
        rows = _rows(b.status, inc.id)
        if rows is None or rows.is_empty():
            return None, "No router lines in this window."
        return status_chart(rows, window=window, highlight=span, height=160), ""

    def service(b: _Build) -> ChartResult:
        rows = _rows(b.latency, inc.id)
        if rows is None or rows.is_empty():
            return None, "No router lines with a service time in this window."
        chart = latency_chart(
            rows, _rows(b.status, inc.id), window=window, highlight=span, height=160
        )
        return chart, ""

    blocks = [
        _chart(b, key + "status", "Requests by status", "", status),
        _chart(b, key + "latency", "Service time", "", service),
    ]
    side, dyno = side_chart(inc), dyno_filter(inc)
    if side == "memory":

        def memory(b: _Build) -> ChartResult:
            trend = _trend(b)
            df = cut_to(trend, window, dyno=dyno, dyno_col="dyno")
            if df.filter(pl.col("layer") == "memory").is_empty():
                return None, "No memory samples of these dynos in this window."
            return leak_trend_chart(df, row_height=90), ""

        blocks.append(_chart(b, key + "memory", f"Memory of {dyno or 'the dynos'}", "", memory))
    elif side == "availability":

        def events(b: _Build) -> ChartResult:
            df = cut_to(_events(b), window, dyno=dyno, dyno_col="lane", keep=(APP_LANE,))
            if df.is_empty():
                return None, "No releases, restarts or crashes in this window."
            return event_timeline_chart(df), ""

        title = f"Events of {dyno or 'the dynos'}"
        blocks.append(_chart(b, key + "availability", title, "", events))
    return blocks


def _trend(b: _Build) -> pl.DataFrame:
    """The whole log's memory trend, computed once (the leak chart and the zoomed ones)."""
    if b.trend is None:
        b.trend = memory_trend(b.con, lifetimes=b.lifetimes, crash_table=b.crashes)
    return b.trend


def _events(b: _Build) -> pl.DataFrame:
    """The whole log's event timeline, computed once (its chart and the zoomed ones)."""
    if b.events is None:
        b.events = availability.timeline(b.con, lifetimes=b.lifetimes, crash_table=b.crashes)
    return b.events


def _leak(b: _Build) -> ChartResult:
    df = _trend(b)
    if df.filter(pl.col("layer") == "memory").is_empty():
        return None, "No memory data: neither runtime metrics nor `Process running mem=` lines."
    return leak_trend_chart(df), ""


def _growth(b: _Build) -> ChartResult:
    if b.growth is None or growth_points(b.growth).is_empty():
        return None, "No lifetime with enough memory samples to measure growth."
    medians = releases.memory_by_release(b.growth)
    source = "slopes: forensics.analyses.memory.memory_growth"
    return growth_by_release_chart(b.growth, medians, source=source), ""


def _attribution(b: _Build) -> ChartResult:
    if b.attribution is None or attribution_bars(b.attribution).is_empty():
        return None, "The attribution analysis attributed no growth to any route."
    source = "source: forensics.analyses.attribution.route_attribution"
    return route_attribution_chart(b.attribution, source=source), ""


def _timeouts(b: _Build) -> ChartResult:
    heat = timeouts.error_heatmap(b.con)
    if heat.is_empty():
        return None, "No H12 (request timeout) in the selected data."
    routes = heat["route"].unique(maintain_order=True).to_list()
    pct = timeouts.route_percentiles(b.con, route=routes)
    return timeout_hotspots_chart(heat, pct), ""


def _releases(b: _Build) -> ChartResult:
    df = releases.release_metrics(b.con, lifetimes=b.lifetimes, growth=b.growth)
    if df.is_empty():
        return None, "No `Release vN created` lines in the selected data: nothing to compare."
    return release_comparison_chart(df), ""


def _timeline(b: _Build) -> ChartResult:
    df = _events(b)
    if df.is_empty():
        return None, "No releases, scaling, restarts or crashes in the selected data."
    return event_timeline_chart(df), ""


def _concurrency(b: _Build) -> ChartResult:
    df = concurrency.sizing(b.con)
    if df.is_empty():
        return None, "No router lines with a service time: no load to compare with a capacity."
    return concurrency_chart(df), ""


def _routes_table(b: _Build) -> Table:
    return tables.top_routes(timeouts.slowest_routes(b.con))


def _memory_table(b: _Build) -> Table:
    return tables.memory_errors(quota_episodes(b.con, lifetimes=b.lifetimes, growth=b.growth))


def _crash_table(b: _Build) -> Table:
    return tables.crashes(availability.crash_context(b.con, crash_table=b.crashes))


def _chart(
    b: _Build, key: str, title: str, caption: str, build: Callable[[_Build], ChartResult]
) -> ChartBlock:
    """Build one chart; a failure becomes a visible note (and an entry in `errors`)."""
    try:
        chart, note = build(b)
        spec = None if chart is None else chart.to_dict()  # validates against the schema
        if spec is not None and b.redactor is not None:
            spec = b.redactor.value(spec)
        if spec is not None:
            spec = neutral_value(spec)  # chart labels are log text too
        if spec is not None:
            json_for_script(spec)  # embeddable (no NaN): fail here, not in the page
    except ForensicsError as e:  # a data gap; any other exception is a bug and propagates
        b.errors.append(f"{title}: {type(e).__name__}: {e}")
        return ChartBlock(key, title, caption, None, f"This chart failed: {type(e).__name__}: {e}")
    return ChartBlock(key, title, caption, spec, note)


def _table(b: _Build, key: str, title: str, build: Callable[[_Build], Table]) -> Table:
    try:
        return build(b)
    except ForensicsError as e:  # shown in place of the table
        b.errors.append(f"{title}: {type(e).__name__}: {e}")
        return Table(key, title, [], [], note=f"This table failed: {type(e).__name__}: {e}")


def _guard(b: _Build, what: str, fn: Callable[[], Any], default: Any) -> Any:
    try:
        return fn()
    except DatasetChangedError:
        raise  # not a section's problem: the whole page is read again (the CLI retries)
    except ForensicsError as e:  # reported in the page and the stats
        b.errors.append(f"{what}: {type(e).__name__}: {e}")
        return default


# ----- helpers -------------------------------------------------------------------------------


def _same(text: str) -> str:
    return text


def _checked(items: list[Any]) -> list[Finding]:
    for f in items:
        if not isinstance(f, Finding):
            raise TypeError(
                f"a finding must be a forensics.findings.Finding, not {type(f).__name__}"
            )
    return items


def _title(root: Path, facts: list[tuple[str, Any]]) -> str:
    span = dict(facts).get("time span (UTC)", "")
    return f"Incident report: {root.name}" + (f", {span}" if span else "")
