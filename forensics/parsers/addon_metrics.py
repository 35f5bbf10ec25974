"""Add-on and custom `sample#` lines -> the `addon_metrics` table, one row per sample.

Heroku Postgres / Redis metrics (and any other `source=... sample#...` line):

    2016-07-08T23:29:17+00:00 app[heroku-redis]: source=REDIS sample#active-connections=3
    sample#load-avg-1m=0.04 sample#memory-total=15664216.0kB sample#memory-redis=3045976bytes

    -> (dyno=heroku-redis, addon=null, source=REDIS, metric=active-connections, value=3, unit=null)
       (..., metric=load-avg-1m, value=0.04, unit=null)
       (..., metric=memory-total, value=15664216.0, unit=kB)
       (..., metric=memory-redis, value=3045976, unit=bytes)

`addon=` names the add-on on newer lines. Values keep the unit they were logged with (`bytes`,
`kB`, `MB`, `pages`) in `unit`. A sample whose value is not a number keeps a null `value` and
its text in `extra`; other keys of the line (not `source`, `addon`) go to `extra` too.
"""

from __future__ import annotations

import polars as pl

from forensics.parsers import logfmt

TABLE = "addon_metrics"

ADDON_DYNOS = ("heroku-postgres", "heroku-redis", "heroku-kafka")
_SAMPLE_RE = r"sample#([^=\s]+)=(\S*)"


def matches() -> pl.Expr:
    """Envelope rows this parser owns (checked after the runtime-metrics parser)."""
    msg = pl.col("message")
    sample = msg.str.contains("sample#", literal=True)
    logfmt_head = (
        msg.str.starts_with("source=")
        | msg.str.starts_with("addon=")
        | msg.str.starts_with("sample#")
    )
    return sample & (logfmt_head | pl.col("dyno").is_in(ADDON_DYNOS))


def parse(env: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Sample lines -> (one addon_metrics row per `sample#key=value`, no rejects)."""
    msg = pl.col("message")
    df = env.with_columns(
        logfmt.value(msg, "source").alias("source"),
        logfmt.value(msg, "addon").alias("addon"),
        msg.str.extract_all(_SAMPLE_RE).alias("_s"),
        msg.str.replace_all(_SAMPLE_RE, "").alias("_rest"),
    ).explode("_s")
    m = pl.col("_s").str.extract_groups(r"^sample#([^=\s]+)=([0-9.eE+-]*)([A-Za-z%]*)$")
    df = df.with_columns(_m=m).with_columns(
        pl.col("_m").struct.field("1").alias("metric"),
        pl.col("_m").struct.field("2").cast(pl.Float64, strict=False).alias("value"),
        pl.col("_m").struct.field("3").alias("unit"),
    )
    numeric = pl.col("value").is_not_null()
    other = logfmt.extra(pl.col("_rest"), ("source", "addon"))
    df = df.with_columns(
        pl.when(numeric & (pl.col("unit") != "")).then("unit").alias("unit"),
        pl.when(numeric)
        .then("metric")
        .otherwise(pl.col("_s").str.extract(r"^sample#([^=]+)", 1))
        .alias("metric"),
        pl.concat_str(
            [pl.when(~numeric).then(pl.col("_s")), other], separator=" ", ignore_nulls=True
        ).alias("extra"),
    )
    df = df.with_columns(
        pl.when(pl.col("extra") == "").then(None).otherwise("extra").alias("extra")
    )
    return df, None
