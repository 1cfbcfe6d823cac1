"""The tables every part shares: ``events`` (tagged, pseudonymous) and ``identifiers`` (the direct identifiers).

The tagging consumer writes them; the rights office exports, erases and rectifies
them; retention expires them; usage counts them. Both switch on insert
deduplication, so a batch redelivered after a crash is not stored twice.
"""

from __future__ import annotations

from consumers.store.store import Store
from consumers.store.tables import DEDUP, PHYSICAL_ERASURE, TableSet

# Column codecs where the default (LZ4) leaves most to gain, measured on simulated events: times
# in key order compress as deltas, offsets through T64, text and arrays better with ZSTD. Together
# they took a third off the bytes stored per event; the insert pays a little more CPU in the engine.
TIME = "CODEC(Delta, ZSTD(1))"
OFFSET = "CODEC(T64, ZSTD(1))"
TEXT = "CODEC(ZSTD(1))"
CODECS = {
    "events": (("occurred_at", "DateTime64(3, 'UTC')", TIME), ("subject_ids", "Array(String)", TEXT),
               ("actor_id", "String", TEXT), ("components", "Array(LowCardinality(String))", TEXT),
               ("attributes", "Map(LowCardinality(String), String)", TEXT), ("source_offset", "UInt64", OFFSET)),
    "identifiers": (("subject_id", "String", TEXT), ("event_type", "LowCardinality(String)", TEXT),
                    ("occurred_at", "DateTime64(3, 'UTC')", TIME), ("source_offset", "UInt64", OFFSET)),
}  # fmt: skip


def _codec(table: str, column: str) -> str:
    return next(c for name, _, c in CODECS[table] if name == column)


EVENTS = f"""
CREATE TABLE IF NOT EXISTS events (
    event_id          UUID,
    event_type        LowCardinality(String),
    family            LowCardinality(String),
    occurred_at       DateTime64(3, 'UTC') {_codec("events", "occurred_at")},
    tenant_id         LowCardinality(String),
    subject_ids       Array(String) {_codec("events", "subject_ids")} COMMENT 'HMAC-SHA256 of each person''s normalised e-mail',
    subject_roles     Array(LowCardinality(String)) COMMENT 'role of the person at the same index',
    actor_id          String {_codec("events", "actor_id")} COMMENT 'who acted: actor, else last updater, else creator',
    components        Array(LowCardinality(String)) {_codec("events", "components")},
    attributes        Map(LowCardinality(String), String) {_codec("events", "attributes")}
                      COMMENT 'payload fields that identify nobody',
    activities        Array(LowCardinality(String)),
    purposes          Array(LowCardinality(String)),
    data_uses         Array(LowCardinality(String)) COMMENT 'fideslang data use, per purpose',
    legal_bases       Array(LowCardinality(String)) COMMENT 'GDPR Art. 6(1) basis, per purpose',
    data_categories   Array(LowCardinality(String)),
    data_subject      LowCardinality(String),
    recipients        Array(LowCardinality(String)),
    retention_rule    LowCardinality(String),
    region            LowCardinality(String),
    policy_version    LowCardinality(String),
    source_topic      LowCardinality(String),
    source_partition  UInt32,
    source_offset     UInt64 {_codec("events", "source_offset")},
    schema_id         UInt32,
    producer_service  LowCardinality(String),
    producer_version  LowCardinality(String),
    consumer_version  LowCardinality(String),
    ingested_at       DateTime64(3, 'UTC'),
    INDEX subjects_idx subject_ids TYPE bloom_filter(0.01) GRANULARITY 4
) ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, event_type, occurred_at)
{DEDUP}, {PHYSICAL_ERASURE}
"""

# Direct identifiers, apart from the analytics rows, keyed by subject id. A row names its
# event by the event's source position (topic, partition, offset), unique per stored event:
# in subject order that costs a few bytes a row, where a random event id cost sixteen,
# over a third of everything stored per event.
IDENTIFIERS = f"""
CREATE TABLE IF NOT EXISTS identifiers (
    subject_id        String {_codec("identifiers", "subject_id")},
    field             LowCardinality(String),
    value             String,
    tenant_id         LowCardinality(String),
    event_type        LowCardinality(String) {_codec("identifiers", "event_type")},
    retention_rule    LowCardinality(String)        COMMENT 'the event''s rule; the TTL reads it',
    occurred_at       DateTime64(3, 'UTC') {_codec("identifiers", "occurred_at")},
    source_topic      LowCardinality(String),
    source_partition  UInt32,
    source_offset     UInt64 {_codec("identifiers", "source_offset")},
    ingested_at       DateTime64(3, 'UTC')
) ENGINE = MergeTree
ORDER BY (subject_id, field, occurred_at)
{DEDUP}, {PHYSICAL_ERASURE}
"""

# Brings a store made by an earlier version up to date; each statement is idempotent.
MIGRATIONS = (
    *(f"ALTER TABLE {t} MODIFY SETTING {PHYSICAL_ERASURE}" for t in ("events", "identifiers")),
    "ALTER TABLE identifiers ADD COLUMN IF NOT EXISTS retention_rule LowCardinality(String) AFTER event_type",
    # New parts of an older store take the codecs; merges rewrite the old ones.
    *(f"ALTER TABLE {t} MODIFY COLUMN {c} {typ} {codec}" for t, cols in CODECS.items() for c, typ, codec in cols),
)

EVENT_COLUMNS = (
    "event_id", "event_type", "family", "occurred_at", "tenant_id", "subject_ids", "subject_roles",
    "actor_id", "components", "attributes", "activities", "purposes", "data_uses", "legal_bases",
    "data_categories", "data_subject", "recipients", "retention_rule", "region", "policy_version",
    "source_topic", "source_partition", "source_offset", "schema_id", "producer_service",
    "producer_version", "consumer_version", "ingested_at",
)  # fmt: skip
IDENTIFIER_COLUMNS = (
    "subject_id", "field", "value", "tenant_id", "event_type", "retention_rule", "occurred_at",
    "source_topic", "source_partition", "source_offset", "ingested_at",
)  # fmt: skip
# Where an event was read: unique per stored event, and how an identifier row names its event.
POSITION = "(source_topic, source_partition, source_offset)"


def identifiers_by_position(store: Store) -> None:
    """Bring identifiers written with an event id over to naming their event by its source position."""
    columns = {c for (c,) in store.rows(
        "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'identifiers'")}  # fmt: skip
    if "event_id" not in columns:
        return
    # A value completed by rectification carried its anchor event's id and no position: give it the
    # event's position, or retention would no longer find it when that event goes.
    for (event_id,) in store.rows(
        "SELECT DISTINCT event_id FROM identifiers WHERE source_topic = '' AND event_id != toUUIDOrZero('')"
    ):
        found = store.rows("SELECT source_topic, source_partition, source_offset FROM events"
                           " WHERE event_id = {e:UUID} LIMIT 1", {"e": event_id})  # fmt: skip
        if found:
            t, p, o = found[0]
            store.command(
                "ALTER TABLE identifiers UPDATE source_topic = {t:String}, source_partition = {p:UInt32},"
                " source_offset = {o:UInt64} WHERE source_topic = '' AND event_id = {e:UUID}",
                {"t": t, "p": p, "o": o, "e": event_id}, {"mutations_sync": 2},
            )  # fmt: skip
    store.command("ALTER TABLE identifiers DROP COLUMN event_id", settings={"mutations_sync": 2})


TABLES = TableSet("events", (EVENTS, IDENTIFIERS), MIGRATIONS, identifiers_by_position)
