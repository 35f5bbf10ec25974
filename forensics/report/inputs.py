"""The findings the report shows: `forensics.findings.collect_findings`, handed the analysis
tables the report already computed so both use the same ones. A missing findings module is
reported, never faked."""

from __future__ import annotations

from typing import Any

import duckdb

NO_FINDINGS = "no findings module available (forensics.findings.collect_findings)"


def collect(con: duckdb.DuckDBPyConnection, **frames: Any) -> tuple[list[Any] | None, str]:
    """Findings from `forensics.findings.collect_findings(con)`, or None and why not.

    `frames` (`lifetimes`, `growth`, `attribution`) already computed are handed on, so the
    analyses that take them do not compute them again; None values are left out.
    """
    try:
        from forensics.findings import collect_findings
    except ImportError:
        return None, NO_FINDINGS
    return list(collect_findings(con, **{k: v for k, v in frames.items() if v is not None})), ""
