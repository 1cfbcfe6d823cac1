"""People known by phone only (a trial applicant): one subject id per number however it is written,
a number that is none refused at the contract, and every right exercised by phone."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pipeline_fixtures import TEST_KEY, Pipeline
from scenario import T0, TRIAL_PHONE, _env, known_scenario
from test_rights import office_for

from consumers.identity.pseudonym import Pseudonymizer
from consumers.rights.errors import InvalidContact, SubjectUnderErasure
from consumers.rights.identity import Contact
from schemas import models as m
from schemas.phone import InvalidPhone, mentions_phone, normalise_phone

PSEUDONYMS = Pseudonymizer(TEST_KEY.encode())
SPELLINGS = ("+31 6 5555 0101", "06-5555 0101", "0031 6 55550101", "(06) 55 55 01 01", "+31655550101")


def test_every_spelling_of_one_number_is_one_subject_id() -> None:
    assert {normalise_phone(s) for s in SPELLINGS} == {"+31655550101"}
    assert len({PSEUDONYMS.of_phone(s) for s in SPELLINGS}) == 1
    assert PSEUDONYMS.of_phone("+31 6 5555 0102") != PSEUDONYMS.of_phone(TRIAL_PHONE)


@pytest.mark.parametrize("text", ["n/a", "call me", "", "123", "+31"])
def test_a_number_that_is_none_is_never_hashed(text: str) -> None:
    with pytest.raises(InvalidPhone):
        PSEUDONYMS.of_phone(text)


@given(st.text(max_size=30))
def test_the_normaliser_either_gives_e164_or_refuses(text: str) -> None:
    try:
        e164 = normalise_phone(text)
    except InvalidPhone:
        return
    assert e164.startswith("+") and e164[1:].isdigit() and normalise_phone(e164) == e164


def _trial(minutes: int, phone: str) -> m.SubscriptionRequested:
    env = {**_env("subscription.requested", minutes, "t-trial", [("subject", phone)]), "event_id": uuid.uuid4()}
    return m.SubscriptionRequested.model_construct(
        envelope=m.Envelope.model_construct(**{**env, "people": [m.Person.model_construct(role="subject", email=None,
                                                                                           phone=phone)],
                                               "producer": m.Producer(service="engage-webshop", version="1")}),
        request_id=f"req-{minutes}", channel="phone", subscription_type="trial", first_name="Daan",
        last_name="Visser", company_name="Utrecht Data", business_phone=phone, business_mobile=phone)  # fmt: skip


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk path", "per-message path"])
def test_a_trial_applicant_known_by_phone_has_every_right(make_pipeline, tmp_path: Path, bulk: bool) -> None:
    p: Pipeline = make_pipeline(bulk=bulk, bulk_min_rows=1)
    steps = known_scenario()
    later = _trial(60, "06-5555 0101")  # the same applicant, the number written another way
    bad = [_trial(61, "n/a"), _trial(62, "call me")]  # producers that let anything through
    # An e-mail with a number that is none: refused too, though the e-mail alone would name the person.
    with_email = m.UsageActivity.model_construct(
        envelope=m.Envelope.model_construct(**{**_env("usage.record_completed", 63, "t-trial", []),
                                               "event_id": uuid.uuid4(), "producer": m.Producer(service="app",
                                                                                                 version="1"),
                                               "people": [m.Person.model_construct(role="creator",
                                                                                   email="eva@example.nl",
                                                                                   phone="call me")]}),
        record_id="r-63", record_kind="record", created_at=T0, components=["forms"])  # fmt: skip
    bad.append(with_email)
    p.produce([*(s.event for s in steps), later, *bad])
    stats = p.consume()
    expected = sum(1 for s in steps if s.expected.dead_letter) + 3
    assert sum(stats.dead_lettered.values()) == expected, stats
    letters = p.dead_letter_messages(expect=expected, timeout_s=10)
    refused = [dict(msg.headers) for msg in letters if b"n/a" in msg.value or b"call me" in msg.value]
    assert len(refused) == 3, [dict(msg.headers) for msg in letters]
    assert all(b"phone: not a phone number" in h["dlq.detail"] for h in refused), refused

    trial = PSEUDONYMS.of_phone(TRIAL_PHONE)
    rows = p.store.rows("SELECT event_type, occurred_at FROM events WHERE has(subject_ids, {s:String}) ORDER BY 2",
                        {"s": trial})  # fmt: skip
    assert [r[0] for r in rows] == ["subscription.requested", "subscription.requested"]
    assert p.store.scalar("SELECT count() FROM events WHERE has(subject_ids, '')") == 0

    office = office_for(p, tmp_path)
    with pytest.raises(InvalidContact):
        office.export(Contact(phone="call me"), tmp_path / "exports" / "nobody")
    with pytest.raises(InvalidContact):
        Contact(email="a@b.nl", phone=TRIAL_PHONE)
    export = office.export(Contact(phone="0655550101"), tmp_path / "exports" / "daan")
    assert (export.events, export.identifiers > 0) == (2, True)
    assert "+31655550101" in "".join(f.read_text() for f in export.folder.glob("*.json"))

    fixed = office.rectify(Contact(phone="+31 6 5555 0101"), {"last_name": "Visser-de Boer"})
    assert fixed.fields["last_name"] >= 1
    assert {v for (v,) in p.store.rows("SELECT DISTINCT value FROM identifiers WHERE subject_id = {s:String} AND "
                                       "field = 'last_name'", {"s": trial})} == {"Visser-de Boer"}  # fmt: skip

    held = {x.place: x for x in office.locate(Contact(phone="06 5555 0101"))}
    raw = f"raw events topic {p.settings.topic('subscription')}"
    assert held["store table events"].remaining == 2 and held[raw].remaining == 2
    assert held["access exports in the export folder"].remaining == 1

    erased = office.erase(Contact(phone="0031655550101"))
    assert erased.store.events_deleted == 2 and erased.dead_letters is not None
    # The report says what is true per place: the raw topic still holds both messages, until its retention.
    places = {x.place: x for x in erased.places}
    assert places["store table events"].removed == 2 and places["store table events"].remaining == 0
    assert places[raw].remaining == 2 and "topic retention; Kafka deletes no single message" in places[raw].until
    assert places["access exports in the export folder"].removed == 1 and not export.folder.exists()
    after = {x.place: x for x in office.locate(Contact(phone=TRIAL_PHONE))}
    assert after["store table events"].remaining == 0 and after["store table identifiers"].remaining == 0
    assert after[raw].remaining == 2 and after[f"dead-letter topic {p.settings.dead_letters}"].remaining == 0
    assert after["store table dsr_requests"].remaining == 3  # the export, rectification and erasure, kept by law
    assert p.store.scalar("SELECT count() FROM identifiers WHERE subject_id = {s:String}", {"s": trial}) == 0
    with pytest.raises(SubjectUnderErasure):
        office.rectify(Contact(phone=TRIAL_PHONE), {"last_name": "X"})

    # Their messages sent again (a producer replaying its log) store nothing of them again.
    trial_steps = [st_.event for st_ in steps if st_.event.envelope.people[0].phone]
    p.produce([*trial_steps, later])
    again = p.consume()
    assert again.suppressed.get("subject_erased", 0) == 2 and again.stored == 0
    assert p.store.scalar("SELECT count() FROM events WHERE has(subject_ids, {s:String})", {"s": trial}) == 0


def test_the_purge_finds_a_number_in_any_spelling_and_nothing_else() -> None:
    assert mentions_phone(b"\x00\x1e+31 6 5555 0101\x02", "+31655550101")
    assert mentions_phone(b"tel. 06-55550101.", "+31655550101")
    assert not mentions_phone(b"06-55550102 and 2026-10-01T09:00", "+31655550101")
    assert T0.year == 2026  # the scenario's clock, which the events above are dated by


def test_a_person_known_by_both_is_one_person_wherever_an_event_links_the_two(pipeline: Pipeline, tmp_path) -> None:
    number, email = "+31 6 5555 0199", "daan.visser@utrechtdata.nl"
    applied = _trial(70, "06-55550199")  # known by phone only
    started = m.SubscriptionLifecycle(envelope={**_env("subscription.started", 80, "t-trial", []),
                                                "event_id": uuid.uuid4(),
                                                "people": [{"role": "subject", "email": email, "phone": number}]},
                                      subscription_id="sub-t", subscription_type="trial", term_start=T0,
                                      term_end=T0)  # fmt: skip
    used = m.UsageActivity(envelope={**_env("usage.record_completed", 90, "t-trial", [("creator", email)]),
                                     "event_id": uuid.uuid4()},
                           record_id="r-9", record_kind="record", created_at=T0, components=["forms"])  # fmt: skip
    pipeline.produce([applied, started, used])
    pipeline.consume()
    office = office_for(pipeline, tmp_path)

    by_phone = office.subject(Contact(phone=number))
    by_email = office.subject(Contact(email=email))
    assert set(by_phone.ids) == set(by_email.ids) == {PSEUDONYMS.of_phone(number), PSEUDONYMS.of_email(email)}
    assert office.export(Contact(phone="0655550199"), tmp_path / "exports" / "p").events == 3
    assert office.export(Contact(email=email), tmp_path / "exports" / "e").events == 3

    erased = office.erase(Contact(email=email))
    assert erased.store.events_deleted == 3
    assert pipeline.store.scalar("SELECT count() FROM events WHERE hasAny(subject_ids, {s:Array(String)})",
                                 {"s": list(by_email.ids)}) == 0  # fmt: skip
    # Later by phone alone: the same person, erased.
    pipeline.produce([_trial(100, number)])
    assert pipeline.consume().suppressed.get("subject_erased", 0) == 1
    assert office.erase(Contact(phone=number)).already_erased_at is not None
