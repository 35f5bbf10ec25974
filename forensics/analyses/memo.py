"""Tables computed once per open dataset: an analysis decorated `@per_dataset` returns, for the
same connection and the same arguments, the table it computed the first time, so the findings,
the incidents and the report (which ask for the crashes, the releases, the sizing... several
times each) share one copy instead of recomputing it.

A connection's views are fixed once `forensics.store.views.open_dataset` made them, so the
answer cannot change under it. Arguments are compared by value (defaults filled in), frames by
identity (the memo keeps them alive, so an id is never reused while its entry stands); the
entries go with the connection. A connection opened with `cache.open_cached` also reads (and,
when warming, writes) the tables on disk (see `forensics.analyses.cache`). Callers must not
change a returned frame in place (Polars frames change only through in-place methods, which
no analysis uses).
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import duckdb

from forensics.analyses import cache

F = TypeVar("F", bound=Callable[..., Any])

_MEMO: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, dict[Any, tuple[Any, Any]]] = (
    weakref.WeakKeyDictionary()
)


def _key(value: Any) -> Any:
    """A hashable stand-in for an argument: by value for plain values, by identity otherwise."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, *(_key(v) for v in value))
    if isinstance(value, dict):
        return ("dict", *sorted((k, _key(v)) for k, v in value.items()))
    return ("id", id(value))


def per_dataset(fn: F) -> F:
    """`fn(con, ...)` computed once per connection and arguments (see the module doc)."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def once(con: duckdb.DuckDBPyConnection, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(con, *args, **kwargs)
        bound.apply_defaults()
        rest = list(bound.arguments.items())[1:]
        key = (fn.__module__, fn.__qualname__, tuple((k, _key(v)) for k, v in rest))
        memo = _MEMO.setdefault(con, {})
        if key not in memo:
            name = cache.call_name(con, f"{fn.__module__}.{fn.__qualname__}", rest)
            value = cache.load(con, name) if name else None
            if value is None:
                value = fn(con, *args, **kwargs)
            if name:
                cache.remember(con, name, value)
            memo[key] = (value, rest)  # `rest` keeps the frames alive
        return memo[key][0]

    return once  # type: ignore[return-value]
