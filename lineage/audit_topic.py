"""The compacted topic every audit checkpoint is also written to: a copy outside the store's machine.

Keyed by the checkpoint's number, so compaction never drops one (each key is
written once) and no retention deletes them either. A checkpoint that could not be
sent (the broker away) is sent with the next one: the folder remembers the last
number the topic has.
"""

from __future__ import annotations

import socket
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from consumers.audit.checkpoints import Checkpoint, CheckpointBook
from consumers.audit.errors import CheckpointUnreadable
from lineage.topics import TopicSpec, ensure_topics

class BrokerUnreachable(Exception):
    """No broker listens at the configured address."""


SPEC_CONFIGS = {"cleanup.policy": "compact", "min.insync.replicas": "1"}
_TIMEOUT_MS = 5_000


def topic_spec(name: str) -> TopicSpec:
    return TopicSpec(name, 1, dict(SPEC_CONFIGS))


class CheckpointTopic:
    def __init__(self, bootstrap: str, topic: str, book: CheckpointBook) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.book = book
        self._producer: KafkaProducer | None = None

    @property
    def _marker(self) -> Path:
        return self.book.folder / ".published"

    def _reachable(self) -> None:
        """Fail within seconds when no broker listens: a client would wait 30 s to bootstrap."""
        host, _, port = self.bootstrap.split(",")[0].rpartition(":")
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=_TIMEOUT_MS / 2500).close()
        except (OSError, ValueError) as exc:
            raise BrokerUnreachable(f"the broker at {self.bootstrap} does not answer ({exc})") from None

    def published(self) -> int:
        """The number of the newest checkpoint sent to the topic (0: none yet)."""
        return int(self._marker.read_text()) if self._marker.exists() else 0

    def publish(self, checkpoint: Checkpoint) -> None:
        """Send this checkpoint and every earlier one the topic does not have yet."""
        self._reachable()
        last = self.published()
        pending = [p for p in sorted(self.book.folder.glob("*.json")) if p.stem.isdigit() and int(p.stem) > last]
        if self._producer is None:
            ensure_topics(self.bootstrap, [topic_spec(self.topic)], timeout_ms=_TIMEOUT_MS)
            self._producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", max_block_ms=_TIMEOUT_MS,
                                           request_timeout_ms=_TIMEOUT_MS, bootstrap_timeout_ms=_TIMEOUT_MS)  # fmt: skip
        for path in pending:
            self._producer.send(self.topic, key=path.stem.encode(), value=path.read_bytes())
        self._producer.flush(timeout=_TIMEOUT_MS / 1000)
        self._marker.write_text(str(max([checkpoint.number, *(int(p.stem) for p in pending)])))

    def read(self) -> tuple[list[Checkpoint], list[str]]:
        """Every checkpoint on the topic, and a line for each record that is not one."""
        self._reachable()
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None,
                                 request_timeout_ms=_TIMEOUT_MS + 1000, consumer_timeout_ms=_TIMEOUT_MS,
                                 bootstrap_timeout_ms=_TIMEOUT_MS)  # fmt: skip
        try:
            if not consumer.partitions_for_topic(self.topic):
                return [], []
            part = TopicPartition(self.topic, 0)
            consumer.assign([part])
            consumer.seek_to_beginning(part)
            end = consumer.end_offsets([part])[part]
            found: dict[int, Checkpoint] = {}
            problems = []
            while consumer.position(part) < end:
                for records in consumer.poll(timeout_ms=1000).values():
                    for r in records:
                        try:
                            cp = Checkpoint.parse(r.value or b"", f"topic {self.topic} offset {r.offset}")
                            found[cp.number] = cp
                        except CheckpointUnreadable as exc:
                            problems.append(str(exc))
            return [found[n] for n in sorted(found)], problems
        finally:
            consumer.close()

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=2)
            self._producer = None
