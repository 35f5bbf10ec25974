"""Chart of `forensics.analyses.concurrency.sizing`: per process type, the configured capacity
(workers x threads) against the load (requests in flight) and the memory against the quota,
coloured by the analysis' verdict."""

from __future__ import annotations

import altair as alt
import polars as pl

from forensics.charts.encode import inline

VERDICTS = ("ok", "too_high_for_memory", "too_low_for_load", "both", "unknown")
VERDICT_COLORS = ("#2ca02c", "#d62728", "#ff7f0e", "#8c0000", "#bdbdbd")


def concurrency_bars(sizing: pl.DataFrame) -> pl.DataFrame:
    """`sizing` in long form for the two panels: one row per (app, process type, panel,
    measure) with `value` and the panel's `limit` (capacity, or the memory quota)."""
    label = pl.format(
        "{} ({} x {})",
        "process_type",
        pl.col("workers").cast(pl.String).fill_null("?"),
        pl.col("threads").cast(pl.String).fill_null("?"),
    )
    base = sizing.with_columns(label.alias("label"))
    keep = ["app", "label", "process_type", "verdict", "suggested_workers", "suggested_threads",
            "reasoning"]  # fmt: skip

    def panel(title: str, measures: list[str], limit: str, strip: tuple[str, ...]) -> pl.DataFrame:
        """One panel's bars in long form: a row per measure, with the panel's limit."""
        name = pl.col("measure")
        for part in strip:
            name = name.str.replace(part, "")
        return base.unpivot(on=measures, index=[*keep, limit], variable_name="measure").select(
            *keep,
            pl.lit(title).alias("panel"),
            name,
            pl.col("value").cast(pl.Float64),
            pl.col(limit).cast(pl.Float64).alias("limit"),
        )

    return pl.concat(
        [
            panel(
                "requests in flight",
                ["in_flight_p50", "in_flight_p95", "in_flight_max"],
                "capacity",
                ("in_flight_",),
            ),
            panel(
                "memory (MB)",
                ["baseline_mb", "memory_p95_mb", "memory_max_mb"],
                "memory_quota_mb",
                ("memory_", "_mb"),
            ),
        ]
    )


def concurrency_chart(sizing: pl.DataFrame, *, width: int = 260) -> alt.FacetChart:
    """Two panels per process type (rows): load p50 / p95 / max against the capacity (rule),
    memory baseline / p95 / max against the quota (rule); bars coloured by the verdict."""
    df = concurrency_bars(sizing)
    tips = [
        alt.Tooltip("label:N", title="process type (workers x threads)"),
        alt.Tooltip("measure:N"),
        alt.Tooltip("value:Q", format=",.1f"),
        alt.Tooltip("limit:Q", title="capacity / quota", format=",.0f"),
        alt.Tooltip("verdict:N"),
        alt.Tooltip("suggested_workers:Q", title="suggested workers"),
        alt.Tooltip("suggested_threads:Q", title="suggested threads"),
        alt.Tooltip("reasoning:N"),
    ]
    bars = (
        alt.Chart()
        .mark_bar()
        .encode(
            y=alt.Y("measure:N", title=None, sort=None),
            x=alt.X("value:Q", title=None),
            color=alt.Color(
                "verdict:N", scale=alt.Scale(domain=list(VERDICTS), range=list(VERDICT_COLORS))
            ),
            tooltip=tips,
        )
    )
    limit = (
        alt.Chart()
        .mark_rule(color="black", strokeDash=[4, 2])
        .encode(x="max(limit):Q", tooltip=[alt.Tooltip("max(limit):Q", title="capacity / quota")])
    )
    return (
        alt.layer(bars, limit)
        .properties(width=width, height=alt.Step(18))
        .facet(
            row=alt.Row("label:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
            column=alt.Column("panel:N", title=None),
            data=inline(df),
        )
        .resolve_scale(x="independent", y="independent")
        .properties(title="Concurrency: capacity vs load, memory vs quota, per process type")
    )
