"""The bulk path at work: keep each message's body, then settle a flush's bodies in the engine.

``process`` stands in for the per-message processor: a message with a known,
bulk-readable schema id is only framed and kept; any other goes to the
per-message path at once. ``settle`` runs before a flush is written. Per schema
it hands the engine one container (a schema with few messages in the flush costs
less one by one), checks that every body was read to its seal, pseudonymises
the contacts it has not met, and builds the candidate rows. The rows the SQL
routes back, and those whose consent the ledger does not confirm, then take the
per-message path, in the batch they came from.

Settling can be repeated (after a store outage, or when the scratch tables were
lost with a server restart): each time it starts from what the batches held
before it first ran.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import NamedTuple
from itertools import repeat

from consumers.identity.pseudonym import Pseudonymizer
from consumers.pipeline.batch import PartitionBatch
from consumers.pipeline.processing import MessageProcessor, Outcome
from consumers.pipeline.tagging import Tagger
from consumers.store.controls import ControlSet
from consumers.store.driver import StoreUnavailable
from consumers.store.events import EVENT_COLUMNS
from consumers.store.store import Store
from schemas import wire
from schemas.errors import RejectedMessage
from schemas.phone import InvalidPhone
from schemas.registry import FileSchemaRegistry, RegisteredSchema

from .container import Container, zigzag
from .rows import Candidates
from .sql import (CONTACT_KEY, PHONE_KEY, EXTRA_COLUMNS, MIN_ENGINE_VERSION, ROUTE_CONSENT, ROUTE_MESSAGE, NotBulkable, PolicySQL,
                  SchemaSQL)  # fmt: skip

log = logging.getLogger(__name__)
STAGED = Outcome(False, "staged")  # not an outcome yet: settled with its flush


class Raw(NamedTuple):
    """A message as read (a Kafka client's record has the same fields)."""

    offset: int
    key: bytes | None
    value: bytes | None
    headers: list


def engine_supports(store: Store) -> bool:
    """Whether the store's engine is recent enough for the bulk path's SQL."""
    version = str(store.scalar("SELECT version()"))
    found = tuple(int(n) for n in version.split(".")[:2] if n.isdigit())
    if found < MIN_ENGINE_VERSION:
        log.warning("ClickHouse %s is older than %s: every message goes one by one", version,
                    ".".join(map(str, MIN_ENGINE_VERSION)))  # fmt: skip
        return False
    return True


def _decodes(value: bytes | None, schema: RegisteredSchema) -> bool:
    try:
        wire.read_body(value or b"", schema, schema.plain)
    except RejectedMessage:
        return False
    return True


class BulkPath:
    def __init__(self, store: Store, registry: FileSchemaRegistry, processor: MessageProcessor, tagger: Tagger,
                 pseudonyms: Pseudonymizer, consumer_version: str, controls: Callable[[], ControlSet], scratch: str,
                 min_rows: int = 64) -> None:  # fmt: skip
        """``scratch`` names this consumer's own scratch tables; ``min_rows`` is the fewest rows of a schema per flush
        worth a container (fewer go one by one)."""
        self.store = store
        self.registry = registry
        self.processor = processor
        self.tagger = tagger
        self.pseudonyms = pseudonyms
        self.consumer_version = consumer_version
        self.controls = controls
        self.scratch = scratch
        self.min_rows = min_rows
        policy = self.policy = PolicySQL(tagger)
        self.plans: dict[int, SchemaSQL] = {}
        for schema in registry.all():
            try:
                self.plans[schema.id] = SchemaSQL.of(schema, policy)
            except NotBulkable as exc:
                log.info("schema %s (id %s) goes one message at a time: %s", schema.name, schema.id, exc)
        self.rules = policy.rules
        self.containers = {sid: Container(plan.schema) for sid, plan in self.plans.items()}
        self.topics: list[str] = []
        self._topic_index: dict[str, int] = {}
        self._prefix: dict[tuple[str, int], bytes] = {}
        self.candidates = Candidates(f"bulk_rows_{scratch}", f"bulk_excluded_{scratch}", ())
        self._ready = False

    # --- per message --------------------------------------------------------------------------

    def stage(self, batch: PartitionBatch, records: list, ingested_at: dt.datetime) -> list[Outcome | None]:
        """Keep each bulk-readable message of a partition's polled records for its flush; process the others at
        once. Returns the outcomes of those processed. (The consumer's inner loop: kept short on purpose.)"""
        plans, staged, offsets, raw = self.plans, batch.staged, batch.staged_offsets, batch.raw
        prefix = self._prefix_of(batch)
        outcomes = []
        for rec in records:
            value = rec.value
            if value is not None and len(value) > 5 and value[0] == 0:
                schema_id = int.from_bytes(value[1:5], "big")
                if schema_id in plans:
                    offset = rec.offset
                    found = staged.get(schema_id)
                    if found is None:
                        found = staged[schema_id] = []
                        offsets[schema_id] = []
                    found.append(prefix + offset.to_bytes(8, "little") + value[5:])
                    offsets[schema_id].append(offset)
                    raw[offset] = rec
                    continue
            outcomes.append(self.processor.process(batch, rec.offset, rec.key, value, rec.headers or [], ingested_at))
        batch.last_offset = records[-1].offset
        return outcomes

    def process(self, batch: PartitionBatch, offset: int, key: bytes | None, value: bytes | None,
                headers: list, ingested_at: dt.datetime) -> Outcome | None:  # fmt: skip
        """One message (of a flush being rebuilt): kept for the engine (returns STAGED), or processed at once."""
        outcomes = self.stage(batch, [Raw(offset, key, value, headers)], ingested_at)
        return outcomes[0] if outcomes else STAGED

    def _prefix_of(self, batch: PartitionBatch) -> bytes:
        prefix = self._prefix.get((batch.topic, batch.partition))
        if prefix is None:
            prefix = self._prefix[(batch.topic, batch.partition)] = self._position_prefix(batch)
        return prefix

    def _position_prefix(self, batch: PartitionBatch) -> bytes:
        index = self._topic_index.get(batch.topic)
        if index is None:
            index = self._topic_index[batch.topic] = len(self.topics)
            self.topics.append(batch.topic)
        return zigzag(index) + zigzag(batch.partition)  # the frame's first two fields; the offset follows

    # --- per flush ----------------------------------------------------------------------------

    def settle(self, batches: list[PartitionBatch]) -> dict[int, list[Outcome | None]] | None:
        """Settle the staged messages of a flush (whose batches were rewound); returns, per batch (by index), the
        outcomes of those that went one by one, or None when nothing was staged. The bulk rows wait in
        ``self.candidates``."""
        staged = [b for b in batches if b.staged]
        if not staged:
            return None
        now = dt.datetime.now(dt.UTC)
        self._prepare()
        self.store.command(f"TRUNCATE TABLE {self.candidates.table}")
        self.store.command(f"TRUNCATE TABLE {self.candidates.excluded}")
        by_schema: dict[int, list[tuple[int, int, bytes]]] = defaultdict(list)  # (batch index, offset, framed)
        for i, b in enumerate(batches):
            for sid, framed in b.staged.items():
                by_schema[sid].extend(zip(repeat(i), b.staged_offsets[sid], framed, strict=False))
        one_by_one: set[tuple[int, int]] = set()  # (batch index, offset)
        read = []
        for sid, items in by_schema.items():
            if len(items) < self.min_rows:
                one_by_one |= {(i, o) for i, o, _ in items}
                continue
            rejected = self._stage(sid, items, batches)
            one_by_one |= rejected
            if len(rejected) < len(items):
                read.append(sid)
        if read:
            self._pseudonymise_new_contacts(read)
            self._build_candidates(read, now)
            one_by_one |= self._routed_back(batches)
        outcomes = self._one_by_one(batches, one_by_one, now)
        went = Counter(i for i, _ in one_by_one)
        for i, b in enumerate(batches):
            b.bulk_rows = sum(len(v) for v in b.staged_offsets.values()) - went[i]
        return outcomes

    def _prepare(self) -> None:
        """Create this consumer's scratch tables once (they live in memory, in the engine)."""
        if self._ready:
            return
        columns = dict(self.store.columns("events"))
        cols = ", ".join([*(f"`{c}` {columns[c]}" for c in EVENT_COLUMNS), *(f"`{n}` {t}" for n, t in EXTRA_COLUMNS)])
        self.store.command(f"CREATE TABLE IF NOT EXISTS {self.candidates.table} ({cols}) ENGINE = Memory")
        self.store.command(f"CREATE TABLE IF NOT EXISTS {self.candidates.excluded} (t UInt16, p UInt32, o UInt64)"
                           " ENGINE = Memory")  # fmt: skip
        self.store.command(f"CREATE TABLE IF NOT EXISTS {self._contacts} (key String, subject_id String)"
                           " ENGINE = Join(ANY, LEFT, key) SETTINGS persistent = 0")  # fmt: skip
        for sid, plan in self.plans.items():
            cols = ", ".join(f"`{n}` {t}" for n, t in plan.stage_columns)
            self.store.command(f"CREATE TABLE IF NOT EXISTS {self._stage_table(sid)} ({cols}) ENGINE = Memory")
        self._ready = True

    def drop_scratch(self) -> None:
        """Drop this consumer's scratch tables (at a clean stop)."""
        if self._ready:
            for table in (self.candidates.table, self.candidates.excluded, self._contacts,
                          *(self._stage_table(sid) for sid in self.plans)):  # fmt: skip
                self.store.command(f"DROP TABLE IF EXISTS {table}")
            self._ready = False

    @property
    def _contacts(self) -> str:
        return f"bulk_contacts_{self.scratch}"

    def _stage_table(self, schema_id: int) -> str:
        return f"bulk_stage_{self.scratch}_{schema_id}"

    def _stage(self, schema_id: int, items: list[tuple[int, int, bytes]], batches: list[PartitionBatch]) -> set:
        """Hand the engine one schema's container; returns the positions it could not read, to go one by one.

        When the engine refuses the container, Python reads each body (far cheaper than processing
        it) to find the ones that do not decode, and the engine gets the rest once more: one bad
        message costs itself, not its flush. If the engine refuses that too, all go one by one.
        """
        if self._insert(schema_id, [f for _, _, f in items]):
            return set()
        schema = self.registry.by_id(schema_id)
        bad = {(i, o) for i, o, _ in items if not _decodes(batches[i].raw[o].value, schema)}
        rest = [f for i, o, f in items if (i, o) not in bad]
        if bad and rest and self._insert(schema_id, rest):
            return bad
        return {(i, o) for i, o, _ in items}

    def _insert(self, schema_id: int, framed: list[bytes]) -> bool:
        """Whether the engine read every body of the container to its seal."""
        table = self._stage_table(schema_id)
        seal = int.from_bytes(os.urandom(8), "big", signed=True)
        self.store.command(f"TRUNCATE TABLE {table}")
        try:
            self.store.insert_encoded(table, self.containers[schema_id].of(framed, seal), "Avro")
        except StoreUnavailable:
            raise
        except Exception as exc:  # the engine's verdict on the bytes
            log.info("schema %s: the engine cannot read a container of %s bodies (%s)", schema_id, len(framed),
                     type(exc).__name__)  # fmt: skip
            self.store.command(f"TRUNCATE TABLE {table}")
            return False
        read, sealed = self.store.rows(f"SELECT count(), countIf(_seal = {seal}) FROM {table}")[0]
        if read != len(framed) or sealed != read:
            log.info("schema %s: %s of %s bodies not read to their seal", schema_id, read - sealed, len(framed))
            self.store.command(f"TRUNCATE TABLE {table}")
            return False
        return True

    def _pseudonymise_new_contacts(self, schema_ids: list[int]) -> None:
        """Give every person the engine has not met yet a subject id, computed here by the one pseudonymiser."""
        # Each person's key, and each phone number given (with an e-mail too): the check that it is one.
        keys = " UNION ALL ".join(
            f"SELECT arrayJoin(arrayConcat(arrayMap(p -> {CONTACT_KEY}, people), arrayMap(p -> {PHONE_KEY},"
            f" arrayFilter(p -> ifNull(tupleElement(p, 'phone'), '') != '', people)))) AS key"
            f" FROM (SELECT tupleElement(envelope, 'people') AS people FROM {self._stage_table(sid)})"
            for sid in schema_ids
        )  # fmt: skip
        new = [k for (k,) in self.store.rows(
            f"SELECT DISTINCT key FROM ({keys}) WHERE isValidUTF8(key)"
            f" AND joinGet('{self._contacts}', 'subject_id', key) = ''")]  # fmt: skip
        if not new:
            return
        known = []
        for key in new:
            try:
                known.append((key, self.pseudonyms.of_contact(key[1:], None) if key[0] == "e"
                              else self.pseudonyms.of_contact(None, key[1:])))  # fmt: skip
            except InvalidPhone:
                pass  # left without an id: its rows go to the per-message path, which refuses them with the reason
        if known:
            self.store.append(self._contacts, ("key", "subject_id"), known)

    def _build_candidates(self, schema_ids: list[int], now: dt.datetime) -> None:
        controls = self.controls()
        controlled = sorted(controls.erased | set(controls.objections))
        rows = " UNION ALL ".join(
            self.plans[sid].select.replace("@STAGE@", self._stage_table(sid)).replace("@CONTACTS@", self._contacts)
            for sid in schema_ids
        )  # fmt: skip
        self.store.command(
            f"INSERT INTO {self.candidates.table} {self.policy.candidates(rows)}",
            {"topics": self.topics, "consumer_version": self.consumer_version, "ingested_at": now,
             "controlled": controlled},
        )  # fmt: skip
        self.candidates = Candidates(self.candidates.table, self.candidates.excluded, tuple(self.topics))

    def _routed_back(self, batches: list[PartitionBatch]) -> set[tuple[int, int]]:
        """Rows the SQL routed to the per-message path, and those whose consent or opt-outs do not let all
        purposes stand; the latter are also excluded from the bulk rows."""
        index = {(b.topic, b.partition): i for i, b in enumerate(batches)}
        back: set[tuple[int, int]] = set()
        excluded: list[tuple[int, int, int]] = []
        for t, p, o, route, rule, event_type, consent in self.store.rows(
            f"SELECT _t, source_partition, source_offset, _route, _rule, event_type, _consent"
            f" FROM {self.candidates.table} WHERE _route != 0"
        ):
            topic = self.topics[t]
            at = (index[(topic, p)], o)
            if route == ROUTE_MESSAGE:
                back.add(at)
            elif route == ROUTE_CONSENT and not self.tagger.stands(self.rules[rule - 1], event_type, list(consent),
                                                                   (topic, p, o)):  # fmt: skip
                back.add(at)
                excluded.append((t, p, o))
        if excluded:
            self.store.append(self.candidates.excluded, ("t", "p", "o"), excluded)
        return back

    def _one_by_one(self, batches: list[PartitionBatch], positions: set[tuple[int, int]],
                    now: dt.datetime) -> dict[int, list[Outcome | None]]:  # fmt: skip
        outcomes: dict[int, list[Outcome | None]] = defaultdict(list)
        for i, offset in sorted(positions):
            batch = batches[i]
            rec = batch.raw[offset]
            key, value, headers = rec.key, rec.value, rec.headers or []
            last = batch.last_offset
            outcomes[i].append(self.processor.process(batch, offset, key, value, headers, now))
            batch.last_offset = last
        return outcomes
