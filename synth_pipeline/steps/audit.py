"""The privacy audit: train on a copy of the training table with planted canaries and measure how detectable they
are, an empirical lower bound on epsilon to set beside the claimed one (`synth_pipeline.evaluate.audit`).

The audit trains on private data, so it is a charged run like any other: it reserves and spends the spec's budget in
the ledger under a run id of its own, which the CLI mints for every audit (an audit never fits under the charge of
another run). Its output is post-processing of a DP sample and public canaries; it goes to the run folder and the
console, never into a release.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from synth_pipeline.evaluate.audit import (
    audit_epsilon_lower_bound,
    canary_scores,
    draw_inclusion,
    make_canaries,
    plant_canaries,
)
from synth_pipeline.evaluate.encoding import MixedEncoder
from synth_pipeline.generators import make_generator
from synth_pipeline.release_schema import modelled_columns
from synth_pipeline.runs import step_input, step_output, write_json
from synth_pipeline.spec import UnitKey, load_spec
from synth_pipeline.steps.budget import mark_charge_spent

CONFIDENCE = 0.95


def _units(unit, train: pd.DataFrame, planted: int):
    """Each canary is an individual of its own, with one row."""
    from synth_pipeline.generators.base import Individuals

    if not isinstance(unit, UnitKey):
        return None
    ids = np.concatenate([train[unit.key].astype(str).to_numpy(), [f"canary-{i}" for i in range(planted)]])
    return Individuals(ids=ids, max_rows=unit.max_rows)


def run_audit(spec_path: str | Path, run_dir: Path, *, run_id: str, canaries: int, seed: int | None) -> dict:
    loaded = load_spec(spec_path)
    spec = loaded.spec
    schema, _ = modelled_columns(spec)
    rng = np.random.default_rng(seed)
    generator = make_generator(spec.generator.name, spec.generator.params)
    domain = generator.build_domain(schema)  # declared domains only: canaries are drawn from them
    planted_canaries = make_canaries(schema, count=canaries, rng=rng)
    included = draw_inclusion(canaries, rng=rng)
    entry = mark_charge_spent(loaded, run_id=run_id)  # the audit's training reads private data: it is charged
    train = pd.read_parquet(step_input(run_dir, "split") / "train.parquet")
    table = plant_canaries(train[list(schema)], planted_canaries, included)
    started = time.perf_counter()
    model = generator.fit(table, domain, epsilon=spec.privacy.epsilon, delta=spec.privacy.delta,
                          units=_units(spec.privacy_unit, train, int(included.sum())), rng=rng)
    # As many rows as the model's DP estimate of its training table: the true count is private.
    synthetic = model.sample(model.released_rows, rng)
    encoder = MixedEncoder.for_release(schema, synthetic)
    scores = canary_scores(planted_canaries, synthetic, encoder)
    bound = audit_epsilon_lower_bound(scores[included], scores[~included], delta=spec.privacy.delta,
                                      confidence=CONFIDENCE, rng=rng)
    document = {"run_id": run_id, "spec_hash": loaded.spec_hash, "generator": spec.generator.name,
                "claimed_epsilon": spec.privacy.epsilon, "delta": spec.privacy.delta, "canaries": canaries,
                "canaries_included": int(included.sum()),
                "ledger_entry": {"id": entry.id, "attempt": entry.attempt, "status": entry.status}, **bound.to_dict(),
                "consistent": bound.epsilon_lower_bound <= spec.privacy.epsilon,
                "seconds": round(time.perf_counter() - started, 1)}
    with step_output(run_dir, "audit") as out:
        write_json(out / "report.json", document)
    return document
