"""Ingest the bundled sample and check every count against the generator's ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from forensics.ingest import IngestSummary, ingest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "heroku-sample.log.gz"
TRUTH = json.loads((ROOT / "data" / "samples" / "heroku-sample.truth.json").read_text())


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, IngestSummary]:
    out = tmp_path_factory.mktemp("sample") / "ds"
    return out, ingest([str(SAMPLE)], out, app="acme-shop")


def _table(ds: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(ds / name / "*.parquet")


def test_counts_add_up(sample: tuple[Path, IngestSummary]) -> None:
    _, summary = sample
    t = summary.totals()
    assert t["lines_read"] == TRUTH["counts"]["physical_lines"]
    parts = sum(t["records"].values()) + t["rejected_lines"] + t["joined_lines"]
    assert parts + t["duplicate_lines"] == t["lines_read"]
    assert t["duplicate_lines"] == 0
    assert t["apps"] == ["acme-shop"]


def test_artefacts_are_rejected_or_rejoined(sample: tuple[Path, IngestSummary]) -> None:
    ds, _ = sample
    rejects = _table(ds, "rejects").sort("line_no")
    expected = sorted(
        (a["line"], "blank" if a["kind"] == "blank" else "no_prefix")
        for a in TRUTH["artifacts"]
        if a["kind"] in ("blank", "prompt")
    )
    assert rejects.select("line_no", "reason").rows() == expected
    wraps = sorted(a["line"] for a in TRUTH["artifacts"] if a["kind"] == "wrap")
    joined = pl.concat(
        [_table(ds, t).filter(pl.col("line_count") > 1).select("line_no", "line_count")
         for t in ("requests", "app_logs", "events", "dyno_metrics")]
    ).sort("line_no")  # fmt: skip
    assert joined.rows() == [(line, 2) for line in wraps]


def test_tables_match_the_truth(sample: tuple[Path, IngestSummary]) -> None:
    ds, _ = sample
    c = TRUTH["counts"]
    requests = _table(ds, "requests")
    assert requests.height == c["requests"]
    assert requests.filter(pl.col("code").is_null()).height == c["router"]
    by_code = dict(requests.group_by("code").len().drop_nulls("code").iter_rows())
    assert by_code == {k: v for k, v in c["router_error"].items() if v}
    served = dict(requests.drop_nulls("dyno").group_by("dyno").len().iter_rows())
    for dyno, n in c["by_dyno"]["router"].items():
        assert served[dyno] >= n  # router info lines, plus error lines served by that dyno
    metrics = _table(ds, "dyno_metrics")
    assert metrics.height == c["runtime_metrics"]
    assert (
        metrics.filter(pl.col("memory_total_mb").is_not_null()).height
        == c["runtime_metrics_memory"]
    )
    assert metrics.filter(pl.col("load_avg_1m").is_not_null()).height == c["runtime_metrics_load"]
    events = _table(ds, "events")
    codes = dict(events.filter(pl.col("kind") == "error").group_by("code").len().iter_rows())
    assert codes.get("R14") == c["r14"] and codes.get("R15") == c["r15"]
    assert codes.get("R12") == c["r12"]
    assert events.filter(pl.col("kind") == "memory").height == c["process_running"]
    assert events.filter(pl.col("kind") == "state_change").height == c["state_changes"]
    assert events.filter(pl.col("dyno") == "api").height == c["api"]
    assert events.filter(pl.col("kind") == "other").height == 0
    assert _table(ds, "app_logs").height == c["app"]
    addon_lines = _table(ds, "addon_metrics").select("line_no").n_unique()
    assert addon_lines == sum(c["addon_metrics"].values())


def test_releases_and_routes_from_the_truth(sample: tuple[Path, IngestSummary]) -> None:
    ds, _ = sample
    events = _table(ds, "events")
    releases = events.filter(pl.col("kind") == "release").sort("ts")["release"].to_list()
    assert releases == [r["version"] for r in TRUTH["releases"] if r["in_log"]]
    routes = set(_table(ds, "requests")["route"].unique().to_list())
    assert TRUTH["leak"]["route"] in routes
    assert TRUTH["h12"]["route"] in routes
