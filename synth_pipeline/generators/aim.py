"""`aim`: the marginal-based generator. AIM chooses and measures noisy marginals (Gaussian mechanism, zCDP), a
Private-PGM graphical model is fitted to them, and synthetic rows are sampled from the model.

Only the measurements touch the data; the model, the row count it releases (the noisy marginals' totals) and every
sample are post-processing. One individual with up to `max_rows` rows changes any marginal by at most that many
counts, so the sensitivity is `max_rows` (1 per row), and the whole fit spends exactly the zCDP budget that
(epsilon, delta) allows under the accountant's conversion.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from synth_pipeline.domain import Domain
from synth_pipeline.engines import Engine
from synth_pipeline.engines.local import LocalEngine
from synth_pipeline.errors import GeneratorError, PrivacyConfigError
from synth_pipeline.generators import pgm
from synth_pipeline.generators.aim_select import measured_cliques, run_aim
from synth_pipeline.generators.base import CodedGenerator, Individuals, check_budget, sensitivity_of, single_thread
from synth_pipeline.generators.params import AimParams
from synth_pipeline.privacy import tight
from synth_pipeline.privacy.accounting import Accountant, RdpCurve, rho_for_budget

log = logging.getLogger(__name__)


class AimModel:
    generator: ClassVar[str] = "aim"

    def __init__(self, model: pgm.GraphicalModel, *, domain: Domain, privacy: dict, released_rows: int):
        self.model, self.domain, self.privacy, self.released_rows = model, domain, privacy, released_rows

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        if n < 0:
            raise GeneratorError(f"cannot sample {n} rows")
        return self.domain.decode(self.model.sample(n, rng), rng)

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors = {f"potential.{i}": p for i, p in enumerate(self.model.potentials)}
        return tensors, {"cliques": [list(c) for c in self.model.tree.cliques]}

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict, *, domain: Domain, params: dict,
                   privacy: dict, released_rows: int) -> AimModel:
        try:
            cliques = [tuple(int(a) for a in c) for c in meta["cliques"]]
            potentials = [tensors[f"potential.{i}"].to(torch.float64) for i in range(len(cliques))]
        except (KeyError, TypeError, ValueError) as exc:
            raise GeneratorError(f"aim model state is incomplete ({exc})") from None
        if len(tensors) != len(cliques):
            raise GeneratorError("aim model state holds tensors its structure does not name")
        sizes = domain.sizes
        if any(a < 0 or a >= len(sizes) for c in cliques for a in c):
            raise GeneratorError("aim model state names columns outside its domain")
        tree = pgm.build_junction_tree(cliques, sizes)
        if tree.cliques != tuple(cliques):
            raise GeneratorError("aim model state: its cliques do not form the junction tree they were saved as")
        for clique, potential in zip(cliques, potentials):
            if list(potential.shape) != [sizes[a] for a in clique] or not torch.isfinite(potential).all():
                raise GeneratorError(f"aim model state: the potential of clique {clique} is malformed")
        return cls(pgm.GraphicalModel(tree, sizes, potentials), domain=domain, privacy=privacy,
                   released_rows=released_rows)


class AimGenerator(CodedGenerator):
    name: ClassVar[str] = "aim"
    model_class: ClassVar[type] = AimModel

    params: AimParams

    def check_feasible(self, domain: Domain, *, min_units: int | None, epsilon: float, delta: float) -> None:
        check_budget(epsilon=epsilon, delta=delta, min_units=min_units)
        if not domain.columns:
            raise PrivacyConfigError("the domain has no columns to model")
        if self.params.target is not None and self.params.target not in domain.names:
            raise PrivacyConfigError(f"generator.params.target {self.params.target!r} is not a modelled column")
        for codec in domain.columns:
            if codec.size > self.params.max_clique_cells:
                raise PrivacyConfigError(f"column {codec.name!r} has {codec.size} codes, more than max_clique_cells "
                                         f"({self.params.max_clique_cells}): its marginal could never be measured")
        if sum(domain.sizes) > self.params.max_model_cells:
            raise PrivacyConfigError(f"the one-way marginals alone ({sum(domain.sizes)} cells) exceed "
                                     f"max_model_cells ({self.params.max_model_cells})")

    def fit(self, table: pd.DataFrame, domain: Domain, *, epsilon: float, delta: float, units: Individuals | None,
            rng: np.random.Generator, engine: Engine | None = None) -> AimModel:
        """`engine`: where the marginals are counted (default: on this worker)."""
        self.check_feasible(domain, min_units=None, epsilon=epsilon, delta=delta)
        if units is not None:
            units.check(len(table))
        target = domain.names.index(self.params.target) if self.params.target is not None else None
        # The one pass over the rows: exact marginals, counted where the engine runs; the noise is added below.
        data = (engine or LocalEngine()).marginals(table, domain, list(measured_cliques(domain.sizes, self.params,
                                                                                        target=target)))
        # The whole budget in a Gaussian measurement's units: the largest zCDP rho whose (epsilon, delta) under the
        # RDP conversion fits the target, or mu^2 / 2 for the largest mu whose GDP curve does.
        if self.params.accounting == "gdp":
            rho = tight.gdp_mu(epsilon=epsilon, delta=delta) ** 2 / 2
        else:
            rho = rho_for_budget(epsilon=epsilon, delta=delta, spent=RdpCurve.zero())
        accountant = Accountant(method=self.params.accounting)
        with single_thread():
            result = run_aim(data, domain.sizes, rho=rho, sensitivity=float(sensitivity_of(units)),
                             settings=self.params, accountant=accountant, delta=delta, rng=rng, target=target)
        spent = accountant.epsilon(delta=delta)
        if spent > epsilon:  # fail closed: never hand out a model that overspent
            raise GeneratorError(f"aim: the accountant reports epsilon {spent:.6g} above the target {epsilon}")
        # Rounds, measurements and the model's size follow from DP selections; no timing (a side channel on n).
        log.info("aim: %d rounds, %d measurements, model %d cells, epsilon spent %.4f of %.4f",
                 result.rounds, len(result.measurements), result.model.tree.size(domain.sizes), spent, epsilon)
        # The budget in its own units: zCDP's rho, or (in the accountant's report) GDP's mu.
        budget = {"rho": rho} if self.params.accounting == "rdp" else {}
        privacy = {**accountant.report(delta=delta), "target_epsilon": epsilon, **budget,
                   "unit": "row" if units is None else f"individual (max {units.max_rows} rows)"}
        return AimModel(result.model, domain=domain, privacy=privacy, released_rows=int(round(result.total)))
