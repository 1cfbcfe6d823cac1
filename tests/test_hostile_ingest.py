"""A corpus of hostile messages among good ones, through the real broker and engine: nothing stops the consumer.

Every good message is stored once, its values as sent; every bad one is dead-lettered
once, with its reason, and nothing else; a second pass (the same group, then a fresh
one) changes nothing. Some of the corpus cannot be sent by a well-behaved producer,
so the test bends kafka-python the way a broken one would: a record with neither key
nor value, a header with no value, a header name that is not UTF-8.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import sys
import uuid

import pytest
from fastavro import schemaless_writer
from kafka import KafkaConsumer, KafkaProducer
from pipeline_fixtures import Pipeline

from schemas import models as m
from schemas import wire
from schemas.reader import EventReader
from schemas.registry import FileSchemaRegistry

pytestmark = pytest.mark.integration
REGISTRY = FileSchemaRegistry()
READER = EventReader(REGISTRY)
NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
HOSTILE_TEXT = "'; DROP TABLE events; -- \x00\x07\x1b[31m \u202e \U0001f4a5 \\N {s:String}"


def usage(n: int, record_id: str | None = None, **changes) -> m.UsageActivity:
    env = {"event_id": uuid.uuid4(), "event_type": "usage.record_updated", "occurred_at": NOW + dt.timedelta(minutes=n),
           "tenant_id": "t-hostile", "people": [{"role": "actor", "email": f"user{n}@hostile.example"}],
           "producer": {"service": "engage-app", "version": "1"}, "processing_region": "NL"}  # fmt: skip
    return m.UsageActivity(envelope=env, record_id=record_id or f"r-{n}", record_kind="record",
                           created_at=NOW, components=["workflow"], **changes)  # fmt: skip


def encode(event) -> bytes:
    return wire.encode(REGISTRY.current(type(event)), event.model_dump())


def plain_with(event, path: tuple[str, ...], value) -> bytes:
    """The event written with one field set to ``value`` as the plain Avro type (a long, an int, a string)."""
    schema = REGISTRY.current(type(event))
    _, record = READER.decode(encode(event))
    target = record
    for name in path[:-1]:
        target = target[name]
    target[path[-1]] = value
    buf = io.BytesIO()
    buf.write(b"\x00" + schema.id.to_bytes(4, "big"))
    schemaless_writer(buf, schema.plain, record)
    return buf.getvalue()


class _RawKey(str):
    """A header name whose bytes are not UTF-8, as only a broken producer writes them."""

    def encode(self, *args, **kwargs) -> bytes:  # type: ignore[override]
        return b"\xff\xfeheader"


class _HeadersWithNull(list):
    """Headers that pass kafka-python's check (all values bytes) and are written with a null value.

    The record builder (kafka/record/default_records.py) writes None as a null header; the
    producer's own checks and size counts, elsewhere, see an empty value.
    """

    def __init__(self) -> None:
        super().__init__([("trace", b"")])

    def __iter__(self):
        caller = sys._getframe(1).f_code.co_filename
        if caller.endswith(os.path.join("record", "default_records.py")):
            return iter([("trace", None)])
        return super().__iter__()


def corpus() -> tuple[list[tuple[str, object]], list[tuple[str, str, dict]]]:
    """(goods: (name, event)), (bads: (name, expected reason, how to send))."""
    goods = [("plain", usage(1)), ("sql and control characters", usage(2, record_id=HOSTILE_TEXT)),
             ("updated late", usage(3, updated_at=NOW + dt.timedelta(days=400))), ("another", usage(4))]  # fmt: skip
    good = encode(usage(9))
    invoice = m.InvoiceEvent(envelope={**usage(10).envelope.model_dump(), "event_type": "invoice.issued",
                                       "people": [{"role": "contact", "email": "billing@hostile.example"}]},
                             invoice_id="i-1", subscription_id="s-1", billing_company="Hostile BV", amount_cents=100,
                             currency="EUR", due_date=dt.date(2026, 12, 1))  # fmt: skip
    utf8_marker = encode(usage(11, record_id="Q" * 24))
    bads = [
        ("truncated", "undecodable", {"value": good[: len(good) // 2]}),
        ("garbage after a real header", "undecodable", {"value": good[:5] + b"\x9c" * 40}),
        ("wrong magic byte", "not_wire_format", {"value": b"\x01" + good[1:]}),
        ("json", "not_wire_format", {"value": b'{"event_type": "usage.record_updated"}'}),
        ("unknown schema id", "unknown_schema_id", {"value": b"\x00\x00\x00\x27\x10" + good[5:]}),
        ("occurred_at 2^62 ms", "invalid_event", {"value": plain_with(usage(12), ("envelope", "occurred_at"), 2**62)}),
        ("occurred_at -2^62 ms", "invalid_event", {"value": plain_with(usage(13), ("envelope", "occurred_at"), -(2**62))}),
        ("created_at past 2299", "invalid_event", {"value": plain_with(usage(14), ("created_at",), 10**14)}),
        ("updated_at 2^63-1", "invalid_event", {"value": plain_with(usage(15), ("updated_at",), 2**63 - 1)}),
        ("due_date far away", "invalid_event", {"value": plain_with(invoice, ("due_date",), 2**31 - 1)}),
        ("a string that is not UTF-8", "undecodable",
         {"value": utf8_marker.replace(b"Q" * 24, b"secret@person.nl\xff\xfe\xc3\x28abc")}),
        ("empty value", "not_wire_format", {"key": b"k", "value": b""}),
        ("null value (a tombstone)", "not_wire_format", {"key": b"k", "value": None}),
        ("neither key nor value", "not_wire_format", {"key": None, "value": b"", "null_value": True}),
        ("a header with no value", "undecodable", {"value": good[:7], "headers": _HeadersWithNull()}),
        ("a spoofed reason header", "undecodable", {"value": good[:9], "headers": [("dlq.reason", b"all-fine")]}),
        ("five megabytes", "undecodable", {"value": good + b"\x00" * 5_000_000}),
        ("a header name that is not UTF-8", "unreadable_record", {"value": good, "headers": [(_RawKey("x"), b"v")]}),
    ]  # fmt: skip
    return goods, bads


def send_all(pipeline: Pipeline, goods, bads) -> tuple[str, dict[int, tuple[str, str]], dict[int, object]]:
    """Everything to partition 0 of the usage topic, interleaved, each message in a batch of its own."""
    topic = f"{pipeline.settings.topic_prefix}.usage"
    plain = KafkaProducer(bootstrap_servers=pipeline.bootstrap, compression_type="zstd", max_request_size=16_000_000)
    nulls = KafkaProducer(bootstrap_servers=pipeline.bootstrap, value_serializer=lambda v: None)
    bad_at: dict[int, tuple[str, str]] = {}
    good_at: dict[int, object] = {}
    try:
        for i in range(max(len(goods), len(bads))):
            if i < len(goods):
                good_at[plain.send(topic, partition=0, key=b"t", value=encode(goods[i][1])).get(30).offset] = goods[i][1]
            if i < len(bads):
                name, reason, how = bads[i]
                producer = nulls if how.get("null_value") else plain
                future = producer.send(topic, partition=0, key=how.get("key"), value=how.get("value"),
                                       headers=how.get("headers"))  # fmt: skip
                bad_at[future.get(30).offset] = (name, reason)
    finally:
        plain.close()
        nulls.close()
    return topic, bad_at, good_at


def dead_letter_topic(pipeline: Pipeline) -> list:
    reader = KafkaConsumer(pipeline.settings.dead_letters, bootstrap_servers=pipeline.bootstrap,
                           auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=3000)  # fmt: skip
    try:
        return list(reader)
    finally:
        reader.close()


def test_a_hostile_corpus_among_good_messages_stores_the_good_and_dead_letters_the_bad_once(pipeline: Pipeline) -> None:
    goods, bads = corpus()
    topic, bad_at, good_at = send_all(pipeline, goods, bads)

    stats = pipeline.consume()

    assert stats.consumed == len(bad_at) + len(good_at)
    store = pipeline.store
    stored = dict(store.rows("SELECT source_offset, attributes['record_id'] FROM events WHERE source_topic = {t:String}",
                             {"t": topic}))  # fmt: skip
    assert stored == {offset: event.record_id for offset, event in good_at.items()}, "every good one, as sent"
    dead = {o: r for o, r in store.rows("SELECT source_offset, reason FROM dead_letters")}
    assert dead == {offset: reason for offset, (_, reason) in bad_at.items()}
    assert store.scalar("SELECT count() FROM dead_letters") == len(bad_at), "each dead-lettered once"
    details = " ".join(d for (d,) in store.rows("SELECT detail FROM dead_letters"))
    assert "secret@person" not in details and "hostile.example" not in details, "no payload in the reasons"

    letters = dead_letter_topic(pipeline)
    by_offset = {int(dict(msg.headers)["dlq.source.offset"]): msg for msg in letters}
    assert sorted(by_offset) == sorted(bad_at) and len(letters) == len(bad_at)
    for offset, msg in by_offset.items():
        headers = dict(msg.headers)
        name, reason = bad_at[offset]
        assert headers["dlq.reason"] == reason.encode(), name
    big = dict(by_offset[next(o for o, (n, _) in bad_at.items() if n == "five megabytes")].headers)
    assert big["dlq.payload"] == b"omitted" and int(big["dlq.payload.bytes"]) > 5_000_000
    spoofed = by_offset[next(o for o, (n, _) in bad_at.items() if n == "a spoofed reason header")].headers
    assert ("original.dlq.reason", b"all-fine") in spoofed and ("dlq.reason", b"undecodable") in spoofed
    empty = dict(by_offset[next(o for o, (n, _) in bad_at.items() if n == "neither key nor value")].headers)
    assert empty["dlq.payload"] == b"absent"

    # A second pass, by the same group and by a new one, changes nothing.
    before = {t: store.scalar(f"SELECT count() FROM {t}") for t in ("events", "identifiers", "dead_letters")}
    again = pipeline.consume()
    assert again.consumed == 0
    fresh = pipeline.consumer_with(consumer_group=f"{pipeline.settings.consumer_group}-again").run(until_idle=1.5)
    assert fresh.consumed == 0
    assert {t: store.scalar(f"SELECT count() FROM {t}") for t in before} == before
    assert len(dead_letter_topic(pipeline)) == len(bad_at)


def test_the_oversized_letter_keeps_the_fingerprint_of_what_it_leaves_out(pipeline: Pipeline) -> None:
    value = encode(usage(1))[:5] + b"\x01" * 2_000_000
    topic = f"{pipeline.settings.topic_prefix}.usage"
    producer = KafkaProducer(bootstrap_servers=pipeline.bootstrap, compression_type="zstd", max_request_size=4_000_000)
    producer.send(topic, partition=0, value=value).get(30)
    producer.close()
    pipeline.consume()
    [letter] = dead_letter_topic(pipeline)
    headers = dict(letter.headers)
    assert letter.value == b"" and headers["dlq.payload.sha256"] == hashlib.sha256(value).hexdigest().encode()
