"""`lineage retention` and `lineage kafka topics`: the operator's side of retention, on the real parts."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from pipeline_fixtures import TEST_KEY, Pipeline
from retention_scenario import retention_scenario
from typer.testing import CliRunner

from lineage.cli import app

pytestmark = pytest.mark.integration
DAY_MS = 86_400_000


def _env(p: Pipeline) -> dict[str, str]:
    s = p.settings
    return {
        "LINEAGE_HOME": str(s.home),
        "CLICKHOUSE_URL": s.store_url,
        "LINEAGE_CLICKHOUSE_DATABASE": s.clickhouse_database,
        "KAFKA_BOOTSTRAP_SERVERS": p.bootstrap,
        "LINEAGE_TOPIC_PREFIX": s.topic_prefix,
        "LINEAGE_TOPIC_PARTITIONS": str(s.topic_partitions),
        "LINEAGE_DEAD_LETTER_TOPIC": s.dead_letter_topic,
        "LINEAGE_PSEUDONYM_KEY": TEST_KEY,
        "LINEAGE_OPERATOR": "ops@engage.test",
        "COLUMNS": "200",  # rich wraps tables to the terminal; the test reads whole names
    }


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(app, list(args), env=env)


def _topic_configs(bootstrap: str, topics: list[str]) -> dict[str, dict[str, str]]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        found = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
    finally:
        admin.close()
    return {name: {k: v["value"] if isinstance(v, dict) else v for k, v in entries.items()}
            for name, entries in found["topic"].items()}  # fmt: skip


def test_kafka_topics_gives_raw_and_dead_letter_topics_the_policys_retention(pipeline: Pipeline) -> None:
    env = _env(pipeline)
    usage = f"{pipeline.settings.topic_prefix}.usage"
    # A topic someone created by hand with a month's retention is brought back to the policy's week.
    admin = KafkaAdminClient(bootstrap_servers=pipeline.bootstrap)
    try:
        admin.delete_topics([usage])
        admin.create_topics([NewTopic(usage, 2, 1, topic_configs={"retention.ms": str(30 * DAY_MS)})])
    finally:
        admin.close()

    result = run(env, "kafka", "topics")
    assert result.exit_code == 0, result.output
    assert "7 days" in result.output and "30 days" in result.output

    raw = [pipeline.settings.topic(f) for f in ("usage", "access", "newsletter", "relation")]
    configs = _topic_configs(pipeline.bootstrap, [*raw, pipeline.settings.dead_letters])
    for topic in raw:
        assert configs[topic]["retention.ms"] == str(7 * DAY_MS), topic
        assert configs[topic]["segment.ms"] == str(DAY_MS), topic
    assert configs[pipeline.settings.dead_letters]["retention.ms"] == str(30 * DAY_MS)


def test_the_retention_commands_plan_run_and_report(make_pipeline: Callable[..., Pipeline]) -> None:
    p = make_pipeline()
    now = dt.datetime.now(dt.UTC)
    events = retention_scenario(now)
    p.produce(events)
    assert p.consume().stored == len(events)
    env = _env(p)

    status = run(env, "retention", "status", "--format", "json")
    assert status.exit_code == 0, status.output
    rules = {r["rule"]: r for r in json.loads(status.output)}
    assert rules["customer_data"]["enforced_by"] == "run" and rules["customer_data"]["due_now"] == 9
    assert rules["prospect_data"]["enforced_by"] == "ttl"

    dry = run(env, "retention", "run", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Dry run" in dry.output and "customer_data" in dry.output
    assert p.store.scalar("SELECT count() FROM retention_runs") == 0

    future = run(env, "retention", "run", "--as-of", (now + dt.timedelta(days=60)).strftime("%Y-%m-%d"))
    assert future.exit_code == 2 and "in the future" in future.output

    done = run(env, "retention", "run")
    assert done.exit_code == 0, done.output
    assert "removed" in done.output
    assert p.store.scalar("SELECT sum(rows['events']) FROM retention_runs WHERE step = 'customer_data'") == 9
    assert p.store.scalar("SELECT any(operator) FROM retention_runs") == "ops@engage.test"

    table = run(env, "retention", "status")
    assert table.exit_code == 0 and "last run:" in table.output and "customer_data" in table.output
    bad = run(env, "retention", "status", "--format", "xml")
    assert bad.exit_code == 2 and "table or json" in bad.output
