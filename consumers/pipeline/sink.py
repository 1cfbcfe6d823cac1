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
from collections.abc import Sequence

from consumers.pipeline.batch import PartitionBatch, Suppression, columns, flush_token
from consumers.pipeline.bulk.rows import Candidates, bulk_events, bulk_identifiers
from consumers.pipeline.consent import LEDGER_EVENT_TYPES
from consumers.pipeline.tables import BATCH_COLUMNS, DEAD_LETTER_COLUMNS, SUPPRESSED_COLUMNS
from consumers.store.events import EVENT_COLUMNS, IDENTIFIER_COLUMNS
from consumers.store.driver import StoreUnavailable
from consumers.store.store import Store

DUPLICATE = "duplicate_event"
# Flushes of at least this many messages write their events one insert per month (see _insert); their
# token starts with MONTHS. Smaller ones, and every flush recorded before, write one insert.
SPLIT_BY_MONTH = 20_000
MONTHS = "months:"
_ID, _TYPE, _TIME, _TENANT = (EVENT_COLUMNS.index(c) for c in ("event_id", "event_type", "occurred_at", "tenant_id"))
_TOPIC, _PARTITION, _OFFSET = (EVENT_COLUMNS.index(c) for c in ("source_topic", "source_partition", "source_offset"))
_IDENT_OFFSET = IDENTIFIER_COLUMNS.index("source_offset")
_KEYS_COLUMNS = ("tenant_id", "event_type", "occurred_at", "event_id", "source_topic", "source_partition",
                 "source_offset", "batch", "bulk")  # fmt: skip
# An INSERT ... SELECT squashed into one block: a deduplication token covers one block, and a rebuilt
# flush must fall into the same blocks as the first try did, or part of it would be stored twice.
# Squashing waits for more rows than any flush holds, so everything read becomes one block; one sink.
ONE_BLOCK = {"min_insert_block_size_rows": 1 << 30, "min_insert_block_size_bytes": 1 << 40,
             "max_insert_block_size": 1 << 30, "max_insert_threads": 1}


def one_block(token: str) -> str:
    """The SETTINGS clause of an INSERT ... SELECT written as one block under ``token``.

    In the statement, not passed to the driver: the embedded driver sets, reads back and restores
    each setting passed to it, some 4 ms a statement.
    """
    quoted = token.replace("\\", "\\\\").replace("'", "\\'")
    return "SETTINGS " + ", ".join([*(f"{k} = {v}" for k, v in ONE_BLOCK.items()),
                                    f"insert_deduplication_token = '{quoted}'"])  # fmt: skip


class ClickHouseSink:
    def __init__(self, store: Store, consumer_version: str, policy_version: str, scratch: str) -> None:
        """``scratch`` prefixes this consumer's own scratch tables (the duplicate lookup, rows waiting to go)."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", scratch):
            raise ValueError(f"{scratch!r} is not a table name")
        self.store = store
        self.consumer_version = consumer_version
        self.policy_version = policy_version
        self.scratch = scratch
        self.keys_table = f"{scratch}_keys"
        self._scratch: set[str] = set()

    def write(self, batches: Sequence[PartitionBatch], token: str | None = None,
              bulk: Candidates | None = None) -> tuple[str, int]:  # fmt: skip
        """Store the batches as one flush; ``token`` is given when rebuilding a recorded flush, ``bulk`` when the
        engine holds some of its rows (a settled flush).

        Returns the flush's token and how many events it did not store because they were stored already.
        The batches' rows are left as they are (a duplicate is only left out of the insert), so a write
        that failed half-way can be settled and written again.
        """
        now = dt.datetime.now(dt.UTC)
        ranges = [b.offset_range for b in batches]
        if token is None:
            token = flush_token(ranges)
            # A big flush writes its events month by month; the token says so, for a rebuild to do the same.
            if sum(r.messages for r in ranges) >= SPLIT_BY_MONTH:
                token = MONTHS + token
        dropped, excluded = self._duplicates(batches, bulk)
        events = [[r for r in b.events if r[_OFFSET] not in dropped[i]] if dropped.get(i) else b.events
                  for i, b in enumerate(batches)]  # fmt: skip
        identifiers = [[r for r in b.identifiers if r[_IDENT_OFFSET] not in dropped[i]] if dropped.get(i)
                       else b.identifiers for i, b in enumerate(batches)]  # fmt: skip
        if bulk is not None:
            self._check_waiting(batches, bulk, excluded)
        intent = [[r.topic for r in ranges], [r.partition for r in ranges], [r.first_offset for r in ranges],
                  [r.last_offset for r in ranges], [r.messages for r in ranges], [now] * len(ranges),
                  [token] * len(ranges)]  # fmt: skip
        self.store.insert("ingest_batches", BATCH_COLUMNS, intent, token)
        self._insert("identifiers", IDENTIFIER_COLUMNS, identifiers, token, bulk and bulk_identifiers(bulk))
        self._insert("events", EVENT_COLUMNS, events, token, bulk and bulk_events(bulk), token.startswith(MONTHS))
        dead = [b.dead_letter_rows(self.consumer_version, now) for b in batches]
        self.store.insert("dead_letters", DEAD_LETTER_COLUMNS, columns(dead, len(DEAD_LETTER_COLUMNS)), token)
        suppressed = [b.suppressed_rows(self.policy_version, now) for b in batches]
        self.store.insert("suppressed_events", SUPPRESSED_COLUMNS, columns(suppressed, len(SUPPRESSED_COLUMNS)), token)
        return token, sum(len(v) for v in dropped.values())

    def _insert(self, table: str, names: Sequence[str], parts: list[list[tuple]], token: str,
                bulk_select: str | None, by_month: bool = False) -> None:  # fmt: skip
        """One insert of Python's rows and the engine's, in one block, so the token covers all of them at once.

        ``by_month``: one insert per month of ``occurred_at`` (the table's partition), each a block of its
        own under the token and the month. A block the engine has to split by partition cost eight times
        as much to write as one that falls in one partition (measured on ``events``, 20,000 rows over two
        months); a small one costs less split than written month by month (each insert runs the views).
        """
        block = columns(parts, len(names))
        if not bulk_select and not by_month:
            self.store.insert(table, names, block, token)
            return
        waiting = self._scratch_like(table)
        self.store.command(f"TRUNCATE TABLE {waiting}")
        self.store.insert(waiting, names, block, None)  # a Memory table: nothing to deduplicate
        cols = ", ".join(names)
        rows = f"SELECT {cols} FROM {waiting}" + (f" UNION ALL {bulk_select}" if bulk_select else "")
        if not by_month:
            self.store.command(f"INSERT INTO {table} ({cols}) SELECT * FROM ({rows}) {one_block(token)}")
            return
        months = sorted(m for (m,) in self.store.rows(f"SELECT DISTINCT toYYYYMM(occurred_at) FROM ({rows})"))
        for month in months:
            self.store.command(f"INSERT INTO {table} ({cols}) SELECT * FROM ({rows})"
                               f" WHERE toYYYYMM(occurred_at) = {int(month)}"
                               f" {one_block(f'{token}/{month}')}")  # fmt: skip

    def _scratch_like(self, table: str) -> str:
        name = f"{self.scratch}_{table}"
        if name not in self._scratch:
            cols = ", ".join(f"`{n}` {t}" for n, t in self.store.columns(table))
            self.store.command(f"CREATE TABLE IF NOT EXISTS {name} ({cols}) ENGINE = Memory")
            self._scratch.add(name)
        return name

    def _check_waiting(self, batches: Sequence[PartitionBatch], bulk: Candidates, dropped: int) -> None:
        """The engine's rows must all still wait: a server restarted since the flush was settled loses them."""
        expected = sum(b.bulk_rows for b in batches) - dropped
        waiting = self.store.scalar(f"SELECT count() FROM {bulk.table} WHERE {bulk.keep}")
        if waiting != expected:
            raise StoreUnavailable(f"the store lost a flush's waiting rows ({waiting} of {expected}); settling again")

    def _duplicates(self, batches: Sequence[PartitionBatch],
                    bulk: Candidates | None) -> tuple[dict[int, set[int]], int]:  # fmt: skip
        """Per batch (by index), the offsets of events stored already at another position, or earlier in this flush;
        and how many of them are the engine's rows.

        Each is recorded as suppressed; the engine's rows among them are also excluded from its rows.
        """
        if bulk is None and not any(b.events for b in batches):
            return {}, 0
        self._fill_keys(batches, bulk)
        stored = self._stored_elsewhere()
        repeated = {i for (i,) in self.store.rows(
            f"SELECT toString(event_id) FROM {self.keys_table} GROUP BY event_id HAVING count() > 1")}  # fmt: skip
        suspects = set(stored) | repeated
        if not suspects:
            return {}, 0
        found = self.store.rows(
            f"SELECT toString(event_id), event_type, source_topic, source_partition, source_offset, batch, bulk"
            f" FROM {self.keys_table} WHERE has({{ids:Array(String)}}, toString(event_id))", {"ids": sorted(suspects)}
        )  # fmt: skip
        found.sort(key=lambda r: (r[5], r[4]))  # in the flush's order: batch by batch, offset by offset
        seen: set[str] = set()
        dropped: dict[int, set[int]] = {}
        excluded = []
        for event_id, event_type, topic, partition, offset, i, in_bulk in found:
            position = (topic, int(partition), int(offset))
            if event_id in seen or stored.get(event_id, position) != position:
                dropped.setdefault(i, set()).add(int(offset))
                batches[i].suppressed.append(Suppression(int(offset), DUPLICATE, event_type))
                if in_bulk and bulk is not None:
                    excluded.append((bulk.topics.index(topic), int(partition), int(offset)))
            else:
                seen.add(event_id)
        if excluded and bulk is not None:
            self.store.append(bulk.excluded, ("t", "p", "o"), excluded)
        return dropped, len(excluded)

    def _fill_keys(self, batches: Sequence[PartitionBatch], bulk: Candidates | None) -> None:
        """The flush's events, each with the index of its batch: Python's rows, then the engine's."""
        if self.keys_table not in self._scratch:
            self.store.command(f"CREATE TABLE IF NOT EXISTS {self.keys_table} (tenant_id String, event_type String,"
                               " occurred_at DateTime64(3, 'UTC'), event_id UUID, source_topic String,"
                               " source_partition UInt32, source_offset UInt64, batch UInt32, bulk UInt8)"
                               " ENGINE = Memory")  # fmt: skip
            self._scratch.add(self.keys_table)
        self.store.command(f"TRUNCATE TABLE {self.keys_table}")
        rows = [(*r, i) for i, b in enumerate(batches) for r in b.events]
        block = [[r[_TENANT] for r in rows], [r[_TYPE] for r in rows], [r[_TIME] for r in rows],
                 [r[_ID] for r in rows], [r[_TOPIC] for r in rows], [r[_PARTITION] for r in rows],
                 [r[_OFFSET] for r in rows], [r[-1] for r in rows], [0] * len(rows)]  # fmt: skip
        self.store.insert(self.keys_table, _KEYS_COLUMNS, block, None)  # a Memory table
        if bulk is not None:
            self.store.command(
                f"INSERT INTO {self.keys_table} SELECT tenant_id, event_type, occurred_at, event_id, source_topic,"
                " source_partition, source_offset, indexOf({batches:Array(Tuple(String, UInt32))},"
                f" (source_topic, source_partition)) - 1, 1 FROM {bulk.table} WHERE {bulk.keep}",
                {"batches": [(b.topic, b.partition) for b in batches]},
            )  # fmt: skip

    def _stored_elsewhere(self) -> dict[str, tuple[str, int, int]]:
        """Event id -> the position it is stored at, for those of the flush's events the store holds."""
        found = self.store.rows(
            "SELECT toString(event_id), source_topic, source_partition, source_offset FROM events"
            f" WHERE (tenant_id, event_type, occurred_at) IN (SELECT tenant_id, event_type, occurred_at FROM {self.keys_table})"
            f" AND event_id IN (SELECT event_id FROM {self.keys_table})"
        )  # fmt: skip
        return {i: (t, int(p), int(o)) for i, t, p, o in found}

    def drop_scratch(self) -> None:
        """Drop this consumer's scratch tables (at a clean stop; a crashed consumer's are reused by its restart)."""
        for table in sorted(self._scratch):
            self.store.command(f"DROP TABLE IF EXISTS {table}")
        self._scratch.clear()

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
