"""`lineage serve` as its users meet it: the API's roles, the product team's view without personal data,
the CLI going through the running service, and the operations endpoints.

One service for the module, in a child process on a loopback port, on the real broker and its own
embedded store, fed the known scenario and some simulated activity.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs
from scenario import STUDENT, TRIAL_PHONE, known_scenario
from service_fixtures import Answer, RunningService, fed_service


pytestmark = pytest.mark.integration
ROLES = ("product", "privacy", "operator")
PII_FIELDS = {"email", "phone", "first_name", "last_name", "business_phone", "business_mobile"}
NOBODY = "matrix.person@example.nl"  # the role matrix's changes happen to this person, unknown to the scenario
INCIDENT = {"title": "a laptop with exports lost", "window_from": "2026-01-01T00:00:00Z",
            "window_to": "2026-12-31T00:00:00Z"}


@pytest.fixture(scope="module")
def service(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    with fed_service(tmp_path_factory.mktemp("service") / "home", kafka_bootstrap, 2000, seed=5, days=20) as svc:
        yield svc


def _personal_values() -> set[str]:
    found: set[str] = set()

    def walk(value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k in PII_FIELDS and isinstance(v, str) and v:
                    found.add(v)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for step in known_scenario():
        walk(step.event.model_dump(mode="json"))
    return found


def valid_calls(svc: RunningService) -> dict[str, Callable[[str], Answer]]:
    """One call per operation that its own role may make and that must then succeed (2xx)."""
    def fresh(right: str) -> str:
        made = svc.call("/api/requests", "privacy", "POST", {"email": NOBODY, "right": right})
        assert made.status == 201, made.text
        return made.json()["request_id"]

    def incident(steps: bool = False) -> str:
        made = svc.call("/api/incidents", "privacy", "POST", INCIDENT)
        assert made.status == 201, made.text
        found = made.json()["incident_id"]
        if steps:
            svc.call(f"/api/incidents/{found}/update", "privacy", "POST",
                     {"situation": "lost", "root_causes": "unencrypted", "corrections": "encrypted now"})
        return found

    def download(token: str) -> Answer:
        made = svc.call("/api/subjects/export", "privacy", "POST", {"email": STUDENT})
        return svc.call(made.json()["download"], token=token)

    return {
        "GET /api/usage/components": lambda t: svc.call("/api/usage/components?limit=5", token=t),
        "GET /api/usage/active": lambda t: svc.call("/api/usage/active?by=week", token=t),
        "GET /api/usage/adoption": lambda t: svc.call("/api/usage/adoption", token=t),
        "GET /api/usage/plans": lambda t: svc.call("/api/usage/plans?from=2026-01-01", token=t),
        "GET /api/usage/trend/{component}": lambda t: svc.call("/api/usage/trend/process-designer", token=t),
        "GET /api/usage/subscriptions": lambda t: svc.call("/api/usage/subscriptions?by=day", token=t),
        "GET /api/report": lambda t: svc.call("/api/report?days=60", token=t),
        "GET /api/requests": lambda t: svc.call("/api/requests", token=t),
        "POST /api/requests": lambda t: svc.call("/api/requests", None, "POST", {"email": NOBODY, "right": "access"},
                                                 token=t),  # fmt: skip
        "POST /api/requests/{request_id}/extend": lambda t: svc.call(
            f"/api/requests/{fresh('access')}/extend", None, "POST", {"reason": "many at once",
                                                                  "told_on": dt.datetime.now(dt.UTC).isoformat()}, t),
        "POST /api/requests/{request_id}/refuse": lambda t: svc.call(
            f"/api/requests/{fresh('access')}/refuse", None, "POST", {"reason": "the same request last week"}, t),
        "GET /api/access-log": lambda t: svc.call("/api/access-log", token=t),
        "POST /api/subjects/export": lambda t: svc.call("/api/subjects/export", None, "POST", {"email": NOBODY}, t),
        "GET /api/exports/{name}": download,
        "POST /api/subjects/rectify": lambda t: svc.call("/api/subjects/rectify", None, "POST", {
            "email": NOBODY, "set": {"last_name": "Jansen"}}, t),  # fmt: skip
        "POST /api/subjects/restrict": lambda t: svc.call("/api/subjects/restrict", None, "POST",
                                                          {"email": NOBODY}, t),  # fmt: skip
        "POST /api/subjects/object": lambda t: svc.call("/api/subjects/object", None, "POST", {
            "email": NOBODY, "purpose": "product_insight"}, t),  # fmt: skip
        "POST /api/subjects/locate": lambda t: svc.call("/api/subjects/locate", None, "POST",
                                                        {"phone": TRIAL_PHONE}, t),  # fmt: skip
        "POST /api/subjects/erase": lambda t: svc.call("/api/subjects/erase", None, "POST", {"email": NOBODY}, t),
        "GET /api/incidents": lambda t: svc.call("/api/incidents", token=t),
        "POST /api/incidents": lambda t: svc.call("/api/incidents", None, "POST", INCIDENT, t),
        "GET /api/incidents/{incident_id}/impact": lambda t: svc.call(f"/api/incidents/{incident()}/impact", token=t),
        "GET /api/incidents/{incident_id}/contacts": lambda t: svc.call(f"/api/incidents/{incident()}/contacts",
                                                                        token=t),  # fmt: skip
        "POST /api/incidents/{incident_id}/update": lambda t: svc.call(
            f"/api/incidents/{incident()}/update", None, "POST", {"situation": "a laptop was lost"}, t),
        "POST /api/incidents/{incident_id}/close": lambda t: svc.call(f"/api/incidents/{incident(True)}/close", None,
                                                                      "POST", token=t),  # fmt: skip
        "GET /readyz": lambda t: svc.call("/readyz", token=t),
        "GET /metrics": lambda t: svc.call("/metrics", token=t),
        "GET /api/consumer": lambda t: svc.call("/api/consumer", token=t),
        "GET /api/broker": lambda t: svc.call("/api/broker", token=t),
        "GET /api/retention/status": lambda t: svc.call("/api/retention/status", token=t),
        "GET /api/retention/plan": lambda t: svc.call("/api/retention/plan", token=t),
        "POST /api/retention/run": lambda t: svc.call("/api/retention/run", None, "POST", token=t),
        "POST /api/cli": lambda t: svc.call("/api/cli", None, "POST", {"argv": ["usage", "plans"]}, t),
    }


def _operations(svc: RunningService) -> dict[str, tuple[str, ...]]:
    """'METHOD path' -> the roles its OpenAPI tags name, for every operation of the document."""
    document = svc.call("/openapi.json").json()
    found = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            found[f"{method.upper()} {path}"] = tuple(operation["tags"])
    return found


def test_every_api_path_refuses_no_token_and_the_wrong_role_and_answers_the_right_one(service) -> None:
    operations = _operations(service)
    assert operations.pop("GET /healthz") == ("health",)
    calls = valid_calls(service)
    assert set(operations) == set(calls), "every path of the API needs a valid call in this test"
    for operation in calls:  # in the order of the calls: the erasure last
        roles = operations[operation]
        method, path = operation.split(" ", 1)
        dummy = re.sub(r"\{[^}]+\}", "x", path)
        assert service.call(dummy, method=method).status == 401, operation
        assert service.call(dummy, method=method, token="lin_not-a-token").status == 401, operation
        for other in ROLES:
            if other not in roles:
                refused = service.call(dummy, other, method)
                assert refused.status == 403, (operation, other, refused.text)
        for role in roles:
            token = service.local_token() if role == "local" else service.token(role)
            answer = calls[operation](token)
            assert 200 <= answer.status < 300, (operation, role, answer.status, answer.text[:500])
    assert service.call("/healthz").json() == {"status": "ok"}


def test_no_product_answer_carries_a_name_an_email_or_a_phone_number(service) -> None:
    personal = _personal_values()
    assert STUDENT in personal and TRIAL_PHONE in personal and "Bakker" in personal
    product = {op: call for op, call in valid_calls(service).items()
               if _operations(service)[op] == ("product",)}  # fmt: skip
    assert len(product) == 7
    library = get_plotlyjs()
    for operation, ask in product.items():
        answer = ask(service.token("product"))
        assert answer.status == 200, operation
        body = answer.text.replace(library, "")  # the charting library's own code is not data
        assert len(body) > 100, operation
        for value in personal:
            if "@" in value or any(c.isdigit() for c in value):
                digits = re.sub(r"\D", "", value)
                assert value.lower() not in body.lower() and (not digits or digits not in body), (operation, value)
            else:
                assert not re.search(rf"\b{re.escape(value)}\b", body), (operation, value)
    components = service.call("/api/usage/components", "product").json()
    assert components["rows"] and all(set(r) == {"component", "uses", "tenants", "people"} for r in components["rows"])


def test_the_cli_answers_through_the_running_service_as_it_would_alone(service, tmp_path: Path) -> None:
    usage = service.lineage("usage", "components", "--format", "json")
    assert usage.returncode == 0, usage.stderr
    api = service.call("/api/usage/components", "product").json()["rows"]
    assert json.loads(usage.stdout) == api

    out = service.home / "exports" / "through-the-service"
    export = service.lineage("sar", "export", "--email", STUDENT, "--out", str(out))
    assert export.returncode == 0, export.stderr
    assert re.match(r"\d+ events and \d+ identifiers -> ", export.stdout) and (out / "manifest.json").exists()
    events = int(export.stdout.split()[0])
    assert events == sum(1 for s in known_scenario() if STUDENT in json.dumps(s.event.model_dump(mode="json"))
                         and s.expected.dead_letter is None)  # fmt: skip

    status = service.lineage("retention", "status", "--format", "json")
    assert status.returncode == 0, status.stderr
    assert {r["rule"] for r in json.loads(status.stdout)} == {
        r["rule"] for r in service.call("/api/retention/status", "operator").json()["rules"]}

    # Bad input: the same one line and exit code as without the service.
    bad = service.lineage("usage", "components", "--format", "xml")
    assert bad.returncode == 2 and bad.stderr.strip() == "error: --format is table, csv or json"
    refused = service.lineage("sar", "export", "--email", "not-an-address", "--out", str(out.parent / "x"))
    assert refused.returncode == 2 and "not a valid e-mail" in refused.stderr
    # They went through the service: its call log names each, with the operator of the command.
    log = (service.home / "lineage.log").read_text()
    assert len(re.findall(r"officer@engage\.test POST /api/cli -> 200", log)) >= 5
    # And the access log has the export under the command's operator.
    entries = service.call("/api/access-log", "privacy").json()
    assert any(e["action"] == "export" and e["operator"] == "officer@engage.test" for e in entries)


def test_calls_on_personal_data_are_in_the_access_log_under_the_tokens_name(service) -> None:
    made = service.call("/api/subjects/export", "privacy", "POST", {"email": STUDENT})
    assert made.status == 200, made.text
    assert made.json()["events"] > 0
    got = service.call(made.json()["download"], "privacy")
    assert got.status == 200 and got.headers["content-type"] == "application/zip"
    assert any(n.endswith("/manifest.json") for n in zipfile.ZipFile(io.BytesIO(got.body)).namelist())
    entries = service.call("/api/access-log", "privacy").json()
    mine = [e for e in entries if e["operator"] == "privacy-tester"]
    assert {"export", "download_export", "read_access_log"} <= {e["action"] for e in mine}
    assert not service.call("/api/exports/..%2Fpseudonym.key", "privacy").status == 200


def test_every_call_that_wrote_audit_rows_is_sealed_and_the_chains_verify_through_the_service(service) -> None:
    assert service.call("/api/access-log", "privacy").status == 200  # reading the log is itself logged
    verified = service.lineage("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert re.match(r"\s*verified [\d,]+ rows in 6 chains up to ", verified.stdout), verified.stdout
    # Sealed as each call ended: nothing waits for the interval.
    assert "not sealed yet" not in verified.stdout, verified.stdout


def test_readiness_and_metrics_describe_the_running_consumer(service) -> None:
    ready = service.call("/readyz", "operator").json()
    assert ready["ready"] and ready["consumer"]["partitions"] == 24 and ready["broker"]["reachable"]
    metrics = service.call("/metrics", "operator").text
    consumer = service.consumer()
    lags = re.findall(rf'lineage_consumer_lag\{{partition="\d+",topic="{service.prefix}\.[a-z]+"\}} (\S+)', metrics)
    assert len(lags) == 24 and all(float(v) == 0 for v in lags)
    assert f"lineage_events_stored_total {float(consumer['stored'])}" in metrics
    for reason, n in consumer["dead_lettered"].items():
        assert f'lineage_events_dead_lettered_total{{reason="{reason}"}} {float(n)}' in metrics
    assert consumer["dead_lettered"], "the scenario and the simulation dead-letter some messages"
    assert re.search(r"lineage_flush_latency_seconds_count [1-9]", metrics)
    for name in ("lineage_requests_open", "lineage_requests_overdue", "lineage_retention_last_run_timestamp_seconds"):
        assert re.search(rf"^{name} \S+$", metrics, re.M), name
