"""Route templates: `/users/123/orders/9f86d081?x=1` -> `/users/:id/orders/:id`.

Default rules replace a whole path segment that is a number (`123`, and `123.json` becomes
`:id.json`), a UUID, a hex hash (7+ hex digits of one case with at least one digit), or a long
random token (16+ characters of letters, digits, `_` and `-`, with at least one digit); a run of
16+ hex digits inside a segment (asset fingerprints, `app-<32 hex>.css`) becomes `:id` too.
Users add their own rules (regex on the whole path -> template, first match wins) in a TOML file;
the dataset views apply the current rules at query time, so changing them needs no re-ingest.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from forensics import heroku
from forensics.errors import ForensicsError

PLACEHOLDER = ":id"

_UUID = heroku.UUID
_HEX_MARK, _TOKEN_MARK = "\x01", "\x02"


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
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ForensicsError(f"{path}: route rules file not found") from None
    except UnicodeDecodeError:
        raise ForensicsError(f"{path}: not UTF-8 text; save the route rules as UTF-8") from None
    except OSError as e:
        raise ForensicsError(f"{path}: cannot read the route rules ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise ForensicsError(
            f"{path}: not valid TOML ({e}); see the README for the format"
        ) from None
    rules = []
    for i, item in enumerate(data.get("route", []), start=1):
        if not isinstance(item, dict) or "pattern" not in item or "route" not in item:
            raise ForensicsError(f"{path}: [[route]] #{i} needs both `pattern` and `route`")
        pattern = str(item["pattern"])
        _check_pattern(path, i, pattern)
        rules.append(RouteRule(pattern, str(item["route"])))
    return rules


def _check_pattern(path: Path, number: int, pattern: str) -> None:
    """Raise a one-line ForensicsError when `pattern` is not a regex the views can run (Polars'
    Rust syntax: no look-around or back-references)."""
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except pl.exceptions.PolarsError as e:
        lines = [x.strip() for x in str(e).splitlines()]
        reason = next((x[6:].strip() for x in lines if x.startswith("error:")), "invalid regex")
        raise ForensicsError(
            f"{path}: [[route]] #{number} pattern {pattern!r} is not a valid regex ({reason}); "
            "the syntax is Rust's regex (no look-around, no back-references)"
        ) from None


def default_route(path: pl.Expr) -> pl.Expr:
    """The default rules as a few whole-string regex passes (no per-segment lists: fast).

    Slashes are doubled first so that `/segment/` matches never overlap (`/1/2` needs no second
    pass); candidate segments for the hex and token rules are marked, checked for a digit,
    and unmarked.
    """
    p = (path + "/").str.replace_all("/", "//", literal=True)
    p = p.str.replace_all(f"/{_UUID}/", f"/{PLACEHOLDER}/")
    p = p.str.replace_all(r"/\d+(\.[A-Za-z0-9]{1,5})?/", f"/{PLACEHOLDER}${{1}}/")
    p = p.str.replace_all(r"/([A-Za-z0-9_-]{16,})/", f"/{_TOKEN_MARK}${{1}}/")
    p = p.str.replace_all(r"/([0-9a-fA-F]{7,})/", f"/{_HEX_MARK}${{1}}/")
    p = p.str.replace_all(f"/{_TOKEN_MARK}[A-Za-z_-]*[0-9][A-Za-z0-9_-]*/", f"/{PLACEHOLDER}/")
    hex_digit = r"(?:[a-f]*[0-9][0-9a-f]*|[A-F]*[0-9][0-9A-F]*)"
    p = p.str.replace_all(f"/{_HEX_MARK}{hex_digit}/", f"/{PLACEHOLDER}/")
    p = p.str.replace_all(f"[{_HEX_MARK}{_TOKEN_MARK}]", "")
    p = p.str.replace_all(r"[0-9a-fA-F]{16,}", PLACEHOLDER)
    return p.str.replace_all("//", "/", literal=True).str.head(-1)


def route_expr(path: pl.Expr, rules: list[RouteRule] | None = None) -> pl.Expr:
    """The route template of a path without its query string (null stays null)."""
    out = default_route(path)
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
