"""The Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then Avro binary."""

from __future__ import annotations

import io
import struct
import uuid
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from schemas.errors import InvalidEvent, NotWireFormat, UndecodableMessage
from schemas.registry import FileSchemaRegistry, RegisteredSchema
from schemas.values import (
    EARLIEST_DAY,
    EARLIEST_MS,
    LATEST_DAY,
    LATEST_MS,
    OUT_OF_RANGE,
    days_to_date,
    millis_to_datetime,
)

MAGIC = 0
_HEADER = struct.Struct(">bI")
HEADER_SIZE = _HEADER.size


def encode(schema: RegisteredSchema, record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    buf.write(_HEADER.pack(MAGIC, schema.id))
    schemaless_writer(buf, schema.parsed, record)
    return buf.getvalue()


def schema_id_of(data: bytes) -> int:
    if len(data) < _HEADER.size or data[0] != MAGIC:
        raise NotWireFormat(f"{len(data)} bytes without the magic byte 0 and a schema id")
    return _HEADER.unpack_from(data)[1]


def decode(registry: FileSchemaRegistry, data: bytes) -> tuple[RegisteredSchema, dict[str, Any]]:
    """Read one message, logical types as Python values (datetime, date, UUID).

    Raises NotWireFormat, UnknownSchemaId, UndecodableMessage, or InvalidEvent for a
    time or date the store cannot hold (``schemas.values``).
    """
    schema = registry.by_id(schema_id_of(data))
    record = read_body(data, schema, schema.plain)
    check_logical(schema, record)
    return schema, to_logical(schema, record)


def read_body(data: bytes, schema: RegisteredSchema, parsed: Any) -> dict[str, Any]:
    """The Avro record after the header, read with ``parsed`` (the schema, or a variant of it with the same bytes).

    Raises UndecodableMessage for a body that is truncated, corrupt, or followed by trailing bytes.
    """
    buf = io.BytesIO(data)
    buf.seek(_HEADER.size)
    try:
        record = schemaless_reader(buf, parsed, None)
    except Exception as exc:  # fastavro raises assorted types for truncated or corrupt bodies
        # The type only: a message (a UnicodeDecodeError's, say) may quote the bytes, an e-mail among them.
        raise UndecodableMessage(f"Avro body does not decode as {schema.name} (id {schema.id}): "
                                 f"{type(exc).__name__} near byte {buf.tell()}") from None  # fmt: skip
    if buf.tell() != len(data):
        raise UndecodableMessage(f"{len(data) - buf.tell()} trailing bytes after a {schema.name} record")
    return record


def _at(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    for name in path:
        if record is None:
            return None
        record = record[name]
    return record


def check_logical(schema: RegisteredSchema, record: dict[str, Any]) -> None:
    """Refuse a plain record whose logical values no reader may accept, in the schema's field order.

    An id that is not a UUID is undecodable (as fastavro's uuid type would say); a time or date
    outside the store's range is an invalid event. The message names the field, never the value.
    """
    for path, logical in schema.logical_fields:
        value = _at(record, path)
        if value is None:
            continue
        where = ".".join(path)
        if logical == "uuid":
            try:
                uuid.UUID(value)
            except ValueError:
                raise UndecodableMessage(f"{where} is not a UUID ({schema.name}, id {schema.id})") from None
        elif (logical == "timestamp-millis" and not EARLIEST_MS <= value <= LATEST_MS) or (
            logical == "date" and not EARLIEST_DAY <= value <= LATEST_DAY
        ):
            raise InvalidEvent(f"{where}: Value error, {OUT_OF_RANGE}")


_CONVERT = {"uuid": uuid.UUID, "timestamp-millis": millis_to_datetime, "date": days_to_date}


def to_logical(schema: RegisteredSchema, record: dict[str, Any]) -> dict[str, Any]:
    """A copy of a checked plain record with its logical values as Python values; the plain record is unchanged."""
    out = dict(record)
    copied: set[tuple[str, ...]] = set()
    for path, logical in schema.logical_fields:
        parent = out
        for depth, name in enumerate(path[:-1], start=1):
            if parent.get(name) is None:
                parent = None
                break
            if path[:depth] not in copied:
                parent[name] = dict(parent[name])
                copied.add(path[:depth])
            parent = parent[name]
        if parent is not None and parent.get(path[-1]) is not None:
            parent[path[-1]] = _CONVERT[logical](parent[path[-1]])
    return out
