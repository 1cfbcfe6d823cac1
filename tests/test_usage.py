"""Usage figures through the rollups: exact counts, the same answer as the raw events, Amsterdam days, late events."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from pipeline_fixtures import TEST_KEY, Pipeline
from typer.testing import CliRunner

from consumers.identity.pseudonym import Pseudonymizer
from consumers.store.controls import ControlKind
from consumers.usage.queries import (
    Period, Source, Window, active_users, adoption, by_subscription_type, subscriptions, top_components, trend,
)  # fmt: skip
from lineage import wiring
from lineage.cli import app
from producers.simulate import simulate
from schemas import models as m

pytestmark = pytest.mark.integration
SUBJECT = Pseudonymizer(TEST_KEY.encode()).of_email
UTC = dt.UTC
# 22:30 UTC on 30 March 2026 is 00:30 on 31 March in Amsterdam (summer time began on the 29th).
LATE_EVENING = dt.datetime(2026, 3, 30, 22, 30, tzinfo=UTC)


def _usage(tenant: str, who: str, at: dt.datetime, components: list[str], updater: str | None = None) -> m.Event:
    people = [{"role": "creator", "email": who}] + ([{"role": "last_updater", "email": updater}] if updater else [])
    return m.UsageActivity(
        envelope={"event_id": uuid.uuid4(), "event_type": "usage.record_completed", "occurred_at": at,
                  "tenant_id": tenant, "people": people, "producer": {"service": "engage-app", "version": "7"},
                  "processing_region": "NL"},
        record_id=f"r-{uuid.uuid4().hex[:6]}", record_kind="record", created_at=at, components=components)  # fmt: skip


def _plan(tenant: str, kind: str, at: dt.datetime, event_type: str = "subscription.started") -> m.Event:
    return m.SubscriptionLifecycle(
        envelope={"event_id": uuid.uuid4(), "event_type": event_type, "occurred_at": at, "tenant_id": tenant,
                  "people": [{"role": "subject", "email": f"admin@{tenant}.nl"}],
                  "producer": {"service": "engage-webshop", "version": "2"}, "processing_region": "NL"},
        subscription_id=f"sub-{tenant}", subscription_type=kind, term_start=at)  # fmt: skip


def day(d: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 3, d, hour, tzinfo=UTC)


KNOWN = [
    _plan("t-a", "business", day(1)), _plan("t-b", "student", day(1)),
    _usage("t-a", "ann@a.nl", day(2), ["process-designer", "workflow"]),
    _usage("t-a", "bob@a.nl", day(2), ["process-designer"]),
    _usage("t-a", "ann@a.nl", day(3), ["forms"], updater="bob@a.nl"),
    _usage("t-b", "cas@b.nl", day(3), ["process-designer"]),
    _usage("t-b", "cas@b.nl", day(9), []),  # no component: counts for activity, not for any component
    _usage("t-b", "cas@b.nl", LATE_EVENING, ["workflow"]),
]


def _agree(store, ask, **kw):
    rollup, raw = ask(store, source=Source.rollup, **kw), ask(store, source=Source.raw, **kw)
    assert rollup == raw, (ask.__name__, kw)
    return rollup.rows


def _every_question(store) -> dict[str, list]:
    w = Window(dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    return {
        "components": _agree(store, top_components, window=w),
        "daily": _agree(store, active_users, period=Period.day),
        "weekly": _agree(store, active_users, period=Period.week, window=w),
        "adoption": _agree(store, adoption),
        "adoption_a": _agree(store, adoption, tenant="t-a"),
        "plans": _agree(store, by_subscription_type, window=w),
        "trend": _agree(store, trend, component="workflow", period=Period.day),
        "subscriptions": _agree(store, subscriptions, period=Period.week),
    }


def test_known_activity_gives_exact_figures_through_the_rollups(pipeline: Pipeline) -> None:
    pipeline.produce(KNOWN)
    assert pipeline.consume().stored == len(KNOWN)
    q = _every_question(pipeline.store)
    assert q["components"] == [("process-designer", 3, 2, 3), ("workflow", 2, 2, 2), ("forms", 1, 1, 1)]
    D = dt.date
    # The late-evening event is on 31 March in Amsterdam; ann and bob both acted on the 3rd (bob as updater).
    assert q["daily"] == [(D(2026, 3, 2), 2, 2), (D(2026, 3, 3), 2, 2), (D(2026, 3, 9), 1, 1), (D(2026, 3, 31), 1, 1)]
    assert q["weekly"] == [(D(2026, 3, 2), 3, 4), (D(2026, 3, 9), 1, 1), (D(2026, 3, 30), 1, 1)]
    assert q["adoption"] == [("process-designer", 2, D(2026, 3, 2), D(2026, 3, 3)),
                             ("workflow", 2, D(2026, 3, 2), D(2026, 3, 31)), ("forms", 1, D(2026, 3, 3), D(2026, 3, 3))]
    assert q["adoption_a"] == [("process-designer", D(2026, 3, 2)), ("workflow", D(2026, 3, 2)), ("forms", D(2026, 3, 3))]
    assert q["plans"] == [("business", 1, 2, 3), ("student", 1, 1, 3)]
    assert q["trend"] == [(D(2026, 3, 2), 1, 1, 1), (D(2026, 3, 31), 1, 1, 1)]
    assert q["subscriptions"] == [(D(2026, 2, 23), "business", 1, 0, 0), (D(2026, 2, 23), "student", 1, 0, 0)]


def test_late_and_out_of_order_events_land_on_the_day_they_happened(pipeline: Pipeline) -> None:
    pipeline.produce(KNOWN[:4])
    pipeline.consume()
    before = active_users(pipeline.store, Period.day).rows
    # Arriving days later, and older than everything stored so far.
    late = [_usage("t-a", "dan@a.nl", day(1, hour=23), ["audit"]), _usage("t-a", "ann@a.nl", day(2, hour=8), ["audit"])]
    pipeline.produce(late)
    stats = pipeline.consumer().run(until_idle=30, max_messages=len(late))
    assert stats.stored == len(late)
    after = dict((d, (u, n)) for d, u, n in _agree(pipeline.store, active_users, period=Period.day))
    # 23:00 UTC on 1 March is midnight in Amsterdam (winter time): 2 March.
    assert after[dt.date(2026, 3, 2)] == (3, 4) and dict((d, (u, n)) for d, u, n in before)[dt.date(2026, 3, 2)] == (2, 2)
    assert dt.date(2026, 3, 1) not in after
    assert dict(_agree(pipeline.store, adoption, tenant="t-a"))["audit"] == dt.date(2026, 3, 2)


def test_rollups_agree_with_the_raw_events_on_simulated_activity_and_after_people_object(pipeline: Pipeline) -> None:
    events = list(simulate(4000, seed=5, days=40, end=dt.datetime(2026, 3, 31, tzinfo=UTC)))
    pipeline.produce(events)
    pipeline.consume()
    before = _every_question(pipeline.store)
    assert before["components"] and before["daily"] and before["plans"] and before["subscriptions"]

    # Two of the most active people object to product insight and one is restricted: both forms drop them.
    busiest = [a for (a,) in pipeline.store.rows(
        "SELECT actor_id FROM product_events WHERE actor_id != '' GROUP BY actor_id ORDER BY count() DESC LIMIT 3")]
    controls = wiring.controls(pipeline.store)
    controls.set(busiest[0], ControlKind.objection, "req-1", "objection", purpose="product_insight")
    controls.set(busiest[1], ControlKind.objection, "req-2", "objection", purpose="product_insight")
    controls.set(busiest[2], ControlKind.restriction, "req-3", "restriction")
    after = _every_question(pipeline.store)
    assert sum(n for _, n, _, _ in after["components"]) < sum(n for _, n, _, _ in before["components"])
    assert after["subscriptions"] == before["subscriptions"]  # contracts, not people


def test_lineage_usage_prints_tables_csv_and_json_and_refuses_bad_options(pipeline: Pipeline) -> None:
    pipeline.produce(KNOWN)
    pipeline.consume()
    s = pipeline.settings
    env = {"LINEAGE_HOME": str(s.home), "CLICKHOUSE_URL": s.store_url, "LINEAGE_CLICKHOUSE_DATABASE": s.clickhouse_database,
           "COLUMNS": "200"}  # fmt: skip

    def run(*args: str):
        return CliRunner().invoke(app, ["usage", *args], env=env)

    table = run("components", "--from", "2026-03-01", "--to", "2026-03-31")
    assert table.exit_code == 0, table.output
    assert "process-designer" in table.output and "from the rollup" in table.output
    csv_out = run("active", "--by", "week", "--format", "csv")
    assert csv_out.output.splitlines() == ["week,active_users,events", "2026-03-02,3,4", "2026-03-09,1,1",
                                           "2026-03-30,1,1"]  # fmt: skip
    raw = json.loads(run("trend", "workflow", "--by", "day", "--format", "json", "--source", "raw").output)
    assert raw == [{"day": "2026-03-02", "uses": 1, "people": 1, "tenants": 1},
                   {"day": "2026-03-31", "uses": 1, "people": 1, "tenants": 1}]  # fmt: skip
    for command in ("adoption", "plans", "subscriptions"):
        assert run(command).exit_code == 0, command
    assert run("active", "--by", "month").exit_code == 2
    assert run("components", "--source", "cache").exit_code == 2
    backwards = run("components", "--from", "2026-03-31", "--to", "2026-03-01")
    assert backwards.exit_code == 2 and "after --to" in backwards.output


def test_an_erased_person_leaves_the_rollups_as_they_leave_the_events(pipeline: Pipeline) -> None:
    from consumers.policy.loader import load_policy
    from consumers.rights.erasure import Eraser
    from consumers.usage.rebuild import recount

    pipeline.produce(KNOWN)
    pipeline.consume()
    bob = SUBJECT("bob@a.nl")
    erased = Eraser(pipeline.store, load_policy(), recount(pipeline.store)).erase(bob)
    # His own event is gone; the one he updated for ann stays, without him.
    assert (erased.events_deleted, erased.events_unlinked) == (1, 1) and erased.rollup_cells == 2
    # No control hides him from the rollup any more: the rebuilt cells alone give the raw answers.
    assert pipeline.store.scalar("SELECT count() FROM subject_controls") == 0
    q = _every_question(pipeline.store)
    assert q["components"] == [("process-designer", 2, 2, 2), ("workflow", 2, 2, 2), ("forms", 1, 1, 0)]
