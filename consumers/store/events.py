"""The tables the tagging consumer writes, and the columns it fills.

Every table switches on insert deduplication (it is off by default on a
non-replicated MergeTree): a batch redelivered after a crash carries the same
deduplication token and is not stored twice.
"""

from __future__ import annotations

DEDUP = "SETTINGS non_replicated_deduplication_window = 10000"

# Tables that hold personal data drop a part replaced by a mutation within seconds, not
# the default eight minutes: an erasure is done only when the old files are gone from disk.
PHYSICAL_ERASURE = (
    "old_parts_lifetime = 2, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, max_cleanup_delay_period = 2"
)
PERSONAL_TABLES = ("events", "identifiers", "rectifications", "retention_facts", "usage_daily")

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

# What went to the dead-letter topic and why: counts and reasons, never the payload.
DEAD_LETTERS = f"""
CREATE TABLE IF NOT EXISTS dead_letters (
    source_topic      LowCardinality(String),
    source_partition  UInt32,
    source_offset     UInt64,
    reason            LowCardinality(String),
    detail            String,
    schema_id         UInt32,
    event_type        LowCardinality(String),
    consumer_version  LowCardinality(String),
    dead_lettered_at  DateTime64(3, 'UTC')
) ENGINE = MergeTree
ORDER BY (source_topic, source_partition, source_offset)
{DEDUP}
"""

# Valid events the pipeline did not store because a person's choice stops them:
# an erasure, an objection, an opt-out. Positions and reasons, never the payload.
SUPPRESSED_EVENTS = f"""
CREATE TABLE IF NOT EXISTS suppressed_events (
    source_topic      LowCardinality(String),
    source_partition  UInt32,
    source_offset     UInt64,
    reason            LowCardinality(String),
    event_type        LowCardinality(String),
    policy_version    LowCardinality(String),
    suppressed_at     DateTime64(3, 'UTC')
) ENGINE = MergeTree
ORDER BY (source_topic, source_partition, source_offset)
{DEDUP}
"""

# The offset ranges of each flush, written before its rows: after a crash the consumer
# rebuilds exactly the ranges that share a flush token, and writes them under that token.
INGEST_BATCHES = f"""
CREATE TABLE IF NOT EXISTS ingest_batches (
    source_topic      LowCardinality(String),
    source_partition  UInt32,
    first_offset      UInt64,
    last_offset       UInt64,
    messages          UInt32,
    created_at        DateTime64(3, 'UTC'),
    flush_token       String COMMENT 'deduplication token of the flush that wrote this range with others'
) ENGINE = MergeTree
ORDER BY (source_topic, source_partition, first_offset)
{DEDUP}
"""

# Batches whose dead letters are on the topic: a replay or a redelivery after a
# crash rebuilds the batch but does not send its dead letters a second time.
PUBLISHED_DEAD_LETTERS = """
CREATE TABLE IF NOT EXISTS published_dead_letters (
    source_topic      LowCardinality(String),
    source_partition  UInt32,
    first_offset      UInt64,
    last_offset       UInt64,
    published_at      DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree
ORDER BY (source_topic, source_partition, first_offset, last_offset)
"""

ALL_DDL = (EVENTS, IDENTIFIERS, DEAD_LETTERS, SUPPRESSED_EVENTS, INGEST_BATCHES, PUBLISHED_DEAD_LETTERS)
# Brings a store made by an earlier version up to date; each statement is idempotent.
MIGRATIONS = (
    *(f"ALTER TABLE {t} MODIFY SETTING {PHYSICAL_ERASURE}" for t in ("events", "identifiers")),
    "ALTER TABLE identifiers ADD COLUMN IF NOT EXISTS retention_rule LowCardinality(String) AFTER event_type",
    "ALTER TABLE ingest_batches ADD COLUMN IF NOT EXISTS flush_token String",
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
DEAD_LETTER_COLUMNS = (
    "source_topic", "source_partition", "source_offset", "reason", "detail", "schema_id",
    "event_type", "consumer_version", "dead_lettered_at",
)  # fmt: skip
SUPPRESSED_COLUMNS = (
    "source_topic", "source_partition", "source_offset", "reason", "event_type", "policy_version", "suppressed_at",
)  # fmt: skip
# Where an event was read: unique per stored event, and how an identifier row names its event.
POSITION = "(source_topic, source_partition, source_offset)"
BATCH_COLUMNS = (
    "source_topic", "source_partition", "first_offset", "last_offset", "messages", "created_at", "flush_token",
)  # fmt: skip
