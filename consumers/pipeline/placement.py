"""Placing each partition the group hands over at the position the store holds it to, not the group's.

The group's committed offset is a hint for lag tools; the flush log
(``flush_log.py``) is the truth. A partition newly held is placed before any of
its records is processed: its unfinished flush, if a crash left one, is rebuilt
whole; then it is sought to the offset after the store's last range. Where the
store holds nothing of the partition, it starts where the group left it (the
earliest message for a new group). Records fetched before the seek are dropped:
they come again, from the right place.
"""

from __future__ import annotations

from collections.abc import Callable

from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.structs import TopicPartition

from consumers.pipeline.flush_log import RecordedFlush, Resume
from consumers.pipeline.errors import RecoveryError


class TopicBehindStore(RecoveryError):
    """The store holds positions past the end of a partition: the topic was deleted and created again.

    Reading it would skip its new messages (their offsets are ones the store already holds).
    Use another topic prefix (LINEAGE_TOPIC_PREFIX) or another database for the new topic.
    """


class Placement(ConsumerRebalanceListener):
    """Which held partitions are placed, and where each one's next batch starts at the earliest."""

    def __init__(self, consumer: KafkaConsumer, resume: Callable[[TopicPartition], Resume],
                 rebuild: Callable[[RecordedFlush], None], forget: Callable[[list[TopicPartition]], None],
                 report: Callable[[str], None]) -> None:  # fmt: skip
        self.consumer = consumer
        self.resume = resume
        self.rebuild = rebuild
        self.forget = forget
        self.report = report
        self.unplaced: set[TopicPartition] = set()
        self.next_offset: dict[TopicPartition, int] = {}

    # --- the group's callbacks: bookkeeping only; the work happens in place() -------------------

    def on_partitions_assigned(self, assigned) -> None:
        self.unplaced |= set(assigned)

    def on_partitions_revoked(self, revoked) -> None:
        # Another member may work on them before they come back: forget the unflushed batch (the
        # new owner resumes from the store) and place them afresh if they return.
        revoked = list(revoked)
        for tp in revoked:
            self.unplaced.discard(tp)
            self.next_offset.pop(tp, None)
        self.forget(revoked)

    # --- placing ------------------------------------------------------------------------------

    def place(self, polled: dict[TopicPartition, list]) -> None:
        """Place every partition held but not yet placed; drop its records fetched from elsewhere."""
        for tp in sorted(self.unplaced & self.consumer.assignment()):
            records = polled.get(tp)
            start = self._start(tp, records[0].offset if records else None)
            # Where the group's position was the store's, the records fetched are the right ones.
            if not (records and records[0].offset == start):
                polled.pop(tp, None)
                if records or self.consumer.position(tp) != start:
                    self.consumer.seek(tp, start)
            self.next_offset[tp] = start
            self.unplaced.discard(tp)

    def _start(self, tp: TopicPartition, fetched_from: int | None) -> int:
        """Where ``tp`` goes on; ``fetched_from`` is the first offset this poll fetched of it, if any."""
        resume = self.resume(tp)
        if resume.unfinished is not None:
            self.rebuild(resume.unfinished)
        if resume.next_offset is None:
            # The store holds nothing of it: where the group left it, or its earliest message for a
            # new group. (Consumers of one group that write to separate stores hand partitions over
            # this way; a new store that should read a topic whole takes a new group.) The position
            # has moved past what this poll fetched; the fetch started where the group had left it.
            return fetched_from if fetched_from is not None else self.consumer.position(tp)
        begin = self.consumer.beginning_offsets([tp])[tp]
        end = self.consumer.end_offsets([tp])[tp]
        if resume.next_offset > end:
            raise TopicBehindStore(f"the store holds {tp.topic}/{tp.partition} up to offset {resume.next_offset - 1},"
                                   f" but the partition ends at {end}: was the topic deleted and created again? Use"
                                   " another topic prefix or another database for it")  # fmt: skip
        if resume.next_offset < begin:
            self.report(f"{tp.topic}/{tp.partition}: offsets {resume.next_offset} to {begin - 1} expired from the"
                        " topic before they were read; going on at its earliest message")  # fmt: skip
            return begin
        return resume.next_offset
