"""The compiled core (`native/`, imported as `forensics._native`), seen from Python.

Polars Series go in and come out through the Arrow C data interface, without a copy and with
no Python loop over lines; the core releases the GIL while it runs. `AVAILABLE` says whether
the core was built (cargo present at install time); without it ingest runs the Polars engine.
"""

from __future__ import annotations

import polars as pl

try:
    from forensics import _native
except ImportError:  # installed without cargo: the Polars engine only
    _native = None

AVAILABLE = _native is not None
ENGINES = ("native", "polars")
NOT_BUILT = (
    "the native engine is not built (cargo was missing at install time), so ingest runs the "
    "Polars engine; install Rust (cargo) and run `pip install -e .` again to build it"
)


def default_engine() -> str:
    """`native` when the core is built, else `polars`."""
    return "native" if AVAILABLE else "polars"


def resolve_engine(engine: str | None) -> str:
    """The engine to run: `engine`, or the default when None; ForensicsError for an unknown
    one or for `native` when the core is not built."""
    from forensics.errors import ForensicsError

    if engine is None:
        return default_engine()
    if engine not in ENGINES:
        raise ForensicsError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if engine == "native" and not AVAILABLE:
        raise ForensicsError(f"--engine native: {NOT_BUILT}")
    return engine


def _arrow(s: pl.Series):
    return s.to_arrow(compat_level=pl.CompatLevel.newest())


def split_lines(buf: bytes, end: int) -> pl.Series:
    """The lines of `buf[:end]` (`\\n`-separated, one trailing `\\r` dropped, invalid UTF-8 and
    NUL replaced by U+FFFD), as a String Series named `raw`."""
    # binary views from the core (its text is checked whole: arrow-rs would check each line
    # again), made strings by Polars' cast, which checks the one buffer at once
    return pl.Series(_native.split_lines(buf, end)).cast(pl.String).alias("raw")


def cli_envelope(raw: pl.Series) -> pl.DataFrame:
    """`handled, ts, origin, dyno, message` of each `heroku logs` line (nulls where the line is
    not in its plain form and is left to the Polars reader)."""
    return pl.Series(_native.cli_envelope(_arrow(raw))).struct.unnest()


def route_templates(paths: pl.Series) -> pl.DataFrame:
    """`handled, route`: the default route template of each path (null where the path is not
    plain ASCII and is left to the Polars rules, `forensics.routes.route_expr`)."""
    return pl.Series(_native.route_templates(_arrow(paths))).struct.unnest()


def router_canonical(message: pl.Series) -> pl.DataFrame:
    """`canonical, odd` and the typed request columns of each router message (nulls where the
    line is not the usual `at=info` form and is left to the Polars parser)."""
    return pl.Series(_native.router_canonical(_arrow(message))).struct.unnest()


def families(env: pl.DataFrame) -> pl.Series:
    """The index into `forensics.parsers.FAMILIES` of each envelope row's family (Int8), as
    `family_expr` gives it."""
    cols = (_arrow(env.get_column(c)) for c in ("origin", "dyno", "message"))
    return pl.Series(_native.families(*cols))


def request_ids(message: pl.Series) -> pl.Series:
    """The request id of each app message, as `app_logs.REQUEST_ID_RE` takes it."""
    return pl.Series(_native.request_ids(_arrow(message)))


def runtime_metrics(message: pl.Series) -> pl.DataFrame:
    """`handled, dyno, dyno_id` and the value columns of each usual runtime-metrics message
    (nulls where the line is in another form and is left to the Polars parser)."""
    return pl.Series(_native.runtime_metrics(_arrow(message))).struct.unnest()


def rfc5424_envelope(raw: pl.Series, skip: pl.Series | None = None) -> pl.DataFrame:
    """`handled, ts, host, origin, dyno, message` of each RFC 5424 text after its first `skip`
    bytes (nulls where the header is not in its plain form and is left to the Polars reader,
    `forensics.readers.drain.rfc5424`); `host` is the HOSTNAME where it names the app."""
    k = None if skip is None else _arrow(skip.cast(pl.Int64))
    return pl.Series(_native.rfc5424_envelope(_arrow(raw), k)).struct.unnest()


def papertrail_tsv(raw: pl.Series) -> pl.DataFrame:
    """`handled, ts, source_name, origin, dyno, message` of each Papertrail archive row (nulls
    where the row is left to the Polars reader, `forensics.readers.papertrail`)."""
    return pl.Series(_native.papertrail_tsv(_arrow(raw))).struct.unnest()
