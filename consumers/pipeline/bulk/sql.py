"""SQL generated from one schema and the policy: how the engine reads, checks, tags and routes its rows.

Nothing here is kept by hand beside its source. The stage table's columns come
from the Avro schema; the checks from the schema's logical types and the models'
field rules (the same ones ``schemas.reader`` applies); the rule each event gets,
and its tags, from the policy file through the ``Tagger``.

Every check is one the per-message path would also pass: a row the SQL accepts,
the reader accepts, so both store the same rows. Where the engine's judgement
could differ from Python's, the SQL is stricter, and the row takes the
per-message path (``route`` 1): an event id not in canonical form, a pattern
Python's ``re`` might read otherwise. ``route`` 2 marks a row whose rule needs
the consent ledger, which the consumer asks row by row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from consumers.pipeline.consent import LEDGER_EVENT_TYPES
from consumers.pipeline.tagging import Tagger, Tags
from consumers.policy.model import Rule
from schemas.envelope import PersonRole
from schemas.models import identifier_fields
from schemas.reader import ENVELOPE_CONSTRAINTS, PRODUCER_CONSTRAINTS, Shape
from schemas.registry import RegisteredSchema
from schemas.values import EARLIEST_DAY, EARLIEST_MS, LATEST_DAY, LATEST_MS

from .container import framed_schema

ROUTE_BULK, ROUTE_MESSAGE, ROUTE_CONSENT = 0, 1, 2
# The oldest ClickHouse whose SQL this module's needs: mapFromArrays came in 23.3 (the other functions,
# the Join engine's joinGet and a token on INSERT ... SELECT are older). An older server gets the
# per-message path. docker-compose's image is held at or above it by tests/test_compose.py.
MIN_ENGINE_VERSION = (23, 3)
_UUID = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# A pattern the engine may judge: anchored at both ends, nothing but classes, literals and counts.
# For such a pattern RE2 accepts no string Python's ``re.match`` refuses.
_PORTABLE_PATTERN = re.compile(r"^\^[A-Za-z0-9\[\]{},\-_ ]*\$$")
_ACTOR_ROLES = (PersonRole.actor, PersonRole.last_updater, PersonRole.creator)
_PRIMARY_ROLES = (PersonRole.subject, PersonRole.participant, PersonRole.contact, PersonRole.recipient)
_CONSENT_ROLES = (PersonRole.recipient, PersonRole.subject)
_PRIMITIVES = {"string": "String", "long": "Int64", "int": "Int32", "boolean": "Bool"}


class NotBulkable(Exception):
    """A schema whose rows only the per-message path can judge (the reason says why)."""


def quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _strings(values: Sequence[str]) -> str:
    return "[" + ", ".join(quote(v) for v in values) + "]::Array(String)"


@dataclass(frozen=True)
class _Type:
    """A field's Avro type as the engine reads it, and what the SQL needs to know of it."""

    kind: str  # string, long, int, boolean, enum, record, array
    sql: str
    nullable: bool = False
    fields: tuple[tuple[str, _Type], ...] = ()
    items: _Type | None = None


def _type_of(node: Any, named: dict[str, _Type]) -> _Type:
    if isinstance(node, list):
        kinds = [n for n in node if n != "null"]
        if len(node) != 2 or len(kinds) != 1:
            raise NotBulkable(f"a union other than [null, T]: {node}")
        inner = _type_of(kinds[0], named)
        if inner.kind not in ("string", "long", "int", "boolean", "enum"):
            raise NotBulkable(f"a nullable {inner.kind}")
        return _Type(inner.kind, f"Nullable({inner.sql})", True)
    if isinstance(node, str):
        if node in _PRIMITIVES:
            return _Type(node, _PRIMITIVES[node])
        if node in named:
            return named[node]
        raise NotBulkable(f"type {node!r}")
    kind = node["type"]
    if kind in _PRIMITIVES:
        return _Type(kind, _PRIMITIVES[kind])
    if kind == "enum":
        found = _Type("enum", "String")
    elif kind == "record":
        fields = tuple((f["name"], _type_of(f["type"], named)) for f in node["fields"])
        found = _Type("record", "Tuple(" + ", ".join(f"{n} {t.sql}" for n, t in fields) + ")", fields=fields)
    elif kind == "array":
        items = _type_of(node["items"], named)
        found = _Type("array", f"Array({items.sql})", items=items)
    elif kind == "fixed":
        found = _Type("fixed", f"FixedString({int(node['size'])})")
    else:
        raise NotBulkable(f"an Avro {kind}")
    if "name" in node:
        full = node["name"] if "." in node["name"] else f"{node.get('namespace', '')}.{node['name']}".lstrip(".")
        named[full] = named[node["name"]] = found
    return found


def stage_columns(schema: RegisteredSchema) -> tuple[tuple[str, str], ...]:
    """The stage table's columns for a schema's framed records: the engine's types for the Avro ones."""
    named: dict[str, _Type] = {}
    return tuple((f["name"], _type_of(f["type"], named).sql) for f in framed_schema(schema)["fields"])


def _utf8(expr: str, t: _Type, depth: int = 0) -> list[str]:
    """Checks that every string inside ``expr`` is valid UTF-8 (Python decodes them; the engine keeps bytes)."""
    if t.kind == "string":
        return [f"isValidUTF8(ifNull({expr}, ''))" if t.nullable else f"isValidUTF8({expr})"]
    if t.kind == "record":
        return [c for name, ft in t.fields for c in _utf8(f"tupleElement({expr}, {quote(name)})", ft, depth)]
    if t.kind == "array" and t.items is not None:
        inner = _utf8(f"x{depth}", t.items, depth + 1)
        return [f"arrayAll(x{depth} -> {' AND '.join(inner)}, {expr})"] if inner else []
    return []


def _at(path: Sequence[str]) -> str:
    expr = f"`{path[0]}`"
    for name in path[1:]:
        expr = f"tupleElement({expr}, {quote(name)})"
    return expr


def _as_text(expr: str, t: _Type, logical: str | None) -> str:
    """A payload value as the per-message path writes it in ``attributes``: Python's str() or isoformat()."""
    value = f"assumeNotNull({expr})" if t.nullable else expr
    if logical == "timestamp-millis":
        ms = f"positiveModulo({value}, 1000)"
        return (f"concat(formatDateTime(fromUnixTimestamp64Milli({value}, 'UTC'), '%Y-%m-%dT%H:%i:%S', 'UTC'), "
                f"if({ms} = 0, '', concat('.', leftPad(toString({ms}), 3, '0'), '000')), '+00:00')")  # fmt: skip
    if logical == "date":
        return f"toString(addDays(toDate32('1970-01-01'), {value}))"
    if t.kind in ("string", "enum"):
        return value
    if t.kind in ("long", "int"):
        return f"toString({value})"
    if t.kind == "boolean":
        return f"if({value}, 'True', 'False')"
    raise NotBulkable(f"a payload field of kind {t.kind}")


def _constraint_checks(constraints, where: Sequence[str], types: dict[str, _Type]) -> list[str]:
    checks = []
    for name, pattern, min_len in constraints:
        expr = _at((*where, name))
        nullable = types[name].nullable
        if min_len:
            checks.append(f"ifNull(lengthUTF8({expr}) >= {int(min_len)}, 1)" if nullable else
                          f"lengthUTF8({expr}) >= {int(min_len)}")  # fmt: skip
        if pattern is not None:
            if not _PORTABLE_PATTERN.match(pattern.pattern):
                raise NotBulkable(f"pattern {pattern.pattern!r} of {name} is not one the engine reads alike")
            checks.append(f"ifNull(match({expr}, {quote(pattern.pattern)}), 1)" if nullable else
                          f"match({expr}, {quote(pattern.pattern)})")  # fmt: skip
    return checks


def _first_of(roles: Sequence[PersonRole], ids: str, fallback: str) -> str:
    """The id of the first person holding the first of ``roles`` present (Python's ``roles.index``)."""
    branches = ", ".join(f"has(_roles, '{r.value}'), {ids}[indexOf(_roles, '{r.value}')]" for r in roles)
    return f"multiIf({branches}, {fallback})"


class PolicySQL:
    """The policy's rules, numbered from 1, with each rule's full tags as constant arrays."""

    def __init__(self, tagger: Tagger) -> None:
        self.tagger = tagger
        policy = tagger.policy
        self.rules: list[Rule] = []
        seen: set[int] = set()
        for rule in policy.rules:
            if id(rule) not in seen:
                seen.add(id(rule))
                self.rules.append(rule)
        self.number = {id(r): i for i, r in enumerate(self.rules, start=1)}
        self.tags: list[Tags] = [tagger.full_tags(r) for r in self.rules]
        facts = [tagger.facts_of(r) for r in self.rules]
        self.regions = "[" + ", ".join(_strings(sorted(f.regions)) for f in facts) + "]"
        gated = ("1" if f.requires_consent or f.stoppable else "0" for f in facts)
        self.gated = "[" + ", ".join(gated) + "]::Array(UInt8)"

    def column(self, name: str) -> str:
        """A tag as the constant array the rule number indexes (0, no rule: the type's default)."""
        values = [getattr(t, name) for t in self.tags]
        if isinstance(values[0], tuple):
            return "[" + ", ".join(_strings(v) for v in values) + "]"
        return _strings(values)

    def candidates(self, rows: str) -> str:
        """The candidate rows (events columns, then EXTRA_COLUMNS) from the union of the schemas' rows."""
        tag = self.column
        return f"""
SELECT
    _id, _type, _family, _at, _tenant, _ids, _roles,
    {_first_of(_ACTOR_ROLES, "_ids", "''")} AS _actor,
    _components, _attributes,
    arrayElement({tag("activities")}, _rule_number) AS _activities,
    arrayElement({tag("purposes")}, _rule_number) AS _purposes,
    arrayElement({tag("data_uses")}, _rule_number) AS _data_uses,
    arrayElement({tag("legal_bases")}, _rule_number) AS _legal_bases,
    arrayElement({tag("data_categories")}, _rule_number) AS _data_categories,
    arrayElement({tag("data_subject")}, _rule_number) AS _data_subject,
    arrayElement({tag("recipients")}, _rule_number) AS _recipients,
    arrayElement({tag("retention_rule")}, _rule_number) AS _retention_rule,
    _region,
    arrayElement({tag("policy_version")}, _rule_number) AS _policy_version,
    arrayElement({{topics:Array(String)}}, _t + 1) AS _topic_name,
    _p, _o, _schema, _service, _version,
    {{consumer_version:String}} AS _consumer_version,
    {{ingested_at:DateTime64(3, 'UTC')}} AS _ingested_at,
    _t,
    multiIf(NOT _valid, {ROUTE_MESSAGE}, _rule_number = 0, {ROUTE_MESSAGE},
            NOT has(arrayElement({self.regions}, _rule_number), _region), {ROUTE_MESSAGE},
            hasAny(_ids, {{controlled:Array(String)}}), {ROUTE_MESSAGE},
            has(_ids, ''), {ROUTE_MESSAGE},
            arrayElement({self.gated}, _rule_number) = 1, {ROUTE_CONSENT}, {ROUTE_BULK}) AS _route,
    _rule_number,
    arrayFilter((i, r) -> has({_strings([r.value for r in _CONSENT_ROLES])}, r), _ids, _roles) AS _consent,
    _emails, _phones,
    {_first_of(_PRIMARY_ROLES, "_ids", "if(empty(_ids), '', _ids[1])")} AS _primary,
    _idents
FROM ({rows})"""

    def rule_number(self, event_types: Sequence[str], attributes: dict[str, str]) -> str:
        """Which rule tags the event: the first of its type whose conditions hold (``Policy.rule_for``)."""
        branches = []
        for event_type in event_types:
            for when, rule in self.tagger.policy.candidates(event_type):
                conditions = [f"_event_type = {quote(event_type)}"]
                for key, value in when:
                    text = attributes.get(key)
                    conditions.append(f"ifNull({text} = {quote(value)}, 0)" if text else "0")
                branches.append(f"{' AND '.join(conditions)}, {self.number[id(rule)]}")
        return f"multiIf({', '.join(branches)}, 0)" if branches else "0"


@dataclass(frozen=True)
class SchemaSQL:
    """One schema's stage table and the SELECT that turns its rows into candidate event rows."""

    schema: RegisteredSchema
    stage_columns: tuple[tuple[str, str], ...]
    select: str  # its rows from the stage table (@STAGE@), contacts from @CONTACTS@, for PolicySQL.candidates

    @classmethod
    def of(cls, schema: RegisteredSchema, policy: PolicySQL) -> SchemaSQL:
        model = schema.model
        shape = Shape.of(schema)
        if shape.needs_pydantic:
            raise NotBulkable(f"{schema.name} has checks of its own that only its model makes")
        if set(model.EVENT_TYPES) & LEDGER_EVENT_TYPES:
            raise NotBulkable(f"{schema.name} carries consent events, which the consent ledger reads one by one")
        named: dict[str, _Type] = {}
        framed = framed_schema(schema)
        types = {f["name"]: _type_of(f["type"], named) for f in framed["fields"]}
        stage = tuple((name, t.sql) for name, t in types.items())
        envelope = types["envelope"]
        env_types = dict(envelope.fields)
        producer_types = dict(env_types["producer"].fields)

        logical = {path: kind for path, kind in schema.logical_fields}
        checks = [c for name, t in types.items() if not name.startswith("_") for c in _utf8(f"`{name}`", t)]
        for path, kind in schema.logical_fields:
            expr = _at(path)
            if kind == "uuid":
                checks.append(f"ifNull(match({expr}, '{_UUID}'), 1)")
            elif kind == "timestamp-millis":
                checks.append(f"ifNull({expr} BETWEEN {EARLIEST_MS} AND {LATEST_MS}, 1)")
            elif kind == "date":
                checks.append(f"ifNull({expr} BETWEEN {EARLIEST_DAY} AND {LATEST_DAY}, 1)")
            else:
                raise NotBulkable(f"logical type {kind}")
        checks += _constraint_checks(ENVELOPE_CONSTRAINTS, ("envelope",), env_types)
        checks += _constraint_checks(PRODUCER_CONSTRAINTS, ("envelope", "producer"), producer_types)
        checks += _constraint_checks(shape.constraints, (), types)
        checks.append(f"has({_strings(model.EVENT_TYPES)}, _event_type)")
        checks.append("arrayAll(p -> ifNull(tupleElement(p, 'email'), '') != '' OR ifNull(tupleElement(p, 'phone'), '')"
                      " != '', _people)")  # fmt: skip
        # Every phone number given must be one: the consumer put an id in the contacts for each it could
        # normalise (bulk/path.py), so a number without one is refused by the per-message path, with its reason.
        checks.append(f"arrayAll(p -> ifNull(tupleElement(p, 'phone'), '') = '' OR joinGet('@CONTACTS@', 'subject_id',"
                      f" {PHONE_KEY}) != '', _people)")  # fmt: skip

        idents = identifier_fields(model)
        payload = [n for n in types if not n.startswith("_") and n != "envelope"]
        plain = [n for n in payload if n not in idents and n != "components"]
        attributes = {n: _as_text(f"`{n}`", types[n], logical.get((n,))) for n in plain}
        # (name, text or NULL): a null value leaves the attribute out, as in Python.
        texts = {n: f"if(isNull(`{n}`), NULL, {a})" if types[n].nullable else f"toNullable({a})"
                 for n, a in attributes.items()}  # fmt: skip
        pairs = ", ".join(f"tuple({quote(n)}, {texts[n]})" for n in plain)
        attribute_map = ("mapFromArrays(arrayMap(t -> t.1, _pairs), arrayMap(t -> assumeNotNull(t.2), _pairs))"
                         if plain else "map()::Map(String, String)")  # fmt: skip
        ident_pairs = ", ".join(f"tuple({quote(n)}, {_as_text(f'`{n}`', types[n], logical.get((n,)))})"
                                for n in idents if types[n].nullable is False)  # fmt: skip
        nullable_idents = ", ".join(
            f"if(isNull(`{n}`), [], [tuple({quote(n)}, {_as_text(f'`{n}`', types[n], logical.get((n,)))})])"
            for n in idents if types[n].nullable
        )  # fmt: skip
        ident_arrays = [a for a in (f"[{ident_pairs}]" if ident_pairs else "", nullable_idents) if a]
        ident_expr = f"arrayConcat({', '.join(ident_arrays)})" if ident_arrays else "[]::Array(Tuple(String, String))"

        rule = policy.rule_number(model.EVENT_TYPES, {n: attributes[n] for n in plain})
        valid = " AND ".join(checks)
        # What differs per schema: reading its fields. The policy's tags and the routing come once, in
        # PolicySQL.candidates over all schemas' rows: a flush's statement stays small to parse.
        select = f"""
SELECT
    toUInt16(_topic) AS _t,
    toUInt32(_partition) AS _p,
    reinterpretAsUInt64(_offset) AS _o,
    toUUIDOrZero(tupleElement(envelope, 'event_id')) AS _id,
    _event_type AS _type,
    CAST({quote(model.FAMILY)}, 'String') AS _family,
    fromUnixTimestamp64Milli(if(_valid, tupleElement(envelope, 'occurred_at'), 0), 'UTC') AS _at,
    ifNull(tupleElement(envelope, 'tenant_id'), '') AS _tenant,
    _ids, _roles,
    CAST({"`components`" if "components" in types else "[]"}, 'Array(String)') AS _components,
    if(_valid, {attribute_map}, CAST(map(), 'Map(String, String)')) AS _attributes,
    tupleElement(envelope, 'processing_region') AS _region,
    toUInt32({schema.id}) AS _schema,
    tupleElement(tupleElement(envelope, 'producer'), 'service') AS _service,
    tupleElement(tupleElement(envelope, 'producer'), 'version') AS _version,
    _valid, toUInt16(_rule) AS _rule_number,
    arrayMap(p -> ifNull(tupleElement(p, 'email'), ''), _people) AS _emails,
    arrayMap(p -> ifNull(tupleElement(p, 'phone'), ''), _people) AS _phones,
    CAST(if(_valid, {ident_expr}, []), 'Array(Tuple(String, String))') AS _idents
FROM (
    SELECT *,
        tupleElement(envelope, 'event_type') AS _event_type,
        tupleElement(envelope, 'people') AS _people,
        arrayMap(p -> toString(tupleElement(p, 'role')), _people) AS _roles,
        arrayMap(p -> joinGet('@CONTACTS@', 'subject_id', {CONTACT_KEY}), _people) AS _ids,
        {valid} AS _valid,
        {"arrayFilter(t -> isNotNull(t.2), [" + pairs + "])" if plain else "[]"} AS _pairs,
        if(_valid, {rule}, 0) AS _rule
    FROM @STAGE@
)"""
        return cls(schema, stage, select)


# A person's phone number among the contacts, whether or not an e-mail names them.
PHONE_KEY = "concat('t', ifNull(tupleElement(p, 'phone'), ''))"
# How a person is looked up among the contacts the consumer pseudonymised: by e-mail, else by phone.
CONTACT_KEY = ("if(ifNull(tupleElement(p, 'email'), '') != '', concat('e', assumeNotNull(tupleElement(p, 'email'))),"
               " concat('t', ifNull(tupleElement(p, 'phone'), '')))")  # fmt: skip

# The candidates table: an events row, and what the consumer needs to decide and to write identifiers.
EXTRA_COLUMNS = (
    ("_t", "UInt16"), ("_route", "UInt8"), ("_rule", "UInt16"), ("_consent", "Array(String)"),
    ("_emails", "Array(String)"), ("_phones", "Array(String)"), ("_primary", "String"),
    ("_idents", "Array(Tuple(String, String))"),
)  # fmt: skip
