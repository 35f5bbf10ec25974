"""Masking for reports shared outside the team: IP addresses (v4 and v6), e-mail addresses,
request ids (UUIDs, `request_id=...`) and URL query strings, in any text or JSON-like value."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from forensics import heroku

IP_MASK = "[ip]"
EMAIL_MASK = "[email]"
ID_MASK = "[id]"
QUERY_MASK = "?[query]"

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = re.compile(rf"(?<![\d.])(?<!\d\.){_OCTET}(?:\.{_OCTET}){{3}}(?!\.?\d)")
# candidates: hex digits, colons and dots with at least two colons; validated by ipaddress
IPV6_CANDIDATE = re.compile(r"(?<![\w:.])(?=[\w.]*:[\w.]*:)[0-9A-Fa-f:.]*[0-9A-Fa-f:](?![\w:])")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
UUID = re.compile(rf"(?<![0-9A-Fa-f]){heroku.UUID}(?![0-9A-Fa-f])")
REQUEST_ID = re.compile(r"(?i)(request[_-]?id[=:]\s*\"?)[^\s\"',;&]+")
QUERY = re.compile(r"(?<=[\w/.%~-])\?[^\s\"'<>#]+")


def _ipv6(m: re.Match[str]) -> str:
    text = m.group(0)
    core = text.rstrip(".:")
    try:
        ipaddress.IPv6Address(core)
    except ValueError:
        return text
    if not any(c.isalnum() for c in core):  # a bare "::"
        return text
    return IP_MASK + text[len(core) :]


def redact_text(text: str) -> str:
    """`text` with IPs, e-mails, request ids and query strings masked."""
    text = REQUEST_ID.sub(lambda m: m.group(1) + ID_MASK, text)
    text = UUID.sub(ID_MASK, text)
    text = EMAIL.sub(EMAIL_MASK, text)
    text = QUERY.sub(QUERY_MASK, text)
    text = IPV6_CANDIDATE.sub(_ipv6, text)
    return IPV4.sub(IP_MASK, text)


def redact_value(value: Any) -> Any:
    """`value` with every string inside it (dict keys included) masked; other types kept."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value
