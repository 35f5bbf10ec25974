"""Vectorized random identifiers (uuid4, hex digests, IPs) so millions of lines stay cheap."""

from __future__ import annotations

import numpy as np

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Positions of the 32 hex digits inside the 36-character uuid text.
_UUID_POS = np.array([*range(8), *range(9, 13), *range(14, 18), *range(19, 23), *range(24, 36)])


def _random_bytes(rng: np.random.Generator, n: int, nbytes: int) -> np.ndarray:
    """(n, nbytes) random bytes."""
    return rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)


def _nibbles(b: np.ndarray) -> np.ndarray:
    """ASCII hex digit codes of each byte, two per byte."""
    nib = np.empty((b.shape[0], b.shape[1] * 2), dtype=np.uint8)
    nib[:, 0::2] = b >> 4
    nib[:, 1::2] = b & 15
    return _HEX[nib]


def fixed_width_strings(codes: np.ndarray) -> list[str]:
    """Rows of an (n, w) array of ASCII codes as n Python strings (one decode, then slices)."""
    n, w = codes.shape
    text = np.ascontiguousarray(codes).tobytes().decode("ascii")
    return [text[i : i + w] for i in range(0, n * w, w)]


def uuid4s(rng: np.random.Generator, n: int) -> list[str]:
    """n random version-4 UUIDs as lowercase text."""
    if n == 0:
        return []
    b = _random_bytes(rng, n, 16)
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    out[:, _UUID_POS] = _nibbles(b)
    return fixed_width_strings(out)


def hexes(rng: np.random.Generator, n: int, digits: int) -> list[str]:
    """n random lowercase hex strings of `digits` characters (even)."""
    if n == 0:
        return []
    return fixed_width_strings(_nibbles(_random_bytes(rng, n, digits // 2)))


def ip_pool(rng: np.random.Generator, n: int) -> list[str]:
    """n distinct-looking public IPv4 addresses (client addresses for `fwd`)."""
    first = rng.choice(np.array([24, 31, 45, 66, 73, 81, 88, 98, 102, 105, 151, 176, 185, 203]), n)
    rest = rng.integers(1, 255, size=(n, 3))
    return [f"{a}.{b}.{c}.{d}" for a, (b, c, d) in zip(first.tolist(), rest.tolist(), strict=True)]


def zipf_weights(n: int, s: float = 1.1) -> np.ndarray:
    """Normalized Zipf weights: a few heavy clients or ids and a long tail."""
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()
