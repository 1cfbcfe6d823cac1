"""What the policy makes of the tables: the TTLs and the view that keeps retention facts.

Both are generated from the policy file, so changing a term there changes the
store. Each is applied only when its definition changed (``policy_objects``
remembers the last one): a new TTL rewrites every part of its table, which is
right once per policy change and wrong at every start.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from consumers.policy.errors import PolicyFileError
from consumers.policy.model import Policy
from consumers.store.events import POSITION
from consumers.store.store import Store

# Per scope: the values an event names for it, and the unit that ends within it.
# A tenant's term ends when every one of its subscriptions has ended.
SCOPE_VALUES = {
    "tenant": "[tenant_id]",
    "contact": "[attributes['contact_id']]",
    "subject": "arrayFilter(x -> x != '', subject_ids)",
}
UNIT = "if(scope_kind = 'tenant', attributes['subscription_id'], scope)"
FACTS_VIEW = "retention_facts_mv"
# Tables whose rows carry a retention rule, with the date the TTL reads.
RULED_TABLES = {"events": "occurred_at", "identifiers": "occurred_at", "usage_daily": "day"}


def literal(text: str) -> str:
    """A ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _in(values: list[str]) -> str:
    return "(" + ", ".join(literal(v) for v in sorted(values)) + ")"


def ttl_clause(policy: Policy, table: str) -> str:
    """The TTL of a table holding rows of several rules: one delete per rule with a fixed term."""
    clauses = []
    for name, rule in sorted(policy.retention_by_ttl().items()):
        if date := RULED_TABLES.get(table):
            clauses.append(f"{rule.duration.sql_after(f'toDateTime({date})')} DELETE WHERE retention_rule = {literal(name)}")
        elif column := rule.applies_to.get(table):
            clauses.append(f"{rule.duration.sql_after(f'toDateTime({column})')} DELETE")
    return ", ".join(clauses)


def facts_select(policy: Policy) -> str:
    """The SELECT turning trigger events into retention facts, for the view and for a backfill."""
    types = policy.fact_event_types()
    if not types:
        return ""
    by_scope: dict[str, list[str]] = {}
    for event_type, (scope, _) in types.items():
        by_scope.setdefault(scope, []).append(event_type)
    kind = "multiIf(" + ", ".join(f"event_type IN {_in(v)}, {literal(k)}" for k, v in sorted(by_scope.items())) + ", '')"
    values = "multiIf(" + ", ".join(f"scope_kind = {literal(k)}, {SCOPE_VALUES[k]}" for k in sorted(by_scope)) + ", [])"
    fields: dict[str, list[str]] = {}
    for event_type, (_, field) in types.items():
        if field:
            fields.setdefault(field, []).append(event_type)
    starts = [
        f"event_type IN {_in(v)}, coalesce(parseDateTime64BestEffortOrNull(attributes[{literal(f)}], 3, 'UTC'), occurred_at)"
        for f, v in sorted(fields.items())
    ]
    effective = f"multiIf({', '.join(starts)}, occurred_at)" if starts else "occurred_at"
    return (
        f"SELECT scope_kind, scope, {UNIT} AS unit, event_type, effective_at, event_id FROM ("
        f" SELECT event_id, event_type, attributes, {kind} AS scope_kind, arrayJoin({values}) AS scope,"
        f" {effective} AS effective_at FROM events WHERE event_type IN {_in(list(types))}"
        ") WHERE scope != ''"
    )


@dataclass(frozen=True)
class PolicyObject:
    name: str
    definition: str
    apply: Callable[[Store, str], None]


def _ttl(table: str, definition: str) -> Callable[[Store, str], None]:
    def apply(store: Store, previous: str) -> None:
        if definition:
            store.command(f"ALTER TABLE {table} MODIFY TTL {definition}")
        elif previous:
            store.command(f"ALTER TABLE {table} REMOVE TTL")

    return apply


def _facts_view(select: str) -> Callable[[Store, str], None]:
    def apply(store: Store, _previous: str) -> None:
        store.command(f"DROP VIEW IF EXISTS {FACTS_VIEW}")
        if not select:
            return
        store.command(f"CREATE MATERIALIZED VIEW {FACTS_VIEW} TO retention_facts AS {select}")
        # Events stored before the view existed (or under another policy) hold facts too.
        # The table replaces duplicates, and the run reads facts distinct.
        store.command(f"INSERT INTO retention_facts {select}")

    return apply


def policy_objects(policy: Policy, tables_present: set[str]) -> list[PolicyObject]:
    objects = []
    for table in (*RULED_TABLES, *sorted({t for r in policy.retention.values() for t in r.applies_to})):
        if table not in tables_present:
            raise PolicyFileError(f"the policy gives a term for table {table!r}, which the store does not have")
        clause = ttl_clause(policy, table)
        objects.append(PolicyObject(f"{table}.ttl", clause, _ttl(table, clause)))
    select = facts_select(policy)
    objects.append(PolicyObject(FACTS_VIEW, select, _facts_view(select)))
    return objects


def _backfill_identifier_rules(store: Store) -> None:
    # Identifiers stored before they carried their event's retention rule get it from
    # the event, so that the TTL reaches them too. Runs only while such rows exist.
    if not store.scalar("SELECT count() FROM identifiers WHERE retention_rule = '' AND source_topic != ''"):
        return
    for (rule,) in store.rows("SELECT DISTINCT retention_rule FROM events"):
        store.command(
            "ALTER TABLE identifiers UPDATE retention_rule = {r:String} WHERE retention_rule = ''"
            f" AND {POSITION} IN (SELECT {POSITION} FROM events WHERE retention_rule = {{r:String}})",
            {"r": rule},
            {"mutations_sync": 2},
        )


def sync_policy_schema(store: Store, policy: Policy) -> list[str]:
    """Bring the TTLs and the retention-facts view in line with the policy.

    Returns the names of the objects it changed.
    """
    _backfill_identifier_rules(store)
    present = store.table_names()
    applied = dict(store.rows("SELECT name, argMax(definition, applied_at) FROM policy_objects GROUP BY name"))
    changed = []
    for obj in policy_objects(policy, present):
        previous = applied.get(obj.name)
        if previous == obj.definition and (obj.name != FACTS_VIEW or FACTS_VIEW in present or not obj.definition):
            continue
        obj.apply(store, previous or "")
        store.append("policy_objects", ("name", "definition", "policy_version", "applied_at"),
                     [(obj.name, obj.definition, policy.version, dt.datetime.now(dt.UTC))])  # fmt: skip
        changed.append(obj.name)
    return changed
