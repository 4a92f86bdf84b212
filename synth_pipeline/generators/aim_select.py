"""AIM's adaptive choice of marginals (McKenna, Mullins, Sheldon & Miklau 2022, Algorithm 2), on integer codes.

Round by round, the exponential mechanism picks the candidate marginal the current model gets most wrong, net of
the noise measuring it would add, weighted by how much of the workload it covers; the Gaussian mechanism measures
it; the graphical model is refitted to every measurement so far. When a measurement barely moves the model the
noise is halved (budget annealing), and the last round spends exactly what is left. The model may only grow in
proportion to the budget spent, up to `max_model_cells`.

Privacy (`synth_pipeline.privacy.accounting`): the budget is in units where a Gaussian measurement with noise
sigma on counts of L2 sensitivity Delta costs Delta^2 / (2 sigma^2): zCDP's rho under `accounting: rdp`, mu^2 / 2
under `accounting: gdp` (AIM-GDP; `privacy/tight.py`). A selection at epsilon costs epsilon^2 / 8 in zCDP (bounded
range, Cesar & Rogers 2021) or, in GDP, half the square of the mu of an epsilon-DP mechanism. Delta is the most rows
one individual contributes (1 for row-level privacy): one person changes one marginal's counts by at most that in
L2 and L1, and each score by at most Delta * its workload weight.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from synth_pipeline.generators import pgm
from synth_pipeline.generators.params import AimParams
from synth_pipeline.privacy import tight
from synth_pipeline.privacy.accounting import Accountant, gaussian_rho

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AimResult:
    model: pgm.GraphicalModel
    measurements: tuple[pgm.Measurement, ...]
    total: float  # the DP estimate of the row count
    rounds: int


def candidates_and_weights(attributes: int, workload_ways: int, *, target: int | None = None,
                           target_ways: int = 3) -> dict[pgm.Clique, float]:
    """The workload's downward closure with AIM's weights w_r = sum over workload marginals s of |r & s|. With a
    `target` column, every marginal of `target_ways` columns that includes it joins the workload."""
    workload = list(itertools.combinations(range(attributes), min(workload_ways, attributes)))
    if target is not None and target_ways > workload_ways:
        others = [a for a in range(attributes) if a != target]
        workload += [tuple(sorted((target, *rest)))
                     for rest in itertools.combinations(others, min(target_ways, attributes) - 1)]
    closure = {sub for s in workload for k in range(1, len(s) + 1) for sub in itertools.combinations(s, k)}
    return {r: float(sum(len(set(r) & set(s)) for s in workload)) for r in sorted(closure, key=lambda c: (len(c), c))}


def measured_cliques(sizes: Sequence[int], settings: AimParams, *, target: int | None) -> dict[pgm.Clique, float]:
    """The marginals AIM may measure, with their workload weights: every candidate small enough to measure, and
    every one-way marginal. Their exact counts are all AIM ever reads of the data."""
    candidates = candidates_and_weights(len(sizes), settings.workload_ways, target=target,
                                        target_ways=settings.target_ways)
    return {r: w for r, w in candidates.items() if pgm.cells(r, sizes) <= settings.max_clique_cells or len(r) == 1}


def selection_cost(*, epsilon: float, method: str) -> float:
    """What choosing by the exponential mechanism at `epsilon` costs in the budget's units."""
    return epsilon**2 / 8 if method == "rdp" else tight.pure_dp_mu(epsilon=epsilon) ** 2 / 2


def selection_epsilon(*, cost: float, method: str) -> float:
    """The exponential mechanism's epsilon that costs `cost` in the budget's units (inverse of selection_cost)."""
    return math.sqrt(8 * cost) if method == "rdp" else tight.pure_dp_epsilon(mu=math.sqrt(2 * cost))


class _Estimate:
    """Measurements so far, the DP row count they imply, and the model fitted to them."""

    def __init__(self, sizes: Sequence[int], settings: AimParams):
        self.sizes, self.settings = tuple(sizes), settings
        self.measurements: list[pgm.Measurement] = []
        self.tree = pgm.build_junction_tree([(a,) for a in range(len(sizes))], sizes)
        self.model = pgm.GraphicalModel(self.tree, sizes)

    def add(self, measurement: pgm.Measurement) -> None:
        self.measurements.append(measurement)
        if self.tree.home(measurement.clique) < 0:
            self.tree = self.grown_tree(measurement.clique)
            self.model = pgm.reshape_onto(self.model, self.tree)

    def grown_tree(self, clique: pgm.Clique) -> pgm.JunctionTree:
        # The old junction cliques stay cliques of the new graph, so the old potentials have a home in it.
        return pgm.build_junction_tree(list(self.tree.cliques) + [clique], self.sizes)

    @property
    def total(self) -> float:
        """Inverse-variance weighted mean of the measurements' noisy totals (each a sum of noisy cells); post-
        processing of DP measurements, hence a DP row count."""
        weights = [1.0 / (len(m.y) * m.sigma**2) for m in self.measurements]
        sums = [float(m.y.sum()) for m in self.measurements]
        return max(1.0, sum(w * s for w, s in zip(weights, sums)) / sum(weights))

    def refit(self, iterations: int) -> float:
        self.model, loss = pgm.fit(self.model, self.measurements, total=self.total, sweeps=self.settings.sweeps,
                                   iterations=iterations)
        return loss


def run_aim(data: Mapping[pgm.Clique, np.ndarray], sizes: Sequence[int], *, rho: float, sensitivity: float,
            settings: AimParams, accountant: Accountant, delta: float, rng: np.random.Generator,
            target: int | None = None) -> AimResult:
    """Spend exactly `rho` (in the units of `accountant.method`) on AIM's selections and measurements of `data`,
    the exact counts of every clique `measured_cliques` names (an engine computed them, wherever the rows are);
    every charge goes to `accountant` (`delta` only to log the epsilon spent so far). `target`: the index of
    `settings.target`."""
    attributes = len(sizes)
    weights = measured_cliques(sizes, settings, target=target)
    score_sensitivity = sensitivity * max(weights.values())
    # The one-way marginals get their share of the budget at one noise scale; each later round gets
    # (rest) / T, split between choosing (epsilon) and measuring (sigma).
    one_way_sigma = sensitivity / math.sqrt(2 * settings.one_way_share * rho / attributes)
    per_round = (1 - settings.one_way_share) * rho / settings.rounds
    sigma = sensitivity / math.sqrt(2 * (1 - settings.selection_share) * per_round)
    method = accountant.method
    epsilon = selection_epsilon(cost=settings.selection_share * per_round, method=method)
    estimate, used = _Estimate(sizes, settings), 0.0

    def measure(clique: pgm.Clique, noise: float, purpose: str) -> None:
        nonlocal used
        y = data[clique] + rng.normal(0.0, noise, size=len(data[clique]))
        estimate.add(pgm.Measurement(clique, torch.as_tensor(y), noise))
        accountant.gaussian(purpose=purpose, sensitivity=sensitivity, sigma=noise)
        used += gaussian_rho(sensitivity=sensitivity, sigma=noise)

    for a in range(attributes):
        measure((a,), one_way_sigma, "one-way marginal")
    estimate.refit(settings.iterations)
    rounds, grown = 0, {}
    while rho - used > 1e-12 * rho:
        remaining = rho - used
        round_cost = gaussian_rho(sensitivity=sensitivity, sigma=sigma) + selection_cost(epsilon=epsilon, method=method)
        if remaining < 2 * round_cost:  # not enough for two more rounds: this one spends all of it
            sigma = sensitivity / math.sqrt(2 * (1 - settings.selection_share) * remaining)
            epsilon = selection_epsilon(cost=settings.selection_share * remaining, method=method)
        rounds += 1
        # The model may grow with the budget spent (AIM's guard against cliques too large to estimate well).
        size_limit = settings.max_model_cells * (used + round_cost) / rho
        allowed = []
        for r in weights:
            if estimate.tree.home(r) < 0 and (estimate.tree.cliques, r) not in grown:
                grown[estimate.tree.cliques, r] = estimate.grown_tree(r).size(sizes)
            if estimate.tree.home(r) >= 0 or grown[estimate.tree.cliques, r] <= size_limit:
                allowed.append(r)
        beliefs, total = estimate.model.beliefs(), estimate.total
        model_counts = {r: total * estimate.model.marginal(r, beliefs).reshape(-1).numpy() for r in allowed}
        scores = np.array([weights[r] * (np.abs(data[r] - model_counts[r]).sum()
                                         - math.sqrt(2 / math.pi) * sigma * pgm.cells(r, sizes)) for r in allowed])
        # Exponential mechanism by the Gumbel-max trick: argmax of eps * q / (2 Delta_q) + Gumbel noise.
        chosen = allowed[int(np.argmax(epsilon * scores / (2 * score_sensitivity) + rng.gumbel(size=len(allowed))))]
        accountant.exponential(purpose="choose a marginal", epsilon=epsilon)
        used += selection_cost(epsilon=epsilon, method=method)
        measure(chosen, sigma, "chosen marginal")
        before = model_counts[chosen]
        loss = estimate.refit(settings.iterations)
        after = estimate.total * estimate.model.marginal(chosen).reshape(-1).numpy()
        log.info("AIM round %d: measured %s (%d cells, sigma %.1f); model %d cells, loss %.4g; epsilon spent %.4f",
                 rounds, chosen, pgm.cells(chosen, sizes), sigma, estimate.tree.size(sizes), loss,
                 accountant.epsilon(delta=delta))
        if np.abs(after - before).sum() <= math.sqrt(2 / math.pi) * sigma * pgm.cells(chosen, sizes):
            sigma, epsilon = sigma / 2, epsilon * 2  # the model learnt little: measure more precisely
    estimate.refit(settings.final_iterations)
    return AimResult(estimate.model, tuple(estimate.measurements), estimate.total, rounds)
