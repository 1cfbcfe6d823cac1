"""The known scenario: a short, readable stretch of activity with the tags each event must get.

A student; a business customer whose administrator adds two users; a trial; a
training; invoices; a relation contact who leaves the company; a newsletter
reader who gives direct-marketing consent and withdraws it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace

from schemas import models as m

T0 = dt.datetime(2026, 10, 1, 9, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Expected:
    purposes: tuple[str, ...]
    legal_bases: tuple[str, ...]
    data_categories: tuple[str, ...]
    data_subject: str
    retention_rule: str
    dead_letter: str | None = None  # the reason, when the event must not be stored


@dataclass(frozen=True)
class Step:
    event: m.Event
    expected: Expected


def _env(event_type: str, minutes: int, tenant: str | None, people: list[tuple[str, str]], region: str = "NL",
         service: str = "engage-app") -> dict:  # fmt: skip
    return {
        "event_id": uuid.uuid5(uuid.NAMESPACE_URL, f"scenario/{event_type}/{minutes}"),
        "event_type": event_type,
        "occurred_at": T0 + dt.timedelta(minutes=minutes),
        "tenant_id": tenant,
        "people": [{"role": r, **({"email": e} if "@" in e else {"phone": e})} for r, e in people],
        "producer": {"service": service, "version": "1.2.3"},
        "processing_region": region,
    }


STUDENT = "sanne.student@hu.nl"
ADMIN = "Bram.Admin@Deltabouw.nl"
USER1 = "eva.user@deltabouw.nl"
USER2 = "koen.user@deltabouw.nl"
TRIAL_PHONE = "+31 6 5555 0101"
PROSPECT = "lotte.prospect@polder.nl"
CONTACT = "iris.it@maashaven.nl"
READER = "noor.reader@zeeland.nl"

USAGE = Expected(("product_insight",), ("legitimate_interest",), ("user.contact.email", "user.behavior"), "customer",
                 "customer_data")  # fmt: skip
SUBSCRIBE = ("conclude_subscription",), ("contract",)
ACCESS = ("provide_access",), ("contract",)
INVOICE = Expected(("invoicing", "bookkeeping"), ("contract", "legal_obligation"),
                   ("user.contact.email", "user.contact.organization", "user.financial"), "customer", "invoicing_records")  # fmt: skip
RELATION_CATS = ("user.name.first", "user.name.last", "user.contact.email", "user.contact.phone_number",
                 "user.contact.organization", "user.job_title", "user.workplace")  # fmt: skip
CONSENT = Expected(("consent_records",), ("legal_obligation",), ("user.contact.email", "user.privacy_preferences"),
                   "customer", "consent_proof")  # fmt: skip
DM = Expected(("direct_marketing",), ("consent",), ("user.contact.email",), "customer", "marketing_data")


def known_scenario() -> list[Step]:
    s: list[Step] = []
    add = lambda event, expected: s.append(Step(event, expected))  # noqa: E731

    # A student: the customer is always the only user.
    add(m.SubscriptionRequested(envelope=_env("subscription.requested", 0, "t-student", [("subject", STUDENT)],
                                              service="engage-webshop"),
                                request_id="req-1", channel="webshop", subscription_type="student",
                                first_name="Sanne", last_name="de Vries", education_name="Hogeschool Utrecht"),
        Expected(*SUBSCRIBE, ("user.name.first", "user.name.last", "user.contact.email", "user.workplace"), "customer",
                 "customer_data"))
    add(m.SubscriptionLifecycle(envelope=_env("subscription.started", 1, "t-student", [("subject", STUDENT)]),
                                subscription_id="sub-1", subscription_type="student", term_start=T0,
                                term_end=T0 + dt.timedelta(days=365)),
        Expected(*SUBSCRIBE, ("user.contact.email",), "customer", "customer_data"))
    add(m.UsageActivity(envelope=_env("usage.record_completed", 2, "t-student", [("creator", STUDENT)]),
                        record_id="r-1", record_kind="record", created_at=T0, components=["process-designer"]),
        USAGE)

    # A business customer whose administrator adds two users.
    add(m.SubscriptionRequested(envelope=_env("subscription.requested", 10, "t-biz", [("subject", ADMIN)]),
                                request_id="req-2", channel="form", subscription_type="business",
                                first_name="Bram", last_name="Bakker", company_name="Deltabouw",
                                job_title="Process manager"),
        Expected(*SUBSCRIBE, ("user.name.first", "user.name.last", "user.contact.email", "user.contact.organization",
                              "user.job_title", "user.workplace", "user.contact.phone_number"), "customer",
                 "customer_data"))
    for i, user in enumerate((USER1, USER2)):
        add(m.UserCreated(envelope=_env("access.user_created", 11 + i, "t-biz", [("administrator", ADMIN),
                                                                                   ("subject", user)]),
                          subscription_id="sub-2", first_name=user.split(".")[0].title(), last_name="Jansen",
                          role="modeller"),
            Expected(*ACCESS, ("user.name.first", "user.name.last", "user.contact.email", "user.account"), "customer",
                     "customer_data"))
    add(m.AccessSession(envelope=_env("access.login", 13, "t-biz", [("actor", USER1)]), session_id="s1",
                        method="password"),
        Expected(*ACCESS, ("user.contact.email", "user.account"), "customer", "customer_data"))
    add(m.UsageActivity(envelope=_env("usage.record_updated", 14, "t-biz", [("creator", USER2),
                                                                             ("last_updater", USER1)]),
                        record_id="r-2", record_kind="transaction", created_at=T0, updated_at=T0,
                        components=["workflow", "forms"]),
        USAGE)

    # A trial: no e-mail is collected, the phone numbers are.
    add(m.SubscriptionRequested(envelope=_env("subscription.requested", 20, "t-trial", [("subject", TRIAL_PHONE)]),
                                request_id="req-3", channel="phone", subscription_type="trial", first_name="Daan",
                                last_name="Visser", company_name="Utrecht Data", business_phone=TRIAL_PHONE,
                                business_mobile=TRIAL_PHONE),
        Expected(*SUBSCRIBE, ("user.name.first", "user.name.last", "user.contact.organization",
                              "user.contact.phone_number"), "customer", "customer_data"))

    # A training: a customer's user (contract) and a prospect (legitimate interest).
    add(m.TrainingActivity(envelope=_env("training.registered", 30, "t-biz", [("participant", USER1)]),
                           session_id="tr-1", session_kind="training", participant_kind="customer", first_name="Eva",
                           last_name="Jansen", starts_at=T0 + dt.timedelta(days=7)),
        Expected(("deliver_training",), ("contract",), ("user.name.first", "user.name.last", "user.contact.email"),
                 "trainee", "customer_data"))
    add(m.TrainingActivity(envelope=_env("training.attended", 31, None, [("participant", PROSPECT)]),
                           session_id="tr-1", session_kind="information_session", participant_kind="prospect",
                           first_name="Lotte", last_name="Mulder", starts_at=T0 + dt.timedelta(days=7)),
        Expected(("inform_prospects",), ("legitimate_interest",), ("user.name.first", "user.name.last",
                                                                    "user.contact.email"), "prospect", "prospect_data"))

    # Invoices: contract and the bookkeeping obligation.
    for i, event_type in enumerate(("invoice.issued", "invoice.paid")):
        add(m.InvoiceEvent(envelope=_env(event_type, 40 + i, "t-biz", [("subject", ADMIN)]), invoice_id="INV-1",
                           subscription_id="sub-2", amount_cents=49500, currency="EUR", due_date=dt.date(2026, 10, 31),
                           billing_company="Deltabouw"),
            INVOICE)

    # A relation contact who later leaves the company.
    for i, event_type in enumerate(("relation.contact_added", "relation.contact_left_company")):
        add(m.RelationContact(envelope=_env(event_type, 50 + i, None, [("contact", CONTACT)]), contact_id="c-1",
                              relation_kind="customer_contact", company_name="Maas Haven", job_title="IT manager",
                              first_name="Iris", last_name="Dekker",
                              left_at=T0 + dt.timedelta(minutes=51) if i else None),
            Expected(("relationship_management",), ("legitimate_interest",), RELATION_CATS, "customer",
                     "relation_data"))

    # Newsletter consent, then withdrawal: the second direct mailing must not be stored.
    add(m.NewsletterPreference(envelope=_env("newsletter.consent_given", 60, None, [("subject", READER)]),
                               list_id="news", audience="prospect", first_name="Noor",
                               consent_text_version="dm-2026-01"),
        CONSENT)
    add(m.NewsletterDelivery(envelope=_env("newsletter.sent", 61, None, [("recipient", READER)]),
                             campaign_id="dm-1", message_kind="direct_marketing"),
        DM)
    add(m.NewsletterPreference(envelope=_env("newsletter.consent_withdrawn", 62, None, [("subject", READER)]),
                               list_id="news", audience="prospect", consent_text_version="dm-2026-01"),
        CONSENT)
    add(m.NewsletterDelivery(envelope=_env("newsletter.sent", 63, None, [("recipient", READER)]),
                             campaign_id="dm-2", message_kind="direct_marketing"),
        replace(DM, dead_letter="no_marketing_consent"))
    return s
