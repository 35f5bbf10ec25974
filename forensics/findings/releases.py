"""Findings of `forensics.analyses.releases`: its tables turned into `Finding`s."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import duckdb

from forensics.analyses.releases import (
    RELEASE_COLUMNS,
    memory_not_comparable,
    release_regressions,
    release_stats,
)
from forensics.findings import Finding, Source, struct_sources

_LABELS = {
    "p50_ms": ("p50 service time", "{:.0f} ms"),
    "p95_ms": ("p95 service time", "{:.0f} ms"),
    "p99_ms": ("p99 service time", "{:.0f} ms"),
    "error_rate": ("5xx rate", "{:.2%}"),
    "h12_rate": ("H12 rate", "{:.2%}"),
    "memory_slope_mb_h": ("memory growth", "{:.1f} MB/h"),
    "r14_per_hour": ("R14 errors", "{:.2f}/h"),
    "r15_per_hour": ("R15 kills", "{:.2f}/h"),
    "crashes_per_hour": ("crashes", "{:.2f}/h"),
}


def findings(con: duckdb.DuckDBPyConnection, **options: Any) -> list[Finding]:
    """`release_regression`: one finding per release with at least one regressed metric."""
    lt, gr = options.pop("lifetimes", None), options.pop("growth", None)
    st = release_stats(con, lifetimes=lt, growth=gr)  # computes them only if it needs them
    reg = release_regressions(con, stats=st, **options)
    if reg.height == 0:
        return []
    # memory growth the previous release gave no slope for: said, never compared with 0
    unmeasured: dict[tuple[Any, Any], list[str]] = {}
    for r in memory_not_comparable(st).iter_rows(named=True):
        unmeasured.setdefault((r["app"], r["release"]), []).append(
            f"memory growth on {r['process_type']}: {r['reason']}"
        )
    by_rel = {(r["app"], r["release"]): r for r in st.iter_rows(named=True)}
    out = []
    for (app, rel), rows in reg.group_by("app", "release", maintain_order=True):
        s = by_rel[(app, rel)]
        items = rows.to_dicts()
        parts = []
        for r in items:
            label, fmt = _LABELS[r["metric"]]
            if r["route"]:
                label += f" of {r['route']}"
            if r["process_type"]:
                label += f" on {r['process_type']}"
            was = fmt.format(r["previous_value"])
            parts.append(f"{label} {fmt.format(r['value'])} (was {was})")
        metrics = {r["metric"] for r in items}
        critical = bool(metrics & {"r15_per_hour", "crashes_per_hour"}) or (
            "memory_slope_mb_h" in metrics and (s["r14"] or s["r15"])
        )
        prev = items[0]["previous"]
        summary = f"Release {rel} regressed against {prev}: " + "; ".join(parts) + "."
        # the `Release vN` line, then the requests counted for it
        sources = []
        if s["source_file"] is not None:
            sources.append(Source(s["source_file"], int(s["line_no"]), int(s["line_no"])))
        sources += struct_sources(s["request_sources"])
        out.append(
            Finding(
                kind="release_regression",
                severity="critical" if critical else "warning",
                summary=summary,
                app=app or None,
                release=rel,
                process_type=next((r["process_type"] for r in items if r["process_type"]), None),
                start=s["start"],
                end=s["end"],
                evidence={
                    "previous": prev,
                    "regressions": [
                        {
                            k: r[k]
                            for k in (
                                "metric",
                                "route",
                                "process_type",
                                "previous_value",
                                "value",
                                "ratio",
                                "test",
                                "p_value",
                            )
                        }
                        for r in items
                    ],
                    "release": _jsonable(s),
                    "previous_release": _jsonable(by_rel.get((app, prev), {})),
                    "not_comparable": unmeasured.get((app, rel), []),
                },
                sources=sources,
                score=float(len(items)),
            )
        )
    return out


# Columns of `release_stats` left out of a finding's evidence: the app and version are the
# finding's own fields, the rest are lists the finding cites as sources or routes.
_NOT_EVIDENCE = frozenset(
    ("app", "version", "leak_share", "memory", "memory_unjudged", "routes", "source_file",
     "line_no", "request_sources")
)  # fmt: skip


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """A release's stats row as evidence: JSON-ready values, NaN as null."""
    keep = [c for c in RELEASE_COLUMNS if c not in _NOT_EVIDENCE]
    out = {}
    for k in keep:
        v = row.get(k)
        if isinstance(v, datetime):
            v = v.isoformat()
        elif isinstance(v, float) and math.isnan(v):
            v = None
        out[k] = v
    return out
