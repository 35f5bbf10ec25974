"""Chart of `forensics.analyses.latency.service_percentiles`: p50/p95/p99 service time over time
(log scale, the 30 s router limit dashed), and above it on the same time axis the router
H-codes of each bucket (the H-code rows of `forensics.analyses.traffic.status_series`)."""

from __future__ import annotations

import altair as alt
import polars as pl

from forensics.charts.encode import inline, time_tip
from forensics.charts.traffic import TimeWindow, highlight_layer, time_axis, within
from forensics.heroku import ROUTER_TIMEOUT_MS

PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")
PCT_COLORS = ("#9ecae1", "#3182bd", "#08306b")


def h_code_rows(status: pl.DataFrame) -> pl.DataFrame:
    """The buckets of a `status_series` table with router error codes: bucket, code,
    requests."""
    return status.filter(
        pl.col("status_class").str.starts_with("H") & (pl.col("requests") > 0)
    ).select("bucket", pl.col("status_class").alias("code"), "requests")


def latency_chart(
    percentiles: pl.DataFrame,
    status: pl.DataFrame | None = None,
    *,
    window: TimeWindow | None = None,
    highlight: TimeWindow | None = None,
    width: int = 860,
    height: int = 200,
) -> alt.VConcatChart | alt.LayerChart:
    """Service-time percentiles of one window of `service_percentiles`, with the H-codes of the
    same window of `status_series` (`status`) marked above; `window` zooms both to (start, end),
    `highlight` shades a span."""
    pct = within(percentiles, window)
    if window is None and pct.height:  # both panels on one time axis
        window = (pct["bucket"].min(), pct["bucket_end"].max())
    minutes = int(pct["bucket_seconds"][0]) // 60 if pct.height else 0
    wide = pct.select(
        "bucket", "requests", *(pl.col(c).round(1) for c in (*PERCENTILES, "max_ms"))
    )  # one row per bucket, folded in the chart: a page holds a dozen of these
    lines = (
        alt.Chart(inline(wide))
        .transform_fold(list(PERCENTILES), as_=["percentile", "ms"])
        .transform_calculate(at_ms="max(datum.ms, 1)")  # a log scale has no 0
        .mark_line(interpolate="step-after", strokeWidth=1.4)
        .encode(
            x=time_axis("bucket", window),
            y=alt.Y("at_ms:Q", title="service time (ms, log)", scale=alt.Scale(type="log")),
            color=alt.Color(
                "percentile:N",
                title="percentile",
                scale=alt.Scale(domain=list(PERCENTILES), range=list(PCT_COLORS)),
                legend=alt.Legend(orient="right"),
            ),
            tooltip=[
                alt.Tooltip("percentile:N"),
                time_tip("bucket", "from"),
                alt.Tooltip("ms:Q", title="ms", format=",.0f"),
                alt.Tooltip("max_ms:Q", title="max ms", format=",.0f"),
                alt.Tooltip("requests:Q", title="requests", format=","),
            ],
        )
    )
    limit = (
        alt.Chart(inline(pl.DataFrame({"ms": [float(ROUTER_TIMEOUT_MS)]})))
        .mark_rule(color="#c62828", strokeDash=[6, 3], opacity=0.6)
        .encode(y="ms:Q", tooltip=[alt.Tooltip("ms:Q", title="router limit ms", format=",")])
    )
    title = f"Service time p50 / p95 / p99 ({minutes}-min buckets; dashed: 30 s router limit)"
    panel = alt.layer(*highlight_layer(highlight, window), lines, limit).properties(
        width=width, height=height
    )
    codes = None if status is None else h_code_rows(within(status, window))
    if codes is None or codes.is_empty():
        return panel.properties(title=title)
    marks = (
        alt.Chart(inline(codes))
        .mark_point(filled=True, shape="triangle-down", color="#7b1fa2", opacity=0.85)
        .encode(
            x=time_axis("bucket", window, title=None),
            y=alt.Y("code:N", title="H-codes", sort="ascending"),
            size=alt.Size(
                "requests:Q",
                title="H-code requests",
                scale=alt.Scale(range=[25, 260]),
                legend=alt.Legend(format="d", tickMinStep=1),
            ),
            tooltip=[
                alt.Tooltip("code:N", title="router code"),
                time_tip("bucket", "from"),
                alt.Tooltip("requests:Q", title="requests", format=","),
            ],
        )
        .properties(width=width, height=alt.Step(16))
    )
    return alt.vconcat(marks, panel, spacing=4).properties(title=title)
