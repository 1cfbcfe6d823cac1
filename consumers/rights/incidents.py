"""The incident register: suspected data breaches, their impact from the store, and the Art. 33 clock.

Section 8 of the privacy statement: a breach is recorded with its window and scope,
its impact is answered from what the store holds (which people, counted per
tenant, data category and purpose; which categories, financial data among them;
which purposes and legal bases), the supervisory authority (Autoriteit
Persoonsgegevens) must be told within 72 hours of awareness (Art. 33), and the
statement's steps are recorded: the situation, the root causes, the corrections,
the report to management. The contact details needed to inform the people
(Art. 34) are listed only on request, and every impact query is in the access log.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from consumers.audit.trail import AuditTrail
from consumers.rights.access_log import AccessLog, Action
from consumers.rights.errors import RightsError
from consumers.store.store import Store
from schemas.values import as_utc

AUTHORITY_DEADLINE = dt.timedelta(hours=72)
SCOPED_TABLES = ("events", "identifiers")
_COLUMNS = ("incident_id", "title", "window_from", "window_to", "tenants", "services", "categories", "tables",
            "aware_at", "opened_by", "status", "situation", "root_causes", "corrections", "management_reported_at",
            "authority_notified_at", "closed_at", "updated_at")  # fmt: skip


class IncidentError(RightsError):
    """An incident that cannot be opened, found or changed as asked."""


@dataclass(frozen=True)
class Incident:
    incident_id: str
    title: str
    window_from: dt.datetime
    window_to: dt.datetime
    tenants: tuple[str, ...]
    services: tuple[str, ...]
    categories: tuple[str, ...]
    tables: tuple[str, ...]
    aware_at: dt.datetime
    opened_by: str
    status: str = "open"
    situation: str = ""
    root_causes: str = ""
    corrections: str = ""
    management_reported_at: dt.datetime | None = None
    authority_notified_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None

    @property
    def authority_due_at(self) -> dt.datetime:
        """Art. 33(1): the authority is told within 72 hours of becoming aware."""
        return self.aware_at + AUTHORITY_DEADLINE

    def authority_overdue(self, now: dt.datetime) -> bool:
        return self.authority_notified_at is None and self.status == "open" and now > self.authority_due_at

    def public(self, now: dt.datetime) -> dict[str, Any]:
        def iso(v: dt.datetime | None) -> str | None:
            return v.isoformat() if v else None

        return {"incident_id": self.incident_id, "title": self.title, "status": self.status,
                "window": [iso(self.window_from), iso(self.window_to)], "tenants": list(self.tenants),
                "services": list(self.services), "categories": list(self.categories), "tables": list(self.tables),
                "aware_at": iso(self.aware_at), "authority_due_at": iso(self.authority_due_at),
                "authority_notified_at": iso(self.authority_notified_at),
                "authority_overdue": self.authority_overdue(now), "situation": self.situation,
                "root_causes": self.root_causes, "corrections": self.corrections,
                "management_reported_at": iso(self.management_reported_at), "closed_at": iso(self.closed_at),
                "opened_by": self.opened_by}  # fmt: skip


@dataclass
class Impact:
    incident_id: str
    events: int = 0
    people: int = 0
    people_per_tenant: dict[str, int] = field(default_factory=dict)
    people_per_category: dict[str, int] = field(default_factory=dict)
    people_per_purpose: dict[str, int] = field(default_factory=dict)
    legal_bases: list[str] = field(default_factory=list)
    financial: bool = False
    identifier_fields: dict[str, int] = field(default_factory=dict)  # field -> people whose value is held
    contacts: list[dict[str, str]] | None = None  # only when asked for, to inform the people (Art. 34)

    @property
    def categories(self) -> list[str]:
        return sorted(self.people_per_category)

    @property
    def purposes(self) -> list[str]:
        return sorted(self.people_per_purpose)

    def public(self) -> dict[str, Any]:
        return {"incident_id": self.incident_id, "events": self.events, "people": self.people,
                "people_per_tenant": self.people_per_tenant, "people_per_category": self.people_per_category,
                "people_per_purpose": self.people_per_purpose, "data_categories": self.categories,
                "financial_data": self.financial, "purposes": self.purposes, "legal_bases": self.legal_bases,
                "identifier_fields": self.identifier_fields,
                **({"contacts": self.contacts} if self.contacts is not None else {})}  # fmt: skip


class IncidentRegister:
    def __init__(self, store: Store, log: AccessLog) -> None:
        self.store = store
        self.log = log

    def open(self, title: str, window_from: dt.datetime, window_to: dt.datetime, tenants: list[str] | None = None,
             services: list[str] | None = None, categories: list[str] | None = None, tables: list[str] | None = None,
             aware_at: dt.datetime | None = None) -> Incident:  # fmt: skip
        if not title.strip():
            raise IncidentError("an incident needs a title")
        if window_to < window_from:
            raise IncidentError("the window ends before it starts (--from is after --to)")
        unknown = sorted(set(tables or ()) - set(SCOPED_TABLES))
        if unknown:
            raise IncidentError(f"--table is one of {', '.join(SCOPED_TABLES)}, not {', '.join(unknown)}")
        now = dt.datetime.now(dt.UTC)
        incident = Incident(f"INC-{now:%Y%m%d}-{secrets.token_hex(3).upper()}", title.strip(), as_utc(window_from),
                            as_utc(window_to), tuple(tenants or ()), tuple(services or ()), tuple(categories or ()),
                            tuple(tables or SCOPED_TABLES), as_utc(aware_at) or now, self.log.operator)  # fmt: skip
        self._write(incident)
        return incident

    def get(self, incident_id: str) -> Incident:
        found = self._read("WHERE incident_id = {i:String}", {"i": incident_id})
        if not found:
            raise IncidentError(f"no incident {incident_id!r}; see `lineage incident list`")
        return found[0]

    def all(self) -> list[Incident]:
        return self._read("", {})

    def update(self, incident_id: str, **changes: Any) -> Incident:
        incident = self.get(incident_id)
        if incident.status == "closed":
            raise IncidentError(f"{incident_id} is closed")
        given = {k: (as_utc(v) if isinstance(v, dt.datetime) else v) for k, v in changes.items() if v is not None}
        if not given:
            raise IncidentError("nothing to record: give --situation, --root-causes, --corrections, "
                                "--management-reported or --authority-notified")  # fmt: skip
        updated = replace(incident, **given)
        self._write(updated)
        return updated

    def close(self, incident_id: str) -> Incident:
        incident = self.get(incident_id)
        if incident.status == "closed":
            raise IncidentError(f"{incident_id} is closed already")
        missing = [n for n, v in (("situation", incident.situation), ("root causes", incident.root_causes),
                                  ("corrections", incident.corrections)) if not v]  # fmt: skip
        if missing:
            raise IncidentError(f"record the {', '.join(missing)} before closing (`lineage incident update`)")
        closed = replace(incident, status="closed", closed_at=dt.datetime.now(dt.UTC))
        self._write(closed)
        return closed

    def impact(self, incident_id: str, contacts: bool = False) -> Impact:
        """What the store holds of the incident's window and scope; written to the access log."""
        incident = self.get(incident_id)
        where, p = self._scope(incident)
        impact = Impact(incident_id)
        if "events" in incident.tables:
            people = f"FROM events ARRAY JOIN subject_ids AS s WHERE {where} AND s != ''"
            impact.events = int(self.store.scalar(f"SELECT count() FROM events WHERE {where}", p) or 0)
            impact.people = int(self.store.scalar(f"SELECT uniqExact(s) {people}", p) or 0)
            impact.people_per_tenant = dict(self.store.rows(
                f"SELECT tenant_id, uniqExact(s) {people} GROUP BY 1 ORDER BY 1", p))
            impact.people_per_category = dict(self.store.rows(
                f"SELECT c, uniqExact(s) {people.replace(' WHERE', ' ARRAY JOIN data_categories AS c WHERE')}"
                " GROUP BY 1 ORDER BY 1", p))
            impact.people_per_purpose = dict(self.store.rows(
                f"SELECT x, uniqExact(s) {people.replace(' WHERE', ' ARRAY JOIN purposes AS x WHERE')}"
                " GROUP BY 1 ORDER BY 1", p))
            impact.legal_bases = sorted(self.store.scalar(
                f"SELECT groupUniqArrayArray(legal_bases) FROM events WHERE {where}", p) or [])  # fmt: skip
            impact.financial = any(c.startswith("user.financial") for c in impact.people_per_category)
        if "identifiers" in incident.tables:
            impact.identifier_fields = dict(self.store.rows(
                f"SELECT field, uniqExact(subject_id) FROM identifiers WHERE {self._identifier_scope(incident)}"
                " GROUP BY 1 ORDER BY 1", p))  # fmt: skip
        if contacts:
            impact.contacts = [{"subject_id": s, "field": f, "value": v} for s, f, v in self.store.rows(
                "SELECT DISTINCT subject_id, field, value FROM identifiers WHERE field IN ('email', 'phone') AND"
                f" subject_id IN (SELECT s FROM events ARRAY JOIN subject_ids AS s WHERE {where} AND s != '')"
                " ORDER BY 1, 2, 3", p)]  # fmt: skip
        self.log.record(Action.incident_impact, incident_id, "",
                        f"{impact.people} people, {impact.events} events"
                        + (f"; {len(impact.contacts)} contact details listed" if contacts else ""))  # fmt: skip
        return impact

    def _scope(self, incident: Incident) -> tuple[str, dict[str, Any]]:
        parts = ["occurred_at BETWEEN {f:DateTime64(3, 'UTC')} AND {t:DateTime64(3, 'UTC')}"]
        if incident.tenants:
            parts.append("has({tenants:Array(String)}, tenant_id)")
        if incident.services:
            parts.append("has({services:Array(String)}, producer_service)")
        if incident.categories:
            parts.append("hasAny(data_categories, {categories:Array(String)})")
        return " AND ".join(parts), {"f": incident.window_from, "t": incident.window_to,
                                     "tenants": list(incident.tenants), "services": list(incident.services),
                                     "categories": list(incident.categories)}  # fmt: skip

    def _identifier_scope(self, incident: Incident) -> str:
        parts = ["occurred_at BETWEEN {f:DateTime64(3, 'UTC')} AND {t:DateTime64(3, 'UTC')}"]
        if incident.tenants:
            parts.append("has({tenants:Array(String)}, tenant_id)")
        return " AND ".join(parts)

    def _write(self, incident: Incident) -> None:
        row = [getattr(incident, c) if c != "updated_at" else dt.datetime.now(dt.UTC) for c in _COLUMNS]
        row = [list(v) if isinstance(v, tuple) else v for v in row]
        AuditTrail.of(self.store).append("incidents", _COLUMNS, [row])

    def _read(self, where: str, p: dict[str, Any]) -> list[Incident]:
        # Every version is kept (the audit chain needs them all); the newest stands.
        rows = self.store.rows(f"SELECT {', '.join(_COLUMNS[:-1])} FROM (SELECT * FROM incidents {where} ORDER BY"
                               " updated_at DESC, chain_seq DESC LIMIT 1 BY incident_id) ORDER BY aware_at, incident_id",
                               p)  # fmt: skip
        out = []
        for r in rows:
            v = dict(zip(_COLUMNS[:-1], r, strict=True))
            for k in ("tenants", "services", "categories", "tables"):
                v[k] = tuple(v[k])
            for k in ("window_from", "window_to", "aware_at", "management_reported_at", "authority_notified_at",
                      "closed_at"):  # fmt: skip
                v[k] = as_utc(v[k])
            out.append(Incident(**v))
        return out
