"""The incident report: one self-contained HTML file (findings, interactive charts, key tables,
provenance) that renders with no network, optionally redacted for sharing outside the team."""

from __future__ import annotations

from typing import Any

__all__ = ["write_report"]


def __getattr__(name: str) -> Any:
    """`write_report`, imported on first use: `forensics.report.redact` (which `incidents
    --redact` needs) then loads without the writer's Altair and chart modules (~2 s)."""
    if name == "write_report":
        from forensics.report.writer import write_report

        return write_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
