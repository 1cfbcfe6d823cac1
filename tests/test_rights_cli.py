"""The `lineage sar` and `lineage dsr` commands: thin, clear about bad input, and on the same store."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from pipeline_fixtures import TEST_KEY
from typer.testing import CliRunner

from consumers.policy.loader import load_policy
from lineage.cli import app
from lineage.wiring import open_store

pytestmark = pytest.mark.integration


@pytest.fixture
def env(store_url: str, kafka_bootstrap: str, tmp_path: Path):
    database = f"test_{uuid.uuid4().hex[:10]}"
    values = {
        "LINEAGE_HOME": str(tmp_path / "home"),
        "CLICKHOUSE_URL": store_url,
        "LINEAGE_CLICKHOUSE_DATABASE": database,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "LINEAGE_DEAD_LETTER_TOPIC": f"test-{database}.dead-letter",
        "LINEAGE_PSEUDONYM_KEY": TEST_KEY,
        "LINEAGE_OPERATOR": "officer@engage.test",
    }
    yield values
    open_store(store_url, database, load_policy()).drop()


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(app, list(args), env=env)


def test_sar_commands_refuse_bad_input_with_a_clear_error_and_register_nothing(env, tmp_path: Path) -> None:
    exports = Path(env["LINEAGE_HOME"]) / "exports"
    bad = run(env, "sar", "export", "--email", "not-an-address", "--out", str(exports / "a"))
    assert bad.exit_code == 2 and "not a valid e-mail" in bad.output
    outside = run(env, "sar", "export", "--email", "anna@example.nl", "--out", str(tmp_path / "elsewhere"))
    assert outside.exit_code == 2 and "not inside the export folder" in outside.output
    purpose = run(env, "sar", "object", "--email", "anna@example.nl", "--purpose", "invoicing")
    assert purpose.exit_code == 2 and "not objectable" in purpose.output
    field = run(env, "sar", "rectify", "--email", "anna@example.nl", "--set", "email=new@example.nl")
    assert field.exit_code == 2 and "cannot rectify email" in field.output

    listed = run(env, "dsr", "list", "--format", "json")
    assert listed.exit_code == 0 and json.loads(listed.output) == []
    assert not (tmp_path / "elsewhere").exists() and not exports.exists()


def test_an_export_from_the_command_line_is_registered_and_listed(env) -> None:
    out = Path(env["LINEAGE_HOME"]) / "exports" / "anna"
    done = run(env, "sar", "export", "--email", "Anna@Example.nl", "--out", str(out))
    assert done.exit_code == 0, done.output
    assert (out / "manifest.json").exists() and (out.parent / "anna.zip").exists()
    assert json.loads((out / "subject.json").read_text())["data_held"] is False

    again = run(env, "sar", "export", "--email", "anna@example.nl", "--out", str(out))
    assert again.exit_code == 2 and "already holds an export" in again.output

    rows = json.loads(run(env, "dsr", "list", "--format", "json").output)
    assert [(r["right"], r["status"]) for r in rows] == [("access", "completed")]
    assert run(env, "dsr", "list", "--overdue").exit_code == 0


def test_without_a_pseudonym_key_the_commands_stop_and_say_how_to_set_one(env) -> None:
    no_key = {**env, "LINEAGE_PSEUDONYM_KEY": ""}
    result = run(no_key, "dsr", "list")
    assert result.exit_code == 1 and "LINEAGE_PSEUDONYM_KEY" in result.output
