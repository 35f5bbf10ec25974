"""The dataset schema, in one place: every table, column, Polars type, unit and meaning.

Readers, parsers, the writer, the analyses and the README table all read it from here,
so a column is added or renamed in exactly one spot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import polars as pl

SCHEMA_VERSION = 1

TS = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class Column:
    """One column: its name, Polars dtype, unit (or "") and a one-line meaning."""

    name: str
    dtype: pl.DataType
    unit: str
    doc: str


def _c(name: str, dtype: pl.DataType, unit: str, doc: str) -> Column:
    return Column(name, dtype, unit, doc)


# Every row of every table says where it came from.
PROVENANCE = (
    _c("source_file", pl.String, "", "input file the row came from ('-' for stdin)"),
    _c("line_no", pl.Int64, "", "1-based line number of the (first) input line, like grep -n"),
    _c("line_count", pl.Int32, "", "how many input lines make this row (>1 for re-joined wraps)"),
    _c("byte_offset", pl.Int64, "bytes", "offset of the frame in its file (framed input only)"),
)

_COMMON = (
    _c("ts", TS, "UTC", "timestamp of the log line, normalized to UTC"),
    _c("app", pl.String, "", "Heroku app name (from --app or the format; null if unknown)"),
)

TABLES: dict[str, tuple[Column, ...]] = {
    "requests": (
        *_COMMON,
        _c("dyno", pl.String, "", "dyno that served the request (null when none was chosen)"),
        _c("method", pl.String, "", "HTTP method"),
        _c("path", pl.String, "", "request path without the query string"),
        _c("route", pl.String, "", "path template: ids, UUIDs, hashes, tokens become :id"),
        _c("query", pl.String, "", "query string without the leading '?'"),
        _c("host", pl.String, "", "Host header"),
        _c("request_id", pl.String, "", "X-Request-ID"),
        _c("fwd", pl.String, "", "X-Forwarded-For (may be a comma list)"),
        _c("connect_ms", pl.Int64, "ms", "time to connect to the dyno"),
        _c("service_ms", pl.Int64, "ms", "time proxying the request"),
        _c("status", pl.Int32, "", "HTTP status sent to the client"),
        _c("bytes", pl.Int64, "bytes", "response size"),
        _c("protocol", pl.String, "", "http or https"),
        _c("at", pl.String, "", "info, warning or error"),
        _c("code", pl.String, "", "Heroku router error code (H12, H27, ...)"),
        _c("desc", pl.String, "", "error description"),
        _c("sock", pl.String, "", "client or backend (H18, H27)"),
        _c("cause", pl.String, "", "sub-cause (H26)"),
        _c("tls_version", pl.String, "", "TLS version (Router 2.0 / labs)"),
        _c("agent", pl.String, "", "User-Agent (H31)"),
        _c("queue", pl.Int64, "", "router queue depth (legacy lines before Oct 2012)"),
        _c("wait_ms", pl.Int64, "ms", "router queue wait (legacy lines before Oct 2012)"),
        _c(
            "legacy",
            pl.Boolean,
            "",
            "true for the pre-2013 'Error Hxx (...) -> METHOD host/path' form",
        ),
        _c("extra", pl.String, "", "logfmt keys no column holds, as key=value text"),
    ),
    "dyno_metrics": (
        *_COMMON,
        _c("dyno", pl.String, "", "dyno name (web.1), stable across restarts"),
        _c("dyno_id", pl.String, "", "heroku.<app id>.<uuid>: changes at every restart"),
        _c("memory_total_mb", pl.Float64, "MB", "rss + swap + cache (what R14 is judged on)"),
        _c("memory_rss_mb", pl.Float64, "MB", "resident memory"),
        _c("memory_cache_mb", pl.Float64, "MB", "page cache charged to the dyno"),
        _c("memory_swap_mb", pl.Float64, "MB", "swap in use"),
        _c("memory_pgpgin_pages", pl.Int64, "pages", "pages read in (cumulative)"),
        _c("memory_pgpgout_pages", pl.Int64, "pages", "pages written out (cumulative)"),
        _c("memory_quota_mb", pl.Float64, "MB", "memory quota of the dyno size (newer lines only)"),
        _c("load_avg_1m", pl.Float64, "", "load average over 1 minute"),
        _c("load_avg_5m", pl.Float64, "", "load average over 5 minutes"),
        _c("load_avg_15m", pl.Float64, "", "load average over 15 minutes"),
        _c("extra", pl.String, "", "sample# keys no column holds, as key=value text"),
    ),
    "addon_metrics": (
        *_COMMON,
        _c("dyno", pl.String, "", "the logging process (heroku-postgres, heroku-redis, ...)"),
        _c("addon", pl.String, "", "add-on name (postgresql-shaped-31311); null on old lines"),
        _c("source", pl.String, "", "attachment name (DATABASE, HEROKU_POSTGRESQL_WHITE, REDIS)"),
        _c(
            "metric", pl.String, "", "sample# name without the prefix (db_size, active-connections)"
        ),
        _c("value", pl.Float64, "", "numeric value, unit suffix removed"),
        _c("unit", pl.String, "", "unit suffix as logged (bytes, kB, MB, pages) or null"),
        _c("extra", pl.String, "", "non-numeric sample text and other keys, as key=value"),
    ),
    "events": (
        *_COMMON,
        _c("dyno", pl.String, "", "dyno or process the event is about (web.1, api, logplex)"),
        _c("kind", pl.String, "", "event kind, see the README's list"),
        _c("code", pl.String, "", "R10..R99 / L10..L15 for error events"),
        _c("description", pl.String, "", "error description or the detail after '->'"),
        _c("mem_mb", pl.Float64, "MB", "memory in 'Process running mem=NNNM(PP.P%)'"),
        _c("mem_pct", pl.Float64, "%", "percent of quota in 'Process running mem=...'"),
        _c("from_state", pl.String, "", "state before a 'State changed' event"),
        _c("to_state", pl.String, "", "state after a 'State changed' event"),
        _c("exit_status", pl.Int32, "", "status in 'Process exited with status N'"),
        _c("signal", pl.String, "", "SIGTERM / SIGKILL / SIGHUP for stop events"),
        _c("command", pl.String, "", "command of 'Starting process with command'"),
        _c("release", pl.String, "", "release as logged, e.g. v42"),
        _c("user", pl.String, "", "user who triggered an API event"),
        _c("commit", pl.String, "", "short commit sha of a deploy"),
        _c("formation", pl.String, "", "formation after scaling, e.g. web=2:Standard-1X worker=1"),
        _c("config_vars", pl.String, "", "config var names set or removed, comma separated"),
        _c("addon", pl.String, "", "add-on or attachment named by an add-on event"),
        _c("dropped", pl.Int64, "messages", "messages dropped or lost (L10-L13)"),
        _c("message", pl.String, "", "the original message text"),
    ),
    "app_logs": (
        *_COMMON,
        _c("dyno", pl.String, "", "dyno that wrote the line (web.1, worker.2, run.1234)"),
        _c("message", pl.String, "", "the app's own text"),
        _c("request_id", pl.String, "", "request id carried by the line, joins to requests"),
    ),
    "rejects": (
        _c("raw", pl.String, "", "the input line (or span) as read, invalid UTF-8 replaced"),
        _c("reason", pl.String, "", "why it matched no shape (see the README)"),
    ),
}

# Provenance columns are appended to every table.
TABLES = {name: (*cols, *PROVENANCE) for name, cols in TABLES.items()}

TABLE_NAMES: tuple[str, ...] = tuple(TABLES)


def polars_schema(table: str) -> pl.Schema:
    """The Polars schema of one table, in column order."""
    return pl.Schema({c.name: c.dtype for c in TABLES[table]})


def empty_frame(table: str) -> pl.DataFrame:
    """A zero-row frame with the table's exact schema."""
    return pl.DataFrame(schema=polars_schema(table))


Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def conform(df: Frame, table: str) -> Frame:
    """Select and cast `df` to the table's schema; columns it lacks become nulls."""
    names = set(df.collect_schema().names())
    exprs = []
    for c in TABLES[table]:
        if c.name in names:
            exprs.append(pl.col(c.name).cast(c.dtype, strict=False))
        else:
            exprs.append(pl.lit(None, dtype=c.dtype).alias(c.name))
    return df.select(exprs)


def type_name(dtype: pl.DataType) -> str:
    """A short type name for docs: `timestamp (µs, UTC)`, `string`, `int64`, ..."""
    if isinstance(dtype, pl.Datetime):
        return f"timestamp ({dtype.time_unit}, {dtype.time_zone or 'naive'})"
    return {pl.String: "string", pl.Boolean: "bool"}.get(dtype, str(dtype).lower())


def markdown_table_docs() -> str:
    """The schema as Markdown, one table per dataset table (pasted into the README, where a
    test keeps it in sync: regenerate with `python -m forensics.schema`)."""
    out = []
    for name, cols in TABLES.items():
        out.append(f"#### `{name}`\n\n| column | type | unit | meaning |\n|---|---|---|---|")
        for c in cols:
            out.append(f"| `{c.name}` | {type_name(c.dtype)} | {c.unit} | {c.doc} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(markdown_table_docs(), end="")
