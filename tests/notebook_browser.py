"""JupyterLab on 127.0.0.1 for a browser test: a temporary token, root, config, settings and
runtime folders (nothing of the user's), no news, update checks or extension manager calls;
and what a notebook run in it shows, read from the page by Playwright."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"

# JupyterLab user settings: render every cell (no windowing), no news or update checks.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


@dataclass
class Lab:
    """A running JupyterLab: its base URL, token and the folder it serves."""

    url: str
    token: str
    root: Path
    log: Path

    def tree(self, name: str) -> str:
        """`name` opened alone, in a workspace of its own: the tabs of the notebooks opened
        before (each of which would start a kernel) are not restored."""
        space = Path(name).stem
        return f"{self.url}/lab/workspaces/{space}/tree/{name}?token={self.token}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _write_config(home: Path, root: Path, port: int, token: str) -> dict[str, str]:
    """Config, settings and runtime folders under `home`; the environment that selects them."""
    config, settings = home / "config", home / "settings"
    (config / "labconfig").mkdir(parents=True)
    server = {
        "ServerApp": {
            "ip": LOOPBACK,
            "port": port,
            "port_retries": 0,
            "open_browser": False,
            "allow_root": True,  # CI runs as root
            "root_dir": str(root),
        },
        "IdentityProvider": {"token": token},
        "LabApp": {
            "news_url": None,
            "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
            "extension_manager": "readonly",
            "expose_app_in_browser": True,  # window.jupyterapp: run the cells, read the model
            "workspaces_dir": str(home / "workspaces"),
            "user_settings_dir": str(settings),
        },
    }
    (config / "jupyter_server_config.json").write_text(json.dumps(server))
    page = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
    (config / "labconfig" / "page_config.json").write_text(json.dumps(page))
    for plugin, values in SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return {
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        ),
    }


def jupyter_env(home: Path) -> dict[str, str]:
    """The environment for a `jupyter` command run outside the user's config (nbconvert)."""
    return dict(os.environ, **_write_config(home, home, 0, secrets.token_hex(16)))


@contextlib.contextmanager
def jupyterlab(root: Path, home: Path, *, start_seconds: float = 60) -> Iterator[Lab]:
    """JupyterLab serving `root` on 127.0.0.1 until the block ends."""
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, **_write_config(home, root, port, token))
    log = home / "jupyterlab.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab"], cwd=root, env=env, stdout=out, stderr=out
        )
    lab = Lab(url=f"http://{LOOPBACK}:{port}", token=token, root=root, log=log)
    try:
        _wait_until_up(lab, proc, start_seconds)
        yield lab
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_until_up(lab: Lab, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"jupyterlab exited {proc.returncode}: {lab.log.read_text()[-3000:]}"
            )
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"{lab.url}/api/status?token={lab.token}", timeout=2).close()
            return
        time.sleep(0.3)
    raise RuntimeError(f"jupyterlab not up after {seconds} s: {lab.log.read_text()[-3000:]}")


@dataclass
class Traffic:
    """Every request the page made outside `allowed` (refused), and its uncaught errors."""

    allowed: tuple[str, ...]
    left: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def route(self, route: Any) -> None:
        url = route.request.url
        parsed = urlparse(url)
        if parsed.scheme in self.allowed or parsed.hostname in self.allowed:
            route.continue_()
        else:
            self.left.append(url)
            route.abort()

    def watch(self, page: Any) -> None:
        """Refuse and record on `page` (web sockets too), and record its uncaught errors."""
        page.route("**/*", self.route)
        page.on("pageerror", lambda err: self.page_errors.append(str(err)))
        page.on(
            "websocket",
            lambda ws: (
                None if urlparse(ws.url).hostname in self.allowed else self.left.append(ws.url)
            ),
        )


# Reads every code cell of the current notebook: its source, its outputs as the model holds
# them (output type, stream name, mime types), and each chart element in its output area.
CELLS_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.content.widgets.filter(c => c.model.type === 'code').map(c => ({
    source: c.model.sharedModel.getSource(),
    count: c.model.executionCount,
    outputs: c.model.outputs.toJSON().map(o => ({
      type: o.output_type, name: o.name || null, mimes: Object.keys(o.data || {}),
      text: o.output_type === 'error' ? o.ename + ': ' + o.evalue : (o.name ? o.text : null),
    })),
    stderr_shown: c.node.querySelectorAll(
      '[data-mime-type="application/vnd.jupyter.stderr"], .forensics-chart-error').length,
    charts: Array.from(c.node.querySelectorAll('div.vega-chart')).map(chart_state),
  }));
  function chart_state(el) {
    return {
      id: el.id, status: el.dataset.status, marks: Number(el.dataset.marks || -1),
      view: !!el.querySelector('svg.marks, canvas.marks'),
      images: el.querySelectorAll('img').length,
      text: Array.from(el.querySelectorAll('svg.marks text')).map(t => t.textContent).join('|'),
    };
  }
}"""

# Waits for the kernel, runs every cell (JupyterLab's own command) and says whether it went.
RUN_ALL_JS = """async (limit_ms) => {
  const app = window.jupyterapp, panel = app.shell.currentWidget;
  await panel.context.ready;
  await panel.sessionContext.ready;
  const idle = async () => {
    while (panel.sessionContext.session?.kernel?.status !== 'idle') {
      await new Promise(r => setTimeout(r, 100));
    }
  };
  await idle();
  const late = new Promise((_, no) => setTimeout(() => no(new Error('Run All timed out')),
                                                 limit_ms));
  const ran = await Promise.race([app.commands.execute('notebook:run-all-cells'), late]);
  await idle();
  return ran;
}"""

CHARTS_SETTLED_JS = """() =>
  document.querySelectorAll('div.vega-chart[data-status="loading"]').length === 0"""

OPENED_JS = """(name) => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  return !!(w && w.sessionContext && w.context && w.context.path === name);
}"""

SHUTDOWN_JS = "() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()"
