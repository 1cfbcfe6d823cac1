"""The product team's questions, each answerable from the rollups or from the raw events.

The rollups are the default; the raw form reads ``product_events`` and exists so
that a test can hold the two to the same answer and a benchmark can time both.
Both leave out everyone restricted, erased or objecting to product insight, and
both name people by pseudonymous id only (and only count them). Days and weeks
(Monday to Sunday) are in Europe/Amsterdam.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from consumers.store.store import Store
from consumers.usage.rollups import DAY


class Source(StrEnum):
    rollup = "rollup"
    raw = "raw"


class Period(StrEnum):
    day = "day"
    week = "week"


@dataclass(frozen=True)
class Answer:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


@dataclass(frozen=True)
class Window:
    """Days from ``start`` to ``end``, both included; open where None."""

    start: dt.date | None = None
    end: dt.date | None = None

    def where(self, day: str) -> str:
        parts = [f"{day} >= {{start:Date}}" if self.start else "", f"{day} <= {{end:Date}}" if self.end else ""]
        return " AND ".join(p for p in parts if p) or "1"

    def parameters(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end}


ALL = Window()
_USERS = "uniqExactIf(actor_id, actor_id != '')"


def _cells(window: Window) -> str:
    return f"(SELECT * FROM usage_daily WHERE {window.where('day')})"


def _period(period: Period, day: str) -> str:
    return day if period is Period.day else f"toMonday({day})"


def _ask(store: Store, columns: tuple[str, ...], sql: str, parameters: dict[str, Any]) -> Answer:
    rows = [tuple(int(v) if isinstance(v, int) else v for v in r) for r in store.rows(sql, parameters)]
    return Answer(columns, rows)


def top_components(store: Store, window: Window = ALL, limit: int = 10, source: Source = Source.rollup) -> Answer:
    """The most used components: uses, tenants and people using each."""
    p = {**window.parameters(), "limit": limit}
    cols = ("component", "uses", "tenants", "people")
    if source is Source.rollup:
        sql = (f"SELECT component, sum(uses) AS n, uniqExact(tenant_id), uniqExactMerge(people) FROM {_cells(window)}"
               " WHERE component != '' GROUP BY component HAVING n > 0 ORDER BY n DESC, component LIMIT {limit:UInt32}")
    else:
        sql = (f"SELECT component, count() AS n, uniqExact(tenant_id), {_USERS} FROM product_events"
               f" ARRAY JOIN components AS component WHERE {window.where(DAY)}"
               " GROUP BY component ORDER BY n DESC, component LIMIT {limit:UInt32}")  # fmt: skip
    return _ask(store, cols, sql, p)


def active_users(store: Store, period: Period = Period.day, window: Window = ALL,
                 source: Source = Source.rollup) -> Answer:  # fmt: skip
    """Distinct people who acted, and events, per day or week."""
    cols = (period.value, "active_users", "events")
    if source is Source.rollup:
        sql = (f"SELECT {_period(period, 'day')} AS p, uniqExactMerge(people), sum(events) AS n FROM {_cells(window)}"
               " GROUP BY p HAVING n > 0 ORDER BY p")  # fmt: skip
    else:
        sql = (f"SELECT {_period(period, DAY)} AS p, {_USERS}, count() FROM product_events"
               f" WHERE {window.where(DAY)} GROUP BY p ORDER BY p")  # fmt: skip
    return _ask(store, cols, sql, window.parameters())


def trend(store: Store, component: str, period: Period = Period.week, window: Window = ALL,
          source: Source = Source.rollup) -> Answer:  # fmt: skip
    """One component over time: uses, people and tenants per day or week."""
    cols = (period.value, "uses", "people", "tenants")
    p = {**window.parameters(), "component": component}
    if source is Source.rollup:
        sql = (f"SELECT {_period(period, 'day')} AS p, sum(uses) AS n, uniqExactMerge(people), uniqExact(tenant_id)"
               f" FROM {_cells(window)} WHERE component = {{component:String}} GROUP BY p HAVING n > 0 ORDER BY p")
    else:
        sql = (f"SELECT {_period(period, DAY)} AS p, count(), {_USERS}, uniqExact(tenant_id) FROM product_events"
               f" ARRAY JOIN components AS c WHERE c = {{component:String}} AND {window.where(DAY)}"
               " GROUP BY p ORDER BY p")  # fmt: skip
    return _ask(store, cols, sql, p)


def adoption(store: Store, tenant: str | None = None, source: Source = Source.rollup) -> Answer:
    """Per component: how many tenants use it and when the first and the latest began (first use per tenant).

    With ``tenant``: the day that tenant first used each component.
    """
    if source is Source.rollup:
        firsts = (f"SELECT tenant_id, component, min(day) AS first FROM {_cells(ALL)}"
                  " WHERE component != '' AND uses > 0 GROUP BY tenant_id, component")  # fmt: skip
    else:
        firsts = (f"SELECT tenant_id, component, min({DAY}) AS first FROM product_events"
                  " ARRAY JOIN components AS component GROUP BY tenant_id, component")  # fmt: skip
    if tenant is not None:
        return _ask(store, ("component", "first_use"),
                    f"SELECT component, first FROM ({firsts}) WHERE tenant_id = {{t:String}} ORDER BY first, component",
                    {"t": tenant})  # fmt: skip
    return _ask(store, ("component", "tenants", "first_adopted", "last_adopted"),
                f"SELECT component, count() AS n, min(first), max(first) FROM ({firsts})"
                " GROUP BY component ORDER BY n DESC, component", {})  # fmt: skip


def by_subscription_type(store: Store, window: Window = ALL, source: Source = Source.rollup) -> Answer:
    """Usage per subscription type (each tenant's latest): tenants, people, events."""
    cols = ("subscription_type", "tenants", "people", "events")
    if source is Source.rollup:
        plans = "SELECT tenant_id, argMaxMerge(subscription_type) AS plan FROM tenant_plans GROUP BY tenant_id"
        usage = f"SELECT tenant_id, people, events FROM {_cells(window)}"
        users = "uniqExactMerge(people)"
    else:
        plans = ("SELECT tenant_id, argMax(attributes['subscription_type'], occurred_at) AS plan FROM events"
                 " WHERE family = 'subscription' AND tenant_id != '' AND attributes['subscription_type'] != ''"
                 " GROUP BY tenant_id")  # fmt: skip
        usage = f"SELECT tenant_id, actor_id, 1 AS events FROM product_events WHERE {window.where(DAY)}"
        users = _USERS
    sql = (f"SELECT if(plan = '', 'unknown', plan) AS type, uniqExact(u.tenant_id), {users}, sum(events) AS n"
           f" FROM ({usage}) AS u LEFT JOIN ({plans}) AS t ON u.tenant_id = t.tenant_id"
           " GROUP BY type HAVING n > 0 ORDER BY n DESC, type")  # fmt: skip
    return _ask(store, cols, sql, window.parameters())


def subscriptions(store: Store, period: Period = Period.week, window: Window = ALL,
                  source: Source = Source.rollup) -> Answer:  # fmt: skip
    """Subscriptions started, renewed and ended per period and type (counts of contracts, no people)."""
    cols = (period.value, "subscription_type", "started", "renewed", "ended")
    if source is Source.rollup:
        table, count, day = "subscriptions_daily", "subscriptions", "day"
    else:
        table, count, day = ("(SELECT *, attributes['subscription_type'] AS subscription_type FROM events WHERE"
                             " event_type IN ('subscription.started', 'subscription.renewed', 'subscription.ended'))",
                             "1", DAY)  # fmt: skip
    sql = (f"SELECT {_period(period, day)} AS p, subscription_type,"
           + ", ".join(f"sumIf({count}, event_type = 'subscription.{e}')" for e in ("started", "renewed", "ended"))
           + f" FROM {table} WHERE {window.where(day)} GROUP BY p, subscription_type ORDER BY p, subscription_type")
    return _ask(store, cols, sql, window.parameters())
