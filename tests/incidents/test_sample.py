"""Incidents of the bundled sample: each planted incident's findings land in one incident."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forensics.findings import collect_findings
from forensics.incidents import build_incidents, incidents_markdown
from forensics.ingest.run import ingest
from forensics.store.views import open_dataset

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "samples" / "heroku-sample.log.gz"
TRUTH = json.loads((ROOT / "data" / "samples" / "heroku-sample.truth.json").read_text())


@pytest.fixture(scope="module")
def incidents(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("inc") / "ds"
    ingest([str(SAMPLE)], out, app="acme-shop")
    con = open_dataset(out)
    return build_incidents(con, collect_findings(con))


def _holding(incidents, pred):
    return {i.id for i in incidents for m in i.members if pred(m.finding)}


def test_few_incidents(incidents) -> None:
    assert 1 <= len(incidents) <= 8


def test_leak_is_one_incident(incidents) -> None:
    leak = _holding(
        incidents,
        lambda f: (
            f.kind == "memory_leak"
            or f.kind == "memory_quota"
            or (f.kind == "crash" and "R15" in f.evidence.get("causes", []))
        ),
    )
    assert len(leak) == 1


def test_crashed_worker_is_one_ongoing_incident(incidents) -> None:
    dyno = TRUTH["crashed_worker"]["dyno"]
    ids = _holding(incidents, lambda f: f.dyno == dyno)
    assert len(ids) == 1
    (inc,) = [i for i in incidents if i.id in ids]
    assert inc.ongoing and inc.impact["downtime_minutes"] > 600


def test_h12_burst_is_one_incident(incidents) -> None:
    route = TRUTH["h12"]["route"]
    ids = _holding(incidents, lambda f: f.route == route and f.kind != "memory_leak")
    assert len(ids) == 1
    (inc,) = [i for i in incidents if i.id in ids]
    assert inc.impact["h12"] == TRUTH["h12"]["count"]


def test_r12_trigger_is_the_release(incidents) -> None:
    (inc,) = [i for i in incidents if i.kind == "unclean_shutdown"]
    assert inc.trigger is not None and inc.trigger.release == "v2"
    assert "### Timeline" in incidents_markdown(incidents)
