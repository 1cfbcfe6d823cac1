"""What the tagging consumer needs to know, and nothing else: built from the settings by ``lineage.wiring``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConsumerConfig:
    bootstrap: str  # the Kafka brokers, host:port[,host:port]
    topics: tuple[str, ...]  # the event topics to read, one per family
    group: str  # the consumer group; its committed offsets are a hint for lag tools, the store keeps its own
    dead_letter_topic: str
    pseudonym_key: bytes | None  # the secret of subject ids; None refuses to start (MissingPseudonymKey)
    # This consumer's static member id in the group (Kafka's group.instance.id): a restart under the
    # same id gets its partitions back at once instead of after the session timeout. None: dynamic.
    instance_id: str | None = None
    # How long the group waits for a silent consumer before handing its partitions to another.
    session_timeout_ms: int = 45_000
    batch_max_records: int = 100_000  # flush once the batches of all partitions hold this many messages
    batch_max_seconds: float = 0.25  # ... or once the oldest batch is this old
    controls_refresh_seconds: float = 1.0  # how often erasures, restrictions and objections are re-read
    bulk: bool = True  # the engine decodes, checks and tags; False: every message through Python
    bulk_min_rows: int = 64  # the fewest messages of one schema in a flush worth one container
    store_retry_seconds: float = 60.0  # how long a flush waits for a store that fails, before giving up
    broker_retry_seconds: float = 60.0  # how long the consumer waits for a broker that fails, before giving up
    # With a bound to run to (until idle), how long to wait for the group to hand over partitions;
    # None: the session timeout and 30 s more (a dead member's partitions come free after its session).
    assignment_timeout_seconds: float | None = None
