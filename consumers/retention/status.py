"""Where each retention rule stands: rows due now, rows due within 30 days, the oldest row kept.

Rows under a fixed-term rule are due once their TTL has passed; ClickHouse drops
them at its next merge of their part, so a few may be listed as due for a while.
Rows under an event-triggered rule are due once the retention run would remove them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from consumers.policy.model import EventTrigger, Policy
from consumers.retention.plan import Planner
from consumers.store.store import Store

AHEAD = dt.timedelta(days=30)


@dataclass(frozen=True)
class RuleStatus:
    rule: str
    enforced_by: str  # "ttl" or "run"
    starts: str  # what the term runs from
    term: str
    action: str
    kept: int  # rows the rule still holds (with a person in them, for an anonymising rule)
    due_now: int
    due_soon: int  # due within the next 30 days, not yet due now
    oldest_kept: dt.datetime | None


def rule_statuses(store: Store, policy: Policy, as_of: dt.datetime) -> list[RuleStatus]:
    planner = Planner(store, policy)
    out = []
    for name, rule in policy.retention.items():
        p = {"r": name, "now": as_of, "soon": as_of + AHEAD}
        linked = " AND (arrayExists(x -> x != '', subject_ids) OR actor_id != '')" if rule.action == "anonymise" else ""
        kept, oldest = store.rows(
            f"SELECT count(), min(occurred_at) FROM events WHERE retention_rule = {{r:String}}{linked}", p
        )[0]
        if isinstance(rule.trigger, EventTrigger):
            now = planner.rule_plan(name, as_of).events
            soon = max(planner.rule_plan(name, as_of + AHEAD).events - now, 0)
            starts = " or ".join(rule.trigger.events) + f" ({rule.trigger.scope})"
        else:
            expiry = rule.duration.sql_after("toDateTime(occurred_at)")
            now, soon = store.rows(
                f"SELECT countIf({expiry} <= {{now:DateTime64(3, 'UTC')}}),"
                f" countIf({expiry} > {{now:DateTime64(3, 'UTC')}} AND {expiry} <= {{soon:DateTime64(3, 'UTC')}})"
                " FROM events WHERE retention_rule = {r:String}",
                p,
            )[0]
            starts = "the row's own date"
        out.append(RuleStatus(name, "run" if isinstance(rule.trigger, EventTrigger) else "ttl", starts, rule.term,
                              rule.action, int(kept), int(now), int(soon),
                              (oldest.replace(tzinfo=dt.UTC) if oldest.tzinfo is None else oldest) if kept else None))  # fmt: skip
    return out


def last_run(store: Store) -> tuple[str, dt.datetime] | None:
    rows = store.rows("SELECT run_id, max(finished_at) FROM retention_runs GROUP BY run_id ORDER BY 2 DESC LIMIT 1")
    return (rows[0][0], rows[0][1].replace(tzinfo=dt.UTC)) if rows else None
