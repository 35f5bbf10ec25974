"""Charts draw the analyses' tables: valid Vega-Lite with the expected marks and encodings, the
numbers and verdicts in a chart are those of its analysis (the findings' own), and the drawable
tables the analyses provide aggregate (bounded rows) and honour the dyno / route / time filters.
The dataset is a small generated scenario: a leak from v2, an H12 burst on /search, a worker
that crashes and stays down, a scale-up."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from forensics.analyses import availability, concurrency, releases, timeouts
from forensics.analyses.attribution import route_attribution
from forensics.analyses.lifetimes import lifetimes
from forensics.analyses.memory import memory_growth, memory_trend
from forensics.analyses.series import nice_bucket
from forensics.charts import (
    concurrency_chart,
    event_timeline_chart,
    growth_by_release_chart,
    leak_trend_chart,
    release_comparison_chart,
    route_attribution_chart,
    timeout_hotspots_chart,
)
from forensics.charts.attribution import attribution_bars
from forensics.charts.encode import inline, release_sort
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
PACKAGE = Path(__file__).resolve().parents[1] / "forensics"


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


@pytest.fixture(scope="module")
def frames(dataset: Path) -> dict[str, pl.DataFrame]:
    """The analysis tables the charts share, computed once."""
    c = open_dataset(dataset)
    try:
        lt = lifetimes(c)
        gr = memory_growth(c, lifetimes=lt)
        return {"lifetimes": lt, "growth": gr, "crashes": availability.crashes(c)}
    finally:
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


# ----- charts hold no analysis of their own -------------------------------------------------


SQL = re.compile(r"\b(SELECT|FROM|WHERE|GROUP BY)\b[^\n]*\b(FROM|WHERE|BY|AS|count|sum)\b")


@pytest.mark.parametrize("folder", ["charts", "report"])
def test_charts_and_report_run_no_sql(folder: str) -> None:
    for path in sorted((PACKAGE / folder).glob("*.py")):
        text = path.read_text()
        assert not SQL.search(text), f"{path.name} runs SQL: {SQL.search(text)}"
        assert "regr_slope" not in text and "quantile_cont" not in text, path.name
        assert ".sql(" not in text and "query(" not in text, path.name


# ----- memory: leak trend and growth by release ------------------------------------------------


def test_leak_trend_spec(con: duckdb.DuckDBPyConnection, frames: dict) -> None:
    trend = memory_trend(con, lifetimes=frames["lifetimes"], crash_table=frames["crashes"])
    spec = leak_trend_chart(trend).to_dict()  # to_dict() validates against the schema
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6")
    assert spec["facet"]["row"]["field"] == "dyno"
    line = by_mark(spec, "line")[0]
    assert field(line, "x") == ("ts", "temporal")
    assert line["encoding"]["x"]["scale"]["type"] == "utc"
    assert field(line, "y") == ("mb", "quantitative")
    assert field(line, "color") == ("series", "nominal")
    assert field(line, "detail") == ("segment", "nominal")
    assert {mark(u) for u in units(spec)} >= {"line", "rule", "point", "text"}
    assert field(by_mark(spec, "text")[0], "text") == ("label", "nominal")
    layers = {r["layer"] for r in rows(spec)}
    assert layers >= {"memory", "quota", "error", "restart", "crash", "release"}
    assert all(isinstance(r["ts"], int) for r in rows(spec))  # epoch ms, never local times


def test_memory_trend_layers_and_points(con: duckdb.DuckDBPyConnection, frames: dict) -> None:
    df = memory_trend(con, lifetimes=frames["lifetimes"])
    mem = df.filter(pl.col("layer") == "memory")
    assert set(mem["series"]) == {"memory_total", "memory_rss"}
    assert (mem["mb"] >= mem["mb_mean"]).all()
    assert set(df.filter(pl.col("layer") == "release")["label"]) == {"v2", "v3"}
    quota = df.filter(pl.col("layer") == "quota")
    assert dict(zip(quota["dyno"], quota["mb"], strict=True))["web.1"] == 512.0
    assert df.filter(pl.col("layer") == "error")["series"].unique().to_list() == ["R14"]
    # memory rows are bucketed: far fewer than the raw samples, and bounded by max_points
    raw = con.sql("SELECT count(*) FROM dyno_metrics").fetchall()[0][0]
    assert mem.height < raw / 5
    small = memory_trend(con, max_points=200).filter(pl.col("layer") == "memory")
    assert small.height <= 200 * 1.3


def test_memory_trend_crashes_are_the_availability_crashes(
    con: duckdb.DuckDBPyConnection, frames: dict
) -> None:
    """The crash marks are the crashes the `crash` findings count, not a definition of the
    chart's own (lifetime ends by crash or R15, before)."""
    df = memory_trend(con, lifetimes=frames["lifetimes"], max_dynos=20)
    marks = df.filter(pl.col("layer") == "crash").select("dyno", "ts").sort("dyno", "ts")
    k = frames["crashes"].select("dyno", "ts").sort("dyno", "ts")
    assert marks.height > 0 and marks.equals(k)


def test_memory_trend_filters(con: duckdb.DuckDBPyConnection) -> None:
    web = memory_trend(con, dyno="web")
    assert set(web["dyno"]) == {"web.1", "web.2", "web.3"}
    assert set(memory_trend(con, dyno="web.1")["dyno"]) == {"web.1"}
    since, until = START + timedelta(hours=3), START + timedelta(hours=4)
    cut = memory_trend(con, since=since, until=until, bucket_seconds=300)
    mem = cut.filter(pl.col("layer") == "memory")
    assert mem["ts"].min() >= since - timedelta(minutes=5)
    assert mem["ts"].max() < until
    assert mem.group_by("dyno", "series", "segment").len()["len"].max() <= 12
    assert cut.filter(pl.col("layer") == "release").is_empty()  # v2 at 2 h, v3 at 5 h
    assert memory_trend(con, dyno="nope").is_empty()


def test_growth_by_release_draws_the_analysis_slopes_and_medians(frames: dict) -> None:
    growth = frames["growth"]
    medians = releases.memory_by_release(growth)
    spec = growth_by_release_chart(growth, medians, source="test").to_dict()
    point = by_mark(spec, "circle")[0]
    assert field(point, "x") == ("release", "nominal")
    assert point["encoding"]["x"]["sort"] == ["v1", "v2", "v3"]
    assert field(point, "y") == ("slope_mb_h", "quantitative")
    assert field(point, "color") == ("classification", "nominal")
    drawn = [r for r in rows(spec) if "lifetime_id" in r]
    assert sorted(r["slope_mb_h"] for r in drawn) == sorted(
        growth["slope_mb_h"].drop_nulls().to_list()
    )
    # the ticks are the medians the release analysis compares (no median of the chart's own)
    tick = by_mark(spec, "tick")[0]
    assert "aggregate" not in tick["encoding"]["y"]
    ticks = {(r["release"], r["process_type"]): r["slope_mb_h"] for r in rows(spec)
             if "lifetimes" in r}  # fmt: skip
    by = dict(zip(zip(medians["release"], medians["process_type"], strict=True),
                  medians["slope_mb_h"], strict=True))  # fmt: skip
    assert ticks == pytest.approx(by)
    assert by[("v2", "web")] > by[("v1", "web")] + 5  # 1 MB per leaking request from v2 on


def test_memory_by_release_is_what_release_stats_compare(
    con: duckdb.DuckDBPyConnection, frames: dict
) -> None:
    st = releases.release_stats(con, lifetimes=frames["lifetimes"], growth=frames["growth"])
    per = releases.memory_by_release(frames["growth"])
    for r in st.iter_rows(named=True):
        mine = per.filter(pl.col("release") == r["release"])
        expect = {m["process_type"]: m["slope_mb_h"] for m in r["memory"] or []}
        assert dict(zip(mine["process_type"], mine["slope_mb_h"], strict=True)) == expect


def test_release_sort() -> None:
    assert release_sort(["v10", "v9", "unknown", "v9", None]) == ["v9", "v10", "unknown"]


# ----- attribution ---------------------------------------------------------------------------


def _attribution_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "app": ["a"] * 4,
            "release": ["v3", "v3", "v3", "v4"],
            "process_type": ["web"] * 4,
            "method": ["GET", "GET", "POST", "GET"],
            "route": ["/users/:id/orders/:id", "/search", "/api/v1/items", "/users/:id/orders/:id"],
            "requests": [3000, 500, 40, 400],
            "mb_per_request": [0.2, 0.0, 0.0, 0.19],
            "ci_low": [0.18, 0.0, 0.0, 0.1],
            "ci_high": [0.22, 0.0, 0.0, 0.25],
            "confidence": [0.9, 0.0, 0.0, 0.7],
            "significant": [True, False, False, True],
            "leak": [True, False, False, False],
        }
    )


def test_route_attribution_chart_with_a_hand_made_frame() -> None:
    frame = _attribution_frame()
    data = attribution_bars(frame)
    assert data["route"].to_list() == ["/users/:id/orders/:id"] * 2  # chosen only, largest first
    assert data["label"].to_list() == [
        "GET /users/:id/orders/:id  (web v3)",
        "GET /users/:id/orders/:id  (web v4)",
    ]
    assert data["verdict"].to_list() == ["leak", "significant"]  # the analysis' flags
    assert attribution_bars(frame, top=1).height == 1
    spec = route_attribution_chart(frame).to_dict()
    bar = by_mark(spec, "bar")[0]
    assert field(bar, "x") == ("mb_per_request", "quantitative")
    assert field(bar, "y") == ("label", "nominal")
    assert field(bar, "color") == ("verdict", "nominal")
    assert field(by_mark(spec, "rule")[0], "x") == ("ci_low", "quantitative")


def test_route_attribution_chart_of_the_analysis(
    con: duckdb.DuckDBPyConnection, frames: dict
) -> None:
    frame = route_attribution(
        con, lifetimes=frames["lifetimes"], growth=frames["growth"], bootstrap=10
    )
    data = attribution_bars(frame)
    assert 0 < data.height <= 20
    leaks = frame.filter(pl.col("leak") & (pl.col("mb_per_request") > 0)).height
    assert (data["verdict"] == "leak").sum() == min(leaks, data.height)
    assert route_attribution_chart(frame).to_dict()


# ----- timeouts ------------------------------------------------------------------------------


def test_error_heatmap_counts_and_bounds(con: duckdb.DuckDBPyConnection) -> None:
    heat = timeouts.error_heatmap(con)
    h12 = con.sql("SELECT count(*) FROM requests WHERE code = 'H12'").fetchall()[0][0]
    assert h12 > 0 and heat["errors"].sum() == h12
    assert heat["route"].unique().to_list() == ["/search"]
    assert (heat["errors"] <= heat["requests"]).all()
    assert heat.height <= 150 + 1
    wide = timeouts.error_heatmap(con, bucket_seconds=3600)
    assert wide["errors"].sum() == h12 and wide.height <= 2
    few = timeouts.error_heatmap(con, max_buckets=3)
    assert few.height <= 4 and few["bucket_seconds"][0] >= 300
    # the same counts as the analysis' per-dyno table, summed over dynos
    per_dyno = timeouts.error_counts(con, bucket_seconds=300)
    five = timeouts.error_heatmap(con, bucket_seconds=300)
    assert per_dyno["count"].sum() == five["errors"].sum()


def test_error_heatmap_filters_and_codes(con: duckdb.DuckDBPyConnection) -> None:
    assert timeouts.error_heatmap(con, route="/users/:id").is_empty()
    assert timeouts.error_heatmap(con, route=["/search", "/"])["errors"].sum() > 0
    assert timeouts.error_heatmap(con, until=START + timedelta(hours=1)).is_empty()
    one = timeouts.error_heatmap(con, dyno="web.1")
    total = con.sql("SELECT count(*) FROM requests WHERE code = 'H12' AND dyno = 'web.1'")
    assert one["errors"].sum() == total.fetchall()[0][0]
    several = timeouts.error_heatmap(con, codes=["H12", "H13", "H27"])
    assert several["errors"].sum() >= one["errors"].sum()
    with pytest.raises(ForensicsError):
        timeouts.error_heatmap(con, codes=["H12'; DROP TABLE x; --"])


def test_route_percentiles_agree_with_service_percentiles(con: duckdb.DuckDBPyConnection) -> None:
    pct = timeouts.route_percentiles(con)
    whole = timeouts.service_percentiles(con)
    assert (
        pct.select("route", "p95_ms")
        .sort("route")
        .equals(whole.select("route", "p95_ms").sort("route"))
    )
    slow = timeouts.slowest_routes(con, limit=5, min_requests=20)
    assert 0 < slow.height <= 5 and (slow["requests"] >= 20).all()
    assert slow["p95_ms"].is_sorted(descending=True)
    only = timeouts.route_percentiles(con, route=["/search"])
    assert only["route"].to_list() == ["/search"]
    assert only["max_ms"][0] >= 30_000  # the H12s are in it


def test_timeout_hotspots_spec(con: duckdb.DuckDBPyConnection) -> None:
    heat = timeouts.error_heatmap(con)
    pct = timeouts.route_percentiles(con)
    spec = timeout_hotspots_chart(heat, pct).to_dict()
    assert len(spec["hconcat"]) == 2
    rect = by_mark(spec, "rect")[0]
    assert field(rect, "x") == ("bucket", "temporal")
    assert rect["encoding"]["x2"]["field"] == "bucket_end"
    assert field(rect, "y") == ("route", "nominal")
    assert field(rect, "color") == ("errors", "quantitative")
    point = by_mark(spec, "point")[0]
    assert field(point, "x") == ("at_ms", "quantitative")
    assert point["encoding"]["x"]["scale"]["type"] == "log"
    fold = next(t["fold"] for t in spec["hconcat"][1]["transform"] if "fold" in t)
    assert fold == ["p50_ms", "p95_ms", "p99_ms"]
    assert {r["route"] for r in rows(spec)} == {"/search"}  # the panel shows the heatmap's routes


# ----- releases ------------------------------------------------------------------------------


def test_release_metrics_carry_the_regression_verdict(
    con: duckdb.DuckDBPyConnection, frames: dict
) -> None:
    st = releases.release_stats(con, lifetimes=frames["lifetimes"], growth=frames["growth"])
    reg = releases.release_regressions(con, stats=st)
    df = releases.release_metrics(con, stats=st, regressions=reg)
    memory = df.filter(pl.col("metric") == "memory_slope_mb_h")
    assert df.height - memory.height == st.height * (len(releases.METRICS) - 1)
    assert memory.height == st["memory"].list.len().sum() > 0  # one row per process type
    first = df.filter(pl.col("release") == "v1")
    assert set(first["verdict"]) == {"first"} and first["previous_value"].is_null().all()
    cols = ["release", "metric", "process_type"]
    worse = df.filter(pl.col("verdict") == "worse").select(cols).unique().sort(cols)
    assert worse.equals(reg.select(cols).unique().sort(cols))
    assert reg.filter(pl.col("metric") == "memory_slope_mb_h").height > 0
    # memory is compared per process type with the previous release's same type
    web = memory.filter(pl.col("process_type") == "web", pl.col("release") == "v2")
    v1 = memory.filter(pl.col("process_type") == "web", pl.col("release") == "v1")
    assert web["previous_value"][0] == v1["value"][0] and web["verdict"][0] == "worse"
    v2 = df.filter(pl.col("release") == "v2", pl.col("metric") == "p95_ms")
    assert v2["value"][0] == st.filter(pl.col("release") == "v2")["p95_ms"][0]
    assert v2["previous_value"][0] == st.filter(pl.col("release") == "v1")["p95_ms"][0]


def test_release_comparison_spec(con: duckdb.DuckDBPyConnection, frames: dict) -> None:
    df = releases.release_metrics(con, lifetimes=frames["lifetimes"], growth=frames["growth"])
    spec = release_comparison_chart(df).to_dict()
    assert spec["facet"]["field"] == "label"
    assert spec["resolve"]["scale"]["y"] == "independent"
    bar = by_mark(spec, "bar")[0]
    assert field(bar, "x") == ("release", "nominal")
    assert field(bar, "y") == ("value", "quantitative")
    assert field(bar, "color") == ("verdict", "nominal")
    drawn = {(r["release"], r["metric"]) for r in rows(spec) if r.get("verdict") == "worse"}
    expect = df.filter(pl.col("verdict") == "worse").select("release", "metric").rows()
    assert drawn == set(expect)


# ----- availability: the event timeline -------------------------------------------------------


def test_timeline(con: duckdb.DuckDBPyConnection, frames: dict) -> None:
    df = availability.timeline(con, lifetimes=frames["lifetimes"])
    lanes = set(df["lane"])
    assert {"app", "web.1", "web.2", "web.3", "worker.1"} <= lanes
    app = df.filter(pl.col("lane") == "app")
    assert set(app["kind"]) >= {"release", "scale"}
    assert app.filter(pl.col("kind") == "release")["label"].to_list() == ["v2", "v3"]
    worker = df.filter(pl.col("lane") == "worker.1")
    assert set(worker["kind"]) >= {"restart", "crash", "down"}
    down = worker.filter(pl.col("kind") == "down")
    assert down.height == 1 and (down["ts_end"] > down["ts"]).all()  # crashed, stayed down
    assert worker.filter(pl.col("kind") == "crash")["detail"].str.contains("last app line").all()
    assert df["ts"].is_sorted()
    assert availability.timeline(con, max_events=5).height == 5
    assert set(availability.timeline(con, dyno="worker")["lane"]) == {"app", "worker.1"}
    early = availability.timeline(con, until=START + timedelta(hours=3))
    assert early["ts"].max() < START + timedelta(hours=3)


def test_timeline_crashes_are_the_availability_crashes(
    con: duckdb.DuckDBPyConnection, frames: dict
) -> None:
    """A non-zero exit without a `crashed` state change is a crash for the findings; the
    timeline shows the same crashes (it counted only state changes before)."""
    df = availability.timeline(con, lifetimes=frames["lifetimes"])
    shown = df.filter(pl.col("kind") == "crash").select(pl.col("lane").alias("dyno"), "ts")
    k = frames["crashes"].select("dyno", "ts")
    assert shown.sort("dyno", "ts").equals(k.sort("dyno", "ts"))


def test_crash_context_keeps_every_crash(con: duckdb.DuckDBPyConnection, frames: dict) -> None:
    k = availability.crash_context(con, crash_table=frames["crashes"])
    assert k.height == frames["crashes"].height > 0
    assert k["last_app_line"].is_not_null().any()


def test_event_timeline_spec(con: duckdb.DuckDBPyConnection) -> None:
    spec = event_timeline_chart(availability.timeline(con)).to_dict()
    bar = by_mark(spec, "bar")[0]
    assert field(bar, "x") == ("ts", "temporal")
    assert bar["encoding"]["x2"]["field"] == "ts_end"
    assert field(bar, "y") == ("lane", "nominal")
    point = by_mark(spec, "point")[0]
    assert field(point, "color") == ("kind", "nominal")
    assert point["encoding"]["y"]["sort"][0] == "app"
    tips = {t["field"] for t in point["encoding"]["tooltip"]}
    assert {"detail", "label", "ts"} <= tips


# ----- concurrency ---------------------------------------------------------------------------


def test_concurrency_chart_draws_the_sizing_table(con: duckdb.DuckDBPyConnection) -> None:
    sizing = concurrency.sizing(con, workers=2, threads=5)
    assert sizing.height > 0
    spec = concurrency_chart(sizing).to_dict()
    bar = by_mark(spec, "bar")[0]
    assert field(bar, "x") == ("value", "quantitative")
    assert field(bar, "color") == ("verdict", "nominal")
    assert spec["facet"]["column"]["field"] == "panel"
    data = rows(spec)
    web = sizing.filter(pl.col("process_type") == "web").row(0, named=True)
    p95 = next(r for r in data if r["process_type"] == "web" and r["measure"] == "p95"
               and r["panel"] == "requests in flight")  # fmt: skip
    assert p95["value"] == web["in_flight_p95"] and p95["limit"] == web["capacity"] == 10
    assert {r["verdict"] for r in data if r["process_type"] == "web"} == {web["verdict"]}


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
