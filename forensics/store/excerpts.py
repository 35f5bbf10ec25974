"""Log excerpts: the input lines around a source reference (`file:line` or `file:first-last`),
rebuilt from the dataset's tables, so a postmortem or a report can show the lines that prove a
step.

Every row keeps `source_file` and `line_no`; app and platform lines keep their message, router
lines and runtime/add-on metrics are rebuilt from their fields (`heroku[router]: at=error
code=H12 ... service=30000ms status=503`), a line that went to `rejects` is shown as read.
Router lines are rebuilt from the fields that tell what happened (code, path, dyno, timings,
status); the query string, request id, client address (`fwd`), host and protocol are left out
(the dataset keeps them in `requests`): the query is what most often holds a secret, and those
high-entropy strings are most of what a 1 GB log's excerpts would read.
`excerpts` looks up any number of references in one query per table (the wanted line numbers
joined on equality, so only those rows are read out); `excerpt` is one reference.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import duckdb
import polars as pl

from forensics.store.views import query

# (file, first_line, last_line) as the findings' and incidents' sources give them
Ref = tuple[str, int, int]

# A range longer than this is shown as its first and last lines with their context.
MAX_WHOLE_RANGE = 6

_TEXT_SQL = {
    "app_logs": "'app[' || coalesce(t.dyno, '?') || ']: ' || coalesce(t.message, '')",
    "events": "'heroku[' || coalesce(t.dyno, '?') || ']: ' || coalesce(t.message, '')",
    "requests": """'heroku[router]: ' || concat_ws(' ',
        'at=' || t."at", 'code=' || t.code, 'desc="' || t."desc" || '"',
        'method=' || t.method, 'path="' || t.path || '"', 'dyno=' || t.dyno,
        'connect=' || t.connect_ms || 'ms', 'service=' || t.service_ms || 'ms',
        'status=' || t.status, 'bytes=' || t.bytes)""",
    "dyno_metrics": """'heroku[' || coalesce(t.dyno, '?') || ']: ' || concat_ws(' ',
        'source=' || t.dyno, 'dyno=' || t.dyno_id,
        'sample#load_avg_1m=' || t.load_avg_1m,
        'sample#memory_total=' || round(t.memory_total_mb, 2) || 'MB',
        'sample#memory_rss=' || round(t.memory_rss_mb, 2) || 'MB',
        'sample#memory_swap=' || round(t.memory_swap_mb, 2) || 'MB',
        'sample#memory_quota=' || round(t.memory_quota_mb, 2) || 'MB')""",
}
# An add-on metrics line is one row per sample#: put back together as one line.
_ADDON_SQL = """
    SELECT t.source_file AS f, t.line_no AS n, min(t.ts) AS ts,
           'app[' || coalesce(min(t.dyno), '?') || ']: ' || concat_ws(' ',
           'source=' || min(t.source), 'addon=' || min(t.addon),
           string_agg('sample#' || t.metric || '=' || t.value || coalesce(t.unit, ''), ' '
                      ORDER BY t.metric)) AS text
    FROM addon_metrics t JOIN _want w ON t.source_file = w.f AND t.line_no = w.n
    GROUP BY t.source_file, t.line_no
"""


@dataclass(frozen=True)
class Line:
    """One line of an excerpt: its number, time (None for a rejected line), text, and whether
    it is inside the reference (the others are context)."""

    line_no: int
    ts: datetime | None
    text: str
    cited: bool

    def __str__(self) -> str:
        mark = ">" if self.cited else " "
        when = f"{self.ts:%Y-%m-%dT%H:%M:%S}Z " if self.ts is not None else ""
        return f"{mark}{self.line_no}: {when}{self.text}"


def wanted_lines(ref: Ref, context_lines: int) -> list[int]:
    """The line numbers to show for `ref`: the range with `context_lines` around it, or for a
    range longer than MAX_WHOLE_RANGE its first and last lines, each with its context."""
    _, first, last = ref
    first, last = int(first), int(max(last, first))
    c = max(int(context_lines), 0)
    if last - first < MAX_WHOLE_RANGE:
        spans = [(first - c, last + c)]
    else:
        spans = [(first - c, first + c), (last - c, last + c)]
    return sorted({n for lo, hi in spans for n in range(max(lo, 1), hi + 1)})


def excerpts(
    con: duckdb.DuckDBPyConnection, refs: Iterable[Ref], *, context_lines: int = 2
) -> dict[Ref, list[Line]]:
    """The lines the dataset holds around each reference (see `wanted_lines`), in line order;
    a reference whose lines are all missing maps to []. One query for all references."""
    refs = list(dict.fromkeys((str(f), int(a), int(b)) for f, a, b in refs))
    if not refs:
        return {}
    wanted = {}
    for ref in refs:
        for n in wanted_lines(ref, context_lines):
            wanted[(ref[0], n)] = None
    want = pl.DataFrame(
        {"f": [f for f, _ in wanted], "n": [n for _, n in wanted]},
        schema={"f": pl.String, "n": pl.Int64},
    )
    parts = [
        f"""SELECT t.source_file AS f, t.line_no AS n, t.ts, {text} AS text
            FROM {table} t JOIN _want w ON t.source_file = w.f AND t.line_no = w.n"""
        for table, text in _TEXT_SQL.items()
    ]
    parts.append(_ADDON_SQL)
    parts.append(
        "SELECT t.source_file, t.line_no, NULL, t.raw "
        "FROM rejects t JOIN _want w ON t.source_file = w.f AND t.line_no = w.n"
    )
    name = f"_want_{uuid.uuid4().hex[:12]}"
    con.register(name, want)
    try:
        sql = "SELECT DISTINCT * FROM (" + " UNION ALL ".join(parts) + ")"
        found = query(con, sql.replace("_want", name))
    finally:
        con.unregister(name)
    by_line: dict[tuple[str, int], list[tuple[datetime | None, str]]] = {}
    for f, n, ts, text in found.sort("f", "n", "ts", "text", nulls_last=True).iter_rows():
        by_line.setdefault((f, n), []).append((ts, text or ""))
    out: dict[Ref, list[Line]] = {}
    for ref in refs:
        file, first, last = ref
        out[ref] = [
            Line(n, ts, text, first <= n <= max(last, first))
            for n in wanted_lines(ref, context_lines)
            for ts, text in by_line.get((file, n), [])
        ]
    return out


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
    ref = (file, int(line), int(line))
    lines = excerpts(con, [ref], context_lines=context_lines)[ref]
    if clean is not None:
        lines = [Line(x.line_no, x.ts, clean(x.text), x.cited) for x in lines]
    return [str(x) for x in lines]


def excerpter(
    con: duckdb.DuckDBPyConnection,
    *,
    context_lines: int = 2,
    clean: Callable[[str], str] | None = None,
) -> Callable[[str, int], list[str]]:
    """`excerpt` bound to a connection: `(file, line) -> lines`, as the postmortem takes it."""
    return lambda file, line: excerpt(con, file, line, context_lines=context_lines, clean=clean)
