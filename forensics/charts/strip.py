"""The report's timeline strip: the whole log on one time axis, traffic (requests per minute,
from `forensics.analyses.traffic.error_share`) with the share of failed requests over it, and
below it one lane per incident (`forensics.incidents`, ranked by cost) as a bar over its span
that links to the incident."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import altair as alt
import polars as pl

from forensics.charts.encode import inline, time_tip
from forensics.charts.traffic import TimeWindow, time_axis

SEVERITY_COLORS = {"critical": "#c62828", "warning": "#ef8f00", "info": "#1e88e5"}
MAX_LANES = 12
LABEL_CHARS = 48


def incident_rows(incidents: Sequence[dict[str, Any]], *, log_end: datetime | None) -> pl.DataFrame:
    """The incidents (`Incident.to_json()`, ranked) as the strip draws them: rank, lane
    ("#1 worker.1 down"), id, title, severity, start, end (the log's end when ongoing or
    unknown), ongoing, impact (the cost line)."""
    rows = []
    for rank, inc in enumerate(incidents[:MAX_LANES], start=1):
        start = _ts(inc.get("start"))
        if start is None:
            continue
        end = _ts(inc.get("end")) or (log_end if inc.get("ongoing") else start) or start
        title = str(inc.get("title") or inc.get("kind") or "")
        short = title if len(title) <= LABEL_CHARS else title[: LABEL_CHARS - 1] + "…"
        rows.append(
            {
                "rank": rank,
                "lane": f"#{rank} {short}",
                "id": str(inc.get("id", "")),
                "href": f"#{inc.get('id', '')}",
                "title": title,
                "severity": str(inc.get("severity", "info")),
                "start": start,
                "end": max(end, start),
                "ongoing": bool(inc.get("ongoing")),
                "impact": impact_line(inc.get("impact") or {}),
            }
        )
    schema = {
        "rank": pl.Int64, "lane": pl.String, "id": pl.String, "href": pl.String,
        "title": pl.String, "severity": pl.String, "start": pl.Datetime("us", "UTC"),
        "end": pl.Datetime("us", "UTC"), "ongoing": pl.Boolean, "impact": pl.String,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


IMPACT_LABELS = (
    ("downtime_minutes", "min down"),
    ("failed_requests", "failed requests"),
    ("h12", "H12"),
    ("r14", "R14"),
    ("r15", "R15"),
    ("crashes", "crashes"),
    ("failed_jobs", "failed job runs"),
)


def impact_line(impact: dict[str, Any]) -> str:
    """What an incident cost, in words: `1,320 min down, 4 crashes` ("no loss measured")."""
    parts = []
    for key, label in IMPACT_LABELS:
        value = impact.get(key)
        if not value:
            continue
        if key == "failed_requests" and impact.get("failed_share"):
            parts.append(f"{value:,} {label} ({impact['failed_share']:.0%})")
        elif isinstance(value, float):
            parts.append(f"{value:,.1f}".rstrip("0").rstrip(".") + f" {label}")
        else:
            parts.append(f"{value:,} {label}")
    return ", ".join(parts) or "no loss measured"


def incident_strip_chart(
    share: pl.DataFrame,
    incidents: pl.DataFrame,
    *,
    window: TimeWindow,
    width: int = 860,
    traffic_height: int = 90,
) -> alt.VConcatChart:
    """Traffic and error share (`error_share` rows of the whole log) over `window`, and the
    incidents of `incident_rows` as bars (a tick marks each start, so a short one shows),
    coloured by severity, each a link to its section."""
    x = time_axis("bucket", window, title=None)
    base = alt.Chart(inline(share))
    traffic = base.mark_area(color="#b0bec5", interpolate="step-after").encode(
        x=x,
        y=alt.Y("per_minute:Q", title="req/min", axis=alt.Axis(tickCount=3, grid=False)),
        tooltip=[
            time_tip("bucket", "from"),
            alt.Tooltip("per_minute:Q", title="requests / min", format=",.1f"),
            alt.Tooltip("failed:Q", title="failed", format=","),
            alt.Tooltip("error_share:Q", title="error share", format=".1%"),
        ],
    )
    errors = base.mark_line(color="#c62828", strokeWidth=1.3, interpolate="step-after").encode(
        x=x,
        y=alt.Y(
            "error_share:Q",
            title="failed share",
            axis=alt.Axis(format="%", tickCount=3, titleColor="#c62828", orient="right"),
        ),
    )
    top = (
        alt.layer(traffic, errors)
        .resolve_scale(y="independent")
        .properties(width=width, height=traffic_height)
    )
    order = incidents.sort("rank")["lane"].to_list()
    lanes = alt.Chart(inline(incidents))
    color = alt.Color(
        "severity:N",
        scale=alt.Scale(domain=list(SEVERITY_COLORS), range=list(SEVERITY_COLORS.values())),
        legend=None,
    )
    tips = [
        alt.Tooltip("title:N", title="incident"),
        alt.Tooltip("severity:N"),
        time_tip("start", "from"),
        time_tip("end", "to"),
        alt.Tooltip("impact:N", title="cost"),
    ]
    y = alt.Y("lane:N", sort=order, title=None, axis=alt.Axis(labelLimit=260, labelFontSize=11))
    xs = time_axis("start", window, title="time (UTC)")
    bars = lanes.mark_bar(height=11, opacity=0.85, cursor="pointer").encode(
        x=xs, x2="end:T", y=y, color=color, href="href:N", tooltip=tips
    )
    ticks = lanes.mark_tick(thickness=3, size=15, cursor="pointer").encode(
        x=xs, y=y, color=color, href="href:N", tooltip=tips
    )
    bottom = alt.layer(bars, ticks).properties(width=width, height=alt.Step(20))
    return alt.vconcat(top, bottom, spacing=2)


def _ts(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
