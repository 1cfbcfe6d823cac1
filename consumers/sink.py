"""The ClickHouse sink: writes one partition's batch, idempotently.

Order matters. The batch's offset range is recorded first, so a consumer that
crashes mid-write rebuilds exactly this range; then identifiers, events and
dead-letter counts, each with the batch's deduplication token, so whatever was
already written before a crash is not written twice.
"""

from __future__ import annotations

import datetime as dt

from consumers.batch import PartitionBatch
from consumers.store import Store
from consumers.consent import LEDGER_EVENT_TYPES
from consumers.tables import BATCH_COLUMNS, DEAD_LETTER_COLUMNS, EVENT_COLUMNS, IDENTIFIER_COLUMNS, SUPPRESSED_COLUMNS


class ClickHouseSink:
    def __init__(self, store: Store, consumer_version: str, policy_version: str) -> None:
        self.store = store
        self.consumer_version = consumer_version
        self.policy_version = policy_version

    def write(self, batch: PartitionBatch) -> None:
        now = dt.datetime.now(dt.UTC)
        token = batch.token
        intent = [[batch.topic], [batch.partition], [batch.first_offset], [batch.last_offset], [batch.messages], [now]]
        self.store.insert("ingest_batches", BATCH_COLUMNS, intent, token)
        self.store.insert("identifiers", IDENTIFIER_COLUMNS, batch.identifiers, token)
        self.store.insert("events", EVENT_COLUMNS, batch.events, token)
        self.store.insert("dead_letters", DEAD_LETTER_COLUMNS, batch.dead_letter_columns(self.consumer_version, now), token)
        self.store.insert("suppressed_events", SUPPRESSED_COLUMNS, batch.suppressed_columns(self.policy_version, now), token)

    def dead_letters_published(self, batch: PartitionBatch) -> bool:
        return bool(self.store.scalar(
            "SELECT count() FROM published_dead_letters WHERE source_topic = {t:String}"
            " AND source_partition = {p:UInt32} AND first_offset = {f:UInt64} AND last_offset = {l:UInt64}",
            {"t": batch.topic, "p": batch.partition, "f": batch.first_offset, "l": batch.last_offset},
        ))  # fmt: skip

    def mark_dead_letters_published(self, batch: PartitionBatch) -> None:
        row = (batch.topic, batch.partition, batch.first_offset, batch.last_offset, dt.datetime.now(dt.UTC))
        self.store.client.insert("published_dead_letters", [row], column_names=[
            "source_topic", "source_partition", "first_offset", "last_offset", "published_at"])  # fmt: skip

    def recorded_range(self, topic: str, partition: int, from_offset: int) -> tuple[int, int] | None:
        """The batch range recorded at or after ``from_offset`` (the committed position), if any."""
        rows = self.store.rows(
            "SELECT first_offset, max(last_offset) FROM ingest_batches"
            " WHERE source_topic = {t:String} AND source_partition = {p:UInt32} AND first_offset = {o:UInt64}"
            " GROUP BY first_offset",
            {"t": topic, "p": partition, "o": from_offset},
        )
        return (int(rows[0][0]), int(rows[0][1])) if rows else None

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
