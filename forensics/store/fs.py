"""The filesystem steps that change a dataset (rename, unlink, write), each a fault point.

Tests and `bench/run_faults.py` set `FORENSICS_FAULT=<op>:<n>[:<signal>]` (op: rename, unlink,
write or any; signal: KILL by default, TERM, INT, STOP) to deliver the signal to this process
just before the n-th such step, or an errno name instead (ENOSPC: a full disk) to raise that
OSError there; `FORENSICS_FAULT_TRACE=<file>` appends each step's op to a file (to learn how
many there are). Unset, a step costs two environment lookups.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

_OPS = ("rename", "unlink", "write")
_count: dict[str, int] = dict.fromkeys((*_OPS, "any"), 0)
_lock = threading.Lock()


def point(op: str) -> None:
    """Count one `op` step and deliver the configured signal if this is the chosen one."""
    spec = os.environ.get("FORENSICS_FAULT")
    trace = os.environ.get("FORENSICS_FAULT_TRACE")
    if not spec and not trace:
        return
    with _lock:
        _count[op] += 1
        _count["any"] += 1
        seen = dict(_count)
        if trace:
            with open(trace, "a") as fh:
                fh.write(op + "\n")
    if not spec:
        return
    want_op, _, rest = spec.partition(":")
    nth, _, sig = rest.partition(":")
    if want_op in (op, "any") and nth.isdigit() and seen[want_op] == int(nth):
        if sig.startswith("E"):  # an errno instead: ENOSPC is a full disk
            code = getattr(errno, sig)
            raise OSError(code, os.strerror(code))
        os.kill(os.getpid(), getattr(signal, f"SIG{sig or 'KILL'}"))


def replace(src: Path | str, dst: Path | str) -> None:
    """`os.replace`, a fault point."""
    point("rename")
    os.replace(src, dst)


def unlink(path: Path | str) -> None:
    """Delete a file if it is there, a fault point."""
    point("unlink")
    Path(path).unlink(missing_ok=True)


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT during a write, raised in the main thread (outside `critical`), so
    the writer unwinds and removes what it has not committed."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_critical_depth = 0
_pending: int | None = None


def _on_signal(signum: int, _frame: object) -> None:
    global _pending
    if _critical_depth:
        _pending = signum  # raised when the critical section ends
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """A step a signal must not split (a manifest change and its save): SIGTERM/SIGINT that
    arrive meanwhile are raised when it ends. Only the main thread receives them."""
    global _critical_depth, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _critical_depth += 1
    try:
        yield
    finally:
        _critical_depth -= 1
        if not _critical_depth and _pending is not None:
            signum, _pending = _pending, None
            raise Interrupted(signum)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM and SIGINT raise `Interrupted` while inside (from the main thread only; a
    no-op elsewhere), so the writer can clean up; the previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
