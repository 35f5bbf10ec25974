"""Chart of `forensics.analyses.releases`: each release's metrics next to the release before,
coloured by the analysis' own verdict (`release_metrics`, from `release_regressions`)."""

from __future__ import annotations

import altair as alt
import polars as pl

from forensics.charts.encode import inline, release_sort, time_tip

# How each metric of the analysis is titled in the chart.
LABELS = {
    "memory_slope_mb_h": "memory growth (MB/h, median lifetime)",  # per process type
    "p50_ms": "p50 service time (ms)",
    "p95_ms": "p95 service time (ms)",
    "error_rate": "HTTP 5xx (share of requests)",
    "h12_rate": "H12 (share of requests)",
    "r14_per_hour": "R14 per hour",
    "r15_per_hour": "R15 per hour",
    "crashes_per_hour": "crashes per hour",
}
VERDICTS = ("worse", "not worse", "first")
VERDICT_COLORS = ("#d62728", "#9ecae1", "#bdbdbd")


def release_comparison_chart(metrics: pl.DataFrame) -> alt.FacetChart:
    """Small multiples, one per metric: a bar per release, red where the release analysis found
    a regression against the release before (`release_metrics` rows)."""
    name = pl.col("metric").replace_strict(LABELS, default=pl.col("metric"))
    df = metrics.with_columns(
        pl.when(pl.col("process_type").is_not_null())
        .then(pl.format("{}: {}", "process_type", name))
        .otherwise(name)
        .alias("label"),
        pl.col("routes").list.join(", ").alias("routes"),
    )
    facets = df.select("label").unique(maintain_order=True)["label"].to_list()
    order = release_sort(df["release"].to_list())
    step = max(10, min(36, 180 // max(len(order), 1)))
    bars = (
        alt.Chart()
        .mark_bar()
        .encode(
            x=alt.X("release:N", sort=order, title=None, axis=alt.Axis(labelAngle=-45)),
            y=alt.Y("value:Q", title=None),
            color=alt.Color(
                "verdict:N",
                title="vs previous release",
                scale=alt.Scale(domain=list(VERDICTS), range=list(VERDICT_COLORS)),
            ),
            tooltip=[
                alt.Tooltip("release:N"),
                alt.Tooltip("label:N", title="metric"),
                alt.Tooltip("process_type:N", title="process type"),
                alt.Tooltip("value:Q", format=",.4g"),
                alt.Tooltip("previous:N", title="previous release"),
                alt.Tooltip("previous_value:Q", title="previous value", format=",.4g"),
                alt.Tooltip("change_pct:Q", title="change %", format="+.1f"),
                alt.Tooltip("verdict:N"),
                alt.Tooltip("routes:N", title="routes that regressed"),
                alt.Tooltip("test:N"),
                time_tip("start", "from"),
                time_tip("end", "to"),
                alt.Tooltip("hours:Q", format=".1f"),
                alt.Tooltip("requests:Q"),
            ],
        )
        .properties(width=alt.Step(step), height=130)
    )
    return (
        bars.facet(
            facet=alt.Facet("label:N", title=None, sort=facets),
            columns=4,
            data=inline(df),
        )
        .resolve_scale(y="independent")
        .properties(title="Releases compared (red: a regression against the release before)")
    )
