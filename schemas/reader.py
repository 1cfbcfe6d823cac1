"""Reading events at the consumer's pace, with the same verdict as the pydantic models.

Two costs dominated reading a message: fastavro turning every timestamp into a
timezone-aware datetime and every event id into a UUID, and pydantic building
nested model objects only to check a handful of rules the Avro schema cannot
express. Here the body is read with the schema stripped of its logical types
(timestamps stay milliseconds, dates stay days, ids stay strings; the bytes are
the same), and the models' remaining rules are checked on the plain record:
the logical values (``wire.check_logical``: the event id a UUID, times and dates in
the store's range, the same check ``wire.decode`` makes), field patterns and minimum
lengths (read from the models' own field metadata), a person's reachability, the
event type fitting the schema. A model that adds cross-field rules of its own (an application's fields per
subscription type, a departed contact's date) is still validated by pydantic.
``tests/test_reader.py`` checks that both ways accept and reject the same records.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from schemas import wire
from schemas.envelope import Envelope, Event, Person, Producer
from schemas.errors import InvalidEvent, validation_summary
from schemas.phone import phone_problem
from schemas.registry import FileSchemaRegistry, RegisteredSchema
from schemas.values import days_to_date, millis_to_datetime

# (field, compiled pattern or None, minimum length or None) for a model's constrained string fields.
Constraint = tuple[str, re.Pattern[str] | None, int | None]


def _logical(field_type: Any) -> str | None:
    """The logical type of a field's type, looking inside a union with null."""
    for t in field_type if isinstance(field_type, list) else [field_type]:
        if isinstance(t, dict) and "logicalType" in t:
            return t["logicalType"]
    return None


def constraints_of(model: type[BaseModel]) -> list[Constraint]:
    out = []
    for name, info in model.model_fields.items():
        pattern = next((m.pattern for m in info.metadata if getattr(m, "pattern", None)), None)
        min_len = next((m.min_length for m in info.metadata if getattr(m, "min_length", None)), None)
        if pattern or min_len:
            out.append((name, re.compile(pattern) if pattern else None, min_len))
    return out


def _broken(record: dict[str, Any], constraints: list[Constraint], where: str) -> str | None:
    for name, pattern, min_len in constraints:
        v = record.get(name)
        if v is None:
            continue
        if min_len and len(v) < min_len:
            return f"{where}{name}: String should have at least {min_len} character"
        if pattern and not pattern.match(v):
            return f"{where}{name}: String should match pattern '{pattern.pattern}'"
    return None


ENVELOPE_CONSTRAINTS = constraints_of(Envelope)
PRODUCER_CONSTRAINTS = constraints_of(Producer)


def _own_model_validators(model: type[Event]) -> bool:
    """Whether the model adds validators beyond those every event and person has."""
    base = set(Event.__pydantic_decorators__.model_validators) | set(Person.__pydantic_decorators__.model_validators)
    return bool(set(model.__pydantic_decorators__.model_validators) - base
                or model.__pydantic_decorators__.field_validators)  # fmt: skip


def _as_text(logical: str | None) -> Callable[[Any], str]:
    """How a plain payload value is written as an attribute: as the model's value would print."""
    if logical == "timestamp-millis":
        return lambda v: millis_to_datetime(v).isoformat()
    if logical == "date":
        return lambda v: days_to_date(v).isoformat()
    return str


@dataclass(frozen=True)
class Shape:
    """What the consumer needs of one schema id to read, check and flatten its records."""

    schema: RegisteredSchema
    model: type[Event]
    plain: Any  # the parsed schema without logical types
    constraints: list[Constraint]
    needs_pydantic: bool
    text: dict[str, Callable[[Any], str]]  # payload field -> how its value is written as text

    @classmethod
    def of(cls, schema: RegisteredSchema) -> Shape:
        model = schema.model
        fields = {f["name"]: f["type"] for f in schema.schema["fields"]}
        return cls(
            schema=schema,
            model=model,
            plain=schema.plain,
            constraints=constraints_of(model),
            needs_pydantic=_own_model_validators(model),
            text={n: _as_text(_logical(t)) for n, t in fields.items() if n != "envelope"},
        )


class EventReader:
    """Decode and check wire-format messages; raises the same RejectedMessage types as ``wire.decode`` + pydantic."""

    def __init__(self, registry: FileSchemaRegistry | None = None) -> None:
        self.registry = registry or FileSchemaRegistry()
        self._shapes: dict[int, Shape] = {}

    def shape(self, schema_id: int) -> Shape:
        found = self._shapes.get(schema_id)
        if found is None:
            found = self._shapes[schema_id] = Shape.of(self.registry.by_id(schema_id))
        return found

    def decode(self, data: bytes) -> tuple[Shape, dict[str, Any]]:
        shape = self.shape(wire.schema_id_of(data))
        return shape, wire.read_body(data, shape.schema, shape.plain)

    def check(self, shape: Shape, record: dict[str, Any]) -> None:
        """Raise InvalidEvent where the model would refuse the record (UndecodableMessage for a malformed id)."""
        wire.check_logical(shape.schema, record)
        if shape.needs_pydantic:
            try:
                shape.model.model_validate(wire.to_logical(shape.schema, record))
            except ValidationError as exc:
                raise InvalidEvent(validation_summary(exc)) from None
            return
        env = record["envelope"]
        problem = (
            _broken(env, ENVELOPE_CONSTRAINTS, "envelope.")
            or _broken(env["producer"], PRODUCER_CONSTRAINTS, "envelope.producer.")
            or _broken(record, shape.constraints, "")
        )
        if problem:
            raise InvalidEvent(problem)
        if env["event_type"] not in shape.model.EVENT_TYPES:
            # Never the value itself: a broken producer may put anything there, an e-mail included.
            raise InvalidEvent(f"event: Value error, event_type is not one of {shape.model.SCHEMA}'s: "
                               f"{', '.join(shape.model.EVENT_TYPES)}")  # fmt: skip
        for i, person in enumerate(env["people"]):
            if not (person["email"] or person["phone"]):
                raise InvalidEvent(f"envelope.people.{i}: Value error, a person needs an e-mail or, where none "
                                   "was collected, a phone number")  # fmt: skip
            if person["phone"] and (problem := phone_problem(person["phone"])):
                raise InvalidEvent(f"envelope.people.{i}: Value error, phone: {problem}")
