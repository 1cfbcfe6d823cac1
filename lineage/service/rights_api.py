"""The privacy officer's calls: the request register and every data-subject right (GDPR Art. 15-21).

What the `lineage sar` and `lineage dsr` commands do, through the same rights
office, with the caller's token name as the operator in the access log. An access
export is written into the export folder and handed over by a second call, which
the access log records too.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from consumers.rights.access_log import Action
from consumers.rights.identity import Contact, Who
from consumers.rights.office import RightsOffice
from consumers.rights.register import Request as Registered
from lineage.service.auth import Caller, require, service_of
from lineage.service.tokens import Role
from schemas.models import ContactChannel, DataSubjectRight
from schemas.values import as_utc

router = APIRouter(prefix="/api", tags=[Role.privacy.value])
Privacy = Annotated[Caller, Depends(require(Role.privacy))]
EXAMPLE = "jan.jansen@example.nl"


class Named(BaseModel):
    """A person, by exactly one of a business e-mail or a phone number (where no e-mail was collected)."""

    email: str | None = Field(default=None, description="The person's business e-mail.", examples=[EXAMPLE])
    phone: str | None = Field(default=None, description="Or their phone number, any spelling.",
                              examples=["+31 6 5555 0101"])  # fmt: skip

    @property
    def who(self) -> Contact:
        return Contact(email=self.email, phone=self.phone)


class Person(Named):
    request: str | None = Field(default=None, description="Answer this registered request (default: a new one).")


class Receive(Named):
    right: DataSubjectRight = Field(examples=[DataSubjectRight.access])
    received: dt.datetime | None = Field(default=None, description="Date of receipt (default: now).")
    channel: ContactChannel = ContactChannel.email


class Extend(BaseModel):
    reason: str = Field(examples=["many requests at once"])
    told_on: dt.datetime = Field(description="When the person was told, within the first month.",
                                 examples=["2026-11-26T10:00:00Z"])  # fmt: skip


class Refuse(BaseModel):
    reason: str = Field(examples=["manifestly unfounded: the same request answered last week"])


class Rectify(Person):
    set: dict[str, str] = Field(description="field: new value", examples=[{"last_name": "Jansen"}])


class Restrict(Person):
    lift: bool = False


class Object(Person):
    purpose: str = Field(examples=["product_insight"])


def office(request: Request, caller: Caller) -> RightsOffice:
    return service_of(request).parts.rights_office(caller.name)


def registered(r: Registered) -> dict[str, Any]:
    return {"request_id": r.request_id, "right": r.right.value, "channel": r.channel.value,
            "received_at": r.received_at.isoformat(), "due_at": r.deadline.isoformat(),
            "extended": r.extended_due_at is not None, "extension_reason": r.extension_reason,
            "status": r.status.value, "completed_at": r.completed_at.isoformat() if r.completed_at else None,
            "refusal_reason": r.refusal_reason, "outcome": r.outcome,
            "overdue": r.overdue(dt.datetime.now(dt.UTC))}  # fmt: skip


@router.get("/requests", summary="The request register: every request, its deadline and status")
def requests(request: Request, caller: Privacy, overdue: bool = False) -> list[dict[str, Any]]:
    return [registered(r) for r in office(request, caller).read_register(overdue)]


@router.post("/requests", status_code=201, summary="Register a request the day it arrives")
def receive(request: Request, caller: Privacy, body: Receive) -> dict[str, Any]:
    return registered(office(request, caller).receive(body.who, body.right, as_utc(body.received), body.channel))


@router.post("/requests/{request_id}/extend", summary="Extend by two months, with the reason told to the person")
def extend(request: Request, caller: Privacy, request_id: str, body: Extend) -> dict[str, Any]:
    return registered(office(request, caller).extend(request_id, body.reason, as_utc(body.told_on)))


@router.post("/requests/{request_id}/refuse", summary="Refuse a request, recording the reason")
def refuse(request: Request, caller: Privacy, request_id: str, body: Refuse) -> dict[str, Any]:
    return registered(office(request, caller).refuse(request_id, body.reason))


def export_to(request: Request, caller: Caller, who: Who, request_id: str | None) -> dict[str, Any]:
    """Write an access export into a new folder of the export folder; its zip is fetched from ``download``."""
    service = service_of(request)
    name = f"export-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
    with service.parts.lineage_events.access_export(wait=False) as run:
        result = office(request, caller).export(who, service.settings.exports_folder / name, request_id)
        run.done(result)
    return {"events": result.events, "identifiers": result.identifiers, "zip": result.zip_path.name,
            "download": f"/api/exports/{result.zip_path.name}", "seconds": round(result.seconds, 3)}  # fmt: skip


@router.get("/access-log", summary="The access log: who read or changed personal data, when, for which request")
def access_log(request: Request, caller: Privacy, request_id: str | None = None) -> list[dict[str, Any]]:
    office_ = office(request, caller)
    entries = office_.log.entries(request_id)
    office_.log.record(Action.read_access_log, request_id or "", "", f"{len(entries)} entries")
    return [{"at": e.at.isoformat(), "operator": e.operator, "action": e.action, "request_id": e.request_id,
             "subject_id": e.subject_id, "detail": e.detail} for e in entries]  # fmt: skip


@router.post("/subjects/export", summary="Access export (Art. 15) and portable copy (Art. 20) of one person")
def export(request: Request, caller: Privacy, body: Person) -> dict[str, Any]:
    return export_to(request, caller, body.who, body.request)


@router.get("/exports/{name}", summary="Download an access export's zip", response_class=FileResponse)
def download(request: Request, caller: Privacy, name: str) -> FileResponse:
    path = office(request, caller).exported(name)
    return FileResponse(path, media_type="application/zip", filename=name)


@router.post("/subjects/locate", summary="Every place any trace of the person is held now, counts only")
def locate(request: Request, caller: Privacy, body: Named) -> list[dict[str, Any]]:
    return [p.public() for p in office(request, caller).locate(body.who)]


@router.post("/subjects/erase", summary="Erase the person (Art. 17), keeping restricted what the law requires")
def erase(request: Request, caller: Privacy, body: Person) -> dict[str, Any]:
    with service_of(request).parts.lineage_events.erasure(wait=False) as run:
        result = office(request, caller).erase(body.who, body.request)
        run.done(result)
    s = result.store
    return {"request_id": result.request_id, "events_deleted": s.events_deleted, "events_unlinked": s.events_unlinked,
            "identifiers_deleted": s.identifiers_deleted, "rectifications_deleted": s.rectifications_deleted,
            "events_kept": s.events_kept, "identifiers_kept": s.identifiers_kept, "kept_reason": result.kept_reason,
            "dead_letters_removed": result.dead_letters.removed if result.dead_letters else None,
            "dead_letter_topic_purged": result.dead_letters is not None,
            "already_erased_at": result.already_erased_at.isoformat() if result.already_erased_at else None,
            "places": [p.public() for p in result.places]}  # fmt: skip


@router.post("/subjects/rectify", summary="Correct or complete identifiers (Art. 16)")
def rectify(request: Request, caller: Privacy, body: Rectify) -> dict[str, Any]:
    with service_of(request).parts.lineage_events.rectification(wait=False) as run:
        result = office(request, caller).rectify(body.who, body.set, body.request)
        run.done(result)
    return {"request_id": result.request_id, "fields": result.fields}


@router.post("/subjects/restrict", summary="Restrict processing (Art. 18), or lift the restriction")
def restrict(request: Request, caller: Privacy, body: Restrict) -> dict[str, Any]:
    return registered(office(request, caller).restrict(body.who, body.lift, body.request))


@router.post("/subjects/object", summary="Stop one purpose for the person (Art. 21)")
def object_(request: Request, caller: Privacy, body: Object) -> dict[str, Any]:
    return registered(office(request, caller).object(body.who, body.purpose, body.request))
