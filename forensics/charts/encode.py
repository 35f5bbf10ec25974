"""Altair helpers the chart builders share: inline data, UTC time axes and tooltips, colours."""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import polars as pl

# Hard ceiling on rows embedded per chart: data functions aggregate well below it.
MAX_ROWS = 20_000

TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"


def inline(df: pl.DataFrame) -> dict[str, Any]:
    """`df` as inline Vega-Lite data: datetimes become epoch milliseconds (UTC, unambiguous in
    any browser time zone), nulls and NaN are left out of their row (smaller pages; Vega reads
    a missing field as null). A plain dict, not `alt.InlineData`, which wraps every row in a
    schema object (about a second per few thousand rows). Refuses more than MAX_ROWS rows."""
    if df.height > MAX_ROWS:
        raise ValueError(f"{df.height} rows is too many to embed in a chart (max {MAX_ROWS})")
    cols = [
        pl.col(name).dt.epoch("ms").alias(name)
        if isinstance(dtype, pl.Datetime)
        else pl.col(name).cast(pl.String).alias(name)
        if isinstance(dtype, pl.Date | pl.Duration | pl.Categorical | pl.Enum)
        else pl.col(name)
        for name, dtype in df.schema.items()
    ]
    rows = df.select(cols).to_dicts()
    return {"values": [{k: v for k, v in row.items() if _present(v)} for row in rows]}


def _present(value: Any) -> bool:
    if value is None:
        return False
    return not (isinstance(value, float) and (math.isnan(value) or math.isinf(value)))


def time_x(field: str, title: str | None = "time (UTC)", **kw: Any) -> alt.X:
    """A temporal x encoding on a UTC scale (labels in UTC whatever the viewer's zone; a
    `formatType` would make Vega-Lite drop the format)."""
    axis = alt.Axis(format="%b %d %H:%M", labelOverlap=True)
    return alt.X(f"{field}:T", title=title, scale=alt.Scale(type="utc"), axis=axis, **kw)


def time_tip(field: str, title: str) -> alt.Tooltip:
    """A tooltip showing `field` as a full UTC time (a utc time unit: `formatType="utc"` is
    not a Vega-Lite format type and would call Vega's `utc()` date constructor)."""
    return alt.Tooltip(
        f"{field}:T",
        title=title,
        format=TIME_FORMAT,
        timeUnit="utcyearmonthdatehoursminutesseconds",
    )


def release_sort(releases: list[str | None]) -> list[str]:
    """Release labels in version order (`v9` before `v10`), unknown shapes last."""
    seen = {r for r in releases if r}

    def key(r: str) -> tuple[int, int, str]:
        digits = r[1:] if r[:1] in ("v", "V") else r
        return (0, int(digits), r) if digits.isdigit() else (1, 0, r)

    return sorted(seen, key=key)
