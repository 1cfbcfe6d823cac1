"""Replays store nothing twice: a fresh group after the topic grew, offsets reset to the earliest, another batch size.

The store says where each partition resumes, not the group, so however the messages
come again they end where an uninterrupted run over the same messages ends: the same
rows, the same dead letters (on the topic too), the same rollups.
"""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer
from kafka.structs import OffsetAndMetadata, TopicPartition
from pipeline_fixtures import Pipeline

from producers.simulate import simulate
from schemas.models import FAMILIES

pytestmark = pytest.mark.integration
EVENTS = list(simulate(2_400, seed=23, tenants=6, days=15, fault_rate=0.02))
FIRST = 1_600


def snapshot(p: Pipeline) -> dict[str, object]:
    q = p.store.scalar
    reader = KafkaConsumer(p.settings.dead_letters, bootstrap_servers=p.bootstrap, auto_offset_reset="earliest",
                           enable_auto_commit=False, consumer_timeout_ms=3000)  # fmt: skip
    try:
        letters = sum(1 for _ in reader)
    finally:
        reader.close()
    return {
        "events": q("SELECT count() FROM events"),
        "event ids": q("SELECT uniqExact(event_id) FROM events"),
        "identifiers": q("SELECT count() FROM identifiers"),
        "dead letters": q("SELECT count() FROM dead_letters"),
        "dead letters on the topic": letters,
        "suppressed": q("SELECT count() FROM suppressed_events WHERE reason != 'duplicate_event'"),
        "usage rollup": p.store.rows("SELECT sum(uses), sum(events), uniqExactMerge(people) FROM usage_daily")[0],
        "retention facts": q("SELECT count() FROM (SELECT DISTINCT * FROM retention_facts)"),
    }


def reset_to_earliest(p: Pipeline) -> None:
    """What `kafka-consumer-groups --reset-offsets --to-earliest` does to the group."""
    admin = KafkaConsumer(bootstrap_servers=p.bootstrap, group_id=p.settings.consumer_group, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(p.settings.topic(f), n) for f in FAMILIES for n in range(p.settings.topic_partitions)]
        admin.assign(partitions)
        admin.commit({tp: OffsetAndMetadata(0, "", -1) for tp in partitions})
    finally:
        admin.close()


def test_replays_of_every_kind_end_where_one_uninterrupted_run_ends(make_pipeline) -> None:
    once = make_pipeline()
    once.produce(EVENTS)
    once.consume()
    reference = snapshot(once)

    p = make_pipeline(batch_max_records=500)
    p.produce(EVENTS[:FIRST])
    p.consume()
    first = snapshot(p)
    assert first["events"] < reference["events"]

    # The topic grows; a new group reads it from the start, in batches of another size.
    p.produce(EVENTS[FIRST:])
    grown = p.consumer_with(consumer_group=f"{p.settings.consumer_group}-fresh", batch_max_records=37).run(until_idle=1.5)
    assert grown.consumed < len(EVENTS) - FIRST + 50, "only what the store did not hold yet was processed"
    assert snapshot(p) == reference

    # The first group's offsets are reset to the earliest: nothing is read as new.
    reset_to_earliest(p)
    again = p.consume()
    assert (again.consumed, again.stored) == (0, 0)
    assert snapshot(p) == reference


def test_an_event_sent_twice_by_its_producer_is_stored_once(pipeline: Pipeline) -> None:
    events = [e for e in EVENTS[:300] if e.FAMILY == "usage"][:40]
    pipeline.produce(events)
    pipeline.produce(events[:10])  # the producer's retry, at new offsets
    stats = pipeline.consume()
    assert stats.stored == pipeline.store.scalar("SELECT count() FROM events") == pipeline.store.scalar(
        "SELECT uniqExact(event_id) FROM events")  # fmt: skip
    assert stats.suppressed["duplicate_event"] == 10
    assert pipeline.store.scalar("SELECT count() FROM suppressed_events WHERE reason = 'duplicate_event'") == 10
    # The duplicates' identifiers went with them: one set per stored event.
    assert pipeline.store.scalar("SELECT uniqExact(source_topic, source_partition, source_offset) FROM identifiers"
                                 " WHERE (source_topic, source_partition, source_offset) NOT IN"
                                 " (SELECT source_topic, source_partition, source_offset FROM events)") == 0  # fmt: skip
