"""Rollups ClickHouse keeps up to date itself: materialised views from ``events`` into small tables.

Days are days in Europe/Amsterdam, where Engage Process and its customers work:
an event at 23:30 UTC on 31 March belongs to 1 April. The views compute the day
from the event's own time, so an event that arrives late or out of order is
added to the day it happened, not the day it arrived.

``usage_daily`` holds one cell per day, tenant and component: uses, events, and
the distinct people who acted (an exact uniq state of pseudonymous ids, never a
list of them). Like ``product_events`` it leaves out events about anyone
restricted, erased or objecting to product insight: the view reads the controls
as each block of events is inserted, and every change of a person's controls
rebuilds the cells that person appears in (``consumers/usage/rebuild.py``), as
does an erasure once the events have forgotten them. A state cannot forget one
person; a rebuilt cell never held them.
"""

from __future__ import annotations

from consumers.policy.local_time import TIME_ZONE
from consumers.store.store import Store
from consumers.store.tables import PHYSICAL_ERASURE, TableSet
from consumers.usage.views import CONTROLLED, PRODUCT_EVENTS, PRODUCT_PURPOSE

DAY = f"toDate(occurred_at, '{TIME_ZONE}')"
# component '' stands for an event without components, so people and events with none still count.
COMPONENTS = "if(empty(components), [''], components)"

USAGE_DAILY = f"""
CREATE TABLE IF NOT EXISTS usage_daily (
    day             Date                   COMMENT 'the day in {TIME_ZONE}',
    tenant_id       LowCardinality(String),
    component       LowCardinality(String) COMMENT 'empty: the events named no component',
    retention_rule  LowCardinality(String),
    uses            SimpleAggregateFunction(sum, UInt64) COMMENT 'events that used the component',
    events          SimpleAggregateFunction(sum, UInt64) COMMENT 'events counted once, whatever their components',
    people          AggregateFunction(uniqExact, String) COMMENT 'distinct people who acted'
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, tenant_id, component, retention_rule)
SETTINGS {PHYSICAL_ERASURE}
"""


def usage_cells_select(where: str = "1") -> str:
    """The SELECT that turns product-insight events into cells of ``usage_daily``; ``where`` narrows the events."""
    return f"""
SELECT {DAY} AS day, tenant_id, component, retention_rule,
       count() AS uses, countIf(position = 1) AS events, uniqExactStateIf(actor_id, actor_id != '') AS people
FROM events
ARRAY JOIN {COMPONENTS} AS component, arrayEnumerate({COMPONENTS}) AS position
WHERE has(purposes, '{PRODUCT_PURPOSE}') AND NOT hasAny(subject_ids, {CONTROLLED}) AND ({where})
GROUP BY day, tenant_id, component, retention_rule
"""


USAGE_DAILY_SELECT = usage_cells_select()

# The latest subscription type of each tenant: usage by subscription type joins on it.
TENANT_PLANS = """
CREATE TABLE IF NOT EXISTS tenant_plans (
    tenant_id          String,
    subscription_type  AggregateFunction(argMax, String, DateTime64(3, 'UTC'))
) ENGINE = AggregatingMergeTree
ORDER BY tenant_id
"""

TENANT_PLANS_SELECT = """
SELECT tenant_id, argMaxState(attributes['subscription_type'], occurred_at) AS subscription_type
FROM events
WHERE family = 'subscription' AND tenant_id != '' AND attributes['subscription_type'] != ''
GROUP BY tenant_id
"""

# Subscriptions started, renewed and ended per day and type: counts of tenants' contracts,
# no person in them.
SUBSCRIPTIONS_DAILY = f"""
CREATE TABLE IF NOT EXISTS subscriptions_daily (
    day                Date COMMENT 'the day in {TIME_ZONE}',
    subscription_type  LowCardinality(String),
    event_type         LowCardinality(String),
    subscriptions      UInt64
) ENGINE = SummingMergeTree(subscriptions)
ORDER BY (day, subscription_type, event_type)
"""

SUBSCRIPTIONS_DAILY_SELECT = f"""
SELECT {DAY} AS day, attributes['subscription_type'] AS subscription_type, event_type, count() AS subscriptions
FROM events
WHERE event_type IN ('subscription.started', 'subscription.renewed', 'subscription.ended')
GROUP BY day, subscription_type, event_type
"""

# (table, its DDL, the view that fills it, the view's SELECT)
ROLLUPS = (
    ("usage_daily", USAGE_DAILY, "usage_daily_mv", USAGE_DAILY_SELECT),
    ("tenant_plans", TENANT_PLANS, "tenant_plans_mv", TENANT_PLANS_SELECT),
    ("subscriptions_daily", SUBSCRIPTIONS_DAILY, "subscriptions_daily_mv", SUBSCRIPTIONS_DAILY_SELECT),
)


def ensure_rollups(command, existing: set[str]) -> list[str]:
    """Create missing rollups; a view created now is first filled from the events already stored.

    ``command`` runs one statement; ``existing`` names the tables and views already there.
    Returns the rollups filled from stored events.
    """
    filled = []
    for table, ddl, view, select in ROLLUPS:
        command(ddl)
        if view in existing:
            continue
        command(f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} TO {table} AS {select}")
        # Events a consumer stores in the instant between these two statements are counted
        # twice; creating the view while no consumer runs (a first start, an upgrade) avoids it.
        command(f"INSERT INTO {table} {select}")
        filled.append(table)
    return filled


def _views_and_rollups(store: Store) -> None:
    ensure_rollups(store.command, store.table_names())


# The product view reads subject_controls: the store's controls come before this set.
TABLES = TableSet("usage", (PRODUCT_EVENTS,), finish=_views_and_rollups)
