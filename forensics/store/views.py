"""Open a dataset for querying: a DuckDB connection with one view per table.

Views apply the cut the user asked for (`app`, `since`, `until`, `dyno`) so every analysis sees
the same slice, and re-derive `requests.route` with the current route rules (the dataset's own
`routes.toml`, or a file given), so changing rules never needs a re-ingest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from forensics.errors import ForensicsError
from forensics.routes import load_rules, routes_for_paths
from forensics.schema import TABLE_NAMES, empty_frame
from forensics.store.layout import MANIFEST, ROUTES_FILE
from forensics.store.manifest import load_manifest


@dataclass(frozen=True)
class Cut:
    """The slice of the dataset to look at; None means no limit."""

    app: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    dyno: str | None = None


def parse_time(text: str | None, *, option: str) -> datetime | None:
    """An ISO-8601 time from the command line; naive times are UTC."""
    if text is None:
        return None
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ForensicsError(
            f"{option} {text!r}: not an ISO-8601 time; use e.g. 2024-05-20T22:00:00Z"
        ) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _files(root: Path, table: str) -> list[str]:
    return sorted(str(p) for p in (root / table).glob("*.parquet"))


def _where(table: str, cut: Cut) -> str:
    conds = []
    if cut.app is not None and table != "rejects":
        conds.append(f"app = '{_q(cut.app)}'")
    if cut.since is not None and table != "rejects":
        conds.append(f"ts >= TIMESTAMPTZ '{cut.since.isoformat()}'")
    if cut.until is not None and table != "rejects":
        conds.append(f"ts < TIMESTAMPTZ '{cut.until.isoformat()}'")
    if cut.dyno is not None and table not in ("rejects", "addon_metrics"):
        # App-wide events (releases, deploys, scaling: the `api` process) stay in view, so an
        # analysis cut to one dyno still knows which release it was running.
        keep_api = " OR dyno = 'api'" if table == "events" else ""
        conds.append(f"(dyno = '{_q(cut.dyno)}' OR dyno LIKE '{_q(cut.dyno)}.%'{keep_api})")
    return (" WHERE " + " AND ".join(conds)) if conds else ""


def _q(text: str) -> str:
    return text.replace("'", "''")


def open_dataset(
    path: str | Path, *, cut: Cut | None = None, routes_file: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection over the dataset at `path` with a view per table, cut and re-routed.

    `cut.dyno` matches a dyno (`web.1`) or a process type (`web`). Raises ForensicsError when
    `path` is not a dataset.
    """
    root = Path(path)
    if not (root / MANIFEST).exists():
        raise ForensicsError(
            f"{root}: not a forensics dataset (no {MANIFEST}); build one with "
            f"`forensics ingest FILE... -o {root}`"
        )
    load_manifest(root)
    cut = cut or Cut()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table in TABLE_NAMES:
        files = _files(root, table)
        if files:
            source = f"read_parquet({files!r}, union_by_name = true)"
        else:
            con.register(f"_empty_{table}", empty_frame(table).to_arrow())
            source = f"_empty_{table}"
        con.execute(f"CREATE VIEW _raw_{table} AS SELECT * FROM {source}")
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM _raw_{table}{_where(table, cut)}")
    rules_path = routes_file or (root / ROUTES_FILE if (root / ROUTES_FILE).exists() else None)
    rules = load_rules(rules_path)
    if rules:
        paths = con.sql("SELECT DISTINCT path FROM _raw_requests").pl()["path"]
        mapping = routes_for_paths(paths, rules)
        con.register("_route_map", mapping.to_arrow())
        con.execute(
            "CREATE OR REPLACE VIEW requests AS SELECT r.* REPLACE "
            "(coalesce(m.route, r.route) AS route) FROM _raw_requests r "
            f"LEFT JOIN _route_map m ON r.path = m.path{_where('requests', cut)}"
        )
    return con


def query(con: duckdb.DuckDBPyConnection, sql: str) -> pl.DataFrame:
    """Run SQL over the views and return a Polars frame; SQL errors become ForensicsError."""
    try:
        return con.sql(sql).pl()
    except duckdb.Error as e:
        first = str(e).strip().splitlines()[0]
        raise ForensicsError(f"SQL error: {first}") from None
