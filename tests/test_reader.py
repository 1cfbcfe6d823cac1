"""The consumer's reader gives the pydantic models' verdict, and the same values, at a fraction of the cost."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from producers.simulate import simulate
from schemas import wire
from schemas.errors import InvalidEvent, RejectedMessage
from schemas.models import EVENT_MODELS
from schemas.reader import EventReader
from schemas.values import millis_to_datetime
from schemas.registry import FileSchemaRegistry

REGISTRY = FileSchemaRegistry()
READER = EventReader(REGISTRY)
EVENTS = list(simulate(3000, seed=11))
ALL_TYPES = sorted({t for m in EVENT_MODELS for t in m.EVENT_TYPES})


def encoded(record: dict[str, Any], schema) -> bytes:
    return wire.encode(schema, record)


def pydantic_verdict(data: bytes) -> str:
    """'ok', or the dead-letter reason: what wire.decode and the model said before the reader existed."""
    try:
        schema, record = wire.decode(REGISTRY, data)
        schema.model.model_validate(record)
        return "ok"
    except RejectedMessage as exc:
        return exc.code
    except ValidationError:
        return InvalidEvent.code


def reader_verdict(data: bytes) -> str:
    try:
        shape, record = READER.decode(data)
        READER.check(shape, record)
        return "ok"
    except RejectedMessage as exc:
        return exc.code


def _as_text(v: Any) -> str:
    if isinstance(v, enum.Enum):
        return str(v.value)
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return str(v)


def test_every_simulated_event_reads_to_the_models_values() -> None:
    seen = set()
    for event in EVENTS:
        schema = REGISTRY.current(type(event))
        data = encoded(event.model_dump(), schema)
        shape, record = READER.decode(data)
        READER.check(shape, record)
        seen.add(type(event).SCHEMA)
        env = record["envelope"]
        assert env["event_id"] == str(event.envelope.event_id)
        assert millis_to_datetime(env["occurred_at"]) == event.envelope.occurred_at
        for name, to_text in shape.text.items():
            value = getattr(event, name)
            if value is not None and not isinstance(value, list):
                assert to_text(record[name]) == _as_text(value), (type(event).SCHEMA, name)
    assert seen == {m.SCHEMA for m in EVENT_MODELS}


# One change a broken producer could make, at the places the Avro schema cannot guard.
MUTATIONS = {
    "event_type": lambda r, v: r["envelope"].update(event_type=v),
    "region": lambda r, v: r["envelope"].update(processing_region=v),
    "service": lambda r, v: r["envelope"]["producer"].update(service=v),
    "version": lambda r, v: r["envelope"]["producer"].update(version=v),
    "event_id": lambda r, v: r["envelope"].update(event_id=v),
    "unreachable": lambda r, v: r["envelope"]["people"] and r["envelope"]["people"][0].update(email=None, phone=None),
    "currency": lambda r, v: "currency" in r and r.update(currency=v),
}
TEXT = st.one_of(st.sampled_from(["", "NL", "nl", "N1", "EUR", "eur", "XX", "NLD", "not-a-uuid",
                                  "0c4b5e1e-8a5b-4a0e-9d2f-3c1d2b3a4f5e", *ALL_TYPES]),
                 st.text(max_size=40))  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(EVENTS) - 1), mutation=st.sampled_from(sorted(MUTATIONS)), value=TEXT)
def test_the_reader_accepts_and_refuses_what_pydantic_does(index: int, mutation: str, value: str) -> None:
    event = EVENTS[index]
    record = event.model_dump()
    MUTATIONS[mutation](record, value)
    data = encoded(record, REGISTRY.current(type(event)))
    assert reader_verdict(data) == pydantic_verdict(data)


def test_a_model_with_its_own_rules_still_goes_through_pydantic() -> None:
    departed = next(e for e in EVENTS if e.envelope.event_type == "relation.contact_left_company")
    record = departed.model_dump()
    record["left_at"] = None
    data = encoded(record, REGISTRY.current(type(departed)))
    assert pydantic_verdict(data) == InvalidEvent.code
    with pytest.raises(InvalidEvent, match="left_at"):
        shape, plain = READER.decode(data)
        READER.check(shape, plain)
