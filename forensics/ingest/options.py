"""The options of one `ingest` call, validated once and handed down to the job and readers."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from forensics import native, readers
from forensics.readers.syslog import Calendar


@dataclass(frozen=True)
class IngestOptions:
    """What `ingest` was asked: the app (or apps per file glob), the format ("auto" or a
    reader name), the year and zone for timestamps without them, and the parsing engine
    (`native`, the compiled core, or `polars`; None: native when it is built). Building one
    validates it (ForensicsError for an unknown format, zone or engine) and builds the
    `calendar` once."""

    app: str | None = None
    app_by_file: Sequence[tuple[str, str]] = ()
    fmt: str = "auto"
    year: int | None = None
    tz: str = "UTC"
    engine: str | None = None
    calendar: Calendar = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.fmt != "auto":
            readers.get(self.fmt)
        object.__setattr__(self, "app_by_file", tuple(self.app_by_file))
        object.__setattr__(self, "engine", native.resolve_engine(self.engine))
        object.__setattr__(self, "calendar", Calendar(self.year, self.tz))

    def app_for(self, name: str) -> str | None:
        """The app for the input `name`: the first `(glob, app)` whose glob matches its path or
        its file name, else `app`."""
        for pattern, mapped in self.app_by_file:
            if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(Path(name).name, pattern):
                return mapped
        return self.app
