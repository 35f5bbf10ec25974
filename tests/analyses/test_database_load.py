"""The database during slow requests: Heroku Postgres' slow-statement lines (current and old
forms) and its metrics, against the hour before; told as the shared cause of timeouts on
several routes, and not when the database was quiet."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from forensics.analyses.database_load import database_load, template_sql
from forensics.analyses.worker_errors import worker_errors
from forensics.findings import collect_findings
from forensics.incidents import build_incidents
from forensics.ingest import ingest
from forensics.store.views import open_dataset

T0 = datetime(2024, 5, 20, 8, 0, tzinfo=UTC)
NEW = (
    '[DATABASE] [9-1] sql_error_code = 00000 time_ms = "2024-05-20 10:00:00.000 UTC" '
    'pid="{pid}" session_id="65a1.2" database="d9f8" user="u1a2" application_name="puma: '
    'cluster worker 0" LOG:  duration: {ms:.3f} ms  statement: {sql}'
)
OLD = "[CRIMSON] [1-1] LOG:  duration: {ms:.3f} ms  statement: {sql}"
SQL = 'SELECT "orders".* FROM "orders" WHERE "orders"."customer_id" = {n} ORDER BY created_at DESC'


def _l(t: datetime, src: str, msg: str) -> str:
    return f"{t:%Y-%m-%dT%H:%M:%S.%f}+00:00 {src}: {msg}"


def _app(
    *, db_slow: bool, form: str = NEW, metrics: bool = True, pinned: bool = False
) -> list[str]:
    """Two web dynos; from 10:00 to 10:45 /orders and /reports time out a quarter of the time.
    With `db_slow` the database logs each slow query and its load climbs; without, it is
    quiet (the slowness is elsewhere). `pinned`: each route served by one dyno of its own."""
    rnd = random.Random(3)
    out: list[str] = []
    t, i, pid = T0, 0, 4000
    while t < T0 + timedelta(hours=4):
        m = (t - T0).total_seconds() / 60
        path = ["/orders", "/reports/monthly", "/", "/api/health"][i % 4]
        bad = 120 <= m < 165 and path in ("/orders", "/reports/monthly")
        h12 = bad and rnd.random() < 0.25
        service = 30000 if h12 else rnd.randint(4000, 25000) if bad else rnd.randint(20, 200)
        head = 'at=error code=H12 desc="Request timeout"' if h12 else "at=info"
        dyno = f"web.{1 + i % 2 if pinned else rnd.choice((1, 2))}"
        out.append(
            _l(t, "heroku[router]", f'{head} method=GET path="{path}" host=shop.herokuapp.com '
               f'request_id=r{i} fwd="1.2.3.4" dyno={dyno} connect=0ms '
               f"service={service}ms status={503 if h12 else 200} bytes=10 protocol=https")
        )  # fmt: skip
        if bad and db_slow:
            pid += rnd.randint(1, 30)
            msg = form.format(pid=pid, ms=service * 0.95, sql=SQL.format(n=rnd.randint(1, 9999)))
            out.append(_l(t, f"app[postgres.{pid}]", msg))
        t, i = t + timedelta(seconds=rnd.uniform(0.5, 2.0)), i + 1
    t = T0
    while metrics and t < T0 + timedelta(hours=4):
        busy = db_slow and T0 + timedelta(minutes=120) <= t < T0 + timedelta(minutes=165)
        out.append(
            _l(t, "app[heroku-postgres]", "source=DATABASE addon=postgresql-curved-12345 "
               f"sample#active-connections={30 if busy else 6} "
               f"sample#waiting-connections={5 if busy else 0} "
               f"sample#load-avg-1m={7.5 if busy else 0.3} sample#read-iops=12")
        )  # fmt: skip
        t += timedelta(seconds=60)
    return out


def _con(tmp_path: Path, lines: list[str]) -> duckdb.DuckDBPyConnection:
    log = tmp_path / "export.log"
    log.write_text("\n".join(sorted(lines)) + "\n")
    ingest([str(log)], tmp_path / "ds")
    return open_dataset(tmp_path / "ds")


def test_template_replaces_literals() -> None:
    con = duckdb.connect()
    sql = "SELECT * FROM t WHERE a = 42 AND b = 'x''y' AND c IN (1, 2, 3) AND d = $1"
    (got,) = con.execute(f"SELECT {template_sql('s')} FROM (SELECT ? AS s)", [sql]).fetchone()
    assert got == "SELECT * FROM t WHERE a = ? AND b = ? AND c IN (?) AND d = ?"


@pytest.mark.parametrize("form", [NEW, OLD], ids=["current", "old"])
def test_slow_routes_sharing_a_slow_database_say_so(tmp_path: Path, form: str) -> None:
    con = _con(tmp_path, _app(db_slow=True, form=form))
    incs = build_incidents(con, collect_findings(con))
    (inc,) = [i for i in incs if i.kind == "timeout_hotspot"]
    assert "the database was slow: it logged" in inc.cause, inc.cause
    assert 'WHERE "orders"."customer_id" = ? ORDER BY' in inc.cause
    assert "load average was 7.5 (0.3 before)" in inc.cause
    (tip,) = [a for a in inc.advice if a.startswith("The database is what")]
    assert "EXPLAIN ANALYZE" in tip and "statement_timeout" in tip
    assert not any("background worker" in a for a in inc.advice)
    # the database's backends are not workers of the app
    assert worker_errors(con).is_empty()
    assert not [f for f in collect_findings(con) if f.kind in ("hung_dyno", "downtime")]


def test_metrics_alone_can_show_a_busy_database(tmp_path: Path) -> None:
    lines = [x for x in _app(db_slow=True) if "app[postgres." not in x]
    con = _con(tmp_path, lines)
    (inc,) = [i for i in build_incidents(con, collect_findings(con))
              if i.kind == "timeout_hotspot"]  # fmt: skip
    assert "the database was slow: its load average was 7.5" in inc.cause, inc.cause


def test_a_quiet_database_is_not_blamed(tmp_path: Path) -> None:
    con = _con(tmp_path, _app(db_slow=False))
    (inc,) = [i for i in build_incidents(con, collect_findings(con))
              if i.kind == "timeout_hotspot"]  # fmt: skip
    assert "database was slow" not in inc.cause and "something they share" in inc.cause
    assert not any(a.startswith("The database is what") for a in inc.advice)
    f = next(m.finding for m in inc.members if m.finding.kind == "timeout_hotspot")
    assert f.evidence["database"]["busy"] is False


def test_windows_without_postgres_lines_get_nulls(tmp_path: Path) -> None:
    con = _con(tmp_path, _app(db_slow=False, metrics=False))
    w = pl.DataFrame({"app": ["shop"], "start": [T0], "end": [T0 + timedelta(hours=1)]})
    (row,) = database_load(con, w).rows(named=True)
    assert row["slow_statements"] == 0 and row["load_avg_1m"] is None


def test_slow_routes_on_different_dynos_are_one_story_when_the_database_was_busy(
    tmp_path: Path,
) -> None:
    con = _con(tmp_path, _app(db_slow=True, pinned=True))
    (inc,) = [i for i in build_incidents(con, collect_findings(con))
              if any(m.finding.kind == "timeout_hotspot" for m in i.members)]  # fmt: skip
    assert inc.title == "Request timeouts (H12) on 2 routes"
    assert any(m.rule == "hotspot_spread" for m in inc.members)
