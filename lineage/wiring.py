"""The composer: the one place that builds the parts from the settings and connects them.

Which broker, which store, which key, which tables: decided here, once per
command, and handed down. The parts below never read the settings and never ask
which implementation they got. This is also where the parts meet: every part's
tables go to the store in one list (``TABLE_SETS``), the retention job's TTLs
follow the policy when the store opens, and a person's controls reach the usage
rollups through the ``Recount`` connected here.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from consumers.audit import chains as audit_chains
from consumers.audit.checkpoints import CheckpointBook, Signer
from consumers.audit.seal import Sealer
from consumers.audit.trail import AuditTrail
from consumers.identity.pseudonym import Pseudonymizer
from consumers.pipeline import tables as pipeline_tables
from consumers.pipeline.config import ConsumerConfig
from consumers.pipeline.consumer import FlushHook, TaggingConsumer
from consumers.policy.loader import load_policy
from consumers.policy.model import Policy
from consumers.policy.terms import Term
from consumers.retention import tables as retention_tables
from consumers.retention.plan import Planner
from consumers.retention.policy_schema import sync_policy_schema
from consumers.retention.run import RetentionRun
from consumers.rights import tables as rights_tables
from consumers.rights.dead_letters import DeadLetterPurge
from consumers.rights.office import RightsOffice
from consumers.rights.topics import TopicScan
from consumers.store import controls as controls_tables
from consumers.store import events as event_tables
from consumers.store import store as store_module
from consumers.store.controls import Controls
from consumers.store.places import Topics
from consumers.store.store import Store
from consumers.usage import rollups as usage_tables
from consumers.usage.rebuild import recount
from lineage.audit_topic import CheckpointTopic
from lineage.broker.local import LocalBroker
from lineage.settings import Settings
from lineage.topics import TopicSpec, ensure_topics
from schemas.models import FAMILIES

if TYPE_CHECKING:
    from lineage.lineage_events.jobs import LineageEvents

_DAY_MS = 86_400_000

# Every part's tables, in the order the store creates them: the shared tables first, a view after what it reads.
TABLE_SETS = (
    event_tables.TABLES,
    controls_tables.TABLES,
    pipeline_tables.TABLES,
    rights_tables.TABLES,
    retention_tables.TABLES,
    audit_chains.TABLES,  # chains the audit tables of the two sets before it
    usage_tables.TABLES,
)


class NoBroker(Exception):
    """No broker configured or running."""


def local_broker(settings: Settings) -> LocalBroker:
    """The broker `lineage kafka start` runs, with its jars and data under the home folder."""
    return LocalBroker(
        libs_dir=settings.kafka_home / "libs",
        data_dir=settings.kafka_home / "data",
        port=settings.kafka_port,
        controller_port=settings.kafka_controller_port,
        heap=settings.kafka_heap,
    )


def open_store(url: str, database: str, policy: Policy) -> Store:
    """The store with every part's tables, and the TTLs and retention facts the policy asks for."""
    store = store_module.open_store(url, database, TABLE_SETS)
    sync_policy_schema(store, policy)
    return store


def controls(store: Store) -> Controls:
    """The subject controls, with every change recounted in the usage rollups."""
    return Controls(store, recount(store))


def consumer_config(settings: Settings, bootstrap: str) -> ConsumerConfig:
    return ConsumerConfig(
        bootstrap=bootstrap,
        topics=tuple(settings.topic(f) for f in FAMILIES),
        group=settings.consumer_group,
        dead_letter_topic=settings.dead_letters,
        pseudonym_key=settings.pseudonym_secret(),
        instance_id=settings.instance_id(),
        session_timeout_ms=settings.consumer_session_timeout_ms,
        batch_max_records=settings.batch_max_records,
        batch_max_seconds=settings.batch_max_seconds,
        controls_refresh_seconds=settings.controls_refresh_seconds,
        bulk=settings.bulk,
        bulk_min_rows=settings.bulk_min_rows,
        store_retry_seconds=settings.store_retry_seconds,
        broker_retry_seconds=settings.broker_retry_seconds,
    )


def _retention(term: str) -> dict[str, str]:
    ms = Term.parse(term).milliseconds()
    # Kafka deletes whole segments only: a segment rolled daily keeps a message at most
    # a day longer than the term, where the default (weekly) would add a week.
    return {"cleanup.policy": "delete", "retention.ms": str(ms), "segment.ms": str(min(ms, _DAY_MS))}


def topic_specs(settings: Settings, policy: Policy) -> list[TopicSpec]:
    """The event topics and the dead-letter topic, with the retention the policy gives them."""
    raw = _retention(policy.topics.raw_events)
    specs = [TopicSpec(settings.topic(f), settings.topic_partitions, raw) for f in FAMILIES]
    return specs + [TopicSpec(settings.dead_letters, 1, _retention(policy.topics.dead_letters))]


# Parts that opened their store in this command: their audit rows are sealed when it ends.
_OPENED: list[Parts] = []


def seal_open_trails() -> list[str]:
    """Seal the audit chains of every store opened since the last call, where rows were appended; forget them.
    Returns a line for each seal that failed."""
    failed = []
    while _OPENED:
        parts = _OPENED.pop()
        if AuditTrail.of(parts.store).unsealed:
            try:
                parts.sealer.seal()
            except Exception as exc:  # a key, a folder, the store: told, and sealed with the next command
                failed.append(f"the audit chain was not sealed: {exc}")
    return failed


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


class Parts:
    """The parts one command uses, each built on first use from one settings object, and only once.

    The policy file is read and checked once, however many parts need it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def sharing(self, settings: Settings) -> Parts:
        """Parts with other settings (another operator, say) that share this one's policy and open store."""
        other = Parts(settings)
        other.__dict__.update({k: v for k, v in self.__dict__.items() if k in ("policy", "store")})
        return other

    @cached_property
    def policy(self) -> Policy:
        return load_policy(self.settings.policy_path)

    @cached_property
    def store(self) -> Store:
        store = open_store(self.settings.store_url, self.settings.clickhouse_database, self.policy)
        # Before any audit row is written: a chain whose newest rows the store lost goes on from its seal.
        AuditTrail.of(store).sealed = self.checkpoints.sealed_head
        _OPENED.append(self)
        return store

    @cached_property
    def checkpoints(self) -> CheckpointBook:
        return CheckpointBook(self.settings.audit_folder)

    @cached_property
    def checkpoint_topic(self) -> CheckpointTopic | None:
        """The audit checkpoints' topic, when a broker is configured or the local one runs."""
        try:
            return CheckpointTopic(self.bootstrap(), self.settings.audit_checkpoint_topic, self.checkpoints)
        except NoBroker:
            return None

    @cached_property
    def sealer(self) -> Sealer:
        topic = self.checkpoint_topic
        return Sealer(AuditTrail.of(self.store), Signer(self.settings.audit_key), self.checkpoints,
                      topic.publish if topic else None)  # fmt: skip

    def bootstrap(self, start_local: bool = False) -> str:
        """KAFKA_BOOTSTRAP_SERVERS if set; else the local broker, started if asked to."""
        if self.settings.kafka_bootstrap_servers:
            return self.settings.kafka_bootstrap_servers
        broker = local_broker(self.settings)
        if start_local:
            return broker.start()
        status = broker.status()
        if not status.running:
            raise NoBroker("no Kafka broker: run `lineage kafka start`, or set KAFKA_BOOTSTRAP_SERVERS")
        return status.bootstrap

    def topic_specs(self) -> list[TopicSpec]:
        return topic_specs(self.settings, self.policy)

    def prepare_topics(self, bootstrap: str) -> list[str]:
        """Create missing topics and bring every topic's retention in line with the policy."""
        return ensure_topics(bootstrap, self.topic_specs())

    def check_consumer_configuration(self) -> None:
        """Raise what is wrong with the consumer's own configuration: the policy file, the pseudonym key."""
        self.policy  # noqa: B018 - read and checked once, and kept
        Pseudonymizer(self.settings.pseudonym_secret())

    def consumer(self, bootstrap: str, after_store: FlushHook | None = None,
                 report: Callable[[str], None] | None = None) -> TaggingConsumer:  # fmt: skip
        """The tagging consumer on the configured store, group and topics; ``report`` hears its changes of state."""
        return TaggingConsumer(consumer_config(self.settings, bootstrap), self.store, self.policy,
                               after_store=after_store, report=report)  # fmt: skip

    def rights_office(self, operator: str | None = None) -> RightsOffice:
        """The rights office on the configured store; it purges the dead-letter topic when a broker answers."""
        pseudonyms = Pseudonymizer(self.settings.pseudonym_secret())
        try:
            bootstrap = self.bootstrap()
            purge, scan = DeadLetterPurge(bootstrap, self.settings.dead_letters), TopicScan(bootstrap)
        except NoBroker:
            purge, scan = None, None
        planner = Planner(self.store, self.policy)

        def kept_until(rule: str, tenant: str, occurred_at: dt.datetime) -> dt.datetime | None:
            return planner.term_end(rule, tenant, occurred_at, dt.datetime.now(dt.UTC))

        return RightsOffice(self.store, self.policy, pseudonyms, operator or self.settings.operator,
                            self.settings.exports_folder, recount(self.store), purge, kept_until, self.topics(),
                            scan)  # fmt: skip

    @cached_property
    def lineage_events(self) -> LineageEvents:
        """The OpenLineage run events of the jobs, through the client's configured transport (or none: off)."""
        # Imported here: the client costs a fifth of a second, which a command without jobs need not pay.
        from lineage.lineage_events.client import Emitter, build_client
        from lineage.lineage_events.jobs import LineageEvents
        from lineage.lineage_events.naming import Places
        from lineage.lineage_events.runs import Runs

        s = self.settings
        client = build_client(s.openlineage_file) if s.openlineage else None
        runs = Runs(Emitter(client) if client else None, s.openlineage_namespace, s.openlineage_running_seconds,
                    s.openlineage_wait_seconds)  # fmt: skip
        # Named without asking the local broker: a command that needs none (a rectification) is not held up.
        places = Places(s.kafka_bootstrap_servers or local_broker(s).bootstrap, s.store_url, s.clickhouse_database,
                        tuple((f, s.topic(f)) for f in FAMILIES), s.dead_letters, s.exports_folder)  # fmt: skip
        return LineageEvents(runs, places, lambda: self.store, lambda: self.policy.version)

    def retention_run(self, operator: str | None = None) -> RetentionRun:
        return RetentionRun(self.store, self.policy, operator or self.settings.operator or "retention", self.topics())

    def topics(self) -> Topics:
        """The raw event topics and the dead-letter topic, with the retention ``topic_specs`` gives them."""
        raw_ms = Term.parse(self.policy.topics.raw_events).milliseconds()
        dead_ms = Term.parse(self.policy.topics.dead_letters).milliseconds()
        return Topics(tuple(self.settings.topic(f) for f in FAMILIES), dt.timedelta(milliseconds=raw_ms),
                      self.settings.dead_letters, dt.timedelta(milliseconds=dead_ms),
                      dt.timedelta(milliseconds=min(raw_ms, _DAY_MS)))  # fmt: skip
