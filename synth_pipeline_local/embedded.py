"""Airflow on the embedded defaults, set up under a state folder: SQLite metadata in `<state>/airflow`, the
project's DAGs, Airflow's simple auth manager with the spec's stewards as users, and an API server as a process.

Secrets (the stewards' passwords, the JWT secret) are made on first use and kept in `<state>/airflow` (mode 0600):
none is a default and none is in the repository.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from synth_pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent  # the project checkout: dags/ and plugins/ live here
DAGS_FOLDER = ROOT / "dags"
PLUGINS_FOLDER = ROOT / "plugins"
BIN = Path(sys.executable).parent
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


def airflow_home(state: Path) -> Path:
    return state / "airflow"


def passwords_file(state: Path) -> Path:
    # Not the old demo's passwords.json, which held a password written in the repository: it is never reused.
    return airflow_home(state) / "steward_passwords.json"


def _private_json(path: Path, document: dict) -> None:
    path.write_text(json.dumps(document, indent=2))
    path.chmod(0o600)


def steward_passwords(state: Path, users: Iterable[str]) -> dict[str, str]:
    """{user: password} in Airflow's simple-auth-manager passwords file: kept once made, new users added."""
    path = passwords_file(state)
    known = json.loads(path.read_text()) if path.is_file() else {}
    missing = [user for user in users if user not in known]
    if missing or not path.is_file():
        known.update({user: secrets.token_urlsafe(12) for user in missing})
        _private_json(path, known)
    return known


def _jwt_secret(state: Path) -> str:
    path = airflow_home(state) / "secrets.json"
    if not path.is_file():
        _private_json(path, {"jwt_secret": secrets.token_hex(32)})
    return json.loads(path.read_text())["jwt_secret"]


def environment(state: Path, releases: Path, users: Iterable[str], port: int) -> dict[str, str]:
    """The environment of every Airflow process this command starts: none of the caller's Airflow configuration
    (AIRFLOW_HOME, AIRFLOW__*: another home or database would mix this run with another Airflow), the rest kept."""
    home = airflow_home(state)
    home.mkdir(parents=True, exist_ok=True)
    users = list(dict.fromkeys(users))
    steward_passwords(state, users)
    # Connections and Variables from the environment (AIRFLOW_CONN_*, AIRFLOW_VAR_*) are kept: SQL sources, keys.
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("AIRFLOW__") and key not in ("AIRFLOW_HOME", "AIRFLOW_CONFIG")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{user}:op" for user in users),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(state)),
        "AIRFLOW__API_AUTH__JWT_SECRET": _jwt_secret(state),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "SYNTH_PIPELINE_RELEASES": str(releases),
        "SYNTH_PIPELINE_STATE": str(state),
        "GX_ANALYTICS_ENABLED": "false",
    })
    return env


def migrate(env: dict[str, str]) -> None:
    log = Path(env["AIRFLOW_HOME"]) / "migrate.log"
    with log.open("w") as out:
        done = subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise ConfigError(f"`airflow db migrate` failed (exit {done.returncode}) for {env['AIRFLOW_HOME']}; its log "
                          f"is {log}:\n{tail}")


def free_port(preferred: int) -> int:
    """`preferred` when nothing listens there, else any free port (0: any free port)."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise ConfigError("no free TCP port for the local Airflow API server")


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A process in a group of its own (stopped with everything it starts), its output in `log`."""
    with log.open("w") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def stop(process: subprocess.Popen | None, *, grace_s: float = 15) -> None:
    if process is None or process.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def start_api_server(env: dict[str, str], port: int) -> subprocess.Popen:
    log = Path(env["AIRFLOW_HOME"]) / "api-server.log"
    return start([str(BIN / "airflow"), "api-server", "--port", str(port), "--host", "127.0.0.1",
                  "--workers", "1"], env, log)


def api_server_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as response:
            report = json.load(response)
    except (OSError, ValueError):
        return False
    return (report.get("metadatabase") or {}).get("status") == "healthy"


def wait_for_api_server(process: subprocess.Popen, url: str, log: Path, *, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = "\n".join(log.read_text().splitlines()[-15:]) if log.is_file() else ""
            raise ConfigError(f"the Airflow API server stopped (exit {process.returncode}); its log is {log}:\n{tail}")
        if api_server_healthy(url):
            return
        time.sleep(1)
    raise ConfigError(f"the Airflow API server at {url} did not become healthy in {timeout_s:.0f} s; its log is {log}")
