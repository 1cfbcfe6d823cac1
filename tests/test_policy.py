"""The policy file encodes the privacy statement, and tagging applies it (no services needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from consumers.identity.pseudonym import MissingPseudonymKey, Pseudonymizer
from consumers.pipeline.consent import ConsentLedger
from consumers.pipeline.errors import (
    NoMarketingConsent,
    NoPolicyEntry,
    ProcessedOutsideEU,
)
from consumers.pipeline.tagging import Tagger
from consumers.policy.errors import PolicyFileError
from consumers.policy.loader import DEFAULT_POLICY, load_policy
from schemas.models import MODEL_BY_EVENT_TYPE, Person

POLICY = load_policy()
NL = ("engage.newsletter", 0)


def tagger(ledger: ConsentLedger | None = None) -> Tagger:
    return Tagger(POLICY, ledger or ConsentLedger())


def test_every_event_type_of_the_contract_has_a_rule() -> None:
    assert POLICY.event_types() == set(MODEL_BY_EVENT_TYPE)


@pytest.mark.parametrize(
    ("event_type", "attributes", "purposes", "bases", "retention"),
    [
        ("usage.record_completed", {}, ("product_insight",), ("legitimate_interest",), "customer_data"),
        ("access.user_created", {}, ("provide_access",), ("contract",), "customer_data"),
        ("subscription.requested", {"subscription_type": "trial"}, ("conclude_subscription",), ("contract",),
         "customer_data"),
        ("training.attended", {"participant_kind": "customer"}, ("deliver_training",), ("contract",), "customer_data"),
        ("training.attended", {"participant_kind": "prospect"}, ("inform_prospects",), ("legitimate_interest",),
         "prospect_data"),
        ("invoice.issued", {}, ("invoicing", "bookkeeping"), ("contract", "legal_obligation"), "invoicing_records"),
        ("relation.contact_left_company", {"relation_kind": "prospect"}, ("relationship_management",),
         ("legitimate_interest",), "relation_data"),
        ("newsletter.sent", {"message_kind": "newsletter"}, ("newsletter",), ("legitimate_interest",),
         "newsletter_data"),
        ("newsletter.sent", {"message_kind": "product_update"}, ("product_updates",), ("contract",), "customer_data"),
        ("newsletter.clicked", {}, ("click_tracking",), ("legitimate_interest",), "newsletter_data"),
        ("newsletter.consent_withdrawn", {}, ("consent_records",), ("legal_obligation",), "consent_proof"),
        ("dsr.received", {}, ("rights_handling",), ("legal_obligation",), "request_records"),
    ],
)  # fmt: skip
def test_statement_activities_get_their_purpose_and_basis(event_type, attributes, purposes, bases, retention) -> None:
    tags = tagger().tag(event_type, attributes, "NL", [], (*NL, 1))
    assert (tags.purposes, tags.legal_bases, tags.retention_rule) == (purposes, bases, retention)
    assert tags.recipients == ("staff", "cloud_processors")
    assert tags.policy_version == POLICY.version


def test_trial_applications_are_tagged_without_e_mail_as_the_statement_table_says() -> None:
    categories = tagger().tag("subscription.requested", {"subscription_type": "trial"}, "NL", [], (*NL, 1)).data_categories
    assert "user.contact.email" not in categories and "user.contact.phone_number" in categories


def test_processing_outside_the_eu_is_a_violation() -> None:
    with pytest.raises(ProcessedOutsideEU) as exc:
        tagger().tag("usage.record_completed", {}, "US", [], (*NL, 1))
    assert exc.value.code == "outside_eu"


def test_an_event_type_without_a_rule_is_refused() -> None:
    with pytest.raises(NoPolicyEntry):
        tagger().tag("usage.record_deleted", {}, "NL", [], (*NL, 1))
    with pytest.raises(NoPolicyEntry):  # a value no condition covers
        tagger().tag("newsletter.sent", {"message_kind": "sms"}, "NL", [], (*NL, 1))


def test_direct_marketing_needs_consent_given_before_it_and_stops_after_withdrawal() -> None:
    ledger = ConsentLedger()
    t = tagger(ledger)
    dm = {"message_kind": "direct_marketing"}
    with pytest.raises(NoMarketingConsent):
        t.tag("newsletter.sent", dm, "NL", ["anna"], (*NL, 5))
    ledger.record("anna", "newsletter.consent_given", (*NL, 10))
    with pytest.raises(NoMarketingConsent):  # a mailing before the consent stays refused on redelivery
        t.tag("newsletter.sent", dm, "NL", ["anna"], (*NL, 5))
    assert t.tag("newsletter.sent", dm, "NL", ["anna"], (*NL, 11)).purposes == ("direct_marketing",)
    ledger.record("anna", "newsletter.consent_withdrawn", (*NL, 20))
    with pytest.raises(NoMarketingConsent):
        t.tag("newsletter.sent", dm, "NL", ["anna"], (*NL, 21))
    with pytest.raises(NoMarketingConsent):  # another person's consent does not count
        t.tag("newsletter.sent", dm, "NL", ["bram"], (*NL, 15))


def test_consent_recorded_twice_by_a_redelivered_batch_counts_once() -> None:
    ledger = ConsentLedger()
    ledger.record("anna", "newsletter.consent_given", (*NL, 1))
    ledger.record("anna", "newsletter.consent_given", (*NL, 1))
    ledger.record("anna", "newsletter.opted_out", (*NL, 3))
    assert ledger.has_consent("anna", (*NL, 2)) and not ledger.has_consent("anna", (*NL, 4))


def _write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_policy_with_a_broken_reference_does_not_load(tmp_path: Path) -> None:
    doc = yaml.safe_load(DEFAULT_POLICY.read_text())
    doc["rules"][0]["purposes"] = ["selling_data"]
    with pytest.raises(PolicyFileError, match="unknown purpose 'selling_data'"):
        load_policy(_write(tmp_path, doc))


def test_a_policy_with_a_key_outside_the_fideslang_taxonomy_does_not_load(tmp_path: Path) -> None:
    doc = yaml.safe_load(DEFAULT_POLICY.read_text())
    doc["rules"][0]["data_categories"] = ["user.shoe_size"]
    with pytest.raises(PolicyFileError, match="user.shoe_size"):
        load_policy(_write(tmp_path, doc))


def test_subject_ids_are_keyed_hashes_of_the_normalised_email() -> None:
    a, b = Pseudonymizer(b"k1"), Pseudonymizer(b"k2")
    assert a.of_email(" Anna.Jansen@Example.NL ") == a.of_email("anna.jansen@example.nl")
    assert a.of_email("anna.jansen@example.nl") != b.of_email("anna.jansen@example.nl")
    assert len(a.of_email("x@y.nl")) == 64 and "anna" not in a.of_email("anna@y.nl")
    by_phone = a.of_person(Person(role="subject", phone="+31 6 1234 5678"))
    assert by_phone == a.of_person(Person(role="subject", phone="+31612345678")) != a.of_email("+31612345678")


def test_no_key_is_a_clear_error_never_a_default() -> None:
    with pytest.raises(MissingPseudonymKey, match="LINEAGE_PSEUDONYM_KEY"):
        Pseudonymizer(None)
