"""The producer SDK: validated event models to Kafka, as Confluent wire-format Avro.

Topics are one per event family (``<prefix>.<family>``). Messages are keyed so
that what must stay in order stays in one partition: a tenant's events by
tenant, and newsletter events by person, so that a person's consent always
precedes the mailings it allows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from kafka import KafkaProducer

from schemas import wire
from schemas.models import Event, topic_name
from schemas.registry import FileSchemaRegistry

# Keyed by person rather than tenant: prospects have no tenant, and consent is per person.
_PERSON_KEYED_FAMILIES = frozenset({"newsletter"})


def message_key(event: Event) -> bytes:
    env = event.envelope
    if event.FAMILY not in _PERSON_KEYED_FAMILIES and env.tenant_id:
        return env.tenant_id.encode()
    person = env.people[0] if env.people else None
    ident = (person.email or person.phone or "").strip().lower() if person else str(env.event_id)
    # A digest, not the address: keys are logged and shown by tools that never need it.
    return hashlib.sha256(ident.encode()).hexdigest()[:32].encode()


class EventProducer:
    def __init__(
        self,
        bootstrap: str,
        topic_prefix: str,
        registry: FileSchemaRegistry | None = None,
        **producer_config,
    ) -> None:
        self.registry = registry or FileSchemaRegistry()
        self.topic_prefix = topic_prefix
        config = {"acks": "all", "linger_ms": 20, "batch_size": 256 * 1024, "compression_type": "zstd"}
        config.update(producer_config)
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, **config)
        self.sent = 0

    def topic_for(self, event: Event) -> str:
        return topic_name(self.topic_prefix, event.FAMILY)

    def encode(self, event: Event) -> bytes:
        return wire.encode(self.registry.current(type(event)), event.model_dump())

    def send(self, event: Event):
        """Queue one event; returns kafka-python's future for its record metadata."""
        future = self.producer.send(self.topic_for(event), key=message_key(event), value=self.encode(event))
        self.sent += 1
        return future

    def send_all(self, events: Iterable[Event]) -> int:
        n = 0
        for event in events:
            self.send(event)
            n += 1
        return n

    def send_and_wait(self, events: Iterable[Event], timeout: float = 30.0) -> int:
        """Send the events and return once the broker has acknowledged every one.

        Raises kafka-python's error for the first event the broker refused or did not
        acknowledge within ``timeout`` seconds; the events before it may have been stored.
        """
        futures = [self.send(e) for e in events]
        self.producer.flush(timeout=timeout)
        for f in futures:
            f.get(timeout=timeout)
        return len(futures)

    def flush(self, timeout: float | None = None) -> None:
        self.producer.flush(timeout=timeout)

    def close(self) -> None:
        self.producer.close(timeout=30)

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
