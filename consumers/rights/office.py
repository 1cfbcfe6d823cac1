"""The rights office: every data-subject request, from receipt to answer, with its paper trail.

Each method checks its input first and raises a ``RightsError`` before anything
changes; then it registers (or takes up) the request, does the work, writes the
access log and closes the request with an outcome that holds counts and reasons,
never the data.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from consumers.identity.pseudonym import Pseudonymizer
from consumers.policy.model import Policy
from consumers.rights.access_log import AccessLog, Action
from consumers.rights.dead_letters import DeadLetterPurge, PurgeResult
from consumers.rights.erasure import Eraser, StoreErasure
from consumers.rights.erasures import ErasureRecord
from consumers.rights.errors import (
    ExportNotFound,
    MissingOperator,
    SubjectUnderErasure,
    UnknownField,
    UnknownPurpose,
    UnknownRequest,
)
from consumers.rights.export import Exporter, ExportResult, check_output
from consumers.rights.identity import Subject, Who, subject_of
from consumers.rights.incidents import IncidentRegister
from consumers.rights.locate import Locator
from consumers.rights.rectification import RECTIFIABLE, Rectifier
from consumers.rights.register import Register, Request, Status
from consumers.rights.topics import TopicScan
from consumers.store.controls import ControlKind, Controls, Recount
from consumers.store.places import Place, Topics
from consumers.store.store import Store
from schemas.models import ContactChannel, DataSubjectRight
from schemas.phone import normalise_phone, phone_problem

# Rights an erased person can still exercise: to know what is kept (Art. 15), and to ask again.
_AFTER_ERASURE = (DataSubjectRight.access, DataSubjectRight.portability, DataSubjectRight.erasure)
_ERASED = ("You were erased at your request. What is listed below is what a legal obligation still requires us "
           "to keep, restricted, and until when; nothing else is held about you.")
_ZIP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.zip$")


@dataclass(frozen=True)
class ErasureResult:
    request_id: str
    store: StoreErasure
    dead_letters: PurgeResult | None  # None: no broker was given, the topic is still to be purged
    kept_reason: str
    completed: bool
    seconds: float
    already_erased_at: dt.datetime | None = None  # an erasure asked again: answered with the first one's date
    places: tuple[Place, ...] = ()  # per place the data lived: removed, remaining, until when


@dataclass(frozen=True)
class RectificationResult:
    request_id: str
    fields: dict[str, int]  # field -> how many stored values it replaced (0: completed a missing one)


# When a kept row's term ends: (retention rule, tenant, the row's moment) -> the end, or None while the
# term has not started (the subscription still runs). The retention job answers it; the app connects the two.
KeptUntil = Callable[[str, str, dt.datetime], dt.datetime | None]


def _summed(done: list[StoreErasure]) -> StoreErasure:
    """One erasure's counts over the person's ids."""
    return StoreErasure(**{f.name: sum(getattr(d, f.name) for d in done) for f in fields(StoreErasure)})


class RightsOffice:
    def __init__(self, store: Store, policy: Policy, pseudonyms: Pseudonymizer, operator: str | None,
                 export_base: Path, recount: Recount, dead_letters: DeadLetterPurge | None = None,
                 kept_until: KeptUntil | None = None, topics: Topics | None = None,
                 scan: TopicScan | None = None) -> None:  # fmt: skip
        """``recount`` follows a person's controls and erasure into what is computed from their events;
        ``kept_until`` tells an erased person until when what the law keeps is kept."""
        if not operator or not operator.strip():
            raise MissingOperator("say who you are for the access log: set LINEAGE_OPERATOR or pass --operator")
        self.store = store
        self.policy = policy
        self.pseudonyms = pseudonyms
        self.export_base = export_base
        self.dead_letters = dead_letters
        self.recount = recount
        self.kept_until = kept_until
        self.locator = Locator(store, export_base, topics, scan)
        self.log = AccessLog(store, operator.strip())
        self.incidents = IncidentRegister(store, self.log)
        self.register = Register(store)
        self.erasures = ErasureRecord(store, self.log.operator)
        self.controls = Controls(store, recount)

    # --- the register ------------------------------------------------------------------

    def receive(self, who: Who, right: DataSubjectRight, received_at: dt.datetime | None = None,
                channel: ContactChannel = ContactChannel.email) -> Request:  # fmt: skip
        """Register a request as it arrives; the answer is due one month after ``received_at``.

        An erased person may still ask what is kept, and ask for erasure again (answered with its date)."""
        subject = self.subject(who) if right in _AFTER_ERASURE else self._live_subject(who)
        request = self.register.receive(subject.subject_id, right, received_at, channel)
        self.log.record(Action.register_request, request.request_id, subject.subject_id, right.value)
        return request

    def extend(self, request_id: str, reason: str, told_at: dt.datetime) -> Request:
        request = self.register.extend(self.register.get(request_id), reason, told_at)
        self.log.record(Action.extend_request, request_id, request.subject_id, request.extension_reason)
        return request

    def refuse(self, request_id: str, reason: str) -> Request:
        request = self.register.refuse(self.register.get(request_id), reason)
        self.log.record(Action.refuse_request, request_id, request.subject_id, request.refusal_reason)
        return request

    def requests(self, overdue: bool = False) -> list[Request]:
        return self.register.all(overdue_at=dt.datetime.now(dt.UTC) if overdue else None)

    # --- the rights ----------------------------------------------------------------------

    def export(self, who: Who, out: Path, request_id: str | None = None) -> ExportResult:
        """Art. 15 and 20: write the access export of the person into ``out`` (inside the export base).

        For a person erased, the export holds what a legal obligation still keeps, why, and until when."""
        subject = self.subject(who)
        erased_at = self._erased_at(subject)
        folder = check_output(out, self.export_base)
        request = self._request(subject, DataSubjectRight.access, request_id)
        now = dt.datetime.now(dt.UTC)
        requests = []
        for r in self.register.of_subject(subject.subject_id):
            # The request this export answers is answered by it, now.
            this = r.request_id == request.request_id
            answered = now if this else r.completed_at
            requests.append({"request_id": r.request_id, "right": r.right.value,
                             "received_at": r.received_at.isoformat(),
                             "status": Status.completed.value if this else r.status.value,
                             "answered_at": answered.isoformat() if answered else None})  # fmt: skip
        if erased_at is not None:
            extra: dict = {"erased": {"at": erased_at.isoformat(), "statement": _ERASED},
                           "kept": self._kept(subject.ids, now), "requests": requests}  # fmt: skip
        else:
            extra = {
                "controls": [{"kind": c.kind.value, "purpose": c.purpose, "since": c.since.isoformat(),
                              "reason": c.reason} for c in self.controls.of_subject(subject.subject_id) if c.active],
                "requests": requests,
                "rectifications": Rectifier(self.store).history(subject.subject_id),
            }  # fmt: skip
        self.log.record(Action.read_identifiers, request.request_id, subject.subject_id, "access export")
        result = Exporter(self.store, self.policy).write(subject, request.request_id, folder, extra)
        self.log.record(Action.export, request.request_id, subject.subject_id,
                        f"{result.events} events, {result.identifiers} identifiers -> {result.zip_path.name}")  # fmt: skip
        self.register.complete(request, f"export {result.zip_path.name}: {result.events} events")
        return result

    def _kept(self, ids: tuple[str, ...], now: dt.datetime) -> list[dict]:
        """What the law keeps of an erased person: per retention rule and tenant, the count, reason and end."""
        kept = []
        for rule, tenant, n, last, purposes in self.store.rows(
            "SELECT retention_rule, tenant_id, count(), max(occurred_at), groupUniqArrayArray(purposes) FROM events"
            " WHERE hasAny(subject_ids, {s:Array(String)}) GROUP BY 1, 2 ORDER BY 1, 2", {"s": list(ids)}):  # fmt: skip
            term = self.policy.retention[rule]
            until = self.kept_until(rule, tenant, last.replace(tzinfo=dt.UTC)) if self.kept_until else None
            kept.append({
                "records": int(n), "tenant": tenant, "purposes": sorted(purposes), "retention_rule": rule,
                "legal_reason": "a legal obligation keeps these records (GDPR Art. 17(3)(b)); they are restricted: "
                                "used for nothing else until they are deleted",
                "term": f"{term.description} (term {term.term})",
                "kept_until": until.date().isoformat() if until else None,
                "until": f"deleted on {until:%Y-%m-%d}" if until else f"deleted {term.term} after the subscription "
                         "ends; it has not ended yet",
            })  # fmt: skip
        return kept

    def exported(self, name: str) -> Path:
        """The zip of an export made earlier, by its file name; the hand-over is written to the access log."""
        zip_path = (self.export_base / name).resolve()
        if not _ZIP_NAME.match(name) or zip_path.parent != self.export_base.resolve() or not zip_path.is_file():
            raise ExportNotFound(f"no export named {name!r} in the export folder")
        request_id, subject_id = "", ""
        manifest = zip_path.with_suffix("") / "manifest.json"
        if manifest.is_file():
            request_id = json.loads(manifest.read_text(encoding="utf-8")).get("request_id", "")
            subject_id = self.register.get(request_id).subject_id if request_id else ""
        self.log.record(Action.download_export, request_id, subject_id, name)
        return zip_path

    def read_register(self, overdue: bool = False) -> list[Request]:
        """The register, as a caller outside the office reads it: the reading is written to the access log."""
        requests = self.requests(overdue)
        self.log.record(Action.read_register, "", "", f"{len(requests)} requests" + (" (overdue)" if overdue else ""))
        return requests

    def erase(self, who: Who, request_id: str | None = None) -> ErasureResult:
        """Art. 17: erase the person everywhere but where a legal obligation keeps them (then restricted)."""
        started = time.monotonic()
        subject = self.subject(who)
        resumed = [r for r in self.register.open_for(subject.subject_id, DataSubjectRight.erasure)
                   if r.status == Status.in_progress]  # fmt: skip
        erased_at = self._erased_at(subject)
        if erased_at is not None and not resumed:
            return self._erased_already(subject, erased_at, request_id, started)
        request = resumed[0] if resumed else self._request(subject, DataSubjectRight.erasure, request_id)
        request = self.register.start(request)
        # The tombstone first: from here on the consumer neither stores nor dead-letters them.
        # Under each of their ids: an event may have linked their e-mail and their phone number.
        for sid in subject.ids:
            self.controls.set(sid, ControlKind.erasure, request.request_id, "erasure (Art. 17)")
        self.erasures.started(request.request_id, subject.subject_id, subject.ids)
        eraser = Eraser(self.store, self.policy, self.recount)
        store = _summed([eraser.erase(sid) for sid in subject.ids])
        kept_reason = ""
        if store.events_kept:
            kept_reason = self._kept_reason()
            for sid in subject.ids:
                self.controls.set(sid, ControlKind.restriction, request.request_id, kept_reason)
        purged = self.dead_letters.purge(subject.contacts) if self.dead_letters else None
        places = self._erased_places(subject, store, purged)
        outcome = {"store": asdict(store), "dead_letters": asdict(purged) if purged else "not purged: no broker",
                   "kept": kept_reason, "places": [p.public() for p in places]}  # fmt: skip
        self.log.record(Action.erase, request.request_id, subject.subject_id, json.dumps(outcome))
        self.erasures.done(request.request_id, subject.subject_id, json.dumps(outcome))
        if purged is not None:
            self.register.complete(request, json.dumps(outcome))
        return ErasureResult(request.request_id, store, purged, kept_reason, purged is not None,
                             time.monotonic() - started, places=tuple(places))  # fmt: skip

    def _erased_places(self, subject: Subject, s: StoreErasure, purged: PurgeResult | None) -> list[Place]:
        """What an erasure removed from each place the person's data lived, and what remains until when."""
        kept = "; ".join(k["until"] for k in self._kept(subject.ids, dt.datetime.now(dt.UTC)))
        places = [
            Place("store table events", s.events_deleted + s.events_unlinked, s.events_kept,
                  f"kept by law, restricted: {kept}" if s.events_kept else ""),
            Place("store table identifiers", s.identifiers_deleted, s.identifiers_kept,
                  "the kept events' identifiers, restricted" if s.identifiers_kept else ""),
            Place("store table rectifications", s.rectifications_deleted, 0),
            Place("store table retention_facts", s.facts_deleted, 0),
            Place("usage rollups (usage_daily cells)", s.rollup_cells, 0),
            Place("store files", None, 0, "verified: the replaced parts that held the rows are gone from disk"),
        ]  # fmt: skip
        for found in self.locator.in_topics(subject.contacts, dt.datetime.now(dt.UTC)):
            if found.place.startswith("dead-letter topic"):
                removed = purged.removed if purged else None
                until = found.until if purged else "not purged: no broker answered; run the erasure again"
                if purged and purged.removed and self.locator.topics:
                    # Deleted records cannot be read, but their bytes stay in the broker's files until
                    # the segment that holds them is deleted.
                    end = self.locator.topics.dead_letters_until(dt.datetime.now(dt.UTC))
                    gone = (f"the removed messages can no longer be read; their bytes stay in the broker's files "
                            f"until {end:%Y-%m-%d} at the latest, topic retention")  # fmt: skip
                    until = f"{until}; {gone}" if until else gone
                places.append(Place(found.place, removed, found.remaining, until))
            else:
                places.append(Place(found.place, None, found.remaining, found.until + (
                    "; Kafka deletes no single message" if found.remaining else "")))
        places.append(Place("access exports in the export folder", self.locator.remove_exports(subject.ids), 0))
        handed = int(self.store.scalar("SELECT count() FROM access_log WHERE has({s:Array(String)}, subject_id) AND "
                                       "action = 'download_export'", {"s": list(subject.ids)}) or 0)  # fmt: skip
        if handed:
            places.append(Place("access exports downloaded", None, handed, "handed to the person or their officer; "
                                "outside this system's reach"))  # fmt: skip
        return places

    def locate(self, who: Who) -> list[Place]:
        """Every place any trace of the person is held right now, counts only; written to the access log."""
        subject = self.subject(who)
        places = self.locator.locate(subject.ids, subject.contacts)
        self.log.record(Action.locate, "", subject.subject_id,
                        ", ".join(f"{p.place} {p.remaining}" for p in places if p.remaining))  # fmt: skip
        return places

    def _erased_already(self, subject: Subject, erased_at: dt.datetime, request_id: str | None,
                        started: float) -> ErasureResult:  # fmt: skip
        """An erasure asked again: registered and answered with the date of the first, nothing changed."""
        request = self._request(subject, DataSubjectRight.erasure, request_id)
        outcome = f"already erased on {erased_at:%Y-%m-%d}"
        self.log.record(Action.erase, request.request_id, subject.subject_id, outcome)
        self.register.complete(request, outcome)
        kept = self.store.scalar("SELECT count() FROM events WHERE hasAny(subject_ids, {s:Array(String)})",
                                 {"s": list(subject.ids)})  # fmt: skip
        nothing = StoreErasure(0, 0, int(kept or 0), 0, 0, 0)
        return ErasureResult(request.request_id, nothing, None, self._kept_reason() if kept else "", True,
                             time.monotonic() - started, already_erased_at=erased_at)  # fmt: skip

    def rectify(self, who: Who, changes: dict[str, str], request_id: str | None = None) -> RectificationResult:
        """Art. 16: correct or complete identifiers; the replaced values stay in the rectification history."""
        subject = self._live_subject(who)
        unknown = sorted(set(changes) - set(RECTIFIABLE))
        if not changes or unknown:
            raise UnknownField(
                f"cannot rectify {', '.join(unknown) or 'nothing'}; fields: {', '.join(RECTIFIABLE)}. "
                "The e-mail is the person's key: a new address is a new registration."
            )
        if any(not v.strip() for v in changes.values()):
            raise UnknownField("a rectified value cannot be empty; to remove data, ask for erasure")
        request = self._request(subject, DataSubjectRight.rectification, request_id)
        self.log.record(Action.read_identifiers, request.request_id, subject.subject_id, "rectification")
        rectifier = Rectifier(self.store)
        done: dict[str, int] = {}
        for sid in subject.ids:
            for f, n in rectifier.apply(sid, changes, request.request_id, self.log.operator).items():
                done[f] = done.get(f, 0) + n
        self.log.record(Action.rectify, request.request_id, subject.subject_id, ", ".join(sorted(changes)))
        self.register.complete(request, "rectified " + ", ".join(f"{f} ({n} replaced)" for f, n in done.items()))
        return RectificationResult(request.request_id, done)

    def restrict(self, who: Who, lift: bool = False, request_id: str | None = None) -> Request:
        """Art. 18: keep the data, but take the person out of every product-insight query."""
        subject = self._live_subject(who)
        request = self._request(subject, DataSubjectRight.restriction, request_id)
        for sid in subject.ids:
            self.controls.set(sid, ControlKind.restriction, request.request_id,
                              "restriction lifted" if lift else "restriction (Art. 18)", active=not lift)  # fmt: skip
        self.log.record(Action.lift_restriction if lift else Action.restrict, request.request_id, subject.subject_id)
        return self.register.complete(request, "restriction lifted" if lift else "restricted")

    def object(self, who: Who, purpose: str, request_id: str | None = None) -> Request:
        """Art. 21: stop a legitimate-interest purpose (or direct marketing) for the person, from now on."""
        subject = self._live_subject(who)
        objectable = self.policy.objectable()
        if purpose not in objectable:
            known = "not a purpose of the policy" if purpose not in self.policy.purposes else "not objectable"
            raise UnknownPurpose(f"{purpose!r} is {known}; a person can object to: {', '.join(objectable)}")
        request = self._request(subject, DataSubjectRight.objection, request_id)
        for sid in subject.ids:
            self.controls.set(sid, ControlKind.objection, request.request_id, "objection (Art. 21)", purpose=purpose)
        self.log.record(Action.object, request.request_id, subject.subject_id, purpose)
        return self.register.complete(request, f"objection to {purpose}: processing stopped")

    # --- shared steps ---------------------------------------------------------------------

    def subject(self, who: Who) -> Subject:
        """The person, with the other id an event linked to theirs (their number given with their e-mail)."""
        found = subject_of(who, self.pseudonyms)
        if found.by_phone:
            # The number's last digits narrow the search; the normaliser decides.
            rows = self.store.rows(
                "SELECT DISTINCT subject_id, value FROM identifiers WHERE field = 'phone' AND subject_id != {s:String}"
                " AND endsWith(replaceRegexpAll(value, '[^0-9]', ''), {tail:String})",
                {"s": found.subject_id, "tail": found.contact[-8:]})  # fmt: skip
            ids = sorted({sid for sid, v in rows if phone_problem(v) is None and normalise_phone(v) == found.contact})
            contacts = sorted({v for (v,) in self.store.rows(
                "SELECT DISTINCT value FROM identifiers WHERE field = 'email' AND has({s:Array(String)}, subject_id)",
                {"s": ids})}) if ids else []  # fmt: skip
        else:
            numbers = sorted({normalise_phone(v) for (v,) in self.store.rows(
                "SELECT DISTINCT value FROM identifiers WHERE subject_id = {s:String} AND field = 'phone'",
                {"s": found.subject_id}) if phone_problem(v) is None})  # fmt: skip
            ids, contacts = [self.pseudonyms.of_phone(n) for n in numbers], numbers
        return replace(found, linked=tuple(i for i in ids if i != found.subject_id), linked_contacts=tuple(contacts))

    def _erased(self, subject: Subject) -> bool:
        return self._erased_at(subject) is not None

    def _erased_at(self, subject: Subject) -> dt.datetime | None:
        """When the person's erasure was asked for (its tombstone), or None."""
        found = [c.since for sid in subject.ids for c in self.controls.of_subject(sid)
                 if c.kind == ControlKind.erasure and c.active]  # fmt: skip
        return min(found) if found else None

    def _live_subject(self, who: Who) -> Subject:
        subject = self.subject(who)
        if self._erased(subject):
            raise SubjectUnderErasure(f"{subject.contact} is erased or being erased; nothing else can be done for them")
        return subject

    def _request(self, subject: Subject, right: DataSubjectRight, request_id: str | None) -> Request:
        """The registered request named, checked against the person and right; else a new one received now."""
        if request_id is None:
            request = self.register.receive(subject.subject_id, right)
            self.log.record(Action.register_request, request.request_id, subject.subject_id, right.value)
            return request
        request = self.register.get(request_id)
        rights = {right} | ({DataSubjectRight.portability} if right == DataSubjectRight.access else set())
        if request.subject_id != subject.subject_id or request.right not in rights or request.closed:
            raise UnknownRequest(f"{request_id} is not an open {right.value} request of this person")
        return request

    def _kept_reason(self) -> str:
        rules = {r.retention for r in self.policy.rules if any(p in self.policy.surviving_erasure() for p in r.purposes)}
        terms = "; ".join(self.policy.retention[r].description + f" (term {self.policy.retention[r].term})"
                          for r in sorted(rules))  # fmt: skip
        return f"legal obligation (GDPR Art. 17(3)(b)), kept restricted until the term ends: {terms}"
