"""Which app an input's lines belong to when `--app` does not say, from what Heroku logs itself.

Evidence, read from the head of each input (its first chunk): router lines' `host=<app>.
herokuapp.com` (also the newer `<app>-<12 hex>.herokuapp.com` and the old `<app>.heroku.com`,
and `-> GET <app>.herokuapp.com/...` of old router errors), the app id of runtime metrics
(`dyno=heroku.<id>.<uuid>`, `source=heroku.<id>.web.1...`), and drain frames' HOSTNAME (an app
name, which the drain reader applies line by line, or a `d.<token>` drain token).

The rules: a `--app` name (plain, or GLOB=NAME matching the file) always wins; else the one
name in the input (an input naming several apps gets none, and a warning); else its app id,
named from another input of the job that shows the same id beside a name (or the job's one
named app when no input ties an id to it, else `heroku.<id>`). An input with no evidence gets
the job's one app when the logs name exactly one; its own `unknown:<file name>` when the job
holds several (unrelated exports never merge into one story); else no app. When the job's
inputs name more than one app, each keeps its own (the app column), and a warning names the
files of each app. Dedup keys hash the app column, so two apps' identical lines both stay.
"""

from __future__ import annotations

import gzip
import itertools
import re
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from forensics.readers.source import GZIP_MAGIC, Source

UNKNOWN = "unknown:"  # the app of an input that names none, in a job of several apps

# literal prefixes, so each regex scans at memory speed; the rest is checked in Python
HOST = re.compile(rb"host=([A-Za-z0-9][A-Za-z0-9.-]*)")
OLD_ROUTER_ERROR = re.compile(rb"-> [A-Z]+ ([A-Za-z0-9][A-Za-z0-9.-]*)")
APP_ID = re.compile(rb"=heroku\.(\d+)\.")  # after `dyno` or `source`
# a drain frame: `LEN <PRI>1 TIMESTAMP HOSTNAME APP-NAME ...` (frames may be glued together)
DRAIN_HOST = re.compile(rb" <\d{1,3}>1 \S+ ([A-Za-z0-9][A-Za-z0-9.-]*) (?:app|heroku) ")
HEROKU_DOMAIN = re.compile(r"^(.+?)(?:-[0-9a-f]{12})?\.heroku(?:app)?\.com$")
_NOT_AN_APP = {"host", "heroku", "localhost"}


def _app_name(host: bytes) -> str | None:
    """`shop` from `shop.herokuapp.com`, `shop-3996d65ded90.herokuapp.com`, `shop.heroku.com`;
    None for a custom domain."""
    m = HEROKU_DOMAIN.match(host.decode("ascii", "replace").lower().rstrip("."))
    return m.group(1) if m else None


@dataclass
class Evidence:
    """What the head of one input says about its app."""

    names: Counter[str] = field(default_factory=Counter)  # router hosts
    ids: Counter[str] = field(default_factory=Counter)  # runtime metrics' app ids, drain tokens
    drain_names: Counter[str] = field(default_factory=Counter)  # applied per line by the reader

    @property
    def mixed(self) -> bool:
        """Lines of several apps (a drain shared by apps, lines pasted together): no one app."""
        return len(self.names) > 1 or len(self.ids) > 1

    def name(self) -> str | None:
        return next(iter(self.names)) if len(self.names) == 1 and not self.mixed else None

    def app_id(self) -> str | None:
        return next(iter(self.ids)) if len(self.ids) == 1 and not self.mixed else None


def evidence(head: bytes) -> Evidence:
    """The app names and ids in `head` (raw log bytes of any format). Matches are counted
    first and each distinct value looked at once (a head holds ~1,500 router hosts: ~5 -> ~3
    ms an input of CLI text, ~10 -> ~5 ms a drain body; before a job starts, for every input)."""
    ev = Evidence()
    hosts = Counter(
        m.group(1)
        for m in itertools.chain(HOST.finditer(head), OLD_ROUTER_ERROR.finditer(head))
        if m.start() == 0 or not head[m.start() - 1 : m.start()].isalnum()
    )
    for host, n in hosts.items():
        name = _app_name(host)
        if name:
            ev.names[name] += n
    ids = Counter(
        m.group(1)
        for m in APP_ID.finditer(head)
        if head[max(0, m.start() - 6) : m.start()].endswith((b"dyno", b"source"))
    )
    for app_id, n in ids.items():
        ev.ids["heroku." + app_id.decode()] += n
    drains = Counter(
        m.group(1)
        for m in DRAIN_HOST.finditer(head)
        if m.start() and head[m.start() - 1 : m.start()].isdigit()
    )
    for raw, n in drains.items():
        host = raw.decode()
        if host.startswith("d."):
            ev.ids[host] += n
        elif host.lower() not in _NOT_AN_APP:
            ev.drain_names[host] += n
    return ev


HEAD_BYTES = 1 << 20


def readable_twice(source: Source) -> bool:
    """A regular file: its head can be read here and the whole again by the job (not stdin,
    nor a pipe such as `<(zcat x.gz)`, whose bytes would be consumed)."""
    try:
        return source.path is not None and source.path.is_file()
    except OSError:
        return False


def read_head(source: Source) -> bytes:
    """The first megabyte or so of a regular file input (decompressed); b"" for others. A peek
    of its own: the job still reads (and hashes, and checks) every input once, in full."""
    if not readable_twice(source) or source.path is None:
        return b""
    try:
        with open(source.path, "rb") as raw:
            if raw.read(2) != GZIP_MAGIC:
                raw.seek(0)
                return raw.read(HEAD_BYTES)
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw) as unzipped:
                return unzipped.read(HEAD_BYTES)
    except (OSError, EOFError, zlib.error):  # the job reports it when it reads the input
        return b""


def app_of(head: bytes) -> str | None:
    """The app the head of a single input names (for stdin, which is read once, by the job)."""
    ev = evidence(head)
    return ev.name() or (None if ev.drain_names else ev.app_id())


@dataclass
class _Input:
    source: Source
    given: str | None  # from --app
    ev: Evidence
    app: str | None = None
    unknown: bool = False  # no evidence, in a job of several apps


@dataclass
class Assignment:
    """The app of each input (None: no app, or the drain reader's per-line hostnames) and
    whether the job should look at its head itself (stdin, pipes)."""

    apps: list[str | None]
    infer_in_job: list[bool]
    _ins: list[_Input] = field(repr=False)

    def warnings(self, final_apps: Sequence[str | None]) -> list[str]:
        """The summary's warnings, once the job has named the apps of stdin and pipes."""
        for i, app in zip(self._ins, final_apps, strict=True):
            i.unknown = i.unknown and app == i.app  # the job may have found its app after all
            i.app = app
        known = {i.app for i in self._ins if i.app and not i.unknown}
        return _warnings(self._ins, known | _drain_names(self._ins))


def _drain_names(ins: list[_Input]) -> set[str]:
    return {n for i in ins for n in i.ev.drain_names}


def assign(
    sources: Sequence[Source],
    app_for: Callable[[str], str | None],
    *,
    head: Callable[[Source], bytes] = read_head,
) -> Assignment:
    """The app of every input, by the rules of the module doc (`app_for`: the `--app` options)."""
    ins = []
    for s in sources:
        given = app_for(s.name)
        ins.append(_Input(s, given, evidence(head(s)) if given is None else Evidence()))
    id_name: dict[str, str] = {}
    for i in ins:
        for app_id in i.ev.ids if i.ev.name() else ():
            id_name.setdefault(app_id, i.ev.name() or "")
    drain_names = _drain_names(ins)
    named = {i.given or i.ev.name() for i in ins} - {None} | drain_names
    one_named = next(iter(named)) if len(named) == 1 else None
    for i in ins:
        app_id = i.ev.app_id()
        if i.given is not None or i.ev.name():
            i.app = i.given or i.ev.name()
        elif app_id and not i.ev.drain_names:  # drains: the reader names each line's app
            untied = one_named is not None and one_named not in id_name.values()
            i.app = id_name.get(app_id) or (one_named if untied else app_id)
    job_apps = {i.app for i in ins if i.app} | drain_names
    found = {i.app for i in ins if i.app and i.given is None} | drain_names  # from the logs
    for i in ins:
        if i.app is not None or i.ev.drain_names or i.ev.mixed:
            continue
        if len(job_apps) > 1:  # its own app: unrelated exports never merge into one story
            i.unknown = True
            i.app = UNKNOWN + Path(i.source.name).name
        elif found:  # the job's one app, as its logs name it
            i.app = next(iter(found))
    return Assignment(
        apps=[i.app for i in ins],
        # stdin and pipes are read once, by the job: it looks at their head itself
        infer_in_job=[i.given is None and not readable_twice(i.source) for i in ins],
        _ins=ins,
    )


def _warnings(ins: list[_Input], job_apps: set[str]) -> list[str]:
    out = []
    if len(job_apps) > 1:
        by_app: dict[str, list[str]] = {}
        for i in ins:
            for name in [i.app] if i.app else sorted(i.ev.drain_names):
                by_app.setdefault(name, []).append(i.source.name)
        unknown = [i.source.name for i in ins if i.unknown]
        parts = [
            f"{app} ({_names(files)})" for app, files in sorted(by_app.items())
            if not app.startswith(UNKNOWN)
        ]  # fmt: skip
        text = f"inputs of {len(job_apps)} apps, kept apart (app column): " + "; ".join(parts)
        if unknown:
            text += (
                f"; no app named in {_names(unknown)}: each kept as its own app "
                f"({UNKNOWN}<file name>); name them with --app GLOB=NAME"
            )
        out.append(text)
    for i in ins:
        if i.ev.mixed and i.app is None:
            seen = ", ".join(f"{n} {c}" for n, c in (i.ev.names + i.ev.ids).most_common(4))
            out.append(
                f"{i.source.name}: lines name several apps ({seen}); given no app: name it "
                "with --app GLOB=NAME"
            )
    return out


def _names(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")
