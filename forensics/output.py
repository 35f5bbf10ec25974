"""Writing a user's output file (a report, a postmortem, a query result) all or nothing.

The bytes go to a temporary file next to the target, renamed over it once complete, so a full
disk or a kill mid-write leaves the old file (or none), never a truncated one. A target that is
not a regular file (`/dev/stdout`, a FIFO, `/dev/full`) is written in place: it cannot be
renamed over.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from forensics.errors import OutputError

# `No space left on device (os error 28)`: how Rust writers (Polars) report an OSError.
_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def os_reason(e: BaseException) -> str:
    """The reason of a failed write in a few words (`No space left on device`), also for
    errors raised without `strerror` (Polars' writers give `os error 28` in the text).

    >>> os_reason(OSError(28, "No space left on device"))
    'No space left on device'
    >>> os_reason(OSError("failed to write: No space left on device (os error 28)"))
    'No space left on device'
    """
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    code = getattr(e, "errno", None)
    m = _OS_ERROR.search(str(e))
    if code is None and m:
        code = int(m.group(1))
    if code is not None and code in errno.errorcode:
        return os.strerror(code)
    return str(e).strip() or type(e).__name__


def write_atomic(out: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call `write` on a binary file that becomes `out` only when it returned; any OSError
    (and any error a writer raises for one, like Polars' ComputeError) becomes an
    OutputError naming `out` and the reason."""
    if out.parent.exists() and not out.parent.is_dir():
        raise OutputError(
            f"{out}: cannot write ({out.parent} is not a directory); choose another output file"
        )
    special = _special(out)  # written in place: it cannot be renamed over
    tmp = out if special else out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            write(fh)
        if not special:
            os.replace(tmp, out)
    except Exception as e:
        if not _write_failure(e):
            raise  # not a write failure: a bug, keep its traceback
        raise OutputError(
            f"{out}: cannot write ({os_reason(e)}); choose another output file"
        ) from None
    finally:
        if not special:
            with contextlib.suppress(OSError):  # no temporary file left behind
                tmp.unlink(missing_ok=True)


def write_text_atomic(out: Path, text: str) -> None:
    """`write_atomic` of UTF-8 text."""
    data = text.encode("utf-8")
    write_atomic(out, lambda fh: fh.write(data))


def _special(path: Path) -> bool:
    try:
        return not stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def _write_failure(e: BaseException) -> bool:
    """An OSError, or a writer's error carrying one (`(os error 28)`)."""
    return isinstance(e, OSError) or bool(_OS_ERROR.search(str(e)))
