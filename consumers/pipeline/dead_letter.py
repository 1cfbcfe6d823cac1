"""The dead-letter topic: the original bytes, and the reason in headers.

Headers carry the error's own code (``dlq.reason``), a detail that never quotes
the payload, and where the message came from, so a message can be inspected and
replayed without the consumer's logs.
"""

from __future__ import annotations

from kafka import KafkaProducer

from consumers.pipeline.batch import PartitionBatch


class DeadLetterPublisher:
    def __init__(self, producer: KafkaProducer, topic: str, consumer_version: str) -> None:
        self.producer = producer
        self.topic = topic
        self.consumer_version = consumer_version.encode()

    def publish(self, batch: PartitionBatch) -> None:
        """Send the batch's dead letters and wait until the broker has them all."""
        if not batch.dead_letters:
            return
        futures = []
        for d in batch.dead_letters:
            headers = [
                *d.headers,
                ("dlq.reason", d.reason.encode()),
                ("dlq.detail", d.detail.encode()[:4000]),
                ("dlq.source.topic", batch.topic.encode()),
                ("dlq.source.partition", str(batch.partition).encode()),
                ("dlq.source.offset", str(d.offset).encode()),
                ("dlq.consumer.version", self.consumer_version),
            ]
            futures.append(self.producer.send(self.topic, key=d.key, value=d.value, headers=headers))
        self.producer.flush()
        for f in futures:
            f.get(timeout=30)  # raises if the broker refused one: the batch is then not committed
