"""Route attribution: how many MB of memory each request of a route leaves behind.

The chart takes the frame of `forensics.analyses.attribution.route_attribution` (one row per
route and (app, release, process type) group); the columns it uses (aliases accepted, see
ATTRIBUTION_COLUMNS):

- `route` (str): route template; `mb_per_request` (float): MB retained per request;
- optional `method`, `release`, `process_type`, `requests` (int), `ci_low` / `ci_high`
  (float, MB: interval), `confidence` (0-1), `significant` and `leak` (bool).
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import polars as pl

from forensics.charts.columns import pick
from forensics.charts.encode import inline

ATTRIBUTION_COLUMNS: dict[str, list[str | tuple[str, float]]] = {
    "route": ["route"],
    "mb_per_request": [
        "mb_per_request",
        "mb_per_req",
        "coef_mb",
        ("kb_per_request", 1 / 1024),
        ("mb_per_1k_requests", 1 / 1000),
    ],
    "method": ["method"],
    "release": ["release"],
    "process_type": ["process_type"],
    "requests": ["requests", "n_requests"],
    "ci_low": ["ci_low", "mb_per_request_low"],
    "ci_high": ["ci_high", "mb_per_request_high"],
    "confidence": ["confidence"],
    "significant": ["significant"],
    "leak": ["leak"],
}
VERDICTS = ("leak", "significant", "not significant", "attributed")
VERDICT_COLORS = ("#d62728", "#ff9896", "#c7c7c7", "#1f77b4")


def route_attribution_data(
    frame: pl.DataFrame,
    *,
    route: str | Sequence[str] | None = None,
    release: str | None = None,
    top: int = 20,
) -> pl.DataFrame:
    """`frame` normalized for the chart: rows with MB per request > 0, optionally cut to some
    routes or one release, the `top` largest first. Adds `label` (method, route and, when the
    frame holds several groups, release and process type) and `verdict` (leak / significant /
    not significant, or `attributed` when the frame has no such flags)."""
    df = pick(
        frame, ATTRIBUTION_COLUMNS, required=("route", "mb_per_request"), what="attribution frame"
    ).with_columns(
        pl.col("route").cast(pl.String),
        pl.col("mb_per_request").cast(pl.Float64),
        pl.col("method").cast(pl.String),
        pl.col("release").cast(pl.String),
        pl.col("process_type").cast(pl.String),
        pl.col("requests").cast(pl.Int64),
        pl.col("ci_low").cast(pl.Float64),
        pl.col("ci_high").cast(pl.Float64),
        pl.col("confidence").cast(pl.Float64),
        pl.col("significant").cast(pl.Boolean),
        pl.col("leak").cast(pl.Boolean),
    )
    df = df.filter(pl.col("mb_per_request").is_not_nan() & (pl.col("mb_per_request") > 0))
    if route is not None:
        df = df.filter(pl.col("route").is_in([route] if isinstance(route, str) else list(route)))
    if release is not None:
        df = df.filter(pl.col("release") == release)
    groups = df.select("release", "process_type").unique().height
    method = (
        pl.when(pl.col("method").is_not_null()).then(pl.col("method") + " ").otherwise(pl.lit(""))
    )
    group = pl.format(
        "  ({} {})", pl.col("process_type").fill_null(""), pl.col("release").fill_null("")
    )
    label = pl.concat_str(method, pl.col("route"))
    if groups > 1:
        label = pl.concat_str(label, group)
    verdict = (
        pl.when(pl.col("leak"))
        .then(pl.lit("leak"))
        .when(pl.col("significant"))
        .then(pl.lit("significant"))
        .when(pl.col("significant").is_not_null() | pl.col("leak").is_not_null())
        .then(pl.lit("not significant"))
        .otherwise(pl.lit("attributed"))
    )
    return (
        df.with_columns(label.alias("label"), verdict.alias("verdict"))
        .sort("mb_per_request", descending=True)
        .head(top)
    )


def route_attribution(
    frame: pl.DataFrame,
    *,
    route: str | Sequence[str] | None = None,
    release: str | None = None,
    top: int = 20,
    source: str = "",
    width: int = 520,
) -> alt.LayerChart:
    """Horizontal bars of MB per request by route (largest first), with the interval if any."""
    df = route_attribution_data(frame, route=route, release=release, top=top)
    return route_attribution_chart(df, source=source, width=width)


def route_attribution_chart(
    df: pl.DataFrame, *, source: str = "", width: int = 520
) -> alt.LayerChart:
    """The attribution bars drawn from `route_attribution_data` rows."""
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
    layers: list[alt.Chart] = [bars]
    if df["ci_low"].is_not_null().any() and df["ci_high"].is_not_null().any():
        layers.append(
            base.mark_rule(color="black").encode(y=y, x="ci_low:Q", x2="ci_high:Q", tooltip=tips)
        )
    title = alt.Title("Memory retained per request, by route", subtitle=[source] if source else [])
    return alt.layer(*layers).properties(width=width, height=alt.Step(20), title=title)
