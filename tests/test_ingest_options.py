"""IngestOptions: ingest's options validated once, with the calendar built once for the readers."""

from __future__ import annotations

import dataclasses

import pytest

from forensics.errors import ForensicsError
from forensics.ingest.options import IngestOptions


def test_bad_format_and_zone_fail_when_built():
    with pytest.raises(ForensicsError, match="unknown format"):
        IngestOptions(fmt="nope")
    with pytest.raises(ForensicsError, match="time zone"):
        IngestOptions(tz="Mars/Olympus")


def test_frozen_with_one_calendar_and_app_per_file():
    opts = IngestOptions(
        app="a", app_by_file=[("drains/shop-*", "shop")], year=2024, tz="Europe/Paris"
    )
    assert opts.calendar.tz == "Europe/Paris"
    assert opts.app_for("drains/shop-1.log") == "shop"
    assert opts.app_for("other.log") == "a"
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.tz = "UTC"  # type: ignore[misc]
