"""What changed around an incident: one-off commands that only look are not fixes."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from forensics.incidents.changes import EVENT_COLUMNS, load_changes


def _events(*commands: str) -> pl.DataFrame:
    rows = [
        {
            "ts": datetime(2025, 2, 7, 16, i, tzinfo=UTC),
            "app": "x",
            "dyno": f"run.{1500 + i}",
            "kind": "start",
            "release": None,
            "user": "a@b.c",
            "command": c,
            "message": f"Starting process with command `{c}`",
            "source_file": "f.log",
            "line_no": i + 1,
        }
        for i, c in enumerate(commands)
    ]
    return pl.DataFrame(rows).select(EVENT_COLUMNS)


@pytest.mark.parametrize(
    "command",
    [
        'heroku logs --tail --app luckycat | grep "Error\\|Traceback\\|Exception"',  # src-014
        "heroku ps",
        "printenv",
        "cat /app/log/production.log",
    ],
)
def test_looking_is_not_a_change(command: str) -> None:
    assert load_changes(_events(command)) == []


@pytest.mark.parametrize(
    "command", ["rake db:migrate", "python manage.py migrate", "bin/rails runner 'Fix.run'"]
)
def test_a_one_off_that_acts_is_a_change(command: str) -> None:
    (c,) = load_changes(_events(command))
    assert (c.kind, c.command, c.dyno) == ("one-off", command, "run.1500")
