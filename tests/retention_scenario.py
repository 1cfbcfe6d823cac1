"""Backdated activity for retention: subscriptions, contacts and newsletters whose terms end at known moments.

Every moment is counted back from ``now``, the moment the test runs, so the
same events are past or within their terms whatever day the suite runs. What
each tenant, contact and reader should keep is stated next to them.
"""

from __future__ import annotations

import datetime as dt
import uuid

from dateutil.relativedelta import relativedelta

from schemas import models as m

# Customer data lives 6 months after the subscription ends; invoices 7 years.
ENDED_7_MONTHS = "t-ended-7m"  # loses its customer data, keeps its invoices
ENDED_5_MONTHS = "t-ended-5m"  # keeps everything (due in about three weeks)
RENEWED = "t-renewed"  # ended 8 months ago, renewed 4 months ago, within the term: keeps everything
LATE_RESTART = "t-late"  # ended 10 months ago, new subscription 2 months ago: keeps only what came after it
TWO_SUBSCRIPTIONS = "t-two"  # one of its two subscriptions ended 9 months ago: keeps everything
TENANTS = (ENDED_7_MONTHS, ENDED_5_MONTHS, RENEWED, LATE_RESTART, TWO_SUBSCRIPTIONS)

LEFT_CONTACT = "c-left"  # left the company 10 days ago: gone
STAYING_CONTACT = "c-stays"  # still works there: kept
OPTED_OUT = "olga.optout@zeeland.nl"  # newsletter rows stay for counts, without her; the proof of opt-out is kept
WITHDRAWN = "willem.withdrew@zeeland.nl"  # direct-marketing rows lose him once he withdraws consent
READER = "rita.reader@zeeland.nl"  # still subscribed: kept
OLD_PROSPECT = "piet.prospect@polder.nl"  # information session 13 months ago: past the 12-month TTL
RECENT_PROSPECT = "petra.prospect@polder.nl"  # 10 months ago: kept, and not due within 30 days


def admin(tenant: str) -> str:
    return f"admin@{tenant}.example"


def user(tenant: str) -> str:
    return f"user@{tenant}.example"


class Builder:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.events: list[m.Event] = []

    def ago(self, months: int = 0, days: int = 0) -> dt.datetime:
        return self.now - relativedelta(months=months, days=days)

    def env(self, event_type: str, at: dt.datetime, tenant: str | None, people: list[tuple[str, str]],
            region: str = "NL") -> dict:  # fmt: skip
        return {
            # Named after what it is, so two stores fed the same scenario hold the same ids.
            "event_id": uuid.uuid5(uuid.NAMESPACE_URL, f"retention/{event_type}/{tenant}/{people}/{at.isoformat()}"),
            "event_type": event_type,
            "occurred_at": at,
            "tenant_id": tenant,
            "people": [{"role": r, "email": e} for r, e in people],
            "producer": {"service": "engage-app", "version": "1.0.0"},
            "processing_region": region,
        }

    def lifecycle(self, event_type: str, tenant: str, subscription: str, at: dt.datetime) -> None:
        self.events.append(m.SubscriptionLifecycle(
            envelope=self.env(event_type, at, tenant, [("subject", admin(tenant))]), subscription_id=subscription,
            subscription_type="business", term_start=at,
            term_end=at if event_type == "subscription.ended" else at + relativedelta(years=1),
            end_reason="not renewed" if event_type == "subscription.ended" else None))  # fmt: skip

    def usage(self, tenant: str, at: dt.datetime) -> None:
        self.events.append(m.UsageActivity(
            envelope=self.env("usage.record_completed", at, tenant, [("creator", user(tenant))]),
            record_id=f"r-{tenant}-{at:%Y%m%d}", record_kind="record", created_at=at,
            components=["process-designer"]))  # fmt: skip

    def user_created(self, tenant: str, at: dt.datetime) -> None:
        self.events.append(m.UserCreated(
            envelope=self.env("access.user_created", at, tenant, [("administrator", admin(tenant)),
                                                                   ("subject", user(tenant))]),
            subscription_id=f"sub-{tenant}", first_name="Uma", last_name="User", role="modeller"))  # fmt: skip

    def invoice(self, tenant: str, at: dt.datetime) -> None:
        self.events.append(m.InvoiceEvent(
            envelope=self.env("invoice.issued", at, tenant, [("subject", admin(tenant))]),
            invoice_id=f"INV-{tenant}-{at:%Y%m%d}", subscription_id=f"sub-{tenant}", amount_cents=49500,
            currency="EUR", due_date=(at + dt.timedelta(days=30)).date(), billing_company="Deltabouw"))  # fmt: skip

    def tenant(self, tenant: str, started: dt.datetime) -> None:
        self.lifecycle("subscription.started", tenant, f"sub-{tenant}", started)
        self.user_created(tenant, started + dt.timedelta(days=1))
        self.invoice(tenant, started + dt.timedelta(days=2))

    def contact(self, contact: str, email: str, added: dt.datetime, left: dt.datetime | None) -> None:
        moments = [("relation.contact_added", added), ("relation.contact_updated", added + dt.timedelta(days=30))]
        if left:
            moments.append(("relation.contact_left_company", left))
        for event_type, at in moments:
            self.events.append(m.RelationContact(
                envelope=self.env(event_type, at, None, [("contact", email)]), contact_id=contact,
                relation_kind="customer_contact", company_name="Maas Haven", job_title="IT manager",
                first_name="Iris", last_name="Dekker", left_at=at if event_type.endswith("left_company") else None))  # fmt: skip

    def preference(self, event_type: str, email: str, at: dt.datetime) -> None:
        self.events.append(m.NewsletterPreference(
            envelope=self.env(event_type, at, None, [("subject", email)]), list_id="news", audience="prospect",
            first_name="Rita", consent_text_version="dm-2026-01"))  # fmt: skip

    def mailing(self, email: str, kind: str, at: dt.datetime) -> None:
        self.events.append(m.NewsletterDelivery(
            envelope=self.env("newsletter.sent", at, None, [("recipient", email)]), campaign_id=f"{kind}-{at:%Y%m%d}",
            message_kind=kind))  # fmt: skip

    def session(self, email: str, at: dt.datetime) -> None:
        self.events.append(m.TrainingActivity(
            envelope=self.env("training.attended", at, None, [("participant", email)]), session_id=f"is-{at:%Y%m}",
            session_kind="information_session", participant_kind="prospect", first_name="Piet", last_name="Bos",
            starts_at=at))  # fmt: skip


def retention_scenario(now: dt.datetime) -> list[m.Event]:
    """The scenario's events, oldest first (the order they happened, and the order they are produced)."""
    b = Builder(now)
    b.tenant(ENDED_7_MONTHS, b.ago(months=24))
    b.usage(ENDED_7_MONTHS, b.ago(months=12))
    b.usage(ENDED_7_MONTHS, b.ago(months=8))
    b.lifecycle("subscription.ended", ENDED_7_MONTHS, f"sub-{ENDED_7_MONTHS}", b.ago(months=7))

    b.tenant(ENDED_5_MONTHS, b.ago(months=20))
    b.usage(ENDED_5_MONTHS, b.ago(months=6))
    # Five months and ten days: its term ends within the next 30 days, whatever the month lengths.
    b.lifecycle("subscription.ended", ENDED_5_MONTHS, f"sub-{ENDED_5_MONTHS}", b.ago(months=5, days=10))

    b.tenant(RENEWED, b.ago(months=30))
    b.usage(RENEWED, b.ago(months=9))
    b.lifecycle("subscription.ended", RENEWED, f"sub-{RENEWED}", b.ago(months=8))
    b.lifecycle("subscription.renewed", RENEWED, f"sub-{RENEWED}", b.ago(months=4))
    b.usage(RENEWED, b.ago(months=1))

    b.tenant(LATE_RESTART, b.ago(months=30))
    b.usage(LATE_RESTART, b.ago(months=11))
    b.lifecycle("subscription.ended", LATE_RESTART, f"sub-{LATE_RESTART}", b.ago(months=10))
    b.lifecycle("subscription.started", LATE_RESTART, f"sub-{LATE_RESTART}-2", b.ago(months=2))
    b.usage(LATE_RESTART, b.ago(months=1))

    b.tenant(TWO_SUBSCRIPTIONS, b.ago(months=30))
    b.lifecycle("subscription.started", TWO_SUBSCRIPTIONS, f"sub-{TWO_SUBSCRIPTIONS}-b", b.ago(months=20))
    b.usage(TWO_SUBSCRIPTIONS, b.ago(months=10))
    b.lifecycle("subscription.ended", TWO_SUBSCRIPTIONS, f"sub-{TWO_SUBSCRIPTIONS}", b.ago(months=9))

    b.contact(LEFT_CONTACT, "lea.left@maashaven.nl", b.ago(months=14), left=b.ago(days=10))
    b.contact(STAYING_CONTACT, "sam.stays@maashaven.nl", b.ago(months=14), left=None)

    for email in (OPTED_OUT, READER):
        b.preference("newsletter.subscribed", email, b.ago(months=3))
        b.mailing(email, "newsletter", b.ago(months=2))
    b.preference("newsletter.opted_out", OPTED_OUT, b.ago(months=1))

    b.preference("newsletter.consent_given", WITHDRAWN, b.ago(months=4))
    b.mailing(WITHDRAWN, "direct_marketing", b.ago(months=3))
    b.preference("newsletter.consent_withdrawn", WITHDRAWN, b.ago(months=2))

    b.session(OLD_PROSPECT, b.ago(months=13))
    b.session(RECENT_PROSPECT, b.ago(months=10))
    return sorted(b.events, key=lambda e: e.envelope.occurred_at)
