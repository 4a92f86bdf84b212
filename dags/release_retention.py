"""Data minimisation: every day, delete published releases past their retention date and record what went.

One task per publication destination named by the release specs; each is one call into the library. Expiry is read
from manifests signed by the operator's key (checked with $SYNTH_PIPELINE_RELEASE_PUBLIC_KEY); a version that cannot
be vouched for is left in place and fails the task after every other version was handled, so that someone looks.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow.sdk import dag, task

RELEASES_DIR = Path(os.environ.get("SYNTH_PIPELINE_RELEASES", Path(__file__).resolve().parent.parent / "releases"))


def _destinations() -> dict[str, tuple[str, str | None]]:
    """Distinct publish destinations of all valid specs, keyed by a task-id-safe name."""
    from synth_pipeline.errors import PathNotAllowed, SpecError
    from synth_pipeline.spec import discover_specs, load_spec
    from synth_pipeline.steps.release import publish_location

    found: dict[str, tuple[str, str | None]] = {}
    for spec_path in discover_specs(RELEASES_DIR):
        try:
            loaded = load_spec(spec_path)
            allowed = publish_location(loaded.spec.publish.uri, loaded.project_root)
        except (SpecError, PathNotAllowed):
            continue  # the release DAG file reports broken specs; nothing was published where none is allowed
        location = allowed if "://" in allowed else f"file://{allowed}"
        key = "".join(c if c.isalnum() else "_" for c in location.split("://", 1)[1]).strip("_")[-200:]
        found[key] = (location, loaded.spec.publish.conn_id)
    return found


@dag(dag_id="synthetic_release_retention", schedule="@daily", catchup=False, max_active_runs=1,
     tags=["synthetic-release", "retention"], default_args={"owner": "data-platform", "retries": 1})
def synthetic_release_retention():
    for key, (location, conn_id) in sorted(_destinations().items()):
        @task(task_id=f"remove_expired__{key}")
        def remove_expired(location: str = location, conn_id: str | None = conn_id) -> dict:
            from airflow.sdk import ObjectStoragePath

            from synth_pipeline.steps import run_retention
            from synth_pipeline.steps.release import refuse_broken

            return refuse_broken(run_retention(ObjectStoragePath(location, conn_id=conn_id)))

        remove_expired()


synthetic_release_retention()
