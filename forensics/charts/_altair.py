"""Altair, imported so that it loads in half the time: jsonschema (which Altair validates
every chart with) is imported with `rfc3987_syntax` hidden, so it skips building that
library's IRI grammars (~1.4 s per process where jupyterlab installed it). Only the
`iri` / `iri-reference` format checks go; the Vega-Lite schema uses neither (it has `uri`,
`uri-reference` and `color-hex`), so every chart validates exactly as before."""

from __future__ import annotations

import sys

if "jsonschema" not in sys.modules and "rfc3987_syntax" not in sys.modules:
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # import -> ImportError
    try:
        import jsonschema  # noqa: F401
    finally:
        del sys.modules["rfc3987_syntax"]  # a later import of it works as usual

import altair as alt

__all__ = ["alt"]
