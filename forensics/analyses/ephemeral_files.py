"""Ephemeral files: the app could not find a file it writes at runtime.

A dyno's filesystem is its own and is thrown away at every restart: a file written to `/tmp`
or under `/app` (uploads, generated reports, caches) is gone after the dyno restarts and was
never there on the other dynos. The symptom in the log is a missing-file error
(`FileNotFoundError`, `Errno::ENOENT`, `ENOENT: no such file or directory`, `No such file or
directory @ rb_sysopen`, `java.io.FileNotFoundException`, `NoSuchFileException`, Go's `open
/tmp/x: no such file or directory`, Elixir's `could not read file "/tmp/x"`, PHP's
`fopen(/tmp/x): Failed to open stream`) for such a path, above all right
after that dyno restarted, or on a dyno other than the one whose lines named the file before.
Paths that are code (`node_modules`, gems, site-packages, `.py`/`.rb`/`.js` files) and system
paths are left out: a missing module at boot is a crash reason, not ephemeral storage.

Table: `ephemeral_files` (one row per missing-file error); `forensics.findings.ephemeral_files`
groups it by path template (`file_template`: ids in directories and file names -> `:id`).
"""

from __future__ import annotations

import duckdb
import polars as pl

from forensics.analyses.sql import app_key_sql, query, registered
from forensics.routes import route_expr

# An error this soon after the dyno's last start follows that restart.
RESTART_MINUTES = 10.0
MAX_NAMED_PATHS = 200

_PATH_PATTERNS = (
    r"No such file or directory @ \w+ - ([^\s'\"]+)",
    r"(?i)(?:ENOENT|No such file or directory)[:,]?\s*(?:open|stat|lstat|scandir|unlink|access"
    r"|rename|mkdir|opendir|readlink|copyfile)?\s*'([^']+)'",
    r"No such file or directory: ['\"]([^'\"]+)['\"]",
    r"FileNotFoundException: (\S+) \(No such file",
    r"NoSuchFileException: (/\S+)",  # java.nio
    r"\w+\((/[^)\s]+)\): [Ff]ailed to open stream: No such file",  # PHP fopen(...)
    # Go (`open /tmp/x: no such file or directory`) and the path before the phrase
    r"(?i)\b(?:open|stat|lstat|remove|rename|mkdir|readdir|chdir) (/[^\s:]+): no such file",
    # Elixir `could not read file "/tmp/x": no such file`, Postgres `could not open file "..."`
    r"(?i)(?:file|directory|path) \"(/[^\"]+)\"[^\"]*?no such file or directory",
    r"No such file or directory[^/]*?(/[^\s'\",)]+)",
)
_CODE = (
    r"node_modules|/vendor/|/\.heroku/|site-packages|dist-packages|/gems/|/\.bundle/"
    r"|\.(?:py|pyc|rb|js|mjs|cjs|ts|jar|class|so|go|ex|exs|erb|php|node)$"
)
_SYSTEM = r"^/(?:usr|etc|proc|sys|lib|lib64|bin|sbin|dev|run|var/run|opt)/"
# `message ILIKE '%no such file%'` as a regex with the case classes spelled out: the same lines
# (the only non-ASCII character DuckDB's ILIKE folds onto one of these letters is U+0130, onto
# `i`; checked over every code point) in a third of the CPU (ILIKE lowercases every line).
_NO_SUCH_FILE = "[Nn][Oo] [Ss][Uu][Cc][Hh] [Ff][\u0130Ii][Ll][Ee]"
_SQL_FILTER = (
    f"(regexp_matches(message, '{_NO_SUCH_FILE}') OR message LIKE '%ENOENT%'"
    " OR message LIKE '%FileNotFound%' OR message LIKE '%NoSuchFile%')"
)


def ephemeral_files(
    con: duckdb.DuckDBPyConnection, *, restart_minutes: float = RESTART_MINUTES
) -> pl.DataFrame:
    """One row per missing-file error for a runtime path (see the module doc).

    Answers: which files did the app lose, on which dyno, how long after that dyno started,
    and had another dyno (or this one before its restart) named the file before?

    Columns: ts, app, dyno, process_type, path, path_template (ids -> :id, like routes),
    error (the app's line), process_start (the dyno's last `Starting process` before, null
    when it started before the log), minutes_since_start, after_restart (within
    `restart_minutes` of that start), named_by (dynos whose earlier lines named the path),
    other_dyno (named by another dyno), before_restart (named by this dyno before its last
    start), source_file, line_no.
    """
    raw = query(
        con,
        f"""
        SELECT ts, app, dyno, message, source_file, line_no FROM app_logs
        WHERE dyno IS NOT NULL AND {_SQL_FILTER} AND NOT regexp_matches(message, '^\\s*(ba)?sh:')
        ORDER BY ts, source_file, line_no
        """,
    )
    path = pl.coalesce([pl.col("message").str.extract(p, 1) for p in _PATH_PATTERNS])
    err = (
        raw.with_columns(path.str.strip_chars_end(".:;)").alias("path"))
        .filter(
            pl.col("path").is_not_null()
            & ~pl.col("path").str.contains(_CODE)
            & ~pl.col("path").str.contains(_SYSTEM)
        )
        .with_columns(pl.col("ts").dt.truncate("1s").alias("_sec"))
        # one error printed as several lines (Node's `Error:` and `path:`) counts once
        .unique(["app", "dyno", "path", "_sec"], keep="first", maintain_order=True)
        .drop("_sec")
    )
    if err.is_empty():
        return _empty()
    err = err.with_row_index("eid")
    # the earlier lines naming a path are looked up for at most MAX_NAMED_PATHS paths (the most
    # frequent): a substring join over every app line costs lines x paths
    paths = err.group_by("path").len().sort("len", descending=True).head(MAX_NAMED_PATHS)
    paths = paths.select("path")
    with registered(con, err) as e, registered(con, paths) as p:
        ctx = query(
            con,
            f"""
            WITH starts AS (
                SELECT {app_key_sql("app")} AS akey, dyno, ts FROM events
                WHERE kind = 'start' AND dyno IS NOT NULL
            ),
            st AS (
                SELECT e.eid, (SELECT max(s.ts) FROM starts s WHERE s.akey = {app_key_sql("e.app")}
                               AND s.dyno = e.dyno AND s.ts <= e.ts) AS process_start
                FROM {e} e
            ),
            named AS (
                SELECT l.app, l.dyno, l.ts, p.path
                FROM (SELECT app, dyno, ts, message FROM app_logs
                      WHERE contains(message, '/') AND dyno IS NOT NULL
                        AND ts <= (SELECT max(ts) FROM {e})
                        AND NOT {_SQL_FILTER}) l
                JOIN {p} p ON contains(l.message, p.path)
            )
            SELECT e.eid, st.process_start,
                   list(DISTINCT n.dyno ORDER BY n.dyno) FILTER (WHERE n.dyno IS NOT NULL)
                       AS named_by,
                   coalesce(bool_or(n.dyno <> e.dyno), false) AS other_dyno,
                   coalesce(bool_or(n.dyno = e.dyno AND n.ts < st.process_start), false)
                       AS before_restart
            FROM {e} e JOIN st USING (eid)
            LEFT JOIN named n ON n.path = e.path AND n.ts < e.ts
                 AND {app_key_sql("n.app")} = {app_key_sql("e.app")}
            GROUP BY e.eid, st.process_start
            """,
        )
    out = err.join(ctx, on="eid", how="left").sort("eid")
    minutes = (pl.col("ts") - pl.col("process_start")).dt.total_seconds(fractional=True) / 60
    return out.with_columns(
        pl.col("dyno").str.replace(r"\..*$", "").alias("process_type"),
        file_template(pl.col("path")).alias("path_template"),
        pl.col("message").alias("error"),
        minutes.alias("minutes_since_start"),
        (minutes <= restart_minutes).fill_null(False).alias("after_restart"),
        pl.col("named_by").fill_null([]),
    ).select(_COLUMNS)


def file_template(path: pl.Expr) -> pl.Expr:
    """A path with its ids templated: the route rules (whole numeric, UUID, hex segments), and
    inside file names every token with a digit (`report-23765.csv`, `upload_1x9f.png`,
    `RackMultipart20240520-12-ab3.png`) becomes `:id`; the extension stays (`.mp4`)."""
    p = route_expr(path)
    ext = p.str.extract(r"(\.[A-Za-z][A-Za-z0-9]{0,4})$", 1).fill_null("")
    stem = p.str.slice(0, p.str.len_chars() - ext.str.len_chars())
    token = r"([/_.-])[A-Za-z]*[0-9][A-Za-z0-9]*([/_.-]|$)"
    for _ in range(2):  # adjacent tokens share a separator: a second pass takes the rest
        stem = stem.str.replace_all(token, "${1}:id${2}")
    return stem + ext


_COLUMNS = [
    "ts",
    "app",
    "dyno",
    "process_type",
    "path",
    "path_template",
    "error",
    "process_start",
    "minutes_since_start",
    "after_restart",
    "named_by",
    "other_dyno",
    "before_restart",
    "source_file",
    "line_no",
]


def _empty() -> pl.DataFrame:
    ts = pl.Datetime("us", "UTC")
    schema = {
        "ts": ts,
        "app": pl.String,
        "dyno": pl.String,
        "process_type": pl.String,
        "path": pl.String,
        "path_template": pl.String,
        "error": pl.String,
        "process_start": ts,
        "minutes_since_start": pl.Float64,
        "after_restart": pl.Boolean,
        "named_by": pl.List(pl.String),
        "other_dyno": pl.Boolean,
        "before_restart": pl.Boolean,
        "source_file": pl.String,
        "line_no": pl.Int64,
    }
    return pl.DataFrame(schema=schema)
