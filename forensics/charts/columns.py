"""Normalize analysis frames whose exact column names are not settled yet (memory growth and
route attribution come from sibling analyses): pick each wanted column from known aliases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl


def pick(
    df: pl.DataFrame,
    wanted: Mapping[str, Sequence[str | tuple[str, float]]],
    *,
    required: Sequence[str],
    what: str,
) -> pl.DataFrame:
    """`df` reduced to the `wanted` columns, each taken from the first alias present.

    An alias is a column name or `(name, factor)` to rescale (e.g. `("kb_per_request",
    1 / 1024)`). Optional columns that are absent become nulls; a missing required column
    raises ValueError naming the aliases looked for.
    """
    exprs = []
    for name, aliases in wanted.items():
        expr = None
        for alias in aliases:
            col, factor = (alias, 1.0) if isinstance(alias, str) else alias
            if col in df.columns:
                expr = pl.col(col) if factor == 1.0 else pl.col(col).cast(pl.Float64) * factor
                break
        if expr is None:
            if name in required:
                names = [a if isinstance(a, str) else a[0] for a in aliases]
                raise ValueError(
                    f"{what}: no column for {name!r} (looked for {', '.join(names)}; "
                    f"frame has {', '.join(df.columns)})"
                )
            expr = pl.lit(None)
        exprs.append(expr.alias(name))
    return df.select(exprs)
