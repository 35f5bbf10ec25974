"""Charts of `forensics.analyses.memory`: the leak trend (memory per dyno over time, from
`memory_trend`) and memory growth by release (the lifetimes of `memory_growth`, with the
per-release medians `forensics.analyses.releases.memory_by_release` compares)."""

from __future__ import annotations

import altair as alt
import polars as pl

from forensics.analyses.memory import CLASSES
from forensics.charts.encode import inline, release_sort, time_tip, time_x

SERIES = ("memory_total", "memory_rss", "quota", "R14", "R15", "restart", "crash", "release")
COLORS = ("#1f77b4", "#9ecae1", "#d62728", "#ff7f0e", "#8c0000", "#7f7f7f", "#9467bd", "#2ca02c")
# one colour per memory.CLASSES class, by name (a class added there without one fails a test)
CLASS_COLORS = {
    "leak": "#d62728",
    "growing": "#ff7f0e",
    "inconclusive": "#fdd0a2",
    "warmup": "#9ecae1",
    "step": "#8c564b",
    "plateau": "#1f77b4",
    "spike": "#9467bd",
    "healthy": "#2ca02c",
    "insufficient": "#bdbdbd",
}


def leak_trend_chart(
    trend: pl.DataFrame, *, width: int = 860, row_height: int = 130
) -> alt.FacetChart:
    """Memory per dyno (one row each) with quota, R14/R15, restarts, crashes and release lines,
    drawn from `forensics.analyses.memory.memory_trend` rows."""
    color = alt.Color(
        "series:N",
        title=None,
        scale=alt.Scale(domain=list(SERIES), range=list(COLORS)),
        legend=alt.Legend(orient="top"),
    )
    x = time_x("ts")
    base = alt.Chart()
    mem = (
        base.transform_filter(alt.datum.layer == "memory")
        .mark_line(strokeWidth=1.3, interpolate="step-after")
        .encode(
            x=x,
            y=alt.Y("mb:Q", title="MB"),
            color=color,
            detail="segment:N",
            tooltip=[
                alt.Tooltip("dyno:N"),
                alt.Tooltip("series:N"),
                time_tip("ts", "bucket start"),
                alt.Tooltip("mb:Q", title="max MB", format=".1f"),
                alt.Tooltip("mb_mean:Q", title="mean MB", format=".1f"),
                alt.Tooltip("count:Q", title="samples"),
            ],
        )
    )
    quota = (
        base.transform_filter(alt.datum.layer == "quota")
        .mark_rule(strokeDash=[6, 3], strokeWidth=1.5)
        .encode(
            x=x,
            x2="ts_end:T",
            y="mb:Q",
            color=color,
            tooltip=[alt.Tooltip("dyno:N"), alt.Tooltip("mb:Q", title="quota MB")],
        )
    )
    errors = (
        base.transform_filter(alt.datum.layer == "error")
        .mark_point(shape="triangle-up", filled=True, size=40)
        .encode(
            x=x,
            y="mb:Q",
            color=color,
            tooltip=[
                alt.Tooltip("dyno:N"),
                alt.Tooltip("series:N", title="error"),
                alt.Tooltip("count:Q", title="count in bucket"),
                time_tip("ts", "bucket start"),
            ],
        )
    )
    marks = (
        base.transform_filter((alt.datum.layer == "restart") | (alt.datum.layer == "crash"))
        .mark_rule(strokeWidth=1.2, opacity=0.8)
        .encode(
            x=x,
            color=color,
            tooltip=[
                alt.Tooltip("dyno:N"),
                alt.Tooltip("series:N", title="what"),
                alt.Tooltip("label:N", title="cause / exit"),
                time_tip("ts", "at"),
                alt.Tooltip("detail:N"),
            ],
        )
    )
    rel = base.transform_filter(alt.datum.layer == "release")
    rel_rule = rel.mark_rule(strokeDash=[2, 2], strokeWidth=1.2).encode(
        x=x,
        color=color,
        tooltip=[alt.Tooltip("label:N", title="release"), time_tip("ts", "at"), "detail:N"],
    )
    rel_text = rel.mark_text(align="left", baseline="top", dx=3, dy=2, fontSize=10).encode(
        x=x, y=alt.value(0), text="label:N", color=color
    )
    layered = alt.layer(mem, quota, errors, marks, rel_rule, rel_text).properties(
        width=width, height=row_height
    )
    return layered.facet(
        row=alt.Row("dyno:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
        data=inline(trend),
    ).properties(title="Memory per dyno: quota, R14/R15, restarts, crashes, releases")


def growth_points(growth: pl.DataFrame) -> pl.DataFrame:
    """The lifetimes of `memory_growth` that have a slope, as the chart embeds them: release
    (null -> "unknown"), version, process_type, lifetime_id, dyno, samples, slope_mb_h,
    classification."""
    return (
        growth.filter(pl.col("slope_mb_h").is_not_null() & pl.col("slope_mb_h").is_not_nan())
        .select(
            pl.col("release").fill_null("unknown"),
            "process_type",
            "lifetime_id",
            "dyno",
            "samples",
            "hours",
            "slope_mb_h",
            "classification",
        )
        .sort("release", "process_type", "lifetime_id")
    )


def growth_by_release_chart(
    growth: pl.DataFrame,
    medians: pl.DataFrame,
    *,
    source: str = "",
    width: int | None = None,
    height: int = 260,
) -> alt.LayerChart:
    """Memory slope per lifetime (points, coloured by the memory analysis' class) and, per
    release and process type, the median the release analysis compares (tick; from
    `forensics.analyses.releases.memory_by_release`). `width` defaults to 520 px or 26 px per
    release, whichever is wider."""
    points_df = growth_points(growth)
    ticks_df = medians.select(
        pl.col("release").fill_null("unknown"), "process_type", "lifetimes", "slope_mb_h"
    )
    order = release_sort([*points_df["release"].to_list(), *ticks_df["release"].to_list()])
    x = alt.X("release:N", sort=order, title="release", axis=alt.Axis(labelAngle=0))
    points = (
        alt.Chart(inline(points_df))
        .mark_circle(size=45, opacity=0.65)
        .encode(
            x=x,
            xOffset=alt.XOffset("process_type:N"),
            y=alt.Y("slope_mb_h:Q", title="memory growth (MB/h per lifetime, rss+swap)"),
            color=alt.Color(
                "classification:N",
                scale=alt.Scale(domain=list(CLASSES), range=[CLASS_COLORS[c] for c in CLASSES]),
            ),
            shape=alt.Shape("process_type:N", title="process type"),
            tooltip=[
                alt.Tooltip("release:N"),
                alt.Tooltip("lifetime_id:N", title="lifetime"),
                alt.Tooltip("dyno:N"),
                alt.Tooltip("slope_mb_h:Q", title="MB/h", format=".2f"),
                alt.Tooltip("classification:N"),
                alt.Tooltip("hours:Q", format=".1f"),
                alt.Tooltip("samples:Q"),
            ],
        )
    )
    ticks = (
        alt.Chart(inline(ticks_df))
        .mark_tick(thickness=3, size=24, color="black")
        .encode(
            x=x,
            xOffset=alt.XOffset("process_type:N"),
            y=alt.Y("slope_mb_h:Q"),
            tooltip=[
                alt.Tooltip("release:N"),
                alt.Tooltip("process_type:N", title="process type"),
                alt.Tooltip("slope_mb_h:Q", title="median MB/h", format=".2f"),
                alt.Tooltip("lifetimes:Q", title="lifetimes compared"),
            ],
        )
    )
    zero = alt.Chart(inline(pl.DataFrame({"y": [0.0]}))).mark_rule(color="#999").encode(y="y:Q")
    title = "Memory growth per lifetime, by release (tick: median compared between releases)"
    return alt.layer(zero, points, ticks).properties(
        width=width or max(520, 26 * len(order)),
        height=height,
        title=alt.Title(title, subtitle=[source] if source else []),
    )
