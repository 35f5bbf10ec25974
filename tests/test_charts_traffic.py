"""The charts people look at first in an incident: requests by status class, service-time
percentiles with H-codes marked, and the report's timeline strip; each draws exactly the rows
of its analysis, zoomed to a window when asked."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from test_charts import by_mark, rows, units

from forensics.analyses.latency import SCHEMA as LATENCY_SCHEMA
from forensics.analyses.traffic import SCHEMA as STATUS_SCHEMA
from forensics.analyses.traffic import error_share
from forensics.charts.latency import latency_chart
from forensics.charts.strip import impact_line, incident_rows, incident_strip_chart
from forensics.charts.traffic import class_order, status_chart

T0 = datetime(2024, 5, 20, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def status_frame(window: str = "all", minutes: int = 10) -> pl.DataFrame:
    out = []
    for i in range(minutes):
        for cls, n in (("2xx", 60), ("5xx", 3 if i == 4 else 0), ("H12", 5 if i == 5 else 0)):
            out.append([window, T0 + i * MIN, T0 + (i + 1) * MIN, 60, cls, n, float(n)])
    return pl.DataFrame(out, schema=STATUS_SCHEMA, orient="row")


def latency_frame(window: str = "all", minutes: int = 10) -> pl.DataFrame:
    out = [
        [window, T0 + i * MIN, T0 + (i + 1) * MIN, 60, 60, 80.0, 400.0 + i, 900.0, 30000.0]
        for i in range(minutes)
    ]
    return pl.DataFrame(out, schema=LATENCY_SCHEMA, orient="row")


def spec(chart: Any) -> dict[str, Any]:
    return json.loads(json.dumps(chart.to_dict()))  # validated, then plain JSON


def titles(s: dict[str, Any]) -> list[str]:
    found = []
    for u in [s, *units(s), *s.get("vconcat", [])]:
        t = u.get("title")
        found.append(t if isinstance(t, str) else (t or {}).get("text", ""))
    return [t for t in found if t]


def test_status_chart_title_says_status_and_draws_the_rows() -> None:
    s = spec(status_chart(status_frame()))
    assert any("status" in t for t in titles(s)) and "status" in s["title"]
    (area,) = by_mark(s, "area")
    assert area["encoding"]["y"]["field"] == "per_minute"
    assert area["encoding"]["y"]["stack"] == "zero"
    drawn = rows(s)
    assert len(drawn) == 30 and sum(r["requests"] for r in drawn) == 10 * 60 + 3 + 5
    # failures at the bottom of the stack: H-codes, then 5xx, then the rest
    assert class_order(["2xx", "4xx", "H12", "5xx", "H10", "other"]) == [
        "H10", "H12", "5xx", "4xx", "2xx", "other"
    ]  # fmt: skip
    stack = {r["status_class"]: r["stack"] for r in drawn}
    assert stack["H12"] < stack["5xx"] < stack["2xx"]


def test_status_chart_zoomed_to_a_window() -> None:
    window = (T0 + 3 * MIN, T0 + 6 * MIN)
    s = spec(status_chart(status_frame(), window=window, highlight=(T0 + 4 * MIN, T0 + 5 * MIN)))
    (area,) = by_mark(s, "area")
    domain = area["encoding"]["x"]["scale"]["domain"]
    assert domain == [int(w.timestamp() * 1000) for w in window]
    buckets = {r["bucket"] for r in rows(s) if "status_class" in r}
    assert buckets == {int((T0 + i * MIN).timestamp() * 1000) for i in (3, 4, 5)}
    (band,) = by_mark(s, "rect")  # the incident's own span, shaded
    assert band["encoding"]["x2"]["field"] == "end"


def test_a_table_of_several_windows_is_refused() -> None:
    both = pl.concat([status_frame("all"), status_frame("i-1")])
    with pytest.raises(ValueError, match="one window"):
        status_chart(both)


def test_latency_chart_draws_percentiles_and_marks_h_codes() -> None:
    s = spec(latency_chart(latency_frame(), status_frame()))
    assert "p50" in s["title"] and "p99" in s["title"]
    (line,) = by_mark(s, "line")
    assert line["encoding"]["y"]["scale"]["type"] == "log"
    (points,) = by_mark(s, "point")
    marked = [r for r in rows(s) if "code" in r]
    assert marked == [
        {"bucket": int((T0 + 5 * MIN).timestamp() * 1000), "code": "H12", "requests": 5}
    ]
    assert points["encoding"]["y"]["field"] == "code"
    assert sorted(r["p95_ms"] for r in rows(s) if "p95_ms" in r) == [400.0 + i for i in range(10)]
    # both panels on one time axis
    domains = [u["encoding"]["x"]["scale"].get("domain") for u in units(s) if "x" in u["encoding"]]
    assert len({json.dumps(d) for d in domains}) == 1 and domains[0] is not None


def test_latency_chart_without_h_codes_is_one_panel() -> None:
    quiet = status_frame().filter(pl.col("status_class") == "2xx")
    s = spec(latency_chart(latency_frame(), quiet))
    assert "vconcat" not in s and by_mark(s, "point") == []


def test_strip_draws_traffic_error_share_and_linked_incidents() -> None:
    incidents = [
        {"id": "i-aaa", "title": "worker.1 down", "severity": "critical",
         "start": "2024-05-20T10:02:00Z", "end": None, "ongoing": True,
         "impact": {"downtime_minutes": 8.0, "crashes": 2}},
        {"id": "i-bbb", "title": "Request errors on the app", "severity": "warning",
         "start": "2024-05-20T10:05:00Z", "end": "2024-05-20T10:05:00Z", "ongoing": False,
         "impact": {"failed_requests": 8, "failed_share": 0.12}},
    ]  # fmt: skip
    end = T0 + 10 * MIN
    lanes = incident_rows(incidents, log_end=end)
    assert lanes["lane"].to_list() == ["#1 worker.1 down", "#2 Request errors on the app"]
    assert lanes["end"][0] == end  # ongoing: drawn to the end of the log
    assert lanes["impact"].to_list() == ["8 min down, 2 crashes", "8 failed requests (12%)"]
    share = error_share(status_frame())
    s = spec(incident_strip_chart(share, lanes, window=(T0, end)))
    bars = by_mark(s, "bar")
    assert len(bars) == 1 and bars[0]["encoding"]["href"]["field"] == "href"
    assert {r["href"] for r in rows(s) if "href" in r} == {"#i-aaa", "#i-bbb"}
    assert by_mark(s, "tick")  # a tick at each start: a 0-length incident still shows
    errors = [u for u in by_mark(s, "line") if u["encoding"]["y"]["field"] == "error_share"]
    assert len(errors) == 1
    peak = max((r for r in rows(s) if "error_share" in r), key=lambda r: r["error_share"])
    assert peak["error_share"] == pytest.approx(5 / 65)


def test_impact_line() -> None:
    assert impact_line({}) == "no loss measured"
    assert impact_line({"downtime_minutes": 1320.0, "r14": 7068, "h12": 0}) == (
        "1,320 min down, 7,068 R14"
    )
    assert impact_line({"downtime_minutes": 0.4}) == "0.4 min down"
