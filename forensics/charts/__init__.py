"""Altair charts of the analyses' tables: a chart only draws; every number, threshold and
verdict it shows comes from the analysis it is named after.

- `memory`: `leak_trend_chart` (`analyses.memory.memory_trend`), `growth_by_release_chart`
  (`analyses.memory.memory_growth` + `analyses.releases.memory_by_release`);
- `attribution`: `route_attribution_chart` (`analyses.attribution.route_attribution`);
- `timeouts`: `timeout_hotspots_chart` (`analyses.timeouts.error_heatmap` +
  `route_percentiles`);
- `releases`: `release_comparison_chart` (`analyses.releases.release_metrics`);
- `availability`: `event_timeline_chart` (`analyses.availability.timeline`);
- `concurrency`: `concurrency_chart` (`analyses.concurrency.sizing`);
- `traffic`: `status_chart` (`analyses.traffic.status_series`: requests per minute by status
  class);
- `latency`: `latency_chart` (`analyses.latency.service_percentiles`, H-codes from
  `status_series`);
- `strip`: `incident_strip_chart` (`analyses.traffic.error_share` and the incidents: the
  report's timeline strip).

The time-series charts take `window=(start, end)` to be drawn zoomed to an incident.

Times are embedded as epoch milliseconds and drawn on UTC scales.
"""

# first: before any chart module imports Altair
from forensics.charts._altair import alt  # noqa: F401
from forensics.charts.attribution import route_attribution_chart
from forensics.charts.availability import event_timeline_chart
from forensics.charts.concurrency import concurrency_chart
from forensics.charts.latency import latency_chart
from forensics.charts.memory import growth_by_release_chart, leak_trend_chart
from forensics.charts.releases import release_comparison_chart
from forensics.charts.strip import incident_strip_chart
from forensics.charts.timeouts import timeout_hotspots_chart
from forensics.charts.traffic import status_chart

__all__ = [
    "concurrency_chart",
    "event_timeline_chart",
    "growth_by_release_chart",
    "incident_strip_chart",
    "latency_chart",
    "leak_trend_chart",
    "release_comparison_chart",
    "route_attribution_chart",
    "status_chart",
    "timeout_hotspots_chart",
]
