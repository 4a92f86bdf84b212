"""Run one release DAG in-process with `dag.test()` on the embedded defaults, then show what it produced.

Usage: python scripts/run_release.py [RELEASE] [--reject]   (default: adult_income, approved)

Embedded defaults: Airflow metadata in SQLite under .state/airflow, run folders under .state/runs, releases
published to the spec's publish.uri (published/). The approval is given by the demo steward through Airflow's REST
handler, as `synth-pipeline approve` would against a running api-server. Variables already set take precedence.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from airflow_local import DEMO_STEWARD, ROOT, answer_in_background, embedded_environment, migrate  # noqa: E402


def main(release: str, approve: bool) -> int:
    embedded_environment(ROOT / ".state" / "airflow")
    os.environ.setdefault("SYNTH_PIPELINE_STATE", str(ROOT / ".state"))
    print(f"[demo] Airflow metadata: SQLite in {os.environ['AIRFLOW_HOME']}", flush=True)
    _demo_signing_keys(Path(os.environ["SYNTH_PIPELINE_STATE"]) / "signing")
    migrate()

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            print(f"[demo] DAG import error in {path}:\n{error}", file=sys.stderr)
        return 1
    if release not in bag.dags:
        print(f"[demo] no DAG named {release!r}; known: {', '.join(sorted(bag.dags))}", file=sys.stderr)
        return 1
    verb = "approve" if approve else "reject"
    print(f"[demo] the demo steward {DEMO_STEWARD!r} will {verb} through Airflow's REST API "
          f"(PATCH .../taskInstances/approve/-1/hitlDetails) once the run waits for approval", flush=True)
    answer = answer_in_background(approve=approve, comment=f"demo: {verb}d by the bundled demo steward")
    started = time.monotonic()
    print(f"[demo] running DAG {release!r} with dag.test() ...", flush=True)
    dag_run = bag.dags[release].test()
    print(f"[demo] DAG run {dag_run.run_id}: {dag_run.state} in {time.monotonic() - started:.1f}s")
    if "error" in answer:
        print(f"[demo] the steward could not answer: {answer['error']}", file=sys.stderr)
    elif answer:
        print(f"[demo] {answer['by']} answered {answer['decision']} through the REST API")

    from synth_pipeline.cli import main as cli

    spec = str(ROOT / "releases" / f"{release}.yaml")
    cli(["show-run", spec, "--run-id", dag_run.run_id])
    _where_it_went(spec, dag_run.run_id)
    return 0 if dag_run.state == "success" else 1


def _demo_signing_keys(folder: Path) -> None:
    """Publication signs the manifest and readers check it: without an operator's key pair, make a demo one."""
    from synth_pipeline import signing

    if os.environ.get(signing.SIGNING_KEY_ENV) or os.environ.get(signing.SIGNING_CONN_ENV):
        print("[demo] releases are signed with the configured key", flush=True)
        return
    os.environ.update(signing.key_pair_environment(folder))
    print(f"[demo] no release signing key configured: using the demo key pair in {folder} (made once; never use it "
          f"in production, see `synth-pipeline signing-key new`). Readers here verify with its public key through "
          f"{signing.PUBLIC_KEY_ENV}", flush=True)


def _where_it_went(spec: str, run_id: str) -> None:
    from synth_pipeline.cli import main as cli
    from synth_pipeline.runs import run_folder, state_dir
    from synth_pipeline.spec import load_spec

    loaded = load_spec(spec)
    run_dir = run_folder(state_dir(loaded.project_root), loaded.spec.name, run_id)
    outputs = {"internal report (steward only)": run_dir / "report" / "report.html",
               "data card": run_dir / "report" / "data_card.html"}
    for label, path in outputs.items():
        print(f"[demo] {label}: {path if path.is_file() else 'not written (see the failed step above)'}")
    published = run_dir / "publish" / "report.json"
    if published.is_file():
        release = json.loads(published.read_text())
        manifest = json.loads((Path(release["uri"]) / "manifest.json").read_text())
        print(f"[demo] published: {release['uri']}")
        print("[demo] manifest: " + json.dumps({key: manifest[key] for key in (
            "release", "version", "rows", "generator", "privacy", "gates", "approval", "expires_at")}, indent=2))
    else:
        print("[demo] nothing was published by this run")
    cli(["budget", loaded.spec.dataset, "--project", str(loaded.project_root)])


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    sys.exit(main(arguments[0] if arguments else "adult_income", approve="--reject" not in sys.argv))
