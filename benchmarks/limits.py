"""The raw limits of the pipeline's parts, each measured alone on the benchmark's own data.

The tagging consumer cannot be faster than the slowest of its own parts: reading the
topic with kafka-python, decoding the Avro (the engine reading a container, on the
bulk path; fastavro, on the per-message path), and inserting rows into the store.
Each is timed here doing only its own job.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from kafka import KafkaConsumer

from consumers.identity.pseudonym import Pseudonymizer
from consumers.pipeline.bulk.container import Container
from consumers.pipeline.bulk.sql import stage_columns
from consumers.pipeline.batch import PartitionBatch
from consumers.pipeline.consent import ConsentLedger
from consumers.pipeline.processing import MessageProcessor
from consumers.pipeline.sink import ClickHouseSink
from consumers.pipeline.tagging import Tagger
from consumers.policy.model import Policy
from consumers.store.store import Store
from schemas import wire
from schemas.models import FAMILIES, topic_name
from schemas.registry import FileSchemaRegistry


@dataclass(frozen=True)
class Rate:
    items: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


def consume_raw(bootstrap: str, prefix: str, expect: int, keep: int) -> tuple[Rate, list[bytes]]:
    """Read ``expect`` messages without decoding them; keeps the first ``keep`` values for the next steps."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
        max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024,
    )  # fmt: skip
    partitions = [tp for f in FAMILIES for tp in _partitions(consumer, topic_name(prefix, f))]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    values: list[bytes] = []
    seen = 0
    started = time.perf_counter()
    deadline = started + 600
    while seen < expect and time.perf_counter() < deadline:
        for records in consumer.poll(timeout_ms=500, max_records=5000).values():
            seen += len(records)
            if len(values) < keep:
                values.extend(r.value for r in records[: keep - len(values)])
    seconds = time.perf_counter() - started
    consumer.close()
    return Rate(seen, seconds), values


def _partitions(consumer: KafkaConsumer, topic: str):
    from kafka.structs import TopicPartition

    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


def decode(values: list[bytes]) -> Rate:
    """fastavro reading each message's body, through the wire-format header, and nothing more."""
    registry = FileSchemaRegistry()
    started = time.perf_counter()
    for v in values:
        wire.decode(registry, v)
    return Rate(len(values), time.perf_counter() - started)


def engine_decode(store: Store, values: list[bytes]) -> Rate:
    """The engine reading the messages' bodies from one Avro container per schema, as the bulk path hands them over.

    Into the bulk path's own stage tables (in memory): the decoding, and nothing after it.
    """
    registry = FileSchemaRegistry()
    bodies: dict[int, list[bytes]] = {}
    for offset, v in enumerate(values):
        bodies.setdefault(int.from_bytes(v[1:5], "big"), []).append(b"\x00\x00" + offset.to_bytes(8, "little") + v[5:])
    tables = {}
    for sid in bodies:
        schema = registry.by_id(sid)
        columns = ", ".join(f"`{name}` {sql}" for name, sql in stage_columns(schema))
        tables[sid] = (f"decode_limit_{sid}", Container(schema))
        store.command(f"CREATE TABLE IF NOT EXISTS decode_limit_{sid} ({columns}) ENGINE = Memory")
    started = time.perf_counter()
    for sid, framed in bodies.items():
        table, container = tables[sid]
        store.insert_encoded(table, container.of(framed, 1), "Avro")
    seconds = time.perf_counter() - started
    read = sum(store.scalar(f"SELECT count() FROM {table}") for table, _ in tables.values())
    if read != len(values):
        raise SystemExit(f"the engine read {read} of {len(values)} bodies")
    return Rate(len(values), seconds)


def tagged_batches(values: list[bytes], policy: Policy, size: int) -> list[PartitionBatch]:
    """The rows the consumer would insert for these messages, in batches of ``size``."""
    processor = MessageProcessor(FileSchemaRegistry(), Tagger(policy, ConsentLedger()),
                                 Pseudonymizer(b"benchmark-key"), "benchmark")  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    batches = []
    for first in range(0, len(values), size):
        batch = PartitionBatch("bench.limits", 0, first)
        for offset, value in enumerate(values[first : first + size], start=first):
            processor.process(batch, offset, None, value, [], now)
        batches.append(batch)
    return batches


def insert(store: Store, batches: list[PartitionBatch]) -> Rate:
    """The sink writing already-tagged batches: every table the consumer writes, each batch one insert per table."""
    sink = ClickHouseSink(store, "benchmark", "benchmark", "flush_keys_benchmark")
    started = time.perf_counter()
    for batch in batches:
        sink.write([batch])
    return Rate(sum(b.stored for b in batches), time.perf_counter() - started)
