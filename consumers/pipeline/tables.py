"""The tagging consumer's own tables: what it could not store and why, and the record of each flush.

``events`` and ``identifiers``, which it fills for everyone, are the store's
(``consumers/store/events.py``). These four only the pipeline writes; ``ingest_batches``
and ``stored_flushes`` are the flush log (``consumers/pipeline/flush_log.py``).
"""

from __future__ import annotations

from consumers.pipeline.flush_log import TOKEN
from consumers.store.tables import DEDUP, TableSet

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

# Valid events the pipeline did not store because a person's choice stops them (an erasure,
# an objection, an opt-out), or because the same event is stored already (a producer's retry:
# reason duplicate_event). Positions and reasons, never the payload.
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

# Flushes whose rows are all stored and whose dead letters are on the topic. Created once from
# the ranges an earlier version recorded (it knew no such mark): those flushes count as whole.
STORED_FLUSHES = f"""
CREATE TABLE IF NOT EXISTS stored_flushes (
    flush_token  String,
    stored_at    DateTime64(3, 'UTC')
) ENGINE = MergeTree
ORDER BY flush_token
AS SELECT DISTINCT {TOKEN} AS flush_token, now64(3) AS stored_at FROM ingest_batches
"""

DEAD_LETTER_COLUMNS = (
    "source_topic", "source_partition", "source_offset", "reason", "detail", "schema_id",
    "event_type", "consumer_version", "dead_lettered_at",
)  # fmt: skip
SUPPRESSED_COLUMNS = (
    "source_topic", "source_partition", "source_offset", "reason", "event_type", "policy_version", "suppressed_at",
)  # fmt: skip
BATCH_COLUMNS = (
    "source_topic", "source_partition", "first_offset", "last_offset", "messages", "created_at", "flush_token",
)  # fmt: skip

# Ranges recorded before flushes spanned several partitions carry no token; the column comes
# before the flush log's backfill reads it.
_ADD_TOKEN = "ALTER TABLE ingest_batches ADD COLUMN IF NOT EXISTS flush_token String"

TABLES = TableSet("pipeline", (DEAD_LETTERS, SUPPRESSED_EVENTS, INGEST_BATCHES, _ADD_TOKEN, STORED_FLUSHES))
