"""`dpsgd_autoregressive`: an autoregressive network over the columns, trained with DP-SGD through Opacus.

p(x) = prod_j p(x_j | x_<j): every column has an embedding, and column j's head (Linear, ReLU, Linear) reads the
embeddings of the columns before it. Training is DP-SGD (Abadi et al. 2016): Poisson sampling of privacy units,
each unit's gradient clipped to `max_grad_norm` (Opacus ghost clipping), Gaussian noise of `noise_multiplier *
max_grad_norm` on the sum. With a key privacy unit, the DP-SGD example is the individual: a padded tensor of that
person's rows whose losses are summed, so sampling and clipping are per person.

Privacy, one RDP account (`synth_pipeline.privacy.accounting`): a DP count first (Gaussian, a small zCDP share)
sets the sample rate B / n_hat and the number of steps, so nothing but the accountant depends on the true size;
the noise multiplier is then calibrated so that count plus every subsampled Gaussian step spends exactly the
target (epsilon, delta). The released row count is a DP count too. Sampling from the network is free.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from synth_pipeline.domain import Domain
from synth_pipeline.errors import GeneratorError, PrivacyConfigError
from synth_pipeline.generators.base import (
    CodedGenerator,
    Individuals,
    check_budget,
    sensitivity_of,
    single_thread,
    torch_generator,
)
from synth_pipeline.generators.params import AutoregressiveParams
from synth_pipeline.privacy.accounting import (
    Accountant,
    RdpCurve,
    gaussian_sigma,
    noise_multiplier_for_budget,
    rho_for_budget,
    subsampled_gaussian_curve,
    zcdp_curve,
)

log = logging.getLogger(__name__)
MAX_NOISE_MULTIPLIER = 50.0  # beyond this the gradients drown: refuse rather than train noise
_SAMPLE_CHUNK = 8192


class AutoregressiveNet(nn.Module):
    """Column embeddings, and per column a head over the embeddings of the columns before it. Only layers whose
    per-sample gradient norms Opacus computes exactly (Embedding, Linear) carry parameters."""

    def __init__(self, sizes: tuple[int, ...], embedding_dim: int, hidden: int):
        super().__init__()
        self.sizes, self.embedding_dim = tuple(sizes), embedding_dim
        # Plain tensors, not buffers: Opacus refuses modules with buffers, and these are structure, not state.
        self.offsets = torch.tensor([0, *np.cumsum(sizes)[:-1]], dtype=torch.long)
        self.embedding = nn.Embedding(int(sum(sizes)), embedding_dim)
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(max(j, 1) * embedding_dim, hidden), nn.ReLU(), nn.Linear(hidden, size))
            for j, size in enumerate(sizes))

    def initialise(self, generator: torch.Generator) -> None:
        """PyTorch's default initialisation, drawn from `generator` instead of the global RNG."""
        with torch.no_grad():
            nn.init.normal_(self.embedding.weight, generator=generator)
            for head in self.heads:
                for layer in (head[0], head[2]):
                    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                    bound = 1 / math.sqrt(layer.in_features)
                    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (people, rows, columns) -> (people, rows, columns * embedding_dim)."""
        people, rows, columns = codes.shape
        flat = (codes.clamp_min(0) + self.offsets).reshape(people, rows * columns)
        return self.embedding(flat).reshape(people, rows, columns * self.embedding_dim)

    def head(self, j: int, embedded: torch.Tensor) -> torch.Tensor:
        inputs = embedded[..., : j * self.embedding_dim] if j else torch.zeros_like(embedded[..., : self.embedding_dim])
        return self.heads[j](inputs)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        embedded = self.embed(codes)
        return torch.cat([self.head(j, embedded) for j in range(len(self.sizes))], dim=-1)


class PersonNLL(nn.Module):
    """Negative log-likelihood per privacy unit: summed over its rows (padding rows, coded -1, excluded) and
    columns. Opacus' ghost-clipping wrapper sets `reduction` to "none" to get it per unit."""

    def __init__(self, sizes: tuple[int, ...]):
        super().__init__()
        self.sizes, self.reduction = sizes, "sum"

    def forward(self, logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        present = (codes[..., 0] >= 0).to(logits.dtype)
        total, start = torch.zeros_like(present), 0
        for j, size in enumerate(self.sizes):
            log_p = torch.log_softmax(logits[..., start:start + size], dim=-1)
            total = total - log_p.gather(-1, codes[..., j:j + 1].clamp_min(0)).squeeze(-1)
            start += size
        per_unit = (total * present).sum(dim=1)
        return per_unit if self.reduction == "none" else per_unit.sum()


def _grouped(codes: np.ndarray, people: np.ndarray | None, max_rows: int) -> torch.Tensor:
    """(units, max_rows, columns) with each unit's rows first and -1 padding; one row per unit without people."""
    if people is None:
        return torch.as_tensor(codes, dtype=torch.long).unsqueeze(1)
    order = np.argsort(people, kind="stable")
    sorted_people = people[order]
    first = np.searchsorted(sorted_people, sorted_people, side="left")
    slot = np.arange(len(order)) - first
    grouped = np.full((int(people.max()) + 1, max_rows, codes.shape[1]), -1, dtype=np.int64)
    grouped[sorted_people, slot] = codes[order]
    return torch.as_tensor(grouped)


class AutoregressiveModel:
    generator: ClassVar[str] = "dpsgd_autoregressive"

    def __init__(self, net: AutoregressiveNet, *, domain: Domain, privacy: dict, released_rows: int):
        self.net, self.domain, self.privacy, self.released_rows = net, domain, privacy, released_rows

    @torch.no_grad()
    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        if n < 0:
            raise GeneratorError(f"cannot sample {n} rows")
        generator, net = torch_generator(rng), self.net.eval()
        chunks = []
        for start in range(0, n, _SAMPLE_CHUNK):
            codes = torch.zeros((min(_SAMPLE_CHUNK, n - start), 1, len(net.sizes)), dtype=torch.long)
            for j in range(len(net.sizes)):
                probabilities = torch.softmax(net.head(j, net.embed(codes))[:, 0], dim=-1)
                codes[:, 0, j] = torch.multinomial(probabilities, 1, generator=generator).squeeze(1)
            chunks.append(codes[:, 0].numpy())
        codes = np.concatenate(chunks) if chunks else np.zeros((0, len(net.sizes)), dtype=np.int64)
        return self.domain.decode(codes, rng)

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        return dict(self.net.state_dict()), {"sizes": list(self.net.sizes), "embedding_dim": self.net.embedding_dim,
                                             "hidden": self.net.heads[0][0].out_features}

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict, *, domain: Domain, params: dict,
                   privacy: dict, released_rows: int) -> AutoregressiveModel:
        try:
            sizes = tuple(int(s) for s in meta["sizes"])
            net = AutoregressiveNet(sizes, int(meta["embedding_dim"]), int(meta["hidden"]))
            if sizes != domain.sizes:
                raise ValueError("its column sizes differ from the domain's")
            net.load_state_dict(tensors, strict=True)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise GeneratorError(f"dpsgd_autoregressive model state does not fit its structure ({exc})") from None
        if not all(torch.isfinite(p).all() for p in net.parameters()):
            raise GeneratorError("dpsgd_autoregressive model state holds non-finite weights")
        return cls(net, domain=domain, privacy=privacy, released_rows=released_rows)


class AutoregressiveGenerator(CodedGenerator):
    name: ClassVar[str] = "dpsgd_autoregressive"
    model_class: ClassVar[type] = AutoregressiveModel

    params: AutoregressiveParams

    def _schedule(self, units: float) -> tuple[float, int]:
        """Sample rate and step count from a (DP) number of units: public given that number."""
        rate = min(1.0, self.params.batch_size / max(units, 1.0))
        return rate, max(1, math.ceil(self.params.epochs / rate))

    def _check_domain(self, domain: Domain, *, min_units: int | None, epsilon: float, delta: float) -> None:
        check_budget(epsilon=epsilon, delta=delta, min_units=min_units)
        if not domain.columns:
            raise PrivacyConfigError("the domain has no columns to model")

    def _noise_multiplier(self, *, epsilon: float, delta: float, rate: float, steps: int, spent: RdpCurve) -> float:
        try:
            noise = noise_multiplier_for_budget(epsilon=epsilon, delta=delta, sample_rate=rate, steps=steps,
                                                spent=spent)
        except ValueError:
            noise = math.inf
        if noise > MAX_NOISE_MULTIPLIER:
            raise PrivacyConfigError(f"epsilon {epsilon} needs a noise multiplier above {MAX_NOISE_MULTIPLIER} for "
                                     f"{steps} steps at sample rate {rate:.3g}: raise epsilon, or lower epochs")
        return noise

    def check_feasible(self, domain: Domain, *, min_units: int, epsilon: float, delta: float) -> None:
        """On public facts: the schedule a table of the declared floor would get. In `fit` the schedule comes from
        the DP count instead, and a table smaller than a batch simply trains at sample rate 1."""
        self._check_domain(domain, min_units=min_units, epsilon=epsilon, delta=delta)
        if min_units < self.params.batch_size:
            raise PrivacyConfigError(f"the declared floor of {min_units} privacy units in training is below the batch "
                                     f"size ({self.params.batch_size}): lower generator.params.batch_size")
        rate, steps = self._schedule(min_units)
        rho = rho_for_budget(epsilon=epsilon, delta=delta, spent=RdpCurve.zero())
        self._noise_multiplier(epsilon=epsilon, delta=delta, rate=rate, steps=steps,
                               spent=zcdp_curve(rho=self.params.count_share * rho))

    def _dp_counts(self, units: Individuals | None, n_rows: int, *, rho: float, accountant: Accountant,
                   rng: np.random.Generator) -> tuple[float, float]:
        """(units, rows), each the true count plus Gaussian noise; one count when the unit is the row."""
        if units is None:
            sigma = gaussian_sigma(sensitivity=1, rho=rho)
            accountant.gaussian(purpose="row count (sample rate, released rows)", sensitivity=1, sigma=sigma)
            noisy = n_rows + rng.normal(0, sigma)
            return noisy, noisy
        people_sigma = gaussian_sigma(sensitivity=1, rho=rho / 2)
        rows_sigma = gaussian_sigma(sensitivity=units.max_rows, rho=rho / 2)
        accountant.gaussian(purpose="individual count (sample rate)", sensitivity=1, sigma=people_sigma)
        accountant.gaussian(purpose="row count (released rows)", sensitivity=units.max_rows, sigma=rows_sigma)
        return units.people() + rng.normal(0, people_sigma), n_rows + rng.normal(0, rows_sigma)

    def fit(self, table: pd.DataFrame, domain: Domain, *, epsilon: float, delta: float, units: Individuals | None,
            rng: np.random.Generator) -> AutoregressiveModel:
        from opacus.grad_sample import GradSampleModuleFastGradientClipping
        from opacus.optimizers import DPOptimizerFastGradientClipping
        from opacus.utils.fast_gradient_clipping_utils import DPLossFastGradientClipping
        from opacus.utils.uniform_sampler import UniformWithReplacementSampler

        self._check_domain(domain, min_units=None, epsilon=epsilon, delta=delta)
        p = self.params
        people = units.check(len(table)) if units is not None else None
        data = _grouped(domain.encode(table), people, sensitivity_of(units))
        accountant = Accountant()
        count_rho = p.count_share * rho_for_budget(epsilon=epsilon, delta=delta, spent=RdpCurve.zero())
        noisy_units, noisy_rows = self._dp_counts(units, len(table), rho=count_rho, accountant=accountant, rng=rng)
        rate, steps = self._schedule(noisy_units)
        noise = self._noise_multiplier(epsilon=epsilon, delta=delta, rate=rate, steps=steps, spent=accountant.curve)
        generator = torch_generator(rng)
        with single_thread(), warnings.catch_warnings():
            # Opacus' ghost clipping runs its backward passes with no input requiring gradients; PyTorch warns.
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            net = AutoregressiveNet(domain.sizes, p.embedding_dim, p.hidden)
            net.initialise(generator)
            wrapped = GradSampleModuleFastGradientClipping(net, batch_first=True, loss_reduction="sum",
                                                           max_grad_norm=p.max_grad_norm, use_ghost_clipping=True)
            # Sum reduction: the noisy sum is never divided by a batch size that would depend on the data; Adam is
            # invariant to the gradient's scale.
            optimizer = DPOptimizerFastGradientClipping(torch.optim.Adam(net.parameters(), lr=p.learning_rate),
                                                        noise_multiplier=noise, max_grad_norm=p.max_grad_norm,
                                                        expected_batch_size=None, loss_reduction="sum",
                                                        generator=generator)
            criterion = DPLossFastGradientClipping(wrapped, optimizer, PersonNLL(domain.sizes), loss_reduction="sum")
            sampler = UniformWithReplacementSampler(num_samples=len(data), sample_rate=rate, generator=generator,
                                                    steps=steps)
            steps_per_epoch = max(1, round(1 / rate))
            started = time.perf_counter()
            for step, batch in enumerate(sampler, start=1):
                optimizer.zero_grad()
                if len(batch):
                    loss = criterion(wrapped(data[batch]), data[batch])
                    loss.backward()
                else:  # an empty Poisson batch still takes its noisy step: skipping it would be data-dependent
                    for parameter in net.parameters():
                        parameter.grad = torch.zeros_like(parameter)
                optimizer.step()
                if step % steps_per_epoch == 0 or step == steps:
                    spent = (accountant.curve + subsampled_gaussian_curve(
                        noise_multiplier=noise, sample_rate=rate, steps=step)).epsilon(delta=delta)
                    # Progress for the task log: the schedule and the spend (DP and public). Never the loss: it is
                    # a statistic of the private rows with no noise on it.
                    # Throughput from DP figures only: steps per second times the expected batch (the sample rate
                    # times the DP count), never the rows actually drawn (their count is private).
                    speed = step / max(time.perf_counter() - started, 1e-9)
                    log.info("dpsgd_autoregressive epoch %d (step %d of %d): epsilon spent %.4f; %.1f steps/s, about "
                             "%.0f rows/s at the expected batch of %.0f (torch threads: %d)",
                             math.ceil(step / steps_per_epoch), step, steps, spent, speed, speed * rate * noisy_units,
                             rate * noisy_units, torch.get_num_threads())
            wrapped.remove_hooks()
        accountant.subsampled_gaussian(purpose="DP-SGD", noise_multiplier=noise, sample_rate=rate, steps=steps)
        spent = accountant.epsilon(delta=delta)
        if spent > epsilon:  # fail closed: never hand out a model that overspent
            raise GeneratorError(f"dpsgd_autoregressive: the accountant reports epsilon {spent:.6g} above {epsilon}")
        privacy = {**accountant.report(delta=delta), "target_epsilon": epsilon, "max_grad_norm": p.max_grad_norm,
                   "unit": "row" if units is None else f"individual (max {units.max_rows} rows)"}
        return AutoregressiveModel(net.eval(), domain=domain, privacy=privacy,
                                   released_rows=max(0, int(round(noisy_rows))))
