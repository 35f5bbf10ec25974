"""Router lines (`heroku[router]`) -> the `requests` table.

Current logfmt form (keys in any order, values quoted, bare or empty):

    2016-01-15T16:13:56.982182+00:00 heroku[router]: at=error code=H12 desc="Request timeout"
    method=POST path="/" host=sendgridwebhooks.herokuapp.com request_id=7c9ad137-... fwd="167.89.121.247"
    dyno=web.1 connect=2ms service=30000ms status=503 bytes=0

    -> at=error, code=H12, desc="Request timeout", method=POST, path=/, route=/, host=...,
       dyno=web.1, connect_ms=2, service_ms=30000, status=503, bytes=0, legacy=false

Legacy form (before late 2012), with `queue=` and `wait=`:

    2012-01-20T02:10:47+00:00 heroku[router]: Error H12 (Request timeout) -> POST
    morning-dawn-8986.herokuapp.com/autoprovision/58 dyno=web.1 queue= wait= service=30000ms
    status=503 bytes=0

    -> code=H12, desc="Request timeout", at=error, method=POST, host=morning-dawn-8986...,
       path=/autoprovision/58, route=/autoprovision/:id, service_ms=30000, status=503, legacy=true

Empty values (`dyno= connect= status= bytes=`) become nulls; `ms` units are optional (H25/H26).
Most lines match one anchored regex in the usual key order; the rest fall back to a per-key
extraction, so key order never matters. Unknown keys land in `extra`. A router line with neither
a method nor a path is rejected as `router_unparsed`.
"""

from __future__ import annotations

import polars as pl

from forensics.parsers import logfmt
from forensics.routes import split_path

TABLE = "requests"

KEYS = (
    "sock", "at", "code", "desc", "cause", "method", "path", "host", "request_id", "fwd",
    "dyno", "connect", "service", "status", "bytes", "protocol", "tls_version", "agent",
)  # fmt: skip

_Q = r'(?:"([^"]*)"|([^\s"]*))'
FAST_RE = (
    r"^(?:sock=(\S*) )?(?:at=(\S*) )?(?:code=(\S*) )?(?:desc=\"([^\"]*)\" )?"
    r"(?:cause=\"([^\"]*)\" )?method=(\S*) path=" + _Q + r" host=(\S*) "
    r"(?:request_id=(\S*) )?fwd=" + _Q + r" dyno=(\S*) connect=(\d*)(?:ms)? "
    r"service=(\d*)(?:ms)? status=(\d*) bytes=(\d*)(?: protocol=(\S*))?"
    r"(?: tls_version=(\S*))?(?: agent=\"([^\"]*)\")?(.*)$"
)
_FAST_FIELDS = (
    "sock", "at", "code", "desc", "cause", "method", "path_q", "path_b", "host", "request_id",
    "fwd_q", "fwd_b", "dyno", "connect", "service", "status", "bytes", "protocol",
    "tls_version", "agent", "rest",
)  # fmt: skip

LEGACY_RE = (
    r"^(?:Error (H\d+) \(([^)]*)\) -> )?([A-Z]+) ([^/\s]+)(/\S*) dyno=(\S*) queue=(\d*) "
    r"wait=(\d*)(?:ms)? service=(\d*)(?:ms)?(?: status=(\d*))? bytes=(\d*)(.*)$"
)
_LEGACY_FIELDS = (
    "code", "desc", "method", "host", "path", "dyno", "queue", "wait", "service", "status",
    "bytes", "rest",
)  # fmt: skip


def matches() -> pl.Expr:
    """Envelope rows this parser owns."""
    return (pl.col("origin") == "heroku") & (pl.col("dyno") == "router")


def _nz(e: pl.Expr) -> pl.Expr:
    """Empty string -> null."""
    return pl.when(e == "").then(None).otherwise(e)


def _int(e: pl.Expr) -> pl.Expr:
    return e.str.extract(r"^(\d+)", 1).cast(pl.Int64, strict=False)


def _fields(m: pl.Expr, names: tuple[str, ...]) -> list[pl.Expr]:
    return [m.struct.field(str(i + 1)).alias(f"_{n}") for i, n in enumerate(names)]


def parse(env: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Router envelope rows -> (requests rows, rejects)."""
    msg = pl.col("message")
    df = env.with_columns(_m=msg.str.extract_groups(FAST_RE))
    df = df.with_columns(_fast=pl.col("_m").struct.field("6").is_not_null())
    fast = df.filter(pl.col("_fast")).with_columns(_fields(pl.col("_m"), _FAST_FIELDS))
    fast = fast.with_columns(
        pl.coalesce("_path_q", "_path_b").alias("_path"),
        pl.coalesce("_fwd_q", "_fwd_b").alias("_fwd"),
        _extra_from_rest(pl.col("_rest")).alias("extra"),
        pl.lit(False).alias("legacy"),
    )
    slow = df.filter(~pl.col("_fast")).drop("_m")
    slow = slow.with_columns(_m=msg.str.extract_groups(LEGACY_RE))
    legacy = slow.filter(pl.col("_m").struct.field("3").is_not_null())
    legacy = legacy.with_columns(_fields(pl.col("_m"), _LEGACY_FIELDS)).with_columns(
        pl.when(pl.col("_code").is_not_null()).then(pl.lit("error")).alias("_at"),
        pl.col("_queue").cast(pl.Int64, strict=False).alias("queue"),
        pl.col("_wait").cast(pl.Int64, strict=False).alias("wait_ms"),
        _extra_from_rest(pl.col("_rest")).alias("extra"),
        pl.lit(True).alias("legacy"),
    )
    generic = slow.filter(pl.col("_m").struct.field("3").is_null())
    generic = generic.with_columns(
        *[logfmt.value(msg, k).alias(f"_{k}") for k in KEYS],
        logfmt.extra(msg, KEYS).alias("extra"),
        pl.lit(False).alias("legacy"),
    )
    parsed = pl.concat(
        [_finish(fast), _finish(legacy), _finish(generic)], how="diagonal_relaxed"
    )
    ok = pl.col("method").is_not_null() | pl.col("path").is_not_null()
    rejects = parsed.filter(~ok).select(
        "source_file", "line_no", "line_count", "byte_offset",
        pl.concat_str(pl.lit("heroku[router]: "), "message").alias("raw"),
        pl.lit("router_unparsed").alias("reason"),
    )  # fmt: skip
    return parsed.filter(ok), rejects


def _extra_from_rest(rest: pl.Expr) -> pl.Expr:
    trimmed = rest.str.strip_chars()
    return pl.when(trimmed == "").then(None).otherwise(trimmed)


def _finish(df: pl.DataFrame) -> pl.DataFrame:
    """Turn the `_key` text columns into typed request columns."""
    if df.height == 0:
        return df
    for k in ("sock", "cause", "protocol", "tls_version", "agent", "request_id", "fwd"):
        if f"_{k}" not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(f"_{k}"))
    if "_connect" not in df.columns:
        df = df.with_columns(pl.lit(None, dtype=pl.String).alias("_connect"))
    path, query, route = split_path(pl.col("_path"))
    return df.with_columns(
        _nz(pl.col("_dyno")).alias("dyno"),
        _nz(pl.col("_method")).alias("method"),
        path.alias("path"),
        route.alias("route"),
        query.alias("query"),
        _nz(pl.col("_host")).alias("host"),
        _nz(pl.col("_request_id")).alias("request_id"),
        _nz(pl.col("_fwd")).alias("fwd"),
        _int(pl.col("_connect")).alias("connect_ms"),
        _int(pl.col("_service")).alias("service_ms"),
        _int(pl.col("_status")).cast(pl.Int32).alias("status"),
        _int(pl.col("_bytes")).alias("bytes"),
        _nz(pl.col("_protocol")).alias("protocol"),
        _nz(pl.col("_at")).alias("at"),
        _nz(pl.col("_code")).alias("code"),
        _nz(pl.col("_desc")).alias("desc"),
        _nz(pl.col("_sock")).alias("sock"),
        _nz(pl.col("_cause")).alias("cause"),
        _nz(pl.col("_tls_version")).alias("tls_version"),
        _nz(pl.col("_agent")).alias("agent"),
    )
