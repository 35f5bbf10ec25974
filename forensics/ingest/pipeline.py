"""Overlap reading, parsing and writing on separate threads (Polars and Arrow release the GIL).

Queues are bounded, so at most a few batches are in memory at once whatever the input size;
an exception in any stage is re-raised in the caller.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterable[T], *, depth: int = 1) -> Iterator[T]:
    """Iterate `items` on a background thread, at most `depth` items ahead of the consumer.

    The producer starts an item only when the consumer has taken an earlier one, so no finished
    item waits in the producer's hands (one batch less in memory than a bounded queue).
    """
    q: queue.Queue[Any] = queue.Queue()
    credits = threading.Semaphore(depth)
    stop = threading.Event()

    def run() -> None:
        try:
            it = iter(items)
            while True:
                while not credits.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                item = next(it, _DONE)
                q.put(item)
                if item is _DONE:
                    return
        except BaseException as e:  # handed to the consumer
            q.put(e)

    thread = threading.Thread(target=run, name="forensics-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            credits.release()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
            del item  # not held while the consumer waits for the next one
    finally:
        stop.set()
        thread.join(timeout=5)


class Workers:
    """Run calls on `threads` background threads with at most `depth` unfinished at once, and
    hand their results back in submission order (so totals and errors stay deterministic).

    `submit` queues a call, then waits while `depth` calls are unfinished (so the caller reads
    its next input only when a thread is free) and returns the results that are ready; `drain`
    waits for the rest. An exception in a call is re-raised by the `submit` or `drain`
    that reaches its result. One instance serves a whole job (threads are not started per
    input: each new thread costs the allocator an arena's worth of retained memory).
    """

    def __init__(self, *, threads: int = 2, depth: int = 3) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="forensics")
        self._pending: deque[Future[Any]] = deque()
        self._depth = depth

    def submit(self, fn: Callable[[], T]) -> list[T]:
        self._pending.append(self._pool.submit(fn))
        ready = []
        while self._pending and (len(self._pending) >= self._depth or self._pending[0].done()):
            ready.append(self._pending.popleft().result())
        return ready

    def drain(self) -> list[T]:
        out = []
        while self._pending:
            out.append(self._pending.popleft().result())
        return out

    def cancel(self) -> None:
        """Drop the calls not started and wait for the running ones (their errors ignored)."""
        for fut in self._pending:
            fut.cancel()
        for fut in self._pending:
            if not fut.cancelled():
                fut.exception()  # waits
        self._pending.clear()

    def close(self) -> None:
        self.cancel()
        self._pool.shutdown(wait=True)
