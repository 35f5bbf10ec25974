"""Masking for reports and postmortems shared outside the team: personal data and secrets in
any text or JSON-like value, as they appear in Heroku router, platform and app lines.

Masked: IPv4 addresses (also zero-padded, and inside EC2-style host names `ip-10-0-0-7`,
`ec2-54-1-2-3...`), IPv6 addresses, e-mail addresses (non-ASCII, without a TLD, `%40`) and the
user of `... by user X` (releases, deploys), credentials in URLs of any scheme, query strings,
request ids and UUIDs, `;jsessionid=`-style path parameters, long random path segments, Bearer /
Basic / `Authorization` values, JWTs, well-known API key shapes (AWS, Stripe, GitHub, Slack,
Google), the values of sensitive keys (`password`, `secret`, `token`, `api_key`, `session`,
`cookie`, ... in `k=v`, `k: v`, `--k v`, JSON and Rails `"k"=>"v"` form) and cookie
headers. A file name becomes its masked form plus a short hash of the file's content
(`[email]-[ip].log#1a2b3c4d`): stable across outputs, and it says nothing about the name.
Not masked: phone numbers, personal names and street addresses in free text, and secrets in
free text that look like ordinary words.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from forensics import heroku
from forensics.errors import ForensicsError

IP_MASK = "[ip]"
EMAIL_MASK = "[email]"
ID_MASK = "[id]"
QUERY_MASK = "?[query]"
TOKEN_MASK = "[token]"
SECRET_MASK = "[secret]"
CREDENTIALS_MASK = "[credentials]"
USER_MASK = "[user]"

# ----- patterns --------------------------------------------------------------------------------

_SCHEME = r"\b[A-Za-z][A-Za-z0-9+.-]*://"
# userinfo up to the last `@` of the authority: passwords may hold `!`, `@`, `:`
URL_CREDENTIALS = re.compile(rf"({_SCHEME})[^\s/?#\"'<>]*@")
# a password holding `/`, `?` or `#` unencoded: up to the last `@` that a host follows
URL_CREDENTIALS_LOOSE = re.compile(
    rf"({_SCHEME})[^\s:/@\"'<>\[]+:[^\s\"'<>]*@(?=[\w.-]+(?:[:/?#\s\"'<>]|$))"
)
# `user:password@host` without a scheme (`mailto:` is one: its address is an e-mail)
BARE_CREDENTIALS = re.compile(
    r"(?<![\w/:@.%+-])(?!mailto:)[A-Za-z0-9._%+-]+:[^\s/@\"'<>]*[^\s/@\"'<>\d][^\s/@\"'<>]*@(?=[\w-]+\.)"
)

AUTH_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization[\"']?\s*(?:=>|[:=])\s*[\"']?)"
    r"(?:(bearer|basic|token|digest|negotiate)\s+)?[^\s,\"']+"
)
BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{8,}")
COOKIE_HEADER = re.compile(r"(?i)\b((?:set-)?cookie[\"']?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\r\n]+)")
JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
KEY_SHAPES = re.compile(
    r"\b(?:(?:AKIA|ASIA)[0-9A-Z]{16}|[sr]k_(?:live|test)_[0-9A-Za-z]{10,}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35})\b"
)

_SENSITIVE = (
    r"(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|credentials?|session|sessid|cookie|signature|bearer"
    r"|(?<![A-Za-z])(?:sid|pin|otp|pwd)(?![a-z]))"  # short ones as a word only: not "ping"
)
# key (optionally quoted), a separator (= : =>), a value (quoted or bare)
SENSITIVE_VALUE = re.compile(
    rf"(?i)(?<![\w.-])([\"']?[\w.-]*{_SENSITIVE}[\w.-]*[\"']?)(\s*(?:=>|=|:)\s*)"
    r"(\"(?:[^\"\\]|\\.)*\"|'[^']*'|(?![\[{])[^\s&;,\"'}\]]+)"
)
# record fields whose whole value is a person or a secret (a release's `user`)
PERSON_KEY = re.compile(r"(?i)^(?:user|user_?name|email|e_?mail|by|actor|owner|login)$")
SECRET_KEY = re.compile(
    r"(?i)password|passwd|secret|token|api_?key|apikey|cookie|credentials?|session_?id"
)
# a command line's `--password hunter2`, `-api-key X`
SENSITIVE_FLAG = re.compile(rf"(?i)(?<![\w-])(--?[\w-]*{_SENSITIVE}[\w-]*)(\s+)(?![-\[])[^\s\"']+")
MATRIX_PARAM = re.compile(r"(?<=[\w/.-]);([\w.-]+)=[^\s/?#;&\"'<>]+")
QUERY = re.compile(r"(?<=[\w/.%~-])\?[^\s\"'<>#]+|\?(?=[^\s\"'<>#]*=)[^\s\"'<>#]+")
UUID = re.compile(rf"(?<![0-9A-Fa-f]){heroku.UUID}(?![0-9A-Fa-f])")
REQUEST_ID = re.compile(r"(?i)(request[_-]?id[=:]\s*\"?)[^\s\"',;&]+")

_OCTET = r"\d{1,3}"
IPV4 = re.compile(rf"(?<![\d.])(?<!\d\.){_OCTET}(?:\.{_OCTET}){{3}}(?!\.?\d)")
DASHED_IPV4 = re.compile(
    rf"(?<![\w-])(?:(?:ip|ec2)-)?({_OCTET})-({_OCTET})-({_OCTET})-({_OCTET})(?![\w-])", re.I
)
# candidates: hex digits, colons and dots with at least two colons; validated by ipaddress
IPV6_CANDIDATE = re.compile(r"(?<![\w:.])(?=[\w.]*:[\w.]*:)[0-9A-Fa-f:.]*[0-9A-Fa-f:](?![\w:])")

_LABEL = r"[^\W_](?:[\w-]*[^\W_])?"
EMAIL = re.compile(
    rf"(?<![\w.%+-])[\w.%+-]*[\w%+-](?:@|%40)"
    rf"(?:(?:{_LABEL}\.)+[^\W\d_]{{2,}}|[^\W\d_](?:[\w-]*[^\W_])?(?![\w.-]*\w)|\[?\[ip\]\]?)"
)
BY_USER = re.compile(r"(?i)(\bby user\s+)(?!\[)[^\s,;]+")

# a path segment of 16+ token characters that looks random: a digit in it, capitals and small
# letters mixed evenly, few vowels, or 24+ long (an invite link, a reset token)
# (it may end a route in prose too: before `,`, `.`, `)`, `]`, `|`)
PATH_TOKEN = re.compile(r"(?<=/)[A-Za-z0-9_-]{16,}(?=[/?#;,.)\]|\s\"'<>]|$)")


def _random(segment: str) -> bool:
    if any(c.isdigit() for c in segment):
        return True
    letters = [c for c in segment if c.isalpha()]
    upper = sum(c.isupper() for c in letters)
    # random mixed case has about as many capitals as small letters; CamelCase words few
    if min(upper, len(letters) - upper) >= 0.3 * len(letters) or len(segment) >= 24:
        return True
    # random letters of one case have few vowels (5 in 26); words have about 40 %
    vowels = sum(c in "aeiouyAEIOUY" for c in letters)
    return vowels < 0.25 * len(letters)


def _octets_ok(parts: Iterable[str]) -> bool:
    return all(int(p) <= 255 for p in parts)


def _ipv4(m: re.Match[str]) -> str:
    return IP_MASK if _octets_ok(m.group(0).split(".")) else m.group(0)


def _dashed(m: re.Match[str]) -> str:
    return IP_MASK if _octets_ok(m.groups()) else m.group(0)


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


def _sensitive(m: re.Match[str]) -> str:
    value = m.group(3)
    quote = value[0] if value[:1] in "\"'" else ""
    return f"{m.group(1)}{m.group(2)}{quote}{SECRET_MASK}{quote}"


def _auth(m: re.Match[str]) -> str:
    scheme = f"{m.group(2)} " if m.group(2) else ""
    return f"{m.group(1)}{scheme}{TOKEN_MASK}"


def _cookie(m: re.Match[str]) -> str:
    value = m.group(2)
    quote = value[0] if value[:1] in "\"'" else ""
    return f"{m.group(1)}{quote}[cookie]{quote}"


def _path_token(m: re.Match[str]) -> str:
    return TOKEN_MASK if _random(m.group(0)) else m.group(0)


def redact_text(text: str) -> str:
    """`text` with personal data and secrets masked (see the module doc for what is)."""
    text = URL_CREDENTIALS.sub(rf"\1{CREDENTIALS_MASK}@", text)
    text = URL_CREDENTIALS_LOOSE.sub(rf"\1{CREDENTIALS_MASK}@", text)
    text = BARE_CREDENTIALS.sub(f"{CREDENTIALS_MASK}@", text)
    text = AUTH_HEADER.sub(_auth, text)
    text = BEARER.sub(rf"\1\2{TOKEN_MASK}", text)
    text = COOKIE_HEADER.sub(_cookie, text)
    text = JWT.sub(TOKEN_MASK, text)
    text = KEY_SHAPES.sub(TOKEN_MASK, text)
    text = SENSITIVE_VALUE.sub(_sensitive, text)
    text = SENSITIVE_FLAG.sub(rf"\1\2{SECRET_MASK}", text)
    text = MATRIX_PARAM.sub(rf";\1={TOKEN_MASK}", text)
    text = QUERY.sub(QUERY_MASK, text)
    text = REQUEST_ID.sub(lambda m: m.group(1) + ID_MASK, text)
    text = UUID.sub(ID_MASK, text)
    text = DASHED_IPV4.sub(_dashed, text)
    text = IPV6_CANDIDATE.sub(_ipv6, text)
    text = IPV4.sub(_ipv4, text)
    text = EMAIL.sub(EMAIL_MASK, text)
    text = BY_USER.sub(rf"\1{USER_MASK}", text)
    return PATH_TOKEN.sub(_path_token, text)


def redact_value(value: Any) -> Any:
    """`value` with every string inside it (dict keys included) masked; other types kept."""
    return Redactor().value(value)


class Redactor:
    """`redact_text` that also turns the dataset's input file names into stable references:
    the masked name plus the first 8 hex digits of the file's content hash (from the manifest),
    so lines of two files stay apart and the same file reads the same in every output."""

    def __init__(self, files: dict[str, str] | None = None) -> None:
        self.refs: dict[str, str] = {}
        for name, sha in (files or {}).items():
            masked = redact_text(name)
            if masked != name and len(name) >= 3:
                self.refs[name] = f"{masked}#{sha[:8]}" if sha else masked
        names = sorted(self.refs, key=len, reverse=True)
        self._names = re.compile("|".join(map(re.escape, names))) if names else None

    @classmethod
    def for_dataset(cls, root: str | Path) -> Redactor:
        """A Redactor knowing the input files of the dataset at `root` (none if unreadable)."""
        from forensics.store.manifest import load_manifest

        try:
            entries = load_manifest(Path(root)).files
        except ForensicsError:
            entries = []
        return cls({str(f.get("name")): str(f.get("sha256") or "") for f in entries})

    def text(self, text: str) -> str:
        """`text` masked; known file names first, as their reference."""
        if self._names is None:
            return redact_text(text)
        parts: list[str] = []
        last = 0
        for m in self._names.finditer(text):  # mask around the names, never inside a reference
            parts.append(redact_text(text[last : m.start()]))
            parts.append(self.refs[m.group(0)])
            last = m.end()
        parts.append(redact_text(text[last:]))
        return "".join(parts)

    def value(self, value: Any) -> Any:
        """`value` with every string inside it (dict keys included) masked; other types kept."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.value(k): self._field(k, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value

    def _field(self, key: Any, value: Any) -> Any:
        """A record field: a person's or a secret's field masked whole, others as values."""
        if isinstance(key, str) and isinstance(value, str) and value:
            if PERSON_KEY.match(key):
                return USER_MASK
            if SECRET_KEY.search(key):
                return SECRET_MASK
        return self.value(value)
