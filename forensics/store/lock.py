"""One writer at a time per dataset: `DIR/.lock`, held (flock) for the whole of a write.

The file records the holder (pid, host, boot, process start time, when it started) so a second
writer is refused with one line naming it (no wait: a second ingest that silently queued
behind a long one would look hung). The kernel drops the flock when the holder dies however
it dies, so a lock left by a killed ingest is stale by construction; the recorded holder is
also checked (same host and boot, that pid alive with that start time) for filesystems where
flock does nothing. The file stays, empty, between writers: removing it would let a writer
lock an unlinked file while another locks its replacement.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forensics.errors import OutputError
from forensics.store.layout import LOCK_FILE


@dataclass
class WriteLock:
    """A held lock; `stale` is the record a dead holder left (its files are cleaned now)."""

    path: Path
    fd: int
    stale: dict[str, Any] | None

    def release(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
        os.close(self.fd)  # drops the flock
        self.fd = -1


def acquire(root: Path) -> WriteLock:
    """Take the write lock of the dataset folder `root` (which exists), or raise OutputError
    naming the process that holds it."""
    path = root / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise OutputError(
            f"{path}: cannot create the dataset's lock ({e.strerror}); "
            "choose another output directory"
        ) from None
    flocked = True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read(fd)
        os.close(fd)
        raise _busy(root, holder) from None
    except OSError as e:
        if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            os.close(fd)
            raise
        flocked = False  # no flock here: the recorded holder alone decides (below)
    previous = _read(fd)
    if previous and previous.get("pid") != os.getpid() and _alive(previous, flocked=flocked):
        os.close(fd)
        raise _busy(root, previous, certain=False)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(_me()) + "\n").encode(), 0)
    except OSError as e:  # a full disk: one line, before anything of the job is written
        os.close(fd)
        raise OutputError(
            f"{root}: cannot record the dataset's writer in {LOCK_FILE} ({e.strerror}); "
            "nothing was written; free space and run the same command again"
        ) from None
    return WriteLock(path, fd, previous or None)


def _busy(root: Path, holder: dict[str, Any] | None, *, certain: bool = True) -> OutputError:
    who = (
        f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started')}"
        if holder
        else "a process that has not said which yet"
    )
    unsure = "" if certain else f" (if no such process runs, delete {root / LOCK_FILE})"
    return OutputError(
        f"{root}: another forensics process is writing this dataset ({who}); wait for it to "
        f"finish, or write to another directory{unsure}"
    )


def _read(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 4096, 0)
        record = json.loads(data) if data.strip() else {}
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _me() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "boot": _boot_id(),
        "start_ticks": _start_ticks(os.getpid()),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _alive(holder: dict[str, Any], *, flocked: bool) -> bool:
    """Whether the recorded holder still runs. Here: its pid exists with the recorded start
    time (not a reused pid). On another host it cannot be told: the flock we got decides, and
    without flock it is taken as alive (the message names it; delete DIR/.lock if it is not)."""
    if holder.get("host") != socket.gethostname():
        return not flocked
    if holder.get("boot") and holder.get("boot") != _boot_id():
        return False  # the machine restarted since
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, another user's
    ticks = holder.get("start_ticks")
    return ticks is None or _start_ticks(pid) in (None, ticks)


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux /proc), None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 else None
