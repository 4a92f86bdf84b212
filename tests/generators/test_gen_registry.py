"""The registry: light to import, validates parameters, builds generators by name."""

from __future__ import annotations

import subprocess
import sys

import pytest

from synth_pipeline.errors import GeneratorError
from synth_pipeline.generators import REGISTRY, make_generator, names, parse_params
from synth_pipeline.generators.params import AimParams, AutoregressiveParams


def test_importing_the_registry_loads_neither_torch_nor_opacus():
    code = ("import sys, synth_pipeline.generators as g; g.parse_params('aim', {'rounds': 10}); "
            "print(sorted(m for m in ('torch', 'opacus') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_both_families_are_registered():
    assert names() == ("aim", "dpsgd_autoregressive")
    assert REGISTRY["aim"].params is AimParams
    assert REGISTRY["dpsgd_autoregressive"].params is AutoregressiveParams


@pytest.mark.parametrize(("name", "params", "expected"), [
    ("aim", {}, AimParams()),
    ("aim", {"rounds": 12, "numeric_bins": 32}, AimParams(rounds=12, numeric_bins=32)),
    ("dpsgd_autoregressive", {"epochs": 3, "batch_size": 64}, AutoregressiveParams(epochs=3, batch_size=64)),
])
def test_parameters_validate(name, params, expected):
    assert parse_params(name, params) == expected


@pytest.mark.parametrize(("name", "params", "message"), [
    ("aim", {"rounds": 0}, "generator.params.rounds"),
    ("aim", {"roundz": 10}, "generator.params.roundz"),
    ("dpsgd_autoregressive", {"batch_size": "big"}, "generator.params.batch_size"),
    ("dpsgd_autoregressive", {"learning_rate": -1}, "generator.params.learning_rate"),
    ("gan", {}, "unknown generator 'gan'"),
])
def test_bad_parameters_and_names_are_refused(name, params, message):
    with pytest.raises(GeneratorError, match=message):
        parse_params(name, params)


def test_make_generator_builds_the_registered_class():
    generator = make_generator("aim", {"rounds": 5})
    assert generator.name == "aim" and generator.params.rounds == 5
    assert make_generator("dpsgd_autoregressive").name == "dpsgd_autoregressive"
