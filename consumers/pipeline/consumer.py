"""The tagging consumer: owns the Kafka clients, the batches and the flush loop.

Each partition the consumer holds gathers a batch; when the oldest is due (or
all together reach the size limit, or the topic falls quiet) every batch is
written as one flush (``sink``), its dead letters are sent, and the flush is
marked stored in the store's own flush log (``flush_log``). The group's offsets
are committed after that, as a hint for lag tools: where a partition resumes is
the store's to say (``placement``), so no replay, new group, reset or batch size
stores a message twice. A crash before the mark leaves the flush recorded but
not whole: whoever next holds one of its partitions rebuilds all of it under the
same token (``recovery``). The store and the broker may fail for a while: the
consumer waits for them within bounds (``faults``); a record the client cannot
parse is stepped over by position (``unreadable``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from importlib.metadata import version

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import CorruptRecordError, FencedInstanceIdError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from consumers.identity.pseudonym import Pseudonymizer
from consumers.pipeline import unreadable
from consumers.pipeline.batch import PartitionBatch
from consumers.pipeline.bulk.path import BulkPath, engine_supports
from consumers.pipeline.config import ConsumerConfig
from consumers.pipeline.consent import ConsentLedger
from consumers.pipeline.dead_letter import DeadLetterPublisher
from consumers.pipeline.faults import BROKER_FAULTS, STORE_FAULTS, BrokerUnavailable, NoPartitions, Waiting, retry
from consumers.pipeline.flush_log import FlushLog, RecordedFlush
from consumers.pipeline.membership import leave_group
from consumers.pipeline.placement import Placement
from consumers.pipeline.processing import MessageProcessor, Outcome
from consumers.pipeline.recovery import reread
from consumers.pipeline.sink import DUPLICATE, ClickHouseSink
from consumers.pipeline.stats import ConsumeStats
from consumers.pipeline.tagging import Tagger
from consumers.pipeline.writer import FlushWriter
from consumers.policy.model import Policy
from consumers.store.controls import ControlCache, Controls, no_recount
from consumers.store.driver import StoreUnavailable
from consumers.store.store import Store
from schemas.registry import FileSchemaRegistry

CONSUMER_VERSION = version("engage-lineage")
COMMIT_RETRY_SECONDS = 5.0  # how often owed offsets are offered again while quiet
log = logging.getLogger(__name__)


# Called after a flush is stored and its dead letters sent, before it is marked whole; a test
# uses it to crash the consumer at exactly that point.
FlushHook = Callable[[list[PartitionBatch]], None]


class InstanceFenced(Exception):
    """Another consumer joined the group under this consumer's instance id; this one stops.

    Give every consumer of a group its own LINEAGE_CONSUMER_INSTANCE_ID.
    """


class TaggingConsumer:
    def __init__(self, config: ConsumerConfig, store: Store, policy: Policy, registry: FileSchemaRegistry | None = None,
                 after_store: FlushHook | None = None, report: Callable[[str], None] | None = None) -> None:  # fmt: skip
        """``report`` hears each change of state (store or broker gone and back); by default the log."""
        self.config = config
        self.report = report or log.warning
        self.store_wait = Waiting("the store", config.store_retry_seconds, self.report)
        self.broker_wait = Waiting("the Kafka broker", config.broker_retry_seconds, self.report)
        scratch = hashlib.sha1(f"{config.group}/{config.instance_id or id(self)}".encode()).hexdigest()[:12]
        self.sink = ClickHouseSink(store, CONSUMER_VERSION, policy.version, scratch=f"flush_{scratch}")
        self.flush_log = FlushLog(store)
        consent = ConsentLedger()
        consent.load(self._on_store(self.sink.consent_history))
        # Re-read while running, so an erasure or objection reaches events still arriving. The
        # consumer only reads controls: it never changes what a recount would follow.
        controls = ControlCache(Controls(store, no_recount), max_age=config.controls_refresh_seconds)
        registry = registry or FileSchemaRegistry()
        tagger, pseudonyms = Tagger(policy, consent), Pseudonymizer(config.pseudonym_key)
        self.processor = MessageProcessor(registry, tagger, pseudonyms, CONSUMER_VERSION, controls.current)
        use_bulk = config.bulk and self._on_store(lambda: engine_supports(store))
        self.bulk = BulkPath(store, registry, self.processor, tagger, pseudonyms, CONSUMER_VERSION, controls.current,
                             scratch, config.bulk_min_rows) if use_bulk else None  # fmt: skip
        # Where messages go first: kept for the engine, or read one by one (a rebuilt flush's one at a time).
        self.stage = self.bulk.stage if self.bulk else self._one_at_a_time
        self.process = self.bulk.process if self.bulk else self.processor.process
        self.after_store = after_store
        self.writer: FlushWriter[tuple[list[Outcome | None], int]] = FlushWriter(self._store)
        self.consumer = KafkaConsumer(
            bootstrap_servers=config.bootstrap,
            group_id=config.group,
            group_instance_id=config.instance_id,
            client_id=f"lineage-tagger-{CONSUMER_VERSION}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=config.session_timeout_ms,
            heartbeat_interval_ms=min(3_000, config.session_timeout_ms // 3),
            # A flush may wait out a store or broker outage between two polls.
            max_poll_interval_ms=int((300 + config.store_retry_seconds + config.broker_retry_seconds) * 1000),
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
            # After a broker restart, be back within seconds rather than the client's default half minute.
            reconnect_backoff_max_ms=2_000,
        )
        self.dead_letters = DeadLetterPublisher(
            KafkaProducer(bootstrap_servers=config.bootstrap, acks="all", linger_ms=5, compression_type="zstd",
                          reconnect_backoff_max_ms=2_000),
            config.dead_letter_topic,
            CONSUMER_VERSION,
        )
        self.batches: dict[TopicPartition, PartitionBatch] = {}
        self.pending = 0  # messages in all batches
        self.placement = Placement(self.consumer, self._resume, self._rebuild, self._forget, self.report)
        self.consumer.subscribe(list(config.topics), listener=self.placement)
        # Flushes this process rebuilt: their other partitions need no second rebuild.
        self.recovered: set[str] = set()
        self.stats = ConsumeStats()
        self._stopping = threading.Event()
        # Offsets a failed commit still owes the group, tried again while the consumer is quiet.
        self.owed: dict[TopicPartition, int] = {}
        self._last_commit_try = 0.0
        self._first_message: float | None = None

    def stop(self) -> None:
        """Ask a running consumer, from any thread, to flush what it holds and end its run."""
        self._stopping.set()

    def run(self, until_idle: float | None = None, max_messages: int | None = None,
            on_progress: Callable[[ConsumeStats], None] | None = None) -> ConsumeStats:  # fmt: skip
        """Consume until stopped, until caught up and idle for ``until_idle`` seconds, or ``max_messages``.

        Raises StoreUnavailable or BrokerUnavailable when a part stays down past its bound, NoPartitions
        when (with a bound to run to) the group hands over nothing, RecoveryError when a recorded flush
        cannot be rebuilt.
        """
        started = last_message = time.monotonic()
        timeout = self.config.assignment_timeout_seconds
        timeout = self.config.session_timeout_ms / 1000 + 30 if timeout is None else timeout
        waiting_for_partitions = False
        last_probe = started
        probe_every = min(until_idle, 5.0) if until_idle is not None else 10.0
        try:
            while True:
                polled = self._poll()
                now = time.monotonic()
                self.placement.place(polled)
                if not self.consumer.assignment():
                    # Idleness only counts once the group has handed over partitions.
                    last_message = now
                    if until_idle is not None and now - started >= timeout:
                        raise NoPartitions(f"the group {self.config.group} gave this consumer no partitions in "
                                           f"{timeout:.0f} s")  # fmt: skip
                    if not waiting_for_partitions and now - started >= 10:
                        self.report("waiting for the group to hand over partitions")
                        waiting_for_partitions = True
                ingested_at = dt.datetime.now(dt.UTC)
                for tp, records in polled.items():
                    self._process(tp, records, ingested_at)
                if polled:
                    last_message = now
                    self._first_message = self._first_message or now
                self._flush_when_due(drain=not polled)
                if not polled:
                    self._finish()  # nothing to read meanwhile: take the flush in flight now
                if on_progress:
                    on_progress(self.stats)
                if max_messages is not None and self.stats.consumed >= max_messages and not self.batches:
                    self._finish()
                    break
                if self._stopping.is_set():
                    if self.batches:
                        self._flush()
                    self._finish()
                    break
                quiet = now - last_message
                # A silence is asked about: caught up (idle, with a bound to run to), or the broker's (said
                # once, and waited for: within its bound when there is one to run to, else for as long).
                if self.owed and not self.batches and now - self._last_commit_try >= COMMIT_RETRY_SECONDS:
                    self._commit({})
                if not self.batches and quiet >= probe_every and now - last_probe >= probe_every:
                    last_probe = now
                    caught_up = self._caught_up(bounded=until_idle is not None)
                    if until_idle is not None and quiet >= until_idle and caught_up:
                        break
        finally:
            self.close()
        return self.stats

    # --- reading ----------------------------------------------------------------------------

    def _poll(self) -> dict[TopicPartition, list]:
        try:
            return self.consumer.poll(timeout_ms=200, max_records=5000)
        except FencedInstanceIdError:
            raise InstanceFenced(f"another consumer joined group {self.config.group} as {self.config.instance_id}") from None
        except KafkaError as exc:
            if not isinstance(exc, CorruptRecordError):
                raise
            return self._step_over_unreadable(exc)
        except Exception as exc:  # kafka-python's parser fails with assorted types on a record it cannot read
            return self._step_over_unreadable(exc)

    def _step_over_unreadable(self, exc: Exception) -> dict[TopicPartition, list]:
        positions = {tp: self.consumer.position(tp) for tp in self.consumer.assignment() if tp in self.placement.next_offset}
        found = unreadable.find_unreadable(self.config.bootstrap, positions, timeout_ms=5000)
        if found is None:
            raise exc  # not a record we can step over: the command reports it
        tp = found.partition
        batch = self.batches.setdefault(tp, PartitionBatch(tp.topic, tp.partition, found.first_offset))
        skipped = unreadable.dead_letter(batch, found, exc)
        self.pending += skipped
        self.stats.consumed += skipped
        self.stats.dead_lettered[unreadable.REASON] += skipped
        self.report(f"{tp.topic}/{tp.partition}: offsets {found.first_offset} to {found.next_readable - 1} cannot be"
                    " read by the Kafka client; dead-lettered by position")  # fmt: skip
        self.consumer.seek(tp, found.next_readable)
        self.placement.next_offset[tp] = found.next_readable
        return {}

    def _process(self, tp: TopicPartition, records: list, ingested_at: dt.datetime) -> None:
        """Add a partition's polled messages to its batch; records from before the partition's place are dropped."""
        start = self.placement.next_offset.get(tp)
        if start is None:
            return
        if records[0].offset < start:  # fetched before a seek; they come again from the right place, if still due
            records = [r for r in records if r.offset >= start]
        while records:
            room = max(1, self.config.batch_max_records - self.pending)
            chunk, records = records[:room], records[room:]
            batch = self.batches.get(tp)
            if batch is None:
                batch = self.batches[tp] = PartitionBatch(tp.topic, tp.partition, chunk[0].offset)
            outcomes = self.stage(batch, chunk, ingested_at)
            self.placement.next_offset[tp] = chunk[-1].offset + 1
            batch.produced_ms.extend([r.timestamp for r in chunk])
            self.pending += len(chunk)
            self.stats.consumed += len(chunk)
            for outcome in outcomes:
                self.stats.count(outcome)
            if self.pending >= self.config.batch_max_records:
                self._flush()

    def _one_at_a_time(self, batch: PartitionBatch, records: list, ingested_at: dt.datetime) -> list[Outcome | None]:
        process = self.processor.process
        return [process(batch, r.offset, r.key, r.value, r.headers or [], ingested_at) for r in records]

    def _caught_up(self, bounded: bool) -> bool:
        """Whether every held partition is read to its end; False while the broker does not answer.

        The broker's silence is reported once; ``bounded``, it ends in BrokerUnavailable past its bound.
        """
        held = [tp for tp in self.consumer.assignment() if tp in self.placement.next_offset]
        try:
            ends = self.consumer.end_offsets(held, timeout_ms=5000)
        except KafkaError as exc:
            self.broker_wait.failed(f"{type(exc).__name__}: {exc}")
            if bounded and self.broker_wait.expired:
                raise BrokerUnavailable(f"the Kafka broker was unavailable for {self.broker_wait.bound_s:.0f} s") from None
            return False
        self.broker_wait.recovered()
        return all(self.consumer.position(tp) >= ends[tp] for tp in held)

    # --- placing and rebuilding -------------------------------------------------------------

    def _resume(self, tp: TopicPartition):
        self._finish()  # the store's positions include the flush in flight
        return self._on_store(lambda: self.flush_log.resume(tp.topic, tp.partition))

    def _rebuild(self, recorded: RecordedFlush) -> None:
        """Finish a flush a crashed consumer recorded but did not mark whole (once per process)."""
        if recorded.token in self.recovered:
            return
        batches = reread(recorded, self.config.bootstrap, self.process)
        self._store(batches, recorded.token)
        self.recovered.add(recorded.token)
        for b in batches:  # counted once, when rebuilt, whoever holds the other partitions now
            self.stats.consumed += b.messages
            self.stats.stored += b.stored

    def _forget(self, revoked: list[TopicPartition]) -> None:
        # The flush in flight is written before the partitions go: their next owner resumes from the
        # store. Its offsets are committed later (not inside the group's callback).
        self._finish(commit=False)
        for tp in revoked:
            self.batches.pop(tp, None)
        self.pending = sum(b.messages for b in self.batches.values())

    # --- flushing -----------------------------------------------------------------------------

    def _flush_when_due(self, drain: bool) -> None:
        if self.writer.written:
            self._finish()
        if not self.batches:
            return
        oldest = min(b.started for b in self.batches.values())
        # While the writer is busy, batches go on growing (up to batch_max_records): the busier the
        # consumer, the bigger its flushes and the less each event pays of a flush's fixed cost;
        # when it is not, a flush goes as soon as it is due, for the latency.
        if (drain or time.monotonic() - oldest >= self.config.batch_max_seconds) and not self.writer.busy:
            self._flush()

    def _flush(self) -> None:
        """Hand every partition's batch to the writer as one flush, once the flush before it is finished."""
        batches = list(self.batches.values())
        self.batches.clear()
        self.pending = 0
        self._finish()
        self.writer.submit(batches)

    def _finish(self, commit: bool = True) -> None:
        """Wait for the flush in flight; count it, then commit all its offsets at once (a hint only)."""
        done = self.writer.wait()
        if done is None:
            return
        batches, (settled, duplicates) = done
        self.stats.bulk += sum(b.bulk_rows for b in batches)
        for outcome in settled:
            self.stats.count(outcome)
        if duplicates:
            self.stats.stored -= duplicates
            self.stats.suppressed[DUPLICATE] += duplicates
        offsets = {TopicPartition(b.topic, b.partition): b.last_offset + 1 for b in batches}
        if commit:
            self._commit(offsets)
        else:
            self.owed = {**self.owed, **offsets}
        self.stats.batches += 1
        # Busy until the last commit: the idle wait of --until-idle after it is no work.
        self.stats.busy_seconds = time.monotonic() - (self._first_message or time.monotonic())

    def _store(self, batches: list[PartitionBatch], token: str | None = None) -> tuple[list[Outcome | None], int]:
        """Rows, then dead letters, then the mark that the flush is whole; each step waits out an outage.

        Returns the outcomes of the messages kept for the bulk path, and how many events were left out
        as stored already.
        """

        def attempt() -> tuple[str, int, dict[int, list[Outcome | None]] | None]:
            # Settled and written as one step: tried again, it starts from the batches as they were.
            for b in batches:
                b.rewind()
            settled = self.bulk.settle(batches) if self.bulk else None
            written, duplicates = self.sink.write(batches, token, self.bulk.candidates if settled is not None else None)
            return written, duplicates, settled

        token, duplicates, settled = self._on_store(attempt)
        outcomes = [o for found in (settled or {}).values() for o in found]
        outcomes += [None] * sum(b.bulk_rows for b in batches)
        for b in batches:
            if b.dead_letters:
                retry(lambda b=b: self.dead_letters.publish(b), self.broker_wait, BROKER_FAULTS, BrokerUnavailable)
        if self.after_store:
            self.after_store(batches)
        self._on_store(lambda: self.flush_log.mark_stored(token))
        return outcomes, duplicates

    def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit these offsets and any a failed commit still owes, for partitions this consumer still holds."""
        self._last_commit_try = time.monotonic()
        assigned = self.consumer.assignment()
        due = {tp: o for tp, o in {**self.owed, **offsets}.items() if tp in assigned}
        if not due:
            self.owed = {}
            return
        try:
            self.consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in due.items()}, timeout_ms=10_000)
            self.owed = {}
        except KafkaError as exc:
            # The store holds the positions; the group's offsets only show lag. Left behind by a
            # rebalance or a broker restart, they would show lag that is not there until the next
            # flush (forever, on a topic gone quiet), so the commit is owed and tried again.
            self.owed = due
            log.info("offsets not committed (%s); tried again while quiet", type(exc).__name__)

    def _on_store(self, call):
        return retry(call, self.store_wait, STORE_FAULTS, StoreUnavailable)

    def close(self) -> None:
        self.writer.close()
        # Never commit on close: only flushed batches may move the group's offsets.
        self.consumer.close(autocommit=False)
        if self.config.instance_id:
            leave_group(self.config.bootstrap, self.config.group, self.config.instance_id)
        self.dead_letters.producer.close(timeout=10)
        try:
            self.sink.drop_scratch()
            if self.bulk:
                self.bulk.drop_scratch()
        except StoreUnavailable:
            pass  # reused under the same instance id, or left for a later clean stop
