"""The one settings object.

Built once at the edge (the CLI, a service start, a test fixture) and passed
down; no other module reads the environment. Every field can be set by an
environment variable named ``LINEAGE_<FIELD>``; the two addresses that other
tools in the Kafka and ClickHouse world already use are also read under their
customary names, ``KAFKA_BOOTSTRAP_SERVERS`` and ``CLICKHOUSE_URL``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.models import topic_name


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINEAGE_", extra="ignore", populate_by_name=True)

    home: Path = Field(
        default=Path(".lineage"),
        description="Working folder: cached Kafka jars, the local broker's data, the embedded store.",
    )

    # --- Kafka -----------------------------------------------------------------
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "LINEAGE_KAFKA_BOOTSTRAP_SERVERS"),
        description="An existing broker to use. Unset: the local broker that `lineage kafka start` runs.",
    )
    kafka_port: int = Field(default=19092, description="Client port of the local broker.")
    kafka_controller_port: int = Field(default=19093, description="KRaft controller port of the local broker.")
    kafka_heap: str = Field(default="512m", description="Heap (-Xmx/-Xms) of the local broker's JVM.")
    topic_prefix: str = Field(default="engage", description="Event topics are <prefix>.<family>.")
    topic_partitions: int = Field(default=3, ge=1)
    dead_letter_topic: str | None = Field(
        default=None, description="Where refused messages go. Unset: <prefix>.dead-letter, so pipelines with "
        "different prefixes never share one.",
    )
    consumer_group: str = Field(default="lineage-tagger")
    consumer_session_timeout_ms: int = Field(
        default=45_000,
        ge=6_000,
        description="How long the group waits for a silent consumer before handing its partitions to another "
        "consumer. A consumer restarted under the same instance id gets them back at once.",
    )
    consumer_instance_id: str | None = Field(
        default=None,
        description="This consumer's static member id in the group (Kafka's group.instance.id); each consumer of a "
        "group needs its own. Unset: derived from the host, the home folder and the group.",
    )
    store_retry_seconds: float = Field(
        default=60.0, gt=0, description="How long the consumer waits for a store that fails before it exits (code 4)."
    )
    broker_retry_seconds: float = Field(
        default=60.0, gt=0, description="How long the consumer waits for a broker that fails before it exits (code 5)."
    )

    # --- ClickHouse --------------------------------------------------------------
    clickhouse_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CLICKHOUSE_URL", "LINEAGE_CLICKHOUSE_URL"),
        description="chdb://<path> for the embedded engine (chdb:///abs/path or chdb://relative/path), http(s)://user:pass@host:port for a server. "
        "Unset: chdb://<home>/store.",
    )
    clickhouse_database: str = Field(default="lineage")

    # --- Consumer -----------------------------------------------------------------
    batch_max_records: int = Field(
        default=100_000, ge=1, description="Flush once the batches of all partitions hold this many messages."
    )
    batch_max_seconds: float = Field(default=0.25, gt=0, description="... or once the oldest batch is this old.")
    controls_refresh_seconds: float = Field(
        default=1.0, gt=0, description="How often the consumer re-reads erasures, restrictions and objections."
    )
    bulk: bool = Field(
        default=True,
        description="Let the engine decode, check and tag a flush's messages (the bulk path). False: every message "
        "is read one by one in Python, as the reference path does.",
    )
    bulk_min_rows: int = Field(
        default=64, ge=1, description="The fewest messages of one schema in a flush that go to the engine together."
    )

    # --- Policy and identity ------------------------------------------------------
    policy_path: Path | None = Field(
        default=None, description="Policy file to tag with. Unset: the policy shipped in consumers/policy/policy.yaml."
    )
    pseudonym_key: SecretStr | None = Field(
        default=None,
        description="Secret for the keyed hash (HMAC-SHA256) that turns a business e-mail into a subject id.",
    )
    pseudonym_key_file: Path | None = Field(
        default=None,
        description="A file holding that secret, instead of LINEAGE_PSEUDONYM_KEY "
        "(`lineage demo` keeps one in <home>/pseudonym.key).",
    )
    operator: str | None = Field(default=None, description="Who runs privacy commands, for the access log.")
    export_base: Path | None = Field(
        default=None, description="Access exports are written only inside this folder. Unset: <home>/exports."
    )

    # --- The service (`lineage serve`) ------------------------------------------------
    serve_host: str = Field(
        default="127.0.0.1",
        description="Address the service listens on. The default answers this machine only; put a TLS proxy in "
        "front before listening anywhere else (README, The service).",
    )
    serve_port: int = Field(default=8787, ge=1, le=65535, description="Port the service listens on.")
    retention_schedule: str = Field(
        default="03:30",
        description="When the service runs retention each day, HH:MM or HH:MM:SS in Europe/Amsterdam (03:30 exists "
        "and is unique on every day, daylight saving included); 'off' for never.",
    )
    tokens_file: Path | None = Field(
        default=None, description="The API tokens' hashes (`lineage token`). Unset: <home>/tokens.json."
    )
    cookie_secure: bool = Field(
        default=False,
        description="Mark the pages' session cookie Secure (browsers then send it over HTTPS only): set it when the "
        "service is reached through a TLS proxy.",
    )
    session_hours: float = Field(default=8.0, gt=0, description="How long a login to the pages lasts.")

    # --- The audit chain (consumers/audit/; README, The audit chain) ----------------------------
    audit_key_file: Path | None = Field(
        default=None, description="The Ed25519 key that signs the audit checkpoints (PEM; created on first use, mode "
        "0600). Keep it outside the store. Unset: <home>/audit/signing-key.pem.",
    )
    audit_checkpoints: Path | None = Field(
        default=None, description="The folder of checkpoint files. Unset: <home>/audit/checkpoints."
    )
    audit_topic: str | None = Field(
        default=None, description="The compacted topic every checkpoint is also written to, when a broker answers. "
        "Unset: <prefix>.audit-checkpoints.",
    )
    audit_seal_seconds: float = Field(
        default=300.0, gt=0, description="How often the service seals the audit chains when rows were added."
    )

    # --- OpenLineage run events (lineage/lineage_events/; README, OpenLineage) -------------------
    # The transport is the OpenLineage client's own configuration (OPENLINEAGE_CONFIG, openlineage.yml,
    # OPENLINEAGE__TRANSPORT__*, OPENLINEAGE_URL); without one, events are appended to openlineage_file.
    openlineage: bool = Field(
        default=True, description="Send OpenLineage run events; off for none (the client's OPENLINEAGE_DISABLED=true "
        "works too).",
    )
    openlineage_namespace: str = Field(default="engage-lineage", description="The namespace of the jobs.")
    openlineage_running_seconds: float = Field(
        default=60.0, gt=0, description="How often the running consumer sends a RUNNING event with its counts so far."
    )
    openlineage_wait_seconds: float = Field(
        default=5.0, ge=0, description="How long a command waits at its end for its events to be sent before it "
        "ends without them.",
    )

    @field_validator("retention_schedule")
    @classmethod
    def _time_of_day(cls, v: str) -> str:
        v = v.strip().lower()
        if v != "off":
            try:
                dt.time.fromisoformat(v)
            except ValueError:
                raise ValueError(f"a time of day HH:MM or HH:MM:SS, or 'off', not {v!r}") from None
        return v

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @property
    def store_url(self) -> str:
        return self.clickhouse_url or f"chdb://{self.home / 'store'}"

    @property
    def audit_key(self) -> Path:
        return (self.audit_key_file or self.home / "audit" / "signing-key.pem").expanduser().resolve()

    @property
    def audit_folder(self) -> Path:
        return (self.audit_checkpoints or self.home / "audit" / "checkpoints").expanduser().resolve()

    @property
    def audit_checkpoint_topic(self) -> str:
        return self.audit_topic or f"{self.topic_prefix}.audit-checkpoints"

    @property
    def exports_folder(self) -> Path:
        return (self.export_base or self.home / "exports").expanduser().resolve()

    def pseudonym_secret(self) -> bytes | None:
        """The pseudonym key from the settings or the key file; None when neither is set."""
        if self.pseudonym_key:
            return self.pseudonym_key.get_secret_value().encode()
        if self.pseudonym_key_file:
            return self.pseudonym_key_file.expanduser().read_text(encoding="utf-8").strip().encode() or None
        return None

    def instance_id(self) -> str:
        """The consumer's static member id: the configured one, else one per host, home folder and group."""
        if self.consumer_instance_id:
            return self.consumer_instance_id
        where = hashlib.sha256(f"{self.home}|{self.consumer_group}".encode()).hexdigest()[:10]
        return f"lineage-{socket.gethostname()}-{where}"

    @property
    def openlineage_file(self) -> Path:
        """Where run events are appended when the OpenLineage client is given no transport of its own."""
        return self.home / "openlineage" / "events.jsonl"

    @property
    def tokens_path(self) -> Path:
        return (self.tokens_file or self.home / "tokens.json").expanduser().resolve()

    @property
    def kafka_home(self) -> Path:
        return self.home / "kafka"

    @property
    def dead_letters(self) -> str:
        """The dead-letter topic: the configured one, else the prefix's own."""
        return self.dead_letter_topic or f"{self.topic_prefix}.dead-letter"

    def topic(self, family: str) -> str:
        return topic_name(self.topic_prefix, family)
