"""Rebuilding a flush that was recorded but whose offsets were never committed.

A flush holds ranges of several partitions, and its rows went into each table
under one token: rebuilding only the ranges of the partitions this consumer now
holds, under that token, would be taken as a duplicate of rows that may never
have been written. So every range of the flush is read again, with a reader of
its own that belongs to no group (some ranges may be another member's now), and
the whole flush is written again; the store drops what it already has.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace
from collections.abc import Callable

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from consumers.pipeline.batch import PartitionBatch
from consumers.pipeline.errors import RecoveryError
from consumers.pipeline.flush_log import RecordedFlush
from consumers.pipeline.unreadable import dead_letter, find_unreadable

# Gives one message to the processor: (batch, offset, key, value, headers, ingested_at).
Process = Callable[[PartitionBatch, int, bytes | None, bytes | None, list, dt.datetime], object]


def reread(flush: RecordedFlush, bootstrap: str, process: Process, timeout_s: float = 60.0) -> list[PartitionBatch]:
    """The flush's batches rebuilt from the topic, message for message."""
    batches = {(r.topic, r.partition): PartitionBatch(r.topic, r.partition, r.first_offset) for r in flush.ranges}
    wanted = {TopicPartition(r.topic, r.partition): r for r in flush.ranges}
    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                           max_partition_fetch_bytes=8 * 1024 * 1024)  # fmt: skip
    try:
        reader.assign(list(wanted))
        for tp, r in wanted.items():
            reader.seek(tp, r.first_offset)
        ingested_at = dt.datetime.now(dt.UTC)
        deadline = time.monotonic() + timeout_s
        while wanted:
            if time.monotonic() > deadline:
                missing = ", ".join(str(r) for r in wanted.values())
                raise RecoveryError(f"could not read again the recorded ranges {missing} within {timeout_s:.0f} s")
            try:
                polled = reader.poll(timeout_ms=500)
            except Exception as exc:  # a record the client cannot parse: dead-lettered by position, as first time
                positions = {tp: reader.position(tp) for tp in wanted}
                found = find_unreadable(bootstrap, positions, timeout_ms=5000)
                if found is None:
                    raise RecoveryError(f"could not read again the recorded ranges ({type(exc).__name__})") from None
                r = wanted[found.partition]
                last = min(found.next_readable, r.last_offset + 1)
                dead_letter(batches[(r.topic, r.partition)], replace(found, next_readable=last), exc)
                reader.seek(found.partition, last)
                if last > r.last_offset:
                    del wanted[found.partition]
                    reader.pause(found.partition)
                continue
            for tp, records in polled.items():
                r = wanted.get(tp)
                if r is None:
                    continue
                batch = batches[(tp.topic, tp.partition)]
                for rec in records:
                    if rec.offset > r.last_offset:
                        break
                    if batch.last_offset < 0 and rec.offset != r.first_offset:
                        # The topic no longer holds the start of the range (its retention ran out).
                        raise RecoveryError(f"range {r} is no longer whole on the topic (next offset {rec.offset})")
                    process(batch, rec.offset, rec.key, rec.value, list(rec.headers or []), ingested_at)
                if batch.last_offset >= r.last_offset:
                    del wanted[tp]
                    reader.pause(tp)
    finally:
        reader.close(autocommit=False)
    return [batches[(r.topic, r.partition)] for r in flush.ranges]
