"""Chart of `forensics.analyses.attribution.route_attribution`: MB each request of a route
leaves behind, per (app, release, process type), with the analysis' own verdict."""

from __future__ import annotations

import altair as alt
import polars as pl

from forensics.charts.encode import inline

VERDICTS = ("leak", "significant", "not significant")
VERDICT_COLORS = ("#d62728", "#ff9896", "#c7c7c7")


def attribution_bars(frame: pl.DataFrame, *, top: int = 20) -> pl.DataFrame:
    """The routes the fit gave memory to (mb_per_request > 0; the others were not chosen), the
    `top` largest, with `label` (method, route and, when there are several groups, process type
    and release) and `verdict` (leak / significant / not significant, from the analysis'
    `leak` and `significant` columns)."""
    df = frame.filter(pl.col("mb_per_request") > 0)
    groups = df.select("release", "process_type").unique().height
    method = (
        pl.when(pl.col("method").is_not_null()).then(pl.col("method") + " ").otherwise(pl.lit(""))
    )
    label = pl.concat_str(method, pl.col("route"))
    if groups > 1:
        group = pl.format(
            "  ({} {})", pl.col("process_type").fill_null(""), pl.col("release").fill_null("")
        )
        label = pl.concat_str(label, group)
    verdict = (
        pl.when(pl.col("leak"))
        .then(pl.lit("leak"))
        .when(pl.col("significant"))
        .then(pl.lit("significant"))
        .otherwise(pl.lit("not significant"))
    )
    return (
        df.with_columns(label.alias("label"), verdict.alias("verdict"))
        .sort("mb_per_request", descending=True)
        .head(top)
        .select(
            "label", "verdict", "app", "release", "process_type", "method", "route", "requests",
            "mb_per_request", "ci_low", "ci_high", "confidence",
        )
    )  # fmt: skip


def route_attribution_chart(
    frame: pl.DataFrame, *, top: int = 20, source: str = "", width: int = 520
) -> alt.LayerChart:
    """Horizontal bars of MB per request by route (largest first) with the bootstrap interval,
    from a `route_attribution` frame."""
    df = attribution_bars(frame, top=top)
    order = df["label"].to_list()
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=380))
    base = alt.Chart(inline(df))
    tips = [
        alt.Tooltip("route:N"),
        alt.Tooltip("method:N"),
        alt.Tooltip("release:N"),
        alt.Tooltip("process_type:N", title="process type"),
        alt.Tooltip("mb_per_request:Q", title="MB per request", format=".3f"),
        alt.Tooltip("ci_low:Q", title="interval low", format=".3f"),
        alt.Tooltip("ci_high:Q", title="interval high", format=".3f"),
        alt.Tooltip("confidence:Q", format=".0%"),
        alt.Tooltip("requests:Q"),
        alt.Tooltip("verdict:N"),
    ]
    bars = base.mark_bar().encode(
        y=y,
        x=alt.X("mb_per_request:Q", title="MB retained per request"),
        color=alt.Color(
            "verdict:N",
            title=None,
            scale=alt.Scale(domain=list(VERDICTS), range=list(VERDICT_COLORS)),
            legend=alt.Legend(orient="top"),
        ),
        tooltip=tips,
    )
    interval = base.mark_rule(color="black").encode(y=y, x="ci_low:Q", x2="ci_high:Q", tooltip=tips)
    title = alt.Title("Memory retained per request, by route", subtitle=[source] if source else [])
    return alt.layer(bars, interval).properties(width=width, height=alt.Step(20), title=title)
