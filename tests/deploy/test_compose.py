"""docker-compose.yml, checked by the compose CLI itself (`docker compose config`, or the standalone docker-compose):
the services of Airflow's Celery topology, their healthchecks, the shared environment, and no secret defaulted."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from testsupport import ROOT

SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret", "REDIS_PASSWORD": "redis-secret", "AIRFLOW_FERNET_KEY": "fernet-secret",
    "AIRFLOW_JWT_SECRET": "jwt-secret", "AIRFLOW_USERS": "admin:admin,steward:op,analyst:viewer,operator:user",
    "SYNTHEA_PSEUDONYM_KEY": "generic://:pseudonym-secret@",
    "SYNTH_PIPELINE_SIGNING_KEY": "signing-secret", "SYNTH_PIPELINE_RELEASE_PUBLIC_KEY": "public-key",
}
LONG_RUNNING = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker",
                "airflow-triggerer", "postgres", "redis"}


def _compose_cli() -> list[str]:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if os.environ.get("SYNTH_PIPELINE_REQUIRE_SERVICES") == "1":
        pytest.fail("no compose CLI (docker compose or docker-compose): `make install` installs Debian's docker-compose")
    pytest.skip("no compose CLI (docker compose or docker-compose)")


def _target(volume: str | dict) -> str:
    """Compose v2 prints volumes in the long syntax, docker-compose 1.x in the short one (source:target:mode)."""
    return volume["target"] if isinstance(volume, dict) else volume.split(":")[1]


def _config(tmp_path: Path, values: dict[str, str]) -> subprocess.CompletedProcess:
    (tmp_path / "passwords.json").write_text("{}")
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    lines = [f"{key}={value}" for key, value in values.items()]
    (tmp_path / ".env").write_text("\n".join([*lines, f"AIRFLOW_PASSWORDS_FILE={tmp_path / 'passwords.json'}"]) + "\n")
    environment = {key: value for key, value in os.environ.items() if key not in SECRETS}
    return subprocess.run([*_compose_cli(), "config"], cwd=tmp_path, capture_output=True, text=True, env=environment)


def test_the_stack_has_airflows_celery_topology_with_healthchecks(tmp_path):
    result = _config(tmp_path, SECRETS)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == LONG_RUNNING | {"airflow-init"}
    for name in LONG_RUNNING:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in LONG_RUNNING - {"postgres", "redis"}:
        environment = services[name]["environment"]
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert environment["AIRFLOW__CELERY__BROKER_URL"] == "redis://:redis-secret@redis:6379/0"
        assert environment["SYNTH_PIPELINE_LEDGER_URL"].startswith("postgresql+psycopg2://airflow:pg-secret@postgres/")
        assert environment["AIRFLOW__CORE__FERNET_KEY"] == "fernet-secret"
        assert environment["AIRFLOW_CONN_SYNTHEA_PSEUDONYM_KEY"] == "generic://:pseudonym-secret@"
        assert environment["SYNTH_PIPELINE_RELEASE_PUBLIC_KEY"] == "public-key"
        # The signing key only where the publish task runs.
        assert environment.get("SYNTH_PIPELINE_SIGNING_KEY") == ("signing-secret" if name == "airflow-worker" else None)
        assert {_target(volume) for volume in services[name]["volumes"]} >= {
            "/opt/synth-pipeline/state", "/opt/synth-pipeline/published", "/opt/airflow/logs"}
        assert services[name]["build"]["context"]  # the project's own image, from the Dockerfile
    command = services["airflow-worker"]["command"]
    assert (command.split() if isinstance(command, str) else command) == ["celery", "worker"]
    assert services["airflow-init"]["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_a_missing_secret_fails_config_naming_it(tmp_path, missing):
    result = _config(tmp_path, {key: value for key, value in SECRETS.items() if key != missing})
    assert result.returncode != 0
    assert f"set {missing} in .env" in result.stderr


def test_the_example_env_has_a_placeholder_for_every_secret_and_no_working_value():
    example = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert set(SECRETS) | {"AIRFLOW_PASSWORDS_FILE"} <= set(example)
    for key in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET",
                "SYNTH_PIPELINE_SIGNING_KEY", "SYNTH_PIPELINE_RELEASE_PUBLIC_KEY"):
        assert example[key].startswith("<") and example[key].endswith(">"), key
