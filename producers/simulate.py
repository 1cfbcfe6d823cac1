"""A realistic stretch of Engage Process activity, as event models.

A seeded world of tenants (student, business and trial subscriptions), their
users, prospects and relation contacts lives through ``days`` days: people
apply and subscribe, administrators add users, users log in and complete
records in a handful of product components, invoices are issued and paid,
trainings are held, newsletters go out and are clicked, consent is given and
withdrawn, contacts leave their company, subscriptions end and are renewed.
Every activity of the privacy statement occurs. A small ``fault_rate`` mimics
the mistakes a real estate makes (a service deployed outside the EU, a
campaign tool mailing people without consent) so the dead-letter path is used.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from schemas import models as m

SERVICE = {
    "usage": ("engage-app", "7.4.2"),
    "access": ("engage-identity", "3.1.0"),
    "subscription": ("engage-webshop", "2.8.1"),
    "training": ("engage-academy", "1.6.0"),
    "invoicing": ("engage-billing", "5.0.3"),
    "relation": ("engage-crm", "4.2.0"),
    "newsletter": ("engage-mailer", "2.3.7"),
    "dsr": ("engage-privacy-desk", "1.0.4"),
}
# Product components with how often they are used: a few carry most of the work.
COMPONENTS = {
    "process-designer": 30, "process-portal": 22, "document-management": 12, "workflow": 10,
    "forms": 8, "risk-register": 6, "dashboards": 5, "improvement-register": 3, "audit": 2,
    "raci-matrix": 1.5, "compliance": 1, "process-mining": 0.5,
}  # fmt: skip
EU_REGIONS = ("NL", "NL", "NL", "DE", "IE")
FIRST = ("Anna", "Bram", "Daan", "Eva", "Femke", "Joost", "Lotte", "Milan", "Noor", "Pieter", "Sanne", "Thijs",
         "Yara", "Lucas", "Sophie", "Jesse", "Emma", "Ruben", "Julia", "Sem", "Fleur", "Lars", "Iris", "Koen")  # fmt: skip
LAST = ("de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos",
        "Vos", "Peters", "Hendriks", "van Dijk", "Dekker", "Brouwer", "van Leeuwen", "Willems")  # fmt: skip
COMPANIES = ("Rijnland Zorg", "Deltabouw", "Polder Logistics", "Noordzee Energie", "Brabant Metaal", "Utrecht Data",
             "Veluwe Finance", "Hanze Software", "Maas Haven", "Zeeland Foods", "Amstel Advies", "IJssel Water")  # fmt: skip
SCHOOLS = ("Hogeschool Utrecht", "Universiteit Twente", "Fontys", "Hanzehogeschool", "TU Delft")


@dataclass
class Person:
    email: str
    first: str
    last: str
    phone: str | None = None
    consent: bool = False  # direct marketing
    opted_out: bool = False


@dataclass
class Tenant:
    tenant_id: str
    kind: m.SubscriptionType
    company: str
    subscription_id: str
    admin: Person
    users: list[Person] = field(default_factory=list)
    ended: bool = False


class Simulation:
    def __init__(self, seed: int, start: dt.datetime, fault_rate: float) -> None:
        self.rng = random.Random(seed)
        self.start = start
        self.fault_rate = fault_rate
        self.people_made = 0
        self.invoice_no = 0
        self.open_requests: list[m.DataSubjectRequest] = []
        self.answered: list[str] = []

    # --- building blocks ----------------------------------------------------------

    def person(self, domain: str) -> Person:
        self.people_made += 1
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        local = f"{first}.{last}".lower().replace(" ", "")
        return Person(f"{local}.{self.people_made}@{domain}", first, last, f"+31 6 {self.rng.randint(10000000, 99999999)}")

    def envelope(self, family: str, event_type: str, at: dt.datetime, tenant: str | None, people) -> m.Envelope:
        region = self.rng.choice(EU_REGIONS)
        if self.rng.random() < self.fault_rate / 2:
            region = self.rng.choice(("US", "GB", "IN"))  # a service deployed outside the EU
        service, version = SERVICE[family]
        return m.Envelope(
            event_id=uuid.UUID(int=self.rng.getrandbits(128), version=4),
            event_type=event_type,
            occurred_at=at,
            tenant_id=tenant,
            people=[m.Person(role=role, email=p.email if p.email else None, phone=None if p.email else p.phone)
                    for role, p in people],
            producer=m.Producer(service=service, version=version),
            processing_region=region,
        )  # fmt: skip

    # --- the world ------------------------------------------------------------------

    def tenant(self, n: int) -> Tenant:
        kind = self.rng.choices(list(m.SubscriptionType), weights=(25, 60, 15))[0]
        company = self.rng.choice(SCHOOLS if kind == m.SubscriptionType.student else COMPANIES)
        domain = company.lower().replace(" ", "") + ".nl"
        admin = self.person(domain)
        t = Tenant(f"tenant-{n:03d}", kind, company, f"sub-{n:03d}", admin, [admin])
        extra = {m.SubscriptionType.student: 0, m.SubscriptionType.business: self.rng.randint(2, 14)}.get(kind, 2)
        t.users += [self.person(domain) for _ in range(extra)]
        return t

    def onboarding(self, t: Tenant, at: dt.datetime) -> Iterator[m.Event]:
        kind = t.kind
        applicant = t.admin
        fields: dict = {"first_name": applicant.first, "last_name": applicant.last}
        if kind == m.SubscriptionType.student:
            fields["education_name"] = t.company
        elif kind == m.SubscriptionType.business:
            fields |= {"company_name": t.company, "job_title": "Process manager", "business_phone": applicant.phone}
        else:
            fields |= {"company_name": t.company, "business_phone": applicant.phone, "business_mobile": applicant.phone}
        who = applicant if kind != m.SubscriptionType.trial else Person("", applicant.first, applicant.last, applicant.phone)
        yield m.SubscriptionRequested(
            envelope=self.envelope("subscription", "subscription.requested", at, t.tenant_id, [("subject", who)]),
            request_id=f"req-{t.tenant_id}", channel=self.rng.choice(list(m.RequestChannel)),
            subscription_type=kind, **fields,
        )  # fmt: skip
        at += dt.timedelta(hours=2)
        yield self.lifecycle(t, "subscription.started", at)
        for u in t.users[1:]:
            at += dt.timedelta(minutes=7)
            yield m.UserCreated(
                envelope=self.envelope("access", "access.user_created", at, t.tenant_id,
                                       [("administrator", t.admin), ("subject", u)]),
                subscription_id=t.subscription_id, first_name=u.first, last_name=u.last, role="modeller",
            )  # fmt: skip
        for u in t.users:
            if self.rng.random() < 0.5:
                at += dt.timedelta(minutes=3)
                yield self.preference("newsletter.subscribed", at, u, m.Audience.customer, t.tenant_id)
                if self.rng.random() < 0.5:
                    u.consent = True
                    yield self.preference("newsletter.consent_given", at + dt.timedelta(seconds=30), u,
                                          m.Audience.customer, t.tenant_id)  # fmt: skip

    def lifecycle(self, t: Tenant, event_type: str, at: dt.datetime) -> m.SubscriptionLifecycle:
        end = at + dt.timedelta(days=365 if t.kind != m.SubscriptionType.trial else 30)
        return m.SubscriptionLifecycle(
            envelope=self.envelope("subscription", event_type, at, t.tenant_id, [("subject", t.admin)]),
            subscription_id=t.subscription_id, subscription_type=t.kind, term_start=at,
            term_end=at if event_type == "subscription.ended" else end,
            end_reason="not renewed" if event_type == "subscription.ended" else None,
        )  # fmt: skip

    def preference(self, event_type: str, at, p: Person, audience, tenant) -> m.NewsletterPreference:
        return m.NewsletterPreference(
            envelope=self.envelope("newsletter", event_type, at, tenant, [("subject", p)]),
            list_id="engage-news", audience=audience, first_name=p.first, last_name=p.last,
            consent_text_version="dm-2026-01" if "consent" in event_type else None,
        )  # fmt: skip

    # --- everyday activity -----------------------------------------------------------

    def usage(self, t: Tenant, at: dt.datetime) -> m.Event:
        user = self.rng.choice(t.users)
        kind = self.rng.choices(list(m.RecordKind), weights=(80, 20))[0]
        updated = self.rng.random() < 0.45
        creator = self.rng.choice(t.users) if updated else user
        people = [("creator", creator)] + ([("last_updater", user)] if updated else [])
        comps = self.rng.choices(list(COMPONENTS), weights=list(COMPONENTS.values()), k=self.rng.randint(1, 3))
        return m.UsageActivity(
            envelope=self.envelope("usage", f"usage.{kind}_{'updated' if updated else 'completed'}", at,
                                   t.tenant_id, people),
            record_id=f"{t.tenant_id}-{kind}-{self.rng.randint(1, 5000)}", record_kind=kind,
            created_at=at - dt.timedelta(days=self.rng.randint(0, 30)) if updated else at,
            updated_at=at if updated else None, components=sorted(set(comps)),
        )  # fmt: skip

    def access(self, t: Tenant, at: dt.datetime) -> m.Event:
        user = self.rng.choice(t.users)
        r = self.rng.random()
        if r < 0.02:
            return m.RoleChanged(
                envelope=self.envelope("access", "access.role_changed", at, t.tenant_id,
                                       [("administrator", t.admin), ("subject", user)]),
                subscription_id=t.subscription_id, previous_role="modeller", role="reviewer",
            )  # fmt: skip
        event_type = "access.login" if r < 0.6 else "access.logout" if r < 0.95 else "access.login_failed"
        return m.AccessSession(
            envelope=self.envelope("access", event_type, at, t.tenant_id, [("actor", user)]),
            session_id=None if event_type == "access.login_failed" else f"s-{self.rng.getrandbits(40):x}",
            method=self.rng.choice(list(m.LoginMethod)),
            failure_reason="bad password" if event_type == "access.login_failed" else None,
        )  # fmt: skip

    def mailing(self, everyone: list[tuple[Person, str | None]], at: dt.datetime) -> m.Event:
        p, tenant = self.rng.choice(everyone)
        if p.opted_out:
            kind = m.MessageKind.product_update
        elif p.consent and self.rng.random() < 0.4:
            kind = m.MessageKind.direct_marketing
        else:
            kind = m.MessageKind.newsletter
        if not p.consent and self.rng.random() < self.fault_rate / 2:
            kind = m.MessageKind.direct_marketing  # a campaign tool ignoring consent
        clicked = kind != m.MessageKind.product_update and self.rng.random() < 0.3
        return m.NewsletterDelivery(
            envelope=self.envelope("newsletter", "newsletter.clicked" if clicked else "newsletter.sent", at,
                                   tenant, [("recipient", p)]),
            campaign_id=f"{kind}-{at:%Y-%W}", message_kind=kind,
            link="https://engageprocess.com/nieuws" if clicked else None,
        )  # fmt: skip

    def invoice(self, t: Tenant, at: dt.datetime) -> m.Event:
        if self.rng.random() < 0.15:
            return m.InvoiceContact(
                envelope=self.envelope("invoicing", "invoice.contact_logged", at, t.tenant_id, [("subject", t.admin)]),
                invoice_id=f"INV-{self.invoice_no:06d}", channel=self.rng.choice(list(m.ContactChannel)),
                note="Called about the open invoice; payment promised this week.",
            )  # fmt: skip
        self.invoice_no += 1
        event_type = self.rng.choices(("invoice.issued", "invoice.paid", "invoice.overdue"), weights=(5, 4, 1))[0]
        return m.InvoiceEvent(
            envelope=self.envelope("invoicing", event_type, at, t.tenant_id, [("subject", t.admin)]),
            invoice_id=f"INV-{self.invoice_no:06d}", subscription_id=t.subscription_id,
            amount_cents={"student": 1500, "business": 49500, "trial": 0}[t.kind] or 100, currency="EUR",
            due_date=(at + dt.timedelta(days=30)).date(), billing_company=t.company,
        )  # fmt: skip

    def training(self, t: Tenant | None, prospect: Person | None, at: dt.datetime) -> m.Event:
        p = prospect or self.rng.choice(t.users)  # type: ignore[union-attr]
        kind = m.ParticipantKind.prospect if prospect else m.ParticipantKind.customer
        return m.TrainingActivity(
            envelope=self.envelope("training", self.rng.choice(m.TrainingActivity.EVENT_TYPES), at,
                                   None if prospect else t.tenant_id, [("participant", p)]),  # type: ignore[union-attr]
            session_id=f"session-{at:%Y%m}", session_kind=m.SessionKind.information_session if prospect
            else m.SessionKind.training, participant_kind=kind, first_name=p.first, last_name=p.last,
            starts_at=at + dt.timedelta(days=7),
        )  # fmt: skip

    def relation(self, contact: tuple[Person, str, m.RelationKind], at: dt.datetime, left: bool) -> m.Event:
        p, company, kind = contact
        event_type = "relation.contact_left_company" if left else self.rng.choice(
            ("relation.contact_added", "relation.contact_updated"))  # fmt: skip
        return m.RelationContact(
            envelope=self.envelope("relation", event_type, at, None, [("contact", p)]),
            contact_id=f"contact-{p.email.split('@')[0]}", relation_kind=kind, company_name=company,
            job_title=self.rng.choice(("IT manager", "Quality manager", "CFO")), first_name=p.first,
            last_name=p.last, business_phone=p.phone, left_at=at if left else None,
        )  # fmt: skip

    def request(self, p: Person, tenant: str | None, at: dt.datetime) -> m.Event:
        request = m.DataSubjectRequest(
            envelope=self.envelope("dsr", "dsr.received", at, tenant, [("subject", p)]),
            request_id=f"dsr-{self.rng.getrandbits(32):08x}", right=self.rng.choice(list(m.DataSubjectRight)),
            channel=m.ContactChannel.email, due_at=at + dt.timedelta(days=30),
        )  # fmt: skip
        self.open_requests.append(request)
        return request

    def request_answer(self, at: dt.datetime) -> m.Event:
        """The next step of the oldest open request: completed, or extended or refused with a reason."""
        request = self.open_requests.pop(0)
        outcomes = ("dsr.completed", "dsr.extended", "dsr.refused")
        answers = len(self.answered)
        event_type = outcomes[answers] if answers < 3 else self.rng.choices(outcomes, weights=(85, 10, 5))[0]
        self.answered.append(event_type)
        reason = {"dsr.extended": "complex request spanning several systems (Art. 12(3))",
                  "dsr.refused": "manifestly unfounded: repeated request within a month (Art. 12(5))"}.get(event_type)  # fmt: skip
        due = request.due_at + dt.timedelta(days=60) if event_type == "dsr.extended" else request.due_at
        if event_type == "dsr.extended":
            self.open_requests.append(request)
        env = request.envelope
        return request.model_copy(update={
            "envelope": self.envelope("dsr", event_type, at, env.tenant_id,
                                      [(p.role, Person(p.email or "", "", "")) for p in env.people]),
            "due_at": due, "reason": reason,
        })  # fmt: skip


def simulate(
    n: int,
    seed: int = 7,
    tenants: int = 36,
    days: int = 60,
    end: dt.datetime | None = None,
    fault_rate: float = 0.002,
) -> Iterator[m.Event]:
    """Yield ``n`` events in time order over ``days`` days ending at ``end`` (default now)."""
    end = end or dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = end - dt.timedelta(days=days)
    sim = Simulation(seed, start, fault_rate)
    rng = sim.rng
    world = [sim.tenant(i + 1) for i in range(tenants)]
    prospects = [(sim.person("prospect-mail.nl"), None) for _ in range(max(10, tenants))]
    contacts = [(sim.person(c.lower().replace(" ", "") + ".nl"), c, rng.choice(list(m.RelationKind)))
                for c in COMPANIES for _ in range(3)]  # fmt: skip
    everyone: list[tuple[Person, str | None]] = [(u, t.tenant_id) for t in world for u in t.users] + prospects

    # Onboarding of every tenant, spread over the first tenth of the stretch.
    setup: list[m.Event] = []
    for i, t in enumerate(world):
        setup.extend(sim.onboarding(t, start + dt.timedelta(days=days * 0.1 * i / tenants)))
    for p, _ in prospects:
        setup.append(sim.preference("newsletter.subscribed", start, p, m.Audience.prospect, None))
    emitted = 0
    for e in sorted(setup, key=lambda e: e.envelope.occurred_at)[:n]:
        yield e
        emitted += 1

    remaining = n - emitted
    step = (end - start - dt.timedelta(days=days * 0.1)) / max(remaining, 1)
    at = start + dt.timedelta(days=days * 0.1)
    kinds = ("usage", "access", "mailing", "invoice", "training", "relation", "consent", "lifecycle", "dsr")
    weights = (70, 14, 8, 2.5, 1.5, 1.5, 1, 0.04, 0.04)
    # The first events show every activity once, and every answer to a request.
    first = kinds + ("dsr",) * 4
    for i in range(remaining):
        at += step
        # A few events arrive late, as mobile clients and retries do.
        when = at - dt.timedelta(minutes=rng.randint(5, 600)) if rng.random() < 0.01 else at
        # Make sure a short run still shows every activity once.
        kind = first[i] if i < len(first) else rng.choices(kinds, weights=weights)[0]
        live = [t for t in world if not t.ended] or world
        t = rng.choice(live)
        if kind == "usage":
            yield sim.usage(t, when)
        elif kind == "access":
            yield sim.access(t, when)
        elif kind == "mailing":
            yield sim.mailing(everyone, when)
        elif kind == "invoice":
            yield sim.invoice(t, when)
        elif kind == "training":
            yield sim.training(None, rng.choice(prospects)[0], when) if rng.random() < 0.3 else sim.training(t, None, when)
        elif kind == "relation":
            yield sim.relation(rng.choice(contacts), when, left=rng.random() < 0.1)
        elif kind == "consent":
            p, tenant = rng.choice(everyone)
            audience = m.Audience.customer if tenant else m.Audience.prospect
            if p.consent:
                p.consent = False
                if rng.random() < 0.5:
                    p.opted_out = True
                    yield sim.preference("newsletter.opted_out", when, p, audience, tenant)
                else:
                    yield sim.preference("newsletter.consent_withdrawn", when, p, audience, tenant)
            else:
                p.consent = True
                yield sim.preference("newsletter.consent_given", when, p, audience, tenant)
        elif kind == "lifecycle":
            if (i < len(first) or rng.random() < 0.25) and len(live) > 1:
                t.ended = True
                yield sim.lifecycle(t, "subscription.ended", when)
            else:
                yield sim.lifecycle(t, "subscription.renewed", when)
        elif sim.open_requests and (i < len(first) or rng.random() < 0.5):
            yield sim.request_answer(when)
        else:
            p, tenant = rng.choice(everyone)
            yield sim.request(p, tenant, when)
