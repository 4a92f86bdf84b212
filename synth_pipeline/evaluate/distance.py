"""Distance to closest record (DCR), exact and near matches, nearest-neighbour distance ratio: all against the
holdout, which the generator never saw. Distances are the public-domain metric of `encoding`.

The DCR share. For a synthetic row x let T be the FULL training table and H the holdout. If the generator produced x
without looking at any one real row (the null: x exchangeable with a fresh real record), the real record nearest to x
is a training row with probability p0 = |T| / (|T| + |H|), because the split is a uniform random partition. The
share s of synthetic rows whose nearest real record is a training row is therefore p0 under the null and 1 for a
copy of the training table. Ties: when several records share the smallest distance, the row counts as the fraction
of them that are training rows; by symmetry that fraction has expectation exactly p0 under the null (counting a tie
as one half would not, and would pull a copy of a table with duplicates towards 0.5). The steward reads the share
re-weighted to equal set sizes,

    s* = s (1 - p0) / (s (1 - p0) + (1 - s) p0),

0.5 under the null and 1.0 for a copy; the gate is on s*. Comparing against a training SAMPLE of the holdout's size
instead would dilute the signal: a copy's rows are then nearest to a sampled training row only |H| / |T| of the time
(about 0.57 on Adult). Subsampling the synthetic rows does not dilute anything (each row is still compared with all
of T and H); it only widens the confidence interval, which is reported. Beyond `evaluation.check_rows` the step
hands this check samples of T and H too (the rows x rows cost of a 1M-row table): the null stays at p0 (sampled T
and H are still a uniform random partition of the rows they hold), and a copy's share falls to f + (1 - f) p0 with f
the sampled fraction of T, so the exact matches, which carry a copy's signal at any size, keep every row.

Exact and near matches are measured against the holdout's own rate: a real record the generator never saw equals or
nearly equals some training row at a certain rate too (duplicates in the population), and only the excess over that
rate is evidence of copying.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from synth_pipeline.evaluate.encoding import MixedEncoder, Neighbours, TIE_TOLERANCE, nearest, row_keys

NEAR_QUANTILE = 0.05  # "near" = at most the holdout's 5th percentile of distances to the training table


def _sample(rows: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(rows, size=size, replace=False)) if rows > size else np.arange(rows)


def share_closer_to_train(to_train: Neighbours, to_holdout: Neighbours) -> np.ndarray:
    """Per query: 1 if its nearest real record is a training row, 0 if a holdout row, the training fraction of the
    records tied at the smallest distance otherwise."""
    d_train, d_holdout = to_train.squared[:, 0], to_holdout.squared[:, 0]
    tied = np.abs(d_train - d_holdout) <= TIE_TOLERANCE
    fraction = to_train.ties / (to_train.ties + to_holdout.ties)
    return np.where(tied, fraction, (d_train < d_holdout).astype(np.float64))


def equal_size_share(share: float, p0: float) -> float:
    """s* above: the share as if T and H had the same size (0.5 under the null, 1 for a copy)."""
    closer, farther = share * (1 - p0), (1 - share) * p0
    return closer / (closer + farther) if closer + farther > 0 else 0.5


def nndr(neighbours: Neighbours) -> np.ndarray:
    """Nearest over second-nearest distance; 1 when both are zero (a duplicated record is not distinctive)."""
    first, second = np.sqrt(neighbours.squared[:, 0]), np.sqrt(neighbours.squared[:, 1])
    return np.divide(first, second, out=np.ones_like(first), where=second > 0)


def _quantiles(values: np.ndarray) -> dict[str, float]:
    return {f"p{q:02d}": float(np.quantile(values, q / 100)) for q in (5, 25, 50)}


def distance_to_closest_record(synthetic, train, holdout, encoder: MixedEncoder, *, synthetic_sample: int,
                               holdout_sample: int, confidence: float, rng: np.random.Generator,
                               whole: tuple | None = None) -> dict:
    """DCR share (raw, p0, at equal sizes, with a confidence interval), exact and near matches, NNDR.

    `synthetic_sample` synthetic rows and `holdout_sample` holdout rows are the queries (drawn without replacement);
    every query is compared with the whole training table and the whole holdout. When those three are samples of
    larger tables, `whole` holds the tables themselves (synthetic, train, holdout) for the exact matches: hashing is
    linear in rows, and a copied row whose original was left out of the training sample would not count.
    """
    if len(train) < 2 or len(holdout) < 1:
        raise ValueError("the distance checks need at least 2 training rows and 1 holdout row")
    columns = len(encoder.columns)
    t_matrix, h_matrix = encoder.encode(train), encoder.encode(holdout)
    queries = synthetic.iloc[_sample(len(synthetic), synthetic_sample, rng)]
    baseline = holdout.iloc[_sample(len(holdout), holdout_sample, rng)]
    s_matrix, b_matrix = encoder.encode(queries), encoder.encode(baseline)

    synthetic_to_train = nearest(s_matrix, t_matrix, k=2)
    synthetic_to_holdout = nearest(s_matrix, h_matrix, k=1)
    holdout_to_train = nearest(b_matrix, t_matrix, k=2)

    per_row = share_closer_to_train(synthetic_to_train, synthetic_to_holdout)
    share = float(per_row.mean())
    spread = float(per_row.std(ddof=1)) if len(per_row) > 1 else 0.5
    half_width = norm.ppf(0.5 + confidence / 2) * spread / np.sqrt(len(per_row))
    p0 = len(train) / (len(train) + len(holdout))
    low, high = max(share - half_width, 0.0), min(share + half_width, 1.0)

    dcr_synthetic, dcr_holdout = synthetic_to_train.distance(0, columns), holdout_to_train.distance(0, columns)
    near = float(np.quantile(dcr_holdout, NEAR_QUANTILE))
    ratio_synthetic, ratio_holdout = nndr(synthetic_to_train), nndr(holdout_to_train)
    distinctive = float(np.quantile(ratio_holdout, NEAR_QUANTILE))

    # Exact matches use every row (hashing is cheap): the share of synthetic rows equal to some training row,
    # against the share of holdout rows equal to one.
    all_synthetic, all_train, all_holdout = whole if whole is not None else (synthetic, train, holdout)
    train_keys = row_keys(all_train, encoder)
    exact_synthetic = float(np.isin(row_keys(all_synthetic, encoder), train_keys).mean())
    exact_holdout = float(np.isin(row_keys(all_holdout, encoder), train_keys).mean())
    return {
        "dcr_share": {
            "share_closer_to_train": share,
            "p0": p0,
            "share_at_equal_sizes": equal_size_share(share, p0),
            "confidence_interval": [equal_size_share(low, p0), equal_size_share(high, p0)],
            "confidence": confidence,
            "synthetic_rows_compared": len(queries),
            "train_rows": len(train),
            "holdout_rows": len(holdout),
        },
        "exact_matches": {
            "synthetic_rate": exact_synthetic,
            "holdout_rate": exact_holdout,
            "excess_rate": exact_synthetic - exact_holdout,
        },
        "near_matches": {
            "threshold_distance": near,
            "synthetic_rate": float((dcr_synthetic <= near).mean()),
            "holdout_rate": float((dcr_holdout <= near).mean()),
        },
        "nndr": {
            "synthetic_mean": float(ratio_synthetic.mean()),
            "holdout_mean": float(ratio_holdout.mean()),
            "distinctive_threshold": distinctive,
            "synthetic_distinctive_rate": float((ratio_synthetic <= distinctive).mean()),
            "holdout_distinctive_rate": float((ratio_holdout <= distinctive).mean()),
        },
        "dcr_quantiles": {
            "synthetic_to_train": _quantiles(dcr_synthetic),
            "synthetic_to_holdout": _quantiles(synthetic_to_holdout.distance(0, columns)),
            "holdout_to_train": _quantiles(dcr_holdout),
        },
    }
