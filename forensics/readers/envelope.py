"""The envelope every reader produces: where a line came from, when, from which process, and its
message. Parsers only ever see envelopes, so a new export format is a new reader, nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from forensics.schema import TS

# origin: `app` or `heroku` (the part before `[dyno]`); dyno: the process in brackets.
ENVELOPE_COLUMNS = (
    "source_file",
    "line_no",
    "line_count",
    "byte_offset",
    "ts",
    "app",
    "origin",
    "dyno",
    "message",
)

REJECT_COLUMNS = ("source_file", "line_no", "line_count", "byte_offset", "raw", "reason")


@dataclass
class Batch:
    """One batch from a reader: parsed envelopes, the lines that had none, and lines consumed."""

    envelope: pl.DataFrame
    rejects: pl.DataFrame
    lines: int


def parse_timestamp(col: pl.Expr) -> pl.Expr:
    """RFC 3339 text with 0-9 fractional digits and `Z` or an offset, to UTC microseconds.

    Unparseable text becomes null (the caller turns that into a reject).
    """
    fixed = pl.when(col.str.ends_with("Z")).then(col.str.head(-1) + "+00:00").otherwise(col)
    return fixed.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="us", time_zone="UTC", strict=False
    ).cast(TS)
