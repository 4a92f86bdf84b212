"""Steps that train the generator and draw the synthetic table.

    charge_budget ─► train ─► sample

`train` makes the run's charge final before it reads a row (invariant 3), estimates what the schema leaves
undeclared under DP, then fits the generator on the rest of the budget (basic composition of the two). Everything it
writes is DP or public except the run folder's internal report. `sample` is post-processing: it costs nothing.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from synth_pipeline.engines import make_engine
from synth_pipeline.generators import make_generator
from synth_pipeline.privacy.contributions import max_rows_per_unit
from synth_pipeline.privacy.estimation import estimate_domain
from synth_pipeline.release_schema import modelled_columns
from synth_pipeline.runs import step_input, step_output, write_json
from synth_pipeline.sources import ConnectionResolver, env_connection_resolver
from synth_pipeline.spec import LoadedSpec, UnitKey, load_spec
from synth_pipeline.steps.budget import mark_charge_spent

MODEL = "model"
SYNTHETIC = "synthetic.parquet"
REPORT = "report.json"
log = logging.getLogger(__name__)


def _rngs(seed: int | None, *, step: str) -> list[np.random.Generator]:
    """Independent streams per step and purpose. seed=None: fresh OS entropy (production: the noise stays secret)."""
    sequence = np.random.SeedSequence(seed, spawn_key=(sum(step.encode()),)) if seed is not None else np.random.SeedSequence()
    return [np.random.default_rng(child) for child in sequence.spawn(2)]


def _units(loaded: LoadedSpec, train: pd.DataFrame):
    from synth_pipeline.generators.base import Individuals  # torch: loaded by the tasks that train, not by the CLI

    unit = loaded.spec.privacy_unit
    return Individuals(ids=train[unit.key].to_numpy(), max_rows=unit.max_rows) if isinstance(unit, UnitKey) else None


def run_train(spec_path: str | Path, run_dir: Path, *, run_id: str, seed: int | None,
              resolve_connection: ConnectionResolver = env_connection_resolver) -> dict:
    from synth_pipeline.generators.base import save_model

    loaded = load_spec(spec_path)
    spec = loaded.spec
    generator = make_generator(spec.generator.name, spec.generator.params)
    schema, left_out = modelled_columns(spec)
    # Before the charge: an engine that cannot start (no cluster, no Java) costs no budget. Only aim takes one (the
    # spec refuses a non-local engine for the others).
    engine = {} if spec.engine.name == "local" else {"engine": make_engine(spec.engine,
                                                                          resolve_connection=resolve_connection)}
    # The charge becomes final here, before the first read of private data: a run that trains keeps its charge.
    entry = mark_charge_spent(loaded, run_id=run_id)
    train = pd.read_parquet(step_input(run_dir, "split") / "train.parquet")
    units = _units(loaded, train)
    table = train[list(schema)]
    estimation_rng, fit_rng = _rngs(seed, step="train")

    estimating = any(column.needs_estimation for column in schema.values())
    estimation = None
    if estimating:
        budget = spec.privacy.estimation  # the spec refuses an undeclared domain without this budget
        schema, estimation = estimate_domain(table, schema, epsilon=budget.epsilon, delta=budget.delta,
                                             max_rows_per_unit=max_rows_per_unit(spec.privacy_unit), rng=estimation_rng)
    # Basic composition: what estimation and the release decision take is what the generator does not get. The
    # size checks were made before the charge, on the declared floor; `fit` refuses nothing on the true size.
    epsilon, delta = spec.privacy.generator_budget(estimating=estimating)
    domain = generator.build_domain(schema)

    started = time.perf_counter()
    log.info("train: fitting %s on %d columns at epsilon=%.4g, delta=%.3g", spec.generator.name, len(schema),
             epsilon, delta)
    model = generator.fit(table, domain, epsilon=epsilon, delta=delta, units=units, rng=fit_rng, **engine)
    # The fit's duration grows with the private row count: it stays in the run folder, out of XCom and the logs.
    fit_s = time.perf_counter() - started
    params = generator.params.model_dump(mode="json")
    with step_output(run_dir, "train") as out:
        save_model(model, out / MODEL, params=params)
        write_json(out / REPORT, {
            "spec_hash": loaded.spec_hash, "generator": spec.generator.name, "params": params,
            "ledger_entry": {"id": entry.id, "status": entry.status},
            "privacy": {"epsilon": spec.privacy.epsilon, "delta": spec.privacy.delta, "generator": model.privacy,
                        "estimation": estimation.to_dict() if estimation is not None else None},
            "modelled_columns": list(schema), "not_released": left_out, "released_rows": model.released_rows,
            "seeded": seed is not None, "fit_s": round(fit_s, 2),
        })
    return {"uri": str(run_dir / "train" / MODEL), "generator": spec.generator.name,
            "epsilon": spec.privacy.epsilon, "ledger_entry_id": entry.id}


def run_sample(spec_path: str | Path, run_dir: Path, *, seed: int | None) -> dict:
    from synth_pipeline.generators.base import load_model

    loaded = load_spec(spec_path)
    model = load_model(step_input(run_dir, "train") / MODEL)
    # Rows to release: the spec's figure, else the model's DP estimate of the training table's size (never the
    # true count, which is private).
    rows = loaded.spec.publish.rows or model.released_rows
    started = time.perf_counter()
    synthetic = model.sample(rows, _rngs(seed, step="sample")[0])
    with step_output(run_dir, "sample") as out:
        synthetic.to_parquet(out / SYNTHETIC, index=False)
        write_json(out / REPORT, {"spec_hash": loaded.spec_hash, "rows": len(synthetic),
                                  "columns": list(synthetic.columns), "sample_s": round(time.perf_counter() - started, 2)})
    return {"uri": str(run_dir / "sample" / SYNTHETIC), "rows": len(synthetic)}
