"""The incident register over HTTP, for the privacy officer and the operator (statement section 8).

Both roles may open, read, update and close incidents and see their impact in
counts; only the privacy role may list the contact details needed to inform the
people (Art. 34). Every impact query is in the access log under the token's name.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from consumers.rights.incidents import IncidentRegister
from lineage.service.auth import Caller, require, service_of
from lineage.service.tokens import Role
from schemas.values import as_utc

router = APIRouter(prefix="/api/incidents", tags=[Role.privacy.value, Role.operator.value])
privacy_router = APIRouter(prefix="/api/incidents", tags=[Role.privacy.value])
Either = Annotated[Caller, Depends(require(Role.privacy, Role.operator))]
Privacy = Annotated[Caller, Depends(require(Role.privacy))]


class Opened(BaseModel):
    title: str = Field(examples=["laptop with an export lost"])
    window_from: dt.datetime = Field(examples=["2026-10-01T00:00:00Z"])
    window_to: dt.datetime = Field(examples=["2026-10-31T23:59:59Z"])
    tenants: list[str] = []
    services: list[str] = []
    categories: list[str] = Field(default=[], examples=[["user.financial"]])
    tables: list[str] = []
    aware_at: dt.datetime | None = Field(default=None, description="When it became known (default: now).")


class Steps(BaseModel):
    situation: str | None = None
    root_causes: str | None = None
    corrections: str | None = None
    management_reported_at: dt.datetime | None = None
    authority_notified_at: dt.datetime | None = None


def register(request: Request, caller: Caller) -> IncidentRegister:
    return service_of(request).parts.rights_office(caller.name).incidents


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@router.get("", summary="Every incident, with the Art. 33 clock")
def incidents(request: Request, caller: Either) -> list[dict[str, Any]]:
    return [i.public(_now()) for i in register(request, caller).all()]


@router.post("", status_code=201, summary="Record a suspected breach with its window and scope")
def open_incident(request: Request, caller: Either, body: Opened) -> dict[str, Any]:
    b = body
    found = register(request, caller).open(b.title, as_utc(b.window_from), as_utc(b.window_to), b.tenants, b.services,
                                           b.categories, b.tables, as_utc(b.aware_at))  # fmt: skip
    return found.public(_now())


@router.get("/{incident_id}/impact", summary="What the store holds in its window and scope, in counts")
def impact(request: Request, caller: Either, incident_id: str) -> dict[str, Any]:
    return register(request, caller).impact(incident_id).public()


@privacy_router.get("/{incident_id}/contacts", summary="The e-mails and phone numbers needed to inform the people "
                    "(Art. 34)")  # fmt: skip
def contacts(request: Request, caller: Privacy, incident_id: str) -> dict[str, Any]:
    return register(request, caller).impact(incident_id, contacts=True).public()


@router.post("/{incident_id}/update", summary="Record the situation, root causes, corrections, reports")
def update(request: Request, caller: Either, incident_id: str, body: Steps) -> dict[str, Any]:
    changes = {k: as_utc(v) if isinstance(v, dt.datetime) else v for k, v in body.model_dump().items()}
    return register(request, caller).update(incident_id, **changes).public(_now())


@router.post("/{incident_id}/close", summary="Close an incident whose steps are recorded")
def close(request: Request, caller: Either, incident_id: str) -> dict[str, Any]:
    return register(request, caller).close(incident_id).public(_now())
