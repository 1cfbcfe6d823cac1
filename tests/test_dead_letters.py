"""Every kind of bad message goes to the dead-letter topic with its reason; the good ones around it are stored."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from kafka import KafkaProducer
from pipeline_fixtures import Pipeline
from scenario import known_scenario

from consumers.policy.loader import DEFAULT_POLICY, load_policy
from schemas import wire
from schemas.models import (
    NewsletterDelivery,
    RoleChanged,
    SubscriptionRequested,
    UsageActivity,
)
from schemas.registry import FileSchemaRegistry

pytestmark = pytest.mark.integration
REGISTRY = FileSchemaRegistry()


def _encode(event) -> bytes:
    return wire.encode(REGISTRY.current(type(event)), event.model_dump())


def _fresh(event):
    """The same event under a new id."""
    return event.model_copy(update={"envelope": event.envelope.model_copy(update={"event_id": uuid.uuid4()})})


def test_each_bad_message_is_dead_lettered_with_its_reason_while_good_ones_are_stored(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    steps = known_scenario()
    usage = [s.event for s in steps if isinstance(s.event, UsageActivity)]
    good = [_encode(e) for e in usage]
    student = next(s.event for s in steps if isinstance(s.event, SubscriptionRequested))
    no_education = student.model_dump()
    no_education["education_name"] = None  # a student application must name the education
    outside_eu = usage[0].model_copy(update={"envelope": usage[0].envelope.model_copy(update={
        "processing_region": "US", "event_id": usage[0].envelope.event_id.__class__(int=1)})})  # fmt: skip
    role_changed = RoleChanged(envelope=usage[0].envelope.model_copy(update={"event_type": "access.role_changed"}),
                               subscription_id="sub-1", previous_role="modeller", role="admin")  # fmt: skip
    dm = next(s.event for s in steps if isinstance(s.event, NewsletterDelivery))

    bad = {
        "not_wire_format": b'{"event_type": "usage.record_completed"}',
        "unknown_schema_id": b"\x00\x00\x00\x03\xe7" + good[0][5:],
        "undecodable": good[0][: len(good[0]) // 2],
        "invalid_event": wire.encode(REGISTRY.current(SubscriptionRequested), no_education),
        "outside_eu": _encode(outside_eu),
        "no_policy_entry": _encode(role_changed),
        "no_marketing_consent": _encode(dm),
    }
    # One partition, good and bad interleaved, so a stop on any bad message would show. Each good
    # message is its own event: the same event twice would be stored once.
    topic = f"{pipeline.settings.topic_prefix}.usage"
    producer = KafkaProducer(bootstrap_servers=pipeline.bootstrap)
    goods = [_encode(_fresh(usage[i % 2])) for i in range(len(bad))]
    sent = [good[0], *[v for pair in zip(bad.values(), goods) for v in pair]]
    for value in sent:
        producer.send(topic, key=b"k", value=value, partition=0, headers=[("trace", b"t-1")])
    producer.flush()
    producer.close()

    # A policy file that has fallen behind the contract: no rule for role changes.
    doc = yaml.safe_load(DEFAULT_POLICY.read_text())
    doc["rules"] = [r for r in doc["rules"] if "access.role_changed" not in r["event_types"]]
    behind = tmp_path / "policy.yaml"
    behind.write_text(yaml.safe_dump(doc))
    stats = pipeline.consume(policy=load_policy(behind))

    assert stats.consumed == len(sent)
    assert dict(stats.dead_lettered) == {reason: 1 for reason in bad}
    assert stats.stored == len(sent) - len(bad)
    assert pipeline.store.scalar("SELECT count() FROM events") == len(sent) - len(bad)

    dead = pipeline.dead_letter_messages(expect=len(bad))
    by_reason = {dict(m.headers)["dlq.reason"].decode(): m for m in dead}
    assert set(by_reason) == set(bad)
    for reason, value in bad.items():
        msg = by_reason[reason]
        headers = dict(msg.headers)
        assert msg.value == value, f"{reason}: the original bytes are kept"
        assert headers["trace"] == b"t-1", "the producer's own headers are kept"
        assert headers["dlq.source.topic"] == topic.encode()
        assert int(headers["dlq.source.offset"]) == sent.index(value)
    assert b"education_name" in dict(by_reason["invalid_event"].headers)["dlq.detail"]
    counted = dict(pipeline.store.rows("SELECT reason, count() FROM dead_letters GROUP BY reason"))
    assert counted == {reason: 1 for reason in bad}
    assert not any("@" in r[0] for r in pipeline.store.rows("SELECT detail FROM dead_letters")), "no payload echoed"
