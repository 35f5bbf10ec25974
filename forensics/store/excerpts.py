"""Log excerpts: the input lines around a source reference (`file:line`), rebuilt from the
dataset's tables, so a postmortem or a report can show the lines that prove a step.

Every row keeps `source_file` and `line_no`; app and platform lines keep their message, and
router lines are rebuilt from their fields (`heroku[router]: GET /path 503 H12 30000ms`). A
line that went to `rejects` is shown as read.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from forensics.store.views import query

_LINES_SQL = """
    WITH wanted AS (SELECT $file AS f, $line - $context AS lo, $line + $context AS hi),
    lines AS (
        SELECT source_file, line_no, ts, 'app[' || coalesce(dyno, '?') || ']: ' || message AS text
        FROM app_logs
        UNION ALL
        SELECT source_file, line_no, ts, 'heroku[' || coalesce(dyno, '?') || ']: ' || message
        FROM events
        UNION ALL
        SELECT source_file, line_no, ts,
               'heroku[router]: ' || concat_ws(' ', coalesce("at", ''), code, method, path,
                   'status=' || status, 'service=' || service_ms || 'ms', 'dyno=' || dyno)
        FROM requests
        UNION ALL
        SELECT source_file, line_no, NULL, raw FROM rejects
    )
    SELECT DISTINCT l.line_no, l.ts, l.text
    FROM lines l, wanted w
    WHERE l.source_file = w.f AND l.line_no BETWEEN w.lo AND w.hi
    ORDER BY l.line_no
"""


def excerpt(
    con: duckdb.DuckDBPyConnection,
    file: str,
    line: int,
    *,
    context_lines: int = 2,
    clean: Callable[[str], str] | None = None,
) -> list[str]:
    """The lines of `file` from `line - context_lines` to `line + context_lines` that the
    dataset holds, each as `line_no: [time] text` (the line itself marked with `>`); `clean`
    (redaction, `forensics.report.redact.Redactor.text`) is applied to each line's text."""
    params = {"file": file, "line": int(line), "context": int(context_lines)}
    df = query(con, _LINES_SQL, params)
    out = []
    for no, ts, text in df.iter_rows():
        mark = ">" if no == line else " "
        when = f"{ts:%Y-%m-%dT%H:%M:%S}Z " if ts is not None else ""
        out.append(f"{mark}{no}: {when}{clean(text) if clean else text}")
    return out


def excerpter(
    con: duckdb.DuckDBPyConnection,
    *,
    context_lines: int = 2,
    clean: Callable[[str], str] | None = None,
) -> Callable[[str, int], list[str]]:
    """`excerpt` bound to a connection: `(file, line) -> lines`, as the postmortem takes it."""
    return lambda file, line: excerpt(con, file, line, context_lines=context_lines, clean=clean)
