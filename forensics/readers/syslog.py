"""Reader for newline-delimited syslog, as rsyslog or syslog-ng write a Heroku drain to disk.

RFC 5424 lines: the drain frame without its octet count, with or without `<PRI>1 `, in any of
the drain's header layouts (see `drain`), also with a space instead of `T` in the timestamp:

    <158>1 2019-11-25T18:28:00.089034+00:00 host heroku router - at=info method=GET ...
    2014-07-17T12:59:25.223980+00:00 d.8f7a4b11-c323-... app web.2 - - Started GET "/"
    2015-01-26 00:16:57.648942+00:00 heroku web.1 - - source=web.1 dyno=heroku.26192163...
    -> ts=2015-01-26 00:16:57.648942 UTC, origin=heroku, dyno=web.1, message="source=web.1 ..."

BSD lines, `TIMESTAMP HOST APP[PROCID]: MESSAGE`, with the classic timestamp or RFC 3339:

    Jan  8 10:55:11 host app[web.1]: Completed 200 OK in 12ms
    -> ts=<year> Jan 8 10:55:11 in <tz>, as UTC, origin=app, dyno=web.1, message="Completed ..."
    2019-05-01T11:23:05.806472+00:00 d.8f7a4b11-... heroku[web.1]: Error R14 (Memory quota ...)

The classic timestamp has no year and no zone: `year` (default: the current year, or the last
one for a date that would be in the future) and `tz` (default UTC) say which; the year rolls
over when the month jumps back (Dec -> Jan), and back on a late line after that. BSD lines go
straight to the tag parser; others are tried as RFC 5424 first. `app` is the `--app`
argument, else a HOST that is not `host`, `heroku` or a `d.` token. Rejects: `blank`,
`no_prefix` (no syslog header), `bad_header` (RFC 5424 with fields missing) and
`bad_timestamp`. With `engine="native"` the compiled core splits the lines and reads the plain
RFC 5424 headers (`drain.parse_rfc5424`); the tag and BSD lines are Polars code for both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta

import polars as pl

from forensics.errors import ForensicsError
from forensics.readers.drain import parse_rfc5424
from forensics.readers.envelope import ENVELOPE_COLUMNS, REJECT_COLUMNS, Batch, with_timestamp
from forensics.readers.lines import iter_line_batches

# The envelope also carries the input line as read, so a parser reject keeps it.
KEEP = (*ENVELOPE_COLUMNS, "raw")

NAME = "syslog"
CALENDAR = True  # takes `year` and `tz` for timestamps without them
NATIVE = True  # `read` takes `engine="native"` (the compiled core) as well as "polars"

_ISO = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\S*"
_BSD = r"[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d"
SNIFF = re.compile(
    rb"^(?:<\d{1,3}>1 " + _ISO.encode() + rb" \S+ \S+ \S+"
    rb"|" + _ISO.encode() + rb" [^\s\[\]]+ [^\s\[\]]+ (?:[^\s\[\]]+ )?- "
    rb"|(?:" + _BSD.encode() + rb"|" + _ISO.encode() + rb") \S+ [^\s\[\]:]+\[[^\]\s]*\]:)"
)
TAG_RE = (
    r"^(?<pre>(?:(?<mon>[A-Z][a-z]{2}) +(?<day>\d{1,2}) (?<hms>\d\d:\d\d:\d\d)|(?<iso>"
    + _ISO
    + r")) (?<host>\S+) (?<tag>[^\s\[\]:]+)(?:\[(?<pid>[^\]\s]*)\])?:(?: |$))"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SNIFF_LINES = 20


def line_share(head: bytes, pattern: re.Pattern[bytes]) -> float:
    """Share of the first non-blank lines of `head` (complete ones) that match `pattern`."""
    lines = head.split(b"\n")
    if len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut
    lines = [ln for ln in lines if ln.strip()][:_SNIFF_LINES]
    if not lines:
        return 0.0
    return sum(pattern.match(ln) is not None for ln in lines) / len(lines)


def sniff(head: bytes) -> bool:
    """True when most of the first lines are RFC 5424 or BSD syslog lines."""
    return line_share(head, SNIFF) >= 0.5


class Calendar:
    """Years for `Mon DD HH:MM:SS` timestamps, which carry none, and the zone they are in.

    Kept across the batches of one input: the year goes up when the month jumps back by more
    than six (Dec -> Jan), and down again on such a jump forward, but never below the year the
    input started in (a late Dec line after Jan ones is from the old year; Jan then Dec with
    nothing between is the same year).
    """

    def __init__(self, year: int | None, tz: str) -> None:
        try:
            pl.Series([datetime(2000, 1, 1)]).dt.replace_time_zone(tz)
        except Exception:
            raise ForensicsError(
                f"unknown time zone {tz!r}; use an IANA name such as Europe/Paris, or UTC"
            ) from None
        self.year = year
        self.tz = tz
        self._month: int | None = None
        self._base = 0

    def timestamps(self, mon: pl.Series, day: pl.Series, hms: pl.Series) -> pl.Series:
        """UTC timestamps for the month-name, day and time columns of consecutive lines."""
        month = mon.replace_strict(_MONTHS, range(1, 13), default=None, return_dtype=pl.Int32)
        first = month.drop_nulls()
        if first.is_empty():
            return pl.Series(mon.name, [None] * len(mon), dtype=pl.Datetime("us", "UTC"))
        if self._month is None:
            self._month = first[0]
            if self.year is None:
                self.year = _default_year(first[0], int(day.drop_nulls()[0]))
            self._base = self.year
        prev = month.forward_fill().shift(1, fill_value=self._month)
        step = (month < prev - 6).cast(pl.Int32) - (month > prev + 6).cast(pl.Int32)
        run = (self.year - self._base) + step.fill_null(0).cum_sum()
        years = self._base + run - run.cum_min().clip(upper_bound=0)  # a walk floored at 0
        self._month = first[-1]
        self.year = int(years[-1])
        parts = pl.DataFrame({"y": years.cast(pl.String), "m": mon, "d": day, "t": hms})
        text = pl.concat_str(pl.all(), separator=" ")
        local = text.str.to_datetime("%Y %b %d %H:%M:%S", time_unit="us", strict=False)
        utc = local.dt.replace_time_zone(self.tz, ambiguous="earliest", non_existent="null")
        return parts.select(utc.dt.convert_time_zone("UTC").alias("ts")).to_series()


def _default_year(month: int, day: int) -> int:
    """This year, or the last one when the date would be more than a day in the future."""
    today = datetime.now(UTC).date()
    seen = date(today.year, month, min(day, 28))
    return today.year - 1 if seen > today + timedelta(days=1) else today.year


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
    """Yield envelope batches (and their rejects) for one input's byte chunks; `engine="native"`
    splits lines and reads RFC 5424 headers with the compiled core."""
    cal = calendar if calendar is not None else Calendar(year, tz)
    for lines in iter_line_batches(chunks, source_file=source_file, engine=engine):
        yield envelope(lines, app=app, calendar=cal, engine=engine)


def envelope(
    lines: pl.DataFrame, *, app: str | None, calendar: Calendar, engine: str = "polars"
) -> Batch:
    """Parse numbered raw lines: BSD lines by their tag, the others as RFC 5424 first and by
    their tag when that fails (`TIMESTAMP HOST APP[PROCID]:` with an RFC 3339 time)."""
    df = lines.with_columns(
        pl.lit(1, dtype=pl.Int32).alias("line_count"),
        pl.lit(None, dtype=pl.Int64).alias("byte_offset"),
        pl.col("raw").str.contains(r"^[A-Z][a-z]{2} ").alias("_bsd"),
    )
    bsd, other = df.filter(pl.col("_bsd")).drop("_bsd"), df.filter(~pl.col("_bsd")).drop("_bsd")
    parts = []
    if other.height:
        out = parse_rfc5424(other, "raw", app=app, engine=engine)
        rest = out.filter(~pl.col("_ok") & (pl.col("_why") == "no_prefix"))
        parts.append(out.filter(pl.col("_ok") | (pl.col("_why") != "no_prefix")))
        bsd = pl.concat([bsd, rest.select(bsd.columns)]) if rest.height else bsd
    if bsd.height:
        parts.append(tag_lines(bsd, app=app, calendar=calendar))
    out = pl.concat([p.select(*KEEP, "_ok", "_why") for p in parts])
    if len(parts) > 1:
        out = out.sort("line_no")
    bad = out.filter(~pl.col("_ok")).with_columns(
        pl.when(pl.col("raw").str.strip_chars() == "")
        .then(pl.lit("blank"))
        .otherwise(pl.col("_why"))
        .alias("reason")
    )
    env = out.filter(pl.col("_ok")).select(KEEP)
    return Batch(envelope=env, rejects=bad.select(REJECT_COLUMNS), lines=df.height)


def tag_lines(df: pl.DataFrame, *, app: str | None, calendar: Calendar) -> pl.DataFrame:
    """Parse `TIMESTAMP HOST APP[PROCID]: MESSAGE` lines; add envelope columns, `_ok`, `_why`."""
    h = df.select(pl.col("raw").str.extract_groups(TAG_RE)).unnest("raw")
    host, tag, pid = pl.col("host"), pl.col("tag"), pl.col("pid")
    old = (host == "heroku") & pid.str.starts_with("d.")
    plain_host = host.is_in(["host", "heroku"]) | host.str.starts_with("d.")
    dyno = pl.when(old).then(tag).otherwise(pid)
    iso = h.lazy().select(pl.col("iso").str.replace(" ", "T", literal=True, n=1))
    iso_ts = with_timestamp(iso, "iso").collect()["ts"]
    bsd_ts = calendar.timestamps(h["mon"], h["day"], h["hms"])
    parsed = pl.concat([df, h], how="horizontal").with_columns(
        pl.coalesce(iso_ts, bsd_ts).alias("ts"),
        (pl.lit(app, dtype=pl.String) if app else pl.when(~plain_host).then(host)).alias("app"),
        pl.when(old).then(pl.lit("heroku")).otherwise(tag).alias("origin"),
        pl.when(dyno != "-").then(dyno).alias("dyno"),
        pl.col("raw").str.slice(pl.col("pre").str.len_chars()).fill_null("").alias("message"),
    )
    return parsed.with_columns(
        pl.col("ts").is_not_null().alias("_ok"),
        pl.when(pl.col("pre").is_null())
        .then(pl.lit("no_prefix"))
        .otherwise(pl.lit("bad_timestamp"))
        .alias("_why"),
    )
