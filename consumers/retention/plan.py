"""Which tenants, contacts and people have reached the end of an event-triggered term, as of a moment.

The plan is worked out from the retention facts (when each subscription, contact
or newsletter ended or resumed), never from the events the run deletes, and it
counts the rows it would remove with the same predicates the run executes. A dry
run prints this plan; the run recomputes it rule by rule just before it acts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from consumers.policy.local_time import TIME_ZONE
from consumers.policy.model import EventTrigger, Policy, RetentionRule
from consumers.policy.terms import Term
from consumers.store.events import POSITION
from consumers.store.store import Store
from schemas.values import as_utc

_MS = dt.timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Fact:
    scope: str
    unit: str
    event_type: str
    effective_at: dt.datetime
    event_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Due:
    """A scope whose rows up to ``cutoff`` have reached the end of their term."""

    scope: str
    cutoff: dt.datetime
    ended_at: dt.datetime  # when the term started running
    still_ended: bool  # False: resumed after the term ran out; only the rows before the resumption go


@dataclass(frozen=True, slots=True)
class ScopeState:
    ended_at: dt.datetime | None  # set while every unit of the scope has ended
    lapsed_until: dt.datetime | None  # the latest resumption that came after the term had run out
    lapsed_from: dt.datetime | None  # ... and the end it came after


def scope_state(facts: Iterable[Fact], ends: frozenset[str], term: Term) -> ScopeState:
    """Replay one scope's facts in time order: has it ended, and did a resumption come too late?

    A tenant has ended when every subscription it has facts for has ended. A
    resumption (renewal, new subscription) calls the end off if it comes before
    the term has run out; one that comes later starts afresh, and what came before
    it is past its term.
    """
    active: set[str] = set()
    ended_at: dt.datetime | None = None
    lapsed: tuple[dt.datetime, dt.datetime] | None = None
    # Ends before resumptions at the same moment: a renewal the instant the old term ends continues it.
    for f in sorted(facts, key=lambda f: (f.effective_at, f.event_type not in ends, f.event_id)):
        if f.event_type in ends:
            active.discard(f.unit)
            if not active:
                ended_at = f.effective_at if ended_at is None else max(ended_at, f.effective_at)
        else:
            if ended_at is not None and f.effective_at >= term.after(ended_at):
                lapsed = (ended_at, f.effective_at)
            ended_at = None
            active.add(f.unit)
    return ScopeState(ended_at, lapsed[1] if lapsed else None, lapsed[0] if lapsed else None)


def due(state: ScopeState, scope: str, term: Term, as_of: dt.datetime) -> Due | None:
    if state.ended_at is not None and term.after(state.ended_at) <= as_of:
        return Due(scope, as_of, state.ended_at, True)
    if state.lapsed_until is not None and state.lapsed_from is not None:
        return Due(scope, state.lapsed_until - _MS, state.lapsed_from, False)
    return None


# --- predicates: the same text counts the rows in a plan and removes them in a run --------

_SCOPES = "{scopes:Array(String)}"
_CUTOFFS = "{cutoffs:Array(DateTime64(3, 'UTC'))}"


def _within(value: str) -> str:
    return f"indexOf({_SCOPES}, {value}) > 0 AND occurred_at <= arrayElement({_CUTOFFS}, indexOf({_SCOPES}, {value}))"


def events_due(rule: RetentionRule) -> str:
    """Rows of ``events`` the rule removes (or takes the person out of) for the scopes in the parameters."""
    trigger = rule.trigger
    assert isinstance(trigger, EventTrigger)
    if trigger.scope == "subject":
        return f"retention_rule = {{rule:String}} AND arrayExists(x -> {_within('x')}, subject_ids)"
    value = "tenant_id" if trigger.scope == "tenant" else "attributes['contact_id']"
    where = f"retention_rule = {{rule:String}} AND {_within(value)}"
    if rule.action == "anonymise":
        where += " AND (arrayExists(x -> x != '', subject_ids) OR actor_id != '')"
    return where


def identifiers_due(rule: RetentionRule) -> str:
    """Rows of ``identifiers`` that go with the rows of ``events_due``."""
    trigger = rule.trigger
    assert isinstance(trigger, EventTrigger)
    where = f"{POSITION} IN (SELECT {POSITION} FROM events WHERE {events_due(rule)})"
    if trigger.scope == "subject":
        where += f" AND {_within('subject_id')}"
    return where


def rollup_due(rule: RetentionRule) -> str | None:
    """Rows of ``usage_daily`` the rule deletes, or None where the rollup holds none of its rows.

    The rollup counts per day: a cutoff inside a day (a late restart) takes that whole day.
    """
    trigger = rule.trigger
    assert isinstance(trigger, EventTrigger)
    if trigger.scope != "tenant" or rule.action != "delete":
        return None  # the rollup keeps product-insight rows only, all of them tenant-scoped customer data
    cutoff = f"toDate(arrayElement({_CUTOFFS}, indexOf({_SCOPES}, tenant_id)), '{TIME_ZONE}')"
    return f"retention_rule = {{rule:String}} AND indexOf({_SCOPES}, tenant_id) > 0 AND day <= {cutoff}"


def anonymised_columns(rule: RetentionRule) -> str:
    """The SET clause that takes the people out of a row."""
    trigger = rule.trigger
    assert isinstance(trigger, EventTrigger)
    if trigger.scope == "subject":
        return (f"subject_ids = arrayMap(x -> if({_within('x')}, '', x), subject_ids),"
                f" actor_id = if({_within('actor_id')}, '', actor_id)")  # fmt: skip
    return "subject_ids = arrayMap(x -> '', subject_ids), actor_id = ''"


def _scope_count(rule: RetentionRule) -> str:
    trigger = rule.trigger
    assert isinstance(trigger, EventTrigger)
    if trigger.scope == "subject":
        return f"uniqExactArray(arrayFilter(x -> {_within('x')}, subject_ids))"
    return "uniqExact(" + ("tenant_id" if trigger.scope == "tenant" else "attributes['contact_id']") + ")"


@dataclass(frozen=True)
class RulePlan:
    rule: str
    action: str
    scope_kind: str
    due: tuple[Due, ...]
    scopes: int  # scopes with rows to remove
    events: int
    identifiers: int
    rollups: int = 0  # rows of usage_daily

    def parameters(self) -> dict[str, object]:
        return {"rule": self.rule, "scopes": [d.scope for d in self.due], "cutoffs": [d.cutoff for d in self.due]}


@dataclass(frozen=True)
class Plan:
    as_of: dt.datetime
    policy_version: str
    rules: tuple[RulePlan, ...]
    closed: dict[str, tuple[str, ...]]  # scope kind -> scopes whose facts no rule needs any more
    facts: int  # rows of retention_facts those scopes hold

    @property
    def empty(self) -> bool:
        return not self.facts and not any(r.events or r.identifiers or r.rollups for r in self.rules)


class Planner:
    def __init__(self, store: Store, policy: Policy) -> None:
        self.store = store
        self.policy = policy

    def facts(self, scope_kind: str, event_types: list[str], as_of: dt.datetime) -> dict[str, list[Fact]]:
        rows = self.store.rows(
            "SELECT DISTINCT scope, unit, event_type, effective_at, event_id FROM retention_facts"
            " WHERE scope_kind = {k:String} AND has({t:Array(String)}, event_type)"
            " AND effective_at <= {as_of:DateTime64(3, 'UTC')}",
            {"k": scope_kind, "t": event_types, "as_of": as_of},
        )
        out: dict[str, list[Fact]] = {}
        for scope, unit, event_type, at, event_id in rows:
            out.setdefault(scope, []).append(Fact(scope, unit, event_type, as_utc(at), event_id))
        return out

    def states(self, rule: RetentionRule, as_of: dt.datetime) -> dict[str, ScopeState]:
        trigger = rule.trigger
        assert isinstance(trigger, EventTrigger)
        ends = frozenset(trigger.events)
        facts = self.facts(trigger.scope, sorted(ends | set(trigger.resumed_by)), as_of)
        return {scope: scope_state(f, ends, rule.duration) for scope, f in facts.items()}

    def rule_plan(self, name: str, as_of: dt.datetime) -> RulePlan:
        rule = self.policy.retention[name]
        trigger = rule.trigger
        assert isinstance(trigger, EventTrigger)
        found = [due(s, scope, rule.duration, as_of) for scope, s in sorted(self.states(rule, as_of).items())]
        dues = tuple(d for d in found if d)
        plan = RulePlan(name, rule.action, trigger.scope, dues, 0, 0, 0)
        if not dues:
            return plan
        p = plan.parameters()
        scopes, events = self.store.rows(f"SELECT {_scope_count(rule)}, count() FROM events WHERE {events_due(rule)}", p)[0]
        identifiers = self.store.scalar(f"SELECT count() FROM identifiers WHERE {identifiers_due(rule)}", p)
        rollup = rollup_due(rule)
        rollups = self.store.scalar(f"SELECT count() FROM usage_daily WHERE {rollup}", p) if rollup else 0
        return RulePlan(name, rule.action, trigger.scope, dues, int(scopes), int(events), int(identifiers or 0),
                        int(rollups or 0))  # fmt: skip

    def term_end(self, rule_name: str, scope: str, occurred_at: dt.datetime, as_of: dt.datetime) -> dt.datetime | None:
        """When a row of ``rule_name`` in ``scope`` (a tenant, say) reaches the end of its term; None while the
        term has not started (the subscription has not ended)."""
        rule = self.policy.retention[rule_name]
        if rule.by_ttl:
            return rule.duration.after(occurred_at)
        state = self.states(rule, as_of).get(scope)
        return rule.duration.after(state.ended_at) if state and state.ended_at else None

    def closed_scopes(self, as_of: dt.datetime) -> dict[str, tuple[str, ...]]:
        """Scopes every rule is done with: ended, and past the longest term plus the time kept for late events."""
        kept = Term.parse(self.policy.retention_facts.kept_after_term)
        by_kind: dict[str, list[RetentionRule]] = {}
        for rule in self.policy.retention_by_event().values():
            assert isinstance(rule.trigger, EventTrigger)
            by_kind.setdefault(rule.trigger.scope, []).append(rule)
        closed: dict[str, tuple[str, ...]] = {}
        for kind, rules in sorted(by_kind.items()):
            verdicts: dict[str, bool] = {}
            for rule in rules:
                for scope, state in self.states(rule, as_of).items():
                    done = state.ended_at is not None and kept.after(rule.duration.after(state.ended_at)) <= as_of
                    verdicts[scope] = verdicts.get(scope, True) and done
            if names := tuple(sorted(s for s, ok in verdicts.items() if ok)):
                closed[kind] = names
        return closed

    def plan(self, as_of: dt.datetime) -> Plan:
        rules = tuple(self.rule_plan(name, as_of) for name in self.policy.retention_by_event())
        closed = self.closed_scopes(as_of)
        facts = sum(int(self.store.scalar(
            "SELECT count() FROM retention_facts WHERE scope_kind = {k:String} AND has({s:Array(String)}, scope)",
            {"k": k, "s": list(v)}) or 0) for k, v in closed.items())  # fmt: skip
        return Plan(as_of, self.policy.version, rules, closed, facts)
