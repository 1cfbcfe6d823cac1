"""The store's insert path: rows written through the compiled Native codec read back exactly."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest

from consumers.pipeline.batch import OffsetRange, PartitionBatch, flush_token
from consumers.pipeline.flush_log import FlushLog, Resume
from consumers.pipeline.sink import ClickHouseSink
from consumers.policy.loader import load_policy
from consumers.store.driver import CompiledInserts
from consumers.store.events import EVENT_COLUMNS, EVENTS, IDENTIFIER_COLUMNS
from consumers.store.store import Store
from lineage.wiring import TABLE_SETS, open_store


@pytest.fixture
def store(store_url: str):
    s = open_store(store_url, f"test_store_{uuid.uuid4().hex[:8]}", load_policy())
    yield s
    s.drop()


def _event(offset: int, occurred_ms: int, ingested_ms: int) -> tuple:
    values = {
        "event_id": str(uuid.UUID(int=offset + 1)), "event_type": "usage.record_created", "family": "usage",
        "occurred_at": occurred_ms, "tenant_id": "tenant-ü", "subject_ids": ["a" * 64, "b" * 64],
        "subject_roles": ["creator", "last_updater"], "actor_id": "a" * 64, "components": ["process-portal"],
        "attributes": {"record_id": "r-1", "note": "quote ' and \\ and é"}, "activities": ("B2",),
        "purposes": ("product_insight",), "data_uses": ("functional.service.improve",),
        "legal_bases": ("legitimate_interest",), "data_categories": ("user.behavior",), "data_subject": "customer",
        "recipients": ("staff",), "retention_rule": "customer_data", "region": "NL", "policy_version": "p1",
        "source_topic": "t.usage", "source_partition": 3, "source_offset": offset, "schema_id": 7,
        "producer_service": "engage-app", "producer_version": "7.4.2", "consumer_version": "c1",
        "ingested_at": ingested_ms,
    }  # fmt: skip
    return tuple(values[c] for c in EVENT_COLUMNS)


@pytest.mark.skipif(os.environ.get("CLICKHOUSE_URL", "chdb").startswith("http"), reason="the embedded engine's client")
def test_the_embedded_store_builds_inserts_with_the_compiled_codec(store: Store) -> None:
    transform = store.insert_codec()
    assert isinstance(transform, CompiledInserts)
    assert type(transform.writer).__name__ == "_RustNativeTransform"


def test_every_column_type_reads_back_as_written(store: Store) -> None:
    occurred = dt.datetime(2026, 3, 29, 0, 59, 59, 999000, tzinfo=dt.UTC)  # the night the clocks go forward
    ingested = dt.datetime(2026, 11, 25, 12, 0, 0, 1000, tzinfo=dt.UTC)
    batch = PartitionBatch("t.usage", 3, 10)
    for offset in (10, 11):
        batch.add_event(_event(offset, int(occurred.timestamp() * 1000), int(ingested.timestamp() * 1000)))
        batch.add_identifier(("a" * 64, "email", f"x{offset}@example.nl", "tenant-ü", "usage.record_created",
                              "customer_data", int(occurred.timestamp() * 1000), "t.usage", 3, offset,
                              int(ingested.timestamp() * 1000)))  # fmt: skip
        batch.last_offset = offset
    ClickHouseSink(store, "c1", "p1", "flush_keys_test").write([batch])

    got = store.rows(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events ORDER BY source_offset")
    assert len(got) == 2
    row = dict(zip(EVENT_COLUMNS, got[0], strict=True))
    assert row["event_id"] == uuid.UUID(int=11)
    assert row["occurred_at"].replace(tzinfo=dt.UTC) == occurred
    assert row["ingested_at"].replace(tzinfo=dt.UTC) == ingested
    assert row["attributes"] == {"record_id": "r-1", "note": "quote ' and \\ and é"}
    assert row["tenant_id"] == "tenant-ü"
    assert row["subject_roles"] == ["creator", "last_updater"] and row["purposes"] == ["product_insight"]
    assert (row["source_partition"], row["source_offset"], row["schema_id"]) == (3, 10, 7)
    idents = store.rows(f"SELECT {', '.join(IDENTIFIER_COLUMNS)} FROM identifiers ORDER BY source_offset")
    assert [r[2] for r in idents] == ["x10@example.nl", "x11@example.nl"]
    assert idents[1][IDENTIFIER_COLUMNS.index("source_offset")] == 11


def _two_partitions() -> list[PartitionBatch]:
    batches = []
    for partition in (0, 1):
        b = PartitionBatch("t.usage", partition, 0)
        b.add_event(_event(partition, 1_790_000_000_000, 1_795_000_000_000))
        b.last_offset = 0
        batches.append(b)
    return batches


def test_a_flush_written_twice_under_its_token_is_stored_once(store: Store) -> None:
    batches = _two_partitions()
    sink = ClickHouseSink(store, "c1", "p1", "flush_keys_test")
    token, duplicates = sink.write(batches)
    assert token == flush_token([OffsetRange("t.usage", 1, 0, 0), OffsetRange("t.usage", 0, 0, 0)])
    assert sink.write(batches, token) == (token, 0)  # its own rows, at their own positions, are no duplicates
    assert (duplicates, store.scalar("SELECT count() FROM events")) == (0, 2)


def test_a_recorded_flush_not_marked_stored_is_the_one_to_finish(store: Store) -> None:
    log = FlushLog(store)
    token, _ = ClickHouseSink(store, "c1", "p1", "flush_keys_test").write(_two_partitions())
    resume = log.resume("t.usage", 1)
    assert resume.next_offset == 1 and resume.unfinished is not None and resume.unfinished.token == token
    assert resume.unfinished.ranges == (OffsetRange("t.usage", 0, 0, 0), OffsetRange("t.usage", 1, 0, 0))
    log.mark_stored(token)
    assert log.resume("t.usage", 1) == Resume(1, None)
    assert log.resume("t.usage", 7) == Resume(None, None)


def test_an_event_stored_already_at_another_position_is_not_stored_again(store: Store) -> None:
    sink = ClickHouseSink(store, "c1", "p1", "flush_keys_test")
    sink.write(_two_partitions())
    again = PartitionBatch("t.usage", 0, 5)
    again.add_event(_event(1, 1_790_000_000_000, 1_795_000_000_000)[:22] + (5,) + _event(1, 0, 0)[23:])
    again.add_event(_event(6, 1_790_000_000_000, 1_795_000_000_000)[:22] + (6,) + _event(6, 0, 0)[23:])
    again.last_offset = 6
    _, duplicates = sink.write([again])
    assert duplicates == 1
    assert store.scalar("SELECT count() FROM events") == 3
    assert store.rows("SELECT source_offset, reason FROM suppressed_events") == [(5, "duplicate_event")]


def test_a_range_recorded_by_a_single_partition_version_is_rebuilt_on_its_own(store: Store) -> None:
    store.command("INSERT INTO ingest_batches (source_topic, source_partition, first_offset, last_offset, messages,"
                  " created_at) VALUES ('t.usage', 2, 40, 59, 20, now64(3))")  # fmt: skip
    recorded = FlushLog(store).resume("t.usage", 2).unfinished
    assert recorded is not None
    assert recorded.ranges == (OffsetRange("t.usage", 2, 40, 59),)
    assert recorded.token == "t.usage/2/40-59"  # the token that version wrote the range's rows under


def test_a_store_with_event_ids_in_identifiers_moves_to_positions(store_url: str) -> None:
    """A store made before identifiers named their event by position keeps every tie to its events."""
    from consumers.store.store import Store

    old = Store(store_url, f"test_store_old_{uuid.uuid4().hex[:8]}")
    try:
        old.command("""CREATE TABLE identifiers (subject_id String, field LowCardinality(String), value String,
            tenant_id LowCardinality(String), event_id UUID, event_type LowCardinality(String),
            retention_rule LowCardinality(String), occurred_at DateTime64(3, 'UTC'),
            source_topic LowCardinality(String), source_partition UInt32, source_offset UInt64,
            ingested_at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY (subject_id, field, occurred_at)""")
        old.command(EVENTS)
        anchor = uuid.UUID(int=77)
        old.command("INSERT INTO events (event_id, source_topic, source_partition, source_offset) VALUES"
                    " ({e:UUID}, 't.usage', 4, 1234)", {"e": str(anchor)})  # fmt: skip
        old.command("INSERT INTO identifiers (subject_id, field, value, event_id, event_type, source_topic) VALUES"
                    " ('s1', 'email', 'a@x.nl', {e:UUID}, 'usage.record_created', 't.usage'),"
                    " ('s1', 'phone', '0612345678', {e:UUID}, 'rights.rectification', ''),"
                    " ('s2', 'phone', '0687654321', toUUIDOrZero(''), 'rights.rectification', '')", {"e": str(anchor)})
        # fmt: skip
        old.ensure(TABLE_SETS)
        columns = {c for (c,) in old.rows(
            "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'identifiers'")}  # fmt: skip
        assert "event_id" not in columns
        assert sorted(old.rows("SELECT subject_id, field, source_topic, source_partition, source_offset"
                               " FROM identifiers")) == [  # fmt: skip
            ("s1", "email", "t.usage", 0, 0),
            ("s1", "phone", "t.usage", 4, 1234),  # the completed value now follows its anchor event
            ("s2", "phone", "", 0, 0),  # completed without an anchor: as it was
        ]
    finally:
        old.drop()


def test_rows_from_python_and_from_the_engine_go_in_as_one_block_under_one_token(store: Store) -> None:
    """A token covers one block: a flush split into several could be half stored twice when rebuilt."""
    store.command("CREATE TABLE engine_rows (o UInt64, s String) ENGINE = Memory")
    for i in range(4):  # a Memory table keeps each insert as a block of its own
        store.command(f"INSERT INTO engine_rows SELECT number + {i} * 1000, 'engine' FROM numbers(500)")
    store.command("CREATE TABLE flushed (o UInt64, s String) ENGINE = MergeTree ORDER BY o"
                  " SETTINGS non_replicated_deduplication_window = 100")  # fmt: skip
    sink = ClickHouseSink(store, "c1", "p1", "flush_test")
    for _ in range(2):  # the second time, as a rebuilt flush: stored once
        sink._insert("flushed", ("o", "s"), [[(9_000_001, "python"), (9_000_002, "python")]], "token-1",
                     "SELECT o, s FROM engine_rows")  # fmt: skip
    assert store.scalar("SELECT count() FROM flushed") == 2_002
    assert store.scalar("SELECT count() FROM system.parts WHERE database = currentDatabase()"
                        " AND table = 'flushed' AND active") == 1  # fmt: skip


def test_a_big_flush_is_written_month_by_month_and_its_rebuild_likewise_stored_once(store: Store, monkeypatch) -> None:
    from consumers.pipeline import sink as sink_module

    monkeypatch.setattr(sink_module, "SPLIT_BY_MONTH", 2)  # as if two messages were a big flush
    batch = PartitionBatch("t.usage", 3, 0)
    for offset, month_start_ms in enumerate((1_790_000_000_000, 1_795_000_000_000, 1_800_000_000_000)):
        batch.add_event(_event(offset, month_start_ms, month_start_ms))
    batch.last_offset = 2
    sink = ClickHouseSink(store, "c1", "p1", "flush_test")
    token, _ = sink.write([batch])
    assert token.startswith(sink_module.MONTHS), "the token says how the events were written"
    assert store.scalar("SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = 'events'"
                        " AND active") == 3  # one insert, one part, per month  # fmt: skip
    monkeypatch.setattr(sink_module, "SPLIT_BY_MONTH", 10**9)  # a rebuild follows the token, not the threshold
    sink.write([batch], token)
    assert store.scalar("SELECT count() FROM events") == 3
