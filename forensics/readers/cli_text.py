"""Reader for `heroku logs` CLI text: `TIMESTAMP SOURCE[DYNO]: MESSAGE`, one line each.

Example line and the envelope it becomes:

    2018-12-24T23:52:33.225198+00:00 heroku[web.1]: Process running mem=524M(102.5%)
    -> ts=2018-12-24 23:52:33.225198 UTC, origin=heroku, dyno=web.1,
       message="Process running mem=524M(102.5%)"

Timestamps may have 0-9 fractional digits, `Z` or any offset (normalized to UTC). Lines that a
terminal hard-wrapped are joined back (see `join_wrapped`). Lines with no envelope become
rejects: `blank`, `no_prefix` (no timestamp and source, e.g. a shell prompt or a pasted
fragment), `no_timestamp` (`heroku[router]: ...` without a time), `no_source` (a time and
nothing after it: an export cut right after a timestamp) or `bad_timestamp`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import polars as pl

from forensics import native
from forensics.readers.envelope import (
    ENVELOPE_COLUMNS,
    Batch,
    empty_rejects,
    with_fallback,
    with_timestamp,
)
from forensics.readers.lines import BATCH_BYTES, NATIVE_BATCH_BYTES, iter_line_batches

NAME = "heroku-cli"
CALENDAR = False  # timestamps carry their year and zone
NATIVE = True  # `read` takes `engine="native"` (the compiled core) as well as "polars"

_TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)"
_SRC = r"([a-z][a-z0-9_-]*)\[([^\]\s]+)\]:"
PREFIX_RE = rf"^{_TS} {_SRC}(?: |$)"
_NO_TS_RE = rf"^\s*{_SRC}"
RECORD_START = re.compile(rb"(?<=\n)\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
SNIFF = re.compile(rb"^\s*\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* [a-z][a-z0-9_-]*\[[^\]\s]+\]:", re.M)


def sniff(head: bytes) -> bool:
    """True when the first bytes look like `heroku logs` output."""
    return SNIFF.search(head) is not None


def read(
    chunks: Iterable[bytes], *, source_file: str, app: str | None, engine: str = "polars"
) -> Iterator[Batch]:
    """Yield envelope batches (and their rejects) for one input's byte chunks."""
    size = NATIVE_BATCH_BYTES if engine == "native" else BATCH_BYTES
    for lines in iter_line_batches(
        chunks, source_file=source_file, record_start=RECORD_START, batch_bytes=size, engine=engine
    ):
        yield envelope(lines, app=app, engine=engine)


def envelope(lines: pl.DataFrame, *, app: str | None, engine: str = "polars") -> Batch:
    """Split numbered raw lines into the envelope columns, re-joining wrapped lines.

    Lines are parsed first; only when some have no envelope are wraps looked for and the
    batch parsed again (rare, so clean exports pay nothing for it).
    """
    parse = _parse_native if engine == "native" else _parse
    df = lines.with_columns(pl.lit(1, dtype=pl.Int32).alias("line_count"))
    out = parse(df, app)
    if out.select(pl.col("_ok").all()).item():
        return Batch(
            envelope=out.select(*ENVELOPE_COLUMNS, "raw"),
            rejects=empty_rejects(),
            lines=lines.height,
        )
    joined = join_wrapped(df.with_columns(_has=out["_ok"]))
    if joined.height != df.height:
        out = parse(joined, app)
    good = out.filter(pl.col("_ok")).select(*ENVELOPE_COLUMNS, "raw")
    bad = out.filter(~pl.col("_ok")).with_columns(_reason(pl.col("raw")).alias("reason"))
    return Batch(envelope=good, rejects=bad, lines=lines.height)


def _parse(df: pl.DataFrame, app: str | None) -> pl.DataFrame:
    """The envelope columns for each line, and `_ok` where the line has a full envelope."""
    parts = pl.col("raw").str.splitn(" ", 3)
    src = pl.col("_src")
    origin_dyno = src.str.head(-2).str.splitn("[", 2)
    lf = (
        df.lazy()
        .with_columns(
            parts.struct.field("field_0").alias("_ts"),
            parts.struct.field("field_1").alias("_src"),
            # `app[web.1]:` with nothing after it is a real, empty message.
            parts.struct.field("field_2").fill_null("").alias("message"),
        )
        .with_columns(
            src.str.contains(r"^[a-z][a-z0-9_-]*\[[^\]\s]+\]:$").alias("_src_ok"),
            origin_dyno.struct.field("field_0").alias("origin"),
            origin_dyno.struct.field("field_1").alias("dyno"),
            pl.lit(app, dtype=pl.String).alias("app"),
            pl.lit(None, dtype=pl.Int64).alias("byte_offset"),
        )
    )
    lf = with_timestamp(lf, "_ts")
    # fill_null: a line with only a timestamp has no `_src` at all; it must be a reject, not
    # dropped by both filters below
    ok = (pl.col("ts").is_not_null() & pl.col("_src_ok")).fill_null(False)
    return lf.with_columns(_ok=ok).collect(engine="streaming")


def _parse_native(df: pl.DataFrame, app: str | None) -> pl.DataFrame:
    """`_parse` with the compiled core on the lines in the plain form; the Polars `_parse`
    decides every other line (so the two can only differ where the core takes a line)."""
    env = native.cli_envelope(df.get_column("raw"))
    handled = env.get_column("handled")
    good = df.hstack(env.drop("handled")).with_columns(
        pl.lit(app, dtype=pl.String).alias("app"),
        pl.lit(None, dtype=pl.Int64).alias("byte_offset"),
        pl.lit(True).alias("_ok"),
        pl.lit(None, dtype=pl.String).alias("_ts"),  # read by `_reason`, for rejects only
        pl.lit(None, dtype=pl.Boolean).alias("_src_ok"),
    )
    return with_fallback(df, handled, good, lambda rest: _parse(rest, app))


def _reason(raw: pl.Expr) -> pl.Expr:
    return (
        pl.when(raw.str.strip_chars() == "")
        .then(pl.lit("blank"))
        .when(raw.str.contains(_NO_TS_RE))
        .then(pl.lit("no_timestamp"))
        .when(pl.col("_src_ok") & pl.col("_ts").str.contains(r"^\d{4}-"))
        .then(pl.lit("bad_timestamp"))
        .when(raw.str.contains(rf"^{_TS}\s*$"))
        .then(pl.lit("no_source"))
        .otherwise(pl.lit("no_prefix"))
    )


# Platform messages in their complete shape: a head that already matches one was not cut.
COMPLETE_PLATFORM = (
    r"State changed from \S+ to \S+",
    r"Stopping (?:all processes|process|remaining processes) with SIG(?:TERM|KILL|HUP|INT|QUIT)",
    r"Process exited(?: with status -?\d+)?",
    r"Starting process with command:? `.*`(?: by \S+(?: \S+)?)?",
    r"(?:Error )?[RLH]\d\d(?: \([^)]*\))?.*",
    r"Process running mem=[0-9.]+[KMG]?B?\([0-9.]+%\)",
    r"Cycling|Restarting|Idling|Unidling|Awaiting client",
    r"Release v\d+ created by .+",
    r"Deploy [0-9a-f]+ by .+",
    r"Build (?:started by .+|succeeded|failed.*)",
    r"Scaled? to .+ by .+",
    r"source=\S+ dyno=heroku\.\S+(?: sample#\S+=[0-9.]+[A-Za-z]*)+",
)
_COMPLETE_RE = r"^\S+ [a-z]+\[[^\]]+\]: (?:" + "|".join(COMPLETE_PLATFORM) + r")$"
_PROMPT_RE = r"^(?:\S*[@:~]\S*\s*[$#>%]\s|[A-Za-z]:\\|\$ |> |PS )"
_MIN_WRAP_CHARS = 80
# A router line is complete when it ends with its last fields (bytes, then the optional ones).
_ROUTER_END = (
    r" status=\S* bytes=\d*(?: protocol=\S+)?(?: tls_version=\S+)?(?: agent=\"[^\"]*\")?\s*$"
)


def _join_ok(head: pl.Expr, joined: pl.Expr, tail: pl.Expr) -> pl.Expr:
    """Whether re-joining a head with its continuation lines gives a line that parses."""
    is_router = head.str.contains(r"^\S+ heroku\[router\]: ")
    is_platform = head.str.contains(r"^\S+ (?:heroku\[[^\]]+\]|app\[api\]): ")
    router_ok = ~head.str.contains(_ROUTER_END) & joined.str.contains(_ROUTER_END)
    platform_ok = ~head.str.contains(_COMPLETE_RE) & joined.str.contains(_COMPLETE_RE)
    fragment = ~head.str.contains(PREFIX_RE)
    app_ok = head.str.len_chars() >= _MIN_WRAP_CHARS
    return (
        pl.when(fragment)
        .then(True)
        .when(tail.str.contains(_PROMPT_RE))
        .then(False)
        .when(is_router)
        .then(router_ok)
        .when(is_platform)
        .then(platform_ok)
        .otherwise(app_ok)
    )


def join_wrapped(df: pl.DataFrame) -> pl.DataFrame:
    """Re-join lines a terminal hard-wrapped: a line without a prefix continues the line above.

    Two cases, both seen in real pasted exports:
    - a fragment cut inside the prefix (`2015-02-` then `17T18:03:03.03+00:00 heroku[...`): joined
      when the two together start with a full prefix;
    - non-blank lines without a prefix right after a line that has one: appended to it when
      the result parses (`_join_ok`): a router line must become complete (end with its
      `bytes=` field and the optional `protocol=`, `tls_version=`, `agent=` after it),
      a platform line must become one of the complete shapes in `COMPLETE_PLATFORM` and not
      be one already, an app line must be long enough to have wrapped (80+ characters), and
      a continuation that looks like a shell prompt is never joined.
    Everything else without a prefix stays alone and becomes a reject.
    """
    if "_has" not in df.columns:
        df = df.with_columns(_has=pl.col("raw").str.contains(PREFIX_RE))
    orphan = ~pl.col("_has")
    near = orphan | orphan.shift(-1, fill_value=False)
    if not df.select(orphan.any()).item():
        return df.drop("_has")
    idx = pl.int_range(pl.len(), dtype=pl.Int64).alias("_i")
    df = df.with_columns(idx)
    cand = df.filter(near | near.shift(1, fill_value=False))
    # Case 1: prefix split across two lines.
    nxt = pl.col("raw").shift(-1)
    pair = (
        orphan
        & orphan.shift(-1, fill_value=False)
        & (pl.col("_i").shift(-1) == pl.col("_i") + 1)
        & (pl.col("raw") + nxt).str.contains(PREFIX_RE)
        & (pl.col("raw").str.strip_chars() != "")
    )
    cand = cand.with_columns(_pair=pair.fill_null(False))
    cand = cand.with_columns(
        _pair_tail=pl.col("_pair").shift(1, fill_value=False),
    ).with_columns(
        _head=(pl.col("_has") | pl.col("_pair")),
        _blank=pl.col("raw").str.strip_chars() == "",
    )
    # Case 2: continuation lines after a head, up to a blank line or the next head.
    contiguous = pl.col("_i") == pl.col("_i").shift(1) + 1
    starts_group = pl.col("_head") | pl.col("_blank") | ~contiguous.fill_null(False)
    cand = cand.with_columns(_g=starts_group.cum_sum())
    cand = cand.with_columns(
        _gh=pl.col("_head").first().over("_g"),
        _gn=pl.len().over("_g"),
    )
    groups = (
        cand.filter(pl.col("_gh") & (pl.col("_gn") > 1))
        .group_by("_g", maintain_order=True)
        .agg(
            pl.col("_i").first(),
            pl.col("source_file").first(),
            pl.col("line_no").first(),
            pl.col("raw").str.join("").alias("joined"),
            pl.col("raw").first().alias("head"),
            pl.col("raw").slice(1).str.join("").alias("tail"),
            pl.col("_i").alias("_members"),
            pl.len().cast(pl.Int32).alias("line_count"),
        )
    )
    if groups.height == 0:
        return df.drop("_has", "_i")
    accept = _join_ok(pl.col("head"), pl.col("joined"), pl.col("tail"))
    groups = groups.filter(accept)
    if groups.height == 0:
        return df.drop("_has", "_i")
    used = groups.select(pl.col("_members").explode()).to_series()
    joined = groups.select(
        "_i", "source_file", "line_no", pl.col("joined").alias("raw"), "line_count"
    )
    rest = df.filter(~pl.col("_i").is_in(used.implode())).select(
        "_i", "source_file", "line_no", "raw", "line_count"
    )
    return pl.concat([rest, joined]).sort("_i").drop("_i")
