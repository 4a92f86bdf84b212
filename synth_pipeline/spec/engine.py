"""`engine:` where the row-level work of a fit runs: on the worker (`local`, the default) or as Spark jobs.

The Spark engine encodes the table on the public domain and counts the marginals the generator asks for inside
Spark; only the count arrays come back to the worker, which adds the noise (`synth_pipeline.engines`). The cluster
is named by `conn_id`, an Airflow Connection resolved inside the task (as SQL sources resolve theirs), or by
`master` for Spark's local mode (tests, one big machine).
"""

from __future__ import annotations

import importlib.util
import re
from typing import Literal

from pydantic import Field, model_validator

from synth_pipeline.spec.base import Frozen
from synth_pipeline.spec.limits import MAX_LABEL_CHARS

# Spark's local mode runs its executors as threads of the worker's JVM: more threads than a worker has cores only
# thrash it, and a large count is a spec author's way to take over a shared host.
MAX_LOCAL_THREADS = 64
# Local mode only: a spec may not point a worker at a cluster by URL. A cluster's address and credentials live in
# an Airflow Connection, which operators own.
_LOCAL_MASTER = re.compile(r"local(\[(\*|[1-9][0-9]*)\])?")


class EngineSpec(Frozen):
    name: Literal["local", "spark"] = "local"
    master: str | None = Field(None, max_length=MAX_LABEL_CHARS)  # local mode: local, local[N] or local[*]
    conn_id: str | None = Field(None, min_length=1, max_length=MAX_LABEL_CHARS)  # an Airflow Spark Connection

    @model_validator(mode="after")
    def _where(self) -> EngineSpec:
        if self.name == "local":
            if self.master is not None or self.conn_id is not None:
                raise ValueError("the local engine takes no 'master' or 'conn_id'")
            return self
        if (self.master is None) == (self.conn_id is None):
            raise ValueError("give exactly one of 'master' (Spark's local mode) or 'conn_id' (a cluster's Airflow "
                             "Connection)")
        if self.master is not None:
            match = _LOCAL_MASTER.fullmatch(self.master)
            if match is None:
                raise ValueError(f"master must be local, local[N] or local[*], got {self.master!r}: a cluster is "
                                 "named by an Airflow Connection (conn_id)")
            threads = match.group(2)
            if threads not in (None, "*") and int(threads) > MAX_LOCAL_THREADS:
                raise ValueError(f"master: at most local[{MAX_LOCAL_THREADS}] threads, got {self.master!r}")
        # Here, not when the task starts: by then the run's budget may be charged for a fit that cannot run.
        if importlib.util.find_spec("pyspark") is None:
            raise ValueError("the spark engine needs pyspark, which is not installed here "
                             "(pip install -c constraints.txt -e .)")
        return self
