"""Readers turn an input's bytes into envelope batches; one module per export format.

Each reader module satisfies `Reader`: `NAME`, `CALENDAR`, `sniff(head: bytes) -> bool` and
`read(chunks, *, source_file, app) -> Iterator[Batch]`; readers of formats whose timestamps
carry no year or zone (`Mon DD HH:MM:SS`) set `CALENDAR = True` and also take `year` and `tz`;
readers with a compiled-core path set `NATIVE = True` and also take `engine`.
`detect` picks the first whose sniff accepts the input's first bytes; text that no reader
recognises goes through the `heroku logs` reader, so its lines still come out as rejects with a
reason instead of vanishing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

from forensics.errors import ForensicsError
from forensics.readers import cli_text, drain, papertrail, syslog
from forensics.readers.envelope import Batch
from forensics.readers.syslog import Calendar


@runtime_checkable
class Reader(Protocol):
    """An export format's reader module (see the module docstring)."""

    NAME: str
    CALENDAR: bool  # True: `read` also takes `year` and `tz`

    def sniff(self, head: bytes) -> bool: ...

    def read(
        self, chunks: Iterable[bytes], *, source_file: str, app: str | None, **calendar: Any
    ) -> Iterator[Batch]: ...


# Most specific first: detect takes the first whose sniff accepts the input.
READERS: dict[str, Reader] = {
    drain.NAME: drain,
    papertrail.NAME: papertrail,
    syslog.NAME: syslog,
    cli_text.NAME: cli_text,
}
DEFAULT = cli_text.NAME
SNIFF_BYTES = 64 << 10


def detect(head: bytes) -> str:
    """The reader name for an input starting with `head`."""
    for name, mod in READERS.items():
        if mod.sniff(head):
            return name
    return DEFAULT


def get(name: str) -> Reader:
    """The reader module called `name` (as given to `--format`)."""
    try:
        return READERS[name]
    except KeyError:
        choices = ", ".join(sorted(READERS))
        raise ForensicsError(f"unknown format {name!r}; choose one of: auto, {choices}") from None


def read(
    name: str,
    chunks: Iterable[bytes],
    *,
    source_file: str,
    app: str | None,
    calendar: Calendar | None = None,
    engine: str = "polars",
) -> Iterator[Batch]:
    """Envelope batches of one input through the reader `name`; `calendar` (the year and zone
    of timestamps without them, UTC this year by default) reaches only the readers that need it,
    `engine` ("native": the compiled core) only the readers that have one (`NATIVE`)."""
    mod = get(name)
    options: dict[str, Any] = {}
    if getattr(mod, "NATIVE", False):
        options["engine"] = engine
    if mod.CALENDAR:
        options["calendar"] = calendar
    return mod.read(chunks, source_file=source_file, app=app, **options)
