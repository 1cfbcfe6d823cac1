"""Usage questions of the product team, answered from ``product_events`` with pseudonymous ids only."""

from __future__ import annotations

import datetime as dt

from consumers.store import Store


def top_components(store: Store, since: dt.datetime | None = None, limit: int = 10) -> list[tuple[str, int, int, int]]:
    """(component, uses, tenants, people) for the most used components, most used first."""
    where = "WHERE ingested_at >= {since:DateTime64(3, 'UTC')}" if since else ""
    return [
        (c, int(n), int(t), int(p))
        for c, n, t, p in store.rows(
            "SELECT component, count() AS n, uniqExact(tenant_id), uniqExactIf(actor_id, actor_id != '')"
            f" FROM product_events ARRAY JOIN components AS component {where}"
            " GROUP BY component ORDER BY n DESC, component LIMIT {limit:UInt32}",
            {"since": since, "limit": limit},
        )
    ]


def active_people(store: Store) -> int:
    """How many distinct people acted in product-insight events."""
    return int(store.scalar("SELECT uniqExactIf(actor_id, actor_id != '') FROM product_events") or 0)
