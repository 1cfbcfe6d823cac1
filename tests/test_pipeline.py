"""The whole path, for real: JSON lines -> producer -> Kafka -> tagging consumer -> ClickHouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from pipeline_fixtures import TEST_KEY, Pipeline
from scenario import ADMIN, READER, STUDENT, known_scenario
from typer.testing import CliRunner

from consumers.identity.pseudonym import Pseudonymizer
from consumers.pipeline.consumer import CONSUMER_VERSION
from lineage.cli import app
from producers.jsonl import write_events
from schemas import wire
from schemas.models import FAMILIES
from schemas.registry import FileSchemaRegistry

pytestmark = pytest.mark.integration
REGISTRY = FileSchemaRegistry()


def _env(p: Pipeline) -> dict[str, str]:
    s = p.settings
    return {
        "KAFKA_BOOTSTRAP_SERVERS": p.bootstrap,
        "CLICKHOUSE_URL": s.store_url,
        "LINEAGE_CLICKHOUSE_DATABASE": s.clickhouse_database,
        "LINEAGE_TOPIC_PREFIX": s.topic_prefix,
        "LINEAGE_DEAD_LETTER_TOPIC": s.dead_letter_topic,
        "LINEAGE_CONSUMER_GROUP": s.consumer_group,
        "LINEAGE_PSEUDONYM_KEY": TEST_KEY,
        "LINEAGE_HOME": str(s.home),
    }


def _positions(p: Pipeline) -> dict[str, tuple[str, int, int, int]]:
    """event_id -> (topic, partition, offset, schema id), read back from the event topics themselves."""
    topics = [p.settings.topic(family) for family in FAMILIES]
    consumer = KafkaConsumer(*topics, bootstrap_servers=p.bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=3000)  # fmt: skip
    out = {}
    for msg in consumer:
        schema, record = wire.decode(REGISTRY, msg.value)
        out[str(record["envelope"]["event_id"])] = (msg.topic, msg.partition, msg.offset, schema.id)
    consumer.close()
    return out


def test_known_scenario_is_stored_with_exactly_its_tags_and_provenance(pipeline: Pipeline, tmp_path: Path) -> None:
    steps = known_scenario()
    jsonl = tmp_path / "scenario.jsonl"
    write_events(jsonl, [s.event for s in steps])
    started = dt.datetime.now(dt.UTC)

    result = CliRunner().invoke(app, ["produce", "--from-jsonl", str(jsonl)], env=_env(pipeline))
    assert result.exit_code == 0, result.output
    assert f"produced {len(steps)} events" in result.output

    stats = pipeline.consume()
    assert stats.consumed == len(steps)
    assert dict(stats.dead_lettered) == {"no_marketing_consent": 1}

    positions = _positions(pipeline)
    rows = {
        str(r[0]): r
        for r in pipeline.store.rows(
            "SELECT event_id, purposes, legal_bases, data_categories, data_subject, retention_rule, recipients,"
            " region, policy_version, source_topic, source_partition, source_offset, schema_id, producer_service,"
            " producer_version, consumer_version, occurred_at, ingested_at, family FROM events"
        )
    }
    stored_steps = [s for s in steps if s.expected.dead_letter is None]
    assert len(rows) == len(stored_steps)
    for step in stored_steps:
        e, want = step.event, step.expected
        row = rows[str(e.envelope.event_id)]
        assert row[1:6] == (list(want.purposes), list(want.legal_bases), list(want.data_categories),
                            want.data_subject, want.retention_rule), e.envelope.event_type  # fmt: skip
        assert row[6:9] == (["staff", "cloud_processors"], "NL", "2026.11.4")
        topic, partition, offset, schema_id = positions[str(e.envelope.event_id)]
        assert row[9:13] == (topic, partition, offset, schema_id)
        assert topic == f"{pipeline.settings.topic_prefix}.{e.FAMILY}" and schema_id == REGISTRY.current(type(e)).id
        assert row[13:16] == (e.envelope.producer.service, "1.2.3", CONSUMER_VERSION)
        assert row[16].replace(tzinfo=dt.UTC) == e.envelope.occurred_at
        assert row[17].replace(tzinfo=dt.UTC) >= started.replace(microsecond=0) and row[18] == e.FAMILY

    refused = next(s for s in steps if s.expected.dead_letter)
    assert str(refused.event.envelope.event_id) not in rows
    dead = pipeline.dead_letter_messages(expect=1)
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert headers["dlq.reason"] == b"no_marketing_consent"
    topic, partition, offset, _ = positions[str(refused.event.envelope.event_id)]
    assert (headers["dlq.source.topic"], headers["dlq.source.offset"]) == (topic.encode(), str(offset).encode())
    assert wire.decode(REGISTRY, dead[0].value)[1]["envelope"]["event_id"] == refused.event.envelope.event_id


def test_analytics_rows_carry_pseudonyms_and_identifiers_live_apart(pipeline: Pipeline) -> None:
    pipeline.produce(s.event for s in known_scenario())
    pipeline.consume()
    ids = Pseudonymizer(TEST_KEY.encode())
    raw = pipeline.store.rows("SELECT toString(tuple(*)) FROM events")
    assert raw and not any("@" in r[0] or "Bakker" in r[0] for r in raw), "no e-mail or name in the analytics rows"

    student = ids.of_email(STUDENT)
    assert pipeline.store.scalar("SELECT count() FROM events WHERE has(subject_ids, {s:String})", {"s": student}) == 3
    admin = ids.of_email(ADMIN)  # given in mixed case: normalised before hashing
    held = set(pipeline.store.rows(
        "SELECT field, value FROM identifiers WHERE subject_id = {s:String}", {"s": admin}))  # fmt: skip
    assert {("email", ADMIN), ("first_name", "Bram"), ("last_name", "Bakker"), ("job_title", "Process manager")} <= held
    # The usage row of two users counts the last updater as the actor.
    actor = pipeline.store.scalar("SELECT actor_id FROM events WHERE event_type = 'usage.record_updated'")
    assert actor == ids.of_email("eva.user@deltabouw.nl")
    reader_rows = pipeline.store.scalar("SELECT count() FROM identifiers WHERE value = {e:String}", {"e": READER})
    assert reader_rows == 3  # consent given, one mailing, withdrawal: the refused mailing left nothing


def test_an_invalid_jsonl_line_is_reported_with_its_number_and_nothing_is_sent(pipeline: Pipeline,
                                                                               tmp_path: Path) -> None:  # fmt: skip
    steps = known_scenario()
    jsonl = tmp_path / "bad.jsonl"
    write_events(jsonl, [s.event for s in steps[:3]])
    lines = jsonl.read_text().splitlines()
    lines.insert(1, lines[0].replace('"education_name":"Hogeschool Utrecht"', '"education_name":null'))
    lines.append("{not json")
    jsonl.write_text("\n".join(lines) + "\n")

    result = CliRunner().invoke(app, ["produce", "--from-jsonl", str(jsonl)], env=_env(pipeline))
    assert result.exit_code == 2  # bad input (README, Exit codes)
    assert "line 2:" in result.output and "education_name" in result.output and "line 5: not JSON" in result.output
    assert "nothing was sent" in result.output
    assert _positions(pipeline) == {}
