"""Exceptions for the user's mistakes; the CLI turns them into one-line errors."""

from __future__ import annotations


class ForensicsError(Exception):
    """A problem with the user's input or options: the message says what and what to do."""


class InputError(ForensicsError):
    """An input path that cannot be read as a log (missing, empty glob, binary, unreadable)."""


class OutputError(ForensicsError):
    """The dataset directory cannot be written or is not a forensics dataset."""
