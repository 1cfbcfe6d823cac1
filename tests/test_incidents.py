"""The incident register (statement section 8): impact from the store over a window and scope, the
Art. 33 clock, the statement's steps, and the access log of every impact query."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path

import pytest
from pipeline_fixtures import TEST_KEY, Pipeline
from scenario import T0, known_scenario
from test_rights import office_for
from typer.testing import CliRunner

from consumers.identity.pseudonym import Pseudonymizer
from consumers.rights.incidents import IncidentError
from lineage.cli import app

pytestmark = pytest.mark.integration
PSEUDONYMS = Pseudonymizer(TEST_KEY.encode())


def _expected(steps, tenants: set[str] | None = None) -> dict:
    """What the scenario put in the store, counted as the impact report counts it."""
    per_tenant, per_category, per_purpose = defaultdict(set), defaultdict(set), defaultdict(set)
    people, bases, events = set(), set(), 0
    for s in steps:
        env = s.event.envelope
        if s.expected.dead_letter or (tenants and env.tenant_id not in tenants):
            continue
        events += 1
        ids = {PSEUDONYMS.of_contact(p.email, p.phone) for p in env.people}
        people |= ids
        per_tenant[env.tenant_id or ""] |= ids
        for c in s.expected.data_categories:
            per_category[c] |= ids
        for p in s.expected.purposes:
            per_purpose[p] |= ids
        bases |= set(s.expected.legal_bases)
    count = lambda d: {k: len(v) for k, v in sorted(d.items())}  # noqa: E731
    return {"events": events, "people": len(people), "people_per_tenant": count(per_tenant),
            "people_per_category": count(per_category), "people_per_purpose": count(per_purpose),
            "legal_bases": sorted(bases)}  # fmt: skip


def test_the_impact_of_a_window_over_the_scenario_is_what_the_scenario_put_there(pipeline: Pipeline, tmp_path) -> None:
    steps = known_scenario()
    pipeline.produce(s.event for s in steps)
    pipeline.consume()
    office = office_for(pipeline, tmp_path)
    register = office.incidents

    whole = register.open("backup copied to a wrong bucket", T0 - dt.timedelta(hours=1), T0 + dt.timedelta(days=2))
    impact = register.impact(whole.incident_id).public()
    expected = _expected(steps)
    assert {k: impact[k] for k in expected} == expected
    assert impact["financial_data"] and "user.financial" in impact["data_categories"]
    assert impact["purposes"] == sorted(expected["people_per_purpose"])
    assert "contacts" not in impact and impact["identifier_fields"]["email"] > 0

    # Scoped to one tenant: only its people.
    biz = register.open("t-biz's admin account misused", T0 - dt.timedelta(hours=1), T0 + dt.timedelta(days=2),
                        tenants=["t-biz"])  # fmt: skip
    scoped = register.impact(biz.incident_id, contacts=True).public()
    expected_biz = _expected(steps, {"t-biz"})
    assert {k: scoped[k] for k in expected_biz} == expected_biz
    # The contacts to inform them (Art. 34): their e-mails, nobody else's.
    assert {c["value"].lower() for c in scoped["contacts"] if c["field"] == "email"} == {
        p.email.lower() for s in steps if s.event.envelope.tenant_id == "t-biz" and not s.expected.dead_letter
        for p in s.event.envelope.people if p.email}  # fmt: skip

    # A window with nothing in it: an empty, valid report.
    then = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    empty = register.open("nothing then", then, then + dt.timedelta(days=1))
    nothing = register.impact(empty.incident_id).public()
    assert (nothing["people"], nothing["events"], nothing["people_per_tenant"], nothing["data_categories"],
            nothing["financial_data"], nothing["legal_bases"]) == (0, 0, {}, [], False, [])  # fmt: skip

    # Every impact query is in the access log, the contacts listing said as such.
    log = [e for e in office.log.entries() if e.action == "incident_impact"]
    assert [e.request_id for e in log] == [whole.incident_id, biz.incident_id, empty.incident_id]
    assert "contact details listed" in log[1].detail and "contact details" not in log[0].detail


def test_the_72_hour_clock_runs_from_the_recorded_awareness(pipeline: Pipeline, tmp_path) -> None:
    register = office_for(pipeline, tmp_path).incidents
    now = dt.datetime.now(dt.UTC)
    aware = now - dt.timedelta(hours=80)
    late = register.open("found late", T0, T0 + dt.timedelta(days=1), aware_at=aware)
    assert abs(late.aware_at - aware) < dt.timedelta(milliseconds=1)
    assert late.authority_due_at == late.aware_at + dt.timedelta(hours=72)
    assert late.authority_overdue(now)
    fresh = register.open("found now", T0, T0 + dt.timedelta(days=1))
    assert not fresh.authority_overdue(now) and fresh.authority_due_at > now + dt.timedelta(hours=71)

    told = register.update(late.incident_id, authority_notified_at=now)
    assert not told.authority_overdue(now)
    with pytest.raises(IncidentError, match="record the situation, root causes, corrections"):
        register.close(late.incident_id)
    register.update(late.incident_id, situation="an export on a lost laptop", root_causes="no disk encryption",
                    corrections="disks encrypted", management_reported_at=now)  # fmt: skip
    closed = register.close(late.incident_id)
    assert closed.status == "closed" and register.get(late.incident_id).corrections == "disks encrypted"
    with pytest.raises(IncidentError):
        register.update(late.incident_id, situation="again")
    with pytest.raises(IncidentError, match="ends before it starts"):
        register.open("backwards", T0, T0 - dt.timedelta(days=1))


def test_the_incident_commands(pipeline: Pipeline, tmp_path: Path) -> None:
    s = pipeline.settings
    env = {"LINEAGE_HOME": str(tmp_path / "home"), "CLICKHOUSE_URL": s.store_url,
           "LINEAGE_CLICKHOUSE_DATABASE": s.clickhouse_database, "KAFKA_BOOTSTRAP_SERVERS": pipeline.bootstrap,
           "LINEAGE_TOPIC_PREFIX": s.topic_prefix, "LINEAGE_PSEUDONYM_KEY": TEST_KEY,
           "LINEAGE_OPERATOR": "officer@engage.test"}  # fmt: skip
    pipeline.produce(s_.event for s_ in known_scenario())
    pipeline.consume()

    def run(*args: str):
        return CliRunner().invoke(app, list(args), env=env)

    opened = run("incident", "open", "--title", "invoices mailed to the wrong tenant", "--from", "2026-10-01",
                 "--to", "2026-10-03", "--category", "user.financial", "--aware", "2026-11-20")
    assert opened.exit_code == 0, opened.output
    incident = opened.output.split(":")[0]
    listed = json.loads(run("incident", "list", "--format", "json").output)
    assert [i["incident_id"] for i in listed] == [incident] and listed[0]["authority_overdue"]
    assert listed[0]["authority_due_at"].startswith("2026-11-23T00:00")
    impact = json.loads(run("incident", "impact", incident, "--format", "json").output)
    assert impact["financial_data"] and set(impact["purposes"]) == {"invoicing", "bookkeeping"}
    csv = run("incident", "impact", incident, "--format", "csv")
    assert csv.exit_code == 0 and csv.output.startswith("measure,key,value\npeople,all,")
    assert run("incident", "impact", "INC-nope").exit_code == 2
    bad = run("incident", "open", "--title", "x", "--from", "2026-10-03", "--to", "2026-10-01")
    assert bad.exit_code == 2 and "ends before it starts" in bad.output
    assert run("incident", "update", incident, "--situation", "s", "--root-causes", "r", "--corrections", "c",
               "--authority-notified", "2026-11-21").exit_code == 0  # fmt: skip
    assert run("incident", "close", incident).exit_code == 0
    assert json.loads(run("incident", "list", "--format", "json").output)[0]["status"] == "closed"
