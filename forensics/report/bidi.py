"""Bidi and control characters made visible in the report: an override or isolate in a log line
(U+202A-U+202E, U+2066-U+2069, and the LRM/RLM/ALM marks) would reorder what the reader sees
(`/admin<U+202E>/gpj.exe`), and a C0/C1 control (ESC of `ESC]0;title`, a bell, a backspace) is
invalid in HTML and drives a terminal when the page is `cat` or `grep`ped; each is shown as its
escape (`\\u202e`, `\\x1b`) instead, as the CLI shows them (`forensics.cli.text`)."""

from __future__ import annotations

import re
from typing import Any

# tab and newline stay (they are layout, not control)
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def neutral_bidi(text: str) -> str:
    """`text` with every bidi control written as `\\uXXXX`, every other control as `\\xNN`."""
    return _UNSAFE.sub(_escape, text)


def neutral_value(value: Any) -> Any:
    """`value` (a chart spec, a record) with `neutral_bidi` applied to every string in it."""
    if isinstance(value, str):
        return neutral_bidi(value)
    if isinstance(value, dict):
        return {neutral_value(k): neutral_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [neutral_value(v) for v in value]
    return value
