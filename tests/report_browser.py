"""Headless Chromium with the network cut: find it, its offline flags, and the rendered DOM of an
HTML file."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Chromium with the network cut: no background traffic, every host resolves to nothing (but
# the loopback address, where a test's own server listens) and the proxy is a closed port.
OFFLINE_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def find_chromium() -> str | None:
    """Path of a Chromium-like browser on PATH (Debian: `apt-get install -y chromium`)."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def dump_dom(html_path: Path, *, browser: str, budget_ms: int = 15000, timeout: int = 120) -> str:
    """The DOM after the page ran its scripts (`--dump-dom`), every network request refused
    (OFFLINE_ARGS)."""
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        cmd = [
            browser,
            "--headless",
            *OFFLINE_ARGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            "--dump-dom",
            Path(html_path).resolve().as_uri(),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or "<html" not in done.stdout:
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout
