"""What every generator shares: the privacy unit, the checks made before any budget is charged, and the saved
state (tensors in safetensors plus a JSON document, never a pickle; loading validates both).

A generator is built from its validated parameters and used in three steps:

    generator.check_feasible(domain, min_units=..., epsilon=..., delta=...)           # before charging the ledger
    model = generator.fit(table, domain, epsilon=..., delta=..., units=..., rng=...)  # spends exactly the budget
    table = model.sample(n, rng)                                                      # post-processing: free

and a fitted model is saved with `save_model(model, folder)` and read back with `load_model(folder)`.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
import pandas as pd
import torch

from synth_pipeline.domain import Domain, build_domain
from synth_pipeline.errors import GeneratorError, PrivacyConfigError
from synth_pipeline.generators.params import DomainParams
from synth_pipeline.privacy.accounting import RdpCurve, rho_for_budget
from synth_pipeline.spec.limits import MIN_GENERATOR_RHO, MIN_MECHANISM_EPSILON
from synth_pipeline.spec.schema import ColumnSpec

STATE_TENSORS = "model.safetensors"
STATE_JSON = "model.json"
STATE_FORMAT = 1


@dataclass(frozen=True)
class Individuals:
    """The privacy unit is a person, not a row: `ids[i]` identifies the person behind row i of the table, and
    nobody has more than `max_rows` rows (bounded upstream by a rule that ignores values). The guarantee, and
    every sensitivity, is then per person."""

    ids: np.ndarray
    max_rows: int

    def check(self, n_rows: int) -> np.ndarray:
        """Dense person indices 0..people-1 per row; refuses ids that do not match the table or the bound."""
        if len(self.ids) != n_rows:
            raise PrivacyConfigError("the privacy unit's ids do not match the table's rows one for one")
        codes, _ = pd.factorize(pd.Series(self.ids), use_na_sentinel=False)
        most = int(np.bincount(codes).max()) if len(codes) else 0
        if most > self.max_rows:
            raise PrivacyConfigError(f"an individual contributes more rows than max_rows ({self.max_rows}): "
                                     "contributions must be bounded before training")
        return codes

    def people(self) -> int:
        return int(pd.Series(self.ids).nunique(dropna=False))


class CodedGenerator:
    """What both generators share: validated parameters, and a domain cut into codes as those parameters say."""

    def __init__(self, params: DomainParams):
        self.params = params

    def build_domain(self, schema: Mapping[str, ColumnSpec]) -> Domain:
        return build_domain(schema, numeric_bins=self.params.numeric_bins, max_levels=self.params.max_levels)


def sensitivity_of(units: Individuals | None) -> int:
    """Rows one privacy unit can add to or remove from the table."""
    return 1 if units is None else units.max_rows


def check_budget(*, epsilon: float, delta: float, min_units: int | None) -> None:
    """The (epsilon, delta) checks every generator makes. `min_units` is a public floor on the training table's
    individuals (before charging) or None (inside `fit`): never the true count, so a refusal reveals nothing."""
    if not (MIN_MECHANISM_EPSILON <= epsilon and math.isfinite(epsilon)):
        # Below the floor the zCDP budget underflows and the noise scales divide by zero (after the charge).
        raise PrivacyConfigError(f"epsilon must be a positive number, finite and at least {MIN_MECHANISM_EPSILON:g}, "
                                 f"got {epsilon}")
    if not 0 < delta < 1:
        raise PrivacyConfigError(f"delta must lie strictly between 0 and 1, got {delta}")
    if rho_for_budget(epsilon=epsilon, delta=delta, spent=RdpCurve.zero()) < MIN_GENERATOR_RHO:
        # The accountant's (epsilon, delta) conversion has a floor that grows with ln(1/delta); below it the zCDP
        # budget is 0 and every noise scale divides by zero.
        raise PrivacyConfigError(f"epsilon {epsilon:g} at delta {delta:g} is below the least the accountant can spend "
                                 "(its zCDP budget would be 0): raise epsilon or delta")
    if min_units is not None and delta >= 1 / min_units:
        # delta is the chance the guarantee fails outright; at 1/n it may as well expose one person in full.
        raise PrivacyConfigError(f"delta ({delta:g}) must be below 1/n = {1 / min_units:.3g} for the declared "
                                 f"floor of {min_units} privacy units (typically well below, e.g. 1e-5 or 1/n^2)")


def torch_generator(rng: np.random.Generator) -> torch.Generator:
    """A torch generator seeded from the caller's numpy generator (no global seed is ever set)."""
    return torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """One intra-op thread while fitting: deterministic reductions, and faster for these small tensors."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class FittedModel(Protocol):
    """A trained generator: everything in it is DP (or public), so sampling and saving cost no budget."""

    generator: ClassVar[str]
    domain: Domain
    privacy: dict  # the accountant's report: epsilon spent, delta, each charge
    released_rows: int  # a DP estimate of the training table's row count

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame: ...

    def state(self) -> tuple[dict[str, torch.Tensor], dict]: ...

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], meta: dict, *, domain: Domain, params: dict,
                   privacy: dict, released_rows: int) -> FittedModel: ...


class Generator(Protocol):
    name: ClassVar[str]

    def build_domain(self, schema) -> Domain: ...

    def check_feasible(self, domain: Domain, *, min_units: int, epsilon: float, delta: float) -> None: ...

    def fit(self, table: pd.DataFrame, domain: Domain, *, epsilon: float, delta: float, units: Individuals | None,
            rng: np.random.Generator) -> FittedModel: ...


def save_model(model: FittedModel, folder: Path, *, params: dict) -> list[Path]:
    """Write the model's tensors (safetensors) and a JSON document (generator, parameters, domain, privacy spend,
    structure) into `folder`. Returns the files written."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors, meta = model.state()
    save_file({name: t.detach().contiguous().cpu() for name, t in tensors.items()}, str(folder / STATE_TENSORS))
    document = {"format": STATE_FORMAT, "generator": model.generator, "params": params,
                "domain": model.domain.describe(), "privacy": model.privacy, "released_rows": model.released_rows,
                "model": meta}
    (folder / STATE_JSON).write_text(json.dumps(document, indent=2, sort_keys=True))
    return [folder / STATE_TENSORS, folder / STATE_JSON]


def load_model(folder: Path, *, domain: Domain | None = None) -> FittedModel:
    """Read a saved model back. With `domain`, refuses a model trained on any other domain."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from synth_pipeline.generators import generator_class, parse_params

    folder = Path(folder)
    try:
        document = json.loads((folder / STATE_JSON).read_text())
        tensors = load_file(str(folder / STATE_TENSORS))
    except (OSError, ValueError, SafetensorError) as exc:
        raise GeneratorError(f"cannot read the model in {folder}: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
        raise GeneratorError(f"{folder / STATE_JSON}: not a model file of format {STATE_FORMAT}")
    try:
        saved_domain = Domain.from_description(document["domain"])
        name, params = document["generator"], document["params"]
        privacy, rows, meta = dict(document["privacy"]), int(document["released_rows"]), dict(document["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise GeneratorError(f"{folder / STATE_JSON}: malformed model document ({exc})") from None
    if domain is not None and domain.describe() != saved_domain.describe():
        raise GeneratorError(f"the model in {folder} was trained on a different domain than the one given")
    parse_params(name, params)
    return generator_class(name).model_class.from_state(tensors, meta, domain=saved_domain, params=params,
                                                        privacy=privacy, released_rows=rows)
