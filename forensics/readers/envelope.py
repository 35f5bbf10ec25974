"""The envelope every reader produces: where a line came from, when, from which process, and its
message. Parsers only ever see envelopes, so a new export format is a new reader, nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

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

# Readers may add `raw` (the input line or frame as read) so that a parser reject keeps it.
OPTIONAL_COLUMNS = ("raw",)

REJECT_COLUMNS = ("source_file", "line_no", "line_count", "byte_offset", "raw", "reason")


def empty_rejects() -> pl.DataFrame:
    """A batch's rejects when it has none."""
    return pl.DataFrame(
        schema={"source_file": pl.String, "line_no": pl.Int64, "line_count": pl.Int32,
                "byte_offset": pl.Int64, "raw": pl.String, "reason": pl.String}
    )  # fmt: skip


@dataclass
class Batch:
    """One batch from a reader: parsed envelopes, the lines that had none, and lines consumed."""

    envelope: pl.DataFrame
    rejects: pl.DataFrame
    lines: int


def with_fallback(
    df: pl.DataFrame,
    handled: pl.Series,
    good: pl.DataFrame,
    fallback: Callable[[pl.DataFrame], pl.DataFrame],
) -> pl.DataFrame:
    """The compiled core's rows (`good`, one per row of `df`) where it `handled` the row, and
    `fallback` (the Polars reference) of the others, in `df`'s row order."""
    if handled.all():
        return good
    i = pl.int_range(pl.len(), dtype=pl.Int64).alias("_i")
    rest = fallback(df.with_columns(i).filter(~handled))
    good = good.with_columns(i).filter(handled)
    return pl.concat([good, rest], how="diagonal").sort("_i").drop("_i")


# ASCII digits only: `\d` is Unicode in Polars' regex, and a digit like U+0663 matched and
# then failed the integer cast (a crash of the whole batch, found by the engines' fuzz test).
_TAIL_RE = r"^(?:\.([0-9]{1,9}))?(Z|([+-])([0-9]{2}):?([0-9]{2}))$"


def with_timestamp(lf: pl.LazyFrame, src: str, out: str = "ts") -> pl.LazyFrame:
    """Parse RFC 3339 text in `src` (0-9 fractional digits, `Z` or any offset) into UTC `out`.

    Whole seconds are parsed with a cache (log lines share them). The usual tail,
    `.dddddd+00:00`, is read by slicing; only other tails go through a regex, materialized as
    a column before its fields are read so it runs once. Several times faster than a
    full-format parse per row. Unparseable text becomes null (the caller rejects the line).
    """
    col = pl.col(src)
    sec = col.str.slice(0, 19).str.to_datetime(
        "%Y-%m-%dT%H:%M:%S", time_unit="us", cache=True, strict=False
    )
    tail = col.str.slice(19)
    usual = (tail.str.len_bytes() == 13) & tail.str.ends_with("+00:00") & tail.str.starts_with(".")
    usual_us = pl.when(usual).then(tail.str.slice(1, 6).cast(pl.Int64, strict=False))
    f = pl.col("_tail").struct.field
    frac = f("1").str.pad_end(6, "0").str.slice(0, 6).cast(pl.Int64).fill_null(0)
    minutes = (f("4").cast(pl.Int64) * 60 + f("5").cast(pl.Int64)).fill_null(0)
    sign = pl.when(f("3") == "-").then(-1).otherwise(1)
    other_us = pl.when(f("2").is_not_null()).then(frac - sign * minutes * 60_000_000)
    us = pl.col("_sec").cast(pl.Int64) + pl.coalesce(pl.col("_usual"), other_us)
    ts = us.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return (
        lf.with_columns(_sec=sec, _usual=usual_us, _rest=pl.when(~usual).then(tail))
        .with_columns(_tail=pl.col("_rest").str.extract_groups(_TAIL_RE))
        .with_columns(ts.alias(out))
        .drop("_sec", "_usual", "_rest", "_tail")
    )
