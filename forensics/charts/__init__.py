"""Altair charts of the analyses' tables: a chart only draws; every number, threshold and
verdict it shows comes from the analysis it is named after.

- `memory`: `leak_trend_chart` (`analyses.memory.memory_trend`), `growth_by_release_chart`
  (`analyses.memory.memory_growth` + `analyses.releases.memory_by_release`);
- `attribution`: `route_attribution_chart` (`analyses.attribution.route_attribution`);
- `timeouts`: `timeout_hotspots_chart` (`analyses.timeouts.error_heatmap` +
  `route_percentiles`);
- `releases`: `release_comparison_chart` (`analyses.releases.release_metrics`);
- `availability`: `event_timeline_chart` (`analyses.availability.timeline`);
- `concurrency`: `concurrency_chart` (`analyses.concurrency.sizing`).

Times are embedded as epoch milliseconds and drawn on UTC scales.
"""

from forensics.charts.attribution import route_attribution_chart
from forensics.charts.availability import event_timeline_chart
from forensics.charts.concurrency import concurrency_chart
from forensics.charts.memory import growth_by_release_chart, leak_trend_chart
from forensics.charts.releases import release_comparison_chart
from forensics.charts.timeouts import timeout_hotspots_chart

__all__ = [
    "concurrency_chart",
    "event_timeline_chart",
    "growth_by_release_chart",
    "leak_trend_chart",
    "release_comparison_chart",
    "route_attribution_chart",
    "timeout_hotspots_chart",
]
