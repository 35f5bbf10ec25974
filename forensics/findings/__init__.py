"""Findings: what an analysis concludes, as a sentence plus the evidence behind it.

For each analysis under `forensics/analyses/` that concludes something, the module of the same
name here exposes `findings(con, **options) -> list[Finding]`, built from that analysis'
tables and listed with its options in `builders.BUILDERS`; `collect_findings` runs them all and
ranks the result, most severe first. The JSON
form is the contract of `forensics findings --json`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

import polars as pl

from forensics.errors import ForensicsError

# Version of the JSON form of a finding (`Finding.to_json`), described by
# schema/findings.schema.json; bumped when a change would break a reader.
FINDINGS_SCHEMA_VERSION = 1

Severity = Literal["critical", "warning", "info"]
SEVERITY_RANK: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}

KINDS = (
    "memory_leak",
    "memory_quota",
    "memory_growth",
    "release_regression",
    "timeout_hotspot",
    "crash",
    "crash_loop",
    "boot_timeout",
    "downtime",
    "request_errors",
    "unclean_shutdown",
    "offload_candidate",
    "concurrency",
    "log_loss",
    "ephemeral_files",
    "hung_dyno",
    "job_failed",
    "release_phase_failed",
    "worker_errors",
)


class UnknownOptionError(ForensicsError):
    """An option passed to `collect_findings` that no finding builder accepts."""


@dataclass
class Source:
    """Input lines behind a piece of evidence: a file and a 1-based inclusive line range."""

    file: str
    first_line: int
    last_line: int


@dataclass
class Finding:
    """One conclusion. `score` orders findings of the same severity (bigger = worse)."""

    kind: str
    severity: Severity
    summary: str
    app: str | None = None
    dyno: str | None = None
    process_type: str | None = None
    route: str | None = None
    release: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    sources: list[Source] = field(default_factory=list)
    score: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: `schema_version` first, times as ISO-8601 UTC strings, `score` left
        out (see schema/findings.schema.json)."""
        out = {"schema_version": FINDINGS_SCHEMA_VERSION, **asdict(self)}
        out.pop("score")
        for key in ("start", "end"):
            if out[key] is not None:
                out[key] = _iso(out[key])
        return out


def located(row: dict[str, Any]) -> dict[str, Any]:
    """A finding's app, dyno, process type and release, taken from a table row that has them."""
    return {k: row[k] for k in ("app", "dyno", "process_type", "release")}


MAX_SOURCES = 50  # line ranges kept per finding


def struct_sources(items: Iterable[dict[str, Any]] | None) -> list[Source]:
    """`Source`s from a list of {file, first_line, last_line} structs (as the SQL tables hold)."""
    return [Source(s["file"], int(s["first_line"]), int(s["last_line"])) for s in items or []]


def line_sources(df: pl.DataFrame, limit: int = MAX_SOURCES) -> list[Source]:
    """Input line ranges behind the rows of `df` (columns source_file, line_no and optionally
    line_count): adjacent or overlapping lines merge into one range; at most `limit` ranges,
    earliest first."""
    if df.is_empty() or "line_no" not in df.columns:
        return []
    count = pl.col("line_count").fill_null(1) if "line_count" in df.columns else pl.lit(1)
    d = (
        df.select(
            pl.col("source_file").fill_null("?").alias("file"),
            pl.col("line_no").alias("first"),
            (pl.col("line_no") + count - 1).alias("last"),
        )
        .drop_nulls("first")
        .unique()
        .sort("file", "first")
    )
    d = d.with_columns(prev=pl.col("last").cum_max().shift(1).over("file"))
    d = d.with_columns(
        grp=(pl.col("prev").is_null() | (pl.col("first") > pl.col("prev") + 1)).cum_sum()
    )
    r = (
        d.group_by("file", "grp")
        .agg(pl.col("first").min(), pl.col("last").max())
        .sort("file", "first")
        .head(limit)
    )
    return [Source(f, int(a), int(b)) for f, a, b in r.select("file", "first", "last").iter_rows()]


def round_or_none(value: Any, digits: int = 1) -> float | None:
    """`value` rounded for evidence, None kept (numbers from frames may be null)."""
    return None if value is None else round(float(value), digits)


def duration_text(minutes: float) -> str:
    """A period's length for a summary: `40 s` under a minute, `25 min` under two hours, else
    `3.5 h`."""
    if minutes < 1:
        return f"{minutes * 60:.0f} s"
    if minutes < 120:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if ts.tzinfo else ts.isoformat() + "Z"


def rank(findings: list[Finding]) -> list[Finding]:
    """Most severe first; within a severity, highest score first, then earliest."""
    return sorted(
        findings,
        key=lambda f: (
            SEVERITY_RANK[f.severity],
            -f.score,
            f.start.timestamp() if f.start else float("inf"),
            f.kind,
        ),
    )


def collect_findings(con: Any, **options: Any) -> list[Finding]:
    """Run every finding builder (`forensics.findings.builders.BUILDERS`) over an open dataset
    and rank the result.

    Each option goes to the builders that declare it (e.g. `workers=2` to the concurrency one);
    a name no builder declares raises ForensicsError listing the valid ones.
    """
    from forensics.analyses.attribution import route_attribution
    from forensics.analyses.downtime import downtime
    from forensics.analyses.hung_dynos import hung_dynos
    from forensics.analyses.memory import lifetimes_and_growth
    from forensics.findings.builders import (
        ATTRIBUTION,
        BUILDERS,
        DOWNTIME,
        GROWTH,
        HUNG,
        LIFETIMES,
    )

    valid = set().union(*(b.options for b in BUILDERS))
    unknown = sorted(set(options) - valid)
    if unknown:
        raise UnknownOptionError(
            f"unknown findings option(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}"
        )
    # Frames several analyses need: computed once here and handed to each of them.
    options[LIFETIMES], options[GROWTH] = lifetimes_and_growth(
        con, options.get(LIFETIMES), options.get(GROWTH)
    )
    if options.get(ATTRIBUTION) is None:
        options[ATTRIBUTION] = route_attribution(
            con, lifetimes=options[LIFETIMES], growth=options[GROWTH]
        )
    if options.get(HUNG) is None and HUNG in valid:
        options[HUNG] = hung_dynos(con)
    if options.get(DOWNTIME) is None and DOWNTIME in valid:
        options[DOWNTIME] = downtime(con)
    found: list[Finding] = []
    for builder in BUILDERS:
        found.extend(builder.build(con, **{k: options[k] for k in builder.options & set(options)}))
    return rank(found)
