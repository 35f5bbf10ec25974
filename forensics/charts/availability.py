"""Chart of `forensics.analyses.availability.timeline`: releases, deploys and scaling on an
`app` lane, then one lane per dyno with its restarts, crashes (the analysis' own), platform
errors and the periods it was down."""

from __future__ import annotations

import altair as alt
import polars as pl

from forensics.analyses.availability import APP_LANE, TIMELINE_KINDS
from forensics.analyses.series import dyno_key
from forensics.charts.encode import inline, time_tip, time_x

KIND_COLORS = (
    "#2ca02c",
    "#98df8a",
    "#bcbd22",
    "#17becf",
    "#7f7f7f",
    "#d62728",
    "#ff7f0e",
    "#f4a3a3",
    "#dddddd",
)
KIND_SHAPES = (
    "diamond",
    "diamond",
    "diamond",
    "square",
    "circle",
    "cross",
    "triangle-up",
    "circle",
    "circle",
)


def event_timeline_chart(events: pl.DataFrame, *, width: int = 860) -> alt.LayerChart:
    """Lanes over time drawn from `timeline` rows: points for events, bars for periods."""
    others = {x for x in events["lane"].to_list() if x != APP_LANE}
    lanes = [APP_LANE, *sorted(others, key=dyno_key)]
    y = alt.Y("lane:N", sort=lanes, title=None)
    color = alt.Color(
        "kind:N",
        title=None,
        scale=alt.Scale(domain=list(TIMELINE_KINDS), range=list(KIND_COLORS)),
        legend=alt.Legend(orient="top"),
    )
    tips = [
        alt.Tooltip("lane:N"),
        alt.Tooltip("kind:N"),
        alt.Tooltip("label:N"),
        time_tip("ts", "at"),
        time_tip("ts_end", "until"),
        alt.Tooltip("detail:N"),
    ]
    base = alt.Chart()
    periods = (
        base.transform_filter("isValid(datum.ts_end)")
        .mark_bar(height=12, opacity=0.8)
        .encode(x=time_x("ts"), x2="ts_end:T", y=y, color=color, tooltip=tips)
    )
    points = (
        base.transform_filter("!isValid(datum.ts_end)")
        .mark_point(filled=True, size=70, opacity=0.9)
        .encode(
            x=time_x("ts"),
            y=y,
            color=color,
            shape=alt.Shape(
                "kind:N",
                scale=alt.Scale(domain=list(TIMELINE_KINDS), range=list(KIND_SHAPES)),
                legend=None,
            ),
            tooltip=tips,
        )
    )
    labels = (
        base.transform_filter(alt.datum.kind == "release")
        .mark_text(align="left", dx=5, dy=-9, fontSize=10)
        .encode(x=time_x("ts"), y=y, text="label:N")
    )
    return alt.layer(periods, points, labels, data=inline(events)).properties(
        width=width, height=alt.Step(26), title="Events: releases, scaling, restarts, crashes, down"
    )
