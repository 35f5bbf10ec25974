"""Open a dataset for querying: a DuckDB connection with one view per table.

Views apply the cut the user asked for (`app`, `since`, `until`, `dyno`) so every analysis sees
the same slice, and re-derive `requests.route` with the current route rules (the dataset's own
`routes.toml`, or a file given), so changing rules never needs a re-ingest.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from forensics.errors import CutError, DatasetChangedError, ForensicsError, NotADatasetError
from forensics.routes import load_rules, routes_for_paths
from forensics.schema import TABLE_NAMES, empty_frame
from forensics.store.layout import MANIFEST, ROUTES_FILE
from forensics.store.manifest import Manifest, load_manifest


@dataclass(frozen=True)
class Cut:
    """The slice of the dataset to look at; None means no limit."""

    app: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    dyno: str | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise CutError(
                {"since": _iso(self.since), "until": _iso(self.until)},
                "the window must end after it starts",
            )


# where DuckDB may spill: the system's temporary directory, a folder per user
SPILL_DIR = Path(tempfile.gettempdir()) / f"forensics-duckdb-{getattr(os, 'getuid', lambda: 0)()}"


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None, *, field: str) -> datetime | None:
    """An ISO-8601 time for the cut's `field` (since, until); naive times are UTC."""
    if text is None:
        return None
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CutError(
            {field: repr(text)}, "is not an ISO-8601 time; use e.g. 2024-05-20T22:00:00Z"
        ) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _files(root: Path, manifest: Manifest, table: str) -> list[str]:
    """The parts of `table` the manifest lists (not a glob of the folder: a part an
    interrupted commit or compaction left there is not the dataset's)."""
    files = [root / p for p in manifest.parts.get(table, [])]
    missing = [p for p in files if not p.exists()]
    if missing:
        raise ForensicsError(
            f"{missing[0]}: listed in the dataset's manifest but missing (an ingest writing "
            "the dataset may have just merged it); run the command again"
        )
    return [str(p) for p in files]


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
        raise NotADatasetError(root, f"{root}: not a forensics dataset (no {MANIFEST})")
    manifest = load_manifest(root)
    cut = cut or Cut()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # DuckDB may draw a progress bar on stdout for a query over 2 s (seen from a script whose
    # stdout was a file: the bar went into it), and spills a large query to `.tmp/` in the
    # current directory unless told otherwise: never into the user's working directory (nor a
    # dataset that may be read-only).
    con.execute("SET enable_progress_bar = false")
    con.execute("SET temp_directory = ?", [str(SPILL_DIR)])
    for table in TABLE_NAMES:
        files = _files(root, manifest, table)
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
    _check_cut(con, cut)
    return con


_TYPED = ("requests", "dyno_metrics", "addon_metrics", "events", "app_logs")
_WITH_DYNOS = ("requests", "dyno_metrics", "events", "app_logs")


def _check_cut(con: duckdb.DuckDBPyConnection, cut: Cut) -> None:
    """Raise CutError when the cut selects nothing, naming what the dataset holds: a cut that
    matches nothing must not read as a healthy incident."""
    if cut.app is not None:
        apps = _distinct(con, "app", _TYPED)
        if cut.app not in apps:
            raise CutError({"app": cut.app}, f"matches no app; apps: {_names(apps)}")
    if cut.dyno is not None:
        dynos = [d for d in _distinct(con, "dyno", _WITH_DYNOS, Cut(app=cut.app)) if d != "api"]
        if not any(d == cut.dyno or d.startswith(cut.dyno + ".") for d in dynos):
            raise CutError({"dyno": cut.dyno}, f"matches no dyno; dynos: {_names(dynos)}")
    if cut.since is None and cut.until is None:
        return
    # fetchall: a result left half read blocks the connection's next statement (DuckDB 2)
    if any(con.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchall() for t in _TYPED):
        return
    rest = Cut(app=cut.app, dyno=cut.dyno)
    spans = [
        con.execute(f"SELECT min(ts), max(ts) FROM _raw_{t}{_where(t, rest)}").fetchall()[0]
        for t in _TYPED
    ]
    starts = [a for a, _ in spans if a is not None]
    ends = [b for _, b in spans if b is not None]
    span = f"{_iso(min(starts))} .. {_iso(max(ends))}" if starts else "no timestamped rows"
    window = {k: _iso(v) for k, v in (("since", cut.since), ("until", cut.until)) if v}
    raise CutError(window, f"selects no rows; the data spans {span}")


def _distinct(
    con: duckdb.DuckDBPyConnection, column: str, tables: tuple[str, ...], cut: Cut | None = None
) -> list[str]:
    union = " UNION ".join(
        f"SELECT DISTINCT {column} AS v FROM _raw_{t}{_where(t, cut or Cut())}" for t in tables
    )
    rows = con.execute(f"SELECT v FROM ({union}) WHERE v IS NOT NULL ORDER BY v").fetchall()
    return [r[0] for r in rows]


def _names(items: list[str], limit: int = 20) -> str:
    if not items:
        return "none"
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def query(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> pl.DataFrame:
    """Run SQL (with named `$parameters`) over the views and return a Polars frame; SQL errors
    become ForensicsError."""
    if not sql.strip():
        raise ForensicsError("empty SQL; give a query, e.g. SELECT count(*) FROM requests")
    try:
        rel = con.sql(sql, params=params or None)
        if rel is None:
            raise ForensicsError("the SQL returns no result; give a query (SELECT ...)")
        return rel.pl()
    except duckdb.Error as e:
        first = str(e).strip().splitlines()[0]
        if isinstance(e, duckdb.IOException) and "No files found that match" in first:
            raise DatasetChangedError(
                "the dataset changed while it was read (an ingest running beside this command "
                "merged the parts it had opened); run the command again"
            ) from None
        raise ForensicsError(f"SQL error: {first}") from None
