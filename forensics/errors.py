"""Exceptions for the user's mistakes; the CLI turns them into one-line errors."""

from __future__ import annotations


class ForensicsError(Exception):
    """A problem with the user's input or options: the message says what and what to do."""


class InputError(ForensicsError):
    """An input path that cannot be read as a log (missing, empty glob, binary, unreadable)."""


class OutputError(ForensicsError):
    """The dataset directory cannot be written or is not a forensics dataset."""


class DatasetChangedError(ForensicsError):
    """A part the reader's snapshot of the manifest lists is gone: a concurrent ingest merged it
    away (compaction) while the reader ran. Running the command again reads the new parts."""


class NotADatasetError(ForensicsError):
    """A path given as a dataset that holds no forensics dataset."""

    def __init__(self, path: object, message: str) -> None:
        super().__init__(message)
        self.path = path


class CutError(ForensicsError):
    """A cut (app, dyno, time window) that is malformed or selects nothing.

    `fields` maps each cut field involved to its value as given; `problem` says what is wrong
    and what the dataset holds instead. The message reads `dyno wbe.1 matches no dyno; ...`.
    """

    def __init__(self, fields: dict[str, str], problem: str) -> None:
        self.fields = fields
        self.problem = problem
        super().__init__(f"{self._named(lambda k: k)}{self._sep()}{problem}")

    def _sep(self) -> str:
        return ": " if len(self.fields) > 1 else " "

    def _named(self, name: object) -> str:
        return " ".join(f"{name(k)} {v}" for k, v in self.fields.items())  # type: ignore[operator]

    def worded(self, flag: dict[str, str]) -> str:
        """The message with each field named as the caller names it (a CLI flag)."""
        return f"{self._named(lambda k: flag.get(k, k))}{self._sep()}{self.problem}"
