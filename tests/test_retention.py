"""Retention through the real broker and the real engine: backdated terms, dry runs, interrupted runs, TTLs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from dateutil.relativedelta import relativedelta
from pipeline_fixtures import TEST_KEY, Pipeline
from retention_scenario import (
    ENDED_5_MONTHS, ENDED_7_MONTHS, LATE_RESTART, LEFT_CONTACT, OLD_PROSPECT, OPTED_OUT, READER, RECENT_PROSPECT,
    RENEWED, STAYING_CONTACT, TWO_SUBSCRIPTIONS, WITHDRAWN, retention_scenario,
)  # fmt: skip

from consumers.identity.pseudonym import Pseudonymizer
from consumers.policy.loader import load_policy
from consumers.retention.errors import FutureAsOf
from consumers.retention.run import FACTS_STEP, RetentionRun
from consumers.retention.status import rule_statuses
from consumers.store.store import Store

pytestmark = pytest.mark.integration
POLICY = load_policy()
SUBJECT = Pseudonymizer(TEST_KEY.encode()).of_email


def _fed(pipeline: Pipeline, now: dt.datetime) -> Pipeline:
    events = retention_scenario(now)
    pipeline.produce(events)
    stats = pipeline.consume()
    assert stats.stored == len(events), stats
    return pipeline


def _count(store: Store, where: str, **params) -> int:
    return int(store.scalar(f"SELECT count() FROM events WHERE {where}", params))


def _tenant_rules(store: Store, tenant: str) -> dict[str, int]:
    return dict(store.rows("SELECT retention_rule, count() FROM events WHERE tenant_id = {t:String} GROUP BY 1",
                           {"t": tenant}))  # fmt: skip


def _table_counts(store: Store) -> dict[str, int]:
    return {t: int(store.scalar(f"SELECT count() FROM {t}")) for t in ("events", "identifiers", "retention_facts")}


def _linked(store: Store, email: str, rule: str) -> int:
    """Rows of the rule that still name the person."""
    return _count(store, "retention_rule = {r:String} AND has(subject_ids, {s:String})", r=rule, s=SUBJECT(email))


def snapshot(store: Store) -> dict[str, list]:
    """Everything retention can change, in a form two stores fed the same events can be compared by."""
    return {
        "events": sorted((str(e), tuple(s), a) for e, s, a in store.rows("SELECT event_id, subject_ids, actor_id FROM events")),
        "identifiers": sorted(store.rows("SELECT subject_id, field, value, splitByChar('.', source_topic)[-1], source_partition,"
                                      " source_offset FROM identifiers")),
        "facts": sorted(store.rows("SELECT DISTINCT scope_kind, scope, unit, event_type, toString(event_id)"
                                   " FROM retention_facts")),  # fmt: skip
    }


def test_terms_that_start_at_an_event_end_where_the_statement_says(pipeline: Pipeline) -> None:
    now = dt.datetime.now(dt.UTC)
    store = _fed(pipeline, now).store
    before = {t: _tenant_rules(store, t) for t in (ENDED_7_MONTHS, ENDED_5_MONTHS, RENEWED, LATE_RESTART,
                                                   TWO_SUBSCRIPTIONS)}  # fmt: skip
    assert before[ENDED_7_MONTHS] == {"customer_data": 5, "invoicing_records": 1}
    tables_before = _table_counts(store)
    run = RetentionRun(store, POLICY, "ops@engage.test")

    plan = run.plan(now)
    planned = {r.rule: (r.scopes, r.events, r.identifiers) for r in plan.rules}
    report = run.execute(now)

    # A subscription that ended 7 months ago loses its customer data and keeps its invoices.
    assert _tenant_rules(store, ENDED_7_MONTHS) == {"invoicing_records": 1}
    assert not store.scalar("SELECT count() FROM identifiers WHERE tenant_id = {t:String}"
                            " AND retention_rule = 'customer_data'", {"t": ENDED_7_MONTHS})  # fmt: skip
    # One that ended 5 months ago, one renewed within the term, one with a second subscription: all kept.
    for tenant in (ENDED_5_MONTHS, RENEWED, TWO_SUBSCRIPTIONS):
        assert _tenant_rules(store, tenant) == before[tenant], tenant
    # Restarted after the term had run out: only what came after the new start is kept.
    assert _tenant_rules(store, LATE_RESTART) == {"customer_data": 2, "invoicing_records": 1}
    assert _count(store, "tenant_id = {t:String} AND retention_rule = 'customer_data'"
                  " AND occurred_at < {c:DateTime64(3, 'UTC')}", t=LATE_RESTART, c=now - relativedelta(months=2)) == 0
    # The contact who left is gone from every table; the one who stays is not.
    assert _count(store, "attributes['contact_id'] = {c:String}", c=LEFT_CONTACT) == 0
    assert _count(store, "attributes['contact_id'] = {c:String}", c=STAYING_CONTACT) == 2
    assert not store.scalar("SELECT count() FROM identifiers WHERE subject_id = {s:String}",
                            {"s": SUBJECT("lea.left@maashaven.nl")})  # fmt: skip
    # Opted out: her newsletter rows stay for counts but no longer name her; the proof of the opt-out stays.
    assert _linked(store, OPTED_OUT, "newsletter_data") == 0
    assert _count(store, "retention_rule = 'newsletter_data' AND event_type = 'newsletter.sent'") == 2
    assert _linked(store, OPTED_OUT, "consent_proof") == 1
    assert store.scalar("SELECT groupUniqArray(event_type) FROM identifiers WHERE subject_id = {s:String}",
                        {"s": SUBJECT(OPTED_OUT)}) == ["newsletter.opted_out"]  # fmt: skip
    assert _linked(store, WITHDRAWN, "marketing_data") == 0 and _linked(store, WITHDRAWN, "consent_proof") == 2
    assert _linked(store, READER, "newsletter_data") == 2

    # The dry run said exactly what the run then did, and the tables shrank by that much.
    done = {s.step: (s.scopes, s.rows.get("events"), s.rows.get("identifiers")) for s in report.steps}
    assert {k: done[k] for k in planned} == planned
    assert planned["customer_data"] == (2, 9, planned["customer_data"][2])
    assert planned["relation_data"][:2] == (1, 3)
    assert planned["newsletter_data"][:2] == (1, 2) and planned["marketing_data"][:2] == (1, 1)
    assert planned["invoicing_records"] == (0, 0, 0)
    deleted = {r: planned[r] for r in planned if POLICY.retention[r].action == "delete"}
    after = _table_counts(store)
    assert tables_before["events"] - after["events"] == sum(e for _, e, _ in deleted.values())
    assert tables_before["identifiers"] - after["identifiers"] == sum(i for _, _, i in planned.values())
    assert report.removed(FACTS_STEP) == {"retention_facts": 0} == {"retention_facts": plan.facts}

    # Recorded per rule, in counts; and a second run finds nothing left to do.
    recorded = dict(store.rows("SELECT step, rows FROM retention_runs WHERE run_id = {r:String}", {"r": report.run_id}))
    rollup_rows = next(r.rollups for r in plan.rules if r.rule == "customer_data")
    assert recorded["customer_data"] == {"events": 9, "identifiers": planned["customer_data"][2],
                                         "usage_daily": rollup_rows}  # fmt: skip
    # The usage rollup forgot the tenant's usage with the events: two usage days, and the late restart's one.
    assert rollup_rows == 3
    assert not store.scalar("SELECT count() FROM usage_daily WHERE tenant_id = {t:String}", {"t": ENDED_7_MONTHS})
    assert store.scalar("SELECT sum(events) FROM usage_daily WHERE tenant_id = {t:String}", {"t": ENDED_5_MONTHS}) == 1
    assert set(recorded) == {*POLICY.retention_by_event(), FACTS_STEP}
    assert run.plan(now).empty
    second = run.execute(now)
    assert all(not any(s.rows.values()) for s in second.steps)
    assert _table_counts(store) == after


def test_an_interrupted_run_ends_where_an_uninterrupted_one_does(make_pipeline: Callable[..., Pipeline]) -> None:
    now = dt.datetime.now(dt.UTC)
    whole, broken = _fed(make_pipeline(), now), _fed(make_pipeline(), now)
    assert snapshot(whole.store) == snapshot(broken.store)

    RetentionRun(whole.store, POLICY).execute(now)

    class Interrupted(Exception):
        pass

    def stop_half_way(description: str, done: int, total: int) -> None:
        if done == total // 2:
            raise Interrupted(description)

    interrupted = RetentionRun(broken.store, POLICY)
    with pytest.raises(Interrupted):
        interrupted.execute(now, stop_half_way)
    half = snapshot(broken.store)
    assert half != snapshot(whole.store), "the interruption came too late to leave anything undone"
    interrupted.execute(now)
    assert snapshot(broken.store) == snapshot(whole.store)


def _hold_ttl_merges(store: Store) -> None:
    # Any merge applies a passed TTL, and the consumer's small inserts are merged soon after they
    # land: held back, the rows stay until the test itself lets ClickHouse merge.
    for table in ("events", "identifiers", "access_log"):
        store.command(f"SYSTEM STOP TTL MERGES {table}")


def test_rows_past_their_ttl_are_gone_after_a_merge_without_any_job(pipeline: Pipeline) -> None:
    now = dt.datetime.now(dt.UTC)
    _hold_ttl_merges(pipeline.store)
    store = _fed(pipeline, now).store
    old, recent = SUBJECT(OLD_PROSPECT), SUBJECT(RECENT_PROSPECT)
    # The register and the access log follow the same TTL as the request events (request_records, 5 years).
    for years in (6, 4):
        at = now - dt.timedelta(days=365 * years)
        store.append("access_log", ("at", "operator", "action", "request_id", "subject_id", "detail"),
                     [(at, "officer", "export", f"dsr-{years}", old, "")])  # fmt: skip

    assert _count(store, "has(subject_ids, {s:String})", s=old) == 1
    assert store.scalar("SELECT count() FROM access_log") == 2

    for table in ("events", "identifiers", "access_log"):
        store.command(f"SYSTEM START TTL MERGES {table}")
        store.command(f"OPTIMIZE TABLE {table} FINAL")

    assert _count(store, "has(subject_ids, {s:String})", s=old) == 0
    assert not store.scalar("SELECT count() FROM identifiers WHERE subject_id = {s:String}", {"s": old})
    assert _count(store, "has(subject_ids, {s:String})", s=recent) == 1
    assert store.scalar("SELECT count() FROM identifiers WHERE subject_id = {s:String}", {"s": recent}) == 3
    assert [r for (r,) in store.rows("SELECT request_id FROM access_log")] == ["dsr-4"]
    # Nothing else had reached a fixed term: the merge removed only the prospect's session.
    assert store.scalar("SELECT count() FROM retention_runs") == 0
    assert _count(store, "retention_rule = 'prospect_data'") == 1


def test_status_shows_what_is_due_now_soon_and_the_oldest_row_kept(pipeline: Pipeline) -> None:
    now = dt.datetime.now(dt.UTC)
    _hold_ttl_merges(pipeline.store)
    store = _fed(pipeline, now).store
    status = {s.rule: s for s in rule_statuses(store, POLICY, now)}
    customer = status["customer_data"]
    assert (customer.enforced_by, customer.due_now) == ("run", 9)
    # The subscription that ended five months and ten days ago: its four customer rows fall due within 30 days.
    assert customer.due_soon == 4
    assert status["prospect_data"].enforced_by == "ttl"
    assert (status["prospect_data"].due_now, status["prospect_data"].due_soon) == (1, 0)
    assert status["prospect_data"].oldest_kept < now - dt.timedelta(days=390)
    assert status["relation_data"].due_now == 3 and status["newsletter_data"].due_now == 2

    RetentionRun(store, POLICY).execute(now)
    after = {s.rule: s for s in rule_statuses(store, POLICY, now)}
    assert after["customer_data"].due_now == 0 and after["customer_data"].due_soon == 4
    assert after["customer_data"].kept == customer.kept - 9
    assert after["newsletter_data"].kept == status["newsletter_data"].kept - 2


def test_a_run_refuses_a_future_date_but_a_dry_run_may_look_ahead(pipeline: Pipeline) -> None:
    now = dt.datetime.now(dt.UTC)
    _hold_ttl_merges(pipeline.store)
    store = _fed(pipeline, now).store
    run = RetentionRun(store, POLICY)
    before = snapshot(store)
    with pytest.raises(FutureAsOf):
        run.execute(now + dt.timedelta(days=40))
    ahead = {r.rule: r.events for r in run.plan(now + dt.timedelta(days=40)).rules}
    assert ahead["customer_data"] == 9 + 4  # the five-month subscription's term has ended by then
    # Three months after the contact left and the reader opted out, their facts are no longer needed.
    later = run.plan(now + dt.timedelta(days=10 + 92 + 1))
    assert later.closed.get("contact") == (LEFT_CONTACT,)
    assert SUBJECT(OPTED_OUT) in later.closed.get("subject", ())
    assert "tenant" not in later.closed  # invoices keep every tenant's facts for 7 years
    # A run as of a past date sees only what had happened by then.
    # 75 days ago: the late restart had not happened and its old term had run out; the 7-month one had not yet.
    past = {r.rule: r.events for r in run.plan(now - dt.timedelta(days=75)).rules}
    assert past == {"customer_data": 4, "relation_data": 0, "invoicing_records": 0, "newsletter_data": 0,
                    "marketing_data": 0}
    assert snapshot(store) == before and not store.scalar("SELECT count() FROM retention_runs")


def test_erasing_a_person_removes_the_retention_facts_that_name_them(pipeline: Pipeline) -> None:
    from consumers.rights.erasure import Eraser
    from consumers.usage.rebuild import recount

    now = dt.datetime.now(dt.UTC)
    store = _fed(pipeline, now).store
    facts = "SELECT count() FROM retention_facts WHERE scope_kind = {k:String} AND scope = {s:String}"
    her, tenant = SUBJECT(OPTED_OUT), ENDED_7_MONTHS
    assert store.scalar(facts, {"k": "subject", "s": her}) == 2  # subscribed, opted out
    tenant_facts = store.scalar(facts, {"k": "tenant", "s": tenant})

    erased = Eraser(store, POLICY, recount(store)).erase(her)
    assert erased.facts_deleted == 2
    assert store.scalar(facts, {"k": "subject", "s": her}) == 0
    # Other people's terms still start from the tenant's facts.
    assert store.scalar(facts, {"k": "tenant", "s": tenant}) == tenant_facts == 2
