"""Builds the real parts from the settings: which broker, which store, which key.

The rest of the code receives what this module returns and never asks which
implementation it got.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from consumers.policy import Policy, load_policy
from consumers.retention.terms import Term
from consumers.store import Store, open_store
from lineage.broker import LocalBroker
from lineage.settings import Settings
from lineage.topics import TopicSpec, ensure_topics
from schemas.models import FAMILIES

if TYPE_CHECKING:
    from consumers.rights.office import RightsOffice


_DAY_MS = 86_400_000


class NoBroker(Exception):
    """No broker configured or running."""


def bootstrap_servers(settings: Settings, start_local: bool = False) -> str:
    """KAFKA_BOOTSTRAP_SERVERS if set; else the local broker, started if asked to."""
    if settings.kafka_bootstrap_servers:
        return settings.kafka_bootstrap_servers
    broker = LocalBroker.from_settings(settings)
    if start_local:
        return broker.start()
    status = broker.status()
    if not status.running:
        raise NoBroker("no Kafka broker: run `lineage kafka start`, or set KAFKA_BOOTSTRAP_SERVERS")
    return status.bootstrap


def _retention(term: str) -> dict[str, str]:
    ms = Term.parse(term).milliseconds()
    # Kafka deletes whole segments only: a segment rolled daily keeps a message at most
    # a day longer than the term, where the default (weekly) would add a week.
    return {"cleanup.policy": "delete", "retention.ms": str(ms), "segment.ms": str(min(ms, _DAY_MS))}


def topic_specs(settings: Settings, policy: Policy) -> list[TopicSpec]:
    """The event topics and the dead-letter topic, with the retention the policy gives them."""
    raw = _retention(policy.topics.raw_events)
    specs = [TopicSpec(settings.topic(f), settings.topic_partitions, raw) for f in FAMILIES]
    return specs + [TopicSpec(settings.dead_letter_topic, 1, _retention(policy.topics.dead_letters))]


def prepare_topics(settings: Settings, bootstrap: str) -> list[str]:
    """Create missing topics and bring every topic's retention in line with the policy."""
    return ensure_topics(bootstrap, topic_specs(settings, load_policy(settings.policy_path)))


def store(settings: Settings) -> Store:
    return open_store(settings.store_url, settings.clickhouse_database, load_policy(settings.policy_path))


def demo_key(settings: Settings) -> Settings:
    """The demo's settings with a pseudonym key: the configured one, else one kept in the home folder."""
    if settings.pseudonym_key or settings.pseudonym_key_file:
        return settings
    path: Path = settings.home / "pseudonym.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return settings.model_copy(update={"pseudonym_key_file": path})


def rights_office(settings: Settings, operator: str | None = None) -> RightsOffice:
    """The rights office on the configured store; it purges the dead-letter topic when a broker answers."""
    from consumers.pseudonym import Pseudonymizer
    from consumers.rights.dead_letters import DeadLetterPurge
    from consumers.rights.office import RightsOffice

    pseudonyms = Pseudonymizer(settings.pseudonym_secret())
    try:
        purge = DeadLetterPurge(bootstrap_servers(settings), settings.dead_letter_topic)
    except NoBroker:
        purge = None
    return RightsOffice(store(settings), load_policy(settings.policy_path), pseudonyms,
                        operator or settings.operator, settings.exports_folder, purge)  # fmt: skip
