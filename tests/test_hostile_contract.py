"""Hostile bodies: every reader of the contract gives one verdict, and no message can make the processor raise.

The three readers are ``wire.decode`` with the pydantic models (what producers and tools use),
and the consumer's own reader. Bodies are garbage, mutations of real events, and real events
with extreme values written into their times and dates, or bytes that are not UTF-8 in their
strings. A message the processor refuses is a dead letter whose detail never quotes it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from test_reader import EVENTS, READER, REGISTRY, pydantic_verdict, reader_verdict

from consumers.identity.pseudonym import Pseudonymizer
from consumers.pipeline.batch import PartitionBatch
from consumers.pipeline.consent import ConsentLedger
from consumers.pipeline.processing import MessageProcessor
from consumers.pipeline.tagging import Tagger
from consumers.policy.loader import load_policy
from schemas import wire
from schemas.values import EARLIEST_DAY, EARLIEST_MS, LATEST_DAY, LATEST_MS

PROCESSOR = MessageProcessor(REGISTRY, Tagger(load_policy(), ConsentLedger()), Pseudonymizer(b"k"), "test")
# Planted in the strings of the bodies below: a detail that quotes the payload would show it.
SECRET = "secret.person@example.nl"
CONTRACT_REASONS = {"not_wire_format", "unknown_schema_id", "undecodable", "invalid_event", "processing_failed"}
EXTREME_MS = [-(2**63), -(2**62), EARLIEST_MS - 1, EARLIEST_MS, 0, LATEST_MS, LATEST_MS + 1, 2**62, 2**63 - 1]
EXTREME_DAYS = [-(2**31), EARLIEST_DAY - 1, EARLIEST_DAY, LATEST_DAY, LATEST_DAY + 1, 2**31 - 1]


def verdicts(data: bytes) -> tuple[str, str]:
    return pydantic_verdict(data), reader_verdict(data)


def processed(data: bytes) -> tuple[str, PartitionBatch]:
    """What the processor made of one message: 'stored', or the reason (it must not raise)."""
    batch = PartitionBatch("t.usage", 0, 7)
    outcome = PROCESSOR.process(batch, 7, None, data, [], dt.datetime.now(dt.UTC))
    return ("stored" if outcome is None else outcome.reason), batch


def assert_processed_as(data: bytes, verdict: str) -> None:
    """The processor refuses what the contract refuses, for the same reason; what the contract accepts is
    stored, or refused by the policy (a region outside the EU, no rule), never for a contract reason."""
    outcome, batch = processed(data)
    if verdict != "ok":
        assert outcome == verdict and not batch.events
    else:
        assert outcome not in CONTRACT_REASONS


def _plain(event) -> tuple[Any, dict[str, Any]]:
    schema = REGISTRY.current(type(event))
    shape, record = READER.decode(wire.encode(schema, event.model_dump()))
    return schema, record


def _write_plain(schema, record: dict[str, Any]) -> bytes:
    import io

    from fastavro import schemaless_writer

    buf = io.BytesIO()
    buf.write(b"\x00" + schema.id.to_bytes(4, "big"))
    schemaless_writer(buf, schema.plain, record)
    return buf.getvalue()


def _set(record: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for name in path[:-1]:
        record = record[name]
    record[path[-1]] = value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(EVENTS) - 1), tail=st.binary(max_size=200))
def test_garbage_after_a_real_header_gets_one_verdict(index: int, tail: bytes) -> None:
    header = wire.encode(REGISTRY.current(type(EVENTS[index])), EVENTS[index].model_dump())[:5]
    pydantic, reader = verdicts(header + tail)
    assert pydantic == reader
    assert_processed_as(header + tail, reader)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(EVENTS) - 1), cut=st.integers(0, 10_000), flip=st.integers(0, 255),
       how=st.sampled_from(["flip", "truncate", "insert", "append"]))  # fmt: skip
def test_a_real_event_broken_anywhere_gets_one_verdict(index: int, cut: int, flip: int, how: str) -> None:
    data = bytearray(wire.encode(REGISTRY.current(type(EVENTS[index])), EVENTS[index].model_dump()))
    at = 5 + cut % max(1, len(data) - 5)
    if how == "flip":
        data[at] ^= flip or 1
    elif how == "truncate":
        del data[at:]
    elif how == "insert":
        data.insert(at, flip)
    else:
        data.append(flip)
    pydantic, reader = verdicts(bytes(data))
    assert pydantic == reader
    assert_processed_as(bytes(data), reader)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(EVENTS) - 1), which=st.integers(0, 10), choice=st.integers(0, 2**16),
       anything=st.integers(-(2**63), 2**63 - 1))  # fmt: skip
@example(index=0, which=0, choice=1, anything=0)  # an occurred_at of -2^62 ms
def test_extreme_times_and_dates_are_refused_alike_and_never_stored(index: int, which: int, choice: int,
                                                                   anything: int) -> None:  # fmt: skip
    schema, record = _plain(EVENTS[index])
    fields = [(p, kind) for p, kind in schema.logical_fields if kind in ("timestamp-millis", "date")]
    path, kind = fields[which % len(fields)]
    pool = EXTREME_MS if kind == "timestamp-millis" else EXTREME_DAYS
    value = pool[choice % len(pool)] if choice % 3 else anything
    if kind == "date":
        value = max(-(2**31), min(2**31 - 1, value))  # an Avro int
    _set(record, path, value)
    data = _write_plain(schema, record)
    pydantic, reader = verdicts(data)
    assert pydantic == reader
    in_range = (EARLIEST_MS <= value <= LATEST_MS) if kind == "timestamp-millis" else (EARLIEST_DAY <= value <= LATEST_DAY)
    if not in_range:
        assert reader == "invalid_event"
        outcome, batch = processed(data)
        assert outcome == "invalid_event" and not batch.events
        assert ".".join(path) in batch.dead_letters[0].detail and str(value) not in batch.dead_letters[0].detail


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(EVENTS) - 1), bad=st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"]))
def test_strings_that_are_not_utf8_are_refused_alike_without_quoting_them(index: int, bad: bytes) -> None:
    schema, record = _plain(EVENTS[index])
    marker = "Q" * len(SECRET)
    record["envelope"]["producer"]["service"] = marker
    data = _write_plain(schema, record).replace(marker.encode(), SECRET[:-len(bad)].encode() + bad, 1)
    pydantic, reader = verdicts(data)
    assert pydantic == reader == "undecodable"
    outcome, batch = processed(data)
    assert outcome == "undecodable" and SECRET[:10] not in batch.dead_letters[0].detail


def test_the_models_refuse_a_time_the_store_cannot_hold() -> None:
    event = EVENTS[0]
    far = event.envelope.model_copy(update={"occurred_at": dt.datetime(2400, 1, 1, tzinfo=dt.UTC)})
    try:
        type(event).model_validate({**event.model_dump(), "envelope": far.model_dump()})
    except ValidationError as exc:
        assert "outside what the store can hold" in str(exc)
    else:
        raise AssertionError("a time in 2400 was accepted")
