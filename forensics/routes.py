"""Route templates: `/users/123/orders/9f86d081?x=1` -> `/users/:id/orders/:id`.

Default rules replace a whole path segment that is a number, a UUID, a hex hash (7+ hex
digits with at least one digit), or a long random token (16+ characters of letters, digits,
`_` and `-`, with both letters and digits); a long hex run inside a segment (asset
fingerprints, `app-<32 hex>.css`) becomes `:id` too, and `123.json` becomes `:id.json`.
Users add their own rules (regex on the whole path -> template, first match wins) in a TOML file;
the dataset views apply the current rules at query time, so changing them needs no re-ingest.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from forensics.errors import ForensicsError

PLACEHOLDER = ":id"

_SEGMENT_RULES: tuple[tuple[str, str], ...] = (
    (r"^\d+$", PLACEHOLDER),
    (r"^\d+(\.[A-Za-z0-9]{1,5})$", PLACEHOLDER + "$1"),
    (r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$", PLACEHOLDER),
    (r"[0-9a-fA-F]{16,}", PLACEHOLDER),
)
_TOKEN_RE = r"^[A-Za-z0-9_-]{16,}$"
_HEX_RE = r"^(?:[0-9a-f]{7,}|[0-9A-F]{7,})$"


@dataclass(frozen=True)
class RouteRule:
    """A user rule: paths matching `pattern` (a regex on the whole path) get `route`."""

    pattern: str
    route: str


def load_rules(path: Path | None) -> list[RouteRule]:
    """Read user rules from a TOML file with `[[route]] pattern = "..." route = "..."` tables."""
    if path is None:
        return []
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ForensicsError(f"{path}: route rules file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ForensicsError(f"{path}: not valid TOML ({e}); see the README for the format") from None
    rules = []
    for i, item in enumerate(data.get("route", []), start=1):
        if not isinstance(item, dict) or "pattern" not in item or "route" not in item:
            raise ForensicsError(f"{path}: [[route]] #{i} needs both `pattern` and `route`")
        rules.append(RouteRule(str(item["pattern"]), str(item["route"])))
    return rules


def _segment(seg: pl.Expr) -> pl.Expr:
    out = seg
    for pattern, repl in _SEGMENT_RULES:
        out = out.str.replace(pattern, repl)
    has_digit = out.str.contains(r"[0-9]")
    is_hex = out.str.contains(_HEX_RE) & has_digit
    is_token = out.str.contains(_TOKEN_RE) & has_digit & out.str.contains(r"[A-Za-z]")
    return pl.when(is_hex | is_token).then(pl.lit(PLACEHOLDER)).otherwise(out)


def route_expr(path: pl.Expr, rules: list[RouteRule] | None = None) -> pl.Expr:
    """The route template of a path without its query string (null stays null)."""
    default = path.str.split("/").list.eval(_segment(pl.element())).list.join("/")
    out = default
    for rule in reversed(rules or []):
        out = pl.when(path.str.contains(rule.pattern)).then(pl.lit(rule.route)).otherwise(out)
    return out


def split_path(raw: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(path, query, route) from a logged path that may carry `?query`."""
    raw = pl.when(raw == "").then(None).otherwise(raw)
    parts = raw.str.splitn("?", 2)
    path = parts.struct.field("field_0")
    query = parts.struct.field("field_1")
    return path, query, route_expr(path)


def routes_for_paths(paths: pl.Series, rules: list[RouteRule] | None = None) -> pl.DataFrame:
    """A `path -> route` mapping for distinct paths (how dataset views re-derive routes)."""
    df = pl.DataFrame({"path": paths}).unique()
    return df.with_columns(route_expr(pl.col("path"), rules).alias("route"))
