"""The notebooks as a user sees them: each opened in JupyterLab (127.0.0.1, temporary token) in
headless Chromium with the network cut, every cell run; and one exported by `nbconvert --to html
--execute` and opened from file://. Every chart cell must hold an interactive vega-embed view,
no cell an error or stderr, no request may leave 127.0.0.1, and picking a dyno redraws each
widget-driven chart as that dyno's."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from notebook_browser import (
    CELLS_JS,
    CHARTS_SETTLED_JS,
    LOOPBACK,
    OPENED_JS,
    REPO,
    RUN_ALL_JS,
    SHUTDOWN_JS,
    Lab,
    Traffic,
    jupyter_env,
    jupyterlab,
)
from report_browser import OFFLINE_ARGS, find_chromium

from forensics import notebook

NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
DYNO = "web.2"  # picked in the dyno widget; the sample has web.1-3 and worker.1-2
RUN_MS = 180_000
CHART_CALL = re.compile(r"\b(follow\(|\w+_chart\()")
FOLLOWED = re.compile(r"follow\(ui, (\w+), con\)")
# What nbconvert's own page template fetches (require.js, MathJax, the widget manager);
# offline they fail and only the widgets stay inert.
TEMPLATE_ASSETS = re.compile(r"require\.js|/mathjax/|@jupyter-widgets/html-manager")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium installed (Debian: apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=list(OFFLINE_ARGS))
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def sample() -> Path:
    """The sample dataset the notebooks open, built once before any kernel wants it."""
    return notebook.ensure_dataset()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, sample: Path) -> Iterator[Lab]:
    """One JupyterLab for all the notebooks, serving copies (its saves never touch the repo)."""
    home = tmp_path_factory.mktemp("jupyterlab")
    root = home / "root"
    root.mkdir()
    for name in NOTEBOOKS:
        shutil.copy(REPO / "notebooks" / name, root / name)
    with jupyterlab(root, home) as server:
        yield server


@dataclass
class Run:
    """What one notebook showed after Run All, and after a dyno was picked."""

    name: str
    cells: list[dict[str, Any]]
    picked: list[dict[str, Any]] | None
    traffic: Traffic
    screenshot: Path  # beside it, one picture per chart as last drawn


@pytest.fixture(scope="module", params=NOTEBOOKS)
def ran(request: pytest.FixtureRequest, lab: Lab, chromium: Any) -> Iterator[Run]:
    name = request.param
    traffic = Traffic(allowed=(LOOPBACK,))
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    traffic.watch(page)
    try:
        page.goto(lab.tree(name))
        page.wait_for_function(OPENED_JS, arg=name, timeout=60_000)
        assert page.evaluate(RUN_ALL_JS, RUN_MS), f"{name}: Run All stopped early"
        page.wait_for_function(CHARTS_SETTLED_JS, timeout=60_000)
        cells = page.evaluate(CELLS_JS)
        picked = _pick_dyno(page, cells) if any("controls(" in c["source"] for c in cells) else None
        shot = lab.root.parent / f"{name}.png"
        page.screenshot(path=str(shot))
        for i, chart in enumerate(page.query_selector_all("div.vega-chart")):
            chart.screenshot(path=str(shot.with_suffix(f".chart{i}.png")))  # to look at
        page.evaluate(SHUTDOWN_JS)
        yield Run(name, cells, picked, traffic, shot)
    finally:
        context.close()


def _pick_dyno(page: Any, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pick DYNO in the dyno dropdown; wait until every followed chart is drawn anew."""
    page.locator(".widget-dropdown", has_text="dyno").locator("select").select_option(DYNO)
    old = [ch["id"] for c in before for ch in c["charts"] if FOLLOWED.search(c["source"])]
    page.wait_for_function(
        """(old) => {
          const now = Array.from(document.querySelectorAll('div.vega-chart'));
          return old.every(id => !document.getElementById(id))
            && now.every(el => el.dataset.status !== 'loading');
        }""",
        arg=old,
        timeout=60_000,
    )
    return page.evaluate(CELLS_JS)


def chart_cells(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in cells if CHART_CALL.search(c["source"])]


def test_every_cell_ran_without_error_or_stderr(ran: Run) -> None:
    assert all(c["count"] is not None for c in ran.cells), ran.name
    for cell in ran.cells:
        bad = [o for o in cell["outputs"] if o["type"] == "error" or o["name"] == "stderr"]
        assert not bad, (ran.name, cell["source"], bad)
        assert cell["stderr_shown"] == 0, (ran.name, cell["source"])
    assert ran.traffic.page_errors == [], ran.traffic.page_errors


def test_every_chart_cell_holds_an_interactive_view(ran: Run) -> None:
    cells = chart_cells(ran.cells)
    assert cells, f"{ran.name} draws no chart"
    for cell in cells:
        [chart] = cell["charts"]  # exactly one view per chart cell
        assert chart["status"] == "rendered" and chart["view"], (ran.name, cell["source"], chart)
        assert chart["marks"] > 0 and chart["images"] == 0, (ran.name, cell["source"], chart)
    # and no chart anywhere else (a widget box, a table) nor a failed one
    assert sum(len(c["charts"]) for c in ran.cells) == len(cells)


def test_no_request_left_loopback(ran: Run) -> None:
    assert ran.traffic.left == []


def test_picking_a_dyno_redraws_each_followed_chart_for_that_dyno(
    ran: Run, chromium: Any, sample: Path
) -> None:
    if ran.picked is None:
        pytest.skip(f"{ran.name} has no widgets")
    before = {c["source"]: c for c in ran.cells}
    followed = [c for c in ran.picked if FOLLOWED.search(c["source"])]
    assert followed, f"{ran.name} has widgets but no followed chart"
    expected = _drawn_directly(
        chromium, sample, [FOLLOWED.search(c["source"])[1] for c in followed]
    )
    for cell, want in zip(followed, expected, strict=True):
        [now] = cell["charts"]
        [was] = before[cell["source"]]["charts"]
        assert now["id"] != was["id"] and now["status"] == "rendered" and now["view"]
        assert [now["marks"], now["text"]] == want, cell["source"]  # what that dyno's chart shows
        assert now["text"] != was["text"], cell["source"]
    memory = [c for c in followed if "memory_view" in c["source"]]
    for cell in memory:  # the dyno's own memory panel, no other dyno's
        names = set(cell["charts"][0]["text"].split("|"))
        assert DYNO in names and not names & {"web.1", "web.3", "worker.1", "worker.2"}


def _drawn_directly(browser: Any, sample: Path, views: list[str]) -> list[list]:
    """(data marks, texts) of each view drawn for DYNO outside JupyterLab, with the filters the
    widgets hold once DYNO is picked."""
    con, _ = notebook.open_for_notebook(sample)
    box = notebook.controls(con)
    box.children[0].children[0].value = DYNO
    parts = []
    for name in views:
        view = getattr(notebook, name)
        taken = notebook._filters_taken(view)
        filters = {k: v for k, v in notebook.values(box).items() if taken is None or k in taken}
        parts.append(notebook.chart_html(view(con, **filters).to_dict()))
    page = browser.new_page()
    try:
        traffic = Traffic(allowed=())
        traffic.watch(page)
        page.set_content("<!doctype html><body>" + "".join(parts) + "</body>")
        page.wait_for_function(CHARTS_SETTLED_JS, timeout=60_000)
        return page.evaluate(
            """() => Array.from(document.querySelectorAll('div.vega-chart')).map(el => [
              Number(el.dataset.marks || -1),
              Array.from(el.querySelectorAll('svg.marks text')).map(t => t.textContent).join('|'),
            ])"""
        )
    finally:
        page.close()


# ----- one notebook exported to HTML, opened from file:// with the network cut --------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, sample: Path) -> Path:
    home = tmp_path_factory.mktemp("nbconvert")
    shutil.copy(REPO / "notebooks" / "triage.ipynb", home / "triage.ipynb")
    cmd = [sys.executable, "-m", "nbconvert", "--to", "html", "--execute", "triage.ipynb"]
    done = subprocess.run(
        cmd, cwd=home, env=jupyter_env(home), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return home / "triage.html"


def test_exported_notebook_draws_every_chart_offline(exported: Path, chromium: Any) -> None:
    code = notebook_code_cells(REPO / "notebooks" / "triage.ipynb")
    charts = sum(1 for source in code if CHART_CALL.search(source))
    traffic = Traffic(allowed=("file",))
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    try:
        traffic.watch(page)
        page.goto(exported.as_uri())
        page.wait_for_function(CHARTS_SETTLED_JS, timeout=60_000)
        states = page.eval_on_selector_all(
            "div.vega-chart",
            """els => els.map(el => ({status: el.dataset.status, marks: Number(el.dataset.marks),
              view: !!el.querySelector('svg.marks, canvas.marks')}))""",
        )
        stderr = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count()
        page.screenshot(path=str(exported.with_suffix(".png")), full_page=True)
    finally:
        page.close()
    assert len(states) == charts > 0
    assert all(s["status"] == "rendered" and s["view"] and s["marks"] > 0 for s in states), states
    assert stderr == 0
    assert traffic.page_errors == []
    # nothing of ours was asked of the network: only nbconvert's page template tried
    assert all(TEMPLATE_ASSETS.search(url) for url in traffic.left), traffic.left
    assert not any("vega" in url for url in traffic.left)


def notebook_code_cells(path: Path) -> list[str]:
    import json

    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


# ----- the outputs as an editor's notebook view shows them: one sandboxed frame ------------
#
# VS Code draws a notebook's outputs in one webview: an opaque-origin frame that may run
# scripts and nothing else, where each `text/html` output is inserted and its <script>
# elements re-created so they run. VS Code itself is not installable here (not in Debian or
# PyPI), so this checks our outputs under those conditions, not VS Code.

FRAME_LOADER = """
<!doctype html><meta charset="utf-8"><body><script>
window.addEventListener("message", (ev) => {
  for (const html of ev.data) {
    const box = document.createElement("div");
    box.innerHTML = html;
    document.body.appendChild(box);
    for (const old of box.querySelectorAll("script")) {
      const s = document.createElement("script");
      s.text = old.textContent;
      old.replaceWith(s);
    }
  }
});
</script></body>
"""


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory, sample: Path) -> Path:
    home = tmp_path_factory.mktemp("executed")
    shutil.copy(REPO / "notebooks" / "triage.ipynb", home / "triage.ipynb")
    cmd = [sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute", "triage.ipynb",
           "--output", "ran.ipynb"]  # fmt: skip
    done = subprocess.run(
        cmd, cwd=home, env=jupyter_env(home), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return home / "ran.ipynb"


def test_chart_outputs_draw_in_a_sandboxed_scripts_only_frame(
    executed: Path, chromium: Any, tmp_path: Path
) -> None:
    import json

    outputs = [
        "".join(o["data"]["text/html"]) if isinstance(o["data"]["text/html"], list)
        else o["data"]["text/html"]
        for c in json.loads(executed.read_text())["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
        if "text/html" in o.get("data", {}) and "vega-chart" in str(o["data"]["text/html"])
    ]  # fmt: skip
    assert outputs, "the executed notebook holds no chart output"
    host = tmp_path / "host.html"
    host.write_text(
        '<!doctype html><iframe id="out" sandbox="allow-scripts" width="1300" height="4000" '
        f'srcdoc="{FRAME_LOADER.replace("&", "&amp;").replace(chr(34), "&quot;")}"></iframe>'
    )
    traffic = Traffic(allowed=("file", "about"))
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    try:
        traffic.watch(page)
        page.goto(host.as_uri())
        frame = page.frame_locator("#out")
        frame.locator("body").wait_for(state="attached")
        page.wait_for_timeout(300)
        page.evaluate(
            "(outs) => document.getElementById('out').contentWindow.postMessage(outs, '*')",
            outputs,
        )
        inner = page.frames[1]
        inner.wait_for_function(CHARTS_SETTLED_JS, timeout=60_000)
        states = inner.eval_on_selector_all(
            "div.vega-chart",
            """els => els.map(el => ({status: el.dataset.status, marks: Number(el.dataset.marks),
              view: !!el.querySelector('svg.marks, canvas.marks')}))""",
        )
    finally:
        page.close()
    assert len(states) == len(outputs)
    assert all(s["status"] == "rendered" and s["view"] and s["marks"] > 0 for s in states), states
    assert traffic.page_errors == []
    assert traffic.left == []
