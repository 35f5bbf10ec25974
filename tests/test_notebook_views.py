"""What the notebooks display: charts as offline HTML (the Vega libraries inside, no CDN), the
widget views with an empty state, and tables shown whole."""

from __future__ import annotations

import base64
import gzip
import re
from datetime import UTC, datetime
from pathlib import Path

import altair as alt
import polars as pl
import pytest

from forensics import notebook
from forensics.analyses import timeouts
from forensics.charts import timeout_hotspots_chart
from forensics.ingest import ingest
from forensics.report.assets import vega_bundle
from forensics.store.views import open_dataset

ROUTER = (
    '{ts} heroku[router]: at={at} method=GET path="/search" host=a.herokuapp.com '
    'request_id=r{n} fwd="1.2.3.4" dyno=web.1 connect=1ms service={ms}ms status={status} '
    "bytes=1 protocol=https"
)
LINES = [
    ROUTER.format(ts="2024-05-20T10:00:00.000001+00:00", at="info", n=1, ms=5, status=200),
    ROUTER.format(ts="2024-05-20T11:00:00.000001+00:00", at="info", n=2, ms=7, status=200),
    "2024-05-20T10:30:00.000001+00:00 heroku[web.1]: source=web.1 dyno=heroku.1.x "
    "sample#memory_total=300.00MB sample#memory_rss=290.00MB sample#memory_cache=1.00MB "
    "sample#memory_swap=0.00MB sample#memory_pgpgin=0pages sample#memory_pgpgout=0pages "
    "sample#memory_quota=512.00MB",
]


@pytest.fixture()
def ds(tmp_path: Path) -> Path:
    log = tmp_path / "a.log"
    log.write_text("\n".join(LINES) + "\n")
    ingest([str(log)], tmp_path / "ds", app="shop")
    return tmp_path / "ds"


@pytest.fixture()
def con(ds: Path):
    return open_dataset(ds)


@pytest.fixture()
def renderer():
    """Altair's renderer as it was before the test."""
    before = alt.renderers.active
    yield
    alt.renderers.enable(before)


def test_chart_html_carries_the_libraries_and_fetches_nothing() -> None:
    page = notebook.chart_html({"mark": "point", "data": {"values": [{"a": 1}]}})
    assert not re.search(r"https?://", page)
    packed = re.search(r'"([A-Za-z0-9+/=]{100000,})"\);', page)[1]
    assert gzip.decompress(base64.b64decode(packed)).decode() == vega_bundle()
    assert 'class="vega-chart"' in page and 'data-status="loading"' in page
    # where scripts do not run (an untrusted notebook), a sentence says why there is no chart
    undrawn = r'data-status="loading"><p class="forensics-undrawn"[^>]*>Chart not drawn'
    assert re.search(undrawn, page)
    assert page.count("<script") == 1 and page.count("</script>") == 1


def test_text_in_a_spec_cannot_end_the_script() -> None:
    hostile = "</script><img src=x onerror=alert(1)><!--"
    page = notebook.chart_html({"mark": "text", "data": {"values": [{"t": hostile}]}})
    assert page.count("</script>") == 1 and page.rstrip().endswith("</script>")
    assert "<!--" not in page  # would put the script parser in its escaped state
    assert "<\\/script><img src=x onerror=alert(1)><\\u0021--" in page  # the same string in JS


def test_each_chart_gets_its_own_element() -> None:
    ids = {re.search(r'id="([^"]+)"', notebook.chart_html({"mark": "point"}))[1] for _ in "ab"}
    assert len(ids) == 2


def test_offline_charts_is_the_renderer_the_notebooks_get(ds: Path, renderer) -> None:
    alt.renderers.enable("default")
    notebook.open_for_notebook(ds)
    assert alt.renderers.active == notebook.RENDERER
    bundle = alt.Chart(pl.DataFrame({"x": [1]})).mark_point().encode(x="x:Q")._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert 'class="vega-chart"' in data["text/html"]
    assert "cdn.jsdelivr" not in data["text/html"] and "requirejs" not in data["text/html"]
    notebook.offline_charts()  # twice is fine
    assert alt.renderers.active == notebook.RENDERER


def test_no_h12_draws_a_sentence_not_an_empty_heatmap(con) -> None:
    heat = timeouts.error_heatmap(con)
    assert heat.is_empty()
    spec = timeout_hotspots_chart(heat, timeouts.route_percentiles(con)).to_dict()
    text = str(spec)
    assert spec["title"] == "H12 per route" and "0-min" not in text
    assert spec["mark"]["type"] == "text" and "color" not in spec.get("encoding", {})
    rows = next(iter(spec["datasets"].values())) if "datasets" in spec else spec["data"]["values"]
    assert rows == [{"text": "No H12 in this selection: no route to show."}]
    many = timeout_hotspots_chart(heat, heat, codes=("H12", "H13")).to_dict()
    assert many["title"] == "H12/H13 per route"


def test_views_say_what_a_selection_lacks(con) -> None:
    late = {"since": datetime(2024, 5, 21, tzinfo=UTC), "until": datetime(2024, 5, 22, tzinfo=UTC)}
    memory = notebook.memory_view(con, dyno="web.1", **late)
    assert memory.data == (
        '<p class="forensics-empty" style="color:#555">No memory sample in this selection '
        "(dyno web.1, 2024-05-21 00:00:00 UTC to 2024-05-22 00:00:00 UTC).</p>"
    )
    assert "No release, scaling, restart, crash or downtime in this selection." in (
        notebook.timeline_view(con).data
    )
    assert isinstance(notebook.memory_view(con), alt.TopLevelMixin)  # a sample: a chart
    h12 = notebook.timeouts_view(con, dyno="web.1").to_dict()
    assert h12["title"] == "H12 per route"


def test_findings_table_shows_every_row_and_whole_sentences() -> None:
    sentence = "web.1 was killed for exceeding its memory quota " * 6 + "<b>end</b>."
    frame = pl.DataFrame(
        {
            "severity": ["warning"] * 25,
            "start": [datetime(2024, 5, 20, 10, i, tzinfo=UTC) for i in range(25)],
            "summary": [f"{i}: {sentence}" for i in range(25)],
        }
    )
    table = notebook.Table(frame)
    page = table._repr_html_()
    assert page.count("<tr>") == 26  # the header and all 25 rows, none hidden
    assert all(f"{i}: {sentence}".replace("<b>", "&lt;b&gt;").replace("</b>", "&lt;/b&gt;")
               in page for i in range(25))  # fmt: skip
    assert "2024-05-20 10:24:00 UTC" in page and "<b>" not in page
    assert "…" not in repr(table) and repr(table).count("warning") == 25


def test_findings_are_computed_once_per_connection(ds: Path, monkeypatch) -> None:
    import forensics.findings

    calls: list[object] = []
    real = forensics.findings.collect_findings
    monkeypatch.setattr(
        forensics.findings, "collect_findings", lambda c: calls.append(c) or real(c)
    )
    con = open_dataset(ds)
    notebook.incidents_view(con)
    table = notebook.findings_table(con)
    assert calls == [con] and table.frame.height >= 1
    other = open_dataset(ds)
    notebook.findings_table(other)
    assert calls == [con, other]
