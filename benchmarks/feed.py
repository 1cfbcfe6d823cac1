"""The benchmark's input: simulated events, encoded once, sent to the broker at volume.

Simulating and encoding runs at a few thousand events per second in Python, far
below what the broker and the consumer can take, so a 10M-event run cannot wait
for it. A pool of simulated events is encoded once (that rate is reported as the
producer SDK's), then sent as often as the volume needs, each copy with a fresh
event id written into its Avro bytes: the envelope's first field is the event id,
a 36-character string, so it sits at a fixed place in every message.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from kafka import KafkaProducer

from producers.sdk import message_key
from producers.simulate import simulate
from schemas import wire
from schemas.models import topic_name
from schemas.registry import FileSchemaRegistry

# Header (magic byte, schema id), then the event id's length (zigzag varint of 36), then the id.
_ID_LENGTH_AT = wire.HEADER_SIZE
_ID_AT = _ID_LENGTH_AT + 1
_ID_LENGTH = b"\x48"


@dataclass(frozen=True, slots=True)
class Message:
    family: str
    key: bytes
    value: bytes


@dataclass(frozen=True)
class Pool:
    messages: list[Message]
    seconds: float  # simulating and encoding them, with the producer SDK's encoder

    @property
    def events_per_second(self) -> float:
        return len(self.messages) / self.seconds if self.seconds else 0.0


def build_pool(n: int, seed: int = 7) -> Pool:
    """Simulate ``n`` events and encode them as the producer SDK does."""
    registry = FileSchemaRegistry()
    started = time.perf_counter()
    messages = []
    for event in simulate(n, seed=seed):
        value = wire.encode(registry.current(type(event)), event.model_dump())  # as EventProducer.encode
        if value[_ID_LENGTH_AT:_ID_AT] != _ID_LENGTH:
            raise AssertionError("the envelope no longer starts with the event id: update benchmarks/feed.py")
        messages.append(Message(event.FAMILY, message_key(event), value))
    return Pool(messages, time.perf_counter() - started)


def with_new_id(value: bytes) -> bytes:
    return value[:_ID_AT] + str(uuid.uuid4()).encode() + value[_ID_AT + 36:]


def stream(pool: Pool, total: int) -> Iterator[Message]:
    """``total`` messages: the pool as it is, then copies of it with fresh event ids."""
    for i in range(total):
        m = pool.messages[i % len(pool.messages)]
        yield m if i < len(pool.messages) else Message(m.family, m.key, with_new_id(m.value))


def producer(bootstrap: str, **overrides) -> KafkaProducer:
    # The producer SDK's own settings, so the figure is the one a service would see.
    config = {"acks": "all", "linger_ms": 20, "batch_size": 256 * 1024, "compression_type": "zstd"}
    config.update(overrides)
    return KafkaProducer(bootstrap_servers=bootstrap, **config)


def fill(bootstrap: str, prefix: str, pool: Pool, total: int,
         progress: Callable[[int], None] | None = None) -> float:  # fmt: skip
    """Send ``total`` messages as fast as the broker takes them; returns the seconds until all are acknowledged."""
    out = producer(bootstrap)
    started = time.perf_counter()
    for i, m in enumerate(stream(pool, total), start=1):
        out.send(topic_name(prefix, m.family), key=m.key, value=m.value)
        if progress and i % 50_000 == 0:
            progress(i)
    out.flush()
    seconds = time.perf_counter() - started
    out.close()
    return seconds


def send_at_rate(bootstrap: str, prefix: str, pool: Pool, rate: float, seconds: float) -> int:
    """Send at a steady ``rate`` for ``seconds``, with fresh event ids; returns how many were sent.

    Each message carries its own create time (the broker keeps the producer's), from
    which the consumer side measures how long it took to become queryable.
    """
    out = producer(bootstrap, linger_ms=5)
    total = int(rate * seconds)
    started = time.perf_counter()
    sent = 0
    while sent < total:
        m = pool.messages[sent % len(pool.messages)]
        # Sleeping for less than a couple of milliseconds overshoots; wait in short bursts instead.
        if (wait := started + sent / rate - time.perf_counter()) > 0.002:
            time.sleep(wait)
        out.send(topic_name(prefix, m.family), key=m.key, value=with_new_id(m.value))
        sent += 1
    out.flush()
    out.close()
    return sent
