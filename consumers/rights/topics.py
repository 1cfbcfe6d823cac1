"""How many messages of a topic hold a person, and the newest of them: read whole, counted, kept nowhere.

The raw event topics keep every event as it arrived, e-mails and phone numbers in
clear, until the broker's retention deletes them; an erasure cannot reach them
(Kafka deletes no single record of a topic that is not compacted), so the reports
and `sar locate` say how many are there and until when. Reading a topic whole takes
time on a large one: `sar locate` over 100,000 messages took 4.2 s here, start-up included.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from consumers.rights.dead_letters import matcher, mentions


@dataclass(frozen=True)
class Found:
    topic: str
    messages: int
    newest: dt.datetime | None  # the newest such message's timestamp


class TopicScan:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    def count(self, topics: tuple[str, ...] | list[str], contact: str | tuple[str, ...]) -> list[Found]:
        """Per topic: the messages that hold ``contact`` (an e-mail, or a phone number in E.164; or any of
        several)."""
        matches = matcher(contact)
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None)
        found = []
        try:
            for topic in topics:
                partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
                n, newest = 0, None
                if partitions:
                    consumer.assign(partitions)
                    begin, end = consumer.beginning_offsets(partitions), consumer.end_offsets(partitions)
                    for tp in partitions:
                        consumer.seek(tp, begin[tp])
                    left = {tp for tp in partitions if end[tp] > begin[tp]}
                    while left:
                        for tp, records in consumer.poll(timeout_ms=1000, max_records=5000).items():
                            for rec in records:
                                if rec.offset >= end[tp]:
                                    break
                                if mentions(matches, rec.key, rec.value, list(rec.headers or [])):
                                    n += 1
                                    at = dt.datetime.fromtimestamp(rec.timestamp / 1000, dt.UTC)
                                    newest = at if newest is None or at > newest else newest
                        left = {tp for tp in left if consumer.position(tp) < end[tp]}
                found.append(Found(topic, n, newest))
        finally:
            consumer.close()
        return found
