"""The rights office on the real embedded store: the register's deadlines, refused input, an export of nobody.

No broker: each test gets its own database on the session's one engine, and an
office run by "officer@test" that writes exports under its own export folder.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta

from consumers.identity.pseudonym import Pseudonymizer
from consumers.policy.loader import load_policy
from consumers.rights.access_log import AccessLog
from consumers.rights.errors import (
    ExportFolderRefused,
    InvalidEmail,
    InvalidExtension,
    MissingOperator,
    RequestClosed,
    RightsError,
    UnknownField,
    UnknownPurpose,
)
from consumers.rights.export import CSV_COLUMNS
from consumers.rights.office import RightsOffice
from consumers.rights.register import Status
from consumers.store.store import Store
from consumers.usage.rebuild import recount
from lineage.wiring import open_store
from schemas.models import DataSubjectRight

UTC = dt.UTC
PSEUDONYMS = Pseudonymizer(b"test-key")
OPERATOR = "officer@test"
PERSON = "Jan.Jansen@Example.nl"
OTHER = "els.de.boer@example.nl"
NOBODY = "Nobody.Here@Example.nl"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = open_store(store_url, f"test_{uuid.uuid4().hex[:10]}", load_policy())
    yield store
    store.drop()


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    return tmp_path / "exports"


@pytest.fixture
def office(store: Store, exports: Path) -> RightsOffice:
    return RightsOffice(store, load_policy(), PSEUDONYMS, OPERATOR, export_base=exports, recount=recount(store),
                        dead_letters=None)


def log(store: Store, request_id: str | None = None) -> list[tuple[str, str]]:
    """The access log as (action, detail), oldest first."""
    return [(e.action, e.detail) for e in AccessLog(store, "x").entries(request_id)]


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# --- deadlines (Art. 12(3)) ------------------------------------------------------------------


def test_a_request_received_on_31_january_is_due_on_28_february(office: RightsOffice) -> None:
    received = dt.datetime(2026, 1, 31, 9, 30, tzinfo=UTC)

    request = office.receive(PERSON, DataSubjectRight.access, received_at=received)

    assert request.due_at == dt.datetime(2026, 2, 28, 9, 30, tzinfo=UTC)
    assert request.deadline == request.due_at
    assert request.status == Status.open
    assert request.request_id.startswith("DSR-20260131-")
    assert office.requests() == [request]  # as stored: the same request, named by subject id only
    assert request.subject_id == PSEUDONYMS.of_email(PERSON)


def test_only_requests_whose_deadline_has_passed_are_overdue(office: RightsOffice) -> None:
    now = dt.datetime.now(UTC)
    long_ago = office.receive(PERSON, DataSubjectRight.access, received_at=now - relativedelta(months=3))
    recent = office.receive(OTHER, DataSubjectRight.erasure, received_at=now - dt.timedelta(days=3))

    assert [r.request_id for r in office.requests()] == [long_ago.request_id, recent.request_id]
    assert [r.request_id for r in office.requests(overdue=True)] == [long_ago.request_id]

    # Answered late is still answered: a closed request is no longer overdue.
    office.refuse(long_ago.request_id, "manifestly unfounded: the same request was answered last week")
    assert office.requests(overdue=True) == []


# --- extension -------------------------------------------------------------------------------


def test_an_extension_needs_a_reason_told_within_the_first_month_and_moves_the_deadline_by_two_months(
    office: RightsOffice, store: Store
) -> None:
    received = dt.datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    request = office.receive(PERSON, DataSubjectRight.access, received_at=received)
    assert request.due_at == dt.datetime(2026, 4, 10, 14, 0, tzinfo=UTC)

    refused = {
        "no reason": ("", received + dt.timedelta(days=7)),
        "a blank reason": ("   ", received + dt.timedelta(days=7)),
        "told before the request came in": ("many systems to search", received - dt.timedelta(days=1)),
        "told after the first month": ("many systems to search", request.due_at + dt.timedelta(seconds=1)),
    }
    for why, (reason, told_at) in refused.items():
        with pytest.raises(InvalidExtension):
            office.extend(request.request_id, reason, told_at)
        assert office.register.get(request.request_id) == request, why

    extended = office.extend(request.request_id, "  many systems to search  ", told_at=received + dt.timedelta(days=7))

    assert extended.extended_due_at == extended.deadline == dt.datetime(2026, 6, 10, 14, 0, tzinfo=UTC)
    assert extended.due_at == request.due_at
    assert extended.extension_reason == "many systems to search"
    assert extended.extension_told_at == received + dt.timedelta(days=7)
    assert office.register.get(request.request_id) == extended

    # Two months is the most Art. 12(3) allows: a second extension is refused.
    with pytest.raises(InvalidExtension, match="extended already"):
        office.extend(request.request_id, "still searching", told_at=received + dt.timedelta(days=8))
    assert office.register.get(request.request_id) == extended
    [(registered, _), (extension, reason)] = log(store, request.request_id)
    assert (registered, extension, reason) == ("register_request", "extend_request", "many systems to search")


def test_telling_on_the_last_day_of_the_first_month_is_in_time(office: RightsOffice) -> None:
    request = office.receive(PERSON, DataSubjectRight.access, received_at=dt.datetime(2026, 3, 10, tzinfo=UTC))

    extended = office.extend(request.request_id, "many systems to search", told_at=request.due_at)

    assert extended.deadline == dt.datetime(2026, 6, 10, tzinfo=UTC)


def test_an_extension_counts_three_months_from_receipt_even_at_a_month_end(office: RightsOffice) -> None:
    request = office.receive(PERSON, DataSubjectRight.access, received_at=dt.datetime(2026, 1, 31, tzinfo=UTC))

    extended = office.extend(request.request_id, "many systems to search", told_at=request.due_at)

    assert (request.due_at, extended.deadline) == (dt.datetime(2026, 2, 28, tzinfo=UTC), dt.datetime(2026, 4, 30, tzinfo=UTC))


def test_an_extended_request_is_overdue_only_after_its_new_deadline(office: RightsOffice) -> None:
    now = dt.datetime.now(UTC)
    late = office.receive(PERSON, DataSubjectRight.access, received_at=now - dt.timedelta(days=45))
    later = office.receive(OTHER, DataSubjectRight.access, received_at=now - relativedelta(months=4))
    assert {r.request_id for r in office.requests(overdue=True)} == {late.request_id, later.request_id}

    for r in (late, later):
        office.extend(r.request_id, "many systems to search", told_at=r.received_at + dt.timedelta(days=7))

    # The 45-day-old request now has until about six weeks from now; the other's extension ran out a month ago.
    assert [r.request_id for r in office.requests(overdue=True)] == [later.request_id]


# --- refusal and closed requests (Art. 12(4)) ------------------------------------------------------


def test_a_refusal_records_its_reason_and_closes_the_request(office: RightsOffice, store: Store) -> None:
    received = dt.datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
    request = office.receive(PERSON, DataSubjectRight.erasure, received_at=received)

    with pytest.raises(RightsError, match="refusal must record its reason"):
        office.refuse(request.request_id, "  ")
    assert office.register.get(request.request_id) == request

    reason = "manifestly unfounded (Art. 12(5)): the same request was answered last week"
    office.refuse(request.request_id, reason)

    [stored] = office.requests()
    assert (stored.request_id, stored.status, stored.refusal_reason) == (request.request_id, Status.refused, reason)
    assert stored.closed and stored.completed_at is not None

    with pytest.raises(RequestClosed):
        office.refuse(request.request_id, "refused once more")
    with pytest.raises(RequestClosed):
        office.extend(request.request_id, "many systems to search", told_at=received + dt.timedelta(days=1))
    assert office.requests() == [stored]
    assert log(store, request.request_id) == [("register_request", "erasure"), ("refuse_request", reason)]


# --- bad input changes nothing -----------------------------------------------------------------

BAD_INPUT: list = [
    pytest.param(lambda o, base: o.receive("jan.jansen@", DataSubjectRight.access), InvalidEmail,
                 id="receive-not-an-email"),
    pytest.param(lambda o, base: o.export("jan jansen", base / "jan"), InvalidEmail, id="export-not-an-email"),
    pytest.param(lambda o, base: o.object("", "product_insight"), InvalidEmail, id="object-no-email"),
    pytest.param(lambda o, base: o.export(PERSON, base.parent / "elsewhere"), ExportFolderRefused,
                 id="export-outside-the-base"),
    pytest.param(lambda o, base: o.export(PERSON, base / ".." / "escaped"), ExportFolderRefused,
                 id="export-climbing-out-of-the-base"),
    pytest.param(lambda o, base: o.export(PERSON, base), ExportFolderRefused, id="export-into-the-base-itself"),
    pytest.param(lambda o, base: o.export(PERSON, base / "earlier"), ExportFolderRefused,
                 id="export-over-an-earlier-export"),
    pytest.param(lambda o, base: o.export(PERSON, base / "notes"), ExportFolderRefused,
                 id="export-into-a-folder-in-use"),
    pytest.param(lambda o, base: o.object(PERSON, "telepathy"), UnknownPurpose, id="object-to-an-unknown-purpose"),
    pytest.param(lambda o, base: o.object(PERSON, "invoicing"), UnknownPurpose, id="object-to-invoicing"),
    pytest.param(lambda o, base: o.rectify(PERSON, {"email": "jan@elders.nl"}), UnknownField, id="rectify-the-email"),
    pytest.param(lambda o, base: o.rectify(PERSON, {"shoe_size": "44"}), UnknownField, id="rectify-unknown-field"),
    pytest.param(lambda o, base: o.rectify(PERSON, {}), UnknownField, id="rectify-nothing"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error"), BAD_INPUT)
def test_bad_input_is_refused_and_changes_nothing(
    office: RightsOffice, store: Store, exports: Path, tmp_path: Path,
    call: Callable[[RightsOffice, Path], object], error: type[RightsError],
) -> None:  # fmt: skip
    # An earlier export, and a folder of someone's notes, already in the export folder.
    (exports / "earlier").mkdir(parents=True)
    (exports / "earlier" / "manifest.json").write_text("{}\n")
    (exports / "notes").mkdir()
    (exports / "notes" / "todo.txt").write_text("call Jan back\n")
    before = files_under(tmp_path)

    with pytest.raises(error):
        call(office, exports)

    assert office.requests() == []
    assert AccessLog(store, "x").entries() == []
    for table in ("subject_controls", "rectifications", "identifiers"):
        assert store.scalar(f"SELECT count() FROM {table}") == 0, table
    assert files_under(tmp_path) == before


def test_the_messages_say_why_a_purpose_cannot_be_objected_to(office: RightsOffice) -> None:
    with pytest.raises(UnknownPurpose, match="not a purpose of the policy"):
        office.object(PERSON, "telepathy")
    with pytest.raises(UnknownPurpose, match=r"'invoicing' is not objectable.*product_insight"):
        office.object(PERSON, "invoicing")


@pytest.mark.parametrize("operator", [None, "", "   "])
def test_an_office_without_an_operator_is_refused(store: Store, exports: Path, operator: str | None) -> None:
    with pytest.raises(MissingOperator, match="LINEAGE_OPERATOR"):
        RightsOffice(store, load_policy(), PSEUDONYMS, operator, export_base=exports, recount=recount(store))
    assert AccessLog(store, "x").entries() == []
    assert store.scalar("SELECT count() FROM dsr_requests") == 0


# --- an export of a person of whom nothing is held ---------------------------------------------


def test_a_person_of_whom_nothing_is_held_gets_a_complete_export_saying_so(
    office: RightsOffice, store: Store, exports: Path
) -> None:
    out = exports / "nobody-2026"

    result = office.export(NOBODY, out)

    assert (result.events, result.identifiers) == (0, 0)
    assert result.folder == out.resolve()
    assert result.zip_path == exports.resolve() / "nobody-2026.zip"
    assert files_under(exports) == ["nobody-2026", "nobody-2026.zip", *(f"nobody-2026/{n}" for n in
                                    ("events.csv", "events.jsonl", "manifest.json", "subject.json"))]  # fmt: skip

    subject = json.loads((out / "subject.json").read_text(encoding="utf-8"))
    assert subject["data_held"] is False
    assert subject["summary"] == "We hold no personal data about you."
    assert subject["subject"] == {"email": "nobody.here@example.nl", "subject_id": PSEUDONYMS.of_email(NOBODY)}
    assert subject["personal_data"] == [] and subject["purposes"] == []
    assert subject["complaint"]["article"] == "GDPR Art. 77"
    assert (out / "events.jsonl").read_bytes() == b""
    with (out / "events.csv").open(encoding="utf-8", newline="") as fh:
        assert list(csv.reader(fh)) == [list(CSV_COLUMNS)]

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["request_id"] == subject["request_id"]
    assert [f["name"] for f in manifest["files"]] == ["subject.json", "events.jsonl", "events.csv"]
    for f in manifest["files"]:
        data = (out / f["name"]).read_bytes()
        assert (f["sha256"], f["bytes"]) == (hashlib.sha256(data).hexdigest(), len(data)), f["name"]

    with zipfile.ZipFile(result.zip_path) as zf:
        assert sorted(zf.namelist()) == [f"nobody-2026/{n}" for n in
                                         ("events.csv", "events.jsonl", "manifest.json", "subject.json")]  # fmt: skip
        for name in zf.namelist():
            assert zf.read(name) == (exports / name).read_bytes(), name

    # The register holds the request, completed; the access log says who read what for it.
    [request] = office.requests()
    assert request.request_id == subject["request_id"]
    assert (request.right, request.status) == (DataSubjectRight.access, Status.completed)
    assert request.subject_id == PSEUDONYMS.of_email(NOBODY)
    assert request.outcome == "export nobody-2026.zip: 0 events"
    entries = AccessLog(store, "x").entries(request.request_id)
    assert [e.action for e in entries] == ["register_request", "read_identifiers", "export"]
    assert {(e.operator, e.subject_id) for e in entries} == {(OPERATOR, request.subject_id)}
    assert not any("@" in e.detail for e in entries)  # the log names the person by subject id only

    # Done is done: the request cannot be extended, nor the export written over.
    with pytest.raises(RequestClosed):
        office.extend(request.request_id, "late", told_at=request.received_at)
    with pytest.raises(ExportFolderRefused):
        office.export(NOBODY, out)


# --- the access log ----------------------------------------------------------------------------


def test_the_access_log_offers_no_way_to_change_or_remove_a_row() -> None:
    assert {name for name in dir(AccessLog) if not name.startswith("_")} == {"record", "entries"}
