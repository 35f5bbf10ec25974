"""Overlap reading, parsing and writing on separate threads (Polars and Arrow release the GIL).

Queues are bounded, so at most a couple of batches are in memory at once whatever the input
size; an exception in any stage is re-raised in the caller.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterable[T], *, depth: int = 1) -> Iterator[T]:
    """Iterate `items` on a background thread, `depth` items ahead of the consumer."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def run() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as e:  # handed to the consumer
            q.put(e)

    thread = threading.Thread(target=run, name="forensics-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class Background:
    """Run submitted calls in order on one background thread; `close` waits and re-raises."""

    def __init__(self, *, depth: int = 2) -> None:
        self._q: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="forensics-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._q.get()
            if job is _DONE:
                return
            if self._error is None:
                try:
                    job()
                except BaseException as e:
                    self._error = e

    def submit(self, fn: Callable[[], None]) -> None:
        if self._error is not None:
            raise self._error
        self._q.put(fn)

    def close(self) -> None:
        self._q.put(_DONE)
        self._thread.join()
        if self._error is not None:
            raise self._error
