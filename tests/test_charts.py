"""Chart builders: valid Vega-Lite with the expected marks and encodings, and data functions that
aggregate (bounded rows) and honour the dyno / route / time filters. The dataset is a small
generated scenario: a leak from v2, an H12 burst on /search, a worker that crashes and stays
down, a scale-up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from forensics.charts import (
    event_timeline,
    growth_by_release,
    growth_by_release_data,
    leak_trend,
    leak_trend_data,
    lifetime_slopes,
    release_comparison,
    release_comparison_data,
    route_attribution,
    route_attribution_data,
    service_percentiles_data,
    timeline_data,
    timeout_heatmap_data,
    timeout_hotspots,
)
from forensics.charts.encode import inline, release_sort
from forensics.charts.releases import METRICS, release_periods
from forensics.charts.sql import nice_bucket
from forensics.errors import ForensicsError
from forensics.ingest import ingest
from forensics.scenario import ScenarioConfig, generate
from forensics.store.views import open_dataset

START = datetime(2024, 5, 20, 6, 0, tzinfo=UTC)
KNOBS: dict[str, Any] = dict(
    seed=7,
    hours=9,
    rps=0.3,
    release_hours=(2.0, 5.0),
    leak_release=2,
    leak_mb=1.0,
    h12_start_min=240.0,
    h12_minutes=10.0,
    crash_worker="worker.1",
    crash_at_hours=6.0,
    scale_at_hours=4.0,
    scale_web=3,
    app_line_ratio=0.05,
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("charts")
    log = root / "scenario.log"
    generate(ScenarioConfig(**KNOBS), log)
    ingest([str(log)], root / "ds")
    return root / "ds"


@pytest.fixture
def con(dataset: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    c = open_dataset(dataset)
    c.execute("SET enable_progress_bar = false")
    yield c
    c.close()


# ----- spec helpers --------------------------------------------------------------------------


def units(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every single-view spec (one with a mark) inside a layered / concatenated / faceted one."""
    if "mark" in spec:
        yield spec
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for sub in spec.get(key, []):
            yield from units(sub)
    if isinstance(spec.get("spec"), dict):
        yield from units(spec["spec"])


def mark(unit: dict[str, Any]) -> str:
    m = unit["mark"]
    return m if isinstance(m, str) else m["type"]


def by_mark(spec: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [u for u in units(spec) if mark(u) == kind]


def field(unit: dict[str, Any], channel: str) -> tuple[str, str]:
    enc = unit["encoding"][channel]
    return enc["field"], enc.get("type", "")


def rows(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """All inline data rows of a spec (Altair moves them to top-level `datasets`)."""
    return [r for values in spec.get("datasets", {}).values() for r in values]


# ----- leak trend ----------------------------------------------------------------------------


def test_leak_trend_spec(con: duckdb.DuckDBPyConnection) -> None:
    spec = leak_trend(con).to_dict()  # to_dict() validates against the Vega-Lite schema
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6")
    assert spec["facet"]["row"]["field"] == "dyno"
    line = by_mark(spec, "line")[0]
    assert field(line, "x") == ("ts", "temporal")
    assert line["encoding"]["x"]["scale"]["type"] == "utc"
    assert field(line, "y") == ("mb", "quantitative")
    assert field(line, "color") == ("series", "nominal")
    assert field(line, "detail") == ("segment", "nominal")
    assert {mark(u) for u in units(spec)} >= {"line", "rule", "point", "text"}
    text = by_mark(spec, "text")[0]
    assert field(text, "text") == ("label", "nominal")
    layers = {r["layer"] for r in rows(spec)}
    assert layers >= {"memory", "quota", "error", "restart", "crash", "release"}
    assert all(isinstance(r["ts"], int) for r in rows(spec))  # epoch ms, never local times


def test_leak_trend_data_layers_and_points(con: duckdb.DuckDBPyConnection) -> None:
    df = leak_trend_data(con)
    mem = df.filter(pl.col("layer") == "memory")
    assert set(mem["series"]) == {"memory_total", "memory_rss"}
    assert (mem["mb"] >= mem["mb_mean"]).all()
    assert set(df.filter(pl.col("layer") == "release")["label"]) == {"v2", "v3"}
    quota = df.filter(pl.col("layer") == "quota")
    assert dict(zip(quota["dyno"], quota["mb"], strict=True))["web.1"] == 512.0
    assert df.filter(pl.col("layer") == "error")["series"].unique().to_list() == ["R14"]
    crashed = df.filter(pl.col("layer") == "crash")
    assert "worker.1" in crashed["dyno"].to_list()
    # memory rows are bucketed: far fewer than the raw samples, and bounded by max_points
    raw = con.sql("SELECT count(*) FROM dyno_metrics").fetchall()[0][0]
    assert mem.height < raw / 5
    small = leak_trend_data(con, max_points=200).filter(pl.col("layer") == "memory")
    assert small.height <= 200 * 1.3


def test_leak_trend_filters(con: duckdb.DuckDBPyConnection) -> None:
    web = leak_trend_data(con, dyno="web")
    assert set(web["dyno"]) == {"web.1", "web.2", "web.3"}
    one = leak_trend_data(con, dyno="web.1")
    assert set(one["dyno"]) == {"web.1"}
    since, until = START + timedelta(hours=3), START + timedelta(hours=4)
    cut = leak_trend_data(con, since=since, until=until, bucket_seconds=300)
    mem = cut.filter(pl.col("layer") == "memory")
    assert mem["ts"].min() >= since - timedelta(minutes=5)
    assert mem["ts"].max() < until
    assert mem.group_by("dyno", "series", "segment").len()["len"].max() <= 12
    assert cut.filter(pl.col("layer") == "release").is_empty()  # v2 at 2 h, v3 at 5 h
    assert leak_trend_data(con, dyno="nope").is_empty()


# ----- memory growth by release and route attribution ---------------------------------------


def test_lifetime_slopes_see_the_leak(con: duckdb.DuckDBPyConnection) -> None:
    slopes = lifetime_slopes(con, dyno="web")
    assert {"lifetime_id", "release", "slope_mb_per_hour", "samples"} <= set(slopes.columns)
    med = slopes.group_by("release").agg(pl.col("slope_mb_per_hour").median())
    by = dict(zip(med["release"], med["slope_mb_per_hour"], strict=True))
    assert by["v2"] > by["v1"] + 5  # 1 MB per leaking request from v2 on


def test_growth_by_release_from_lifetime_slopes(con: duckdb.DuckDBPyConnection) -> None:
    frame = lifetime_slopes(con)
    spec = growth_by_release(frame, source="test").to_dict()
    point = by_mark(spec, "circle")[0]
    assert field(point, "x") == ("release", "nominal")
    assert point["encoding"]["x"]["sort"] == ["v1", "v2", "v3"]
    assert field(point, "y") == ("slope_mb_per_hour", "quantitative")
    tick = by_mark(spec, "tick")[0]
    assert tick["encoding"]["y"]["aggregate"] == "median"
    web = growth_by_release_data(frame, dyno="web")
    assert set(web["process_type"]) == {"web"}


def test_growth_by_release_accepts_the_memory_analysis_frame(
    con: duckdb.DuckDBPyConnection,
) -> None:
    memory = pytest.importorskip("forensics.analyses.memory")
    frame = memory.memory_growth(con)
    data = growth_by_release_data(frame)
    assert data.height > 0 and data["classification"].is_not_null().all()
    spec = growth_by_release(frame).to_dict()
    assert field(by_mark(spec, "circle")[0], "color") == ("classification", "nominal")


def test_growth_by_release_with_a_hand_made_frame() -> None:
    frame = pl.DataFrame(
        {
            "release": ["v10", "v9", "v9", None],
            "mb_per_hour": [12.5, 1.0, float("nan"), 3.0],  # an accepted alias
            "dyno": ["web.1", "web.1", "web.2", "worker.1"],
        }
    )
    data = growth_by_release_data(frame)
    assert data["release"].to_list() == ["v9", "v10", "unknown"]  # version order, NaN dropped
    assert release_sort(data["release"].to_list()) == ["v9", "v10", "unknown"]
    spec = growth_by_release(frame).to_dict()
    assert field(by_mark(spec, "circle")[0], "color") == ("process_type", "nominal")
    with pytest.raises(ValueError, match="slope_mb_per_hour"):
        growth_by_release_data(pl.DataFrame({"release": ["v1"], "x": [1.0]}))


def test_route_attribution_with_a_hand_made_frame() -> None:
    frame = pl.DataFrame(
        {
            "release": ["v3", "v3", "v3", "v4"],
            "process_type": ["web"] * 4,
            "method": ["GET", "GET", "POST", "GET"],
            "route": ["/users/:id/orders/:id", "/search", "/api/v1/items", "/users/:id/orders/:id"],
            "mb_per_request": [0.2, 0.0, -0.01, 0.19],
            "ci_low": [0.18, 0.0, 0.0, 0.1],
            "ci_high": [0.22, 0.0, 0.0, 0.25],
            "requests": [3000, 500, 40, 400],
            "significant": [True, False, False, True],
            "leak": [True, False, False, False],
        }
    )
    data = route_attribution_data(frame)
    assert data["route"].to_list() == ["/users/:id/orders/:id"] * 2  # > 0 only, largest first
    assert data["label"].to_list() == [
        "GET /users/:id/orders/:id  (web v3)",
        "GET /users/:id/orders/:id  (web v4)",
    ]
    assert data["verdict"].to_list() == ["leak", "significant"]
    assert route_attribution_data(frame, release="v4").height == 1
    assert route_attribution_data(frame, top=1).height == 1
    spec = route_attribution(frame).to_dict()
    bar = by_mark(spec, "bar")[0]
    assert field(bar, "x") == ("mb_per_request", "quantitative")
    assert field(bar, "y") == ("label", "nominal")
    assert field(bar, "color") == ("verdict", "nominal")
    rule = by_mark(spec, "rule")[0]
    assert field(rule, "x") == ("ci_low", "quantitative")
    kb = pl.DataFrame({"route": ["/a"], "kb_per_request": [512.0]})
    assert route_attribution_data(kb)["mb_per_request"].to_list() == [0.5]
    assert route_attribution_data(kb)["verdict"].to_list() == ["attributed"]


def test_route_attribution_accepts_the_attribution_frame(con: duckdb.DuckDBPyConnection) -> None:
    attribution = pytest.importorskip("forensics.analyses.attribution")
    frame = attribution.route_attribution(con, bootstrap=10)
    data = route_attribution_data(frame)
    assert data.height <= 20
    assert route_attribution(frame).to_dict()


# ----- timeouts ------------------------------------------------------------------------------


def test_timeout_heatmap_data_counts_and_bounds(con: duckdb.DuckDBPyConnection) -> None:
    heat = timeout_heatmap_data(con)
    h12 = con.sql("SELECT count(*) FROM requests WHERE code = 'H12'").fetchall()[0][0]
    assert h12 > 0 and heat["errors"].sum() == h12
    assert heat["route"].unique().to_list() == ["/search"]
    assert (heat["errors"] <= heat["requests"]).all()
    assert heat.height <= 150 + 1
    wide = timeout_heatmap_data(con, bucket_seconds=3600)
    assert wide["errors"].sum() == h12 and wide.height <= 2
    few = timeout_heatmap_data(con, max_buckets=3)
    assert few.height <= 4 and few["bucket_seconds"][0] >= 300


def test_timeout_heatmap_filters_and_codes(con: duckdb.DuckDBPyConnection) -> None:
    assert timeout_heatmap_data(con, route="/users/:id").is_empty()
    assert timeout_heatmap_data(con, route=["/search", "/"])["errors"].sum() > 0
    assert timeout_heatmap_data(con, until=START + timedelta(hours=1)).is_empty()
    one = timeout_heatmap_data(con, dyno="web.1")
    total = con.sql("SELECT count(*) FROM requests WHERE code = 'H12' AND dyno = 'web.1'")
    assert one["errors"].sum() == total.fetchall()[0][0]
    several = timeout_heatmap_data(con, codes=["H12", "H13", "H27"])
    assert several["errors"].sum() >= one["errors"].sum()
    with pytest.raises(ForensicsError):
        timeout_heatmap_data(con, codes=["H12'; DROP TABLE x; --"])


def test_service_percentiles_data(con: duckdb.DuckDBPyConnection) -> None:
    pct = service_percentiles_data(con)
    assert 0 < pct.height <= 20
    assert (pct["requests"] >= 20).all()
    assert ((pct["p50_ms"] <= pct["p95_ms"]) & (pct["p95_ms"] <= pct["p99_ms"])).all()
    assert (pct["p99_ms"] <= pct["max_ms"]).all()
    only = service_percentiles_data(con, routes=["/search"])
    assert only["route"].to_list() == ["/search"]
    assert only["max_ms"][0] >= 30_000  # the H12s are in it


def test_timeout_hotspots_spec(con: duckdb.DuckDBPyConnection) -> None:
    spec = timeout_hotspots(con).to_dict()
    assert len(spec["hconcat"]) == 2
    rect = by_mark(spec, "rect")[0]
    assert field(rect, "x") == ("bucket", "temporal")
    assert rect["encoding"]["x2"]["field"] == "bucket_end"
    assert field(rect, "y") == ("route", "nominal")
    assert field(rect, "color") == ("errors", "quantitative")
    point = by_mark(spec, "point")[0]
    assert field(point, "x") == ("at_ms", "quantitative")
    assert point["encoding"]["x"]["scale"]["type"] == "log"
    assert field(point, "color") == ("percentile", "nominal")
    fold = next(t["fold"] for t in spec["hconcat"][1]["transform"] if "fold" in t)
    assert fold == ["p50_ms", "p95_ms", "p99_ms"]


# ----- release comparison --------------------------------------------------------------------


def test_release_periods(con: duckdb.DuckDBPyConnection) -> None:
    periods = release_periods(con)
    assert periods["release"].to_list() == ["v1", "v2", "v3"]  # v1: before the first release
    assert (periods["end"] > periods["start"]).all()
    assert periods["start"][1] == periods["end"][0]
    assert release_periods(con, max_releases=2)["release"].to_list() == ["v2", "v3"]
    cut = release_periods(con, since=START + timedelta(hours=3))
    assert cut["release"].to_list() == ["v2", "v3"]
    since = START + timedelta(hours=3)  # clipped to the first line at or after it
    assert since <= cut["start"][0] < since + timedelta(minutes=1)


def test_release_comparison_data(con: duckdb.DuckDBPyConnection) -> None:
    df = release_comparison_data(con)
    assert df.height == 3 * len(METRICS)
    first = df.filter(pl.col("release") == "v1")
    assert set(first["change"]) == {"first"} and first["previous"].is_null().all()
    mem = df.filter(pl.col("metric") == "memory_mb_per_hour").sort("version")
    assert mem["value"][1] > mem["value"][0]
    assert mem["change"][1] == "worse"
    requests = df.filter(pl.col("metric") == "p95_ms")["requests"].sum()
    assert requests == con.sql("SELECT count(*) FROM requests").fetchall()[0][0]
    web = release_comparison_data(con, dyno="web.1", route="/search")
    p95 = web.filter(pl.col("metric") == "p95_ms")
    assert (
        p95["requests"].sum()
        == con.sql(
            "SELECT count(*) FROM requests WHERE dyno = 'web.1' AND route = '/search'"
        ).fetchall()[0][0]
    )


def test_release_comparison_spec(con: duckdb.DuckDBPyConnection) -> None:
    spec = release_comparison(con).to_dict()
    assert spec["facet"]["field"] == "label"
    assert spec["resolve"]["scale"]["y"] == "independent"
    bar = by_mark(spec, "bar")[0]
    assert field(bar, "x") == ("release", "nominal")
    assert field(bar, "y") == ("value", "quantitative")
    assert field(bar, "color") == ("change", "nominal")


# ----- timeline ------------------------------------------------------------------------------


def test_timeline_data(con: duckdb.DuckDBPyConnection) -> None:
    df = timeline_data(con)
    lanes = set(df["lane"])
    assert {"app", "web.1", "web.2", "web.3", "worker.1"} <= lanes
    app = df.filter(pl.col("lane") == "app")
    assert set(app["kind"]) >= {"release", "scale"}
    assert app.filter(pl.col("kind") == "release")["label"].to_list() == ["v2", "v3"]
    worker = df.filter(pl.col("lane") == "worker.1")
    assert set(worker["kind"]) >= {"restart", "crash", "down"}
    down = worker.filter(pl.col("kind") == "down")
    assert down.height == 1 and (down["ts_end"] > down["ts"]).all()  # crashed, stayed down
    crash = worker.filter(pl.col("kind") == "crash")
    assert crash["detail"].str.contains("last app line").all()
    assert df["ts"].is_sorted()
    assert timeline_data(con, max_events=5).height == 5
    assert set(timeline_data(con, dyno="worker").get_column("lane")) == {"app", "worker.1"}
    early = timeline_data(con, until=START + timedelta(hours=3))
    assert early["ts"].max() < START + timedelta(hours=3)


def test_event_timeline_spec(con: duckdb.DuckDBPyConnection) -> None:
    spec = event_timeline(con).to_dict()
    bar = by_mark(spec, "bar")[0]
    assert field(bar, "x") == ("ts", "temporal")
    assert bar["encoding"]["x2"]["field"] == "ts_end"
    assert field(bar, "y") == ("lane", "nominal")
    point = by_mark(spec, "point")[0]
    assert field(point, "color") == ("kind", "nominal")
    assert point["encoding"]["y"]["sort"][0] == "app"
    tips = {t["field"] for t in point["encoding"]["tooltip"]}
    assert {"detail", "label", "ts"} <= tips


# ----- helpers -------------------------------------------------------------------------------


def test_inline_data_is_epoch_ms_without_nulls() -> None:
    df = pl.DataFrame(
        {"ts": [START, None], "x": [1.5, float("nan")], "s": ["a", None]},
        schema={"ts": pl.Datetime("us", "UTC"), "x": pl.Float64, "s": pl.String},
    )
    assert inline(df) == {"values": [{"ts": 1716184800000, "x": 1.5, "s": "a"}, {}]}


def test_nice_bucket() -> None:
    assert nice_bucket(0, 100) == 60
    assert nice_bucket(36 * 3600, 500) == 300
    assert nice_bucket(36 * 3600, 150) == 900
    assert nice_bucket(401 * 86400, 100) == 5 * 86400
