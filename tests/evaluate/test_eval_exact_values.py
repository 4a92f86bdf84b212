"""The fidelity checks see declared values and atoms: a decoder that loses them fails the 1-way gate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter

from synth_pipeline.domain import build_domain
from synth_pipeline.evaluate.fidelity import marginal_tvds
from synth_pipeline.evaluate.workload import column_distributions
from synth_pipeline.harmonize import _final_dtypes
from synth_pipeline.spec.schema import ColumnSpec

COLUMN = TypeAdapter(ColumnSpec)
DECLARED = {
    "page_value": {"type": "float", "min": 0, "max": 400, "atoms": [0]},
    "bounce": {"type": "float", "min": 0, "max": 1, "atoms": [0]},
    "score": {"type": "float", "min": 0, "max": 1, "values": [0, 0.2, 0.4, 0.6, 0.8, 1]},
}
SCHEMA = {name: COLUMN.validate_python(spec) for name, spec in DECLARED.items()}
# The same columns as the schema had them before values and atoms: bounds only.
BOUNDS_ONLY = {name: COLUMN.validate_python({k: v for k, v in spec.items() if k not in ("atoms", "values")})
               for name, spec in DECLARED.items()}
GATE = 0.10  # a 1-way TVD gate as strict as the bundled specs' (0.08 to 0.12)


def _web_sessions(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """The shape of the issue's web-analytics table: 22% of sessions with page value > 0, 45% bouncing at exactly 0,
    a score taking 6 values."""
    return _final_dtypes(pd.DataFrame({
        "page_value": np.where(rng.random(rows) < 0.223, rng.gamma(1.5, 30.0, rows).clip(0.01, 400), 0.0),
        "bounce": np.where(rng.random(rows) < 0.451, 0.0, rng.beta(2, 20, rows)),
        "score": rng.choice([0, 0.2, 0.4, 0.6, 0.8, 1], rows, p=[0.3, 0.1, 0.1, 0.2, 0.1, 0.2]),
    }), SCHEMA)


def _regenerated(real: pd.DataFrame, schema: dict, rng: np.random.Generator) -> pd.DataFrame:
    """A perfect model of the codes, decoded with `schema`'s domain: what a generator outputs at infinite epsilon."""
    domain = build_domain(schema, numeric_bins=16)
    return domain.decode(domain.encode(real), rng)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_decoder_that_loses_atoms_and_values_fails_the_one_way_gate(seed):
    rng = np.random.default_rng(seed)
    real = _web_sessions(3_000, rng)
    exact = _regenerated(real, SCHEMA, rng)
    broken = _regenerated(real, BOUNDS_ONLY, rng)  # decodes uniformly inside the 16 bins: the table
    assert (broken["page_value"] > 0).mean() > 0.99 and (broken["bounce"] == 0).mean() == 0
    assert broken["score"].nunique() > 100  # a continuum
    kept = marginal_tvds(real, exact, SCHEMA, ways=1)
    lost = marginal_tvds(real, broken, SCHEMA, ways=1)
    assert max(kept.values()) < 1e-9  # the exact decoder keeps every value and atom cell
    assert min(lost.values()) > GATE, lost  # each column of the broken one fails the gate
    # The check with bounds only was blind to the loss: every column within the gate.
    assert max(marginal_tvds(real, broken, BOUNDS_ONLY, ways=1).values()) < GATE


def test_the_per_column_distributions_show_atoms_and_values_as_their_own_rows():
    rng = np.random.default_rng(5)
    real = _web_sessions(2_000, rng)
    distributions = column_distributions(real, _regenerated(real, SCHEMA, rng), SCHEMA, bins=16)
    assert distributions["page_value"]["labels"][0] == "= 0"
    assert distributions["score"]["labels"][:6] == ["0", "0.2", "0.4", "0.6", "0.8", "1"]
    assert distributions["page_value"]["real"][0] == pytest.approx(distributions["page_value"]["synthetic"][0])
