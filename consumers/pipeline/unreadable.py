"""Records the Kafka client cannot read: find them by position and step past, so the partition moves on.

kafka-python parses a whole producer batch when it fetches any offset in it, and a
record it cannot parse (a header name that is not UTF-8, for one) makes every poll
raise again: the valid messages behind it would never be read. When a poll raises
like that, a reader of our own, in no group, finds which partition fails at its
current position, then the first offset after it that reads again (the start of
the next batch: doubling, then halving). Every offset in between becomes a dead
letter ``unreadable_record``, by position only (the client cannot give its bytes),
and the consumer goes on from there. An operator can read those offsets with
another client; the positions are in the dead-letter headers and table.
"""

from __future__ import annotations

from dataclasses import dataclass

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from consumers.pipeline.batch import DeadLetter, PartitionBatch

REASON = "unreadable_record"


@dataclass(frozen=True)
class Unreadable:
    partition: TopicPartition
    first_offset: int  # the record the client fails on
    next_readable: int  # the first offset after it that reads (or the end of the partition)


def _fails_at(reader: KafkaConsumer, tp: TopicPartition, offset: int, timeout_ms: int) -> bool:
    reader.seek(tp, offset)
    try:
        reader.poll(timeout_ms=timeout_ms, max_records=1)
    except Exception:  # the client's own failure to parse is exactly what is asked about
        return True
    return False


def find_unreadable(bootstrap: str, positions: dict[TopicPartition, int], timeout_ms: int = 2000) -> Unreadable | None:
    """The first of these partitions whose next record the client cannot parse, and how far it fails; None if none."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        ends = reader.end_offsets(list(positions))
        for tp, position in sorted(positions.items()):
            end = ends[tp]
            if position >= end:
                continue  # nothing to read there, so nothing that fails
            reader.assign([tp])
            if not _fails_at(reader, tp, position, timeout_ms):
                continue
            # Offsets inside the failing batch fail too; find the first one that does not.
            failing, step = position, 1
            while failing + step < end and _fails_at(reader, tp, failing + step, timeout_ms):
                failing, step = failing + step, step * 2
            readable = min(failing + step, end)
            while readable - failing > 1:
                middle = (failing + readable) // 2
                if _fails_at(reader, tp, middle, timeout_ms):
                    failing = middle
                else:
                    readable = middle
            return Unreadable(tp, position, readable)
        return None
    finally:
        reader.close()


def dead_letter(batch: PartitionBatch, found: Unreadable, error: BaseException) -> int:
    """Add a dead letter for every offset the client cannot read to the partition's batch; returns how many."""
    why = f"kafka-python cannot parse this record ({type(error).__name__}); read it with another client"
    for offset in range(found.first_offset, found.next_readable):
        batch.dead_letters.append(DeadLetter(offset, None, None, [], REASON, why, 0, ""))
        batch.last_offset = offset
    return found.next_readable - found.first_offset
