"""One flush at a time, written in a thread of its own while the consumer reads on.

The engine does a flush's work in C++ and lets go of Python's lock while it
does, so reading and staging the next messages overlaps writing the last ones:
on two cores the consumer's Python and the engine each keep one busy. Only one
flush is ever in flight, and the consumer takes its result (its counts, the
offsets to commit) before it hands over the next, so flushes are written in
order, each whole before the next begins; the Kafka client stays with the
consumer's own thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from consumers.pipeline.batch import PartitionBatch

log = logging.getLogger(__name__)
Result = TypeVar("Result")


class FlushWriter(Generic[Result]):
    def __init__(self, write: Callable[[list[PartitionBatch]], Result]) -> None:
        self._write = write
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flush-writer")
        self._in_flight: tuple[Future[Result], list[PartitionBatch]] | None = None

    @property
    def busy(self) -> bool:
        """A flush is in flight (it may be written already, and not yet taken)."""
        return self._in_flight is not None

    @property
    def written(self) -> bool:
        """The flush in flight is written (or failed): taking it will not wait."""
        return self._in_flight is not None and self._in_flight[0].done()

    def submit(self, batches: list[PartitionBatch]) -> None:
        if self._in_flight is not None:
            raise RuntimeError("a flush is already being written; wait for it first")
        self._in_flight = (self._pool.submit(self._write, batches), batches)

    def wait(self) -> tuple[list[PartitionBatch], Result] | None:
        """The flush in flight once written, or None; the writer's error, if it failed, is raised here."""
        if self._in_flight is None:
            return None
        future, batches = self._in_flight
        self._in_flight = None
        return batches, future.result()

    def close(self) -> None:
        """Let a flush in flight finish (its rows are the store's either way), then stop the thread."""
        try:
            self.wait()
        except Exception as exc:  # the run is ending on another error already, or this one was reported
            log.info("the last flush ended in %s while the consumer stopped", type(exc).__name__)
        self._pool.shutdown(wait=True)
