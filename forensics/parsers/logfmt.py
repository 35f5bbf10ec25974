"""Vectorized logfmt helpers shared by the parsers: pick a key, list the keys no column holds."""

from __future__ import annotations

import polars as pl

# key=value, key="quoted value", or key= (empty).
PAIR_RE = r'([A-Za-z_][\w.#-]*)=("[^"]*"|[^\s"]*)'


def value(msg: pl.Expr, key: str) -> pl.Expr:
    """The value of `key` in a logfmt message, unquoted; "" for `key=`, null when absent."""
    raw = msg.str.extract(rf'(?:^|\s){_escape(key)}=("[^"]*"|[^\s"]*)', 1)
    return unquote(raw)


def unquote(raw: pl.Expr) -> pl.Expr:
    """Strip one pair of surrounding double quotes."""
    return (
        pl.when(raw.str.starts_with('"') & raw.str.ends_with('"') & (raw.str.len_bytes() >= 2))
        .then(raw.str.slice(1, raw.str.len_chars() - 2))
        .otherwise(raw)
    )


def extra(msg: pl.Expr, known: tuple[str, ...]) -> pl.Expr:
    """The `key=value` pairs whose keys are not in `known`, space-joined; null when none."""
    pairs = msg.str.extract_all(PAIR_RE)
    keys_re = "^(?:" + "|".join(_escape(k) for k in known) + ")="
    left = pairs.list.eval(pl.element().filter(~pl.element().str.contains(keys_re)))
    joined = left.list.join(" ")
    return pl.when(joined == "").then(None).otherwise(joined)


def _escape(key: str) -> str:
    return key.replace(".", r"\.").replace("#", r"\#")
