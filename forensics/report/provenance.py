"""Provenance: what the report was made from (inputs of the manifest, rows, time span, versions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from forensics import __version__
from forensics.analyses.dataset import row_counts, time_span
from forensics.report.assets import versions
from forensics.report.page import Table
from forensics.schema import SCHEMA_VERSION
from forensics.store.manifest import load_manifest
from forensics.store.views import Cut


def inputs_table(root: Path) -> Table:
    """One row per input file the manifest records."""
    manifest = load_manifest(root)
    rows = [
        [
            f.get("name"),
            f.get("status"),
            f.get("format"),
            f.get("lines"),
            f.get("size"),
            (f.get("sha256") or "")[:16],
            f.get("ts_min"),
            f.get("ts_max"),
            f.get("ingested_at"),
        ]
        for f in manifest.files
    ]
    return Table(
        key="table-inputs",
        title="Input files",
        columns=[
            "file",
            "status",
            "format",
            "lines",
            "bytes",
            "sha256",
            "first",
            "last",
            "ingested",
        ],
        rows=rows,
        numeric={3, 4},
    )


def facts(
    root: Path,
    con: duckdb.DuckDBPyConnection,
    cut: Cut | None,
    *,
    redacted: bool,
    generated: str,
    span: tuple[Any, Any] | None = None,
) -> list[tuple[str, Any]]:
    """Label/value pairs for the provenance section (and the page header); `span`: the
    dataset's time span when the caller has it (else it is looked up)."""
    manifest = load_manifest(root)
    lo, hi = span if span is not None and span[0] is not None else time_span(con)
    counts = row_counts(con)
    lines = sum(int(f.get("lines") or 0) for f in manifest.files)
    lib = versions()
    cut_text = _cut_text(cut)
    return [
        ("dataset", str(root)),
        ("time span (UTC)", f"{_t(lo)} → {_t(hi)}"),
        ("cut", cut_text),
        ("input files", len(manifest.files)),
        ("input lines", lines),
        ("rows (in cut)", ", ".join(f"{t} {n:,}" for t, n in counts.items())),
        ("generated", generated),
        ("forensics", f"{__version__} (dataset written by {manifest.tool_version}, "
                      f"schema {SCHEMA_VERSION})"),
        ("charts", ", ".join(f"{k} {v}" for k, v in lib.items())),
        ("redacted", "yes: personal data and secrets masked, file names as references "
                     "(`forensics report --help` lists what)" if redacted else "no"),
    ]  # fmt: skip


def _t(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _cut_text(cut: Cut | None) -> str:
    if cut is None:
        return "none (whole dataset)"
    parts = [
        f"{name} {value.isoformat() if hasattr(value, 'isoformat') else value}"
        for name, value in (
            ("app", cut.app),
            ("since", cut.since),
            ("until", cut.until),
            ("dyno", cut.dyno),
        )
        if value is not None
    ]
    return ", ".join(parts) or "none (whole dataset)"
