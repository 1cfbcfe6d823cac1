"""The tagging consumer: owns the Kafka clients, the batches and the commit loop.

Offsets are committed per partition only after that partition's batch is in
ClickHouse and its dead letters are on the dead-letter topic: a crash anywhere
before the commit redelivers the batch, which is rebuilt over the same offset
range and deduplicated by its token. The store also records which batches'
dead letters were sent, so a rebuilt or replayed batch does not send them twice.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.structs import OffsetAndMetadata, TopicPartition

from consumers.batch import PartitionBatch
from consumers.consent import ConsentLedger
from consumers.dead_letter import DeadLetterPublisher
from consumers.policy import Policy
from consumers.processing import MessageProcessor
from consumers.pseudonym import Pseudonymizer
from consumers.rights.controls import ControlCache, Controls
from consumers.sink import ClickHouseSink
from consumers.store import Store
from consumers.tagging import Tagger
from lineage.settings import Settings
from schemas.models import FAMILIES
from schemas.registry import FileSchemaRegistry

CONSUMER_VERSION = version("engage-lineage")


@dataclass
class ConsumeStats:
    consumed: int = 0
    stored: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)
    suppressed: Counter[str] = field(default_factory=Counter)  # valid, but stopped by a person's choice
    batches: int = 0
    busy_seconds: float = 0.0  # from the first message received to the last batch committed

    @property
    def events_per_second(self) -> float:
        return self.consumed / self.busy_seconds if self.busy_seconds else 0.0


# Called after a batch is stored and before its offsets are committed; a test
# uses it to crash the consumer at exactly that point.
BatchHook = Callable[[PartitionBatch], None]


class _ForgetOnRevoke(ConsumerRebalanceListener):
    """A partition taken away may be worked on by another consumer before it comes back: its
    unflushed batch is dropped (the new owner rebuilds it from the committed offset) and its
    next batch is no longer a continuation of ours."""

    def __init__(self, continues: dict[TopicPartition, int], batches: dict[TopicPartition, PartitionBatch]) -> None:
        self.continues = continues
        self.batches = batches

    def on_partitions_revoked(self, revoked) -> None:
        for tp in revoked:
            self.continues.pop(tp, None)
            self.batches.pop(tp, None)

    def on_partitions_assigned(self, assigned) -> None:
        pass


class TaggingConsumer:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        policy: Policy,
        bootstrap: str,
        registry: FileSchemaRegistry | None = None,
        after_store: BatchHook | None = None,
    ) -> None:
        self.settings = settings
        self.topics = [settings.topic(f) for f in FAMILIES]
        self.sink = ClickHouseSink(store, CONSUMER_VERSION, policy.version)
        consent = ConsentLedger()
        consent.load(self.sink.consent_history())
        # Re-read while running, so an erasure or objection reaches events still arriving.
        controls = ControlCache(Controls(store), max_age=settings.controls_refresh_seconds)
        self.processor = MessageProcessor(
            registry or FileSchemaRegistry(),
            Tagger(policy, consent),
            Pseudonymizer(settings.pseudonym_secret()),
            CONSUMER_VERSION,
            controls.current,
        )
        self.after_store = after_store
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=settings.consumer_group,
            client_id=f"lineage-tagger-{CONSUMER_VERSION}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=settings.consumer_session_timeout_ms,
            heartbeat_interval_ms=min(3_000, settings.consumer_session_timeout_ms // 3),
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        self.dead_letters = DeadLetterPublisher(
            KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, compression_type="zstd"),
            settings.dead_letter_topic,
            CONSUMER_VERSION,
        )
        # Where each partition's next batch starts when it continues our own last committed one:
        # only a batch that does not may meet a range recorded by a consumer that crashed.
        self.continues: dict[TopicPartition, int] = {}
        self.batches: dict[TopicPartition, PartitionBatch] = {}
        self.consumer.subscribe(self.topics, listener=_ForgetOnRevoke(self.continues, self.batches))
        self.stats = ConsumeStats()

    def run(
        self,
        until_idle: float | None = None,
        max_messages: int | None = None,
        on_progress: Callable[[ConsumeStats], None] | None = None,
    ) -> ConsumeStats:
        """Consume until stopped, until no message came for ``until_idle`` seconds, or ``max_messages``."""
        last_message = time.monotonic()
        first_message: float | None = None
        # Idleness only counts once the group has given us partitions: after a crash the
        # group waits for the dead member's session to expire, and that wait is not idleness.
        # Past this deadline an assignment that never comes counts as idle too.
        assignment_deadline = last_message + self.settings.consumer_session_timeout_ms / 1000 + 30
        try:
            while True:
                polled = self.consumer.poll(timeout_ms=200, max_records=5000)
                now = time.monotonic()
                if not self.consumer.assignment() and now < assignment_deadline:
                    last_message = now
                ingested_at = dt.datetime.now(dt.UTC)
                for tp, records in polled.items():
                    for rec in records:
                        self._process(tp, rec, ingested_at)
                if polled:
                    last_message = now
                    first_message = first_message or now
                self._flush_ready(drain=not polled)
                if first_message is not None:
                    self.stats.busy_seconds = time.monotonic() - first_message
                if on_progress:
                    on_progress(self.stats)
                if max_messages is not None and self.stats.consumed >= max_messages and not self.batches:
                    break
                if until_idle is not None and not self.batches and now - last_message >= until_idle:
                    break
        finally:
            self.close()
        return self.stats

    def _process(self, tp: TopicPartition, rec, ingested_at: dt.datetime) -> None:
        batch = self.batches.get(tp)
        if batch is None:
            own = self.continues.get(tp) == rec.offset
            recorded = None if own else self.sink.recorded_range(tp.topic, tp.partition, rec.offset)
            batch = PartitionBatch(tp.topic, tp.partition, rec.offset, must_end_at=recorded[1] if recorded else None)
            self.batches[tp] = batch
        outcome = self.processor.process(batch, rec.offset, rec.key, rec.value, list(rec.headers or []), ingested_at)
        batch.produced_ms.append(rec.timestamp)
        self.stats.consumed += 1
        if outcome is None:
            self.stats.stored += 1
        elif outcome.dead_letter:
            self.stats.dead_lettered[outcome.reason] += 1
        else:
            self.stats.suppressed[outcome.reason] += 1
        if batch.complete() or (batch.must_end_at is None and batch.messages >= self.settings.batch_max_records):
            self._flush(tp)

    def _flush_ready(self, drain: bool) -> None:
        now = time.monotonic()
        for tp, batch in list(self.batches.items()):
            if batch.must_end_at is not None and not batch.complete():
                continue  # a recorded range is rebuilt whole, never cut short
            if drain or batch.complete() or now - batch.started >= self.settings.batch_max_seconds:
                self._flush(tp)

    def _flush(self, tp: TopicPartition) -> None:
        batch = self.batches.pop(tp)
        self.sink.write(batch)
        if batch.dead_letters and not self.sink.dead_letters_published(batch):
            self.dead_letters.publish(batch)
            self.sink.mark_dead_letters_published(batch)
        if self.after_store:
            self.after_store(batch)
        self.consumer.commit({tp: OffsetAndMetadata(batch.last_offset + 1, "", -1)})
        self.continues[tp] = batch.last_offset + 1
        self.stats.batches += 1

    def close(self) -> None:
        # Never commit on close: only flushed batches may move the group's offsets.
        self.consumer.close(autocommit=False)
        self.dead_letters.producer.close(timeout=10)
