"""Creates the pipeline's topics before anything writes to them.

Relying on broker auto-creation would give every topic the broker default of one
partition and no policy-driven configuration; creating them explicitly keeps the
partition count and the per-topic configs in the settings and the policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError


class TopicSetupFailed(Exception):
    """The broker refused to create or configure a topic."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


def ensure_topics(bootstrap: str, specs: list[TopicSpec], timeout_ms: int = 30_000) -> list[str]:
    """Create missing topics and apply each spec's configs; returns the names that were created.

    Existing topics keep their partition count (shrinking is impossible and growing
    would move keys between partitions, breaking per-key order), but their configs
    are brought in line with the spec.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="lineage-topics", request_timeout_ms=timeout_ms)
    try:
        existing = set(admin.list_topics())
        created: list[str] = []
        for spec in specs:
            if spec.name in existing:
                continue
            request = {spec.name: {"num_partitions": spec.partitions, "replication_factor": 1,
                                   "configs": dict(spec.configs)}}
            try:
                admin.create_topics(request, timeout_ms=timeout_ms)
                created.append(spec.name)
            except TopicAlreadyExistsError:
                # Another process created it between our listing and our request.
                pass
            except KafkaError as exc:
                raise TopicSetupFailed(f"could not create topic {spec.name}: {exc}") from exc
        to_alter = [s for s in specs if s.configs and s.name not in created]
        if to_alter:
            try:
                admin.alter_configs(
                    [ConfigResource(ConfigResourceType.TOPIC, s.name, configs=dict(s.configs)) for s in to_alter]
                )
            except KafkaError as exc:
                raise TopicSetupFailed(f"could not configure topics: {exc}") from exc
        try:
            # Creation is acknowledged before every partition has a leader; the first produce
            # would otherwise race the election.
            admin.wait_for_topics([s.name for s in specs], timeout_ms=timeout_ms)
        except KafkaError as exc:
            raise TopicSetupFailed(f"topics did not become ready: {exc}") from exc
        return created
    finally:
        admin.close()
