"""Regression guards: each generator, with its default hyper-parameters, on the whole of Adult at epsilon 1.

The thresholds sit below what `synth-pipeline bench` measures (with margin for fresh noise), so they catch a broken
generator, not a slightly unlucky seed. The benchmark, not this test, is where the figures come from.
"""

from __future__ import annotations

import numpy as np
import pytest

from synth_pipeline.evaluate.fidelity import marginal_tvd
from synth_pipeline.evaluate.utility import tstr
from synth_pipeline.generators import make_generator

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("name", "min_auc", "max_tvd_2way"), [
    ("aim", 0.88, 0.04),  # AIM (OpenDP) on this protocol: 0.895 / 0.034
    ("dpsgd_autoregressive", 0.86, 0.10),  # TabularARGN with DP-SGD: 0.841 / 0.145
])
def test_default_generator_quality_on_adult_at_epsilon_1(adult, name, min_auc, max_tvd_2way):
    loaded, train, test = adult
    generator = make_generator(name)
    domain = generator.build_domain(loaded.spec.schema)
    model = generator.fit(train, domain, epsilon=1.0, delta=1e-5, units=None, rng=np.random.default_rng(11))
    synthetic = model.sample(len(train), np.random.default_rng(12))
    utility = tstr(synthetic, train, test, target="income", schema=loaded.spec.schema, rng=np.random.default_rng(0))
    assert utility["tstr"] >= min_auc
    assert marginal_tvd(train, synthetic, loaded.spec.schema, ways=2) <= max_tvd_2way
    assert model.privacy["epsilon"] <= 1.0
