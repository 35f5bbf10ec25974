"""The incident report: one self-contained HTML file (findings, interactive charts, key tables,
provenance) that renders with no network, optionally redacted for sharing outside the team."""

from forensics.report.writer import write_report

__all__ = ["write_report"]
