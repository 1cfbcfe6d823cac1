"""The ClickHouse sink: writes a flush of several partitions' batches, idempotently.

Order matters. The flush's offset ranges and token are recorded first, in one
insert, so a consumer that crashes mid-write rebuilds exactly these ranges; then
identifiers, events, dead-letter counts and suppressions, one insert per table
under the flush's token, so whatever was already written before a crash is not
written twice. One insert per table per flush, not per partition: the fixed cost
of an insert (and of the views it feeds) is paid once however many partitions
the consumer holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from consumers.pipeline.batch import OffsetRange, PartitionBatch, columns, flush_token
from consumers.pipeline.consent import LEDGER_EVENT_TYPES
from consumers.pipeline.tables import (
    BATCH_COLUMNS,
    DEAD_LETTER_COLUMNS,
    PUBLISHED_COLUMNS,
    SUPPRESSED_COLUMNS,
)
from consumers.store.events import EVENT_COLUMNS, IDENTIFIER_COLUMNS
from consumers.store.store import Store


@dataclass(frozen=True)
class RecordedFlush:
    """A flush whose ranges were recorded: its rows may be partly written, its offsets not committed."""

    token: str
    ranges: tuple[OffsetRange, ...]

    def range_of(self, topic: str, partition: int) -> OffsetRange:
        return next(r for r in self.ranges if (r.topic, r.partition) == (topic, partition))


class ClickHouseSink:
    def __init__(self, store: Store, consumer_version: str, policy_version: str) -> None:
        self.store = store
        self.consumer_version = consumer_version
        self.policy_version = policy_version

    def write(self, batches: Sequence[PartitionBatch], token: str | None = None) -> str:
        """Store the batches as one flush; ``token`` is given when rebuilding a recorded flush."""
        now = dt.datetime.now(dt.UTC)
        ranges = [b.offset_range for b in batches]
        token = token or flush_token(ranges)
        intent = [[r.topic for r in ranges], [r.partition for r in ranges], [r.first_offset for r in ranges],
                  [r.last_offset for r in ranges], [r.messages for r in ranges], [now] * len(ranges),
                  [token] * len(ranges)]  # fmt: skip
        self.store.insert("ingest_batches", BATCH_COLUMNS, intent, token)
        self.store.insert("identifiers", IDENTIFIER_COLUMNS, columns([b.identifiers for b in batches], len(IDENTIFIER_COLUMNS)), token)
        self.store.insert("events", EVENT_COLUMNS, columns([b.events for b in batches], len(EVENT_COLUMNS)), token)
        dead = [b.dead_letter_rows(self.consumer_version, now) for b in batches]
        self.store.insert("dead_letters", DEAD_LETTER_COLUMNS, columns(dead, len(DEAD_LETTER_COLUMNS)), token)
        suppressed = [b.suppressed_rows(self.policy_version, now) for b in batches]
        self.store.insert("suppressed_events", SUPPRESSED_COLUMNS, columns(suppressed, len(SUPPRESSED_COLUMNS)), token)
        return token

    def dead_letters_published(self, ranges: Sequence[OffsetRange]) -> set[OffsetRange]:
        """Which of these ranges already had their dead letters sent to the topic."""
        rows = self.store.rows(
            "SELECT DISTINCT source_topic, source_partition, first_offset, last_offset FROM published_dead_letters"
            " WHERE (source_topic, source_partition, first_offset, last_offset)"
            " IN {ranges:Array(Tuple(String, UInt32, UInt64, UInt64))}",
            {"ranges": [(r.topic, r.partition, r.first_offset, r.last_offset) for r in ranges]},
        )
        return {OffsetRange(t, int(p), int(f), int(l)) for t, p, f, l in rows}

    def mark_dead_letters_published(self, ranges: Sequence[OffsetRange]) -> None:
        now = dt.datetime.now(dt.UTC)
        rows = [(r.topic, r.partition, r.first_offset, r.last_offset, now) for r in ranges]
        self.store.append("published_dead_letters", PUBLISHED_COLUMNS, rows)

    def recorded_flush(self, topic: str, partition: int, from_offset: int) -> RecordedFlush | None:
        """The flush recorded with a range starting at ``from_offset`` (the committed position), if any."""
        rows = self.store.rows(
            "SELECT flush_token, max(last_offset) FROM ingest_batches WHERE source_topic = {t:String}"
            " AND source_partition = {p:UInt32} AND first_offset = {o:UInt64} GROUP BY flush_token",
            {"t": topic, "p": partition, "o": from_offset},
        )
        if not rows:
            return None
        token, last = rows[0]
        if not token:  # recorded by a version that wrote each partition on its own
            only = OffsetRange(topic, partition, from_offset, int(last))
            return RecordedFlush(str(only), (only,))
        ranges = self.store.rows(
            "SELECT DISTINCT source_topic, source_partition, first_offset, last_offset FROM ingest_batches"
            " WHERE flush_token = {k:String}",
            {"k": token},
        )
        return RecordedFlush(token, tuple(sorted(OffsetRange(t, int(p), int(f), int(l)) for t, p, f, l in ranges)))

    def consent_history(self) -> list[tuple[str, str, str, int, int]]:
        """Every stored consent, opt-out and subscription event as (subject_id, event_type, topic, partition, offset)."""
        return [
            (sid, et, t, int(p), int(o))
            for sid, et, t, p, o in self.store.rows(
                "SELECT arrayJoin(arrayFilter((s, r) -> r IN ('recipient', 'subject') AND s != '', subject_ids, subject_roles)),"
                " event_type, source_topic, source_partition, source_offset FROM events"
                " WHERE has({types:Array(String)}, event_type)",
                {"types": sorted(LEDGER_EVENT_TYPES)},
            )
        ]
