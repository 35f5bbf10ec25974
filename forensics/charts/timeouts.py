"""Chart of `forensics.analyses.timeouts`: router errors (H12 by default) per route and time
bucket as a heatmap (`error_heatmap`), with each route's service-time percentiles beside it
(`route_percentiles`); a sentence instead when `error_heatmap` found no such error."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import polars as pl

from forensics.charts.encode import inline, time_tip, time_x


def timeout_hotspots_chart(
    heat: pl.DataFrame,
    percentiles: pl.DataFrame,
    *,
    codes: Sequence[str] = ("H12",),
    width: int = 620,
) -> alt.HConcatChart | alt.Chart:
    """The heatmap of `error_heatmap` rows and, beside it, the p50/p95/p99 of
    `route_percentiles` rows for the same routes (log scale). No rows: a chart that says so."""
    label = "/".join(codes)
    if heat.is_empty():
        return _no_errors(label, width=width)
    order = heat["route"].unique(maintain_order=True).to_list()
    pct = percentiles.filter(pl.col("route").is_in(order))
    minutes = int(heat["bucket_seconds"][0]) // 60
    y = alt.Y("route:N", sort=order, title=None, axis=alt.Axis(labelLimit=260))
    heatmap = (
        alt.Chart(inline(heat))
        .mark_rect()
        .encode(
            x=time_x("bucket"),
            x2="bucket_end:T",
            y=y,
            color=alt.Color(
                "errors:Q", title=f"{label} per {minutes} min", scale=alt.Scale(scheme="orangered")
            ),
            tooltip=[
                alt.Tooltip("route:N"),
                time_tip("bucket", "from"),
                alt.Tooltip("errors:Q", title=label),
                alt.Tooltip("requests:Q", title="requests in bucket"),
                alt.Tooltip("share:Q", title="share", format=".0%"),
                alt.Tooltip("route_errors:Q", title=f"{label} on route"),
            ],
        )
        .properties(
            width=width, height=alt.Step(18), title=f"{label} per route, {minutes}-min buckets"
        )
    )
    fold = ["p50_ms", "p95_ms", "p99_ms"]
    panel = (
        alt.Chart(inline(pct))
        .transform_fold(fold, as_=["percentile", "ms"])
        .transform_calculate(at_ms="max(datum.ms, 1)")  # a log scale has no 0
        .mark_point(filled=True, size=50)
        .encode(
            y=alt.Y("route:N", sort=order, title=None, axis=alt.Axis(labels=False, ticks=False)),
            x=alt.X("at_ms:Q", title="service time (ms, log)", scale=alt.Scale(type="log")),
            color=alt.Color(
                "percentile:N",
                scale=alt.Scale(domain=fold, range=["#9ecae1", "#3182bd", "#08519c"]),
                title="percentile",
            ),
            shape=alt.Shape("percentile:N", scale=alt.Scale(domain=fold)),
            tooltip=[
                alt.Tooltip("route:N"),
                alt.Tooltip("percentile:N"),
                alt.Tooltip("ms:Q", title="ms", format=",.0f"),
                alt.Tooltip("requests:Q"),
                alt.Tooltip("max_ms:Q", title="max ms", format=",.0f"),
            ],
        )
        .properties(width=220, height=alt.Step(18), title="service time by route")
    )
    return alt.hconcat(heatmap, panel, spacing=8).resolve_scale(
        color="independent", shape="independent"
    )


def _no_errors(label: str, *, width: int) -> alt.Chart:
    """The empty state: the sentence where the heatmap would be (no 0-min buckets, no NaN
    legend)."""
    text = f"No {label} in this selection: no route to show."
    return (
        alt.Chart(alt.Data(values=[{"text": text}]))
        .mark_text(fontSize=14, color="#555", align="left", x=0, y=12)
        .encode(text="text:N")
        .properties(width=width, height=24, title=f"{label} per route")
    )
