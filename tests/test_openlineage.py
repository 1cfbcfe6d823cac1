"""OpenLineage run events of the consumer, retention, erasure, rectification and an access export.

The known scenario and the retention scenario go through the real broker and the real engine by
the `lineage` commands, with no OpenLineage configuration: the events land in the home folder's
file, and every line is read back into the client's own classes.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import re
import time
import types
import typing
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attr
import pytest
from conftest import free_port
from openlineage.client.event_v2 import RunEvent
from openlineage.client.facet_v2 import (
    BaseFacet,
    column_lineage_dataset,
    documentation_job,
    error_message_run,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    processing_engine_run,
    schema_dataset,
    tags_run,
)
from openlineage.client.serde import Serde
from pipeline_fixtures import TEST_KEY
from retention_scenario import retention_scenario
from scenario import ADMIN, STUDENT, USER1, USER2, known_scenario
from typer.testing import CliRunner

from consumers.identity.pseudonym import Pseudonymizer, normalise_email
from consumers.policy.loader import load_policy
from lineage.cli import app
from lineage.lineage_events.facets import CountsRunFacet, RemovalOutputDatasetFacet
from lineage.lineage_events.naming import store_namespace, topic_name
from lineage.settings import Settings
from lineage.wiring import Parts, open_store
from producers.sdk import EventProducer
from schemas.models import FAMILIES
from schemas.phone import normalise_phone

pytestmark = pytest.mark.integration

# Each facet key the events use, and the client's (or our) class it is read into.
FACETS: dict[str, type] = {
    "schema": schema_dataset.SchemaDatasetFacet,
    "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet,
    "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet,
    "processing_engine": processing_engine_run.ProcessingEngineRunFacet,
    "errorMessage": error_message_run.ErrorMessageRunFacet,
    "nominalTime": nominal_time_run.NominalTimeRunFacet,
    "tags": tags_run.TagsRunFacet,
    "jobType": job_type_job.JobTypeJobFacet,
    "documentation": documentation_job.DocumentationJobFacet,
    "engage_counts": CountsRunFacet,
    "engage_removal": RemovalOutputDatasetFacet,
}
PII_FIELDS = {"email", "phone", "first_name", "last_name", "business_phone", "business_mobile", "note", "job_title"}


def _build(kind: Any, data: Any, key: str | None = None) -> Any:
    """``data`` read into ``kind`` as the client declares it; a facet by its key. Unknown keys fail."""
    if data is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
        origin = typing.get_origin(kind)
    if origin is list:
        (item,) = typing.get_args(kind)
        return [_build(item, x) for x in data]
    if origin is dict:
        _, value = typing.get_args(kind)
        facet = isinstance(value, type) and issubclass(value, BaseFacet)
        return {k: _build(FACETS[k] if facet else value, v, k) for k, v in data.items()}
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(data)
    if isinstance(kind, type) and attr.has(kind):
        hints = typing.get_type_hints(kind)
        known = {f.name for f in attr.fields(kind)}
        unknown = set(data) - known
        assert not unknown, f"{kind.__name__} has no {sorted(unknown)} ({key})"
        # An optional field left out is None, which the client's serialiser leaves out again.
        return kind(**{f.alias: _build(hints[f.name], data.get(f.name)) for f in attr.fields(kind)
                       if f.init and (f.name in data or f.default is not attr.NOTHING)})  # fmt: skip
    return data


def parse(line: str) -> tuple[RunEvent, dict[str, Any]]:
    """The event in the client's classes, and the JSON it came from; they must say the same."""
    raw = json.loads(line)
    event = _build(RunEvent, raw)
    assert Serde.to_dict(event) == raw
    return event, raw


@pytest.fixture(scope="module")
def scenario(kafka_bootstrap: str, store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Both scenarios consumed, retention run, one person erased, one rectified, one exported, one refused."""
    name = uuid.uuid4().hex[:10]
    home = tmp_path_factory.mktemp("ol-home")
    settings = Settings(home=home, kafka_bootstrap_servers=kafka_bootstrap, clickhouse_url=store_url,
                        clickhouse_database=f"test_{name}", topic_prefix=f"test-{name}", topic_partitions=2,
                        dead_letter_topic=f"test-{name}.dead-letter", consumer_group=f"test-{name}",
                        pseudonym_key=TEST_KEY)  # fmt: skip
    env = {"LINEAGE_HOME": str(home), "CLICKHOUSE_URL": store_url, "LINEAGE_CLICKHOUSE_DATABASE": f"test_{name}",
           "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "LINEAGE_TOPIC_PREFIX": f"test-{name}",
           "LINEAGE_TOPIC_PARTITIONS": "2", "LINEAGE_DEAD_LETTER_TOPIC": f"test-{name}.dead-letter",
           "LINEAGE_CONSUMER_GROUP": f"test-{name}", "LINEAGE_PSEUDONYM_KEY": TEST_KEY,
           "LINEAGE_OPERATOR": "privacy@engage.test", "LINEAGE_BATCH_MAX_SECONDS": "0.3",
           "LINEAGE_OPENLINEAGE_RUNNING_SECONDS": "0.3", "COLUMNS": "200"}  # fmt: skip
    store = open_store(settings.store_url, settings.clickhouse_database, load_policy())
    Parts(settings).prepare_topics(kafka_bootstrap)
    steps = known_scenario()
    events = [s.event for s in steps] + retention_scenario(dt.datetime.now(dt.UTC))
    with EventProducer(kafka_bootstrap, settings.topic_prefix) as producer:
        producer.send_and_wait(events)

    def run(*args: str, **extra: str):
        result = CliRunner().invoke(app, list(args), env=env | extra)
        assert result.exit_code == 0, result.output
        return result

    outputs = {
        "consume": run("consume", "--until-idle", "1.5"),
        "retention": run("retention", "run"),
        "erase": run("sar", "erase", "--email", STUDENT),
        "rectify": run("sar", "rectify", "--email", ADMIN, "--set", "last_name=Bakker-Smit"),
        "export": run("sar", "export", "--email", USER1, "--out", str(settings.exports_folder / "sar-user1")),
    }
    refused = CliRunner().invoke(app, ["sar", "rectify", "--email", USER2, "--set", "shoe_size=44"], env=env)
    assert refused.exit_code == 2, refused.output
    lines = settings.openlineage_file.read_text(encoding="utf-8").splitlines()
    yield {"settings": settings, "store": store, "env": env, "events": events, "steps": steps, "lines": lines,
           "outputs": outputs, "run": run}  # fmt: skip
    store.drop()


def runs_of(scenario: dict, job: str) -> list[list[dict]]:
    """The runs of a job, each its events in the order they were written."""
    found: dict[str, list[dict]] = {}
    for line in scenario["lines"]:
        raw = json.loads(line)
        if raw["job"]["name"] == job:
            found.setdefault(raw["run"]["runId"], []).append(raw)
    return list(found.values())


def last(scenario: dict, job: str) -> dict:
    (run,) = runs_of(scenario, job)
    return run[-1]


def output(event: dict, name: str) -> dict:
    return next(o for o in event["outputs"] if o["name"] == name)


def test_every_event_reads_back_into_the_clients_own_classes(scenario: dict) -> None:
    assert len(scenario["lines"]) >= 12
    for line in scenario["lines"]:
        event, _ = parse(line)
        assert event.job.namespace == "engage-lineage"
        assert event.producer == "urn:engage-lineage:0.1.0"


@pytest.mark.parametrize("job", ["lineage.consumer", "lineage.retention", "lineage.erasure", "lineage.access_export"])
def test_each_run_starts_and_completes(scenario: dict, job: str) -> None:
    (run,) = runs_of(scenario, job)
    types_ = [e["eventType"] for e in run]
    assert types_[0] == "START" and types_[-1] == "COMPLETE"
    assert set(types_[1:-1]) <= {"RUNNING"}


def test_the_consumer_tells_how_far_it_got_while_it_runs(scenario: dict) -> None:
    (run,) = runs_of(scenario, "lineage.consumer")
    running = [e for e in run if e["eventType"] == "RUNNING"]
    assert running, [e["eventType"] for e in run]
    seen = [e["run"]["facets"]["engage_counts"]["counts"]["consumed"] for e in running]
    assert seen == sorted(seen)


def test_a_refused_rectification_fails_by_the_errors_kind_alone(scenario: dict) -> None:
    runs = runs_of(scenario, "lineage.rectification")
    failed = [r for r in runs if r[-1]["eventType"] == "FAIL"]
    assert [e["eventType"] for e in failed[0]] == ["START", "FAIL"]
    message = failed[0][-1]["run"]["facets"]["errorMessage"]["message"]
    assert message.startswith("UnknownField: ")
    assert "shoe_size" not in json.dumps(failed[0]) and normalise_email(USER2) not in json.dumps(failed[0])
    done = [r for r in runs if r[-1]["eventType"] == "COMPLETE"]
    assert done[0][-1]["run"]["facets"]["engage_counts"]["breakdown"]["valuesReplaced"] == {"last_name": 1}


def test_the_consumer_reads_the_topics_and_writes_the_tables_by_their_conventional_names(scenario: dict) -> None:
    s: Settings = scenario["settings"]
    event = last(scenario, "lineage.consumer")
    kafka = topic_name(s.kafka_bootstrap_servers, "x")[0]
    assert re.fullmatch(r"kafka://[^:/]+:\d+", kafka)
    assert {(i["namespace"], i["name"]) for i in event["inputs"]} == {(kafka, s.topic(f)) for f in FAMILIES}
    store = store_namespace(s.store_url)
    assert store == f"chdb://{Path(s.store_url.removeprefix('chdb://')).resolve()}"
    names = {(o["namespace"], o["name"]) for o in event["outputs"]}
    assert {(store, f"{s.clickhouse_database}.events"), (store, f"{s.clickhouse_database}.identifiers"),
            (kafka, s.dead_letters)} <= names  # fmt: skip


def test_a_topics_schema_is_its_avro_schemas_with_the_people_nested_in_the_envelope(scenario: dict) -> None:
    s: Settings = scenario["settings"]
    event = last(scenario, "lineage.consumer")
    access = next(i for i in event["inputs"] if i["name"] == s.topic("access"))
    fields = {f["name"]: f for f in access["facets"]["schema"]["fields"]}
    assert list(fields)[0] == "envelope"
    people = next(f for f in fields["envelope"]["fields"] if f["name"] == "people")
    assert people["type"] == "array<record>"
    assert {f["name"] for f in people["fields"]} == {"role", "email", "phone"}
    assert {"session_id", "first_name", "last_name", "subscription_id"} <= set(fields)
    assert "direct identifier" in fields["first_name"]["description"]


def test_a_tables_schema_is_its_columns(scenario: dict) -> None:
    s: Settings = scenario["settings"]
    event = last(scenario, "lineage.consumer")
    events = output(event, f"{s.clickhouse_database}.events")
    got = [(f["name"], f["type"]) for f in events["facets"]["schema"]["fields"]]
    assert got == scenario["store"].columns("events")


@pytest.mark.parametrize("table", ["events", "identifiers"])
def test_subject_ids_are_a_masking_keyed_hash_of_the_peoples_email_or_phone(scenario: dict, table: str) -> None:
    s: Settings = scenario["settings"]
    event = last(scenario, "lineage.consumer")
    column = "subject_ids" if table == "events" else "subject_id"
    lineage = output(event, f"{s.clickhouse_database}.{table}")["facets"]["columnLineage"]["fields"][column]
    sources = {(f["name"], f["field"]) for f in lineage["inputFields"]}
    assert sources == {(s.topic(f), p) for f in FAMILIES for p in ("envelope.people.email", "envelope.people.phone")}
    for f in lineage["inputFields"]:
        (how,) = f["transformations"]
        assert (how["type"], how["subtype"], how["masking"]) == ("DIRECT", "TRANSFORMATION", True)
        assert "HMAC-SHA256" in how["description"]


def test_the_consumers_counts_are_what_it_stored_and_dead_lettered(scenario: dict) -> None:
    counts = last(scenario, "lineage.consumer")["run"]["facets"]["engage_counts"]
    dead = [st.expected.dead_letter for st in scenario["steps"] if st.expected.dead_letter]
    assert counts["counts"]["consumed"] == len(scenario["events"])
    assert counts["counts"]["deadLettered"] == len(dead)
    assert counts["breakdown"]["deadLettered"] == {r: dead.count(r) for r in set(dead)}
    # What the consumer stored, before retention and erasure took anything out.
    assert counts["counts"]["stored"] == len(scenario["events"]) - len(dead) - counts["counts"]["suppressed"]
    assert f"stored {counts['counts']['stored']:,}" in scenario["outputs"]["consume"].output
    assert counts["policyVersion"] == load_policy().version


def test_the_retention_runs_counts_are_what_it_recorded_deleting(scenario: dict) -> None:
    event = last(scenario, "lineage.retention")
    counts = event["run"]["facets"]["engage_counts"]["counts"]
    recorded = dict(scenario["store"].rows("SELECT k, sum(v) FROM retention_runs ARRAY JOIN mapKeys(rows) AS k, "
                                           "mapValues(rows) AS v GROUP BY k"))  # fmt: skip
    assert counts["eventsDeleted"] + counts["eventsAnonymised"] == recorded["events"] > 0
    assert counts["identifiersDeleted"] == recorded["identifiers"]
    assert counts["retentionFactsDeleted"] == recorded.get("retention_facts", 0)
    db = scenario["settings"].clickhouse_database
    removed = output(event, f"{db}.events")["outputFacets"]["engage_removal"]
    assert removed["rowsDeleted"] == counts["eventsDeleted"]
    assert removed["rowsAnonymised"] == counts["eventsAnonymised"] > 0
    assert removed["columnsCleared"] == ["subject_ids", "actor_id"]
    assert "nominalTime" in event["run"]["facets"]


def test_the_erasures_counts_are_what_it_deleted_and_where(scenario: dict) -> None:
    event = last(scenario, "lineage.erasure")
    counts = event["run"]["facets"]["engage_counts"]["counts"]
    detail = scenario["store"].scalar("SELECT detail FROM access_log WHERE action = 'erase' ORDER BY at DESC LIMIT 1")
    store = json.loads(detail)["store"]
    assert counts["eventsDeleted"] == store["events_deleted"] > 0
    assert counts["identifiersDeleted"] == store["identifiers_deleted"] > 0
    assert counts["eventsUnlinked"] == store["events_unlinked"]
    assert counts["deadLetterTopicPurged"] == 1
    db = scenario["settings"].clickhouse_database
    identifiers = output(event, f"{db}.identifiers")["outputFacets"]["engage_removal"]
    assert (identifiers["action"], identifiers["rowsDeleted"]) == ("delete", store["identifiers_deleted"])
    assert output(event, f"{db}.events")["outputFacets"]["engage_removal"]["columnsCleared"] == ["subject_ids",
                                                                                                "actor_id"]  # fmt: skip


def test_the_exports_counts_are_what_it_wrote(scenario: dict) -> None:
    event = last(scenario, "lineage.access_export")
    counts = event["run"]["facets"]["engage_counts"]["counts"]
    assert f"{counts['eventsExported']:,} events and {counts['identifiersExported']:,} identifiers" in \
        scenario["outputs"]["export"].output  # fmt: skip
    folder = event["outputs"][0]
    assert (folder["namespace"], folder["name"]) == ("file", str(scenario["settings"].exports_folder))
    assert folder["outputFacets"]["outputStatistics"]["rowCount"] == counts["eventsExported"] > 0


def test_no_event_holds_anything_about_the_people(scenario: dict) -> None:
    pseudonyms = Pseudonymizer(TEST_KEY.encode())

    def collect(node: Any, into: set[str]) -> set[str]:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in PII_FIELDS and isinstance(v, str):
                    into.add(v)
                collect(v, into)
        elif isinstance(node, list):
            for v in node:
                collect(v, into)
        return into

    values: set[str] = set()
    for e in scenario["events"]:
        collect(e.model_dump(mode="json"), values)
    # The retention scenario's people are named by placeholders ("User", "Admin"); the known one's by names.
    names: set[str] = set()
    for step in scenario["steps"]:
        collect(step.event.model_dump(mode="json"), names)
    emails = {normalise_email(v) for v in values if "@" in v}
    phones = {normalise_phone(v) for v in values if re.fullmatch(r"[+\d][\d ()-]{7,}", v)}
    ids = {pseudonyms.of_email(e) for e in emails} | {pseudonyms.of_phone(p) for p in phones}
    assert emails and phones and len(values) > len(emails) + len(phones)
    text = "\n".join(scenario["lines"])
    lowered = text.lower()
    for email in emails:
        assert email not in lowered, email
    digits = re.sub(r"\D", "", text)
    for phone in phones:
        assert phone.lstrip("+") not in digits, phone
    for sid in ids:
        assert sid not in text
    for value in names - emails:
        if not re.fullmatch(r"[+\d][\d ()-]{7,}", value):
            assert not re.search(rf"\b{re.escape(value)}\b", text, re.IGNORECASE), value


def test_a_dead_transport_costs_the_command_one_warning_and_a_bounded_wait(
        scenario: dict, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    dead = {"OPENLINEAGE__TRANSPORT__TYPE": "http", "OPENLINEAGE__TRANSPORT__URL": f"http://127.0.0.1:{free_port()}",
            "LINEAGE_OPENLINEAGE_WAIT_SECONDS": "1"}  # fmt: skip
    before = len(scenario["settings"].openlineage_file.read_text().splitlines())
    with caplog.at_level(logging.WARNING, logger="lineage.openlineage"):
        started = time.monotonic()
        scenario["run"]("retention", "run", **dead)
        took = time.monotonic() - started
    warnings = [r for r in caplog.records if r.name == "lineage.openlineage" and r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert took < 15
    # Configured elsewhere, the events go there and not to the default file.
    assert len(scenario["settings"].openlineage_file.read_text().splitlines()) == before

