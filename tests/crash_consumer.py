"""The tagging consumer in a process of its own, so a test can kill it for real.

    python crash_consumer.py crash-after-store N   # SIGKILL itself once a flush (the Nth or later) of several
                                                   # partitions is stored, before it is marked whole
    python crash_consumer.py crash-mid-write N     # SIGKILL itself inside such a flush's write, after its identifiers
    python crash_consumer.py resume                # consume until idle, then print a JSON report of the store

Settings come from the environment, as for the `lineage` command.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from consumers.store.store import Store
from lineage.settings import Settings
from lineage.wiring import Parts
from schemas.models import FAMILIES


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def written_beyond_commit(settings: Settings, store: Store) -> int:
    """Ranges written (at least recorded) past the group's committed offsets: what a crash leaves."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=settings.consumer_group,
                             enable_auto_commit=False)  # fmt: skip
    try:
        beyond = 0
        for family in FAMILIES:
            topic = settings.topic(family)
            for partition in consumer.partitions_for_topic(topic) or ():
                committed = consumer.committed(TopicPartition(topic, partition)) or 0
                beyond += store.scalar(
                    "SELECT count() FROM ingest_batches WHERE source_topic = {t:String}"
                    " AND source_partition = {p:UInt32} AND first_offset >= {o:UInt64}",
                    {"t": topic, "p": partition, "o": committed},
                )
        return beyond
    finally:
        consumer.close(autocommit=False)


def report(store: Store) -> dict[str, int]:
    q = store.scalar
    return {
        "events": q("SELECT count() FROM events"),
        "distinct_event_ids": q("SELECT uniqExact(event_id) FROM events"),
        "distinct_event_offsets": q("SELECT uniqExact(source_topic, source_partition, source_offset) FROM events"),
        "identifiers": q("SELECT count() FROM identifiers"),
        "distinct_identifiers": q("SELECT uniqExact(subject_id, field, value, source_topic, source_partition, source_offset) FROM identifiers"),
        "dead_letters": q("SELECT count() FROM dead_letters"),
        "distinct_dead_letters": q("SELECT uniqExact(source_topic, source_partition, source_offset) FROM dead_letters"),
    }


def main(argv: list[str]) -> None:
    started = time.monotonic()
    settings = Settings()
    parts = Parts(settings)
    store = parts.store
    mode = argv[0]
    crash_at = int(argv[1]) if len(argv) > 1 else 0
    flushed = 0
    ranges = 0  # of the flush being written

    def after_store(batches) -> None:
        nonlocal flushed
        flushed += 1
        # The state the test needs, made rather than hoped for: a flush of several partitions.
        if mode == "crash-after-store" and flushed >= crash_at and len(batches) >= 2:
            _die()

    if mode == "crash-mid-write":
        insert = store.insert

        def insert_then_die(table, columns, data, token):  # the real insert, then a kill
            nonlocal ranges
            insert(table, columns, data, token)
            if table == "ingest_batches":
                ranges = len(data[0])
            if table == "identifiers" and flushed + 1 >= crash_at and ranges >= 2:
                _die()

        command = store.command

        def command_then_die(sql, parameters=None, settings=None):  # the bulk path writes identifiers by INSERT SELECT
            command(sql, parameters, settings)
            if sql.startswith("INSERT INTO identifiers ") and flushed + 1 >= crash_at and ranges >= 2:
                _die()

        store.insert = insert_then_die  # type: ignore[method-assign]
        store.command = command_then_die  # type: ignore[method-assign]

    before = written_beyond_commit(settings, store) if mode == "resume" else 0
    first_message: list[float] = []

    def progress(stats) -> None:
        if stats.consumed and not first_message:
            first_message.append(time.monotonic() - started)

    consumer = parts.consumer(settings.kafka_bootstrap_servers, after_store=after_store)  # type: ignore[arg-type]
    stats = consumer.run(until_idle=3, on_progress=progress)
    out = report(store) | {"written_beyond_commit_before": before, "consumed": stats.consumed,
                           "seconds_to_first_message": first_message[0] if first_message else None}  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
