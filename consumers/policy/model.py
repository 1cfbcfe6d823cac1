"""The policy's model: purposes, legal bases, recipients, retention rules and the rules that tag events.

The policy is data (``consumers/policy/policy.yaml``); this module checks that
its references resolve and finds the rule for an event. ``loader`` reads the file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from consumers.policy.terms import DURATION, Term


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LegalBasis(_Doc):
    article: str
    name: str


class Recipient(_Doc):
    description: str


class Purpose(_Doc):
    activity: str
    description: str
    legal_basis: str
    data_use: str
    objectable: bool = False
    requires_consent: bool = False
    stopped_by: list[str] = []
    survives_erasure: bool = False


# Whose term a trigger event ends: a tenant's (all its subscriptions), a relation
# contact's, or one person's. The retention run reads these from the events.
Scope = Literal["tenant", "contact", "subject"]


class EventTrigger(_Doc):
    """A term that starts at an event: ``events`` start it, ``resumed_by`` call it off."""

    events: list[str] = Field(min_length=1)
    scope: Scope
    resumed_by: list[str] = []
    effective: str | None = None  # payload field with the moment the term starts, when it is not the event's time


class RetentionRule(_Doc):
    description: str
    # "occurred_at": the term runs from the row's own date, and ClickHouse enforces it (TTL).
    trigger: Literal["occurred_at"] | EventTrigger
    term: str = Field(pattern=DURATION.pattern)
    action: Literal["delete", "anonymise"]
    # Other tables the same term applies to, by their date column (records of requests).
    applies_to: dict[str, str] = {}

    @model_validator(mode="after")
    def _consistent(self) -> RetentionRule:
        if self.applies_to and not self.by_ttl:
            raise ValueError("applies_to needs trigger: occurred_at (a TTL from the row's own date)")
        if isinstance(self.trigger, EventTrigger) and self.trigger.scope == "subject" and self.action == "delete":
            # A row may name other people too: taking the person out is what removes them.
            raise ValueError("a rule with scope subject must anonymise, not delete")
        return self

    @property
    def duration(self) -> Term:
        return Term.parse(self.term)

    @property
    def by_ttl(self) -> bool:
        return self.trigger == "occurred_at"


class TopicRetention(_Doc):
    raw_events: str = Field(pattern=DURATION.pattern)
    dead_letters: str = Field(pattern=DURATION.pattern)


class RetentionFacts(_Doc):
    kept_after_term: str = Field(pattern=DURATION.pattern)


class Defaults(_Doc):
    recipients: list[str]
    region: str


class Rule(_Doc):
    event_types: list[str]
    when: dict[str, str] = {}
    purposes: list[str] = Field(min_length=1)
    data_categories: list[str] = Field(min_length=1)
    data_subject: str
    retention: str
    recipients: list[str] | None = None
    region: str | None = None


class Policy(_Doc):
    version: str
    controller: str
    statement: str
    legal_bases: dict[str, LegalBasis]
    recipients: dict[str, Recipient]
    regions: dict[str, list[str]]
    purposes: dict[str, Purpose]
    retention: dict[str, RetentionRule]
    retention_facts: RetentionFacts
    topics: TopicRetention
    defaults: Defaults
    rules: list[Rule]

    # Per event type, its rules in order, each with its conditions as (attribute, value) pairs.
    _index: dict[str, tuple[tuple[tuple[tuple[str, str], ...], Rule], ...]] = PrivateAttr(default_factory=dict)

    def model_post_init(self, _context: object) -> None:
        index: dict[str, list[Rule]] = {}
        for rule in self.rules:
            for t in rule.event_types:
                index.setdefault(t, []).append(rule)
        self._index = {k: tuple((tuple(r.when.items()), r) for r in v) for k, v in index.items()}

    @model_validator(mode="after")
    def _references_resolve(self) -> Policy:
        problems: list[str] = []

        def need(kind: str, key: str, table: dict) -> None:
            if key not in table:
                problems.append(f"unknown {kind} {key!r}")

        for key, p in self.purposes.items():
            need(f"legal basis (purpose {key})", p.legal_basis, self.legal_bases)
        for r in [self.defaults.recipients] + [rule.recipients or [] for rule in self.rules]:
            for k in r:
                need("recipient", k, self.recipients)
        need("region", self.defaults.region, self.regions)
        known_types = {t for rule in self.rules for t in rule.event_types}
        for key, p in self.purposes.items():
            for t in p.stopped_by:
                need(f"event type (stopped_by of purpose {key})", t, dict.fromkeys(known_types))
        for key, r in self.retention.items():
            if isinstance(r.trigger, EventTrigger):
                for t in r.trigger.events + r.trigger.resumed_by:
                    need(f"event type (trigger of retention rule {key})", t, dict.fromkeys(known_types))
        scopes: dict[str, str] = {}
        effective: dict[str, str | None] = {}
        for key, r in self.retention.items():
            if isinstance(r.trigger, EventTrigger):
                # The facts the run reads keep one scope and one start per event type.
                for t in r.trigger.events + r.trigger.resumed_by:
                    if scopes.setdefault(t, r.trigger.scope) != r.trigger.scope:
                        problems.append(f"event type {t!r} triggers rules of two scopes ({scopes[t]}, {r.trigger.scope})")
                for t in r.trigger.events:
                    if effective.setdefault(t, r.trigger.effective) != r.trigger.effective:
                        problems.append(f"event type {t!r} starts terms at two different fields")
        for name in ("raw_events", "dead_letters"):
            term = Term.parse(getattr(self.topics, name))
            if term.years or term.months or not term.days:
                problems.append(f"topics.{name} must be a number of days, like P7D")
        for rule in self.rules:
            for k in rule.purposes:
                need("purpose", k, self.purposes)
            need("retention rule", rule.retention, self.retention)
            if rule.region:
                need("region", rule.region, self.regions)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def rule_for(self, event_type: str, attributes: dict[str, str]) -> Rule | None:
        """The first rule that covers the event type and whose conditions hold, or None."""
        # Read past pydantic's __getattr__, which every private-attribute access goes through:
        # the consumer asks this once per event.
        for when, rule in self.__pydantic_private__["_index"].get(event_type, ()):
            if not when or all(attributes.get(k) == v for k, v in when):
                return rule
        return None

    def candidates(self, event_type: str) -> tuple[tuple[tuple[tuple[str, str], ...], Rule], ...]:
        """The rules of an event type in the order ``rule_for`` tries them, each with its conditions."""
        return self._index.get(event_type, ())

    def objectable(self) -> list[str]:
        """Purposes a person can object to (Art. 21)."""
        return [k for k, p in self.purposes.items() if p.objectable]

    def surviving_erasure(self) -> list[str]:
        """Purposes whose rows a legal obligation keeps through an erasure request."""
        return [k for k, p in self.purposes.items() if p.survives_erasure]

    def retention_by_event(self) -> dict[str, RetentionRule]:
        """Rules whose term starts at a later event; the retention run enforces them."""
        return {k: r for k, r in self.retention.items() if not r.by_ttl}

    def retention_by_ttl(self) -> dict[str, RetentionRule]:
        """Rules whose term runs from the row's own date; a table TTL enforces them."""
        return {k: r for k, r in self.retention.items() if r.by_ttl}

    def fact_event_types(self) -> dict[str, tuple[str, str | None]]:
        """Event type -> (scope, payload field holding its effective moment) for every trigger and resumer."""
        out: dict[str, tuple[str, str | None]] = {}
        for r in self.retention_by_event().values():
            trigger = r.trigger
            assert isinstance(trigger, EventTrigger)
            for t in trigger.resumed_by:
                out.setdefault(t, (trigger.scope, None))
            for t in trigger.events:
                out[t] = (trigger.scope, trigger.effective)
        return out

    def event_types(self) -> set[str]:
        return {t for rule in self.rules for t in rule.event_types}
