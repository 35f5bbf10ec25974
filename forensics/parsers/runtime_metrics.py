"""log-runtime-metrics lines (`heroku[<dyno>]`) -> the `dyno_metrics` table, one row per line.

Memory line (load lines have `sample#load_avg_1m/5m/15m` instead):

    2019-11-25T18:28:15.490955+00:00 heroku[background_worker.1]: source=background_worker.1
    dyno=heroku.97268060.cfb234af-179b-484d-87ef-49cf17de13ae sample#memory_total=324.41MB
    sample#memory_rss=317.93MB sample#memory_cache=6.48MB sample#memory_swap=0.00MB
    sample#memory_pgpgin=145418pages sample#memory_pgpgout=62370pages sample#memory_quota=512.00MB

    -> dyno=background_worker.1, dyno_id=heroku.97268060.cfb234af-...,
       memory_total_mb=324.41, memory_rss_mb=317.93, memory_cache_mb=6.48, memory_swap_mb=0.0,
       memory_pgpgin_pages=145418, memory_pgpgout_pages=62370, memory_quota_mb=512.0

2013 pre-release form, one metric per line:

    source=heroku.2808254.web.1.d97d0ea7-cf3d-411b-b453-d2943a50b456 measure=load_avg_1m val=2.46
    -> dyno=web.1, dyno_id=heroku.2808254.d97d0ea7-..., load_avg_1m=2.46

Values in kB or GB are converted to MB; unknown `sample#` keys go to `extra`.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from forensics import heroku, native
from forensics.parsers import logfmt

TABLE = "dyno_metrics"

_MB_KEYS = ("memory_total", "memory_rss", "memory_cache", "memory_swap", "memory_quota")
_PAGE_KEYS = ("memory_pgpgin", "memory_pgpgout")
_LOAD_KEYS = ("load_avg_1m", "load_avg_5m", "load_avg_15m")
KNOWN = ("source", "dyno", *(f"sample#{k}" for k in (*_MB_KEYS, *_PAGE_KEYS, *_LOAD_KEYS)))
# 2013-era: `source=heroku.<app id>.<dyno name>.<uuid> measure=... val=...`
_OLD_RE = rf"^source=heroku\.(\d+)\.(.+)\.({heroku.UUID}) measure=(\S+) val=([0-9.eE+-]+)(.*)$"


def matches() -> pl.Expr:
    """Envelope rows this parser owns: heroku-origin `source=... dyno=heroku.` samples."""
    msg = pl.col("message")
    new = (
        msg.str.starts_with("source=")
        & msg.str.contains(" dyno=heroku.", literal=True)
        & msg.str.contains(" sample#", literal=True)
    )
    old = msg.str.starts_with("source=heroku.") & msg.str.contains(" measure=", literal=True)
    return (pl.col("origin") == "heroku") & (new | old)


def _mb(raw: pl.Expr) -> pl.Expr:
    m = raw.str.extract_groups(r"^([0-9.eE+-]+)\s*([A-Za-z]*)$")
    num = m.struct.field("1").cast(pl.Float64, strict=False)
    unit = m.struct.field("2").str.to_lowercase()
    factor = pl.when(unit == "kb").then(1 / 1024).when(unit == "gb").then(1024.0).otherwise(1.0)
    return num * factor


_NUM = r"([0-9.]+)"
MEM_RE = (
    rf"^source=(\S+) dyno=(\S+) sample#memory_total={_NUM}MB sample#memory_rss={_NUM}MB "
    rf"sample#memory_cache={_NUM}MB sample#memory_swap={_NUM}MB "
    rf"sample#memory_pgpgin=(\d+)pages sample#memory_pgpgout=(\d+)pages"
    rf"(?: sample#memory_quota={_NUM}MB)?$"
)
_MEM_FIELDS = ("dyno", "dyno_id", *(f"{k}_mb" for k in _MB_KEYS[:4]),
               *(f"{k}_pages" for k in _PAGE_KEYS), "memory_quota_mb")  # fmt: skip
LOAD_RE = (
    rf"^source=(\S+) dyno=(\S+) sample#load_avg_1m={_NUM} sample#load_avg_5m={_NUM} "
    rf"sample#load_avg_15m={_NUM}$"
)
_LOAD_FIELDS = ("dyno", "dyno_id", *_LOAD_KEYS)


def parse(env: pl.LazyFrame) -> tuple[pl.LazyFrame, None]:
    """Runtime-metrics rows -> (dyno_metrics rows, no rejects: every line has a dyno).

    The usual memory and load lines match one anchored regex each; any other order, unit or
    key set goes through the per-key logfmt path, and the 2013 `measure=` form its own regex.
    The matches are materialized first, and the fallbacks' plan is built only when a row needs
    it (a batch of usual lines then skips ~15 per-key extractions: ~4 ms of ~12 per batch).
    """
    msg = pl.col("message")
    is_old = msg.str.starts_with("source=heroku.") & msg.str.contains(" measure=", literal=True)
    mem_ok = pl.col("_mem").struct.field("1").is_not_null()
    load_ok = pl.col("_load").struct.field("1").is_not_null()
    matched = (
        env.with_columns(_mem=msg.str.extract_groups(MEM_RE), _old=is_old)
        .with_columns(_load=pl.when(~mem_ok).then(msg).str.extract_groups(LOAD_RE))
        .with_columns(_usual=mem_ok | load_ok)
        .collect()
    )
    lf = matched.lazy()
    if matched.get_column("_usual").all():
        cols = _columns(lambda key, suffix: [])
    else:
        lf = lf.with_columns(
            _gen=pl.when(~pl.col("_usual") & ~pl.col("_old")).then(msg),
            _om=pl.when(pl.col("_old")).then(msg).str.extract_groups(_OLD_RE),
        )
        cols = _columns(_fallbacks)
        cols.append(_extra().alias("extra"))
    return lf.with_columns(cols).drop(
        "_mem", "_load", "_gen", "_om", "_old", "_usual", strict=False
    ), None


def parse_native(env: pl.LazyFrame) -> tuple[pl.LazyFrame, None]:
    """`parse` with the usual memory and load lines read by the compiled core; every other
    line goes through `parse`, and the rows keep their order (`_row`)."""
    df = env.collect()
    cols = native.runtime_metrics(df.get_column("message"))
    handled = cols.get_column("handled")
    usual = df.drop("dyno").hstack(cols.drop("handled"))
    if handled.all():
        return usual.lazy(), None
    rest, _ = parse(df.lazy().filter(~handled))
    rows = pl.concat([usual.lazy().filter(handled), rest], how="diagonal_relaxed")
    return rows.sort("_row"), None


def _fast(name: str) -> list[pl.Expr]:
    """The field `name` from the usual memory or load line's match."""
    out = []
    for col, fields in (("_mem", _MEM_FIELDS), ("_load", _LOAD_FIELDS)):
        if name in fields:
            out.append(pl.col(col).struct.field(str(fields.index(name) + 1)))
    return out


# Value columns: (keys, column suffix, type).
_VALUES = (
    (_MB_KEYS, "_mb", pl.Float64),
    (_PAGE_KEYS, "_pages", pl.Int64),
    (_LOAD_KEYS, "", pl.Float64),
)


def _columns(fallbacks: Callable[[str, str], list[pl.Expr]]) -> list[pl.Expr]:
    """Each output column: the usual lines' field, then `fallbacks(key, suffix)` in order."""
    cols = [
        pl.coalesce(*_fast("dyno"), *fallbacks("dyno", ""), pl.col("dyno")).alias("dyno"),
        pl.coalesce(*_fast("dyno_id"), *fallbacks("dyno_id", "")).alias("dyno_id"),
    ]
    for keys, suffix, dtype in _VALUES:
        for k in keys:
            # not strict: a number the regex took but no cast reads (`3.2.4`, a Unicode digit,
            # 19+ digits) is null, not a failed batch
            fast = [e.cast(dtype, strict=False) for e in _fast(k + suffix)]
            cols.append(pl.coalesce(*fast, *fallbacks(k, suffix)).alias(k + suffix))
    return cols


def _fallbacks(key: str, suffix: str) -> list[pl.Expr]:
    """`key` from any other logfmt form (`_gen`), then from the 2013 `measure=` form (`_om`)."""
    gen, f_old = pl.col("_gen"), pl.col("_om").struct.field
    if key == "dyno":
        return [logfmt.value(gen, "source"), f_old("2")]
    if key == "dyno_id":
        old_id = pl.concat_str(pl.lit("heroku."), f_old("1"), pl.lit("."), f_old("3"))
        return [logfmt.value(gen, "dyno"), old_id]
    raw = logfmt.value(gen, f"sample#{key}")
    old = pl.when(f_old("4") == key).then(f_old("5").cast(pl.Float64, strict=False))
    if suffix == "_mb":
        return [_mb(raw), old]
    if suffix == "_pages":
        pages = raw.str.extract(r"^(\d+)", 1)
        return [pages.cast(pl.Int64, strict=False), old.cast(pl.Int64, strict=False)]
    return [raw.cast(pl.Float64, strict=False), old]


def _extra() -> pl.Expr:
    """Unknown `sample#` keys, and the 2013 form's unknown measures, as `key=value`."""
    f_old = pl.col("_om").struct.field
    known_old = [*_LOAD_KEYS, *_MB_KEYS, *_PAGE_KEYS]
    return pl.coalesce(
        logfmt.extra(pl.col("_gen"), KNOWN),
        pl.when(pl.col("_old") & ~f_old("4").is_in(known_old)).then(
            pl.concat_str(f_old("4"), pl.lit("="), f_old("5"))
        ),
    )
