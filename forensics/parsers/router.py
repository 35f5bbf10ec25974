"""Router lines (`heroku[router]`) -> the `requests` table.

Current logfmt form (keys in any order, values quoted, bare or empty):

    2016-01-15T16:13:56.982182+00:00 heroku[router]: at=error code=H12 desc="Request timeout"
    method=POST path="/" host=sendgridwebhooks.herokuapp.com request_id=7c9ad137-...
    fwd="167.89.121.247" dyno=web.1 connect=2ms service=30000ms status=503 bytes=0

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

from forensics import native
from forensics.parsers import logfmt
from forensics.routes import route_expr, split_path

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


_KNOWN_PAIR_RE = r"(?:^|\s)(?:" + "|".join(KEYS) + r')=(?:"[^"]*"|[^\s"]*)'


def matches() -> pl.Expr:
    """Envelope rows this parser owns."""
    return (pl.col("origin") == "heroku") & (pl.col("dyno") == "router")


def _nz(e: pl.Expr) -> pl.Expr:
    """Empty string -> null."""
    return pl.when(e == "").then(None).otherwise(e)


def _int(e: pl.Expr) -> pl.Expr:
    """`30000ms`, `30000` or `` -> integer or null."""
    return e.str.strip_suffix("ms").cast(pl.Int64, strict=False)


def _fields(m: pl.Expr, names: tuple[str, ...]) -> list[pl.Expr]:
    return [m.struct.field(str(i + 1)).alias(f"_{n}") for i, n in enumerate(names)]


def parse(env: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Router envelope rows -> (requests rows, rejects), as one lazy plan.

    The usual `at=info` line is split on spaces and checked key by key (no regex); only the
    other rows go through the anchored regex, then the legacy regex, then per-key logfmt
    extraction. Each regex match is materialized as a column before its fields are read.
    """
    msg = pl.col("message")
    split = (
        env.with_columns(_t=msg.str.splitn(" ", len(_CANON) + 1))
        .with_columns(_canon=_canonical_ok(pl.col("_t").struct.field))
        .collect()
    )
    lf = split.lazy()
    canon = lf.filter(pl.col("_canon")).with_columns(
        *[_canonical_value(k).alias(f"_{k}") for k in _CANON],
        *[pl.lit(None, dtype=pl.String).alias(f"_{k}") for k in KEYS if k not in _CANON],
        pl.lit(False).alias("legacy"),
    )
    parts = [canon]
    if not split.get_column("_canon").all():  # the fallbacks' plan only when a row needs it
        parts.append(_parse_other(lf.filter(~pl.col("_canon"))))
    parsed = _with_routes(
        _finish(pl.concat(parts, how="diagonal_relaxed").drop("_t", "_canon", strict=False))
    )
    return _split_rejects(parsed)


def parse_native(env: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """`parse` with the usual line and the lines in `FAST_RE`'s key order (errors, warnings)
    read by the compiled core; every other line goes through the same Polars fallbacks (and a
    batch with an odd number in a line the core took, all of it). The rows the Polars parser
    takes apart stay after the canonical ones, in their order (`_row`), as in `parse`."""
    df = env.collect()
    cols = native.router_canonical(df.get_column("message"))
    if cols.get_column("odd").any():
        return parse(df.lazy())
    canonical, fast = cols.get_column("canonical"), cols.get_column("fast")
    typed = (
        df.drop("dyno")
        .hstack(cols.drop("canonical", "fast", "odd"))
        .with_columns(pl.lit(False).alias("legacy"))
    )
    parts = [typed.filter(canonical).drop(*_PREFIX).lazy()]
    other = ~(canonical | fast)
    if fast.any() and other.any():
        rest = _finish(_parse_other(df.lazy().filter(other)))
        both = pl.concat([typed.filter(fast).lazy(), rest], how="diagonal_relaxed")
        parts.append(both.sort("_row"))
    elif fast.any():
        parts.append(typed.filter(fast).lazy())
    elif other.any():
        parts.append(_finish(_parse_other(df.lazy().filter(other))))
    return _split_rejects(_with_native_routes(pl.concat(parts, how="diagonal_relaxed").collect()))


# The keys before `method` that only the fast form has (the core's columns for them).
_PREFIX = ("sock", "code", "desc", "cause")


def _split_rejects(parsed: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(requests rows, rejects): a router line with neither a method nor a path is rejected."""
    ok = pl.col("method").is_not_null() | pl.col("path").is_not_null()
    rebuilt = pl.concat_str(pl.lit("heroku[router]: "), "message")
    rejects = parsed.filter(~ok).select(
        "source_file", "line_no", "line_count", "byte_offset", "_row",
        rebuilt.alias("raw"),  # parse_envelope puts the input line back when it has it
        pl.lit("router_unparsed").alias("reason"),
    )  # fmt: skip
    return parsed.filter(ok), rejects


def _parse_other(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Rows that are not the usual line: any key order, errors, legacy and odd forms."""
    msg = pl.col("message")
    lf = lf.with_columns(_m=msg.str.extract_groups(FAST_RE))
    fast_ok = pl.col("_m").struct.field("6").is_not_null()
    lf = lf.with_columns(_lm=pl.when(~fast_ok).then(msg).str.extract_groups(LEGACY_RE))
    legacy_ok = pl.col("_lm").struct.field("3").is_not_null()
    generic = pl.when(~fast_ok & ~legacy_ok).then(msg)
    rest = pl.col("_rest")
    fast = dict(zip(_FAST_FIELDS, range(1, len(_FAST_FIELDS) + 1), strict=True))
    legacy = dict(zip(_LEGACY_FIELDS, range(1, len(_LEGACY_FIELDS) + 1), strict=True))

    def field(key: str) -> pl.Expr:
        options = []
        if key in ("path", "fwd"):
            options.append(pl.coalesce(_f("_m", fast[f"{key}_q"]), _f("_m", fast[f"{key}_b"])))
        elif key in fast:
            options.append(_f("_m", fast[key]))
        if key in legacy:
            options.append(_f("_lm", legacy[key]))
        options.append(logfmt.value(generic, key))
        options.append(logfmt.value(rest, key))
        return pl.coalesce(options).alias(f"_{key}")

    # Keys after the usual ones that the anchored regexes left in the tail (`tls=true
    # tls_version=...` from Router 2.0, unknown keys) are read from it; the rest is `extra`.
    lf = lf.with_columns(
        _rest=pl.coalesce(_f("_m", fast["rest"]), _f("_lm", legacy["rest"])).str.strip_chars()
    )
    bare = pl.when(generic.is_not_null()).then(generic.str.extract(r"^(info|warning|error) ", 1))
    lf = lf.with_columns(
        *[field(k) for k in KEYS],
        _f("_lm", legacy["queue"]).cast(pl.Int64, strict=False).alias("queue"),
        _f("_lm", legacy["wait"]).cast(pl.Int64, strict=False).alias("wait_ms"),
        pl.coalesce(_leftover(rest), logfmt.extra(generic, KEYS)).alias("extra"),
        legacy_ok.alias("legacy"),
        bare.alias("_bare_at"),
    )
    return lf.with_columns(
        pl.when(pl.col("legacy") & pl.col("_code").is_not_null())
        .then(pl.lit("error"))
        .otherwise(pl.coalesce("_at", "_bare_at"))
        .alias("_at")
    ).drop("_m", "_lm", "_rest", "_bare_at")


# The usual line, `at=info method=GET path="/" host=h request_id=r fwd="f" dyno=web.1
# connect=1ms service=18ms status=200 bytes=13 protocol=https`, is read by splitting on spaces
# and checking every key: several times cheaper than any regex. Other lines fall through.
_CANON = ("at", "method", "path", "host", "request_id", "fwd", "dyno", "connect", "service",
          "status", "bytes", "protocol")  # fmt: skip
_QUOTED = ("path", "fwd")


def _canonical_ok(field) -> pl.Expr:
    ok = field("field_0") == "at=info"
    for i, key in enumerate(_CANON[1:-1], start=1):
        tok = field(f"field_{i}")
        if key in _QUOTED:
            ok = ok & tok.str.starts_with(f'{key}="') & tok.str.ends_with('"')
        else:
            ok = ok & tok.str.starts_with(f"{key}=")
    last = field(f"field_{len(_CANON) - 1}")
    ok = ok & (last.is_null() | last.str.starts_with("protocol="))
    return (ok & field(f"field_{len(_CANON)}").is_null()).fill_null(False)


def _canonical_value(key: str) -> pl.Expr:
    tok = pl.col("_t").struct.field(f"field_{_CANON.index(key)}")
    if key in _QUOTED:
        value = tok.str.slice(len(key) + 2).str.strip_suffix('"')
    else:
        value = tok.str.slice(len(key) + 1)
    return value


def _f(col: str, i: int) -> pl.Expr:
    return pl.col(col).struct.field(str(i))


def _leftover(rest: pl.Expr) -> pl.Expr:
    """The tail without the keys that have columns; null when nothing is left."""
    left = rest.str.replace_all(_KNOWN_PAIR_RE, "").str.strip_chars()
    return pl.when(left == "").then(None).otherwise(left)


def _with_routes(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Add `route`, templated once per distinct path (paths repeat: ~4x less regex work)."""
    lf = lf.cache()
    routes = lf.select("path").unique().with_columns(route_expr(pl.col("path")).alias("route"))
    return lf.join(routes, on="path", how="left", nulls_equal=True, maintain_order="left")


def _with_native_routes(df: pl.DataFrame) -> pl.LazyFrame:
    """`_with_routes` with the compiled core templating each row's path (cheaper per row than
    the distinct paths and a join); paths it does not take (not plain ASCII) get the Polars
    rules."""
    out = native.route_templates(df.get_column("path"))
    handled, route = out.get_column("handled"), out.get_column("route")
    if not handled.all():
        rows = (~handled).arg_true()
        rest = df.select(route_expr(pl.col("path").gather(rows))).to_series()
        route = route.scatter(rows, rest)
    return df.with_columns(route.alias("route")).lazy()


def _finish(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Turn the `_key` text columns into typed request columns."""
    path, query, _ = split_path(pl.col("_path"))
    return lf.with_columns(
        _nz(pl.col("_dyno")).alias("dyno"),
        _nz(pl.col("_method")).alias("method"),
        path.alias("path"),
        query.alias("query"),
        _nz(pl.col("_host")).alias("host"),
        _nz(pl.col("_request_id")).alias("request_id"),
        _nz(pl.col("_fwd")).alias("fwd"),
        _int(pl.col("_connect")).alias("connect_ms"),
        _int(pl.col("_service")).alias("service_ms"),
        # not strict: a status past Int32 (a mangled line) is null, not a failed batch
        _int(pl.col("_status")).cast(pl.Int32, strict=False).alias("status"),
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
