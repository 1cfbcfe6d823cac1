"""Tagging: the policy's verdict on one validated event.

Returns the tags every stored row carries, or raises the typed reason the event
must not be stored: a dead-letter reason (no policy entry, processed outside the
EU, marketing without consent), or a person's choice that stops every purpose of
the event (an objection, an opt-out).
"""

from __future__ import annotations

from dataclasses import dataclass

from consumers.pipeline.consent import RESUBSCRIBING, ConsentLedger, Position
from consumers.pipeline.errors import (
    NoMarketingConsent,
    NoPolicyEntry,
    ProcessedOutsideEU,
    PurposeStopped,
)
from consumers.policy.model import Policy, Rule


@dataclass(frozen=True, slots=True)
class Tags:
    activities: tuple[str, ...]
    purposes: tuple[str, ...]
    data_uses: tuple[str, ...]
    legal_bases: tuple[str, ...]  # one per purpose, in the same order
    data_categories: tuple[str, ...]
    data_subject: str
    recipients: tuple[str, ...]
    retention_rule: str
    region: str
    policy_version: str
    survives_erasure: bool  # a legal obligation keeps the row through an erasure request


@dataclass(frozen=True, slots=True)
class _RuleFacts:
    """What the tagger asks of a rule for every event, worked out once."""

    regions: frozenset[str]
    region_name: str
    requires_consent: bool
    stoppable: bool  # some purpose of the rule ends with an opt-out


class Tagger:
    def __init__(self, policy: Policy, consent: ConsentLedger) -> None:
        self.policy = policy
        self.consent = consent
        self._facts: dict[int, _RuleFacts] = {}
        self._cache: dict[tuple[int, str, tuple[str, ...]], Tags] = {}

    def facts_of(self, rule: Rule) -> _RuleFacts:
        facts = self._facts.get(id(rule))
        if facts is None:
            allowed = rule.region or self.policy.defaults.region
            purposes = [self.policy.purposes[p] for p in rule.purposes]
            facts = self._facts[id(rule)] = _RuleFacts(
                frozenset(self.policy.regions[allowed]), allowed, any(p.requires_consent for p in purposes),
                any(p.stopped_by for p in purposes),
            )  # fmt: skip
        return facts

    def tag(
        self,
        event_type: str,
        attributes: dict[str, str],
        region: str,
        consent_subjects: list[str],
        position: Position,
        objected: frozenset[str] = frozenset(),
    ) -> Tags:
        rule = self.policy.rule_for(event_type, attributes)
        if rule is None:
            raise NoPolicyEntry(f"policy {self.policy.version} has no rule for {event_type} with these attributes")
        facts = self.facts_of(rule)
        if region not in facts.regions:
            raise ProcessedOutsideEU(f"{event_type} processed in {region}, outside region {facts.region_name!r}")
        if facts.requires_consent:
            if not consent_subjects or not all(self.consent.has_consent(s, position) for s in consent_subjects):
                raise NoMarketingConsent(f"{event_type} for a person with no direct-marketing consent on record")
        if not facts.stoppable and not objected:
            return self._tags(rule, region, tuple(rule.purposes))
        # A new subscription is the person asking again: it ends their opt-out instead of being stopped by it.
        opt_outs_apply = event_type not in RESUBSCRIBING
        kept = tuple(
            p for p in rule.purposes
            if p not in objected and not (opt_outs_apply and self._opted_out(p, consent_subjects, position))
        )  # fmt: skip
        if not kept:
            raise PurposeStopped(f"{event_type}: {', '.join(rule.purposes)} stopped for this person")
        return self._tags(rule, region, kept)

    def stands(self, rule: Rule, event_type: str, consent_subjects: list[str], position: Position) -> bool:
        """Whether every purpose of the rule holds for the event as far as consent and opt-outs go.

        The bulk path asks this of a row whose rule needs the ledger; ``tag`` would keep all the
        rule's purposes for it (a row about someone objecting never gets here).
        """
        facts = self.facts_of(rule)
        if facts.requires_consent and (
            not consent_subjects or not all(self.consent.has_consent(s, position) for s in consent_subjects)
        ):
            return False
        if facts.stoppable and event_type not in RESUBSCRIBING:
            return not any(self._opted_out(p, consent_subjects, position) for p in rule.purposes)
        return True

    def full_tags(self, rule: Rule) -> Tags:
        """The tags of a rule with all its purposes kept; ``region`` is left for the event's own."""
        return self._tags(rule, "", tuple(rule.purposes))

    def _opted_out(self, purpose: str, subjects: list[str], position: Position) -> bool:
        stopped_by = self.policy.purposes[purpose].stopped_by
        return bool(stopped_by) and any(self.consent.stopped_by(s, position) in stopped_by for s in subjects)

    def _tags(self, rule: Rule, region: str, kept: tuple[str, ...]) -> Tags:
        key = (id(rule), region, kept)
        tags = self._cache.get(key)
        if tags is None:
            purposes = [self.policy.purposes[p] for p in kept]
            tags = Tags(
                activities=tuple(dict.fromkeys(p.activity for p in purposes)),
                purposes=kept,
                data_uses=tuple(p.data_use for p in purposes),
                legal_bases=tuple(p.legal_basis for p in purposes),
                data_categories=tuple(rule.data_categories),
                data_subject=rule.data_subject,
                recipients=tuple(rule.recipients or self.policy.defaults.recipients),
                retention_rule=rule.retention,
                region=region,
                policy_version=self.policy.version,
                survives_erasure=any(p.survives_erasure for p in purposes),
            )
            self._cache[key] = tags
        return tags
