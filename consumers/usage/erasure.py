"""Erasure in the rollups: the person leaves ``usage_daily`` as they leave the events.

An event about the person alone is deleted, so its share of the rollup goes; an
event shared with others loses the person's id, so its share stays without them.
The rollup's key holds the people, and ClickHouse cannot update a key column:
the rows naming the person are read, deleted, and written back without them.
"""

from __future__ import annotations

from consumers.store import Store

_SYNC = {"mutations_sync": 2}
_COLUMNS = ("day", "tenant_id", "component", "actor_id", "people", "retention_rule", "uses", "events")


def erase_from_rollups(store: Store, subject_id: str) -> int:
    """Take the person out of the rollups; returns how many rollup rows named them."""
    p = {"s": subject_id}
    rows = store.rows(
        "SELECT day, tenant_id, component, actor_id, people, retention_rule, sum(uses), sum(events) FROM usage_daily"
        " WHERE has(people, {s:String}) GROUP BY day, tenant_id, component, actor_id, people, retention_rule",
        p,
    )
    if not rows:
        return 0
    kept = []
    for day, tenant, component, actor, people, rule, uses, events in rows:
        others = [x for x in people if x != subject_id]
        if others:  # shared with others: stays, without the person
            kept.append((day, tenant, component, "" if actor == subject_id else actor, others, rule, uses, events))
    store.command("ALTER TABLE usage_daily DELETE WHERE has(people, {s:String})", p, _SYNC)
    if kept:
        store.client.insert("usage_daily", kept, column_names=list(_COLUMNS))
    return len(rows)


def remaining_in_rollups(store: Store, subject_id: str) -> int:
    return int(store.scalar("SELECT count() FROM usage_daily WHERE has(people, {s:String}) OR actor_id = {s:String}"
                            " SETTINGS apply_deleted_mask = 0", {"s": subject_id}) or 0)  # fmt: skip
