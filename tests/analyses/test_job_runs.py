"""One-off runs (scheduler jobs, `heroku run`, the release phase): how each ended, and the
findings for the ones that failed, with the app's own reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from forensics.analyses.job_runs import job_runs, job_summary
from forensics.findings import collect_findings
from forensics.incidents import build_incidents
from forensics.ingest import ingest
from forensics.store.views import open_dataset

REAL = Path(__file__).resolve().parents[1] / "data" / "real"


def _l(t: str, src: str, msg: str) -> str:
    return f"2025-09-03T{t}.000000+00:00 {src}: {msg}"


def _sched(hour: int, dyno: str, status: int, reason: list[str]) -> list[str]:
    """A Python scheduler job (in syslog-less CLI form) that exits with `status`."""
    h = f"{hour:02d}"
    return [
        _l(f"{h}:30:00", "app[api]", "Starting process with command `python manage.py "
           "send_digests` by user scheduler@addons.heroku.com"),
        _l(f"{h}:30:04", f"heroku[{dyno}]", "Starting process with command `python manage.py "
           "send_digests`"),
        _l(f"{h}:30:05", f"heroku[{dyno}]", "State changed from starting to up"),
        *[_l(f"{h}:30:41", f"app[{dyno}]", x) for x in reason],
        _l(f"{h}:30:42", f"heroku[{dyno}]", f"Process exited with status {status}"),
        _l(f"{h}:30:42", f"heroku[{dyno}]", "State changed from up to complete"),
    ]  # fmt: skip


TRACE = [
    "Traceback (most recent call last):",
    '  File "/app/digests/management/commands/send_digests.py", line 41, in handle',
    "    smtp.login(settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD)",
    "smtplib.SMTPAuthenticationError: (535, b'5.7.8 Username and Password not accepted')",
]
# web serving throughout, a digest job that worked at 06:30 and fails from 07:30 after the
# SMTP password was rotated at 07:00, a release whose migration fails, a console that the
# user's network dropped, a one-off whose exit status was not logged.
LINES = [
    _l("06:00:00", "heroku[web.1]", "Starting process with command `gunicorn app.wsgi`"),
    _l("06:00:04", "heroku[web.1]", "State changed from starting to up"),
    *_sched(6, "scheduler.2210", 0, ["sent 1204 digests"]),
    _l("07:00:00", "app[api]", "Set EMAIL_HOST_PASSWORD config vars by user ops@example.org"),
    _l("07:00:00", "app[api]", "Release v210 created by user ops@example.org"),
    *_sched(7, "scheduler.7731", 1, TRACE),
    *_sched(8, "scheduler.1093", 1, TRACE),
    *_sched(9, "scheduler.5528", 1, TRACE),
    # release phase of v211 fails on a migration
    _l("10:00:00", "app[api]", "Running release v211 commands by user dev@example.org"),
    _l("10:00:06", "heroku[release.4410]", "Starting process with command `/bin/sh -c 'if curl "
       "https://heroku-release-output.s3.amazonaws.com/log-stream?X-Amz-Signature=deadbeef "
       "--silent; then`"),
    _l("10:00:07", "heroku[release.4410]", "State changed from starting to up"),
    _l("10:00:12", "app[release.4410]", "Running migrations:"),
    _l("10:00:12", "app[release.4410]", "  Applying orders.0042_backfill_totals..."),
    _l("10:00:13", "app[release.4410]", "django.db.utils.IntegrityError: column \"total\" of "
       "relation \"orders_order\" contains null values"),
    _l("10:00:14", "heroku[release.4410]", "Process exited with status 1"),
    _l("10:00:14", "heroku[release.4410]", "State changed from up to complete"),
    # a console whose client went away: not a failure
    _l("11:00:00", "app[api]", "Starting process with command `python manage.py shell` by user "
       "dev@example.org"),
    _l("11:00:04", "heroku[run.8120]", "State changed from starting to up"),
    _l("11:20:00", "heroku[run.8120]", "Client connection closed. Sending SIGHUP to all "
       "processes"),
    _l("11:20:01", "heroku[run.8120]", "Process exited with status 129"),
    _l("11:20:01", "heroku[run.8120]", "State changed from up to complete"),
    # a one-off that completed with no exit status logged
    _l("11:30:04", "heroku[run.9001]", "State changed from starting to up"),
    _l("11:31:00", "heroku[run.9001]", "State changed from up to complete"),
]  # fmt: skip


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("jobs")
    log = tmp / "jobs.log"
    log.write_text("\n".join(LINES) + "\n")
    ingest([str(log)], tmp / "ds")
    return open_dataset(tmp / "ds")


def test_runs_and_outcomes(con) -> None:
    runs = job_runs(con)
    got = dict(zip(runs["dyno"], runs["outcome"], strict=True))
    assert got == {
        "scheduler.2210": "succeeded",
        "scheduler.7731": "failed",
        "scheduler.1093": "failed",
        "scheduler.5528": "failed",
        "release.4410": "failed",
        "run.8120": "disconnected",
        "run.9001": "completed",
    }
    rel = runs.filter(runs["dyno"] == "release.4410").row(0, named=True)
    assert rel["release"] == "v211"
    assert rel["command"] is None  # the platform's wrapper, with a signed URL: never shown
    console = runs.filter(runs["dyno"] == "run.8120").row(0, named=True)
    assert console["command"] == "python manage.py shell"  # from the API's line
    summary = job_summary(runs).filter(job_summary(runs)["process_type"] == "scheduler")
    assert summary.select("runs", "failed", "succeeded").row(0) == (4, 3, 1)


def test_findings(con) -> None:
    fs = [f for f in collect_findings(con) if f.kind in ("job_failed", "release_phase_failed")]
    assert sorted(f.kind for f in fs) == ["job_failed", "release_phase_failed"]
    job = next(f for f in fs if f.kind == "job_failed")
    assert job.severity == "warning"
    assert job.evidence["failed"] == 3 and job.evidence["runs"] == 4
    assert job.evidence["ongoing"] is True
    assert "`python manage.py send_digests` failed 3 of 4 runs" in job.summary
    assert "SMTPAuthenticationError" in job.summary
    assert job.evidence["reason"]["location"] == "digests/management/commands/send_digests.py:41"
    phase = next(f for f in fs if f.kind == "release_phase_failed")
    assert phase.release == "v211" and phase.severity == "warning"
    assert "v211 was not deployed" in phase.summary
    assert "IntegrityError" in phase.summary
    assert "X-Amz-Signature" not in phase.summary


def test_incidents(con) -> None:
    incs = build_incidents(con, collect_findings(con))
    job = next(i for i in incs if i.kind == "job_failed")
    assert job.title == "Scheduled job `python manage.py send_digests` failed, 3 times"
    assert job.ongoing and job.resolved_by is None
    # the password change (and the release v210 it made), between the last good run and the
    # first failure, more than the usual 30 min before it
    assert job.trigger is not None and job.trigger.kind in ("config", "release")
    assert job.trigger.ts.hour == 7 and job.trigger.ts.minute == 0
    assert any("dead man" in a for a in job.advice)
    assert job.impact["failed_jobs"] == 3
    assert any(
        a.startswith("Fix what makes it fail: smtplib.SMTPAuthenticationError") for a in job.advice
    )
    phase = next(i for i in incs if i.kind == "release_phase_failed")
    assert phase.title == "Release phase of v211 failed"
    assert any("heroku releases:output v211" in a for a in phase.advice)
    # a Scheduler run is routine, not a change that resolved or triggered anything
    changes = [c for i in incs for c in (i.trigger, i.resolved_by) if c is not None]
    assert all((c.user or "") != "scheduler@addons.heroku.com" for c in changes)


def test_real_one_off_is_info(tmp_path: Path) -> None:
    """src-014: someone ran `heroku run "heroku logs ..."` (no heroku CLI in a dyno): exit 1."""
    ingest([str(REAL / "src-014.log")], tmp_path / "ds")
    fs = [f for f in collect_findings(open_dataset(tmp_path / "ds")) if f.kind == "job_failed"]
    assert len(fs) == 1 and fs[0].severity == "info" and fs[0].dyno == "run.1576"
    assert fs[0].evidence["ongoing"] is False
