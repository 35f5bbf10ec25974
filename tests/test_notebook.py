"""The functions behind the notebooks' widgets, tested as functions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from forensics import notebook
from forensics.ingest import ingest
from forensics.notebook import ALL, options, selection, values
from forensics.store.views import open_dataset

LINES = [
    '2024-05-20T10:00:00.000001+00:00 heroku[router]: at=info method=GET path="/users/1" '
    'host=a.herokuapp.com request_id=r1 fwd="1.2.3.4" dyno=web.1 connect=1ms service=5ms '
    "status=200 bytes=1 protocol=https",
    '2024-05-20T12:30:00.000001+00:00 heroku[router]: at=info method=GET path="/users/2" '
    'host=a.herokuapp.com request_id=r2 fwd="1.2.3.4" dyno=web.2 connect=1ms service=5ms '
    "status=200 bytes=1 protocol=https",
    "2024-05-20T11:00:00.000001+00:00 heroku[worker.1]: source=worker.1 dyno=heroku.1.x "
    "sample#load_avg_1m=0.01 sample#load_avg_5m=0.02 sample#load_avg_15m=0.03",
]


@pytest.fixture()
def con(tmp_path: Path):
    log = tmp_path / "a.log"
    log.write_text("\n".join(LINES) + "\n")
    ingest([str(log)], tmp_path / "ds", app="shop")
    return open_dataset(tmp_path / "ds")


def test_options_come_from_the_data(con) -> None:
    opts = options(con)
    assert opts.apps == ["shop"]
    assert opts.dynos == ["web.1", "web.2", "worker.1"]
    assert opts.routes == ["/users/:id"]
    assert opts.start == datetime(2024, 5, 20, 10, 0, 0, 1, tzinfo=UTC)
    assert opts.end == datetime(2024, 5, 20, 12, 30, 0, 1, tzinfo=UTC)


def test_selection_maps_all_to_no_filter() -> None:
    a, b = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)
    assert selection() == {}
    assert selection(dyno="web.1", route=ALL) == {"dyno": "web.1"}
    assert selection(route="/x", window=(a, b)) == {"route": "/x", "since": a, "until": b}


def test_controls_offer_the_data_and_report_the_picked_values(con) -> None:
    box = notebook.controls(con)
    (dyno, route), window = box.children[0].children, box.children[1]
    assert list(dyno.options) == [ALL, "web.1", "web.2", "worker.1"]
    assert list(route.options) == [ALL, "/users/:id"]
    hours = [v for _, v in window.options]
    assert hours[0] == datetime(2024, 5, 20, 10, tzinfo=UTC) and len(hours) == 3
    dyno.value = "web.2"
    window.index = (1, 2)
    assert values(box) == {"dyno": "web.2", "since": hours[1], "until": hours[2]}


class FakeHandle:
    """Stands in for IPython's DisplayHandle: what was shown, then each update."""

    def __init__(self) -> None:
        self.shown: list = []

    def display(self, obj) -> None:
        self.shown.append(("display", obj))

    def update(self, obj) -> None:
        self.shown.append(("update", obj))


@pytest.fixture()
def handle(monkeypatch: pytest.MonkeyPatch) -> FakeHandle:
    fake = FakeHandle()
    monkeypatch.setattr(notebook, "_display_handle", lambda: fake)
    return fake


def test_follow_redraws_in_place_with_the_current_filters(con, handle: FakeHandle) -> None:
    box = notebook.controls(con)
    seen: list[dict] = []
    notebook.follow(box, lambda **f: seen.append(f) or f"chart {len(seen)}", takes=("dyno",))
    box.children[0].children[0].value = "web.1"
    box.children[0].children[1].value = "/users/:id"  # not taken: same filters, redrawn
    assert seen == [{}, {"dyno": "web.1"}, {"dyno": "web.1"}]
    assert handle.shown == [("display", "chart 1"), ("update", "chart 2"), ("update", "chart 3")]


def test_follow_passes_the_filters_the_view_names(con, handle: FakeHandle) -> None:
    box = notebook.controls(con)
    seen: list[tuple] = []

    def view(c, *, dyno=None, since=None, until=None):
        seen.append((c, dyno, since is not None, until is not None))
        return "chart"

    notebook.follow(box, view, "CON")
    box.children[0].children[0].value = "web.2"
    box.children[0].children[1].value = "/users/:id"  # the view takes no route
    web2 = ("CON", "web.2", True, True)
    assert seen == [("CON", None, True, True), web2, web2]


def test_follow_shows_a_failed_redraw_instead_of_the_old_chart(con, handle: FakeHandle) -> None:
    box = notebook.controls(con)

    def view(*, dyno=None):
        if dyno:
            raise ValueError(f"no {dyno}")
        return "chart"

    notebook.follow(box, view)
    with pytest.raises(ValueError):
        box.children[0].children[0].value = "web.1"
    kind, shown = handle.shown[-1]
    assert kind == "update" and "could not draw this selection: ValueError: no web.1" in (
        shown.data
    )


def test_default_dataset_is_built_from_the_sample_when_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notebook, "DEFAULT_DATASET", tmp_path / "sample")
    monkeypatch.setattr(notebook, "SAMPLE_LOG", _small_sample(tmp_path))
    root = notebook.ensure_dataset(None)
    assert (root / "manifest.json").exists()
    assert notebook.ensure_dataset(tmp_path / "elsewhere") == tmp_path / "elsewhere"


def _small_sample(tmp_path: Path) -> Path:
    log = tmp_path / "sample.log"
    log.write_text("\n".join(LINES) + "\n")
    return log


NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebooks_are_committed_without_outputs_and_import_from_the_package(path: Path) -> None:
    import json

    cells = json.loads(path.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code, "a notebook with no code"
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    source = "".join("".join(c["source"]) for c in code)
    assert "from forensics" in source
    assert "def " not in source, "logic belongs in the package, not the notebook"


def test_there_are_the_four_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "memory_leaks.ipynb", "releases.ipynb", "timeouts.ipynb", "triage.ipynb",
    ]  # fmt: skip


def test_incidents_view_renders_the_incidents(tmp_path: Path) -> None:
    """The triage notebook starts from the incidents: Markdown with a section per incident."""
    from forensics.findings import collect_findings
    from forensics.incidents import build_incidents

    sample = Path(__file__).resolve().parents[1] / "data" / "samples" / "heroku-sample.log.gz"
    ingest([str(sample)], tmp_path / "ds", app="acme-shop")
    con = open_dataset(tmp_path / "ds")

    view = notebook.incidents_view(con)
    incidents = build_incidents(con, collect_findings(con))
    assert view.data.count("\n## ") == len(incidents) > 0
    assert "### Timeline" in view.data
    with_lines = notebook.incidents_view(con, excerpts=True)
    assert len(with_lines.data) > len(view.data) and "```" in with_lines.data
