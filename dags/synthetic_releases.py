"""One release DAG per `releases/*.yaml` spec.

Parsing this file must stay cheap (the dag-processor re-parses it often): only `airflow.sdk` and the standard
library at the top; the spec loader (YAML + pydantic) is imported inside the factory, and the pipeline's heavy
stages (pandas, GX, Presidio, torch) only inside tasks. Each task is one call into `synth_pipeline.steps`; data
stays in the run folder and only small metadata goes through XCom.

    extract >> harmonize >> quality_gate >> pii_scan >> split >> charge_budget >> train >> sample
      >> [validate, reidentify] >> report >> review >> approve (a steward) >> publish
    train >> settle_budget   (always runs: releases a reservation that training never used)
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


def _connection_url(conn_id: str) -> str:
    from airflow.sdk import Connection

    return Connection.get(conn_id).get_uri()


def _connection_secret(conn_id: str) -> str:
    from airflow.sdk import Connection

    return Connection.get(conn_id).password or ""


def _publish_destination(spec, project_root: Path):
    """Airflow's ObjectStoragePath: a local folder by default, object storage (with its Connection) in production.
    Only where the operator allows (`publish_location`: PathNotAllowed otherwise, before anything is written)."""
    from airflow.sdk import ObjectStoragePath

    from synth_pipeline.steps.release import publish_location

    location = publish_location(spec.publish.uri, project_root)
    uri = location if "://" in location else f"file://{location}"
    return ObjectStoragePath(uri, conn_id=spec.publish.conn_id)


def _signing_key() -> str | None:
    """The operator's release signing key: the Connection's password; None when the Connection is not defined (the
    library then reads $SYNTH_PIPELINE_SIGNING_KEY, and refuses to publish without a key)."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    from synth_pipeline.signing import SIGNING_CONN_ID

    try:
        return Connection.get(SIGNING_CONN_ID).password or None
    except AirflowNotFoundException:
        return None


def _step(spec_path: Path, release: str, step: str, *, trigger_rule: str = "all_success", **options):
    """A task that calls `synth_pipeline.steps.run_<step>(spec, run_dir, ...)`; options may need the run id."""

    @task(task_id=step, trigger_rule=trigger_rule)
    def run_step() -> dict:
        from synth_pipeline import steps

        extra = {key: (value() if callable(value) else value) for key, value in options.items()}
        return getattr(steps, f"run_{step}")(str(spec_path), _run_dir(spec_path, release), **extra)

    return run_step()


def _approval_and_publication(spec, spec_path: Path, after):
    """review >> approve (a steward, in Airflow's human-in-the-loop UI, REST API or our CLI) >> publish."""
    from datetime import timedelta

    from airflow.providers.standard.operators.hitl import ApprovalOperator
    from airflow.sdk import Asset, Param

    asset = Asset(f"synthetic/{spec.name}")
    review = _step(spec_path, spec.name, "review", run_id=lambda: get_current_context()["run_id"])
    approve = ApprovalOperator(
        task_id="approve",
        subject="{{ ti.xcom_pull(task_ids='review')['subject'] }}",
        body="{{ ti.xcom_pull(task_ids='review')['body'] }}",
        defaults="Reject",  # no answer before the timeout counts as a rejection: nothing is published
        assigned_users=[{"id": steward, "name": steward} for steward in spec.approval.stewards],
        response_timeout=timedelta(hours=spec.approval.timeout_hours),
        params={"comment": Param("", type="string", title="Comment", description="Why (required to reject)")},
    )

    @task(outlets=[asset])
    def publish(approval: dict) -> dict:
        from synth_pipeline.steps import run_publish

        context = get_current_context()
        dag_run = context["dag_run"]
        destination = _publish_destination(spec, spec_path.resolve().parent.parent)
        result = run_publish(
            str(spec_path), _run_dir(spec_path, spec.name),
            run_id=context["run_id"], run_started=dag_run.run_after, approval_response=approval,
            triggered_by=dag_run.triggering_user_name, destination=destination, signing_key=_signing_key(),
        )
        # Consumers find the release from the event alone: the destination (with its scheme) and the version.
        context["outlet_events"][asset].extra = {"version": result["version"], "location": str(destination)}
        return result

    after >> review >> approve
    publish(approve.output)


def build_release_dag(spec_path: Path):
    from synth_pipeline.spec import load_spec

    spec = load_spec(spec_path).spec
    name = spec.name

    def run_id() -> str:
        return get_current_context()["run_id"]

    @dag(
        dag_id=name,
        description=spec.description,
        schedule=spec.schedule,
        catchup=False,  # a missed batch is not re-released silently; trigger it by hand if it is wanted
        max_active_runs=1,  # runs of one release share its budget and its published versions
        tags=["synthetic-release", *spec.tags],
        default_args={"owner": spec.owner, "retries": 0},
        doc_md=f"**{name}** — {spec.description}\n\nPurpose: {spec.purpose}\n\nSpec: `{spec_path}`",
    )
    def release():
        chain = [
            _step(spec_path, name, "extract", context=_run_context, resolve_connection=lambda: _connection_url),
            _step(spec_path, name, "harmonize"),
            _step(spec_path, name, "quality_gate"),
            _step(spec_path, name, "pii_scan", resolve_secret=lambda: _connection_secret),
        ]
        if spec.generator is not None:
            seed = spec.generator.seed
            split = _step(spec_path, name, "split", seed=seed)
            charge = _step(spec_path, name, "charge_budget", run_id=run_id)
            # A Spark engine names its cluster by an Airflow Connection: resolved as extract resolves SQL sources.
            train = _step(spec_path, name, "train", run_id=run_id, seed=seed,
                          resolve_connection=lambda: _connection_url)
            # Runs whatever happened to train: a reservation that training never marked spent is released.
            train >> _step(spec_path, name, "settle_budget", trigger_rule="all_done", run_id=run_id)
            sample = _step(spec_path, name, "sample", seed=seed)
            chain += [split, charge, train, sample]
        for upstream, downstream in zip(chain, chain[1:]):
            upstream >> downstream
        if spec.generator is None:
            return
        checks = [_step(spec_path, name, "validate"), _step(spec_path, name, "reidentify")]
        # The steward's report is written even when a check failed (it shows why); approval needs every check.
        report = _step(spec_path, name, "report", trigger_rule="all_done", run_id=run_id)
        chain[-1] >> checks >> report
        if spec.approval is not None:
            _approval_and_publication(spec, spec_path, [*checks, report])

    return release()


def _build_all() -> None:
    from synth_pipeline.errors import SpecError
    from synth_pipeline.spec import discover_specs

    for spec_path in discover_specs(RELEASES_DIR):
        try:
            globals()[f"release_{spec_path.stem}"] = build_release_dag(spec_path)
        except SpecError as exc:
            # One broken spec must not take every other release's DAG down with it; it gets no DAG (fails closed)
            # and `synth-pipeline validate-spec` reports the same problem. The loader bounds its own cost (size,
            # nesting, aliases: synth_pipeline.spec.limits), so a hostile file cannot use up the import timeout.
            log.error("release spec %s skipped: %s", spec_path.name, exc)
        except Exception as exc:  # noqa: BLE001 - whatever else one spec's DAG raises, the others must still load
            log.error("release spec %s skipped: building its DAG failed with %s", spec_path.name, type(exc).__name__,
                      exc_info=True)


_build_all()
