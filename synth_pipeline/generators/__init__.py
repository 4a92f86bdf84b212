"""DP generators behind a registry keyed by the spec's `generator.name`.

Importing this package is light (pydantic only): the spec loader validates `generator.params` with
`parse_params`, and torch and Opacus load only when `make_generator` builds a generator.

| name | family | what it trains |
|---|---|---|
| `aim` | marginal-based | AIM-chosen noisy marginals (Gaussian mechanism) and a Private-PGM graphical model |
| `dpsgd_autoregressive` | DP-SGD (Opacus) | an autoregressive network over the columns, per-example clipping, Poisson sampling |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from pydantic import ValidationError

from synth_pipeline.errors import GeneratorError
from synth_pipeline.generators.params import AimParams, AutoregressiveParams
from synth_pipeline.spec.base import Frozen


@dataclass(frozen=True)
class Entry:
    params: type[Frozen]
    module: str
    cls: str
    summary: str


REGISTRY: dict[str, Entry] = {
    "aim": Entry(AimParams, "synth_pipeline.generators.aim", "AimGenerator",
                 "AIM-selected noisy marginals fitted by a graphical model (Private-PGM)"),
    "dpsgd_autoregressive": Entry(AutoregressiveParams, "synth_pipeline.generators.autoregressive",
                                  "AutoregressiveGenerator", "autoregressive network trained with DP-SGD (Opacus)"),
}


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def _entry(name: str) -> Entry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise GeneratorError(f"unknown generator {name!r}; expected one of {sorted(REGISTRY)}") from None


def parse_params(name: str, params: Mapping[str, Any] | None) -> Frozen:
    """The generator's validated hyper-parameters; GeneratorError naming every bad key otherwise."""
    entry = _entry(name)
    try:
        return entry.params.model_validate(dict(params or {}))
    except ValidationError as exc:
        problems = [f"{'.'.join(['generator.params', *(str(p) for p in e['loc'])])}: "
                    f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors(include_url=False)]
        raise GeneratorError("; ".join(problems)) from None


def generator_class(name: str) -> type:
    entry = _entry(name)
    return getattr(import_module(entry.module), entry.cls)


def make_generator(name: str, params: Mapping[str, Any] | None = None):
    """A generator ready to `check_feasible`, `fit` and `build_domain` (see `synth_pipeline.generators.base`)."""
    return generator_class(name)(parse_params(name, params))
