"""`write_report`: one self-contained HTML file from a dataset: findings, charts, key tables,
provenance. Aggregated data only, so it stays small and is written in seconds."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import altair as alt
import duckdb
import polars as pl

from forensics.analyses.attribution import route_attribution as attribution_frame
from forensics.analyses.memory import lifetimes_and_growth
from forensics.charts.attribution import route_attribution, route_attribution_data
from forensics.charts.growth import growth_by_release, growth_by_release_data
from forensics.charts.leak import leak_trend_chart, leak_trend_data
from forensics.charts.releases import release_comparison_chart, release_comparison_data
from forensics.charts.timeline import event_timeline_chart, timeline_data
from forensics.charts.timeouts import (
    service_percentiles_data,
    timeout_heatmap_data,
    timeout_hotspots_chart,
)
from forensics.errors import ForensicsError, OutputError
from forensics.findings import Finding, collect_findings, rank
from forensics.report import provenance, tables
from forensics.report.page import ChartBlock, Page, Table, json_for_script
from forensics.report.redact import redact_text, redact_value
from forensics.store.views import Cut, open_dataset


@dataclass
class _Build:
    """What the sections need while the page is put together."""

    con: duckdb.DuckDBPyConnection
    redact: bool
    lifetimes: pl.DataFrame | None = None
    slopes: pl.DataFrame | None = None
    growth: pl.DataFrame | None = None
    attribution: pl.DataFrame | None = None
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
    `redact` masks IPs, e-mails, request ids and query strings everywhere in the page.
    `cut` and `routes_file` are those of `forensics.store.views.open_dataset`.
    Returns stats: path, bytes, charts (rendered), tables, findings (count or None),
    seconds, redacted, notes (sections shown as a note instead of a chart), errors (sections
    that hit a ForensicsError, shown in the page; any other exception propagates: it is a bug).
    """
    t0 = time.perf_counter()
    root = Path(dataset_dir)
    con = open_dataset(root, cut=cut, routes_file=routes_file)
    try:
        con.execute("SET enable_progress_bar = false")
        html_text, stats = _build(root, con, cut, redact, findings, title)
    finally:
        con.close()
    out = Path(out_path)
    _write_atomic(out, html_text)
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
    b = _Build(con=con, redact=redact)
    page = Page(redact_text if redact else _same)

    b.lifetimes, b.growth = lifetimes_and_growth(con)
    b.attribution = attribution_frame(con, lifetimes=b.lifetimes, growth=b.growth)
    if findings is None:
        items = _guard(
            b,
            "findings",
            lambda: collect_findings(
                con, lifetimes=b.lifetimes, growth=b.growth, attribution=b.attribution
            ),
            None,
        )
    else:
        items = list(findings)
    finding_dicts = None if items is None else [f.to_json() for f in rank(_checked(items))]
    findings_html = page.findings(finding_dicts, "The findings could not be collected.")

    charts = [
        _chart(b, "chart-leak", "Memory per dyno", LEAK_CAPTION, _leak),
        _chart(b, "chart-growth", "Memory growth by release", GROWTH_CAPTION, _growth),
        _chart(b, "chart-attribution", "Memory growth by route", ATTR_CAPTION, _attribution),
        _chart(b, "chart-timeouts", "Timeout hotspots", TIMEOUT_CAPTION, _timeouts),
        _chart(b, "chart-releases", "Releases compared", RELEASE_CAPTION, _releases),
        _chart(b, "chart-timeline", "Event timeline", TIMELINE_CAPTION, _timeline),
    ]
    key_tables = [
        _table(b, "table-routes", "Slowest routes by p95 service time", tables.top_routes),
        _table(b, "table-r14", "R14 / R15 memory errors per dyno", tables.memory_errors),
        _table(b, "table-crashes", "Crashes", tables.crashes),
    ]
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    facts = _guard(
        b,
        "provenance",
        lambda: provenance.facts(root, con, cut, redacted=redact, generated=generated),
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
        findings_html=errors_html + findings_html,
        charts=charts,
        tables=key_tables,
        provenance_html=provenance_html,
    )
    return html_text, {
        "charts": sum(c.spec is not None for c in charts),
        "tables": len(key_tables),
        "findings": None if finding_dicts is None else len(finding_dicts),
        "redacted": redact,
        "notes": [f"{c.title}: {c.note}" for c in charts if c.spec is None],
        "errors": b.errors,
    }


# ----- charts --------------------------------------------------------------------------------

LEAK_CAPTION = (
    "Per dyno (one row each): the highest memory_total and memory_rss of each time bucket, the "
    "quota (red dashed), R14/R15 per bucket (triangles), restarts (grey: a new process; the "
    "cause is in the tooltip), crashes (purple) and releases (green, labelled). A line that "
    "climbs to the quota and drops at a restart is a leak; the release line before the climb "
    "is where it began."
)
GROWTH_CAPTION = (
    "Each point is one process lifetime: how fast its memory grew (MB per hour, after "
    "warm-up), coloured by the memory analysis' verdict; the black tick is the release's "
    "median. A release whose lifetimes all grow faster than the one before introduced a leak."
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
    "For each release, the period it was in effect: median memory growth of its lifetimes, p95 "
    "service time, router error and 5xx rates, R14/R15 per hour. Red: worse than the release "
    "before (over 10 % and a noise floor), green: better."
)
TIMELINE_CAPTION = (
    "Releases, deploys and scaling (app lane); per dyno: restarts (with cause), crashes (with "
    "the app's last line before), platform errors other than R14, and down periods (from a crash "
    "until the dyno is up again)."
)

ChartResult = tuple[alt.TopLevelMixin | None, str]


def _leak(b: _Build) -> ChartResult:
    df = leak_trend_data(b.con, lifetimes_df=b.lifetimes)
    if df.filter(pl.col("layer") == "memory").is_empty():
        return None, "No memory data: neither runtime metrics nor `Process running mem=` lines."
    return leak_trend_chart(df), ""


_GROWTH_SOURCE = "forensics.analyses.memory.memory_growth"
_ATTRIBUTION_SOURCE = "forensics.analyses.attribution.route_attribution"


def _growth(b: _Build) -> ChartResult:
    frame = b.slopes = b.growth
    if frame is None or growth_by_release_data(frame).is_empty():
        return None, "No lifetime with enough memory samples to measure growth."
    return growth_by_release(frame, source=f"slopes: {_GROWTH_SOURCE}"), ""


def _attribution(b: _Build) -> ChartResult:
    frame, source = b.attribution, _ATTRIBUTION_SOURCE
    if frame is None or route_attribution_data(frame).is_empty():
        return None, f"The attribution analysis ({source}) attributed no growth to any route."
    return route_attribution(frame, source=f"source: {source}"), ""


def _timeouts(b: _Build) -> ChartResult:
    heat = timeout_heatmap_data(b.con)
    if heat.is_empty():
        return None, "No H12 (request timeout) in the selected data."
    routes = heat["route"].unique(maintain_order=True).to_list()
    pct = service_percentiles_data(b.con, routes=routes)
    return timeout_hotspots_chart(heat, pct), ""


def _releases(b: _Build) -> ChartResult:
    df = release_comparison_data(b.con, slopes=b.slopes)
    if df.is_empty():
        return None, "No `Release vN created` lines in the selected data: nothing to compare."
    return release_comparison_chart(df), ""


def _timeline(b: _Build) -> ChartResult:
    df = timeline_data(b.con, lifetimes_df=b.lifetimes)
    if df.is_empty():
        return None, "No releases, scaling, restarts or crashes in the selected data."
    return event_timeline_chart(df), ""


def _chart(
    b: _Build, key: str, title: str, caption: str, build: Callable[[_Build], ChartResult]
) -> ChartBlock:
    """Build one chart; a failure becomes a visible note (and an entry in `errors`)."""
    try:
        chart, note = build(b)
        spec = None if chart is None else chart.to_dict()  # validates against the schema
        if spec is not None and b.redact:
            spec = redact_value(spec)
        if spec is not None:
            json_for_script(spec)  # embeddable (no NaN): fail here, not in the page
    except ForensicsError as e:  # a data gap; any other exception is a bug and propagates
        b.errors.append(f"{title}: {type(e).__name__}: {e}")
        return ChartBlock(key, title, caption, None, f"This chart failed: {type(e).__name__}: {e}")
    return ChartBlock(key, title, caption, spec, note)


def _table(
    b: _Build, key: str, title: str, build: Callable[[duckdb.DuckDBPyConnection], Table]
) -> Table:
    try:
        return build(b.con)
    except ForensicsError as e:  # shown in place of the table
        b.errors.append(f"{title}: {type(e).__name__}: {e}")
        return Table(key, title, [], [], note=f"This table failed: {type(e).__name__}: {e}")


def _guard(b: _Build, what: str, fn: Callable[[], Any], default: Any) -> Any:
    try:
        return fn()
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


def _write_atomic(out: Path, text: str) -> None:
    """Write `text` to `out` through a temporary file renamed into place."""
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    except FileExistsError:  # from mkdir: a parent is a file
        raise OutputError(
            f"{out}: cannot write ({out.parent} is not a directory); choose another output file"
        ) from None
    except OSError as e:
        raise OutputError(
            f"{out}: cannot write ({e.strerror}); choose another output file"
        ) from None
    finally:
        if tmp.exists():
            tmp.unlink()
