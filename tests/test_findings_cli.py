"""`forensics findings --json` on the bundled sample names what its ground truth planted."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from forensics.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "heroku-sample.log.gz"
TRUTH = json.loads((ROOT / "data" / "samples" / "heroku-sample.truth.json").read_text())


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("f") / "ds"
    runner = CliRunner()
    assert runner.invoke(main, ["ingest", str(SAMPLE), "-o", str(out), "-q"]).exit_code == 0
    result = runner.invoke(main, ["findings", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _of(findings: list[dict], kind: str) -> list[dict]:
    return [f for f in findings if f["kind"] == kind]


def test_ranked_most_severe_first(findings: list[dict]) -> None:
    order = {"critical": 0, "warning": 1, "info": 2}
    ranks = [order[f["severity"]] for f in findings]
    assert ranks == sorted(ranks)
    keys = {"kind", "severity", "app", "dyno", "process_type", "route", "release", "start",
            "end", "summary", "evidence", "sources"}  # fmt: skip
    assert all(keys <= set(f) for f in findings)


def test_names_the_leak_its_release_and_its_route(findings: list[dict]) -> None:
    leak = TRUTH["leak"]
    # the leak is never fixed: every release from v3 on leaks (v4 too, the day after)
    leaks = sorted(_of(findings, "memory_leak"), key=lambda f: f["start"])
    shipped = sorted({r["version"] for r in TRUTH["releases"]} - {"v1", "v2"})
    assert [f["release"] for f in leaks] == shipped and shipped[0] == leak["from_release"]
    routes = leaks[0]["evidence"]["routes"]
    assert routes[0]["route"] == leak["route"]
    assert routes[0]["mb_per_request"] == pytest.approx(leak["mb_per_request"], rel=0.35)
    assert leaks[0]["sources"], "evidence must point at input lines"


def test_names_the_h12_hotspot_route_and_window(findings: list[dict]) -> None:
    h12 = TRUTH["h12"]
    spots = _of(findings, "timeout_hotspot")
    assert [f["route"] for f in spots] == [h12["route"]]
    assert _t(h12["window_start"]) <= _t(spots[0]["start"]) < _t(spots[0]["end"])
    assert _t(spots[0]["end"]) <= _t(h12["window_end"])


def test_names_the_worker_that_died_and_stayed_dead(findings: list[dict]) -> None:
    down = [f for f in _of(findings, "downtime") if f["evidence"]["ongoing"]]
    assert [f["dyno"] for f in down if f["dyno"]] == [TRUTH["crashed_worker"]["dyno"]]
    assert all(f["evidence"]["minutes"] > 10 for f in down)


def test_names_the_unclean_shutdown(findings: list[dict]) -> None:
    unclean = _of(findings, "unclean_shutdown")
    assert [f["dyno"] for f in unclean] == [TRUTH["r12"]["dyno"]]


def test_text_output_reads_as_sentences(tmp_path: Path, findings: list[dict]) -> None:
    out = tmp_path / "ds"
    runner = CliRunner()
    runner.invoke(main, ["ingest", str(ROOT / "tests/data/real/src-049.log"), "-o", str(out)])
    result = runner.invoke(main, ["findings", str(out)])
    assert result.exit_code == 0
    assert "R15" in result.stdout and "worker.1" in result.stdout
    assert "lines: tests/data/real/src-049.log:" in result.stdout or "src-049.log:" in result.stdout


def test_not_a_dataset_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["findings", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "not a forensics dataset" in result.stderr
