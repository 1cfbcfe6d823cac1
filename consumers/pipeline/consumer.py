"""The tagging consumer: owns the Kafka clients, the batches and the commit loop.

Each partition the consumer holds gathers a batch; when the oldest is due (or
all together reach the size limit, or the topic falls quiet) every batch is
written as one flush, and only then are their offsets committed, all in one
request, once the dead letters are on the dead-letter topic too. A crash anywhere
before the commit leaves the flush's ranges recorded: whoever next holds one of
those partitions rebuilds the whole flush and writes it under the same token (see
``consumers.pipeline.recovery``). The store also records which ranges' dead letters were
sent, so a rebuilt or replayed range does not send them twice.
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

from consumers.identity.pseudonym import Pseudonymizer
from consumers.pipeline.batch import PartitionBatch
from consumers.pipeline.config import ConsumerConfig
from consumers.pipeline.consent import ConsentLedger
from consumers.pipeline.dead_letter import DeadLetterPublisher
from consumers.pipeline.processing import MessageProcessor
from consumers.pipeline.recovery import reread
from consumers.pipeline.sink import ClickHouseSink, RecordedFlush
from consumers.pipeline.tagging import Tagger
from consumers.policy.model import Policy
from consumers.store.controls import ControlCache, Controls, no_recount
from consumers.store.store import Store
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


# Called after a flush is stored and before its offsets are committed; a test
# uses it to crash the consumer at exactly that point.
FlushHook = Callable[[list[PartitionBatch]], None]


class _ForgetOnRevoke(ConsumerRebalanceListener):
    """A partition taken away may be worked on by another consumer before it comes back: its
    unflushed batch is dropped (the new owner rebuilds it from the committed offset) and its
    next batch is no longer a continuation of ours."""

    def __init__(self, forget: Callable[[list[TopicPartition]], None]) -> None:
        self.forget = forget

    def on_partitions_revoked(self, revoked) -> None:
        self.forget(list(revoked))

    def on_partitions_assigned(self, assigned) -> None:
        pass


class TaggingConsumer:
    def __init__(
        self,
        config: ConsumerConfig,
        store: Store,
        policy: Policy,
        registry: FileSchemaRegistry | None = None,
        after_store: FlushHook | None = None,
    ) -> None:
        self.config = config
        self.topics = list(config.topics)
        self.sink = ClickHouseSink(store, CONSUMER_VERSION, policy.version)
        consent = ConsentLedger()
        consent.load(self.sink.consent_history())
        # Re-read while running, so an erasure or objection reaches events still arriving. The
        # consumer only reads controls: it never changes what a recount would follow.
        controls = ControlCache(Controls(store, no_recount), max_age=config.controls_refresh_seconds)
        self.processor = MessageProcessor(
            registry or FileSchemaRegistry(),
            Tagger(policy, consent),
            Pseudonymizer(config.pseudonym_key),
            CONSUMER_VERSION,
            controls.current,
        )
        self.after_store = after_store
        self.consumer = KafkaConsumer(
            bootstrap_servers=config.bootstrap,
            group_id=config.group,
            client_id=f"lineage-tagger-{CONSUMER_VERSION}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=config.session_timeout_ms,
            heartbeat_interval_ms=min(3_000, config.session_timeout_ms // 3),
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        self.dead_letters = DeadLetterPublisher(
            KafkaProducer(bootstrap_servers=config.bootstrap, acks="all", linger_ms=5, compression_type="zstd"),
            config.dead_letter_topic,
            CONSUMER_VERSION,
        )
        # Where each partition's next batch starts when it continues our own last committed one:
        # only a batch that does not may meet a range recorded by a consumer that crashed.
        self.continues: dict[TopicPartition, int] = {}
        self.batches: dict[TopicPartition, PartitionBatch] = {}
        self.pending = 0  # messages in all batches
        self.consumer.subscribe(self.topics, listener=_ForgetOnRevoke(self._forget))
        # Flushes this process rebuilt: their other partitions need no second rebuild.
        self.recovered: set[str] = set()
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
        assignment_deadline = last_message + self.config.session_timeout_ms / 1000 + 30
        try:
            while True:
                polled = self.consumer.poll(timeout_ms=200, max_records=5000)
                now = time.monotonic()
                if not self.consumer.assignment() and now < assignment_deadline:
                    last_message = now
                ingested_at = dt.datetime.now(dt.UTC)
                for tp, records in polled.items():
                    for rec in records:
                        if not self._process(tp, rec, ingested_at):
                            break  # the partition was moved past a rebuilt flush; later records come again
                if polled:
                    last_message = now
                    first_message = first_message or now
                self._flush_when_due(drain=not polled)
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

    def _process(self, tp: TopicPartition, rec, ingested_at: dt.datetime) -> bool:
        """Add one message to its partition's batch; False when the partition was moved instead."""
        batch = self.batches.get(tp)
        if batch is None:
            if self.continues.get(tp) != rec.offset:
                recorded = self.sink.recorded_flush(tp.topic, tp.partition, rec.offset)
                if recorded is not None:
                    self._skip_past(tp, recorded)
                    return False
            batch = self.batches[tp] = PartitionBatch(tp.topic, tp.partition, rec.offset)
        outcome = self.processor.process(batch, rec.offset, rec.key, rec.value, list(rec.headers or []), ingested_at)
        batch.produced_ms.append(rec.timestamp)
        self.pending += 1
        self._count(outcome)
        if self.pending >= self.config.batch_max_records:
            self._flush()
        return True

    def _count(self, outcome) -> None:
        self.stats.consumed += 1
        if outcome is None:
            self.stats.stored += 1
        elif outcome.dead_letter:
            self.stats.dead_lettered[outcome.reason] += 1
        else:
            self.stats.suppressed[outcome.reason] += 1

    def _skip_past(self, tp: TopicPartition, recorded: RecordedFlush) -> None:
        """Rebuild a flush a crashed consumer recorded (once per process), then move this partition past it."""
        if recorded.token not in self.recovered:
            batches = reread(recorded, self.config.bootstrap, self.processor.process)
            self._store(batches, recorded.token)
            self.recovered.add(recorded.token)
            for b in batches:  # counted once, when rebuilt, whoever holds the other partitions now
                self.stats.consumed += b.messages
                self.stats.stored += b.stored
        end = recorded.range_of(tp.topic, tp.partition).last_offset + 1
        self.consumer.commit({tp: OffsetAndMetadata(end, "", -1)})
        self.consumer.seek(tp, end)
        self.continues[tp] = end

    def _forget(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self.continues.pop(tp, None)
            self.batches.pop(tp, None)
        self.pending = sum(b.messages for b in self.batches.values())

    def _flush_when_due(self, drain: bool) -> None:
        if not self.batches:
            return
        oldest = min(b.started for b in self.batches.values())
        if drain or time.monotonic() - oldest >= self.config.batch_max_seconds:
            self._flush()

    def _flush(self) -> None:
        """Write every partition's batch as one flush, then commit all their offsets at once."""
        batches = list(self.batches.values())
        self.batches.clear()
        self.pending = 0
        self._store(batches)
        offsets = {TopicPartition(b.topic, b.partition): b.last_offset + 1 for b in batches}
        self.consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})
        self.continues.update(offsets)
        self.stats.batches += 1

    def _store(self, batches: list[PartitionBatch], token: str | None = None) -> None:
        self.sink.write(batches, token)
        if with_dead := [b for b in batches if b.dead_letters]:
            sent = self.sink.dead_letters_published([b.offset_range for b in with_dead])
            unsent = [b for b in with_dead if b.offset_range not in sent]
            for b in unsent:
                self.dead_letters.publish(b)
            if unsent:
                self.sink.mark_dead_letters_published([b.offset_range for b in unsent])
        if self.after_store:
            self.after_store(batches)

    def close(self) -> None:
        # Never commit on close: only flushed batches may move the group's offsets.
        self.consumer.close(autocommit=False)
        self.dead_letters.producer.close(timeout=10)
