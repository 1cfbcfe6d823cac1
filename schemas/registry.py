"""The schema registry of the embedded default: schema ids kept in ``schemas/registry.json``.

Every id maps to a self-contained schema (named types it references are
inlined), exactly what a Confluent-compatible registry would hold under that id,
so messages written here can be read by any Confluent-style consumer once the
same schemas are registered there. Ids are never reused or changed: editing an
``.avsc`` file and running ``python -m schemas.registry register`` appends a new
id for the new version and keeps the old one for decoding old messages.
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from fastavro import parse_schema

from schemas.errors import RegistryOutOfDate, UnknownSchemaId
from schemas.models import EVENT_MODELS, MODEL_BY_SCHEMA, Event

AVRO_DIR = Path(__file__).parent / "avro"
REGISTRY_FILE = Path(__file__).parent / "registry.json"
NAMESPACE = "com.engageprocess.events"
# Named types that event schemas reference by full name rather than define.
SHARED_TYPE_FILES = ("envelope.avsc", "subscription_type.avsc", "contact_channel.avsc")


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def avsc_path(schema_name: str) -> Path:
    return AVRO_DIR / f"{_snake(schema_name)}.avsc"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _shared_types() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for f in SHARED_TYPE_FILES:
        s = _load(AVRO_DIR / f)
        out[f"{s.get('namespace', NAMESPACE)}.{s['name']}"] = s
    return out


def self_contained(schema: dict[str, Any], shared: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Inline each referenced shared type at its first use, as Avro requires for a standalone schema."""
    shared = _shared_types() if shared is None else shared
    defined: set[str] = set()

    def walk(node: Any) -> Any:
        if isinstance(node, str) and node in shared:
            if node in defined:
                return node
            defined.add(node)
            return walk(copy.deepcopy(shared[node]))
        if isinstance(node, list):
            return [walk(n) for n in node]
        if isinstance(node, dict):
            if node.get("type") in ("record", "enum", "fixed"):
                defined.add(f"{node.get('namespace', NAMESPACE)}.{node['name']}")
            return {k: (walk(v) if k in ("type", "items", "values", "fields") else v) for k, v in node.items()}
        return node

    return walk(copy.deepcopy(schema))


def strip_logical(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: strip_logical(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [strip_logical(n) for n in node]
    return node


def _has_logical(node: Any) -> bool:
    if isinstance(node, dict):
        return "logicalType" in node or any(_has_logical(v) for v in node.values())
    return isinstance(node, list) and any(_has_logical(n) for n in node)


def _logical_fields(record: dict[str, Any], path: tuple[str, ...]) -> list[tuple[tuple[str, ...], str]]:
    found = []
    for f in record["fields"]:
        for t in f["type"] if isinstance(f["type"], list) else [f["type"]]:
            if isinstance(t, dict) and "logicalType" in t:
                found.append(((*path, f["name"]), t["logicalType"]))
            elif isinstance(t, dict) and t.get("type") == "record":
                found += _logical_fields(t, (*path, f["name"]))
            elif _has_logical(t):
                # Inside an array or a map: values the readers would have to check one by one.
                raise ValueError(f"{'.'.join((*path, f['name']))}: a logical type inside an array or map is not supported")
    return found


@dataclass(frozen=True)
class RegisteredSchema:
    """One schema id: its self-contained schema, the parsed form fastavro uses, and its model."""

    id: int
    name: str
    schema: dict[str, Any]

    @cached_property
    def parsed(self) -> Any:
        return parse_schema(self.schema)

    @cached_property
    def plain(self) -> Any:
        """The parsed schema without logical types: the same bytes, read as plain longs, ints and strings."""
        return parse_schema(strip_logical(self.schema))

    @cached_property
    def logical_fields(self) -> tuple[tuple[tuple[str, ...], str], ...]:
        """(path, logical type) of every field with a logical type, in the order the record holds them."""
        return tuple(_logical_fields(self.schema, ()))

    @property
    def model(self) -> type[Event]:
        return MODEL_BY_SCHEMA[self.name]

    @property
    def family(self) -> str:
        return self.model.FAMILY


class FileSchemaRegistry:
    """Schema ids read from a registry file; the current id of a schema is its highest."""

    def __init__(self, path: Path = REGISTRY_FILE) -> None:
        self.path = path
        doc = _load(path) if path.exists() else {"schemas": []}
        self._by_id = {e["id"]: RegisteredSchema(e["id"], e["name"], e["schema"]) for e in doc["schemas"]}
        self._current: dict[str, RegisteredSchema] = {}
        for rs in sorted(self._by_id.values(), key=lambda r: r.id):
            self._current[rs.name] = rs

    def by_id(self, schema_id: int) -> RegisteredSchema:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise UnknownSchemaId(f"schema id {schema_id} is not in {self.path.name}") from None

    def current(self, model: type[Event] | str) -> RegisteredSchema:
        name = model if isinstance(model, str) else model.SCHEMA
        try:
            return self._current[name]
        except KeyError:
            raise RegistryOutOfDate(f"{name} has no schema id; run `python -m schemas.registry register`") from None

    def all(self) -> list[RegisteredSchema]:
        return sorted(self._by_id.values(), key=lambda r: r.id)

    def stale(self) -> list[str]:
        """Names of the schemas whose .avsc differs from their current registered version."""
        shared = _shared_types()
        out = []
        for model in EVENT_MODELS:
            have = self._current.get(model.SCHEMA)
            if have is None or have.schema != self_contained(_load(avsc_path(model.SCHEMA)), shared):
                out.append(model.SCHEMA)
        return out

    def register(self) -> list[RegisteredSchema]:
        """Append a new id for every schema whose .avsc changed; returns what it added."""
        shared = _shared_types()
        added = []
        next_id = max(self._by_id, default=0) + 1
        for name in self.stale():
            rs = RegisteredSchema(next_id, name, self_contained(_load(avsc_path(name)), shared))
            rs.parsed  # noqa: B018 - fail before writing if the schema does not parse
            self._by_id[next_id] = rs
            self._current[name] = rs
            added.append(rs)
            next_id += 1
        if added:
            entries = [{"id": r.id, "name": r.name, "schema": r.schema} for r in self.all()]
            self.path.write_text(json.dumps({"schemas": entries}, indent=1) + "\n", encoding="utf-8")
        return added


def main(argv: list[str]) -> int:
    registry = FileSchemaRegistry()
    if argv[:1] == ["register"]:
        for rs in registry.register():
            print(f"registered {rs.name} as schema id {rs.id}")
        return 0
    stale = registry.stale()
    for name in stale:
        print(f"{name}: .avsc changed since its last id; run `python -m schemas.registry register`")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
