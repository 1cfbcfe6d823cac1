"""Fixtures for tests that run the real pipeline: the real broker, the real engine.

Each test gets its own topics, consumer group and database on the session's one
broker and one embedded engine (chDB holds one engine per process).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from consumers.pipeline.consumer import ConsumeStats, TaggingConsumer
from consumers.policy.loader import load_policy
from consumers.policy.model import Policy
from consumers.store.store import Store
from lineage.settings import Settings
from lineage.wiring import Parts, consumer_config, open_store
from producers.sdk import EventProducer
from schemas.models import Event

TEST_KEY = "test-pseudonym-key-0123456789abcdef"


@pytest.fixture(scope="session")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return os.environ.get("CLICKHOUSE_URL") or f"chdb://{tmp_path_factory.mktemp('store')}"


@dataclass
class Pipeline:
    settings: Settings
    store: Store
    bootstrap: str

    def produce(self, events: Iterable[Event]) -> int:
        with EventProducer(self.bootstrap, self.settings.topic_prefix) as producer:
            return producer.send_and_wait(events)

    def consumer(self, policy: Policy | None = None, **kw) -> TaggingConsumer:
        config = consumer_config(self.settings, self.bootstrap)
        return TaggingConsumer(config, self.store, policy or load_policy(), **kw)

    def consumer_with(self, **settings) -> TaggingConsumer:
        """A consumer on the same topics and store with other settings (another group, another batch size)."""
        config = consumer_config(self.settings.model_copy(update=settings), self.bootstrap)
        return TaggingConsumer(config, self.store, load_policy())

    def consume(self, policy: Policy | None = None, until_idle: float = 1.5, **kw) -> ConsumeStats:
        return self.consumer(policy, **kw).run(until_idle=until_idle)

    def dead_letter_messages(self, expect: int, timeout_s: float = 20) -> list:
        consumer = KafkaConsumer(
            self.settings.dead_letters,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=int(timeout_s * 1000),
        )
        out = []
        try:
            for msg in consumer:
                out.append(msg)
                if len(out) >= expect:
                    break
        finally:
            consumer.close()
        return out


@pytest.fixture
def make_pipeline(kafka_bootstrap: str, store_url: str, tmp_path: Path) -> Iterator[Callable[..., Pipeline]]:
    made: list[Pipeline] = []

    def make(**overrides) -> Pipeline:
        name = uuid.uuid4().hex[:10]
        defaults = dict(
            home=tmp_path / "home",
            kafka_bootstrap_servers=kafka_bootstrap,
            clickhouse_url=store_url,
            clickhouse_database=f"test_{name}",
            topic_prefix=f"test-{name}",
            dead_letter_topic=f"test-{name}.dead-letter",
            consumer_group=f"test-{name}",
            topic_partitions=2,
            pseudonym_key=TEST_KEY,
            batch_max_seconds=0.3,
        )
        settings = Settings(**(defaults | overrides))
        store = open_store(settings.store_url, settings.clickhouse_database, load_policy())
        Parts(settings).prepare_topics(kafka_bootstrap)
        pipeline = Pipeline(settings, store, kafka_bootstrap)
        made.append(pipeline)
        return pipeline

    yield make
    for p in made:
        p.store.drop()


@pytest.fixture
def pipeline(make_pipeline: Callable[..., Pipeline]) -> Pipeline:
    return make_pipeline()
