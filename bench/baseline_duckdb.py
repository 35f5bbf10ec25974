"""Baseline: parse Heroku logs with plain DuckDB SQL (read_csv + regexp_extract).

This is the yardstick the ingest benchmark compares `forensics ingest` against: what a
competent engineer would write in an afternoon with DuckDB alone. Usage:
    python bench/baseline_duckdb.py [--format cli|drain|syslog|papertrail] INPUT OUTDIR

INPUT is a file or a glob (DuckDB expands it). The format says how the lines are framed; the
same fields are extracted from each:
    cli          `heroku logs` text: `TS SOURCE[PROCESS]: MESSAGE` (the default)
    syslog       newline RFC 5424: `<PRI>1 TS HOST SOURCE PROCESS - - MESSAGE`
    drain        Logplex drain bodies: octet-counted frames `LEN <PRI>1 TS host SOURCE PROCESS -
                 MESSAGE`, glued on a line: split in SQL before each `<PRI>1 TS` header, each
                 piece losing the next frame's count (its digits: those of the next body's
                 length, looked two frames ahead, as a message may end in digits itself)
    papertrail   Papertrail archives (.tsv.gz): 10 tab-separated columns, read as columns
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

# The leading timestamp of a line, e.g. 2024-05-20T22:12:08.826506+00:00.
TS = r"try_cast(regexp_extract(line, '^(\d{4}-\d\d-\d\dT\S+)', 1) AS TIMESTAMPTZ)"
# The process in brackets of `source[process]: ` (router, web.1, api, ...).
DYNO = r"nullif(regexp_extract(line, '^\S+ \w+\[([^\]]+)\]: ', 1), '')"


def s(key: str, pat: str = r"(\S*)") -> str:
    """SQL for the logfmt value of `key` as text, NULL when absent or empty."""
    return f"nullif(regexp_extract(line, ' {key}={pat}', 1), '')"


def q(key: str) -> str:
    """SQL for a logfmt value that may be double-quoted (path, fwd): quotes dropped."""
    return f"""nullif(trim(regexp_extract(line, ' {key}=("[^"]*"|\\S*)', 1), '"'), '')"""


# Value patterns (one capture group each) for the numeric fields.
INT, NUM, MS, MB, PAGES = r"(\d+)", r"([0-9.]+)", r"(\d+)ms", r"([0-9.]+)MB", r"(\d+)pages"


def n(key: str, pat: str, typ: str) -> str:
    """SQL for a numeric field captured by `pat`, cast to `typ` (NULL when absent)."""
    return f"try_cast({s(key, pat)} AS {typ})"


@dataclass(frozen=True)
class Framing:
    """How one format gives a line's timestamp, its process and whether the router wrote it;
    the logfmt fields are read from `line` (with a space before the message's first key)."""

    ts: str
    dyno: str
    router: str


CLI = Framing(TS, DYNO, "contains(line, ' heroku[router]: ')")
# `<PRI>1 TS HOST SOURCE PROCESS ...` (syslog lines and drain frame bodies alike)
RFC5424 = Framing(
    r"try_cast(regexp_extract(line, '^<\d+>1 (\S+)', 1) AS TIMESTAMPTZ)",
    r"nullif(regexp_extract(line, '^<\d+>1 \S+ \S+ \w+ ([^ -][^ ]*) ', 1), '')",
    "contains(line, ' heroku router - ')",
)
PAPERTRAIL = Framing(
    "strptime(generated_at, '%Y-%m-%d %H:%M:%S %z')",
    "nullif(split_part(program, '/', 2), '')",
    "program = 'heroku/router'",
)


def requests(f: Framing) -> str:
    """Router lines -> the requests table."""
    return f"""
SELECT {f.ts} AS ts, {s("method")} AS method, {q("path")} AS path, {s("host")} AS host,
  {s("request_id")} AS request_id, {q("fwd")} AS fwd, {s("dyno")} AS dyno,
  {n("connect", MS, "BIGINT")} AS connect_ms,
  {n("service", MS, "BIGINT")} AS service_ms,
  {n("status", INT, "INTEGER")} AS status, {n("bytes", INT, "BIGINT")} AS bytes,
  {s("protocol")} AS protocol, {s("at")} AS at, {s("code")} AS code,
  {s("desc", '"([^"]*)"')} AS "desc"
FROM lines WHERE {f.router}
"""


_MEM = ("total", "rss", "cache", "swap")
_LOAD = ("1m", "5m", "15m")


def dyno_metrics(f: Framing) -> str:
    """Runtime-metrics memory and load lines -> the dyno_metrics table."""
    return f"""
SELECT {f.ts} AS ts, {s("source")} AS dyno, {s("dyno")} AS dyno_id,
  {", ".join(f"{n(f'sample#memory_{m}', MB, 'DOUBLE')} AS memory_{m}_mb" for m in _MEM)},
  {n("sample#memory_pgpgin", PAGES, "BIGINT")} AS memory_pgpgin_pages,
  {n("sample#memory_pgpgout", PAGES, "BIGINT")} AS memory_pgpgout_pages,
  {n("sample#memory_quota", MB, "DOUBLE")} AS memory_quota_mb,
  {", ".join(f"{n(f'sample#load_avg_{w}', NUM, 'DOUBLE')} AS load_avg_{w}" for w in _LOAD)}
FROM lines
WHERE contains(line, 'sample#memory_total=') OR contains(line, 'sample#load_avg_1m=')
"""


def events(f: Framing) -> str:
    """Platform error codes, state changes, exits and releases -> the events table."""
    return rf"""
SELECT ts, dyno,
  CASE WHEN code IS NOT NULL THEN 'error' WHEN to_state IS NOT NULL THEN 'state_change'
       WHEN exit_status IS NOT NULL THEN 'exit' WHEN release IS NOT NULL THEN 'release' END
    AS kind,
  code, from_state, to_state, exit_status, release, "user"
FROM (
  SELECT {f.ts} AS ts, {f.dyno} AS dyno,
    nullif(regexp_extract(line, 'Error (R\d\d)', 1), '') AS code,
    nullif(regexp_extract(line, 'State changed from (\w+) to \w+', 1), '') AS from_state,
    nullif(regexp_extract(line, 'State changed from \w+ to (\w+)', 1), '') AS to_state,
    try_cast(nullif(regexp_extract(line, 'Process exited with status (\d+)', 1), '')
      AS INTEGER) AS exit_status,
    nullif(regexp_extract(line, 'Release (v\d+) created by', 1), '') AS release,
    nullif(regexp_extract(line, 'Release v\d+ created by (?:user )?(\S+)', 1), '') AS "user"
  FROM lines
  WHERE regexp_matches(line,
    'Error R\d\d|State changed from|Process exited with status|Release v\d+ created by')
)
"""


def read_lines(path: str) -> str:
    """A file (or glob) as one VARCHAR column `line`; lines not valid UTF-8 are skipped."""
    return f"""read_csv('{path}', columns = {{'line': 'VARCHAR'}}, delim = '\x01', quote = '',
        escape = '', header = false, auto_detect = false, ignore_errors = true,
        strict_mode = false)"""


# Drain: `LEN <PRI>1 TS ...` frames glued on a line become pieces split before each header;
# piece i is body i followed by the count of frame i+1, whose digits are those of body i+1's
# length, itself its piece's length less the digits of the count after it (two levels).
_NDIG = "length(({})::VARCHAR)"
_TAIL = "(CASE WHEN {k} > len(p) THEN 0 WHEN {k} = len(p) THEN strlen(p[{k}]) ELSE {est} END)"


def _count_digits(k: str) -> str:
    inner = _TAIL.format(k=f"{k} + 1", est=f"strlen(p[{k} + 1]) - 2")
    body = _TAIL.format(k=k, est=f"strlen(p[{k}]) - {_NDIG.format(inner)}")
    return f"(CASE WHEN {k} > len(p) THEN 0 ELSE {_NDIG.format(body)} END)"


DRAIN_BODIES = rf"""
SELECT unnest(list_transform(range(2, len(p) + 1),
    lambda i: p[i][1:length(p[i]) - {_count_digits("i + 1")}])) AS line
FROM (SELECT string_split(regexp_replace(line, ' (<\d{{1,3}}>1 \d{{4}}-\d\d-\d\dT)',
    chr(1) || '\1', 'g'), chr(1)) AS p FROM raw)
"""

PAPERTRAIL_COLUMNS = (
    "id", "generated_at", "received_at", "source_id", "source_name", "source_ip",
    "facility", "severity", "program", "message",
)  # fmt: skip


def views(con: duckdb.DuckDBPyConnection, fmt: str, path: str) -> Framing:
    """Create the `lines` view of INPUT in format `fmt`; return how its fields are found."""
    if fmt == "papertrail":
        cols = ", ".join(f"'{c}': 'VARCHAR'" for c in PAPERTRAIL_COLUMNS)
        con.execute(f"""CREATE VIEW lines AS SELECT generated_at, program,
            ' ' || message AS line FROM read_csv('{path}', columns = {{{cols}}},
            delim = '\t', quote = '', escape = '', header = false, auto_detect = false,
            ignore_errors = true, strict_mode = false)""")
        return PAPERTRAIL
    if fmt == "drain":
        con.execute(f"CREATE VIEW raw AS SELECT line FROM {read_lines(path)}")
        con.execute(f"CREATE VIEW lines AS {DRAIN_BODIES}")
        return RFC5424
    con.execute(f"CREATE VIEW lines AS SELECT line FROM {read_lines(path)}")
    return CLI if fmt == "cli" else RFC5424


def main(argv: list[str]) -> int:
    """Parse INPUT into OUTDIR/{requests,dyno_metrics,events}.parquet and print row counts."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--format", choices=("cli", "drain", "syslog", "papertrail"), default="cli")
    ap.add_argument("input")
    ap.add_argument("outdir", type=Path)
    args = ap.parse_args(argv)
    out = args.outdir
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'; SET enable_progress_bar = false")
    f = views(con, args.format, args.input.replace("'", "''"))
    for table, sql in (("requests", requests), ("dyno_metrics", dyno_metrics), ("events", events)):
        dest = str(out / f"{table}.parquet").replace("'", "''")
        rows = con.execute(f"COPY ({sql(f)}) TO '{dest}' (FORMAT parquet, COMPRESSION zstd)")
        print(f"{table}\t{rows.fetchone()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
