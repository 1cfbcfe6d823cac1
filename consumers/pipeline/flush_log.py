"""The store's own record of what it holds: each flush's offset ranges, and which flushes are whole.

This record, not the consumer group's committed offsets, says where a partition
resumes: the offset after the last range recorded for it. So a fresh consumer
group, offsets reset to the earliest, a different batch size or a rebalance
cannot make the consumer store a message again: it skips to where the store
already is. A flush is recorded before its rows are written and marked stored
once they are (and its dead letters are on the topic); the last flush of a
partition that is recorded but not marked is rebuilt, whole, under its token.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from consumers.pipeline.batch import OffsetRange
from consumers.store.store import Store

# A range recorded by a version that wrote each partition on its own has no token; its token
# was the range itself, as ``str(OffsetRange)`` writes it.
TOKEN = ("if(flush_token = '', concat(source_topic, '/', toString(source_partition), '/', toString(first_offset),"
         " '-', toString(last_offset)), flush_token)")  # fmt: skip


@dataclass(frozen=True)
class RecordedFlush:
    """A flush whose ranges were recorded: its rows may be partly written, its dead letters partly sent."""

    token: str
    ranges: tuple[OffsetRange, ...]

    def range_of(self, topic: str, partition: int) -> OffsetRange:
        return next(r for r in self.ranges if (r.topic, r.partition) == (topic, partition))


@dataclass(frozen=True)
class Resume:
    """Where a partition goes on: ``next_offset`` (None: the store holds nothing of it), after ``unfinished``."""

    next_offset: int | None
    unfinished: RecordedFlush | None


class FlushLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    def resume(self, topic: str, partition: int) -> Resume:
        """Where the store says this partition goes on, and the flush to finish first, if its last is not whole."""
        rows = self.store.rows(
            f"SELECT {TOKEN} AS token, last_offset FROM ingest_batches WHERE source_topic = {{t:String}}"
            " AND source_partition = {p:UInt32} ORDER BY last_offset DESC LIMIT 1",
            {"t": topic, "p": partition},
        )
        if not rows:
            return Resume(None, None)
        token, last = rows[0]
        if self.stored(token):
            return Resume(int(last) + 1, None)
        return Resume(int(last) + 1, self.recorded(token))

    def stored(self, token: str) -> bool:
        return bool(self.store.scalar("SELECT count() FROM stored_flushes WHERE flush_token = {k:String}", {"k": token}))

    def recorded(self, token: str) -> RecordedFlush:
        ranges = self.store.rows(
            f"SELECT DISTINCT source_topic, source_partition, first_offset, last_offset FROM ingest_batches"
            f" WHERE {TOKEN} = {{k:String}}",
            {"k": token},
        )
        return RecordedFlush(token, tuple(sorted(OffsetRange(t, int(p), int(f), int(l)) for t, p, f, l in ranges)))

    def mark_stored(self, token: str) -> None:
        """The flush's rows are all in the store and its dead letters on the topic."""
        self.store.append("stored_flushes", ("flush_token", "stored_at"), [(token, dt.datetime.now(dt.UTC))])
