"""Timestamps: microseconds since the epoch (int64) and their Heroku/Rails text forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from .ids import fixed_width_strings

US = 1_000_000
MINUTE = 60 * US
HOUR = 3600 * US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(dt: datetime) -> int:
    """Aware datetime to integer microseconds since the epoch."""
    return (dt - _EPOCH) // timedelta(microseconds=1)


def iso(us: int) -> str:
    """One timestamp as Heroku prints it: 2024-05-20T22:17:43.421593+00:00."""
    return (_EPOCH + timedelta(microseconds=int(us))).isoformat(timespec="microseconds")


_BLOCK = 3600  # seconds per cached table of `YYYY-MM-DDTHH:MM:SS` prefixes
_blocks: dict[int, np.ndarray] = {}


def _block(b: int) -> np.ndarray:
    """(3600, 19) ASCII codes of the second prefixes of hour block b (cached)."""
    table = _blocks.get(b)
    if table is None:
        if len(_blocks) > 64:
            _blocks.clear()
        secs = np.arange(b * _BLOCK, (b + 1) * _BLOCK, dtype=np.int64).astype("datetime64[s]")
        text = np.datetime_as_string(secs, unit="s").astype("S19")
        table = np.frombuffer(text.tobytes(), dtype=np.uint8).reshape(_BLOCK, 19)
        _blocks[b] = table
    return table


def stamps(us: np.ndarray) -> list[str]:
    """Many timestamps as `2024-05-20T22:17:43.421593` (no offset), built with numpy."""
    n = len(us)
    if n == 0:
        return []
    sec = us // US
    frac = us - sec * US
    first, last = int(sec.min()) // _BLOCK, int(sec.max()) // _BLOCK
    out = np.empty((n, 26), dtype=np.uint8)
    if last - first < 48:
        table = np.concatenate([_block(b) for b in range(first, last + 1)])
        out[:, :19] = table[sec - first * _BLOCK]
    else:
        uniq, inv = np.unique(sec, return_inverse=True)
        text = np.datetime_as_string(uniq.astype("datetime64[s]"), unit="s").astype("S19")
        out[:, :19] = np.frombuffer(text.tobytes(), dtype=np.uint8).reshape(-1, 19)[inv]
    out[:, 19] = ord(".")
    f = frac.copy()
    for k in range(25, 19, -1):
        out[:, k] = 48 + f % 10
        f //= 10
    return fixed_width_strings(out)


def rails_stamp(s: str) -> str:
    """`2024-05-20T22:17:43.401002` to the Rails `Started ... at` form."""
    return f"{s[:10]} {s[11:19]} +0000"
