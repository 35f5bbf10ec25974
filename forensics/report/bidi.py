"""Bidi controls made visible: an override or isolate in a log line (U+202A-U+202E,
U+2066-U+2069, and the LRM/RLM/ALM marks) would reorder what the reader of the report sees
(`/admin<U+202E>/gpj.exe`), so each is shown as its escape (`\\u202e`) instead."""

from __future__ import annotations

import re
from typing import Any

_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def neutral_bidi(text: str) -> str:
    """`text` with every bidi control written as `\\uXXXX`."""
    return _BIDI.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def neutral_value(value: Any) -> Any:
    """`value` (a chart spec, a record) with `neutral_bidi` applied to every string in it."""
    if isinstance(value, str):
        return neutral_bidi(value)
    if isinstance(value, dict):
        return {neutral_value(k): neutral_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [neutral_value(v) for v in value]
    return value
