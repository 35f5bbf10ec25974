"""The Vega, Vega-Lite and vega-embed JavaScript, bundled by vl-convert, inlined once per page.

Bundling takes 2-4 s, so the result is kept in memory and on disk
(`$XDG_CACHE_HOME/forensics/`, else `~/.cache/forensics/`, one file per vl-convert and
Vega-Lite version); the cache is an optimisation only, any error with it is ignored.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import vl_convert

from forensics.charts._altair import alt
from forensics.errors import OutputError
from forensics.output import write_text_atomic

MIN_BUNDLE_BYTES = 100_000  # a cached file smaller than this is not a real bundle


def _vl_convert_version() -> str:
    try:
        return version("vl-convert-python")
    except PackageNotFoundError:
        return "unknown"


def _vegalite_version() -> str | None:
    """The Vega-Lite version Altair writes specs for, if vl-convert can bundle it."""
    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return wanted if wanted in vl_convert.get_vegalite_versions() else None


def _cache_file() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    tag = f"{_vl_convert_version()}-vl{_vegalite_version() or 'default'}"
    return Path(root) / "forensics" / f"vega-bundle-{tag}.js"


@functools.lru_cache(maxsize=1)
def vega_bundle() -> str:
    """The bundle as a string safe inside `<script>`; it defines `vegaEmbed`, `vegaLite` and
    `vega` on `window`."""
    path = _cache_file()
    with contextlib.suppress(OSError, UnicodeDecodeError):
        if path.stat().st_size >= MIN_BUNDLE_BYTES:
            return path.read_text(encoding="utf-8")
    js = _script_safe(vl_convert.javascript_bundle(vl_version=_vegalite_version()))
    with contextlib.suppress(OutputError):  # a cache: without it, the next run rebuilds it
        write_text_atomic(path, js)
    return js


def _script_safe(js: str) -> str:
    """`</script` or `<!--` would end or confuse the inline script element; `<\\/` means `</`
    inside JS strings and regexes, the only places such text can occur in valid code."""
    return re.sub(r"</(script)", r"<\\/\1", js, flags=re.IGNORECASE).replace("<!--", "<\\!--")


def versions() -> dict[str, str]:
    """Versions of the inlined libraries, for the provenance section."""
    return {
        "vega": vl_convert.get_vega_version(),
        "vega-lite": alt.SCHEMA_VERSION.lstrip("v"),
        "vega-embed": vl_convert.get_vega_embed_version(),
        "altair": alt.__version__,
        "vl-convert": _vl_convert_version(),
    }
