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

import polars as pl

from forensics.parsers import logfmt

TABLE = "dyno_metrics"

_MB_KEYS = ("memory_total", "memory_rss", "memory_cache", "memory_swap", "memory_quota")
_PAGE_KEYS = ("memory_pgpgin", "memory_pgpgout")
_LOAD_KEYS = ("load_avg_1m", "load_avg_5m", "load_avg_15m")
KNOWN = ("source", "dyno", *(f"sample#{k}" for k in (*_MB_KEYS, *_PAGE_KEYS, *_LOAD_KEYS)))
_OLD_RE = r"^source=heroku\.(\d+)\.(.+)\.([0-9a-f-]{36}) measure=(\S+) val=([0-9.eE+-]+)(.*)$"


def matches() -> pl.Expr:
    """Envelope rows this parser owns: heroku-origin `source=... dyno=heroku.` samples."""
    msg = pl.col("message")
    new = msg.str.starts_with("source=") & msg.str.contains(r" dyno=heroku\.\S* sample#")
    old = msg.str.starts_with("source=heroku.") & msg.str.contains(" measure=")
    return (pl.col("origin") == "heroku") & (new | old)


def _mb(raw: pl.Expr) -> pl.Expr:
    m = raw.str.extract_groups(r"^([0-9.eE+-]+)\s*([A-Za-z]*)$")
    num = m.struct.field("1").cast(pl.Float64, strict=False)
    unit = m.struct.field("2").str.to_lowercase()
    factor = (
        pl.when(unit == "kb").then(1 / 1024).when(unit == "gb").then(1024.0).otherwise(1.0)
    )
    return num * factor


def parse(env: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Runtime-metrics envelope rows -> (dyno_metrics rows, no rejects: every line has a dyno)."""
    msg = pl.col("message")
    is_old = msg.str.starts_with("source=heroku.") & msg.str.contains(" measure=")
    new = env.filter(~is_old).with_columns(
        pl.coalesce(logfmt.value(msg, "source"), pl.col("dyno")).alias("dyno"),
        logfmt.value(msg, "dyno").alias("dyno_id"),
        *[_mb(logfmt.value(msg, f"sample#{k}")).alias(f"{k}_mb") for k in _MB_KEYS],
        *[
            logfmt.value(msg, f"sample#{k}").str.extract(r"^(\d+)", 1).cast(pl.Int64)
            .alias(f"{k}_pages")
            for k in _PAGE_KEYS
        ],
        *[logfmt.value(msg, f"sample#{k}").cast(pl.Float64, strict=False).alias(k) for k in _LOAD_KEYS],
        logfmt.extra(msg, KNOWN).alias("extra"),
    )  # fmt: skip
    old = env.filter(is_old).with_columns(_m=msg.str.extract_groups(_OLD_RE))
    f = pl.col("_m").struct.field
    measure = f("4")
    val = f("5").cast(pl.Float64, strict=False)
    old = old.with_columns(
        pl.coalesce(f("2"), pl.col("dyno")).alias("dyno"),
        pl.concat_str(pl.lit("heroku."), f("1"), pl.lit("."), f("3")).alias("dyno_id"),
        *[pl.when(measure == k).then(val).alias(k) for k in _LOAD_KEYS],
        *[pl.when(measure == k).then(val).alias(f"{k}_mb") for k in _MB_KEYS],
        *[pl.when(measure == k).then(val.cast(pl.Int64)).alias(f"{k}_pages") for k in _PAGE_KEYS],
        pl.when(~measure.is_in([*_LOAD_KEYS, *_MB_KEYS, *_PAGE_KEYS]))
        .then(pl.concat_str(measure, pl.lit("="), f("5")))
        .alias("extra"),
    ).drop("_m")
    out = pl.concat([new, old], how="diagonal_relaxed")
    return out, None
