"""Shared fixtures. Airflow reads its configuration at import time, so the environment is set here, first."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from testsupport import ROOT, TEST_USERS, copy_project

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="synth-pipeline-tests-"))

os.environ["AIRFLOW_HOME"] = str(_SESSION_TMP / "airflow")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["SYNTH_PIPELINE_STATE"] = str(_SESSION_TMP / "state")
os.environ["GX_ANALYTICS_ENABLED"] = "false"
os.environ["AIRFLOW__API_AUTH__JWT_SECRET"] = __import__("secrets").token_hex(32)
(_SESSION_TMP / "passwords.json").write_text(__import__("json").dumps(TEST_USERS))
os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = ",".join(f"{user}:op" for user in TEST_USERS)
os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(_SESSION_TMP / "passwords.json")

REQUIRE_SERVICES = os.environ.get("SYNTH_PIPELINE_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get("SYNTH_PIPELINE_TEST_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata database for this test session (the embedded default)."""
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The local PostgreSQL; skipped where none is reachable, a failure where services are required (CI)."""
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        reason = f"PostgreSQL not reachable at {engine.url.render_as_string(hide_password=True)}: {str(exc.orig).strip()}"
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} (SYNTH_PIPELINE_REQUIRE_SERVICES=1: services are required here)")
        pytest.skip(reason)
    finally:
        engine.dispose()
    return POSTGRES_URL


@pytest.fixture(scope="session", autouse=True)
def release_signing_keys() -> dict[str, str]:
    """A key pair for this session in the environment, as an operator configures one: publication signs with the
    private key and every reader verifies with the public one (subprocesses inherit both)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from synth_pipeline.signing import encoded_pair

    private, public = encoded_pair(Ed25519PrivateKey.generate())
    keys = {"SYNTH_PIPELINE_SIGNING_KEY": private, "SYNTH_PIPELINE_RELEASE_PUBLIC_KEY": public}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in keys.items():
            patch.setenv(name, value)
        yield keys


@pytest.fixture
def state_dir(tmp_path, monkeypatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("SYNTH_PIPELINE_STATE", str(state))
    return state


@pytest.fixture
def project(tmp_path) -> Path:
    return copy_project(tmp_path)
