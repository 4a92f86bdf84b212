"""One release DAG per `releases/*.yaml` spec.

Parsing this file must stay cheap (the dag-processor re-parses it often): only `airflow.sdk` and the standard
library at the top; the spec loader (YAML + pydantic) is imported inside the factory, and the pipeline's heavy
stages (pandas, GX, torch) only inside tasks. Each task is one call into `synth_pipeline.steps`; data stays in the
run folder and only small metadata goes through XCom.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from airflow.sdk import dag, get_current_context, task

RELEASES_DIR = Path(os.environ.get("SYNTH_PIPELINE_RELEASES", Path(__file__).resolve().parent.parent / "releases"))
log = logging.getLogger(__name__)


def _run_dir(spec_path: Path, release: str) -> Path:
    from synth_pipeline.runs import run_folder, state_dir

    context = get_current_context()
    return run_folder(state_dir(spec_path.resolve().parent.parent), release, context["run_id"])


def _run_context():
    from synth_pipeline.sources import RunContext

    context = get_current_context()
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    return RunContext(
        run_id=context["run_id"],
        data_interval_start=start.isoformat() if start else None,
        data_interval_end=end.isoformat() if end else None,
    )


def _airflow_connection_url(conn_id: str) -> str:
    from airflow.sdk import Connection

    return Connection.get(conn_id).get_uri()


def build_release_dag(spec_path: Path):
    from synth_pipeline.spec import load_spec

    spec = load_spec(spec_path).spec
    spec_file = str(spec_path)

    @dag(
        dag_id=spec.name,
        description=spec.description,
        schedule=spec.schedule,
        catchup=False,  # a missed batch is not re-released silently; trigger it by hand if it is wanted
        max_active_runs=1,  # runs of one release share its budget and its published versions
        tags=["synthetic-release", *spec.tags],
        default_args={"owner": spec.owner, "retries": 0},
        doc_md=f"**{spec.name}** — {spec.description}\n\nPurpose: {spec.purpose}\n\nSpec: `{spec_file}`",
    )
    def release():
        @task
        def extract() -> dict:
            from synth_pipeline.steps import run_extract

            return run_extract(spec_file, _run_dir(spec_path, spec.name), context=_run_context(),
                               resolve_connection=_airflow_connection_url)

        @task
        def harmonize() -> dict:
            from synth_pipeline.steps import run_harmonize

            return run_harmonize(spec_file, _run_dir(spec_path, spec.name))

        @task
        def quality_gate() -> dict:
            from synth_pipeline.steps import run_quality_gate

            return run_quality_gate(spec_file, _run_dir(spec_path, spec.name))

        # Later stages attach after the gate: pii_scan >> split >> charge_budget >> train >> sample >> ...
        extract() >> harmonize() >> quality_gate()

    return release()


def _build_all() -> None:
    from synth_pipeline.errors import SpecError
    from synth_pipeline.spec import discover_specs

    for spec_path in discover_specs(RELEASES_DIR):
        try:
            globals()[f"release_{spec_path.stem}"] = build_release_dag(spec_path)
        except SpecError as exc:
            # One broken spec must not take every other release's DAG down with it; it gets no DAG (fails closed)
            # and `synth-pipeline validate-spec` reports the same problem.
            log.error("release spec skipped: %s", exc)


_build_all()
