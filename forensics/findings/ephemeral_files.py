"""Findings of `forensics.analyses.ephemeral_files`: files the app lost to a dyno's ephemeral,
per-dyno filesystem, one `ephemeral_files` finding per app and path template."""

from __future__ import annotations

import duckdb

from forensics.analyses.ephemeral_files import RESTART_MINUTES, ephemeral_files
from forensics.analyses.sql import app_key_expr
from forensics.findings import Finding, line_sources, round_or_none


def findings(
    con: duckdb.DuckDBPyConnection, *, restart_minutes: float = RESTART_MINUTES
) -> list[Finding]:
    """`ephemeral_files` per app and path template. Warning when an error followed its dyno's
    restart (within `restart_minutes`) or came on a dyno other than one that named the file
    before; info otherwise (the file may simply never have been written)."""
    t = ephemeral_files(con, restart_minutes=restart_minutes)
    out = []
    if t.is_empty():
        return out
    t = t.with_columns(app_key_expr("app", alias="_app"))
    for g in t.partition_by("_app", "path_template", maintain_order=True):
        r = g.row(0, named=True)
        n = g.height
        dynos = sorted(set(g["dyno"].to_list()))
        after = int(g["after_restart"].sum())
        other = int(g["other_dyno"].sum())
        before = int(g["before_restart"].sum())
        mins = [round_or_none(m) for m in g["minutes_since_start"].to_list()]
        why = []
        if after:
            why.append(f"{after} within {restart_minutes:.0f} min of that dyno's restart")
        if other:
            why.append(f"{other} on a dyno other than the one that named the file before")
        if before:
            why.append(f"{before} after the same dyno named it before restarting")
        because = f" ({'; '.join(why)})" if why else ""
        summary = (
            f"The app could not find `{r['path_template']}` {n} time{'s' if n > 1 else ''} on "
            f"{', '.join(dynos)} between {g['ts'].min():%Y-%m-%d %H:%M:%S} and "
            f"{g['ts'].max():%Y-%m-%d %H:%M:%S} UTC{because}: a dyno's filesystem is its own "
            "and is wiped at every restart, so files written at runtime must live elsewhere "
            "(object storage, the database)."
        )
        out.append(
            Finding(
                kind="ephemeral_files",
                severity="warning" if (after or other or before) else "info",
                summary=summary,
                app=r["app"],
                dyno=dynos[0] if len(dynos) == 1 else None,
                process_type=r["process_type"] if g["process_type"].n_unique() == 1 else None,
                start=g["ts"].min(),
                end=g["ts"].max(),
                evidence={
                    "path_template": r["path_template"],
                    "paths": sorted(set(g["path"].to_list()))[:20],
                    "errors": n,
                    "dynos": dynos,
                    "after_restart": after,
                    "other_dyno": other,
                    "before_restart": before,
                    "minutes_since_start": mins[:50],
                    "times": [t.isoformat() for t in g["ts"].to_list()[:200]],
                    "restarts": sorted(
                        {s.isoformat() for s in g["process_start"].drop_nulls().to_list()}
                    )[:50],
                    "named_by": sorted({d for ds in g["named_by"].to_list() for d in ds}),
                    "example": r["error"],
                },
                sources=line_sources(g),
                score=float(n + 2 * (after + other)),
            )
        )
    return out
