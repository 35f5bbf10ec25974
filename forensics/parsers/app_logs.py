"""Every other `app[<dyno>]` line -> the `app_logs` table, with the request id when it carries one.

    2019-05-01T11:14:52.561107+00:00 app[web.1]: I, [2019-05-01T20:14:52.561008 #11]  INFO -- :
    [32853e1c-a9c1-4d9b-910c-5e49389f928e]   Rendered home/show.html.haml (53.4ms)

    -> dyno=web.1, message="I, [2019-05-01T20:14:52.561008 #11]  INFO -- : [32853e1c-...] ...",
       request_id=32853e1c-a9c1-4d9b-910c-5e49389f928e

The request id is taken from logfmt `request_id=...`, JSON `"request_id"`/`"requestId"`, or a
bracketed UUID (Rails tagged logging), so app lines join to router lines on `request_id`.
"""

from __future__ import annotations

import polars as pl

from forensics import heroku, native

TABLE = "app_logs"

_UUID = heroku.UUID
REQUEST_ID_RE = (
    r"(?:request_id=(?:\"([^\"]*)\"|([^\s\"]+))|\"request_?[iI]d\"\s*:\s*\"([^\"]+)\"|\[("
    + _UUID
    + r")\])"
)


def matches() -> pl.Expr:
    """Envelope rows this parser owns: whatever no other parser took."""
    return pl.lit(True)


def parse(env: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """App envelope rows -> (app_logs rows, no rejects: any text is a valid app message)."""
    m = pl.col("message").str.extract_groups(REQUEST_ID_RE)
    df = env.with_columns(_m=m)
    f = pl.col("_m").struct.field
    rid = pl.coalesce(f("1"), f("2"), f("3"), f("4"))
    return df.with_columns(rid.alias("request_id")).drop("_m"), None


def parse_native(env: pl.LazyFrame) -> tuple[pl.LazyFrame, None]:
    """`parse` with the request id read by the compiled core (the same leftmost match)."""
    df = env.collect()
    return df.with_columns(
        native.request_ids(df.get_column("message")).alias("request_id")
    ).lazy(), None
