"""`lineage audit verify` and `lineage audit export`; the checkpoints' compacted topic; the standalone
verification of an export; a store made before chains brought up to date."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from audit_fixtures import POLICY, World, audited, env
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from pipeline_fixtures import Pipeline
from typer.testing import CliRunner

from consumers.audit.chains import CHAINS
from consumers.rights.register import Register
from lineage.audit_topic import CheckpointTopic
from lineage.cli import app
from lineage.wiring import Parts, open_store
from schemas.models import DataSubjectRight

pytestmark = pytest.mark.integration


def test_verify_through_the_cli_tells_one_line_and_exit_8_on_a_change(pipeline: Pipeline, tmp_path: Path) -> None:
    world, _ = audited(pipeline, tmp_path)
    run = lambda *a, e=env(pipeline): CliRunner().invoke(app, ["audit", *a], env=e)  # noqa: E731

    ok = run("verify")
    assert ok.exit_code == 0, ok.output
    rows = sum(world.chained(t) for t in CHAINS)
    assert ok.output.lstrip().startswith(f"verified {rows:,} rows in 6 chains up to ")
    assert "removed by an erasure, as it recorded: rectifications 2" in ok.output
    since = run("verify", "--from", "2099-01-01")
    assert since.exit_code == 0 and since.output.lstrip().startswith("verified 0 rows in 6 chains"), since.output

    world.mutate("ALTER TABLE access_log UPDATE operator = 'someone else' WHERE chain_seq = 2")
    bad = run("verify")
    assert bad.exit_code == 8
    assert "NOT VERIFIED: access_log row 2 (action " in bad.output and "content does not match its hash" in bad.output
    assert "Traceback" not in bad.output

    no_key = run("verify", e={**env(pipeline), "LINEAGE_AUDIT_KEY_FILE": str(tmp_path / "nowhere.pem")})
    assert no_key.exit_code == 1 and "no audit signing key at" in no_key.output


def test_an_export_verifies_elsewhere_with_its_own_script(pipeline: Pipeline, tmp_path: Path) -> None:
    world, _ = audited(pipeline, tmp_path)
    out = tmp_path / "for-the-supervisor"
    run = lambda *a: CliRunner().invoke(app, ["audit", *a], env=env(pipeline))  # noqa: E731

    before = {t: world.chained(t) for t in CHAINS if world.chained(t)}
    done = run("export", "--from", "2026-01-01", "--to", "2099-01-01", "--out", str(out))
    assert done.exit_code == 0, done.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert {t: c["rows"] for t, c in manifest["chains"].items()} == before
    # Handing the rows out is itself logged, and sealed as the command ends.
    assert world.chained("access_log") == before["access_log"] + 1 and world.verify().unsealed == {}
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["00000001.json", "00000002.json"]

    # The script needs Python and the cryptography package, nothing of the project.
    script = out / "verify_audit.py"
    imported = {n.module or "" for n in ast.walk(ast.parse(script.read_text())) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(ast.parse(script.read_text())) if isinstance(n, ast.Import) for a in n.names}
    assert {m.split(".")[0] for m in imported} <= {"base64", "datetime", "hashlib", "json", "re", "sys", "pathlib",
                                                    "cryptography"}  # fmt: skip
    verified = subprocess.run([sys.executable, "-I", str(script)], cwd=out, capture_output=True, text=True)
    rows = sum(manifest["chains"][t]["rows"] for t in manifest["chains"])
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith(f"verified {rows} rows in {len(manifest['chains'])} chains up to ")

    # A field changed in the export is named.
    lines = (out / "rows" / "access_log.jsonl").read_text().splitlines()
    row = json.loads(lines[3])
    row["record"]["row"]["detail"] = "changed"
    lines[3] = json.dumps(row)
    (out / "rows" / "access_log.jsonl").write_text("\n".join(lines) + "\n")
    changed = subprocess.run([sys.executable, "-I", str(script)], cwd=out, capture_output=True, text=True)
    assert changed.returncode == 1
    assert changed.stdout.strip() == f"NOT VERIFIED: access_log row {row['record']['seq']}: its content does not match its hash"

    again = run("export", "--from", "2026-01-01", "--to", "2099-01-01", "--out", str(out))
    assert again.exit_code == 2 and "exists and is not an empty folder" in again.output
    backwards = run("export", "--from", "2026-02-01", "--to", "2026-01-01", "--out", str(tmp_path / "b"))
    assert backwards.exit_code == 2 and "--to is before --from" in backwards.output


def test_checkpoints_go_to_a_compacted_topic_and_one_deleted_from_the_folder_is_found(
        pipeline: Pipeline, tmp_path: Path) -> None:  # fmt: skip
    parts = Parts(pipeline.settings)
    parts.__dict__["store"] = pipeline.store
    world = World(pipeline.store, pipeline.settings.audit_folder, pipeline.settings.audit_key)
    Register(pipeline.store).receive("subject-a", DataSubjectRight.access)
    first = parts.sealer.seal()
    Register(pipeline.store).receive("subject-b", DataSubjectRight.access)
    second = parts.sealer.seal()
    assert first and second and world.verify().ok

    topic = CheckpointTopic(pipeline.bootstrap, pipeline.settings.audit_checkpoint_topic, parts.checkpoints)
    published, problems = topic.read()
    assert [c.number for c in published] == [1, 2] and not problems
    assert [c.digest() for c in published] == [first.digest(), second.digest()]
    admin = KafkaAdminClient(bootstrap_servers=pipeline.bootstrap)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic.topic)])
    finally:
        admin.close()
    assert described["topic"][topic.topic]["cleanup.policy"]["value"] == "compact"

    # Whoever deleted the newest checkpoint from the folder did not delete it from the topic.
    (pipeline.settings.audit_folder / "00000002.json").unlink()
    found = CliRunner().invoke(app, ["audit", "verify"], env=env(pipeline))
    assert found.exit_code == 8
    assert f"checkpoint 2 is on topic {topic.topic} but not in" in found.output


def test_a_store_made_before_chains_is_brought_up_to_date(pipeline: Pipeline, tmp_path: Path) -> None:
    url, name = pipeline.store.url, f"{pipeline.settings.clickhouse_database}_old"
    old = open_store(url, name, POLICY)
    # As the register was made before: one row per request, older versions replaced on merge, no chain.
    old.command("DROP TABLE dsr_requests")
    old.command("CREATE TABLE dsr_requests (request_id String, subject_id String, right LowCardinality(String),"
                " channel LowCardinality(String), received_at DateTime64(3, 'UTC'), due_at DateTime64(3, 'UTC'),"
                " extended_due_at Nullable(DateTime64(3, 'UTC')), extension_reason String,"
                " extension_told_at Nullable(DateTime64(3, 'UTC')), status LowCardinality(String),"
                " completed_at Nullable(DateTime64(3, 'UTC')), refusal_reason String, outcome String,"
                " updated_at DateTime64(6, 'UTC')) ENGINE = ReplacingMergeTree(updated_at) ORDER BY request_id")
    old.command("INSERT INTO dsr_requests (request_id, subject_id, right, channel, received_at, due_at, status,"
                " updated_at) VALUES ('DSR-OLD', 's', 'access', 'email', now64(), now64(), 'open', now64())")
    old.close()

    store = open_store(url, name, POLICY)
    try:
        assert {"chain_seq", "chain_hash"} <= {n for n, _ in store.columns("dsr_requests")}
        key = store.scalar("SELECT sorting_key FROM system.tables WHERE database = currentDatabase() AND"
                           " name = 'dsr_requests'")  # fmt: skip
        assert key == "request_id, chain_seq"
        register = Register(store)
        request = register.receive("subject-c", DataSubjectRight.access)
        register.complete(request, "done")
        store.command("OPTIMIZE TABLE dsr_requests FINAL")  # both versions of the new request survive a merge
        assert store.scalar("SELECT count() FROM dsr_requests WHERE request_id = {r:String}",
                            {"r": request.request_id}) == 2  # fmt: skip
        assert [r.status.value for r in register.all()] == ["open", "completed"]
        world = World(store, tmp_path / "cps", tmp_path / "key.pem")
        world.sealer().seal()
        result = world.verify()
        assert result.ok and result.unchained == {"dsr_requests": 1} and result.rows == 2
    finally:
        store.drop()
