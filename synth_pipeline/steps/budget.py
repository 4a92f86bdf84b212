"""Steps around the privacy budget: split the PII-handled table, charge the ledger, settle the charge.

    pii_scan ─► split ─► charge_budget ─► train (marks the charge spent before reading data) ─► ...
                                          train ─► settle_budget (trigger rule all_done)

`charge_budget` checks what needs no budget first, so a run that cannot train is refused before it costs anything;
`settle_budget` releases a reservation that training never used. Reports hold counts and budget figures only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from synth_pipeline.errors import PrivacyConfigError
from synth_pipeline.generators import make_generator
from synth_pipeline.pii.output import output_schema
from synth_pipeline.privacy.contributions import bound_contributions, split_holdout
from synth_pipeline.privacy.estimation import plan_estimation
from synth_pipeline.privacy.ledger import LedgerEntry, ledger_for
from synth_pipeline.release_schema import modelled_columns
from synth_pipeline.runs import read_json, step_input, step_output, write_json
from synth_pipeline.spec import CategoricalColumn, ColumnSpec, EstimationBudget, LoadedSpec, NumericColumn, load_spec

TRAIN = "train.parquet"
HOLDOUT = "holdout.parquet"
REPORT = "report.json"


def run_split(spec_path: str | Path, run_dir: Path, *, seed: int | None) -> dict:
    """Bound each individual's rows, then split train | holdout. `seed=None` draws fresh OS entropy."""
    loaded = load_spec(spec_path)
    spec = loaded.spec
    table = pd.read_parquet(step_input(run_dir, "pii_scan") / "table.parquet")
    rng = np.random.default_rng(seed)
    bounded, contributions = bound_contributions(table, spec.privacy_unit, rng=rng)
    train, holdout, split = split_holdout(bounded, spec.privacy_unit, holdout_fraction=spec.evaluation.holdout_fraction,
                                          rng=rng)
    with step_output(run_dir, "split") as out:
        train.to_parquet(out / TRAIN, index=False)
        holdout.to_parquet(out / HOLDOUT, index=False)
        write_json(out / REPORT, {"spec_hash": loaded.spec_hash, "seeded": seed is not None,
                                  "contributions": contributions.to_dict(), **split.to_dict()})
    return {"uri": str(run_dir / "split"), "train_rows": split.train_rows, "holdout_rows": split.holdout_rows,
            "train_individuals": split.train_individuals, "rows_dropped_by_bound": contributions.rows_dropped_by_bound}


def _preflight(loaded: LoadedSpec, run_dir: Path) -> dict:
    """What must hold before anything is charged; reads the split's counts and column names, never its values."""
    spec = loaded.spec
    if spec.generator is None:
        raise PrivacyConfigError(f"release {spec.name!r} has no generator: nothing would be trained, so nothing "
                                 "may be charged")
    folder = step_input(run_dir, "split")
    individuals = read_json(folder / REPORT)["train_individuals"]
    if spec.privacy.delta >= 1 / individuals:
        raise PrivacyConfigError(
            f"privacy.delta = {spec.privacy.delta:g} must be below 1/n = {1 / individuals:.3g} for the n = "
            f"{individuals} individuals in the training table (at delta >= 1/n a mechanism may publish someone's "
            "record outright and still meet the guarantee): lower privacy.delta")
    # The PII step drops, replaces and generalizes columns (a ZIP prefix may need its levels estimated): what needs
    # a domain is the post-PII schema of the columns that reach training.
    columns = set(pq.read_schema(folder / TRAIN).names)
    trained_schema = {name: column for name, column in output_schema(spec.schema, spec.pii).items() if name in columns}
    estimation = spec.privacy.estimation
    plan = {} if estimation is None else plan_estimation(trained_schema, epsilon=estimation.epsilon,
                                                         delta=estimation.delta)
    _check_generator(loaded, individuals=individuals, spent_on_estimation=estimation if plan else None)
    return {column: {"epsilon": share.epsilon, "delta": share.delta} for column, share in plan.items()}


def _largest_domain(schema: dict[str, ColumnSpec]) -> dict[str, ColumnSpec]:
    """The modelled schema with every domain still to be estimated at the largest it can come out."""
    largest = {}
    for name, column in schema.items():
        if isinstance(column, CategoricalColumn) and column.categories is None:
            column = column.model_copy(update={"categories": tuple(f"level_{i}" for i in range(column.max_categories))})
        elif isinstance(column, NumericColumn) and column.estimate_bounds:
            column = column.model_copy(update={"estimate_bounds": False})
        largest[name] = column
    return largest


def _check_generator(loaded: LoadedSpec, *, individuals: int, spent_on_estimation: EstimationBudget | None) -> None:
    """The generator's own refusals (domain too large, table smaller than a batch, ...), on public facts only."""
    spec = loaded.spec
    generator = make_generator(spec.generator.name, spec.generator.params)
    schema, _ = modelled_columns(spec)
    epsilon, delta = spec.privacy.epsilon, spec.privacy.delta
    if spent_on_estimation is not None:
        epsilon, delta = epsilon - spent_on_estimation.epsilon, delta - spent_on_estimation.delta
    domain = generator.build_domain(_largest_domain(schema))
    generator.check_feasible(domain, n_rows=individuals, epsilon=epsilon, delta=delta, units=None)


def _mechanism(loaded: LoadedSpec, estimated: dict) -> str:
    generator = loaded.spec.generator
    parts = [f"generator={generator.name}"]
    if estimated:
        parts.append(f"domain_estimation={','.join(sorted(estimated))}")
    return "; ".join(parts)


def _charge_key(loaded: LoadedSpec, run_id: str) -> dict:
    return {"dataset": loaded.spec.dataset, "release": loaded.spec.name, "run_id": run_id}


def run_charge_budget(spec_path: str | Path, run_dir: Path, *, run_id: str) -> dict:
    """Reserve the run's full (epsilon, delta), estimation share included, after the pre-flight checks."""
    loaded = load_spec(spec_path)
    privacy = loaded.spec.privacy
    estimated = _preflight(loaded, run_dir)
    with ledger_for(loaded) as ledger:
        entry = ledger.reserve(**_charge_key(loaded, run_id), epsilon=privacy.epsilon, delta=privacy.delta,
                               mechanism=_mechanism(loaded, estimated), spec_hash=loaded.spec_hash)
        [standing] = ledger.summary(loaded.spec.dataset)
    remaining = {"epsilon": standing.remaining_epsilon, "delta": standing.remaining_delta}
    with step_output(run_dir, "charge_budget") as out:
        write_json(out / REPORT, {
            "spec_hash": loaded.spec_hash, "dataset": entry.dataset, "composition": "basic",
            "ledger_entry": {"id": entry.id, "status": entry.status}, "epsilon": entry.epsilon, "delta": entry.delta,
            "estimation": estimated, "mechanism": entry.mechanism,
            "lifetime": {"epsilon": standing.lifetime_epsilon, "delta": standing.lifetime_delta},
            "remaining": remaining})
    return {"uri": str(run_dir / "charge_budget" / REPORT), "dataset": entry.dataset, "ledger_entry_id": entry.id,
            "status": entry.status, "epsilon": entry.epsilon, "delta": entry.delta,
            "remaining_epsilon": remaining["epsilon"]}


def mark_charge_spent(loaded: LoadedSpec, *, run_id: str) -> LedgerEntry:
    """For the train step: make the run's charge final, before the generator reads any data."""
    with ledger_for(loaded) as ledger:
        return ledger.mark_spent(**_charge_key(loaded, run_id), spec_hash=loaded.spec_hash)


def run_settle_budget(spec_path: str | Path, run_dir: Path, *, run_id: str) -> dict:
    """After train, whatever happened: release a reservation training never marked spent; keep a spent charge."""
    loaded = load_spec(spec_path)
    with ledger_for(loaded) as ledger:
        settlement = ledger.release_unspent(**_charge_key(loaded, run_id))
        entry = settlement.entry
        # Without an entry (the charge itself failed, perhaps for an unconfigured dataset) there is nothing to show.
        standing = ledger.summary(loaded.spec.dataset)[0] if entry is not None else None
    document = {"spec_hash": loaded.spec_hash, "dataset": loaded.spec.dataset, "action": settlement.action,
                "ledger_entry": None if entry is None else {"id": entry.id, "status": entry.status},
                "remaining": None if standing is None else {"epsilon": standing.remaining_epsilon,
                                                            "delta": standing.remaining_delta}}
    with step_output(run_dir, "settle_budget") as out:
        write_json(out / REPORT, document)
    return {"uri": str(run_dir / "settle_budget" / REPORT), "action": settlement.action,
            "status": None if entry is None else entry.status}

