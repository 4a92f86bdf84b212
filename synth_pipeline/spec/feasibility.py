"""Checks across sections that refuse, at validation, a spec whose run could only fail later: after the data was
read, after the budget was charged, or after a steward approved. Each check uses the spec alone (public facts).

The pre-flight of `charge_budget` repeats the generator's own refusals on the declared domain; these come earlier
still, so `validate-spec` (and the DAG file) refuse them before any run starts.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from synth_pipeline.spec.limits import (
    ACCOUNTANT_MAX_ORDER,
    MAX_NETWORK_WEIGHTS,
    MAX_RELEASE_CELLS,
    MAX_WORKLOAD_MARGINALS,
    MIN_GENERATOR_RHO,
)
from synth_pipeline.spec.schema import BooleanColumn, CategoricalColumn, ColumnSpec, NumericColumn

if TYPE_CHECKING:
    from synth_pipeline.spec.release import ReleaseSpec


def _modelled_columns(spec: ReleaseSpec) -> dict[str, ColumnSpec] | None:
    """The columns a generator models, on their released domain (`synth_pipeline.release_schema`); None when the PII
    policy holds a generalization that does not fit its column (the policy check reports that, once)."""
    from synth_pipeline.release_schema import modelled_columns  # here: it imports the spec package

    try:
        return modelled_columns(spec)[0]
    except ValueError:
        return None


def _estimation_problems(spec: ReleaseSpec, modelled: dict[str, ColumnSpec]) -> list[str]:
    estimation = spec.privacy.estimation
    estimated = [name for name, column in modelled.items()
                 if isinstance(column, CategoricalColumn) and column.needs_estimation]
    if estimation is None or not estimated or estimation.delta > 0:
        return []
    # The thresholded histogram keeps a level held by one individual out with probability 1 - delta: at delta 0
    # the threshold is infinite (`synth_pipeline.privacy.estimation.histogram_threshold`).
    return [f"privacy.estimation.delta: must be above 0 to estimate the categories of {', '.join(estimated)} (the "
            "threshold that keeps a level held by one individual out of the release is set from delta)"]


def smallest_generator_epsilon(delta: float) -> float:
    """An epsilon from which the accountant finds a zCDP budget of at least MIN_GENERATOR_RHO at `delta`. At the
    largest order a the conversion gives epsilon(rho) = a rho + (ln(1/delta) - ln a) / (a - 1) + ln(1 - 1/a), and the
    accountant takes the smallest over its orders: dropping the two negative terms leaves a sufficient bound (in
    pure Python: the accountant itself loads Opacus, too heavy for the spec loader)."""
    order = ACCOUNTANT_MAX_ORDER
    return order * MIN_GENERATOR_RHO - math.log(delta) / (order - 1)


def _budget_problems(spec: ReleaseSpec, modelled: dict[str, ColumnSpec]) -> list[str]:
    estimating = spec.privacy.estimation is not None and any(column.needs_estimation for column in modelled.values())
    epsilon, delta = spec.privacy.generator_budget(estimating=estimating)
    floor = smallest_generator_epsilon(delta)
    if epsilon >= floor:
        return []
    return [f"privacy.epsilon: the generator's share (epsilon {epsilon:.3g} at delta {delta:.3g}, after the release "
            f"decision{' and the estimation' if estimating else ''}) is below {floor:.3g}, the least the accountant "
            "can spend at that delta: raise epsilon (or delta)"]


def _codes_at_most(column: ColumnSpec, numeric_bins: int) -> int:
    """An upper bound on the codes `synth_pipeline.domain` gives the column (the largest estimate, when estimated)."""
    if isinstance(column, CategoricalColumn):
        values = len(column.categories) if column.categories else column.max_categories
    elif isinstance(column, BooleanColumn):
        values = 2
    elif isinstance(column, NumericColumn) and column.values is not None:
        values = len(column.values)
    elif isinstance(column, NumericColumn) and column.bin_edges is not None:
        values = len(column.bin_edges) - 1
    elif isinstance(column, NumericColumn) and column.estimate_bin_edges is not None:
        values = column.estimate_bin_edges
    else:  # numeric or datetime bins; an integer column with fewer values gets fewer codes
        values = numeric_bins
    atoms = len(column.atoms or ()) if isinstance(column, NumericColumn) else 0
    return values + atoms + int(column.nullable)


def network_weights(sizes: list[int], embedding_dim: int, hidden: int) -> int:
    """`AutoregressiveNet`'s weights: the embedding table, and per column j a head (j * embedding_dim -> hidden ->
    its codes)."""
    heads = sum((max(j, 1) * embedding_dim + 1) * hidden + (hidden + 1) * size for j, size in enumerate(sizes))
    return sum(sizes) * embedding_dim + heads


def _generator_problems(spec: ReleaseSpec, modelled: dict[str, ColumnSpec]) -> list[str]:
    from synth_pipeline.errors import GeneratorError
    from synth_pipeline.generators import parse_params
    from synth_pipeline.generators.params import AimParams, AutoregressiveParams

    try:
        params = parse_params(spec.generator.name, spec.generator.params)
    except GeneratorError:
        return []  # the generator check lists these
    problems = []
    for name, column in modelled.items():
        # The domain refuses a column with more codes than max_levels at charge_budget's pre-flight; with the
        # estimated levels that is after the data was read. Here it is the declared count, or the most estimated.
        if isinstance(column, CategoricalColumn):
            levels, what = (len(column.categories), "categories") if column.categories else (
                column.max_categories, "max_categories")
        elif isinstance(column, NumericColumn) and column.values is not None:
            levels, what = len(column.values), "values"
        elif isinstance(column, NumericColumn) and column.bin_edges is not None:
            levels, what = len(column.bin_edges) - 1 + len(column.atoms or ()), "bin_edges"
        else:
            continue
        if levels > params.max_levels:
            problems.append(f"schema.{name}.{what}: {levels} levels, more than generator.params.max_levels "
                            f"({params.max_levels}) allows a generator to model; group rare levels in harmonize")
    if isinstance(params, AimParams):
        ways = min(params.workload_ways, len(modelled))
        marginals = math.comb(len(modelled), ways)
        if marginals > MAX_WORKLOAD_MARGINALS:
            problems.append(f"generator.params.workload_ways: {ways}-way marginals on {len(modelled)} columns are "
                            f"{marginals:,} marginals, more than {MAX_WORKLOAD_MARGINALS:,} (AIM holds a count array "
                            "for each): lower workload_ways, or model fewer columns")
    if isinstance(params, AutoregressiveParams):
        sizes = [_codes_at_most(column, params.numeric_bins) for column in modelled.values()]
        weights = network_weights(sizes, params.embedding_dim, params.hidden)
        if weights > MAX_NETWORK_WEIGHTS:
            problems.append(f"generator.params: the network on {len(sizes)} columns would have up to {weights:,} "
                            f"weights, more than {MAX_NETWORK_WEIGHTS:,} (a worker's memory): lower hidden or "
                            "embedding_dim, or model fewer columns or levels")
    return problems


def feasibility_problems(spec: ReleaseSpec) -> list[str]:
    """Problems, one per line, each naming its key path; empty when the spec's run is feasible on its face."""
    modelled = _modelled_columns(spec)
    if modelled is None:
        return []
    problems = _estimation_problems(spec, modelled)
    if spec.generator is not None:
        problems += _budget_problems(spec, modelled) + _generator_problems(spec, modelled)
    rows = spec.publish.rows
    if rows is not None and rows * max(1, len(modelled)) > MAX_RELEASE_CELLS:
        problems.append(f"publish.rows: {rows:,} rows of {len(modelled)} columns are more than {MAX_RELEASE_CELLS:,} "
                        "cells, more than a worker samples in memory")
    return problems
