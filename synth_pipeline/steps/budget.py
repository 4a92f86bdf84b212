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
from synth_pipeline.privacy.contributions import bound_contributions, split_holdout, training_floor
from synth_pipeline.privacy.decision import MECHANISM as DECISION_MECHANISM
from synth_pipeline.privacy.estimation import plan_estimation
from synth_pipeline.privacy.ledger import LedgerEntry, ledger_for
from synth_pipeline.release_schema import modelled_columns
from synth_pipeline.runs import step_input, step_output, write_json
from synth_pipeline.spec import CategoricalColumn, ColumnSpec, LoadedSpec, NumericColumn, load_spec

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
    # The sizes are private (the split is random, and they count people): they stay in the run folder's report.
    return {"uri": str(run_dir / "split"), "seeded": seed is not None}


def preflight(loaded: LoadedSpec, run_dir: Path) -> dict:
    """What must hold before anything is charged, decided on public facts only: the spec, the declared
    `privacy.min_individuals` and the split's column names. Never on the true size: a refusal that depends on it
    would answer "is n below x?" for free, as often as a spec author likes."""
    spec = loaded.spec
    if spec.generator is None:
        raise PrivacyConfigError(f"release {spec.name!r} has no generator: nothing would be trained, so nothing "
                                 "may be charged")
    floor = training_floor(min_individuals=spec.privacy.min_individuals,
                           holdout_fraction=spec.evaluation.holdout_fraction)
    if spec.privacy.delta >= 1 / spec.privacy.min_individuals:
        raise PrivacyConfigError(
            f"privacy.delta = {spec.privacy.delta:g} must be below 1/n = {1 / spec.privacy.min_individuals:.3g} for "
            f"the declared privacy.min_individuals = {spec.privacy.min_individuals} (at delta >= 1/n a mechanism may "
            "publish someone's record outright and still meet the guarantee): lower privacy.delta")
    folder = step_input(run_dir, "split")
    # The PII step drops, replaces and generalizes columns (a ZIP prefix may need its levels estimated): what needs
    # a domain is the post-PII schema of the columns that reach training.
    columns = set(pq.read_schema(folder / TRAIN).names)
    trained_schema = {name: column for name, column in output_schema(spec.schema, spec.pii).items() if name in columns}
    estimation = spec.privacy.estimation
    plan = {} if estimation is None else plan_estimation(trained_schema, epsilon=estimation.epsilon,
                                                         delta=estimation.delta)
    _check_generator(loaded, min_units=floor, estimating=bool(plan))
    return {column: {"epsilon": share.epsilon, "delta": share.delta} for column, share in plan.items()}


def _largest_domain(schema: dict[str, ColumnSpec]) -> dict[str, ColumnSpec]:
    """The modelled schema with every domain still to be estimated at the largest it can come out."""
    largest = {}
    for name, column in schema.items():
        if isinstance(column, CategoricalColumn) and column.categories is None:
            column = column.model_copy(update={"categories": tuple(f"level_{i}" for i in range(column.max_categories))})
        elif isinstance(column, NumericColumn) and column.needs_estimation:
            bins = column.estimate_bin_edges  # at most this many bins come out (repeated cut points are merged)
            edges = None
            if bins and column.max > column.min:
                edges = np.linspace(column.min, column.max, bins + 1)
                if column.type == "integer":  # whole-number cuts, as the estimate makes them
                    edges = np.unique(np.concatenate(([column.min], np.ceil(edges[1:-1]), [column.max])))
                edges = tuple(float(edge) for edge in edges)
            column = column.model_copy(update={"estimate_bounds": False, "estimate_bin_edges": None,
                                               "bin_edges": edges})
        largest[name] = column
    return largest


def _check_generator(loaded: LoadedSpec, *, min_units: int, estimating: bool) -> None:
    """The generator's own refusals (domain too large, a batch above the declared size, ...), on public facts."""
    spec = loaded.spec
    generator = make_generator(spec.generator.name, spec.generator.params)
    schema, _ = modelled_columns(spec)
    epsilon, delta = spec.privacy.generator_budget(estimating=estimating)
    domain = generator.build_domain(_largest_domain(schema))
    generator.check_feasible(domain, min_units=min_units, epsilon=epsilon, delta=delta)


def budget_plan(spec, estimated: dict) -> list[dict]:
    """How the run's (epsilon, delta) is divided, by basic composition: the accountant's list for the reports and
    the data card. Every part is a public parameter."""
    generator_epsilon, generator_delta = spec.privacy.generator_budget(estimating=bool(estimated))
    plan = []
    if estimated:
        plan.append({"part": "domain_estimation", "epsilon": spec.privacy.estimation.epsilon,
                     "delta": spec.privacy.estimation.delta, "columns": sorted(estimated)})
    plan.append({"part": "generator", "name": spec.generator.name, "epsilon": generator_epsilon,
                 "delta": generator_delta})
    plan.append({"part": "release_decision", "mechanism": DECISION_MECHANISM,
                 "epsilon": spec.privacy.release_decision_epsilon, "delta": 0.0})
    return plan


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
    estimated = preflight(loaded, run_dir)
    with ledger_for(loaded) as ledger:
        ledger.check_sources(loaded)
        entry = ledger.reserve(**_charge_key(loaded, run_id), epsilon=privacy.epsilon, delta=privacy.delta,
                               mechanism=_mechanism(loaded, estimated), spec_hash=loaded.spec_hash)
        [standing] = ledger.summary(loaded.spec.dataset)
    remaining = {"epsilon": standing.remaining_epsilon, "delta": standing.remaining_delta}
    with step_output(run_dir, "charge_budget") as out:
        write_json(out / REPORT, {
            "spec_hash": loaded.spec_hash, "dataset": entry.dataset, "composition": "basic",
            "ledger_entry": {"id": entry.id, "status": entry.status}, "epsilon": entry.epsilon, "delta": entry.delta,
            "estimation": estimated, "plan": budget_plan(loaded.spec, estimated), "mechanism": entry.mechanism,
            "lifetime": {"epsilon": standing.lifetime_epsilon, "delta": standing.lifetime_delta},
            "remaining": remaining})
    return {"uri": str(run_dir / "charge_budget" / REPORT), "dataset": entry.dataset, "ledger_entry_id": entry.id,
            "status": entry.status, "epsilon": entry.epsilon, "delta": entry.delta,
            "remaining_epsilon": remaining["epsilon"]}


def mark_charge_spent(loaded: LoadedSpec, *, run_id: str) -> LedgerEntry:
    """For every fit (train, audit), before the generator reads any data: the run's first fit makes its reservation
    final; a later fit of the same run is charged again as a new attempt, or refused past the lifetime."""
    with ledger_for(loaded) as ledger:
        return ledger.begin_fit(**_charge_key(loaded, run_id), spec_hash=loaded.spec_hash)


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

