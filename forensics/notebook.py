"""What the notebooks call: open (or build) the dataset, widgets to pick app, dyno, route and
time window, and an output that redraws a chart (of an analysis' table) on each selection.

The logic behind the widgets is plain functions (`options`, `selection`), tested as such; the
notebooks stay a few lines each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from forensics.store.layout import MANIFEST
from forensics.store.views import Cut, open_dataset, query

ALL = "(all)"
_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_LOG = _ROOT / "data" / "samples" / "heroku-sample.log.gz"
SAMPLE_APP = "acme-shop"
DEFAULT_DATASET = _ROOT / "out" / "sample"


def ensure_dataset(path: str | Path | None = None) -> Path:
    """The dataset to open: `path`, or the one `make run` builds from the bundled sample,
    ingesting the sample first if that dataset is not there yet."""
    if path is not None:
        return Path(path)
    if not (DEFAULT_DATASET / MANIFEST).exists():
        from forensics.ingest import ingest

        ingest([str(SAMPLE_LOG)], DEFAULT_DATASET, app=SAMPLE_APP)
    return DEFAULT_DATASET


@dataclass(frozen=True)
class Options:
    """What the widgets offer: apps, dynos, busiest routes, and the time span."""

    apps: list[str]
    dynos: list[str]
    routes: list[str]
    start: datetime | None
    end: datetime | None


def options(con: duckdb.DuckDBPyConnection, *, max_routes: int = 40) -> Options:
    """Choices for the widgets, from the data."""
    apps = query(con, "SELECT DISTINCT app FROM requests WHERE app IS NOT NULL ORDER BY 1")
    dynos = query(
        con,
        "SELECT DISTINCT dyno FROM dyno_metrics UNION SELECT DISTINCT dyno FROM requests "
        "WHERE dyno IS NOT NULL ORDER BY 1",
    )
    routes = query(
        con,
        f"SELECT route FROM requests WHERE route IS NOT NULL GROUP BY route "
        f"ORDER BY count(*) DESC LIMIT {int(max_routes)}",
    )
    span = query(
        con, "SELECT min(ts) AS a, max(ts) AS b FROM (SELECT ts FROM requests "
        "UNION ALL SELECT ts FROM dyno_metrics UNION ALL SELECT ts FROM events)"
    )  # fmt: skip
    return Options(
        apps=apps["app"].to_list(),
        dynos=[d for d in dynos["dyno"].to_list() if d],
        routes=routes["route"].to_list(),
        start=span["a"][0],
        end=span["b"][0],
    )


def selection(
    *, dyno: str = ALL, route: str = ALL, window: tuple[datetime, datetime] | None = None
) -> dict[str, Any]:
    """Widget values -> keyword filters the drawable analysis tables take (`dyno`, `route`,
    `since`, `until`: `memory.memory_trend`, `timeouts.error_heatmap`, `availability.timeline`);
    `(all)` means no filter."""
    picked: dict[str, Any] = {}
    if dyno != ALL:
        picked["dyno"] = dyno
    if route != ALL:
        picked["route"] = route
    if window is not None:
        picked["since"], picked["until"] = window
    return picked


def open_for_notebook(path: str | Path | None = None, *, app: str | None = None) -> Any:
    """(connection, dataset path) for a notebook: the sample dataset unless told otherwise."""
    root = ensure_dataset(path)
    return open_dataset(root, cut=Cut(app=app)), root


def controls(con: duckdb.DuckDBPyConnection) -> Any:
    """ipywidgets for dyno, route and time window (hourly steps over the data's span)."""
    import ipywidgets as w

    opts = options(con)
    dyno = w.Dropdown(options=[ALL, *opts.dynos], description="dyno")
    route = w.Dropdown(options=[ALL, *opts.routes], description="route")
    hours = _hours(opts.start, opts.end)
    window = w.SelectionRangeSlider(
        options=[(h.strftime("%m-%d %H:%M"), h) for h in hours],
        index=(0, len(hours) - 1),
        description="window",
        layout=w.Layout(width="90%"),
    )
    return w.VBox([w.HBox([dyno, route]), window])


def _hours(start: datetime | None, end: datetime | None) -> list[datetime]:
    if start is None or end is None:
        now = datetime.now().astimezone()
        return [now, now]
    first = start.replace(minute=0, second=0, microsecond=0)
    out = pl.datetime_range(first, end, interval="1h", eager=True).to_list()
    return out if len(out) > 1 else [first, end]


def values(box: Any) -> dict[str, Any]:
    """The current filters from a `controls()` box."""
    (dyno, route), window = box.children[0].children, box.children[1]
    return selection(dyno=dyno.value, route=route.value, window=tuple(window.value))


def follow(box: Any, render: Callable[..., Any], *, takes: tuple[str, ...] = ()) -> Any:
    """An output area that re-renders `render(**filters)` whenever the controls change.

    `takes` limits the filters passed to those `render` accepts (e.g. ("dyno", "since",
    "until") for a chart without a route filter).
    """
    import ipywidgets as w
    from IPython.display import display

    out = w.Output()

    def draw(_: Any = None) -> None:
        picked = values(box)
        if takes:
            picked = {k: v for k, v in picked.items() if k in takes}
        out.clear_output(wait=True)
        with out:
            display(render(**picked))

    for child in (*box.children[0].children, box.children[1]):
        child.observe(draw, names="value")
    draw()
    return out


def findings_table(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The ranked findings as a table (severity, kind, where, when, summary)."""
    from forensics.findings import collect_findings

    rows = [
        {
            "severity": f.severity,
            "kind": f.kind,
            "dyno": f.dyno or f.process_type,
            "route": f.route,
            "release": f.release,
            "start": f.start,
            "summary": f.summary,
        }
        for f in collect_findings(con)
    ]
    return pl.DataFrame(rows) if rows else pl.DataFrame({"summary": ["no findings"]})


def incidents_view(con: duckdb.DuckDBPyConnection, *, excerpts: bool = False) -> Any:
    """The incidents, most costly first, as Markdown the notebook renders: each its impact,
    cause, what changed, advice and timeline (with the raw lines around each source when
    `excerpts`)."""
    from IPython.display import Markdown

    from forensics.findings import collect_findings
    from forensics.incidents import build_incidents, incidents_markdown
    from forensics.store.excerpts import excerpter

    found = build_incidents(con, collect_findings(con))
    if not found:
        return Markdown("No incidents: the analyses found nothing to report.")
    if excerpts:
        return Markdown(incidents_markdown(found, excerpt=excerpter(con)))
    return Markdown(incidents_markdown(found))
