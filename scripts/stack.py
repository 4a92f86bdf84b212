"""The production topology of docker-compose.yml, run on this machine as plain processes (there is no Docker engine).

    python scripts/stack.py up [--state DIR] [--releases DIR] [--port 28080]     (make stack-up)
    python scripts/stack.py down [--state DIR]                                    (make stack-down)
    python scripts/stack.py status [--state DIR]

`up` gives Airflow a PostgreSQL database of its own on the local server, and the budget ledger another; runs the
CeleryExecutor with Redis as the broker (a database index of its own) and PostgreSQL as the result backend; starts
the api-server, scheduler, dag-processor, triggerer and two Celery workers, each in its own process group with its
log in `<state>/logs/`; creates the users (admin, a steward, an analyst, the operator who triggers runs) with fresh
passwords in `<state>/passwords.json` (mode 0600); waits until every service reports healthy; and prints where the
UI is. `down` stops every process group (SIGTERM, then SIGKILL), drops both databases and empties the Redis index.
Secrets are generated per stack, never defaulted.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES = os.environ.get("SYNTH_PIPELINE_STACK_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432")
REDIS = os.environ.get("SYNTH_PIPELINE_STACK_REDIS", "redis://127.0.0.1:6379")
REDIS_INDEX = 7
USERS = {"admin": "admin", "steward": "op", "analyst": "viewer", "operator": "user"}
WORKERS = ("worker1", "worker2")
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"
HEALTHY_WITHIN_S = 240


def _databases(name: str) -> dict[str, str]:
    return {"airflow": f"{name}_airflow", "ledger": f"{name}_ledger"}


def _admin_engine():
    import sqlalchemy as sa

    return sa.create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")


def _recreate_databases(name: str) -> None:
    import sqlalchemy as sa

    engine = _admin_engine()
    with engine.connect() as connection:
        for database in _databases(name).values():
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
    engine.dispose()


def _drop_databases(name: str) -> None:
    import sqlalchemy as sa

    engine = _admin_engine()
    with engine.connect() as connection:
        for database in _databases(name).values():
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    engine.dispose()


def _flush_redis() -> None:
    import redis

    redis.Redis.from_url(f"{REDIS}/{REDIS_INDEX}").flushdb()


def _secrets(state: Path) -> dict:
    """Per-stack secrets, made once and kept with the stack (mode 0600): never a default."""
    path = state / "secrets.json"
    if not path.is_file():
        from cryptography.fernet import Fernet

        document = {"fernet_key": Fernet.generate_key().decode(), "jwt_secret": secrets.token_hex(32),
                    "pseudonym_key": secrets.token_urlsafe(32),
                    "passwords": {user: secrets.token_urlsafe(12) for user in USERS}}
        path.write_text(json.dumps(document, indent=2))
        path.chmod(0o600)
    return json.loads(path.read_text())


def environment(state: Path, releases: Path, port: int, name: str) -> dict[str, str]:
    """What every service gets: docker-compose.yml's shared environment, with local addresses."""
    from synth_pipeline.signing import key_pair_environment

    made = _secrets(state)
    passwords = state / "passwords.json"  # written once, by `up`
    databases = _databases(name)
    database = f"{POSTGRES}/{databases['airflow']}"
    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(state / "airflow"),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{user}:{role}" for user, role in USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database,  # psycopg2 named: SQLAlchemy 2.1 defaults to psycopg 3
        "AIRFLOW__CELERY__BROKER_URL": f"{REDIS}/{REDIS_INDEX}",
        "AIRFLOW__CORE__FERNET_KEY": made["fernet_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": made["jwt_secret"],
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(port + 1),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(port + 2),
        "SYNTH_PIPELINE_RELEASES": str(releases),
        "SYNTH_PIPELINE_STATE": str(state / "pipeline"),
        "SYNTH_PIPELINE_LEDGER_URL": f"{POSTGRES}/{databases['ledger']}",
        "AIRFLOW_CONN_SYNTHEA_PSEUDONYM_KEY": json.dumps({"conn_type": "generic", "password": made["pseudonym_key"]}),
        # The release signing key pair, made once for this stack (the private key file mode 0600).
        **key_pair_environment(state / "signing"),
        "GX_ANALYTICS_ENABLED": "false",
    }


def _services(port: int) -> dict[str, tuple[list[str], dict[str, str]]]:
    airflow = str(BIN / "airflow")
    services = {"api-server": ([airflow, "api-server", "--port", str(port)], {}),
                "scheduler": ([airflow, "scheduler"], {}),
                "dag-processor": ([airflow, "dag-processor"], {}),
                "triggerer": ([airflow, "triggerer"], {})}
    for index, worker in enumerate(WORKERS):
        # Two workers on one host: each serves its task logs on a port of its own.
        services[worker] = ([airflow, "celery", "worker", "--celery-hostname", f"{worker}@%h", "--concurrency", "2"],
                            {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port + 3 + index)})
    return services


def _get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def health(state: Path) -> dict[str, bool]:
    """{service: healthy}: the api-server's own health report for the metadata DB, scheduler, triggerer and
    dag-processor; Celery's ping for each worker; and every process still alive."""
    record = json.loads((state / "stack.json").read_text())
    report = _get_json(f"http://127.0.0.1:{record['port']}/api/v2/monitor/health") or {}
    status = {part: (report.get(part) or {}).get("status") == "healthy"
              for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")}
    ping = subprocess.run([str(BIN / "celery"), "--app", CELERY_APP, "inspect", "ping", "--timeout", "5"],
                          env=environment(state, Path(record["releases"]), record["port"], record["name"]),
                          capture_output=True, text=True, timeout=60)
    for worker in WORKERS:
        status[worker] = f"{worker}@" in ping.stdout
    for service, pid in record["pids"].items():
        status[f"{service} process"] = _alive(pid)
    return status


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _start(state: Path, service: str, env: dict[str, str], port: int) -> int:
    command, extra = _services(port)[service]
    log = open(state / "logs" / f"{service}.log", "ab")  # noqa: SIM115 - the child owns it from here
    process = subprocess.Popen(command, env={**env, **extra}, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True, cwd=state)
    return process.pid


def up(state: Path, releases: Path, port: int, *, airflow_config: dict[str, str] | None = None) -> dict:
    """Start the stack; `airflow_config` adds AIRFLOW__SECTION__KEY settings (the tests shorten timeouts)."""
    state = state.resolve()
    if (state / "stack.json").is_file():
        raise SystemExit(f"a stack is already recorded in {state / 'stack.json'}: run `down` first")
    (state / "logs").mkdir(parents=True, exist_ok=True)
    name = f"synth_stack_{port}"
    started = time.monotonic()
    _recreate_databases(name)
    _flush_redis()
    env = {**environment(state, releases.resolve(), port, name), **(airflow_config or {})}
    passwords = state / "passwords.json"
    passwords.write_text(json.dumps(_secrets(state)["passwords"], indent=2))
    passwords.chmod(0o600)
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    pids = {service: _start(state, service, env, port) for service in _services(port)}
    record = {"name": name, "port": port, "releases": str(releases.resolve()), "pids": pids,
              "ui": f"http://127.0.0.1:{port}/", "passwords": str(state / "passwords.json"),
              "airflow_config": airflow_config or {}}
    (state / "stack.json").write_text(json.dumps(record, indent=2))
    deadline = time.monotonic() + HEALTHY_WITHIN_S
    while True:
        status = health(state)
        if all(status.values()):
            break
        if time.monotonic() > deadline or not all(v for k, v in status.items() if k.endswith("process")):
            down(state)
            raise SystemExit(f"the stack did not become healthy ({', '.join(k for k, v in status.items() if not v)}); "
                             f"see the logs in {state / 'logs'}")
        time.sleep(3)
    record["healthy_after_s"] = round(time.monotonic() - started, 1)
    (state / "stack.json").write_text(json.dumps(record, indent=2))
    return record


def restart(state: Path, service: str) -> int:
    """Start one service again (after it died or was killed) with the stack's environment; returns its pid."""
    state = state.resolve()
    record = json.loads((state / "stack.json").read_text())
    pid = record["pids"][service]
    if _group_alive(pid):
        raise SystemExit(f"{service} is still running (process group {pid})")
    env = {**environment(state, Path(record["releases"]), record["port"], record["name"]),
           **record.get("airflow_config", {})}
    record["pids"][service] = _start(state, service, env, record["port"])
    (state / "stack.json").write_text(json.dumps(record, indent=2))
    return record["pids"][service]


def down(state: Path) -> None:
    state = state.resolve()
    path = state / "stack.json"
    if not path.is_file():
        return
    record = json.loads(path.read_text())
    for pid in record["pids"].values():
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_group_alive(pid) for pid in record["pids"].values()):
        time.sleep(0.5)
    for pid in record["pids"].values():
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    while any(_group_alive(pid) for pid in record["pids"].values()) and time.monotonic() < deadline + 10:
        time.sleep(0.2)
    _drop_databases(record["name"])
    _flush_redis()
    path.unlink()


def _group_alive(pgid: int) -> bool:
    try:
        # When `up` ran in this process the leaders are its children: reap them, or they linger as zombies.
        os.waitpid(pgid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--state", type=Path, default=ROOT / ".state" / "stack")
    parser.add_argument("--releases", type=Path, default=ROOT / "releases")
    parser.add_argument("--port", type=int, default=28080)
    args = parser.parse_args(argv)
    if args.action == "up":
        record = up(args.state, args.releases, args.port)
        print(f"stack healthy after {record['healthy_after_s']} s: UI and REST API at {record['ui']}")
        print(f"users {', '.join(f'{u} ({r})' for u, r in USERS.items())}; passwords in {record['passwords']}")
        print(f"logs in {args.state.resolve() / 'logs'}; stop with `make stack-down`")
    elif args.action == "down":
        down(args.state)
        print("stack stopped; its databases and Redis index are gone")
    else:
        if not (args.state / "stack.json").is_file():
            print("no stack is running")
            return 1
        status = health(args.state.resolve())
        print("\n".join(f"{'healthy' if ok else 'DOWN   '} {service}" for service, ok in status.items()))
        return 0 if all(status.values()) else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
