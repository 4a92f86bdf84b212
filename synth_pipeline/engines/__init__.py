"""Engines: where a fit's row-level work runs. The generator asks an engine for the exact marginal counts of a list
of cliques (sets of column indices) of the table encoded on its public domain; the engine answers with one count
array per clique, in one pass over the rows. The noise, the accounting and everything after stay in the generator,
on the worker: an engine only ever returns what the local code would have computed, byte for byte.

    engine = make_engine(spec.engine)                    # before the charge: a missing cluster costs no budget
    counts = engine.marginals(table, domain, cliques)    # {clique: float64 counts, C order over the clique's codes}

`local` counts with numpy on the worker; `spark` runs the encoding and the counts as Spark jobs
(`synth_pipeline.engines.spark`), on Spark's local mode or a cluster named by an Airflow Connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from synth_pipeline.domain import Domain
from synth_pipeline.errors import ConfigError
from synth_pipeline.sources import ConnectionResolver, env_connection_resolver
from synth_pipeline.spec.engine import EngineSpec

Clique = tuple[int, ...]
ENGINES = ("local", "spark")


class Engine(Protocol):
    name: str

    def marginals(self, table: pd.DataFrame, domain: Domain, cliques: Sequence[Clique]) -> dict[Clique, np.ndarray]:
        """Exact counts of every clique's cells (C order over the clique's codes); refuses, as `Domain.encode`
        does, a table its domain does not cover."""
        ...


def make_engine(spec: EngineSpec, *, resolve_connection: ConnectionResolver = env_connection_resolver) -> Engine:
    """The engine a release spec's `engine:` block names, ready to count (a Spark session is started here)."""
    if spec.name == "local":
        from synth_pipeline.engines.local import LocalEngine

        return LocalEngine()
    if spec.name == "spark":
        from synth_pipeline.engines.spark import SparkEngine, master_from_connection

        master = spec.master if spec.conn_id is None else master_from_connection(resolve_connection(spec.conn_id))
        return SparkEngine(master)
    raise ConfigError(f"engine: expected one of {list(ENGINES)}, got {spec.name!r}")
