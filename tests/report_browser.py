"""Open an HTML file in headless Chromium with the network cut and return the rendered DOM."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """Path of a Chromium-like browser on PATH (Debian: `apt-get install -y chromium`)."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def dump_dom(html_path: Path, *, browser: str, budget_ms: int = 15000, timeout: int = 120) -> str:
    """The DOM after the page ran its scripts (`--dump-dom`), every network request refused:
    all hosts resolve to nothing and the proxy is a closed local port."""
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--virtual-time-budget={budget_ms}",
            "--dump-dom",
            Path(html_path).resolve().as_uri(),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or "<html" not in done.stdout:
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout
