"""Headless Chromium with the network cut: find it, its offline flags, the rendered DOM of an
HTML file (`dump_dom`), or a live page to click through and screenshot (`offline_page`,
Playwright)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@contextlib.contextmanager
def offline_page(
    html_path: Path, *, browser: str, width: int = 1280, height: int = 900
) -> Iterator[tuple[Any, list[str]]]:
    """The page open in headless Chromium driven by Playwright (`browser`: the executable,
    e.g. /usr/bin/chromium), the network cut twice (the context is offline and every request
    that is not the file itself is aborted), after its charts are done. Yields (page, the URLs
    it tried to load besides the file)."""
    from playwright.sync_api import sync_playwright

    url = Path(html_path).resolve().as_uri()
    tried: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.split("#")[0] == url:
            r.continue_()
        else:
            tried.append(r.request.url)
            r.abort()

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=browser, args=list(OFFLINE_ARGS))
        try:
            ctx = b.new_context(offline=True, viewport={"width": width, "height": height})
            page = ctx.new_page()
            page.route("**/*", route)
            page.goto(url)
            page.wait_for_selector("body[data-charts-done]", state="attached", timeout=90_000)
            yield page, tried
        finally:
            b.close()
