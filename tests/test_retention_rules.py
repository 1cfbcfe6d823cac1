"""Retention rules in the policy, terms and the replay of a scope's facts (no services needed)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from consumers.policy.errors import PolicyFileError
from consumers.policy.loader import DEFAULT_POLICY, load_policy
from consumers.policy.model import EventTrigger
from consumers.policy.terms import InvalidTerm, Term
from consumers.retention.plan import Fact, due, scope_state
from consumers.retention.policy_schema import facts_select, ttl_clause

POLICY = load_policy()
SIX_MONTHS = Term.parse("P6M")
ENDS = frozenset({"subscription.ended"})
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def fact(event_type: str, at: dt.datetime, unit: str = "sub-1") -> Fact:
    return Fact("t-1", unit, event_type, at, uuid.uuid4())


def months_ago(n: int) -> dt.datetime:
    return Term(months=n).before(NOW)


def test_every_rule_of_the_statement_has_a_trigger_a_term_and_an_action() -> None:
    by_event = POLICY.retention_by_event()
    assert set(by_event) == {"customer_data", "relation_data", "invoicing_records", "newsletter_data", "marketing_data"}
    assert set(POLICY.retention_by_ttl()) == {"consent_proof", "prospect_data", "request_records"}
    customer, invoices = POLICY.retention["customer_data"], POLICY.retention["invoicing_records"]
    assert isinstance(customer.trigger, EventTrigger) and customer.trigger.events == ["subscription.ended"]
    assert (customer.term, customer.action, invoices.term) == ("P6M", "delete", "P7Y")
    assert POLICY.retention["newsletter_data"].action == "anonymise"
    # Every retention rule a tagging rule names exists, and every one exists for some rule or table.
    assert {r.retention for r in POLICY.rules} == set(POLICY.retention)


def test_terms_are_calendar_terms_in_python_and_in_clickhouse() -> None:
    assert Term.parse("P6M").after(dt.datetime(2026, 8, 31, tzinfo=dt.UTC)) == dt.datetime(2027, 2, 28, tzinfo=dt.UTC)
    assert Term.parse("P1Y2M3D").sql_after("d") == "d + toIntervalYear(1) + toIntervalMonth(2) + toIntervalDay(3)"
    assert Term.parse("P7D").milliseconds() == 7 * 86_400_000
    assert str(Term.parse("P0D")) == "P0D"
    for bad in ("P", "6M", "P1W", "PT5H"):
        with pytest.raises(InvalidTerm):
            Term.parse(bad)
    with pytest.raises(InvalidTerm, match="number of days"):
        Term.parse("P1M").milliseconds()


def test_the_ttl_and_the_facts_view_are_generated_from_the_policy() -> None:
    events = ttl_clause(POLICY, "events")
    assert "toDateTime(occurred_at) + toIntervalMonth(12) DELETE WHERE retention_rule = 'prospect_data'" in events
    assert "customer_data" not in events  # its term starts at an event, not at the row's date
    # Request records go five years after each row was written: in the order their audit chain holds them.
    assert ttl_clause(POLICY, "dsr_requests") == "toDateTime(updated_at) + toIntervalYear(5) DELETE"
    assert ttl_clause(POLICY, "erasures") == "toDateTime(at) + toIntervalYear(5) DELETE"
    assert ttl_clause(POLICY, "dead_letters") == ""
    select = facts_select(POLICY)
    assert "attributes['term_end']" in select and "attributes['left_at']" in select
    assert "'subscription.renewed'" in select and "'usage.record_completed'" not in select


def test_an_end_with_no_resumption_is_due_once_the_term_has_run_out() -> None:
    state = scope_state([fact("subscription.started", months_ago(20)), fact("subscription.ended", months_ago(7))],
                        ENDS, SIX_MONTHS)  # fmt: skip
    found = due(state, "t-1", SIX_MONTHS, NOW)
    assert found is not None and found.still_ended and found.cutoff == NOW
    assert due(state, "t-1", SIX_MONTHS, months_ago(2)) is None


def test_a_renewal_within_the_term_calls_the_end_off() -> None:
    state = scope_state([fact("subscription.ended", months_ago(8)), fact("subscription.renewed", months_ago(4))],
                        ENDS, SIX_MONTHS)  # fmt: skip
    assert due(state, "t-1", SIX_MONTHS, NOW) is None


def test_a_resumption_after_the_term_saves_only_what_came_after_it() -> None:
    restart = months_ago(2)
    state = scope_state([fact("subscription.ended", months_ago(10)), fact("subscription.started", restart, "sub-2")],
                        ENDS, SIX_MONTHS)  # fmt: skip
    found = due(state, "t-1", SIX_MONTHS, NOW)
    assert found is not None and not found.still_ended
    assert found.cutoff == restart - dt.timedelta(milliseconds=1)


def test_a_tenant_has_ended_only_when_every_subscription_has() -> None:
    facts = [fact("subscription.started", months_ago(30), "a"), fact("subscription.started", months_ago(20), "b"),
             fact("subscription.ended", months_ago(9), "a")]  # fmt: skip
    assert due(scope_state(facts, ENDS, SIX_MONTHS), "t-1", SIX_MONTHS, NOW) is None
    facts.append(fact("subscription.ended", months_ago(7), "b"))
    found = due(scope_state(facts, ENDS, SIX_MONTHS), "t-1", SIX_MONTHS, NOW)
    assert found is not None and found.ended_at == months_ago(7)


@given(st.lists(st.tuples(st.sampled_from(["subscription.started", "subscription.renewed", "subscription.ended"]),
                          st.integers(min_value=0, max_value=60), st.sampled_from(["a", "b"])), max_size=12))
def test_whatever_the_history_nothing_is_due_before_its_term_has_run_out(history) -> None:
    facts = [fact(t, months_ago(m), u) for t, m, u in history]
    found = due(scope_state(facts, ENDS, SIX_MONTHS), "t-1", SIX_MONTHS, NOW)
    if found is None:
        return
    # Rows go only up to the cutoff, the term started at an end, and it has run out by now.
    assert SIX_MONTHS.after(found.ended_at) <= NOW
    assert found.ended_at in {f.effective_at for f in facts if f.event_type in ENDS}
    assert found.cutoff <= NOW
    if found.still_ended:
        # Nothing after the last end resumed anything.
        last_end = max(f.effective_at for f in facts if f.event_type in ENDS)
        assert not [f for f in facts if f.event_type not in ENDS and f.effective_at > last_end]


def _write(tmp_path: Path, change) -> Path:
    doc = yaml.safe_load(DEFAULT_POLICY.read_text())
    change(doc)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["retention"]["newsletter_data"].update(action="delete"), "must anonymise"),
        (lambda d: d["retention"]["customer_data"]["trigger"].update(events=["subscription.cancelled"]),
         r"unknown event type \(trigger of retention rule customer_data\) 'subscription.cancelled'"),
        (lambda d: d["retention"]["customer_data"].update(term="six months"), "term"),
        (lambda d: d["topics"].update(raw_events="P1M"), "number of days"),
        (lambda d: d["retention"]["customer_data"].update(applies_to={"access_log": "at"}), "applies_to"),
        (lambda d: d["retention"]["newsletter_data"]["trigger"].update(scope="tenant"), "two scopes"),
    ],
)  # fmt: skip
def test_a_retention_rule_that_cannot_be_enforced_does_not_load(tmp_path: Path, change, message) -> None:
    with pytest.raises(PolicyFileError, match=message):
        load_policy(_write(tmp_path, change))
