"""`detect` picks each format's reader from the first bytes; CLI text stays `heroku-cli`."""

from __future__ import annotations

from pathlib import Path

import pytest
import reader_render as rr

from forensics import readers

DATA = Path(__file__).parents[1] / "data"
EVENTS = rr.parse_cli((DATA / "formats" / "equivalence.log").read_text())[:8]
DRAIN_REAL = ["src-001", "src-002", "src-003", "src-004", "src-005", "src-006", "src-051"]


def _head(data: bytes) -> bytes:
    return data[: readers.SNIFF_BYTES]


@pytest.mark.parametrize("name", DRAIN_REAL)
def test_real_drain_bodies(name: str) -> None:
    assert readers.detect(_head((DATA / "real" / f"{name}.log").read_bytes())) == "drain"


def test_real_syslog_export() -> None:
    assert readers.detect(_head((DATA / "real" / "src-030.log").read_bytes())) == "syslog"


def test_real_cli_text_stays_heroku_cli() -> None:
    others = sorted(
        p for p in (DATA / "real").glob("*.log") if p.stem not in DRAIN_REAL and p.stem != "src-030"
    )
    assert len(others) > 10
    for path in others:
        assert readers.detect(_head(path.read_bytes())) == "heroku-cli", path.name


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (rr.drain_body(EVENTS), "drain"),
        (b"2019-05-01 11:14:53.114 " + rr.drain_body(EVENTS), "drain"),
        (rr.syslog_5424(EVENTS), "syslog"),
        (rr.bsd(EVENTS, "UTC"), "syslog"),
        (rr.papertrail_tsv(EVENTS, "my-app"), "papertrail"),
        (rr.papertrail_text(EVENTS, "UTC", "my-app"), "papertrail"),
        (b"2024-05-20T22:17:43.421593+00:00 app[api]: Release v59 created by user a@b\n", None),
        (b"$ heroku logs --tail\n2018-12-24T23:52:10.744839+00:00 heroku[web.1]: Idling\n", None),
        (b"", None),
        (b"some notes\nthat are not logs\n", None),
    ],
)
def test_first_bytes_pick_the_reader(data: bytes, name: str | None) -> None:
    assert readers.detect(_head(data)) == (name or readers.DEFAULT)
    assert readers.DEFAULT == "heroku-cli"


def test_head_cut_mid_line_still_detects() -> None:
    data = rr.papertrail_tsv(EVENTS, "my-app")
    assert readers.detect(data[: len(data) - 40]) == "papertrail"


def test_every_reader_is_registered() -> None:
    assert list(readers.READERS) == ["drain", "papertrail", "syslog", "heroku-cli"]
    for name, mod in readers.READERS.items():
        assert name == mod.NAME
        assert callable(mod.sniff) and callable(mod.read)
