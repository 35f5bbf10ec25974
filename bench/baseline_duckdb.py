"""Baseline: parse a `heroku logs` export with plain DuckDB SQL (read_csv + regexp_extract).

This is the yardstick the ingest benchmark compares `forensics ingest` against: what a
competent engineer would write in an afternoon with DuckDB alone. Usage:
    python bench/baseline_duckdb.py INPUT OUTDIR
"""

from __future__ import annotations

import sys
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


REQUESTS = f"""
SELECT {TS} AS ts, {s("method")} AS method, {q("path")} AS path, {s("host")} AS host,
  {s("request_id")} AS request_id, {q("fwd")} AS fwd, {s("dyno")} AS dyno,
  {n("connect", MS, "BIGINT")} AS connect_ms,
  {n("service", MS, "BIGINT")} AS service_ms,
  {n("status", INT, "INTEGER")} AS status, {n("bytes", INT, "BIGINT")} AS bytes,
  {s("protocol")} AS protocol, {s("at")} AS at, {s("code")} AS code,
  {s("desc", '"([^"]*)"')} AS "desc"
FROM lines WHERE contains(line, ' heroku[router]: ')
"""

_MEM = ("total", "rss", "cache", "swap")
_LOAD = ("1m", "5m", "15m")
DYNO_METRICS = f"""
SELECT {TS} AS ts, {s("source")} AS dyno, {s("dyno")} AS dyno_id,
  {", ".join(f"{n(f'sample#memory_{m}', MB, 'DOUBLE')} AS memory_{m}_mb" for m in _MEM)},
  {n("sample#memory_pgpgin", PAGES, "BIGINT")} AS memory_pgpgin_pages,
  {n("sample#memory_pgpgout", PAGES, "BIGINT")} AS memory_pgpgout_pages,
  {n("sample#memory_quota", MB, "DOUBLE")} AS memory_quota_mb,
  {", ".join(f"{n(f'sample#load_avg_{w}', NUM, 'DOUBLE')} AS load_avg_{w}" for w in _LOAD)}
FROM lines
WHERE contains(line, 'sample#memory_total=') OR contains(line, 'sample#load_avg_1m=')
"""

EVENTS = rf"""
SELECT ts, dyno,
  CASE WHEN code IS NOT NULL THEN 'error' WHEN to_state IS NOT NULL THEN 'state_change'
       WHEN exit_status IS NOT NULL THEN 'exit' WHEN release IS NOT NULL THEN 'release' END
    AS kind,
  code, from_state, to_state, exit_status, release, "user"
FROM (
  SELECT {TS} AS ts, {DYNO} AS dyno,
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


def main(argv: list[str]) -> int:
    """Parse INPUT into OUTDIR/{requests,dyno_metrics,events}.parquet and print row counts."""
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    src, out = Path(argv[0]), Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'; SET enable_progress_bar = false")
    path = str(src).replace("'", "''")
    # One VARCHAR column per line; lines that are not valid UTF-8 are skipped.
    con.execute(f"""CREATE VIEW lines AS SELECT line FROM read_csv('{path}',
        columns = {{'line': 'VARCHAR'}}, delim = '\x01', quote = '', escape = '',
        header = false, auto_detect = false, ignore_errors = true, strict_mode = false)""")
    for table, sql in (("requests", REQUESTS), ("dyno_metrics", DYNO_METRICS), ("events", EVENTS)):
        dest = str(out / f"{table}.parquet").replace("'", "''")
        rows = con.execute(f"COPY ({sql}) TO '{dest}' (FORMAT parquet, COMPRESSION zstd)")
        print(f"{table}\t{rows.fetchone()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
