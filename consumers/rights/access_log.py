"""The access log: who read or changed personal data, when, what, for which request.

Append-only through this interface: there is no method that changes or deletes
a row, and no other module writes the table. Each row is chained (consumers/audit).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from consumers.audit.trail import AuditTrail
from consumers.store.store import Store

_COLUMNS = ("at", "operator", "action", "request_id", "subject_id", "detail")


class Action(StrEnum):
    export = "export"
    erase = "erase"
    rectify = "rectify"
    restrict = "restrict"
    lift_restriction = "lift_restriction"
    object = "object"
    read_identifiers = "read_identifiers"
    register_request = "register_request"
    extend_request = "extend_request"
    refuse_request = "refuse_request"
    read_register = "read_register"
    download_export = "download_export"
    read_access_log = "read_access_log"
    locate = "locate"
    incident_impact = "incident_impact"
    audit_export = "audit_export"


@dataclass(frozen=True)
class Entry:
    at: dt.datetime
    operator: str
    action: str
    request_id: str
    subject_id: str
    detail: str


class AccessLog:
    def __init__(self, store: Store, operator: str) -> None:
        self.store = store
        self.operator = operator

    def record(self, action: Action, request_id: str, subject_id: str, detail: str = "") -> None:
        row = (dt.datetime.now(dt.UTC), self.operator, action.value, request_id, subject_id, detail)
        AuditTrail.of(self.store).append("access_log", _COLUMNS, [row])

    def entries(self, request_id: str | None = None) -> list[Entry]:
        where = "WHERE request_id = {r:String}" if request_id else ""
        return [
            Entry(at.replace(tzinfo=dt.UTC), *rest)
            for at, *rest in self.store.rows(
                f"SELECT {', '.join(_COLUMNS)} FROM access_log {where} ORDER BY at", {"r": request_id}
            )
        ]
