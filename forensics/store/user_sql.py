"""A user's SQL over a dataset (`forensics sql`): read-only and offline unless asked.

By default only statements that read run (SELECT, WITH, FROM, DESCRIBE, SUMMARIZE, EXPLAIN,
PRAGMA, CALL) and DuckDB may open files in the dataset folder only, so nothing writes into the
dataset. `writable` runs any statement with access to other files (COPY ... TO, read_csv,
ATTACH), but a COPY, EXPORT or ATTACH that names a path inside the dataset is refused. In both
modes extensions are never installed or loaded (no `INSTALL httpfs`, no autoload: no network)
and the configuration is locked, so a statement cannot undo this.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl

from forensics.errors import ForensicsError
from forensics.store.views import query

_READING = {"SELECT", "EXPLAIN", "PRAGMA", "CALL", "MULTI"}
_NAMING_FILES = {"COPY", "EXPORT", "ATTACH", "COPY_DATABASE"}
# a quoted path: after TO in a COPY; the first one in EXPORT DATABASE and ATTACH
_QUOTED = r"'((?:[^']|'')*)'" + "|" + r'"((?:[^"]|"")*)"'
_TARGET = re.compile(rf"(?is)\bTO\s*(?:{_QUOTED})")
_FIRST = re.compile(_QUOTED)


def restrict(con: duckdb.DuckDBPyConnection, *, root: Path, writable: bool) -> None:
    """Lock `con` down for user SQL: no extension install or autoload, file access limited to
    `root` unless `writable`, then the configuration locked."""
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    if not writable:
        folders = sorted({f"{root}/", f"{root.resolve()}/"})
        con.execute("SET allowed_directories = $dirs", {"dirs": folders})
        con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def check_statements(sql: str, *, root: Path, writable: bool) -> None:
    """Raise ForensicsError for a statement the mode does not allow (see the module doc)."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as e:
        raise ForensicsError(f"SQL error: {str(e).strip().splitlines()[0]}") from None
    except ValueError:  # a statement DuckDB parses but cannot name (UPDATE EXTENSIONS)
        raise ForensicsError("SQL error: this statement is not allowed here") from None
    for s in statements:
        kind = s.type.name
        text = " ".join(s.query.split())[:60]
        if kind == "LOAD":
            raise ForensicsError(
                f"`{text}`: extensions are never installed or loaded by `forensics sql` "
                "(it stays offline)"
            )
        if not writable and kind not in _READING:
            raise ForensicsError(
                f"`{text}`: the dataset is opened read-only, so only queries run (SELECT ...); "
                "write a result with -o FILE, or give --writable to run other statements"
            )
        if kind in _NAMING_FILES:
            inside = _inside(kind, s.query, root)
            if inside:
                raise ForensicsError(
                    f"`{text}`: {inside} is inside the dataset {root}; write elsewhere"
                )


def _inside(kind: str, statement: str, root: Path) -> str | None:
    """The path a COPY writes to (or an EXPORT or ATTACH names) when it is in or is `root`.
    Every `TO 'path'` of a COPY is checked, so a literal in the query can only over-refuse."""
    top = root
    found = _TARGET.finditer(statement) if kind == "COPY" else _FIRST.finditer(statement)
    for m in found:
        quoted = m.group(1) if m.group(1) is not None else m.group(2).replace('""', '"')
        raw = quoted.replace("''", "'") if m.group(1) is not None else quoted
        raw = raw.removeprefix("file://")
        if raw and inside_dataset(Path(raw).expanduser(), top):
            return raw
    return None


def inside_dataset(path: Path, root: Path) -> bool:
    """Whether `path` is `root` or lies under it (symlinks resolved)."""
    try:
        p, top = path.resolve(), root.resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    return p == top or top in p.parents


def run_user_sql(
    con: duckdb.DuckDBPyConnection, sql: str, *, root: Path, writable: bool = False
) -> pl.DataFrame:
    """Check `sql` for the mode, lock `con` down and run it (see the module doc)."""
    if not sql.strip():
        raise ForensicsError("empty SQL; give a query, e.g. SELECT count(*) FROM requests")
    check_statements(sql, root=root, writable=writable)
    restrict(con, root=root, writable=writable)
    try:
        return query(con, sql)
    except ForensicsError as e:
        if "Permission Error" in str(e) and not writable:
            raise ForensicsError(
                f"{e} (the dataset is opened read-only and only its own files can be read; "
                "--writable reaches other files)"
            ) from None
        raise
