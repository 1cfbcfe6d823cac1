"""The envelope every event carries: who was involved (people and their roles), when, where, by which producer.

Also the mark that makes a field a direct identifier (``identifier()``), which the
consumer reads to keep those fields out of the analytics rows. The event models
themselves, one per Avro schema, are in ``schemas.models``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from schemas.phone import phone_problem
from schemas.values import day_in_range, time_in_range

IDENTIFIER = {"pii": "identifier"}


def _to_millis(v: dt.datetime) -> dt.datetime:
    # Avro's timestamp-millis keeps milliseconds in UTC; truncating on the way in
    # makes a model equal to its own round trip through the wire format.
    return v.astimezone(dt.UTC).replace(microsecond=v.microsecond // 1000 * 1000)


# A time or a date the store can hold (schemas/values.py): the same rule the wire format's reader applies.
Timestamp = Annotated[AwareDatetime, AfterValidator(_to_millis), AfterValidator(time_in_range)]
Day = Annotated[dt.date, AfterValidator(day_in_range)]


def identifier(default: Any = ..., **kw: Any) -> Any:
    """A field holding a direct identifier (name, e-mail, phone, free text)."""
    return Field(default, json_schema_extra=IDENTIFIER, **kw)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- shared types ------------------------------------------------------------------


class PersonRole(StrEnum):
    actor = "actor"
    creator = "creator"
    last_updater = "last_updater"
    subject = "subject"
    administrator = "administrator"
    participant = "participant"
    contact = "contact"
    recipient = "recipient"


class Person(_Strict):
    role: PersonRole
    email: str | None = identifier(None)
    phone: str | None = identifier(None)

    @model_validator(mode="after")
    def _reachable(self) -> Person:
        if not (self.email or self.phone):
            raise ValueError("a person needs an e-mail or, where none was collected, a phone number")
        if self.phone and (problem := phone_problem(self.phone)):
            # Never the value itself: the reason goes to the dead-letter topic's headers and the log.
            raise ValueError(f"phone: {problem}")
        return self


class Producer(_Strict):
    service: str = Field(min_length=1)
    version: str = Field(min_length=1)


class Envelope(_Strict):
    event_id: uuid.UUID
    event_type: str
    occurred_at: Timestamp
    tenant_id: str | None = None
    people: list[Person]
    producer: Producer
    processing_region: str = Field(pattern=r"^[A-Z]{2}$")


class Event(_Strict):
    """Base of every event model: an envelope plus the payload fields of one schema."""

    SCHEMA: ClassVar[str]
    FAMILY: ClassVar[str]
    EVENT_TYPES: ClassVar[tuple[str, ...]]

    envelope: Envelope

    @model_validator(mode="after")
    def _event_type_fits(self) -> Event:
        if self.envelope.event_type not in self.EVENT_TYPES:
            # Never the value itself: a broken producer may put anything there, an e-mail included.
            raise ValueError(f"event_type is not one of {self.SCHEMA}'s: {', '.join(self.EVENT_TYPES)}")
        return self

    def person(self, role: PersonRole) -> Person | None:
        return next((p for p in self.envelope.people if p.role == role), None)


def identifier_fields(model: type[BaseModel]) -> frozenset[str]:
    """Names of the fields of ``model`` marked as direct identifiers."""
    return frozenset(
        name
        for name, f in model.model_fields.items()
        if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get("pii") == "identifier"
    )
