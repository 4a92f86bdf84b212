"""`synth-pipeline run NAME`: one release DAG run on the embedded defaults, task by task, stopping at the approval.

Three processes: this one (the progress view, reading the SQLite metadata DB read-only), `dag.test()` in a
subprocess (every task, its logs in `<state>/airflow/logs/`), and `airflow api-server` (the REST API and UI through
which a steward answers, as in production). When the run ends, the API server is stopped and the outcome printed:
exit 0 exactly when the DAG run succeeded and the release was published.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import signal
import sqlite3
import sys
import threading
import time
import urllib.parse
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path

from synth_pipeline.errors import ConfigError, PipelineError, SpecError
from synth_pipeline_local import embedded

WAITING = {"awaiting_input", "deferred"}
UNFINISHED = ("running", "queued", "scheduled", "deferred", "awaiting_input", "up_for_retry", "up_for_reschedule",
              "restarting")
POLL_S = 1.0


def say(message: str = "", *, file=None) -> None:
    print(f"[run] {message}" if message else "", file=file or sys.stdout, flush=True)


def find_spec(name: str, releases: str | None):
    """(loaded spec, releases folder) for a release name, a spec file's stem, or a spec file path."""
    from synth_pipeline.spec import discover_specs, load_spec

    as_path = Path(name)
    if name.endswith((".yaml", ".yml")) or as_path.is_file():
        if not as_path.is_file():
            raise ConfigError(f"no spec file {name}")
        if releases and Path(releases).resolve() != as_path.resolve().parent:
            raise ConfigError(f"{name} is not in --releases {releases}: the DAGs are made from the specs of one folder")
        return load_spec(as_path), as_path.resolve().parent
    folder = Path(releases or os.environ.get("SYNTH_PIPELINE_RELEASES") or embedded.ROOT / "releases").resolve()
    if not folder.is_dir():
        raise ConfigError(f"no releases folder {folder} (--releases DIR chooses it)")
    specs = discover_specs(folder)
    names = []
    for path in specs:
        try:
            loaded = load_spec(path)
        except SpecError:
            if path.stem == name:
                raise
            continue
        if name in (loaded.spec.name, path.stem):
            return loaded, folder
        names.append(loaded.spec.name)
    raise ConfigError(f"no release {name!r} in {folder}; its specs: {', '.join(names) or 'none'}")


@contextmanager
def exclusive(home: Path):
    """One `synth-pipeline run` at a time per state folder: they share one SQLite metadata DB."""
    home.mkdir(parents=True, exist_ok=True)
    with (home / "run.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another `synth-pipeline run` is using {home.parent}; wait for it or stop it") from None
        yield


class Metadata:
    """Read-only looks at the SQLite metadata DB (the run's progress); writes only to fail an abandoned run."""

    def __init__(self, home: Path):
        self.path = home / "airflow.db"

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)) as db:
                return db.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            return []  # locked by a writer, or not made yet: the next poll sees it

    def last_run_id(self) -> int:
        rows = self._query("SELECT max(id) FROM dag_run")
        return (rows[0][0] or 0) if rows else 0

    def run_after(self, dag_id: str, after_id: int) -> tuple[str, str] | None:
        rows = self._query("SELECT run_id, state FROM dag_run WHERE dag_id = ? AND id > ? ORDER BY id DESC LIMIT 1",
                           (dag_id, after_id))
        return rows[0] if rows else None

    def tasks(self, dag_id: str, run_id: str) -> dict[str, tuple[str | None, float | None]]:
        rows = self._query("SELECT task_id, state, duration FROM task_instance WHERE dag_id = ? AND run_id = ?",
                           (dag_id, run_id))
        return {task: (state, duration) for task, state, duration in rows}

    def fail_unfinished(self, dag_id: str) -> list[str]:
        """Mark this DAG's unfinished runs failed (their runner is gone: stopped, timed out or killed), so that no
        stale approval stays pending. The embedded DB is this command's own."""
        marks = ",".join("?" * len(UNFINISHED))
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
            runs = [row[0] for row in db.execute(
                f"SELECT run_id FROM dag_run WHERE dag_id = ? AND state IN ({marks})", (dag_id, *UNFINISHED))]
            for run_id in runs:
                db.execute(f"UPDATE task_instance SET state = 'failed', end_date = ? WHERE dag_id = ? AND run_id = ? "
                           f"AND state IN ({marks})", (now, dag_id, run_id, *UNFINISHED))
                db.execute("UPDATE dag_run SET state = 'failed', end_date = ? WHERE dag_id = ? AND run_id = ?",
                           (now, dag_id, run_id))
        return runs


class Progress:
    """Prints each task once when it starts and once when it ends, with the time it took."""

    def __init__(self):
        self.seen: dict[str, str | None] = {}

    def update(self, tasks: dict[str, tuple[str | None, float | None]]) -> None:
        for task, (state, duration) in sorted(tasks.items(), key=lambda item: item[1][1] is None):
            before = self.seen.get(task)
            if state == before:
                continue
            self.seen[task] = state
            if state == "running":
                say(f"  ... {task}")
            elif state in WAITING:
                say(f"  ... {task}: waiting for a steward")
            elif state in ("success", "failed", "skipped", "upstream_failed"):
                took = f"{duration:7.1f} s" if duration is not None else "        "
                mark = {"success": "ok  ", "skipped": "skip", "failed": "FAIL", "upstream_failed": "FAIL"}[state]
                say(f"  {mark} {task:<16} {took}  {state}")


def _steward_instructions(dag_id: str, run_id: str, url: str, stewards: list[str], passwords: Path,
                          report: Path) -> None:
    quoted = shlex.quote(run_id)
    say()
    say(f"{dag_id} run {run_id} waits for a steward's decision.")
    say(f"The internal report (steward only): {report}")
    say(f"Answer as one of the spec's stewards ({', '.join(stewards)}) from another shell, through the local Airflow "
        f"API server at {url}:")
    print(f"    export SYNTH_PIPELINE_STEWARD_USER={shlex.quote(stewards[0])} "
          f"SYNTH_PIPELINE_STEWARD_PASSWORD_FILE={shlex.quote(str(passwords))}")
    print(f"    synth-pipeline pending --api-url {url}")
    print(f"    synth-pipeline approve {quoted} --api-url {url} --comment 'read the report'")
    print(f"    synth-pipeline reject {quoted} --api-url {url} --comment 'why'")
    say(f"or in the Airflow UI: {url}/dags/{dag_id}/runs/{urllib.parse.quote(run_id, safe='')} (log in as "
        f"{stewards[0]}; the passwords, made for this state folder, are in {passwords})")
    say("This command keeps the API server up until the run ends (Ctrl-C stops the run: nothing is published).",)
    say()


def _demo_steward(url: str, user: str, password: str, run_id: str, approve: bool, outcome: dict) -> None:
    from synth_pipeline.approval import StewardClient

    try:
        steward = StewardClient(url, username=user, password=password)
        flag, verb = ("approve", "approved") if approve else ("reject", "rejected")
        outcome.update(steward.respond(run_id, approve=approve, comment=f"demo: {verb} by --{flag}-as-demo-steward, "
                                                                         f"nobody reviewed the report"))
    except Exception as exc:  # noqa: BLE001 - reported by the main thread
        outcome["error"] = f"{type(exc).__name__}: {exc}"


def _signing_environment(state: Path) -> dict[str, str]:
    """Publication signs the manifest: without an operator's key, a demo key pair under the state folder."""
    from synth_pipeline import signing

    if os.environ.get(signing.SIGNING_KEY_ENV) or os.environ.get(signing.SIGNING_CONN_ENV):
        say("releases are signed with the configured key")
        return {}
    pair = signing.key_pair_environment(state / "signing")
    say(f"no release signing key configured: using the demo key pair in {state / 'signing'} (made once; never in "
        f"production, see `synth-pipeline signing-key new`); readers verify with {signing.PUBLIC_KEY_ENV}")
    return pair


def run_release(name: str, *, releases: str | None = None, port: int = 28180, timeout_s: float | None = None,
                demo_answer: str | None = None) -> int:
    from synth_pipeline.runs import state_dir

    loaded, folder = find_spec(name, releases)
    spec = loaded.spec
    state = state_dir(loaded.project_root)
    home = embedded.airflow_home(state)
    # A spec without `approval` is a valid one: its DAG ends with the steward's report and publishes nothing.
    stewards = list(spec.approval.stewards) if spec.approval is not None else []
    if demo_answer and not stewards:
        raise ConfigError(f"release {spec.name!r} has no approval block: its runs end with the steward's report and "
                          f"publish nothing, so there is nothing for --{demo_answer}-as-demo-steward to answer")
    with exclusive(home):
        requested, port = port, embedded.free_port(port)
        url = f"http://127.0.0.1:{port}"
        if requested and port != requested:
            say(f"port {requested} is taken: the local Airflow API server uses port {port}")
        say(f"release {spec.name} from {loaded.path}")
        say(f"state folder {state} (runs, ledger); Airflow metadata: SQLite in {home}")
        env = embedded.environment(state, folder, stewards, port)
        env.update(_signing_environment(state))
        os.environ.update({key: env[key] for key in env if key.startswith("SYNTH_PIPELINE_")})
        embedded.migrate(env)
        metadata = Metadata(home)
        stale = metadata.fail_unfinished(spec.name)
        if stale:
            say(f"marked failed the unfinished earlier run(s) nobody drives any more: {', '.join(stale)}")
        if demo_answer:
            verb = "APPROVE" if demo_answer == "approve" else "REJECT"
            banner = (f"DEMO STEWARD: --{demo_answer}-as-demo-steward will {verb} this run automatically as "
                      f"{stewards[0]!r} through the API server. NOBODY REVIEWS THE STEWARD'S REPORT. Demo only: a real "
                      f"release is answered by a steward (`synth-pipeline run {spec.name}` without this flag).")
            say("!" * 100)
            say(banner)
            say("!" * 100)
        logs = home / "logs"
        logs.mkdir(exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        task_log, result_path = logs / f"{spec.name}-{stamp}.log", logs / f"{spec.name}-{stamp}.result.json"
        result_path.unlink(missing_ok=True)
        api = runner = None
        started = time.monotonic()
        # `kill` stops the run like Ctrl-C does: the runner and the API server are in process groups of their own.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            api = embedded.start_api_server(env, port)
            before = metadata.last_run_id()
            runner = embedded.start([sys.executable, "-m", "synth_pipeline_local.dagtest", spec.name,
                                     str(result_path)], env, task_log)
            say(f"running DAG {spec.name} with dag.test(); the tasks' logs: {task_log}")
            outcome = _follow(metadata, spec.name, before, runner, api, url, stewards, state, demo_answer,
                              timeout_s, task_log)
        except KeyboardInterrupt:
            say("interrupted: stopping the run; nothing is published", file=sys.stderr)
            embedded.stop(runner, grace_s=5)
            metadata.fail_unfinished(spec.name)
            return 130
        except Exception:
            embedded.stop(runner, grace_s=5)  # e.g. the API server did not start: no run is left waiting for nobody
            metadata.fail_unfinished(spec.name)
            raise
        finally:
            embedded.stop(runner, grace_s=5)
            embedded.stop(api)
            signal.signal(signal.SIGTERM, previous)
        elapsed = time.monotonic() - started
    return _conclude(outcome, result_path, task_log, loaded, state, elapsed)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _follow(metadata: Metadata, dag_id: str, before: int, runner, api, url: str, stewards: list[str], state: Path,
            demo_answer: str | None, timeout_s: float | None, task_log: Path) -> dict:
    from synth_pipeline.runs import run_folder

    progress, run_id, waiting_since, answered = Progress(), None, None, {}
    announced = False
    while runner.poll() is None:
        time.sleep(POLL_S)
        found = metadata.run_after(dag_id, before)
        if found is None:
            continue
        run_id = found[0]
        tasks = metadata.tasks(dag_id, run_id)
        progress.update(tasks)
        if (tasks.get("approve") or (None,))[0] in WAITING and not announced:
            announced, waiting_since = True, time.monotonic()
            embedded.wait_for_api_server(api, url, embedded.airflow_home(state) / "api-server.log")
            passwords = embedded.passwords_file(state)
            if demo_answer:
                password = json.loads(passwords.read_text())[stewards[0]]
                threading.Thread(target=_demo_steward, daemon=True, name="demo-steward",
                                 args=(url, stewards[0], password, run_id, demo_answer == "approve", answered)).start()
            else:
                report = run_folder(state, dag_id, run_id) / "report" / "report.html"
                _steward_instructions(dag_id, run_id, url, stewards, passwords, report)
        if waiting_since is not None and timeout_s is not None and time.monotonic() - waiting_since > timeout_s \
                and (tasks.get("approve") or (None,))[0] in WAITING:
            say(f"no steward answered within {timeout_s:g} s: stopping the run; nothing is published",
                file=sys.stderr)
            embedded.stop(runner, grace_s=5)
            metadata.fail_unfinished(dag_id)
            return {"run_id": run_id, "timed_out": True, "answered": answered}
    if run_id:
        progress.update(metadata.tasks(dag_id, run_id))
    return {"run_id": run_id, "answered": answered}


def _conclude(outcome: dict, result_path: Path, task_log: Path, loaded, state: Path, elapsed: float) -> int:
    from synth_pipeline.runs import run_folder

    answered = outcome.get("answered") or {}
    if "error" in answered:
        say(f"the demo steward could not answer: {answered['error']}", file=sys.stderr)
    elif answered:
        say(f"the demo steward {answered['by']!r} answered {answered['decision']} through the REST API")
    if outcome.get("timed_out"):
        raise PipelineError(f"run {outcome['run_id']} of {loaded.spec.name} was not answered in time and was stopped; "
                            "nothing was published")
    if not result_path.is_file():
        tail = "\n".join(task_log.read_text(errors="replace").splitlines()[-10:]) if task_log.is_file() else ""
        raise PipelineError(f"the DAG run ended without a result; its log is {task_log}, which ends:\n{tail}")
    result = json.loads(result_path.read_text())
    if "error" in result:
        detail = "\n".join(f"{path}:\n{error}" for path, error in (result.get("import_errors") or {}).items())
        raise ConfigError(f"{result['error']}{': ' + ', '.join(result['known']) if 'known' in result else ''}"
                          f"{chr(10) + detail if detail else ''}")
    run_id, dag_state, tasks = result["run_id"], result["state"], result["tasks"]
    run_dir = run_folder(state, loaded.spec.name, run_id)
    say(f"DAG run {run_id}: {dag_state} in {elapsed:.1f} s")
    for label, path in (("internal report (steward only)", run_dir / "report" / "report.html"),
                        ("data card", run_dir / "report" / "data_card.html")):
        say(f"{label}: {path if path.is_file() else 'not written'}")
    published = run_dir / "publish" / "report.json"
    if published.is_file():
        uri = json.loads(published.read_text())["uri"]
        say(f"published: {uri}")
        manifest_path = Path(uri) / "manifest.json"
        if manifest_path.is_file():
            manifest = json.loads(manifest_path.read_text())
            say("manifest: " + json.dumps({key: manifest.get(key) for key in (
                "release", "version", "rows", "generator", "privacy", "gates", "approval", "expires_at")}, indent=2))
    else:
        say("nothing was published by this run")
    say(f"what the run produced: synth-pipeline show-run {shlex.quote(str(loaded.path))} --run-id {shlex.quote(run_id)}")
    from synth_pipeline.cli import main as cli

    cli(["budget", loaded.spec.dataset, "--project", str(loaded.project_root)])
    if dag_state == "success" and tasks.get("publish") == "success":
        return 0
    if dag_state == "success" and loaded.spec.approval is None:
        say(f"{loaded.spec.name} has no approval block: the run ended with the steward's report, as its spec says")
        return 0
    if tasks.get("approve") == "success" and tasks.get("publish") == "skipped":
        raise PipelineError(f"run {run_id} of {loaded.spec.name} was rejected by the steward; nothing was published")
    failed = [task for task, task_state in tasks.items() if task_state in ("failed", "upstream_failed")]
    raise PipelineError(f"run {run_id} of {loaded.spec.name} ended {dag_state} (failed: {', '.join(failed) or '-'}); "
                        f"nothing was published; the tasks' logs: {task_log}")
