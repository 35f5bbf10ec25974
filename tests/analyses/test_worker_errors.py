"""Workers that keep failing while they stay up: a burst of one exception in a background
process's output, in several job runners' words; steady noise, crash reasons and web errors
are not such a burst."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from forensics.analyses.worker_errors import worker_errors
from forensics.findings import collect_findings
from forensics.incidents import build_incidents
from forensics.ingest import ingest
from forensics.store.views import open_dataset

T0 = datetime(2024, 5, 20, 8, 0, tzinfo=UTC)


def _l(t: datetime, src: str, msg: str) -> str:
    return f"{t:%Y-%m-%dT%H:%M:%S.%f}+00:00 {src}: {msg}"


# (process type, the job runner's line for one failed job)
STACKS = {
    "sidekiq": (
        "worker",
        "2024-05-20T09:00:00.003Z pid=4 tid=gq8 WARN: Redis::CommandError: OOM command not "
        "allowed when used memory > 'maxmemory'.",
        "Redis::CommandError",
    ),
    "celery": (
        "celery",
        "[2024-05-20 09:00:00,118: ERROR/ForkPoolWorker-2] Task billing.tasks.charge[9c1e-77] "
        "raised unexpected: SMTPAuthenticationError(535, b'5.7.8 Username and Password not "
        "accepted')",
        "SMTPAuthenticationError",
    ),
    "node": (
        "queue_worker",
        "Job 4411 failed: MongoServerSelectionError: connect ECONNREFUSED 10.0.0.5:27017",
        "MongoServerSelectionError",
    ),
}


def _log(tmp_path: Path, lines: list[str]) -> Path:
    log = tmp_path / "export.log"
    log.write_text("\n".join(sorted(lines)) + "\n")
    ingest([str(log)], tmp_path / "ds")
    return tmp_path / "ds"


def _worker(ptype: str, failing: str, *, bad_from: float, bad_to: float, hours: float = 4,
            every_s: float = 20) -> list[str]:  # fmt: skip
    """Two dynos of `ptype` running a job every `every_s` s each; between minute `bad_from`
    and `bad_to` every job logs `failing`."""
    out = [_l(T0, "app[api]", "Release v12 created by user dev@acme.io")]
    out += [
        _l(T0 + timedelta(seconds=5), f"heroku[{ptype}.{n}]", "State changed from starting to up")
        for n in (1, 2)
    ]
    t = T0 + timedelta(seconds=30)
    while t < T0 + timedelta(hours=hours):
        m = (t - T0).total_seconds() / 60
        for n in (1, 2):
            d = f"app[{ptype}.{n}]"
            out.append(_l(t, d, "job started"))
            out.append(_l(t, d, failing if bad_from <= m < bad_to else "job done in 0.4 s"))
        t += timedelta(seconds=every_s)
    return out


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_a_worker_failing_every_job_for_40_minutes(tmp_path: Path, stack: str) -> None:
    ptype, line, exc = STACKS[stack]
    ds = _log(tmp_path, _worker(ptype, line, bad_from=90, bad_to=130))
    con = open_dataset(ds)
    (b,) = worker_errors(con).rows(named=True)
    assert (b["process_type"], b["exception"], b["before_count"]) == (ptype, exc, 0)
    assert b["dynos"] == [f"{ptype}.1", f"{ptype}.2"]
    assert 39 <= b["minutes"] <= 40 and 230 <= b["count"] <= 242
    (f,) = [f for f in collect_findings(con) if f.kind == "worker_errors"]
    assert f.severity == "warning" and f.process_type == ptype and f.release == "v12"
    assert f.evidence["reason"]["text"].startswith(exc)
    (inc,) = [i for i in build_incidents(con, [f]) if i.kind == "worker_errors"]
    assert inc.cause.startswith(f"{ptype} kept failing: {exc}")
    assert any("retry and dead queues" in a for a in inc.advice)


def test_an_error_the_worker_logs_all_day_at_one_pace_is_not_a_burst(tmp_path: Path) -> None:
    # a handled timeout every 4 min on each dyno, from 08:00 to 12:00, with one busier hour
    # at twice the pace: its normal, not a new failure
    out = _worker("worker", "job done", bad_from=0, bad_to=0)
    t = T0 + timedelta(minutes=1)
    while t < T0 + timedelta(hours=4):
        pace = 2 if timedelta(hours=2) <= t - T0 < timedelta(hours=3) else 4
        out.append(_l(t, "app[worker.1]", "WARN: Net::ReadTimeout: Net::ReadTimeout (retrying)"))
        t += timedelta(minutes=pace)
    con = open_dataset(_log(tmp_path, out))
    got = worker_errors(con)
    # one run from the log's start: said as info at most, never a warning
    assert got.height <= 1
    assert not [f for f in collect_findings(con) if f.kind == "worker_errors" and
                f.severity != "info"]  # fmt: skip


def test_errors_right_before_each_crash_are_crash_reasons_not_a_burst(tmp_path: Path) -> None:
    # a worker crash-looping on a missing config var prints its error once per boot
    out = [_l(T0, "app[api]", "Release v12 created by user dev@acme.io")]
    t = T0 + timedelta(minutes=1)
    for _ in range(15):
        out += [
            _l(t, "heroku[worker.1]", "Starting process with command `python worker.py`"),
            _l(t + timedelta(seconds=2), "app[worker.1]", "KeyError: 'REDIS_URL'"),
            _l(t + timedelta(seconds=3), "heroku[worker.1]", "Process exited with status 1"),
            _l(t + timedelta(seconds=3), "heroku[worker.1]",
               "State changed from starting to crashed"),
        ]  # fmt: skip
        t += timedelta(minutes=4)
    con = open_dataset(_log(tmp_path, out))
    assert worker_errors(con).is_empty()


def test_web_errors_are_not_worker_errors(tmp_path: Path) -> None:
    out = _worker("web", "ActiveRecord::RecordNotFound (Couldn't find User)", bad_from=60,
                  bad_to=120)  # fmt: skip
    assert worker_errors(open_dataset(_log(tmp_path, out))).is_empty()


def test_ongoing_is_against_its_own_apps_end(tmp_path: Path) -> None:
    """Two apps in one dataset: app a's worker fails from 10:00 to its log's end at 11:00,
    app b's export goes on to 12:00. a's burst is ongoing (its own log ends on it)."""
    ptype, line, _ = STACKS["sidekiq"]
    a = tmp_path / "a.log"
    a.write_text("\n".join(sorted(_worker(ptype, line, bad_from=120, bad_to=999, hours=3))) + "\n")
    b = tmp_path / "b.log"
    b.write_text(
        "\n".join(sorted(_worker(ptype, "job done", bad_from=0, bad_to=0, hours=4))) + "\n"
    )
    ingest([str(a), str(b)], tmp_path / "ds", app_by_file=[("a.log", "a"), ("b.log", "b")])
    (row,) = worker_errors(open_dataset(tmp_path / "ds")).rows(named=True)
    assert row["app"] == "a" and row["ongoing"] is True
