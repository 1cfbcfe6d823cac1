"""Why a message is rejected at the contract: each error's ``code`` is the dead-letter reason."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ValidationError


class RejectedMessage(Exception):
    """A message the pipeline will not store. ``code`` names the reason in dead-letter headers."""

    code: ClassVar[str] = "rejected"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotWireFormat(RejectedMessage):
    """The bytes do not start with the Confluent wire-format header (magic byte 0, 4-byte schema id)."""

    code = "not_wire_format"


class UnknownSchemaId(RejectedMessage):
    """The header names a schema id the registry does not hold; register the schema or fix the producer."""

    code = "unknown_schema_id"


class UndecodableMessage(RejectedMessage):
    """The Avro body does not decode with the schema its header names."""

    code = "undecodable"


class InvalidEvent(RejectedMessage):
    """The record decodes but breaks the event model's rules (required fields, event type, formats)."""

    code = "invalid_event"


class RegistryOutOfDate(Exception):
    """An .avsc file changed without a new schema id; run `python -m schemas.registry register`."""


def validation_summary(exc: ValidationError) -> str:
    """A pydantic error as 'field: message; ...', never echoing the input (it may hold a name or an e-mail)."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['msg']}" for e in exc.errors(include_input=False)
    )
