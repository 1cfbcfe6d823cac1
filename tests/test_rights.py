"""Data-subject rights on the real pipeline: the known scenario through the real broker and the real engine."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from pipeline_fixtures import TEST_KEY, Pipeline
from scenario import (
    ADMIN, CONTACT, PROSPECT, READER, STUDENT, USER1, USER2, _env, known_scenario,
)  # fmt: skip

from consumers.identity.pseudonym import Pseudonymizer, normalise_email
from consumers.policy.loader import load_policy
from consumers.rights.dead_letters import DeadLetterPurge
from consumers.retention.plan import Planner
from consumers.rights.errors import SubjectUnderErasure
from consumers.rights.office import RightsOffice
from consumers.rights.topics import TopicScan
from consumers.usage.queries import top_components
from consumers.usage.rebuild import recount
from lineage.wiring import Parts
from schemas import models as m

pytestmark = pytest.mark.integration
POLICY = load_policy()
PSEUDONYMS = Pseudonymizer(TEST_KEY.encode())
EVERYONE = (STUDENT, ADMIN, USER1, USER2, PROSPECT, CONTACT, READER)


def sid(email: str) -> str:
    return PSEUDONYMS.of_email(email)


def office_for(p: Pipeline, tmp_path: Path) -> RightsOffice:
    return RightsOffice(p.store, POLICY, PSEUDONYMS, "privacy.officer@engage.test", tmp_path / "exports",
                        recount(p.store), DeadLetterPurge(p.bootstrap, p.settings.dead_letters),
                        topics=Parts(p.settings).topics(), scan=TopicScan(p.bootstrap))  # fmt: skip


def run_scenario(p: Pipeline) -> list:
    steps = known_scenario()
    p.produce(s.event for s in steps)
    p.consume()
    return steps


def about(step, email: str) -> bool:
    return any(x.email and normalise_email(x.email) == normalise_email(email) for x in step.event.envelope.people)


def usage(minutes: int, tenant: str, people: list[tuple[str, str]], component: str) -> m.UsageActivity:
    env = _env("usage.record_updated", minutes, tenant, people)
    env["event_id"] = uuid.uuid4()
    return m.UsageActivity(envelope=env, record_id=f"r-{minutes}", record_kind="record", created_at=env["occurred_at"],
                           components=[component])  # fmt: skip


def test_each_persons_export_holds_exactly_their_events_purposes_and_terms(pipeline: Pipeline, tmp_path: Path) -> None:
    steps = run_scenario(pipeline)
    stored = [s for s in steps if s.expected.dead_letter is None]
    office = office_for(pipeline, tmp_path)

    for n, email in enumerate(EVERYONE):
        # Case and spaces as a person might type them.
        result = office.export(f"  {email.upper()} ", tmp_path / "exports" / f"sar-{n}")
        files = {f.name: f.read_text(encoding="utf-8") for f in result.folder.iterdir()}
        info = json.loads(files["subject.json"])
        events = [json.loads(line) for line in files["events.jsonl"].splitlines()]
        mine = [s for s in stored if about(s, email)]

        assert sorted(e["event_id"] for e in events) == sorted(str(s.event.envelope.event_id) for s in mine), email
        assert len(files["events.csv"].splitlines()) == len(mine) + 1
        assert info["data_held"] is True and info["subject"]["subject_id"] == sid(email)
        want: dict[str, set] = {}
        for s in mine:
            for purpose, basis in zip(s.expected.purposes, s.expected.legal_bases, strict=True):
                w = want.setdefault(purpose, {"bases": set(), "retention": set(), "categories": set()})
                w["bases"].add(basis)
                w["retention"].add(s.expected.retention_rule)
                w["categories"] |= set(s.expected.data_categories)
        got = {p["purpose"]: p for p in info["purposes"]}
        assert set(got) == set(want), email
        for purpose, w in want.items():
            g = got[purpose]
            assert {b["key"] for b in g["legal_basis"]} == w["bases"]
            assert {r["rule"] for r in g["retention"]} == w["retention"]
            assert {c["key"] for c in g["data_categories"]} == w["categories"]
            assert [r["key"] for r in g["recipients"]] == ["cloud_processors", "staff"]
            assert g["events"] == sum(purpose in s.expected.purposes for s in mine)
        assert info["territory"]["processing_countries"] == ["NL"]
        assert info["automated_decision_making"]["used"] is False
        assert "Autoriteit Persoonsgegevens" in info["complaint"]["authority"]
        assert {r["right"] for r in info["rights"]} >= {"access", "rectification", "erasure", "restriction",
                                                        "portability", "objection"}  # fmt: skip

        # Nobody else appears: not their e-mail, not their subject id.
        text = "\n".join(files.values())
        for other in EVERYONE:
            if normalise_email(other) != normalise_email(email):
                assert normalise_email(other) not in text.lower() and sid(other) not in text, (email, other)
        manifest = json.loads(files["manifest.json"])
        assert {f["name"] for f in manifest["files"]} == {"subject.json", "events.jsonl", "events.csv"}

    # The student's own identifiers are part of the answer.
    student = json.loads((tmp_path / "exports" / "sar-0" / "subject.json").read_text())
    assert {(d["field"], d["value"]) for d in student["personal_data"]} >= {("first_name", "Sanne"),
                                                                          ("email", STUDENT)}  # fmt: skip


def test_an_erased_person_stays_erased_through_a_replay_and_late_events(
    make_pipeline, tmp_path: Path
) -> None:  # fmt: skip
    p = make_pipeline()
    run_scenario(p)
    # Another person's message on the dead-letter topic, to be kept by the purge.
    outside = usage(5, "t-biz", [("actor", USER2)], "forms")
    p.produce([outside.model_copy(update={"envelope": outside.envelope.model_copy(update={"processing_region": "US"})})])
    p.consume()
    office = office_for(p, tmp_path)
    admin = sid(ADMIN)
    before = p.store.scalar("SELECT count() FROM events")

    result = office.erase(ADMIN)

    # Alone in the application: deleted. With the users they created: unlinked. Invoices: kept, restricted.
    s = result.store
    assert (s.events_deleted, s.events_unlinked, s.events_kept) == (1, 2, 2) and result.completed
    assert p.store.scalar("SELECT count() FROM events") == before - 1
    assert sorted(r[0] for r in p.store.rows(
        "SELECT event_type FROM events WHERE has(subject_ids, {s:String})", {"s": admin})) == [
        "invoice.issued", "invoice.paid"]  # fmt: skip
    shared = p.store.rows("SELECT subject_ids FROM events WHERE event_type = 'access.user_created' ORDER BY occurred_at")
    assert [ids for (ids,) in shared] == [["", sid(USER1)], ["", sid(USER2)]]
    assert {et for (et,) in p.store.rows("SELECT DISTINCT event_type FROM identifiers WHERE subject_id = {s:String}",
                                        {"s": admin})} == {"invoice.issued", "invoice.paid"}  # fmt: skip
    kinds = {c.kind.value: c.reason for c in office.controls.of_subject(admin) if c.active}
    assert set(kinds) == {"erasure", "restriction"} and "legal obligation" in kinds["restriction"]

    # Physically gone: no part holds the rows, masked or not, and no replaced part is left on disk.
    assert p.store.scalar(
        "SELECT count() FROM events WHERE has(subject_ids, {s:String}) AND NOT has(purposes, 'bookkeeping')"
        " SETTINGS apply_deleted_mask = 0", {"s": admin}) == 0  # fmt: skip
    assert p.store.scalar("SELECT count() FROM system.parts WHERE database = currentDatabase()"
                          " AND table IN ('events', 'identifiers') AND NOT active") == 0  # fmt: skip

    # Replay every topic from the beginning with a fresh consumer group, then a late event about them.
    replay = Pipeline(p.settings.model_copy(update={"consumer_group": f"{p.settings.consumer_group}-replay"}),
                      p.store, p.bootstrap)  # fmt: skip
    replay.consume()
    late_use = usage(90, "t-biz", [("actor", ADMIN)], "workflow")
    late_invoice = m.InvoiceEvent(envelope={**_env("invoice.overdue", 91, "t-biz", [("subject", ADMIN)]),
                                            "event_id": uuid.uuid4()},
                                  invoice_id="INV-2", subscription_id="sub-2", amount_cents=100, currency="EUR",
                                  due_date=dt.date(2026, 11, 30), billing_company="Deltabouw")  # fmt: skip
    p.produce([late_use, late_invoice])
    stats = replay.consumer().run(until_idle=30, max_messages=2)
    assert stats.suppressed == {"subject_erased": 1} and stats.stored == 1
    assert p.store.scalar("SELECT count() FROM events") == before
    assert sorted(r[0] for r in p.store.rows(
        "SELECT event_type FROM events WHERE has(subject_ids, {s:String})", {"s": admin})) == [
        "invoice.issued", "invoice.overdue", "invoice.paid"]  # fmt: skip

    # The dead-letter topic lost the erased person's message only, after one more erasure.
    reader = office.erase(READER)
    assert reader.dead_letters is not None and (reader.dead_letters.removed, reader.dead_letters.kept) == (1, 1)
    letters = KafkaConsumer(p.settings.dead_letters, bootstrap_servers=p.bootstrap, auto_offset_reset="earliest",
                            enable_auto_commit=False, consumer_timeout_ms=5000)  # fmt: skip
    try:
        values = [msg.value for msg in letters]
    finally:
        letters.close()
    assert len(values) == 1 and normalise_email(USER2).encode() in values[0].lower()
    assert not any(normalise_email(READER).encode() in v.lower() for v in values)

    # The erasure is on record, without the erased data; nothing but access and erasure can be asked for them.
    log = office.log.entries(result.request_id)
    assert [e.action for e in log][-1] == "erase" and ADMIN.lower() not in json.dumps([e.detail for e in log]).lower()
    with pytest.raises(SubjectUnderErasure):
        office.restrict(ADMIN)

    # They may still ask what is kept: the remnant, the legal reason and until when, and nothing else.
    planner = Planner(p.store, POLICY)
    office.kept_until = lambda rule, tenant, at: planner.term_end(rule, tenant, at, dt.datetime.now(dt.UTC))
    remnant = office.export(ADMIN, tmp_path / "exports" / "after-erasure")
    info = json.loads((remnant.folder / "subject.json").read_text())
    events = [json.loads(line) for line in (remnant.folder / "events.jsonl").read_text().splitlines()]
    assert sorted(e["event_type"] for e in events) == ["invoice.issued", "invoice.overdue", "invoice.paid"]
    assert "controls" not in info and "rectifications" not in info and info["erased"]["at"]
    [kept] = info["kept"]
    assert (kept["records"], kept["tenant"], kept["retention_rule"]) == (3, "t-biz", "invoicing_records")
    assert "Art. 17(3)(b)" in kept["legal_reason"] and "term P7Y" in kept["term"]
    # t-biz's subscription has not ended, so the seven years have not started.
    assert kept["kept_until"] is None and "after the subscription ends; it has not ended yet" in kept["until"]
    assert {p["purpose"] for p in info["purposes"]} == {"invoicing", "bookkeeping"}
    answered = {r["request_id"]: r for r in info["requests"]}
    access = office.register.get(next(r for r in answered if r != result.request_id))
    assert answered[access.request_id]["status"] == "completed" and answered[access.request_id]["answered_at"]
    assert answered[result.request_id]["status"] == "completed"

    # An erasure asked again is answered with the first one's date, and nothing changes.
    again = office.erase(ADMIN)
    assert again.already_erased_at is not None and again.completed and again.store.events_deleted == 0
    assert again.already_erased_at.date() == dt.datetime.now(dt.UTC).date()
    register = {r.request_id: r for r in office.requests()}
    assert {register[i].status.value for i in (result.request_id, access.request_id, again.request_id)} == {"completed"}
    assert register[again.request_id].outcome.startswith("already erased on ")


def test_restriction_and_objection_change_what_product_queries_return(pipeline: Pipeline, tmp_path: Path) -> None:
    run_scenario(pipeline)
    office = office_for(pipeline, tmp_path)

    def components() -> dict[str, int]:
        return {c: n for c, n, _, _ in top_components(pipeline.store).rows}

    assert components() == {"process-designer": 1, "workflow": 1, "forms": 1}
    office.restrict(STUDENT)
    assert components() == {"workflow": 1, "forms": 1}
    office.restrict(STUDENT, lift=True)
    assert components() == {"process-designer": 1, "workflow": 1, "forms": 1}

    # USER1 updated the record USER2 created: the event leaves every figure.
    office.object(USER1, "product_insight")
    assert components() == {"process-designer": 1}

    # From then on, their usage events are not stored at all; other people's still are.
    pipeline.produce([usage(100, "t-biz", [("actor", USER1)], "dashboards"),
                      usage(101, "t-biz", [("actor", USER2)], "dashboards")])  # fmt: skip
    stats = pipeline.consumer().run(until_idle=30, max_messages=2)
    assert stats.suppressed == {"objection": 1} and stats.stored == 1
    assert components() == {"process-designer": 1, "dashboards": 1}
    assert pipeline.store.scalar("SELECT count() FROM events WHERE has(subject_ids, {s:String})"
                                 " AND has(purposes, 'product_insight')", {"s": sid(USER1)}) == 1  # fmt: skip
    assert pipeline.store.scalar("SELECT count() FROM suppressed_events WHERE reason = 'objection'") == 1
    # Processing on another basis goes on: their logins are still stored.
    assert pipeline.store.scalar("SELECT count() FROM events WHERE has(subject_ids, {s:String})"
                                 " AND event_type = 'access.login'", {"s": sid(USER1)}) == 1  # fmt: skip


def test_an_opt_out_stops_newsletters_and_click_tracking_but_not_product_updates(pipeline: Pipeline) -> None:
    reader = [("recipient", READER)]

    def ev(model, event_type: str, minutes: int, **fields):
        env = {**_env(event_type, minutes, None, reader if model is m.NewsletterDelivery else [("subject", READER)]),
               "event_id": uuid.uuid4()}  # fmt: skip
        return model(envelope=env, **fields)

    pref = {"list_id": "news", "audience": "customer"}
    events = [
        ev(m.NewsletterPreference, "newsletter.subscribed", 0, **pref),
        ev(m.NewsletterDelivery, "newsletter.sent", 1, campaign_id="n-1", message_kind="newsletter"),
        ev(m.NewsletterDelivery, "newsletter.clicked", 2, campaign_id="n-1", message_kind="newsletter", link="/a"),
        ev(m.NewsletterPreference, "newsletter.opted_out", 3, **pref),
        ev(m.NewsletterDelivery, "newsletter.sent", 4, campaign_id="n-2", message_kind="newsletter"),
        ev(m.NewsletterDelivery, "newsletter.clicked", 5, campaign_id="n-2", message_kind="newsletter", link="/b"),
        ev(m.NewsletterDelivery, "newsletter.sent", 6, campaign_id="u-1", message_kind="product_update"),
        ev(m.NewsletterPreference, "newsletter.subscribed", 7, **pref),
        ev(m.NewsletterDelivery, "newsletter.sent", 8, campaign_id="n-3", message_kind="newsletter"),
    ]
    pipeline.produce(events)
    stats = pipeline.consume()

    assert stats.suppressed == {"objection": 2} and stats.stored == 7
    stored = [tuple(r) for r in pipeline.store.rows(
        "SELECT event_type, attributes['campaign_id'] FROM events ORDER BY occurred_at")]  # fmt: skip
    assert stored == [("newsletter.subscribed", ""), ("newsletter.sent", "n-1"), ("newsletter.clicked", "n-1"),
                      ("newsletter.opted_out", ""), ("newsletter.sent", "u-1"), ("newsletter.subscribed", ""),
                      ("newsletter.sent", "n-3")]  # fmt: skip


def test_rectification_replaces_the_value_everywhere_and_keeps_the_history(pipeline: Pipeline, tmp_path: Path) -> None:
    run_scenario(pipeline)
    office = office_for(pipeline, tmp_path)

    result = office.rectify(USER1, {"last_name": "Jansen-de Boer", "job_title": "Modeller"})

    assert result.fields == {"last_name": 1, "job_title": 0}  # one value replaced, one completed
    held = {(f, v) for f, v in pipeline.store.rows(
        "SELECT field, value FROM identifiers WHERE subject_id = {s:String}", {"s": sid(USER1)})}  # fmt: skip
    assert ("last_name", "Jansen-de Boer") in held and ("job_title", "Modeller") in held
    assert ("last_name", "Jansen") not in held
    # USER2 shares the old surname and keeps it: only the person asking is corrected.
    assert pipeline.store.scalar("SELECT count() FROM identifiers WHERE subject_id = {s:String}"
                                 " AND field = 'last_name' AND value = 'Jansen'", {"s": sid(USER2)}) > 0  # fmt: skip

    info = json.loads((office.export(USER1, tmp_path / "exports" / "after").folder / "subject.json").read_text())
    assert [(h["field"], h["old_values"], h["new_value"]) for h in info["rectifications"]] == [
        ("job_title", [], "Modeller"), ("last_name", ["Jansen"], "Jansen-de Boer")]  # fmt: skip
    actions = [e.action for e in office.log.entries(result.request_id)]
    assert actions == ["register_request", "read_identifiers", "rectify"]
    assert [r.status.value for r in office.requests() if r.request_id == result.request_id] == ["completed"]
