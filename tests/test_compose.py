"""docker-compose.yml cannot run here; these checks keep it consistent with the code it deploys."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from typer.testing import CliRunner

from lineage.cli import app
from lineage.settings import Settings

REPO = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _env_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"LINEAGE_{name.upper()}")
        if field.validation_alias is not None:
            names.update(field.validation_alias.choices)  # type: ignore[union-attr]
    return names


LINEAGE_SERVICES = ("topics", "service", "producer", "retention")


def test_every_variable_the_services_set_is_a_setting() -> None:
    known = _env_names()
    for service in LINEAGE_SERVICES:
        env = COMPOSE["services"][service]["environment"]
        assert set(env) <= known, f"{service}: {sorted(set(env) - known)} are not settings"


def test_the_services_settings_parse_and_reach_the_servers(monkeypatch) -> None:
    env = {**COMPOSE["x-lineage-env"], **COMPOSE["services"]["service"]["environment"]}
    for key, value in env.items():
        # ${VAR:-default} and ${VAR:?message} are filled in by compose; any value stands in here.
        monkeypatch.setenv(key, re.sub(r"\$\{(\w+)[^}]*\}", "secret", str(value)))
    settings = Settings()
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.store_url.startswith("http://") and "@clickhouse:8123" in settings.store_url
    assert settings.pseudonym_key is not None


def test_the_service_listens_in_its_container_and_is_published_on_the_hosts_loopback_only() -> None:
    service = COMPOSE["services"]["service"]
    assert service["command"] == ["lineage", "serve"]
    assert service["environment"]["LINEAGE_SERVE_HOST"] == "0.0.0.0"
    port = service["environment"]["LINEAGE_SERVE_PORT"]
    assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert "/healthz" in " ".join(service["healthcheck"]["test"])
    assert "consumer" not in COMPOSE["services"], "the service runs the consumer; a second one would share its group"


def test_the_services_run_real_commands() -> None:
    for service in LINEAGE_SERVICES:
        command = COMPOSE["services"][service]["command"]
        assert command[0] == "lineage"
        result = CliRunner().invoke(app, [*command[1:], "--help"])
        assert result.exit_code == 0, result.output


def test_the_kafka_image_is_the_version_the_local_broker_runs() -> None:
    pom = (REPO / "lineage" / "broker" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom).group(1)  # type: ignore[union-attr]
    assert COMPOSE["services"]["kafka"]["image"] == f"apache/kafka:{version}"


def test_the_image_contains_every_package() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    for pattern in packages:
        assert f"COPY {pattern.rstrip('*')} " in dockerfile


def test_topics_get_their_retention_before_anything_writes_to_them() -> None:
    services = COMPOSE["services"]
    assert services["topics"]["command"] == ["lineage", "kafka", "topics"]
    for writer in ("service", "producer"):
        assert services[writer]["depends_on"]["topics"] == {"condition": "service_completed_successfully"}


def test_the_clickhouse_image_is_at_least_the_version_the_bulk_path_needs() -> None:
    from consumers.pipeline.bulk.sql import MIN_ENGINE_VERSION

    image = COMPOSE["services"]["clickhouse"]["image"]
    tag = image.rsplit(":", 1)[1]
    assert tuple(int(n) for n in tag.split(".")[:2]) >= MIN_ENGINE_VERSION, image

