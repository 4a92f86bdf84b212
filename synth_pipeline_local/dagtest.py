"""`python -m synth_pipeline_local.dagtest DAG_ID RESULT_JSON`: one run of a DAG with `dag.test()` (every task in
this process, on the metadata DB of $AIRFLOW_HOME), then `{"run_id", "state", "tasks"}` written to RESULT_JSON.

A process of its own so that `synth-pipeline run` keeps a clean progress view (the tasks' logs go to this process's
output, a file) and can stop the run (its process group) when nobody answers the approval.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(dag_id: str, result_path: str) -> int:
    from airflow.dag_processing.dagbag import DagBag

    result = Path(result_path)
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        errors = {str(path): str(error) for path, error in bag.import_errors.items()}
        result.write_text(json.dumps({"error": "the DAG files failed to import", "import_errors": errors}))
        return 1
    if dag_id not in bag.dags:
        result.write_text(json.dumps({"error": f"no DAG named {dag_id!r}", "known": sorted(bag.dags)}))
        return 1
    dag_run = bag.dags[dag_id].test()
    tasks = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    result.write_text(json.dumps({"run_id": dag_run.run_id, "state": str(dag_run.state), "tasks": tasks}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
