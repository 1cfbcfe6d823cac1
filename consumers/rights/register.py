"""The request register: every data-subject request, its deadline and how it ended.

Art. 12(3): answer within one month of receipt; extendable by two further months
only with a reason, told to the person within the first month. Art. 12(4): a
refusal records its reason. Rows name the person by subject id only.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, replace
from enum import StrEnum

from dateutil.relativedelta import relativedelta

from consumers.rights.errors import (
    InvalidExtension,
    InvalidRefusal,
    RequestClosed,
    UnknownRequest,
)
from consumers.audit.trail import AuditTrail
from consumers.store.store import Store
from schemas.models import ContactChannel, DataSubjectRight
from schemas.values import as_utc

ANSWER_TERM = relativedelta(months=1)
# Counted from receipt, not from the first deadline: 31 January + 3 months is 30 April,
# where 28 February + 2 months would be 28 April.
EXTENDED_TERM = relativedelta(months=3)


class Status(StrEnum):
    open = "open"
    in_progress = "in_progress"  # work started and not finished (an erasure resumes from here)
    completed = "completed"
    refused = "refused"


@dataclass(frozen=True)
class Request:
    request_id: str
    subject_id: str
    right: DataSubjectRight
    channel: ContactChannel
    received_at: dt.datetime
    due_at: dt.datetime
    extended_due_at: dt.datetime | None = None
    extension_reason: str = ""
    extension_told_at: dt.datetime | None = None
    status: Status = Status.open
    completed_at: dt.datetime | None = None
    refusal_reason: str = ""
    outcome: str = ""

    @property
    def deadline(self) -> dt.datetime:
        return self.extended_due_at or self.due_at

    @property
    def closed(self) -> bool:
        return self.status in (Status.completed, Status.refused)

    def overdue(self, now: dt.datetime) -> bool:
        return not self.closed and now > self.deadline


_COLUMNS = (
    "request_id", "subject_id", "right", "channel", "received_at", "due_at", "extended_due_at", "extension_reason",
    "extension_told_at", "status", "completed_at", "refusal_reason", "outcome", "updated_at",
)  # fmt: skip


class Register:
    def __init__(self, store: Store) -> None:
        self.store = store

    def receive(self, subject_id: str, right: DataSubjectRight, received_at: dt.datetime | None = None,
                channel: ContactChannel = ContactChannel.email) -> Request:  # fmt: skip
        received = received_at or dt.datetime.now(dt.UTC)
        request_id = f"DSR-{received:%Y%m%d}-{secrets.token_hex(3).upper()}"
        request = Request(request_id, subject_id, right, channel, received, received + ANSWER_TERM)
        self._save(request)
        return request

    def get(self, request_id: str) -> Request:
        found = self._select("WHERE request_id = {r:String}", {"r": request_id})
        if not found:
            raise UnknownRequest(f"no request {request_id!r} in the register (see `lineage dsr list`)")
        return found[0]

    def open_for(self, subject_id: str, right: DataSubjectRight) -> list[Request]:
        return [r for r in self._select("WHERE subject_id = {s:String}", {"s": subject_id})
                if r.right == right and not r.closed]  # fmt: skip

    def of_subject(self, subject_id: str) -> list[Request]:
        return self._select("WHERE subject_id = {s:String}", {"s": subject_id})

    def all(self, overdue_at: dt.datetime | None = None) -> list[Request]:
        """Every request, oldest first; only those overdue at ``overdue_at`` when given."""
        requests = self._select("", {})
        return [r for r in requests if r.overdue(overdue_at)] if overdue_at else requests

    def start(self, request: Request) -> Request:
        return self._save(replace(request, status=Status.in_progress))

    def complete(self, request: Request, outcome: str, at: dt.datetime | None = None) -> Request:
        self._must_be_open(request)
        return self._save(replace(request, status=Status.completed, completed_at=at or dt.datetime.now(dt.UTC),
                                  outcome=outcome))  # fmt: skip

    def refuse(self, request: Request, reason: str, at: dt.datetime | None = None) -> Request:
        self._must_be_open(request)
        if not reason.strip():
            raise InvalidRefusal("a refusal must record its reason (Art. 12(4))")
        return self._save(replace(request, status=Status.refused, completed_at=at or dt.datetime.now(dt.UTC),
                                  refusal_reason=reason.strip()))  # fmt: skip

    def extend(self, request: Request, reason: str, told_at: dt.datetime) -> Request:
        self._must_be_open(request)
        if not reason.strip():
            raise InvalidExtension("an extension must record its reason (Art. 12(3))")
        if request.extended_due_at is not None:
            raise InvalidExtension(f"{request.request_id} was extended already; two months is the most Art. 12(3) allows")
        if not request.received_at <= told_at <= request.due_at:
            raise InvalidExtension(
                f"the person must be told of the extension within the first month: between "
                f"{request.received_at:%Y-%m-%d} and {request.due_at:%Y-%m-%d}, not {told_at:%Y-%m-%d}"
            )
        return self._save(replace(request, extended_due_at=request.received_at + EXTENDED_TERM,
                                  extension_reason=reason.strip(), extension_told_at=told_at))  # fmt: skip

    @staticmethod
    def _must_be_open(request: Request) -> None:
        if request.closed:
            raise RequestClosed(f"{request.request_id} is {request.status} already")

    def _save(self, r: Request) -> Request:
        row = (r.request_id, r.subject_id, r.right.value, r.channel.value, r.received_at, r.due_at, r.extended_due_at,
               r.extension_reason, r.extension_told_at, r.status.value, r.completed_at, r.refusal_reason, r.outcome,
               dt.datetime.now(dt.UTC))  # fmt: skip
        AuditTrail.of(self.store).append("dsr_requests", _COLUMNS, [row])
        return r

    def _select(self, where: str, params: dict) -> list[Request]:
        # Every version of a request is kept (the audit chain needs them all); the newest stands.
        rows = self.store.rows(
            f"SELECT {', '.join(_COLUMNS[:-1])} FROM (SELECT * FROM dsr_requests {where}"
            " ORDER BY updated_at DESC, chain_seq DESC LIMIT 1 BY request_id) ORDER BY received_at, request_id",
            params,
        )
        return [
            Request(rid, sid, DataSubjectRight(right), ContactChannel(ch), as_utc(rec), as_utc(due), as_utc(ext), why,
                    as_utc(told), Status(st), as_utc(done), refusal, outcome)  # fmt: skip
            for rid, sid, right, ch, rec, due, ext, why, told, st, done, refusal, outcome in rows
        ]
