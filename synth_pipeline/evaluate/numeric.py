"""Per numeric column, what an analyst sees on the exact values (not 16 bins), each figure with its sampling floor.

- `points`: the share of rows at each declared value or atom, real against synthetic;
- `quantiles`: where the synthetic table's 1st, 5th, ..., 99th percentiles fall in the real distribution, as the
  real table's mid-rank there (0.5 means the synthetic median is the real median; a point mass counts half). No
  real value is shown: a real percentile is one person's value;
- `ks`: the Kolmogorov-Smirnov distance, the largest gap between the two distribution functions (a share of rows);
- `wasserstein`: the earth mover's distance between the two sets of values, as a share of the declared range.

Each figure is also computed for the holdout against the training table (`floor`): real data's own distance at this
size. A synthetic figure near its floor cannot be told apart from a fresh sample of real people; one far above it is
the generator's. Nulls are left out here (their share is in the per-column distributions).

An internal comparison of real and synthetic data: it goes to the steward, never into a release.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from synth_pipeline.domain import nearest_points
from synth_pipeline.spec.schema import ColumnSpec, NumericColumn

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def _values(series: pd.Series) -> np.ndarray:
    values = pd.to_numeric(series.astype("Float64")).to_numpy(dtype=np.float64, na_value=np.nan)
    return values[~np.isnan(values)]


def _mid_rank(reference: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Per point, the share of `reference` below it plus half the share equal to it."""
    ordered = np.sort(reference)
    below = np.searchsorted(ordered, points, side="left")
    at_or_below = np.searchsorted(ordered, points, side="right")
    return (below + at_or_below) / (2 * len(ordered))


def _distances(reference: np.ndarray, other: np.ndarray, spec: NumericColumn) -> dict:
    span = float(spec.max - spec.min) or 1.0
    return {"ks": float(stats.ks_2samp(reference, other).statistic),
            "wasserstein": float(stats.wasserstein_distance(reference, other)) / span,
            "quantiles": _mid_rank(reference, np.quantile(other, QUANTILES)).tolist()}


def _point_shares(values: np.ndarray, points: tuple[float, ...]) -> list[float]:
    nearest, exact = nearest_points(values, points)
    return (np.bincount(nearest[exact], minlength=len(points)) / max(len(values), 1)).tolist()


def numeric_fidelity(real: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame,
                     schema: Mapping[str, ColumnSpec]) -> dict:
    """{column: {"points": [...], "quantiles": [...], "ks": {...}, "wasserstein": {...}}} for each numeric column
    with values on every side; figures rounded to 4 places."""
    result = {}
    for name, spec in schema.items():
        if not isinstance(spec, NumericColumn) or name not in synthetic.columns:
            continue
        train, fake, fresh = (_values(table[name]) for table in (real, synthetic, holdout))
        if not (len(train) and len(fake) and len(fresh)):
            continue
        synthetic_side, floor = _distances(train, fake, spec), _distances(train, fresh, spec)
        column = {key: {"synthetic": round(synthetic_side[key], 4), "floor": round(floor[key], 4)}
                  for key in ("ks", "wasserstein")}
        column["quantiles"] = [{"q": q, "synthetic": round(s, 4), "floor": round(f, 4)}
                               for q, s, f in zip(QUANTILES, synthetic_side["quantiles"], floor["quantiles"])]
        points = spec.values or spec.atoms or ()
        if points:
            shares = [_point_shares(side, points) for side in (train, fake, fresh)]
            column["points"] = [{"value": value, "real": round(r, 4), "synthetic": round(s, 4), "floor": round(h, 4)}
                                for value, r, s, h in zip(points, *shares)]
        result[name] = column
    return result
