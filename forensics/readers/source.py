"""Input sources: expand paths, globs, directories and `-`, and stream their bytes.

Everything is streamed in fixed-size chunks (gzip decompressed on the fly), never read whole,
and hashed as it goes so the manifest can recognise a file it has already ingested.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import os
import stat
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from forensics.errors import InputError

# Batches are whole chunks (readers collect chunks up to their batch size): 4 MB chunks make an
# 8 MB line batch 8 MB (8 MB chunks made a 12 MB batch 16: ~50 MiB more peak for ~5 % less CPU).
CHUNK_BYTES = 4 << 20
GZIP_MAGIC = b"\x1f\x8b"
STDIN = "-"


@dataclass
class Source:
    """One input: a file path or stdin, with what was learned while reading it."""

    name: str
    path: Path | None
    size: int | None = None
    sha256: str | None = None
    compressed: bool = False
    bytes_read: int = 0
    skipped: str | None = None  # why it is not read (see `expand_paths`)
    notes: list[str] = field(default_factory=list)  # what reading it found (trailing bytes)
    _hasher: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)

    @property
    def is_stdin(self) -> bool:
        return self.path is None

    @property
    def is_regular(self) -> bool:
        """A regular file (not stdin, not a FIFO): one that can be hashed before reading."""
        return self.path is not None and self.path.is_file()


def expand_paths(paths: list[str]) -> list[Source]:
    """Turn CLI arguments (files, directories, globs, `-`) into sources, in a stable order.

    Names are shown as UTF-8, bytes that are not escaped (`bad\\xff.log`). In a directory, an
    entry that is neither a file nor a directory (a FIFO, a socket, a device) is a source
    with `skipped` saying so, not silently left out; a FIFO named on its own is read like
    stdin. Raises InputError naming the argument when it matches nothing or names an empty
    directory.
    """
    out: list[Source] = []
    for arg in paths:
        if arg == STDIN:
            out.append(Source(name=STDIN, path=None))
            continue
        p = Path(arg)
        if p.is_dir():
            entries = sorted(f for f in p.rglob("*") if not f.name.startswith("."))
            found = [f for f in entries if not f.is_dir()]
            if not found:
                raise InputError(f"{shown(arg)}: directory has no files; pass log files or a glob")
            out.extend(_source(f, in_dir=True) for f in found)
        elif p.exists():
            out.append(_source(p))
        elif glob.has_magic(arg):
            matches = sorted(m for m in glob.glob(arg, recursive=True) if os.path.isfile(m))
            if not matches:
                raise InputError(
                    f"{shown(arg)}: the pattern matches no file; check the path and quoting"
                )
            out.extend(_source(Path(m)) for m in matches)
        else:
            raise InputError(f"{shown(arg)}: no such file or directory")
    return out


def shown(name: str | Path) -> str:
    """A path as text that can be printed and stored: bytes that are not UTF-8 (a file name
    from another system) escaped as `\\xNN` instead of breaking every writer downstream."""
    return os.fsencode(name).decode("utf-8", errors="backslashreplace")


def _source(path: Path, *, in_dir: bool = False) -> Source:
    source = Source(name=shown(path), path=path)
    if in_dir and not path.is_file():
        try:
            mode = path.stat().st_mode
        except OSError:
            mode = 0
        kind = (
            "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "not a regular file (a broken link?)"
        )  # fmt: skip
        source.skipped = (
            f"{source.name}: {kind} in an input directory, not read (it could block forever); "
            "name it on its own to read it like stdin"
        )
    return source


def _open_raw(source: Source) -> BinaryIO:
    if source.path is None:
        return sys.stdin.buffer
    try:
        source.size = source.path.stat().st_size if source.is_regular else None
        return open(source.path, "rb")
    except PermissionError:
        raise InputError(
            f"{source.name}: permission denied; check the file's permissions"
        ) from None
    except OSError as e:
        raise InputError(f"{source.name}: cannot read ({e.strerror})") from None


def _looks_binary(head: bytes) -> bool:
    """Text logs have no NUL bytes and few control characters; anything else is not a log."""
    if not head:
        return False
    nuls = head.count(b"\x00")
    controls = sum(head.count(bytes([b])) for b in (*range(1, 9), *range(14, 27), *range(28, 32)))
    return nuls > len(head) // 100 or nuls + controls > len(head) // 20


def iter_chunks(source: Source, *, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Yield the decompressed bytes of `source` in chunks, hashing the raw bytes as they pass.

    Raises InputError for binary data that is not gzip and for a gzip stream cut short.
    """
    raw = _open_raw(source)
    hasher = source._hasher

    class _Hashing:
        def read(self, n: int = -1) -> bytes:
            data = raw.read(n)
            hasher.update(data)
            source.bytes_read += len(data)
            return data

    try:
        head = raw.read(2)
        hasher.update(head)
        source.bytes_read += len(head)
        if head == GZIP_MAGIC:
            source.compressed = True
            yield from _iter_gzip(source, head, _Hashing(), chunk_bytes)
        else:
            first = head + _Hashing().read(chunk_bytes)
            if _looks_binary(first[:8192]):
                raise InputError(
                    f"{source.name}: not a text log (binary data); pass a Heroku log export "
                    "or its .gz"
                )
            while first:
                yield first
                first = _Hashing().read(chunk_bytes)
    finally:
        if source.path is not None:
            raw.close()
        source.sha256 = hasher.hexdigest()


def _iter_gzip(source: Source, head: bytes, raw, chunk_bytes: int) -> Iterator[bytes]:
    """Decompress a gzip stream (possibly several members) chunk by chunk."""

    class _Prefixed:
        def __init__(self) -> None:
            self.head = head

        def read(self, n: int = -1) -> bytes:
            if self.head:
                h, self.head = self.head, b""
                return h + raw.read(max(n - len(h), 0) if n > 0 else -1)
            return raw.read(n)

    gz = gzip.GzipFile(fileobj=_Prefixed(), mode="rb")
    checked = False
    out = 0
    ended = False
    try:
        while not ended:
            data, ended = _read_member_data(gz, chunk_bytes, out, source)
            out += len(data)
            if not data:
                return
            if not checked:
                checked = True
                if _looks_binary(data[:8192]):
                    raise InputError(
                        f"{source.name}: the gzip holds binary data, not a text log; "
                        "pass a Heroku log export"
                    )
            yield data
    except EOFError:
        raise InputError(
            f"{source.name}: gzip stream is truncated after {source.bytes_read} compressed "
            "bytes, nothing from it was kept; re-copy the file, or ingest what survives "
            "with `gunzip -c FILE > part.log`"
        ) from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise InputError(f"{source.name}: corrupt gzip data ({e}); re-copy the file") from None


def _read_member_data(
    gz: gzip.GzipFile, chunk_bytes: int, out: int, source: Source
) -> tuple[bytes, bool]:
    """The next decompressed chunk (up to `chunk_bytes`) and whether the data ends with it:
    at the end of the stream, or where bytes that are no gzip member follow complete members
    (a download or `cat` that appended something): the data before them is kept, with a note
    on the source. (`read1` pieces: `read` would drop what it had buffered there.)"""
    pieces: list[bytes] = []
    size = 0
    while size < chunk_bytes:
        try:
            piece = gz.read1(chunk_bytes - size)
        except gzip.BadGzipFile as e:
            if out + size == 0 or not str(e).startswith("Not a gzipped file"):
                raise
            source.notes.append(
                "bytes that are not gzip data follow the compressed data: ignored, the "
                f"{out + size:,} decompressed bytes before them are kept"
            )
            return b"".join(pieces), True
        if not piece:
            return b"".join(pieces), True
        pieces.append(piece)
        size += len(piece)
    return (pieces[0] if len(pieces) == 1 else b"".join(pieces)), False
