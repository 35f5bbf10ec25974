"""Reader for Papertrail exports: permanent archives (TSV) and the text view / CLI output.

Archives (`papertrail/logs/<id>/dt=YYYY-MM-DD/....tsv.gz`; gzip is undone by the source) have
one event per line and ten tab-separated columns: id, generated_at, received_at, source_id,
source_name, source_ip, facility_name, severity_name, program, message. The message is the rest
of the line (it may hold tabs). `program` is `SOURCE/DYNO`:

    50342052<TAB>2011-02-10 00:19:36 -0800<TAB>2011-02-10 00:19:36 -0800<TAB>42424<TAB>
    warm-cliffs-8392<TAB>1.2.3.4<TAB>Local3<TAB>Info<TAB>heroku/router<TAB>at=info method=GET ...
    -> ts=2011-02-10 08:19:36 UTC (generated_at), app=warm-cliffs-8392, origin=heroku,
       dyno=router, message="at=info method=GET ..."

The text view, `papertrail` CLI and e-mail alerts print (two spaces after the colon belong to
the separator; one is accepted too):

    Jan 08 10:55:11 warm-cliffs-8392 heroku/web.1:  State changed from up to down
    -> ts=<year> Jan 8 10:55:11 in <tz>, as UTC, app=warm-cliffs-8392, origin=heroku,
       dyno=web.1, message="State changed from up to down"

Times have whole seconds. The text view's have no year or zone: `year` and `tz` as in the
syslog reader. `app` is the `--app` argument, else the source name. A program without `/`
becomes the origin with a null dyno. Which form a file is, is decided from its first line.
Rejects: `blank`, `wrong_column_count` (fewer than 10 columns), `no_prefix` (a text line
without the `TIME SYSTEM PROGRAM:` header) and `bad_timestamp`. With `engine="native"` the
compiled core (`native/src/papertrail.rs`) splits the lines and reads the archive rows with ten
columns and a plain time; `_tsv` decides the others and stays the reference.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from typing import TypeVar

import polars as pl

from forensics import native
from forensics.readers.envelope import (
    ENVELOPE_COLUMNS,
    REJECT_COLUMNS,
    Batch,
    with_fallback,
    with_timestamp,
)
from forensics.readers.lines import iter_line_batches
from forensics.readers.syslog import Calendar, line_share

# The envelope also carries the input line as read, so a parser reject keeps it.
KEEP = (*ENVELOPE_COLUMNS, "raw")

NAME = "papertrail"
CALENDAR = True  # takes `year` and `tz` for timestamps without them
NATIVE = True  # `read` takes `engine="native"` (the compiled core) as well as "polars"
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

COLUMNS = (
    "id",
    "generated_at",
    "received_at",
    "source_id",
    "source_name",
    "source_ip",
    "facility_name",
    "severity_name",
    "program",
    "message",
)
TSV_SNIFF = re.compile(rb"^\d+\t\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[^\t]*\t(?:[^\t\n]*\t){6}")
TEXT_SNIFF = re.compile(rb"^[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d \S+ [^\s/:\[]+/[^\s:]+: ")
TEXT_RE = (
    r"^(?<pre>(?<mon>[A-Z][a-z]{2}) +(?<day>\d{1,2}) (?<hms>\d\d:\d\d:\d\d) "
    r"(?<host>\S+) (?<program>[^\s:]+):(?:  ?|$))"
)


def sniff(head: bytes) -> bool:
    """True when most of the first lines are archive rows or text-view lines."""
    return max(line_share(head, TSV_SNIFF), line_share(head, TEXT_SNIFF)) >= 0.5


def read(
    chunks: Iterable[bytes],
    *,
    source_file: str,
    app: str | None,
    year: int | None = None,
    tz: str = "UTC",
    calendar: Calendar | None = None,
    engine: str = "polars",
) -> Iterator[Batch]:
    """Yield envelope batches (and their rejects) for one archive or text export;
    `engine="native"` splits lines and reads archive rows with the compiled core."""
    cal = calendar if calendar is not None else Calendar(year, tz)
    it = iter(chunks)
    first = next(it, b"")
    head = first.lstrip()
    tsv = b"\t" in head[: head.find(b"\n") if b"\n" in head else len(head)]
    stream = itertools.chain([first], it)
    tsv_parse = _tsv_native if engine == "native" else _tsv
    for lines in iter_line_batches(stream, source_file=source_file, engine=engine):
        df = lines.with_columns(
            pl.lit(1, dtype=pl.Int32).alias("line_count"),
            pl.lit(None, dtype=pl.Int64).alias("byte_offset"),
        )
        out = tsv_parse(df, app) if tsv else _text(df, app, cal)
        good = out.filter(pl.col("_ok")).select(KEEP)
        bad = out.filter(~pl.col("_ok")).with_columns(
            pl.when(pl.col("raw").str.strip_chars() == "")
            .then(pl.lit("blank"))
            .otherwise(pl.col("_why"))
            .alias("reason")
        )
        yield Batch(envelope=good, rejects=bad.select(REJECT_COLUMNS), lines=df.height)


def _program(out: Frame, app: str | None, source: str) -> Frame:
    """Add origin, dyno and app from the `program` and source-name columns."""
    parts = pl.col("program").str.splitn("/", 2)
    return out.with_columns(
        parts.struct.field("field_0").alias("origin"),
        parts.struct.field("field_1").alias("dyno"),
        (pl.lit(app, dtype=pl.String) if app else pl.col(source)).alias("app"),
    )


def _tsv(df: pl.DataFrame, app: str | None) -> pl.DataFrame:
    """Archive rows -> envelope columns, `_ok` and `_why`."""
    cols = pl.col("raw").str.splitn("\t", len(COLUMNS))
    lf = df.lazy().with_columns(
        *(cols.struct.field(f"field_{i}").alias(f"_{c}") for i, c in enumerate(COLUMNS))
    )
    lf = lf.rename({"_message": "message", "_program": "program"})
    # `2011-02-10 00:19:36 -0800` -> `2011-02-10T00:19:36-0800` for the RFC 3339 parser.
    ts = pl.col("_generated_at").str.replace(" ", "T", literal=True, n=1)
    lf = lf.with_columns(ts.str.replace(" ", "", literal=True, n=1).alias("_ts"))
    lf = with_timestamp(_program(lf, app, "_source_name"), "_ts")
    full = pl.col("message").is_not_null()
    return lf.with_columns(
        (full & pl.col("ts").is_not_null()).alias("_ok"),
        pl.when(full)
        .then(pl.lit("bad_timestamp"))
        .otherwise(pl.lit("wrong_column_count"))
        .alias("_why"),
    ).collect(engine="streaming")


def _tsv_native(df: pl.DataFrame, app: str | None) -> pl.DataFrame:
    """`_tsv` with the compiled core on the rows it takes (ten columns, a plain time); `_tsv`
    decides every other row (so the two can only differ where the core takes a row)."""
    env = native.papertrail_tsv(df.get_column("raw"))
    handled = env.get_column("handled")
    source = env.get_column("source_name")
    good = df.with_columns(
        env.get_column("message"),
        env.get_column("origin"),
        env.get_column("dyno"),
        (pl.lit(app, dtype=pl.String) if app else source).alias("app"),
        env.get_column("ts"),
        pl.lit(True).alias("_ok"),
        pl.lit("bad_timestamp").alias("_why"),  # as `_tsv` says it on a good row
    )
    return with_fallback(df, handled, good, lambda rest: _tsv(rest, app))


def _text(df: pl.DataFrame, app: str | None, cal: Calendar) -> pl.DataFrame:
    """Text-view lines -> envelope columns, `_ok` and `_why`."""
    h = df.select(pl.col("raw").str.extract_groups(TEXT_RE)).unnest("raw")
    out = pl.concat([df, h], how="horizontal").with_columns(
        cal.timestamps(h["mon"], h["day"], h["hms"]).alias("ts"),
        pl.col("raw").str.slice(pl.col("pre").str.len_chars()).fill_null("").alias("message"),
    )
    return _program(out, app, "host").with_columns(
        pl.col("ts").is_not_null().alias("_ok"),
        pl.when(pl.col("pre").is_null())
        .then(pl.lit("no_prefix"))
        .otherwise(pl.lit("bad_timestamp"))
        .alias("_why"),
    )
