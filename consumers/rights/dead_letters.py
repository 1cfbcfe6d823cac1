"""Erasure on the dead-letter topic: its messages keep the original bytes, names and e-mails included.

Kafka cannot delete one record, so the purge rewrites the log: every dead letter
that does not mention the person is sent again (with a header naming its old
offset), then everything before the old end is deleted. Dead letters that
arrive during the purge lie past the old end and are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.structs import TopicPartition

from schemas.phone import mentions_phone


@dataclass(frozen=True)
class PurgeResult:
    scanned: int
    removed: int
    kept: int


def matcher(contacts: str | Sequence[str]) -> Callable[[bytes], bool]:
    """Whether bytes hold the person: an e-mail as it is, ignoring case; a phone number in any spelling."""
    contacts = (contacts,) if isinstance(contacts, str) else tuple(contacts)
    # Avro writes strings as raw UTF-8, so an address appears as it is in every
    # message that holds it, decodable or not.
    needles = [c.strip().lower().encode() for c in contacts if "@" in c]
    numbers = [c for c in contacts if "@" not in c]
    return lambda data: (any(n in data.lower() for n in needles) if needles else False) or any(
        mentions_phone(data, number) for number in numbers)


def mentions(matches: Callable[[bytes], bool], key: bytes | None, value: bytes | None,
             headers: list[tuple[str, bytes]]) -> bool:  # fmt: skip
    return any(matches(b or b"") for b in (key, value, *(v for _, v in headers)))


class DeadLetterPurge:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic

    def purge(self, contact: str | Sequence[str], dry_run: bool = False) -> PurgeResult:
        """Remove every dead letter that holds ``contact`` (an e-mail, or a phone number in E.164; or any of
        several); with ``dry_run``, only count them."""
        matches = matcher(contact)
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None)
        try:
            partitions = [TopicPartition(self.topic, p) for p in sorted(consumer.partitions_for_topic(self.topic) or ())]
            if not partitions:
                return PurgeResult(0, 0, 0)
            consumer.assign(partitions)
            begin, end = consumer.beginning_offsets(partitions), consumer.end_offsets(partitions)
            kept: dict[TopicPartition, list] = {}
            scanned = removed = 0
            for tp in partitions:
                if end[tp] <= begin[tp]:
                    continue
                consumer.seek(tp, begin[tp])
                keep, removed_here = [], 0
                while consumer.position(tp) < end[tp]:
                    for rec in consumer.poll(timeout_ms=1000, max_records=2000).get(tp, []):
                        if rec.offset >= end[tp]:
                            break
                        scanned += 1
                        headers = list(rec.headers or [])
                        if mentions(matches, rec.key, rec.value, headers):
                            removed_here += 1
                        else:
                            keep.append((rec.offset, rec.key, rec.value, headers))
                if removed_here:
                    kept[tp] = keep
                    removed += removed_here
        finally:
            consumer.close()
        if dry_run or not removed:
            return PurgeResult(scanned, removed, scanned - removed)
        self._rewrite(kept, end)
        return PurgeResult(scanned, removed, scanned - removed)

    def _rewrite(self, kept: dict[TopicPartition, list], end: dict[TopicPartition, int]) -> None:
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", compression_type="zstd")
        try:
            futures = [
                producer.send(self.topic, partition=tp.partition, key=key, value=value,
                              headers=[*headers, ("dlq.rewritten.from.offset", str(offset).encode())])
                for tp, records in kept.items() for offset, key, value, headers in records
            ]  # fmt: skip
            producer.flush()
            for f in futures:
                f.get(timeout=30)  # every kept letter is safe before anything is deleted
        finally:
            producer.close(timeout=10)
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            admin.delete_records({tp: end[tp] for tp in kept}, timeout_ms=30_000)
        finally:
            admin.close()
