"""A web dyno over its memory quota swaps and answers slower: the R14 finding says by how much,
against the same dyno the hour before; a dyno whose requests kept their pace gets no such
sentence."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from forensics.analyses.dyno_service import dyno_service
from forensics.findings import collect_findings
from forensics.ingest import ingest
from forensics.store.views import open_dataset

T0 = datetime(2025, 3, 4, 6, 0, tzinfo=UTC)
UUID = "0c5bb4d2-6c61-4f0e-9c3b-7d1f2c3a4b5c"


def _log(tmp_path: Path, *, slow: bool) -> Path:
    """Two hours of a Flask app on web.1 (Basic, 512 MB): over quota with swap from 07:00,
    requests 40-120 ms before; during it 1.5-4 s when `slow`."""
    rnd = random.Random(4)
    out = []
    for i in range(0, 7200, 20):
        t = T0 + timedelta(seconds=i)
        over = i >= 3600
        total, swap = (590.0, 80.0) if over else (300.0, 0.0)
        out.append((t, f"heroku[web.1]: source=web.1 dyno=heroku.99.{UUID} "
                       f"sample#memory_total={total:.2f}MB sample#memory_rss={total - swap:.2f}MB "
                       f"sample#memory_cache=0.00MB sample#memory_swap={swap:.2f}MB "
                       "sample#memory_pgpgin=1pages sample#memory_pgpgout=1pages "
                       "sample#memory_quota=512.00MB"))  # fmt: skip
        if over and i % 60 == 0:
            out.append((t, "heroku[web.1]: Process running mem=590M(115.2%)"))
            out.append((t, "heroku[web.1]: Error R14 (Memory quota exceeded)"))
    for i in range(0, 7200, 9):
        t = T0 + timedelta(seconds=i)
        ms = rnd.randint(1500, 4000) if slow and i >= 3600 else rnd.randint(40, 120)
        out.append((t, f'heroku[router]: at=info method=GET path="/feed" host=f.herokuapp.com '
                       f'request_id=q{i} fwd="1.1.1.1" dyno=web.1 connect=0ms service={ms}ms '
                       "status=200 bytes=900 protocol=https"))  # fmt: skip
    out.sort(key=lambda x: x[0])
    log = tmp_path / "flask.log"
    log.write_text("".join(f"{t:%Y-%m-%dT%H:%M:%S.%f}+00:00 {m}\n" for t, m in out))
    ingest([str(log)], tmp_path / "ds")
    return tmp_path / "ds"


def test_the_slowdown_of_a_dyno_over_quota_is_told(tmp_path: Path) -> None:
    con = open_dataset(_log(tmp_path, slow=True))
    (f,) = [f for f in collect_findings(con) if f.kind == "memory_quota"]
    svc = f.evidence["service"]
    assert svc["before_p50_ms"] < 150 and svc["p50_ms"] > 1400
    assert svc["requests"] > 300 and svc["before_requests"] > 300
    assert "requests meanwhile took p50" in f.summary


def test_a_dyno_that_kept_its_pace_gets_no_slowdown(tmp_path: Path) -> None:
    con = open_dataset(_log(tmp_path, slow=False))
    (f,) = [f for f in collect_findings(con) if f.kind == "memory_quota"]
    assert f.evidence["service"] is None and "meanwhile" not in f.summary


def test_windows_keep_their_order_and_nulls_without_requests(tmp_path: Path) -> None:
    import polars as pl

    con = open_dataset(_log(tmp_path, slow=True))
    app = con.sql("SELECT any_value(app) FROM requests").fetchall()[0][0]  # from the host
    w = pl.DataFrame(
        {
            "app": [app, app],
            "dyno": ["web.9", "web.1"],
            "start": [T0 + timedelta(hours=1)] * 2,
            "end": [T0 + timedelta(hours=2)] * 2,
        }
    )
    got = dyno_service(con, w)
    assert got["dyno"].to_list() == ["web.9", "web.1"]
    assert got["requests"].to_list()[0] == 0 and got["p50_ms"][0] is None
    assert got["requests"][1] > 300
