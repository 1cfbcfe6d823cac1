"""The ClickHouse sink: writes a flush of several partitions' batches, idempotently, each event once.

Order matters. The flush's offset ranges and token are recorded first, in one
insert, so a consumer that crashes mid-write rebuilds exactly these ranges; then
identifiers, events, dead-letter counts and suppressions, one insert per table
under the flush's token, so whatever was already written before a crash is not
written twice. One insert per table per flush, not per partition: the fixed cost
of an insert (and of the views it feeds) is paid once however many partitions
the consumer holds.

An event whose id is stored already at another position (a producer that sent it
again) is not stored a second time: it is recorded as suppressed, reason
``duplicate_event``, and its identifiers go with it. A re-sent event carries its
first envelope, so it is looked for by the events table's own key (tenant, type,
time) and its id, which reads only the parts that can hold it.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence

from consumers.pipeline.batch import PartitionBatch, Suppression, columns, flush_token
from consumers.pipeline.consent import LEDGER_EVENT_TYPES
from consumers.pipeline.tables import BATCH_COLUMNS, DEAD_LETTER_COLUMNS, SUPPRESSED_COLUMNS
from consumers.store.events import EVENT_COLUMNS, IDENTIFIER_COLUMNS
from consumers.store.store import Store

DUPLICATE = "duplicate_event"
_ID, _TYPE, _TIME, _TENANT = (EVENT_COLUMNS.index(c) for c in ("event_id", "event_type", "occurred_at", "tenant_id"))
_TOPIC, _PARTITION, _OFFSET = (EVENT_COLUMNS.index(c) for c in ("source_topic", "source_partition", "source_offset"))
_IDENT_OFFSET = IDENTIFIER_COLUMNS.index("source_offset")
_KEYS_COLUMNS = ("tenant_id", "event_type", "occurred_at", "event_id")


def _canonical(event_id: str) -> str:
    """An id as ClickHouse prints a UUID (a producer may send capitals, braces or a urn: prefix)."""
    return event_id if len(event_id) == 36 and event_id.islower() else str(uuid.UUID(event_id))


class ClickHouseSink:
    def __init__(self, store: Store, consumer_version: str, policy_version: str, keys_table: str) -> None:
        """``keys_table`` is this consumer's own scratch table for the duplicate lookup (one per consumer)."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", keys_table):
            raise ValueError(f"{keys_table!r} is not a table name")
        self.store = store
        self.consumer_version = consumer_version
        self.policy_version = policy_version
        self.keys_table = keys_table
        self._keys_ready = False

    def write(self, batches: Sequence[PartitionBatch], token: str | None = None) -> tuple[str, int]:
        """Store the batches as one flush; ``token`` is given when rebuilding a recorded flush.

        Returns the flush's token and how many events it did not store because they were stored already.
        """
        now = dt.datetime.now(dt.UTC)
        ranges = [b.offset_range for b in batches]
        token = token or flush_token(ranges)
        duplicates = self._drop_duplicates(batches)
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
        return token, duplicates

    def _drop_duplicates(self, batches: Sequence[PartitionBatch]) -> int:
        """Take out of the batches every event stored already at another position, or earlier in this flush."""
        rows = [row for b in batches for row in b.events]
        if not rows:
            return 0
        stored = self._stored_elsewhere(rows)
        seen: set[str] = set()
        dropped = 0
        for batch in batches:
            keep, gone = [], set()
            for row in batch.events:
                event_id, position = _canonical(row[_ID]), (row[_TOPIC], row[_PARTITION], row[_OFFSET])
                if event_id in seen or stored.get(event_id, position) != position:
                    gone.add(row[_OFFSET])
                    batch.suppressed.append(Suppression(row[_OFFSET], DUPLICATE, row[_TYPE]))
                else:
                    seen.add(event_id)
                    keep.append(row)
            if gone:
                batch.events = keep
                batch.identifiers = [r for r in batch.identifiers if r[_IDENT_OFFSET] not in gone]
                dropped += len(gone)
        return dropped

    def _stored_elsewhere(self, rows: list[tuple]) -> dict[str, tuple[str, int, int]]:
        """Event id -> the position it is stored at, for those of these events the store holds."""
        if not self._keys_ready:
            self.store.command(f"CREATE TABLE IF NOT EXISTS {self.keys_table} (tenant_id String, event_type String,"
                               " occurred_at DateTime64(3, 'UTC'), event_id UUID) ENGINE = Memory")  # fmt: skip
            self._keys_ready = True
        self.store.command(f"TRUNCATE TABLE {self.keys_table}")
        block = [[r[_TENANT] for r in rows], [r[_TYPE] for r in rows], [r[_TIME] for r in rows],
                 [r[_ID] for r in rows]]  # fmt: skip
        # A Memory table takes no deduplication: any token will do.
        self.store.insert(self.keys_table, _KEYS_COLUMNS, block, uuid.uuid4().hex)
        found = self.store.rows(
            "SELECT toString(event_id), source_topic, source_partition, source_offset FROM events"
            f" WHERE (tenant_id, event_type, occurred_at) IN (SELECT tenant_id, event_type, occurred_at FROM {self.keys_table})"
            f" AND event_id IN (SELECT event_id FROM {self.keys_table})"
        )  # fmt: skip
        return {i: (t, int(p), int(o)) for i, t, p, o in found}

    def drop_scratch(self) -> None:
        """Drop this consumer's scratch table (at a clean stop; a crashed consumer's is reused by its restart)."""
        if self._keys_ready:
            self.store.command(f"DROP TABLE IF EXISTS {self.keys_table}")
            self._keys_ready = False

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
