"""The Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then Avro binary."""

from __future__ import annotations

import io
import struct
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from schemas.errors import NotWireFormat, UndecodableMessage
from schemas.registry import FileSchemaRegistry, RegisteredSchema

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
    """Read one message; raises NotWireFormat, UnknownSchemaId or UndecodableMessage."""
    schema = registry.by_id(schema_id_of(data))
    return schema, read_body(data, schema, schema.parsed)


def read_body(data: bytes, schema: RegisteredSchema, parsed: Any) -> dict[str, Any]:
    """The Avro record after the header, read with ``parsed`` (the schema, or a variant of it with the same bytes).

    Raises UndecodableMessage for a body that is truncated, corrupt, or followed by trailing bytes.
    """
    buf = io.BytesIO(data)
    buf.seek(_HEADER.size)
    try:
        record = schemaless_reader(buf, parsed, None)
    except Exception as exc:  # fastavro raises assorted types for truncated or corrupt bodies
        raise UndecodableMessage(f"Avro body does not decode as {schema.name} (id {schema.id}): {exc!r}") from exc
    if buf.tell() != len(data):
        raise UndecodableMessage(f"{len(data) - buf.tell()} trailing bytes after a {schema.name} record")
    return record
