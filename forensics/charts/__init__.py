"""Altair charts over an open dataset (`forensics.store.views.open_dataset`).

Each builder has a data function returning the aggregated Polars frame it draws (aggregated in
DuckDB, with bounded row counts), so it can be tested without rendering:

- `leak_trend` / `leak_trend_data`: memory per dyno with quota, R14/R15, restarts, releases;
- `growth_by_release` / `growth_by_release_data` (+ `lifetime_slopes`): memory slope per
  lifetime grouped by release;
- `route_attribution` / `route_attribution_data`: MB of growth per request by route;
- `timeout_hotspots` / `timeout_heatmap_data`, `service_percentiles_data`: H12 heatmap route x
  time with service-time percentiles beside it;
- `release_comparison` / `release_comparison_data`: per-release metrics vs the release before;
- `event_timeline` / `timeline_data`: releases, scaling, restarts, crashes, down periods.

Times are embedded as epoch milliseconds and drawn on UTC scales.
"""

from forensics.charts.attribution import route_attribution, route_attribution_data
from forensics.charts.growth import growth_by_release, growth_by_release_data, lifetime_slopes
from forensics.charts.leak import leak_trend, leak_trend_data
from forensics.charts.releases import release_comparison, release_comparison_data
from forensics.charts.timeline import event_timeline, timeline_data
from forensics.charts.timeouts import (
    service_percentiles_data,
    timeout_heatmap_data,
    timeout_hotspots,
)

__all__ = [
    "event_timeline",
    "growth_by_release",
    "growth_by_release_data",
    "leak_trend",
    "leak_trend_data",
    "lifetime_slopes",
    "release_comparison",
    "release_comparison_data",
    "route_attribution",
    "route_attribution_data",
    "service_percentiles_data",
    "timeline_data",
    "timeout_heatmap_data",
    "timeout_hotspots",
]
