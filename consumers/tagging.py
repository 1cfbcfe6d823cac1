"""Tagging: the policy's verdict on one validated event.

Returns the tags every stored row carries, or raises the typed reason the event
must not be stored (no policy entry, processed outside the EU, marketing without
consent).
"""

from __future__ import annotations

from dataclasses import dataclass

from consumers.consent import ConsentLedger, Position
from consumers.errors import NoMarketingConsent, NoPolicyEntry, ProcessedOutsideEU
from consumers.policy import Policy, Rule


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


class Tagger:
    def __init__(self, policy: Policy, consent: ConsentLedger) -> None:
        self.policy = policy
        self.consent = consent
        self._cache: dict[tuple[int, str], Tags] = {}

    def tag(
        self,
        event_type: str,
        attributes: dict[str, str],
        region: str,
        consent_subjects: list[str],
        position: Position,
    ) -> Tags:
        rule = self.policy.rule_for(event_type, attributes)
        if rule is None:
            raise NoPolicyEntry(f"policy {self.policy.version} has no rule for {event_type} with these attributes")
        allowed = rule.region or self.policy.defaults.region
        if region not in self.policy.regions[allowed]:
            raise ProcessedOutsideEU(f"{event_type} processed in {region}, outside region {allowed!r}")
        if any(self.policy.purposes[p].requires_consent for p in rule.purposes):
            if not consent_subjects or not all(self.consent.has_consent(s, position) for s in consent_subjects):
                raise NoMarketingConsent(f"{event_type} for a person with no direct-marketing consent on record")
        return self._tags(rule, region)

    def _tags(self, rule: Rule, region: str) -> Tags:
        key = (id(rule), region)
        tags = self._cache.get(key)
        if tags is None:
            purposes = [self.policy.purposes[p] for p in rule.purposes]
            tags = Tags(
                activities=tuple(dict.fromkeys(p.activity for p in purposes)),
                purposes=tuple(rule.purposes),
                data_uses=tuple(p.data_use for p in purposes),
                legal_bases=tuple(p.legal_basis for p in purposes),
                data_categories=tuple(rule.data_categories),
                data_subject=rule.data_subject,
                recipients=tuple(rule.recipients or self.policy.defaults.recipients),
                retention_rule=rule.retention,
                region=region,
                policy_version=self.policy.version,
            )
            self._cache[key] = tags
        return tags
