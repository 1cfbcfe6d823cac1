"""What the tagging consumer needs to know, and nothing else: built from the settings by ``lineage.wiring``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConsumerConfig:
    bootstrap: str  # the Kafka brokers, host:port[,host:port]
    topics: tuple[str, ...]  # the event topics to read, one per family
    group: str  # the consumer group whose committed offsets say what is stored
    dead_letter_topic: str
    pseudonym_key: bytes | None  # the secret of subject ids; None refuses to start (MissingPseudonymKey)
    # How long the group waits for a silent consumer before handing its partitions to another;
    # a restarted consumer may wait this long after a crash.
    session_timeout_ms: int = 45_000
    batch_max_records: int = 20_000  # flush once the batches of all partitions hold this many messages
    batch_max_seconds: float = 1.0  # ... or once the oldest batch is this old
    controls_refresh_seconds: float = 1.0  # how often erasures, restrictions and objections are re-read
