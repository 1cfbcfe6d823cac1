"""Pydantic models that mirror the Avro schemas in ``schemas/avro``.

The Avro files are the contract; these models are how Python code builds and
validates events. ``tests/test_contract.py`` walks both and fails on any
difference in names, types, optionality, enum symbols or identifier marks, so
the two cannot drift.

The JSON form of an event (``lineage produce --from-jsonl``) is exactly
``model.model_dump_json()``: the envelope and payload fields, timestamps as
ISO-8601 with an offset, dates as ``YYYY-MM-DD``. ``envelope.event_type``
says which model a line is.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

# Re-exported (``X as X``): code that builds events reads the contract as one vocabulary, m.Envelope
# beside m.UsageActivity, wherever each is defined.
from schemas.envelope import Envelope as Envelope
from schemas.envelope import Event as Event
from schemas.envelope import Person as Person
from schemas.envelope import PersonRole as PersonRole
from schemas.envelope import Producer as Producer
from schemas.envelope import Day, Timestamp, identifier
from schemas.envelope import identifier_fields as identifier_fields


class SubscriptionType(StrEnum):
    student = "student"
    business = "business"
    trial = "trial"


class ContactChannel(StrEnum):
    email = "email"
    phone = "phone"
    letter = "letter"


# --- usage and access (activity B) ------------------------------------------------


class RecordKind(StrEnum):
    record = "record"
    transaction = "transaction"


class UsageActivity(Event):
    SCHEMA = "UsageActivity"
    FAMILY = "usage"
    EVENT_TYPES = (
        "usage.record_completed",
        "usage.record_updated",
        "usage.transaction_completed",
        "usage.transaction_updated",
    )
    record_id: str
    record_kind: RecordKind
    created_at: Timestamp
    updated_at: Timestamp | None = None
    components: list[str]



class LoginMethod(StrEnum):
    password = "password"
    sso = "sso"


class AccessSession(Event):
    SCHEMA = "AccessSession"
    FAMILY = "access"
    EVENT_TYPES = ("access.login", "access.logout", "access.login_failed")
    session_id: str | None = None
    method: LoginMethod
    failure_reason: str | None = None


class UserCreated(Event):
    SCHEMA = "UserCreated"
    FAMILY = "access"
    EVENT_TYPES = ("access.user_created",)
    subscription_id: str
    first_name: str = identifier()
    last_name: str = identifier()
    role: str


class RoleChanged(Event):
    SCHEMA = "RoleChanged"
    FAMILY = "access"
    EVENT_TYPES = ("access.role_changed",)
    subscription_id: str
    previous_role: str
    role: str


# --- subscriptions (activity A) -------------------------------------------------------


class RequestChannel(StrEnum):
    webshop = "webshop"
    email = "email"
    phone = "phone"
    form = "form"


# Which application fields each subscription type requires (statement section 1A).
_REQUIRED_BY_TYPE: dict[SubscriptionType, tuple[str, ...]] = {
    SubscriptionType.student: ("education_name", "email"),
    SubscriptionType.business: ("company_name", "email"),
    SubscriptionType.trial: ("company_name", "business_phone", "business_mobile"),
}
# Fields the statement does not list for a type must not arrive for it.
_ALLOWED_BY_TYPE: dict[SubscriptionType, frozenset[str]] = {
    SubscriptionType.student: frozenset({"education_name"}),
    SubscriptionType.business: frozenset(
        {"company_name", "job_title", "department", "business_phone", "business_mobile"}
    ),
    SubscriptionType.trial: frozenset({"company_name", "business_phone", "business_mobile"}),
}


class SubscriptionRequested(Event):
    SCHEMA = "SubscriptionRequested"
    FAMILY = "subscription"
    EVENT_TYPES = ("subscription.requested",)
    request_id: str
    channel: RequestChannel
    subscription_type: SubscriptionType
    first_name: str = identifier()
    last_name: str = identifier()
    education_name: str | None = None
    company_name: str | None = None
    job_title: str | None = identifier(None)
    department: str | None = None
    business_phone: str | None = identifier(None)
    business_mobile: str | None = identifier(None)

    @model_validator(mode="after")
    def _fields_of_type(self) -> SubscriptionRequested:
        applicant = self.person(PersonRole.subject)
        present = {k for k in _ALLOWED_BY_TYPE[SubscriptionType.business] | {"education_name"} if getattr(self, k)}
        if applicant and applicant.email:
            present.add("email")
        missing = [k for k in _REQUIRED_BY_TYPE[self.subscription_type] if k not in present]
        if missing:
            raise ValueError(f"a {self.subscription_type} application requires {', '.join(missing)}")
        extra = present - _ALLOWED_BY_TYPE[self.subscription_type] - {"email"}
        if extra:
            raise ValueError(f"a {self.subscription_type} application does not collect {', '.join(sorted(extra))}")
        return self


class SubscriptionLifecycle(Event):
    SCHEMA = "SubscriptionLifecycle"
    FAMILY = "subscription"
    EVENT_TYPES = ("subscription.started", "subscription.renewed", "subscription.ended")
    subscription_id: str
    subscription_type: SubscriptionType
    term_start: Timestamp
    term_end: Timestamp | None = None
    end_reason: str | None = None



# --- trainings (activity C) -----------------------------------------------------------


class SessionKind(StrEnum):
    training = "training"
    information_session = "information_session"


class ParticipantKind(StrEnum):
    customer = "customer"
    prospect = "prospect"


class TrainingActivity(Event):
    SCHEMA = "TrainingActivity"
    FAMILY = "training"
    EVENT_TYPES = ("training.registered", "training.invited", "training.attended", "training.material_sent")
    session_id: str
    session_kind: SessionKind
    participant_kind: ParticipantKind
    first_name: str = identifier()
    last_name: str = identifier()
    starts_at: Timestamp



# --- invoicing (activity D) -----------------------------------------------------------


class InvoiceEvent(Event):
    SCHEMA = "InvoiceEvent"
    FAMILY = "invoicing"
    EVENT_TYPES = ("invoice.issued", "invoice.paid", "invoice.overdue")
    invoice_id: str
    subscription_id: str
    amount_cents: int
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    due_date: Day
    billing_company: str


class InvoiceContact(Event):
    SCHEMA = "InvoiceContact"
    FAMILY = "invoicing"
    EVENT_TYPES = ("invoice.contact_logged",)
    invoice_id: str
    channel: ContactChannel
    note: str = identifier()


# --- relation data (activity E) -------------------------------------------------------


class RelationKind(StrEnum):
    prospect = "prospect"
    customer_contact = "customer_contact"


class RelationContact(Event):
    SCHEMA = "RelationContact"
    FAMILY = "relation"
    EVENT_TYPES = ("relation.contact_added", "relation.contact_updated", "relation.contact_left_company")
    contact_id: str
    relation_kind: RelationKind
    company_name: str
    job_title: str | None = identifier(None)
    department: str | None = None
    first_name: str | None = identifier(None)
    last_name: str | None = identifier(None)
    business_phone: str | None = identifier(None)
    left_at: Timestamp | None = None


    @model_validator(mode="after")
    def _left_has_date(self) -> RelationContact:
        if self.envelope.event_type == "relation.contact_left_company" and self.left_at is None:
            raise ValueError("relation.contact_left_company needs left_at")
        return self


# --- newsletter and direct marketing (activity F) -------------------------------------


class Audience(StrEnum):
    customer = "customer"
    prospect = "prospect"


class NewsletterPreference(Event):
    SCHEMA = "NewsletterPreference"
    FAMILY = "newsletter"
    EVENT_TYPES = (
        "newsletter.subscribed",
        "newsletter.consent_given",
        "newsletter.consent_withdrawn",
        "newsletter.opted_out",
    )
    list_id: str
    audience: Audience
    first_name: str | None = identifier(None)
    last_name: str | None = identifier(None)
    consent_text_version: str | None = None


class MessageKind(StrEnum):
    newsletter = "newsletter"
    direct_marketing = "direct_marketing"
    product_update = "product_update"


class NewsletterDelivery(Event):
    SCHEMA = "NewsletterDelivery"
    FAMILY = "newsletter"
    EVENT_TYPES = ("newsletter.sent", "newsletter.clicked")
    campaign_id: str
    message_kind: MessageKind
    link: str | None = None


# --- data-subject requests (section 7) ------------------------------------------------


class DataSubjectRight(StrEnum):
    access = "access"
    rectification = "rectification"
    erasure = "erasure"
    restriction = "restriction"
    objection = "objection"
    portability = "portability"


class DataSubjectRequest(Event):
    SCHEMA = "DataSubjectRequest"
    FAMILY = "dsr"
    EVENT_TYPES = ("dsr.received", "dsr.extended", "dsr.completed", "dsr.refused")
    request_id: str
    right: DataSubjectRight
    channel: ContactChannel
    due_at: Timestamp
    reason: str | None = None



EVENT_MODELS: tuple[type[Event], ...] = (
    UsageActivity,
    AccessSession,
    UserCreated,
    RoleChanged,
    SubscriptionRequested,
    SubscriptionLifecycle,
    TrainingActivity,
    InvoiceEvent,
    InvoiceContact,
    RelationContact,
    NewsletterPreference,
    NewsletterDelivery,
    DataSubjectRequest,
)
MODEL_BY_SCHEMA: dict[str, type[Event]] = {m.SCHEMA: m for m in EVENT_MODELS}
MODEL_BY_EVENT_TYPE: dict[str, type[Event]] = {t: m for m in EVENT_MODELS for t in m.EVENT_TYPES}
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(m.FAMILY for m in EVENT_MODELS))


def topic_name(prefix: str, family: str) -> str:
    """The topic that carries one family's events: ``<prefix>.<family>``, for producers and consumers alike."""
    return f"{prefix}.{family}"
