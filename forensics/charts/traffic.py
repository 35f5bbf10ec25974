"""Chart of `forensics.analyses.traffic.status_series`: requests per minute by status class over
time, stacked with the failures at the bottom (H-codes, then 5xx) so even a small share of them
shows; optionally zoomed to a window, with an incident's own span shaded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import altair as alt
import polars as pl

from forensics.analyses.traffic import OTHER
from forensics.charts.encode import inline, time_tip

TimeWindow = tuple[datetime, datetime]

STATUS_COLORS = {"5xx": "#d62728", "4xx": "#fdae6b", "3xx": "#9ecae1", "2xx": "#8fbc8f"}
CODE_COLORS = ("#7b1fa2", "#ad1457", "#4a148c", "#c2185b", "#6a1b9a", "#880e4f", "#9c27b0")
OTHER_COLOR = "#cccccc"


def class_order(classes: list[str]) -> list[str]:
    """Status classes bottom-up: H-codes (sorted), 5xx, 4xx, 3xx, 2xx, then anything else."""
    codes = sorted(c for c in classes if c.startswith("H"))
    rest = [c for c in ("5xx", "4xx", "3xx", "2xx", "1xx") if c in classes]
    tail = sorted(c for c in classes if c not in codes and c not in rest)
    return [*codes, *rest, *tail]


def class_colors(order: list[str]) -> list[str]:
    """One colour per class of `class_order`: purples for H-codes, red for 5xx, green for 2xx."""
    out, k = [], 0
    for c in order:
        if c.startswith("H"):
            out.append(CODE_COLORS[k % len(CODE_COLORS)])
            k += 1
        else:
            out.append(STATUS_COLORS.get(c, OTHER_COLOR) if c != OTHER else OTHER_COLOR)
    return out


def time_axis(field: str, window: TimeWindow | None, title: str | None = "time (UTC)") -> alt.X:
    """A UTC time x encoding, its domain fixed to `window` when given (zoomed views)."""
    scale: dict[str, Any] = {"type": "utc"}
    if window is not None:
        scale["domain"] = [_ms(window[0]), _ms(window[1])]
    axis = alt.Axis(format="%b %d %H:%M", labelOverlap=True, labelFlush=True)
    return alt.X(f"{field}:T", title=title, scale=alt.Scale(**scale), axis=axis)


def within(df: pl.DataFrame, window: TimeWindow | None) -> pl.DataFrame:
    """The rows of a bucketed table (bucket, bucket_end) that overlap `window`; refuses a table
    holding several windows of the analysis (they would be drawn on top of each other)."""
    if "window" in df.columns and df["window"].n_unique() > 1:
        raise ValueError("give the rows of one window of the analysis (filter on `window`)")
    if window is None:
        return df
    return df.filter((pl.col("bucket_end") > window[0]) & (pl.col("bucket") < window[1]))


def highlight_layer(span: TimeWindow | None, window: TimeWindow | None) -> list[alt.Chart]:
    """A light band over an incident's own span (a rule when it has no length)."""
    if span is None:
        return []
    df = pl.DataFrame({"start": [span[0]], "end": [span[1]]})
    base = alt.Chart(inline(df))
    if span[1] <= span[0]:
        return [
            base.mark_rule(color="#c62828", strokeDash=[4, 3]).encode(x=time_axis("start", window))
        ]
    return [
        base.mark_rect(color="#c62828", opacity=0.08).encode(
            x=time_axis("start", window),
            x2="end:T",
            tooltip=[time_tip("start", "incident from"), time_tip("end", "to")],
        )
    ]


def status_chart(
    status: pl.DataFrame,
    *,
    window: TimeWindow | None = None,
    highlight: TimeWindow | None = None,
    width: int = 860,
    height: int = 200,
) -> alt.LayerChart:
    """Requests per minute per status class (stacked areas) from `status_series` rows of one
    window; `window` zooms the time axis to (start, end), `highlight` shades a span."""
    df = within(status, window)
    order = class_order(df["status_class"].unique().to_list())
    minutes = int(df["bucket_seconds"][0]) // 60 if df.height else 0
    df = df.select(  # only what is drawn: a page holds a dozen of these
        "bucket",
        "status_class",
        "requests",
        pl.col("per_minute").round(2),
        pl.col("status_class")
        .replace_strict({c: i for i, c in enumerate(order)}, default=len(order))
        .alias("stack"),
    )
    area = (
        alt.Chart(inline(df))
        .mark_area(interpolate="step-after", opacity=0.9)
        .encode(
            x=time_axis("bucket", window),
            y=alt.Y("per_minute:Q", stack="zero", title="requests / min"),
            color=alt.Color(
                "status_class:N",
                title="status",
                sort=order,
                scale=alt.Scale(domain=order, range=class_colors(order)),
                legend=alt.Legend(orient="right"),
            ),
            order=alt.Order("stack:Q"),
            tooltip=[
                alt.Tooltip("status_class:N", title="status"),
                time_tip("bucket", "from"),
                alt.Tooltip("requests:Q", title="requests in bucket", format=","),
                alt.Tooltip("per_minute:Q", title="per minute", format=",.1f"),
            ],
        )
    )
    title = f"Requests per minute by status class ({minutes}-min buckets)"
    return alt.layer(*highlight_layer(highlight, window), area).properties(
        width=width, height=height, title=title
    )


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)
