"""The pydantic models and the Avro schemas describe the same events, and the wire format holds."""

from __future__ import annotations

import datetime as dt
import json
import types
import typing
import uuid
from enum import Enum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel

from producers.simulate import simulate
from schemas import wire
from schemas.envelope import _to_millis
from schemas.errors import (
    NotWireFormat,
    RejectedMessage,
    UndecodableMessage,
    UnknownSchemaId,
)
from schemas.models import EVENT_MODELS, MODEL_BY_EVENT_TYPE, Event
from schemas.registry import AVRO_DIR, FileSchemaRegistry, avsc_path, self_contained

REGISTRY = FileSchemaRegistry()

# --- one shape language for both sides ---------------------------------------------------


def avro_shape(node, named: dict) -> object:
    if isinstance(node, list):
        branches = [b for b in node if b != "null"]
        assert len(branches) == 1 and len(node) == 2, f"only ['null', X] unions are used: {node}"
        return ("nullable", avro_shape(branches[0], named))
    if isinstance(node, str):
        if node in named:
            return named[node]
        return {"string": "str", "long": "int", "int": "int32", "boolean": "bool"}[node]
    if node.get("logicalType"):
        return node["logicalType"]
    kind = node["type"]
    if kind == "array":
        return ("array", avro_shape(node["items"], named))
    if kind == "enum":
        shape = ("enum", node["name"], tuple(node["symbols"]))
    elif kind == "record":
        fields = tuple(
            (
                f["name"],
                avro_shape(f["type"], named),
                "default" in f and f["default"] is None,
                f.get("pii"),
            )
            for f in node["fields"]
        )
        shape = ("record", node["name"], fields)
    else:
        return avro_shape(kind, named)
    named[f"{node.get('namespace', 'com.engageprocess.events')}.{node['name']}"] = shape
    named[node["name"]] = shape
    return shape


def _is_millis(metadata) -> bool:
    return any(getattr(m, "func", None) is _to_millis for m in metadata)


def model_shape(annotation, metadata=()) -> object:
    if annotation is AwareDatetime:
        # Avro keeps milliseconds: a timestamp field must truncate to them, or round trips differ.
        return "timestamp-millis" if _is_millis(metadata) else "unbounded-datetime"
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return ("nullable", model_shape(args[0]))
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        return model_shape(base, meta)
    if origin is list:
        return ("array", model_shape(typing.get_args(annotation)[0]))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return ("enum", annotation.__name__, tuple(m.value for m in annotation))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = tuple(
            (
                name,
                model_shape(f.annotation, f.metadata),
                not f.is_required() and f.default is None,
                (f.json_schema_extra or {}).get("pii") if isinstance(f.json_schema_extra, dict) else None,
            )
            for name, f in annotation.model_fields.items()
        )
        return ("record", annotation.__name__, fields)
    return {str: "str", int: "int", bool: "bool", uuid.UUID: "uuid", dt.date: "date"}[annotation]


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda m: m.SCHEMA)
def test_model_and_avro_schema_agree(model: type[Event]) -> None:
    schema = self_contained(json.loads(avsc_path(model.SCHEMA).read_text()))
    assert model_shape(model) == avro_shape(schema, {})


def test_every_avsc_file_is_a_model_or_a_shared_type() -> None:
    files = {p.name for p in AVRO_DIR.glob("*.avsc")}
    used = {avsc_path(m.SCHEMA).name for m in EVENT_MODELS} | {"envelope.avsc", "subscription_type.avsc",
                                                                 "contact_channel.avsc"}  # fmt: skip
    assert files == used


def test_registry_holds_the_current_version_of_every_schema() -> None:
    assert REGISTRY.stale() == [], "run `python -m schemas.registry register`"


def test_every_event_type_documented_in_its_schema() -> None:
    for model in EVENT_MODELS:
        doc = json.loads(avsc_path(model.SCHEMA).read_text())["doc"]
        for event_type in model.EVENT_TYPES:
            assert event_type in doc, f"{model.SCHEMA}'s doc does not list {event_type}"


# --- the wire format -----------------------------------------------------------------------------


def test_every_simulated_event_survives_the_wire_unchanged() -> None:
    seen = set()
    for event in simulate(3000, seed=11):
        rs = REGISTRY.current(type(event))
        data = wire.encode(rs, event.model_dump())
        assert data[0] == 0 and int.from_bytes(data[1:5], "big") == rs.id
        decoded_schema, record = wire.decode(REGISTRY, data)
        assert decoded_schema.model.model_validate(record) == event
        seen.add(event.envelope.event_type)
    assert seen == set(MODEL_BY_EVENT_TYPE), "the simulation covers every event type"


def test_bad_headers_and_bodies_have_typed_reasons() -> None:
    event = next(iter(simulate(1, seed=3)))
    good = wire.encode(REGISTRY.current(type(event)), event.model_dump())
    with pytest.raises(NotWireFormat):
        wire.decode(REGISTRY, b"{\"json\": true}")
    with pytest.raises(UnknownSchemaId):
        wire.decode(REGISTRY, b"\x00\x00\x00\x27\x10" + good[5:])
    with pytest.raises(UndecodableMessage):
        wire.decode(REGISTRY, good[: len(good) // 2])
    with pytest.raises(UndecodableMessage):
        wire.decode(REGISTRY, good + b"\x00")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([r.id for r in REGISTRY.all()]))
def test_any_bytes_decode_or_fail_with_a_typed_reason(body: bytes, schema_id: int) -> None:
    try:
        wire.decode(REGISTRY, b"\x00" + schema_id.to_bytes(4, "big") + body)
    except RejectedMessage:
        pass
