"""The dead-letter topic: the original bytes, and the reason in headers, for any message at all.

Headers carry the error's own code (``dlq.reason``), a detail that never quotes
the payload, and where the message came from, so a message can be inspected and
replayed without the consumer's logs. Nothing about the original can make its
letter unsendable or misleading:

- a message too large to send again goes without its payload (``dlq.payload:
  omitted``, with its size and SHA-256; the original stays on the source topic
  until that topic's retention, at the position the headers name);
- a message with neither key nor value is sent with an empty value
  (``dlq.payload: absent``), since a record needs one of them;
- a header with no value is kept with an empty one, and an original header whose
  name starts with ``dlq.`` is renamed ``original.dlq.…``, so the reason headers
  are always the consumer's own.
"""

from __future__ import annotations

import hashlib

from kafka import KafkaProducer
from kafka.errors import MessageSizeTooLargeError, RecordListTooLargeError

from consumers.pipeline.batch import DeadLetter, PartitionBatch

# Below the producer's max_request_size and the broker's default max.message.bytes (both 1 MiB),
# with room for the headers; counted before compression, as the producer counts.
MAX_LETTER_BYTES = 900_000
_TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError)


def _size(d: DeadLetter) -> int:
    headers = sum(len(k.encode()) + len(v or b"") for k, v in d.headers)
    return len(d.key or b"") + len(d.value or b"") + headers


class DeadLetterPublisher:
    def __init__(self, producer: KafkaProducer, topic: str, consumer_version: str,
                 max_letter_bytes: int = MAX_LETTER_BYTES) -> None:  # fmt: skip
        self.producer = producer
        self.topic = topic
        self.consumer_version = consumer_version.encode()
        self.max_letter_bytes = max_letter_bytes

    def publish(self, batch: PartitionBatch, timeout: float = 30.0) -> None:
        """Send the batch's dead letters and wait until the broker has them all.

        Raises kafka-python's error when the broker does not take one within ``timeout``
        seconds: the flush is then not committed, and is sent again when it is rebuilt.
        """
        if not batch.dead_letters:
            return
        futures = [(d, self._send(batch, d, whole=_size(d) <= self.max_letter_bytes)) for d in batch.dead_letters]
        self.producer.flush(timeout=timeout)
        for d, future in futures:
            try:
                future.get(timeout=timeout)
            except _TOO_LARGE:
                # The broker's limit is lower than ours (a topic configured so): the letter goes without payload.
                self._send(batch, d, whole=False).get(timeout=timeout)

    def _send(self, batch: PartitionBatch, d: DeadLetter, whole: bool):
        headers = [(f"original.{k}" if k.startswith("dlq.") else k, v or b"") for k, v in d.headers] if whole else []
        headers += [
            ("dlq.reason", d.reason.encode()),
            ("dlq.detail", d.detail.encode()[:4000]),
            ("dlq.source.topic", batch.topic.encode()),
            ("dlq.source.partition", str(batch.partition).encode()),
            ("dlq.source.offset", str(d.offset).encode()),
            ("dlq.consumer.version", self.consumer_version),
        ]
        if not whole:
            original = d.value or b""
            headers += [("dlq.payload", b"omitted"), ("dlq.payload.bytes", str(_size(d)).encode()),
                        ("dlq.payload.sha256", hashlib.sha256(original).hexdigest().encode())]  # fmt: skip
            return self.producer.send(self.topic, key=None, value=b"", headers=headers)
        if d.key is None and d.value is None:
            headers.append(("dlq.payload", b"absent"))
            return self.producer.send(self.topic, key=None, value=b"", headers=headers)
        headers.append(("dlq.payload", b"original"))
        return self.producer.send(self.topic, key=d.key, value=d.value, headers=headers)
