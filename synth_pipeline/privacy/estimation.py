"""DP estimation of the parts of the public domain a spec leaves undeclared, charged to `privacy.estimation`.

Two mechanisms, each on the contribution-bounded training table (one individual holds at most `max_rows_per_unit`
rows, which scales every sensitivity below). Neighbouring tables differ by adding or removing one individual, the
notion Opacus' accountants use too, so the estimate and the generator compose under one (epsilon, delta):

- bounds of a numeric column with `estimate_bounds: true`: the declared min/max are only a public outer range; the
  generator's bounds become DP estimates of the 1st and 99th percentiles inside it (exponential mechanism over the
  gaps between sorted values, Smith 2011). The 1st/99th rather than the min/max: the extremes have no stable DP
  estimate (one person moves them), and clipping about 1% of rows on each side costs far less fidelity than spreading
  an encoder's bins over an outer range that is often orders of magnitude wider than the data.
- cut points of a numeric column with `estimate_bin_edges: k`: the DP j/k-quantiles (j = 1..k-1) of its values
  other than its atoms, by the same mechanism, inside its (declared or estimated) bounds: bins that each hold about
  as many people, where equal widths would put most of a skewed column in one bin.
- the levels of a categorical column without `categories`: a stability-based thresholded histogram (Korolova et al.
  2009; Wilson et al. 2020): Laplace noise on each present level's count, and only levels whose noisy count clears a
  threshold set from delta are released, so a level held by a single individual appears with probability <= delta.
  The estimated column is nullable with `out_of_domain: null`: rows in a level that was not released become null
  when encoded, so whether training succeeds never depends on who holds a rare level.

The budget is split evenly: epsilon over the estimated columns (a numeric column splits its share evenly between its
quantiles), delta over the categorical ones (the quantile mechanism is pure epsilon-DP and needs none). The column
estimates compose by basic composition (Dwork & Roth 2014, Thm 3.16): the report's totals are plain sums, at most
the (epsilon, delta) given. Only the mechanisms' outputs leave (bounds, level lists, their counts) together with
public parameters (noise scale, threshold); no count, quantile or value computed on the data is returned.

The RNG is passed in. A known seed makes the noise reproducible by anyone who knows it: tests and benchmarks only;
production draws fresh OS entropy (`numpy.random.default_rng()`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth_pipeline.errors import PrivacyConfigError
from synth_pipeline.spec import CategoricalColumn, ColumnSpec, NumericColumn

BOUND_QUANTILES = (0.01, 0.99)


@dataclass(frozen=True)
class ColumnBudget:
    epsilon: float
    delta: float


@dataclass(frozen=True)
class ColumnEstimate:
    column: str
    mechanism: str
    epsilon: float
    delta: float
    estimated: dict  # DP outputs and public parameters only


@dataclass(frozen=True)
class EstimationReport:
    columns: tuple[ColumnEstimate, ...]

    @property
    def epsilon_spent(self) -> float:
        return math.fsum(c.epsilon for c in self.columns)

    @property
    def delta_spent(self) -> float:
        return math.fsum(c.delta for c in self.columns)

    def to_dict(self) -> dict:
        return {"composition": "basic", "epsilon_spent": self.epsilon_spent, "delta_spent": self.delta_spent,
                "columns": {c.column: {"mechanism": c.mechanism, "epsilon": c.epsilon, "delta": c.delta, **c.estimated}
                            for c in self.columns}}


def _even_share(total: float, parts: int) -> float:
    """total / parts, rounded down until `parts` shares never sum past `total` in floating point."""
    share = total / parts
    while math.fsum([share] * parts) > total:
        share = math.nextafter(share, 0.0)
    return share


def plan_estimation(schema: Mapping[str, ColumnSpec], *, epsilon: float, delta: float) -> dict[str, ColumnBudget]:
    """Each column to estimate with its share of (epsilon, delta); reads no data, so it doubles as a pre-flight."""
    targets = [column for column, spec in schema.items() if spec.needs_estimation]
    if not targets:
        return {}
    if not (math.isfinite(epsilon) and epsilon > 0) or not 0 <= delta < 1:
        raise PrivacyConfigError(f"domain estimation needs a finite epsilon > 0 and delta in [0, 1), got "
                                 f"epsilon={epsilon!r}, delta={delta!r} (privacy.estimation)")
    categorical = [column for column in targets if isinstance(schema[column], CategoricalColumn)]
    if categorical and delta <= 0:
        raise PrivacyConfigError(f"schema.{categorical[0]}: estimating categories needs privacy.estimation.delta > 0 "
                                 "(the threshold that keeps a level held by one individual out is set from delta)")
    epsilon_share = _even_share(epsilon, len(targets))
    delta_share = _even_share(delta, len(categorical)) if categorical else 0.0
    return {column: ColumnBudget(epsilon_share, delta_share if column in categorical else 0.0) for column in targets}


def dp_quantile(values: np.ndarray, *, q: float, low: float, high: float, epsilon: float, sensitivity: float,
                rng: np.random.Generator) -> float:
    """The q-quantile of `values` inside the public range [low, high], epsilon-DP (Smith 2011).

    With the clipped values sorted as z_1 <= ... <= z_n and z_0 = low, z_{n+1} = high, gap i = [z_i, z_{i+1}] has i
    values below it. Its utility is u(i) = -|i - q n|; adding or removing one row moves i by at most 1 and q n by q,
    so u changes by at most max(q, 1 - q) <= 1, and by `sensitivity` (= rows per individual) per individual. The
    exponential mechanism (McSherry & Talwar 2007; Dwork & Roth 2014, Thm 3.10) picks gap i with probability
    proportional to (z_{i+1} - z_i) exp(epsilon u(i) / (2 sensitivity)), then a uniform point in it: the width
    factor makes it the exponential mechanism over the points of [low, high], whose utility is constant on each gap."""
    if high <= low:
        return float(low)
    z = np.concatenate(([low], np.sort(np.clip(values, low, high)), [high]))
    below = np.arange(z.size - 1)
    with np.errstate(divide="ignore"):  # empty gaps (ties) get log-weight -inf: never chosen
        log_weight = np.log(np.diff(z)) - epsilon * np.abs(below - q * (z.size - 2)) / (2 * sensitivity)
    # Gumbel-max: argmax(log w_i + G_i) with G_i ~ Gumbel(0, 1) is a draw from w / sum(w), without overflow.
    gap = int(np.argmax(log_weight + rng.gumbel(size=log_weight.size)))
    return float(rng.uniform(z[gap], z[gap + 1]))


def histogram_threshold(*, epsilon: float, delta: float, max_rows_per_unit: int) -> tuple[float, float]:
    """(Laplace scale b, threshold tau) of the stability-based histogram.

    One individual holds at most m = max_rows_per_unit rows, so the vector of level counts moves by at most m in L1:
    Laplace noise of scale b = m / epsilon on each count is epsilon-DP for the levels present in both neighbouring
    tables. The levels present only because of that individual (at most m of them, each with count c <= m) must be
    suppressed: such a level clears tau with probability P[c + Lap(b) > tau] = exp(-(tau - c) / b) / 2 <=
    exp(-(tau - m) / b) / 2 (for tau >= m), so over at most m levels the chance any appears is at most
    m exp(-(tau - m) / b) / 2. Setting that to delta gives

        tau = m + b ln(m / (2 delta))

    and the release is (epsilon, delta)-DP (Korolova et al. 2009; Wilson et al. 2020, partition selection with
    each user's contribution bounded to m partitions and m rows). For m = 1 this is the familiar
    1 + ln(1 / (2 delta)) / epsilon. The log turns negative only for delta > m / 2, where the tail bound above needs
    tau >= m: tau is never set below m."""
    m = max_rows_per_unit
    scale = m / epsilon
    return scale, max(float(m), m + scale * math.log(m / (2 * delta)))


def dp_released_levels(counts: np.ndarray, *, epsilon: float, delta: float, max_rows_per_unit: int,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Which levels (of those with counts > 0) clear the noisy threshold, and their noisy counts."""
    scale, threshold = histogram_threshold(epsilon=epsilon, delta=delta, max_rows_per_unit=max_rows_per_unit)
    noisy = counts + rng.laplace(0.0, scale, size=counts.shape)
    return noisy > threshold, noisy


def _cut_points(data: np.ndarray, spec: NumericColumn, low: float, high: float, epsilon: float, m: int,
                rng: np.random.Generator) -> tuple[float, ...]:
    """Bin edges from low to high through DP quantiles j/k (k = estimate_bin_edges) of the values other than the
    atoms (those have codes of their own). Rounding, sorting and dropping repeats are post-processing: free."""
    bins = spec.estimate_bin_edges
    rest = data[~np.isin(data, spec.atoms)] if spec.atoms else data
    cuts = [dp_quantile(rest, q=j / bins, low=low, high=high, epsilon=epsilon, sensitivity=m, rng=rng)
            for j in range(1, bins)]
    if spec.type == "integer":  # an integer bin [a, b) needs a < b in whole numbers
        cuts = [float(math.ceil(cut)) for cut in cuts]
    return (low, *sorted({cut for cut in cuts if low < cut < high}), high)


def _estimate_numeric(column: str, values: pd.Series, spec: NumericColumn, budget: ColumnBudget, m: int,
                      rng: np.random.Generator) -> tuple[NumericColumn, ColumnEstimate]:
    """Bounds (the 1st and 99th percentiles) and/or cut points, each quantile an equal share of the column's epsilon
    (basic composition)."""
    data = values.dropna().to_numpy(dtype=float)
    cut_count = spec.estimate_bin_edges - 1 if spec.estimate_bin_edges else 0
    per_quantile = _even_share(budget.epsilon, 2 * spec.estimate_bounds + cut_count)
    low, high, estimated = spec.min, spec.max, {"outer_range": [spec.min, spec.max]}
    if spec.estimate_bounds:
        low, high = sorted(dp_quantile(data, q=q, low=spec.min, high=spec.max, epsilon=per_quantile, sensitivity=m,
                                       rng=rng) for q in BOUND_QUANTILES)
        if spec.type == "integer":  # outward to whole numbers, still inside the public range
            low, high = float(max(spec.min, math.floor(low))), float(min(spec.max, math.ceil(high)))
        if spec.atoms:  # declared (public) point masses stay inside: widening to them is post-processing, free
            low, high = min(low, spec.atoms[0]), max(high, spec.atoms[-1])
        estimated.update(quantiles=list(BOUND_QUANTILES), min=low, max=high)
    update = {"min": low, "max": high, "estimate_bounds": False, "estimate_bin_edges": None}
    if spec.estimate_bounds:  # values outside the estimated bounds exist by construction (about 1% each side)
        update["out_of_domain"] = "clip"
    if cut_count:
        edges = _cut_points(data, spec, low, high, per_quantile, m, rng)
        update["bin_edges"] = edges if low < high else None  # a float column with min == max has one closed bin
        estimated.update(cut_quantiles=[j / spec.estimate_bin_edges for j in range(1, spec.estimate_bin_edges)],
                         bin_edges=list(edges))
    estimated_column = NumericColumn.model_validate({**spec.model_dump(), **update})
    return estimated_column, ColumnEstimate(column, "exponential_mechanism_quantiles", budget.epsilon, 0.0, estimated)


def _estimate_categories(column: str, values: pd.Series, spec: CategoricalColumn, budget: ColumnBudget, m: int,
                         rng: np.random.Generator) -> tuple[CategoricalColumn, ColumnEstimate]:
    counts = values.dropna().astype(str).value_counts()
    released, noisy = dp_released_levels(counts.to_numpy(dtype=float), epsilon=budget.epsilon, delta=budget.delta,
                                         max_rows_per_unit=m, rng=rng)
    # Keeping the max_categories largest noisy counts is post-processing of the DP output: no extra cost.
    kept = pd.Series(noisy[released], index=counts.index[released]).nlargest(spec.max_categories, keep="first")
    scale, threshold = histogram_threshold(epsilon=budget.epsilon, delta=budget.delta, max_rows_per_unit=m)
    if kept.empty:
        raise PrivacyConfigError(f"schema.{column}: no level is held by enough individuals to be released under DP "
                                 f"(noisy-count threshold {threshold:.1f} at epsilon={budget.epsilon:g}, "
                                 f"delta={budget.delta:g}); declare the categories, or give privacy.estimation more")
    # Rows in levels that were not released must become null whatever the column object says: refusing them would
    # fail training after the charge exactly when someone holds a rare level (the spec refuses 'reject' here too).
    estimated = CategoricalColumn.model_validate({**spec.model_dump(), "categories": sorted(kept.index),
                                                  "nullable": True, "out_of_domain": "null"})
    return estimated, ColumnEstimate(column, "thresholded_laplace_histogram", budget.epsilon, budget.delta, {
        "noise_scale": scale, "threshold": threshold, "categories": len(kept),
        "levels_over_max_categories": int(released.sum()) - len(kept)})


def estimate_domain(table: pd.DataFrame, schema: Mapping[str, ColumnSpec], *, epsilon: float, delta: float,
                    max_rows_per_unit: int, rng: np.random.Generator) -> tuple[dict[str, ColumnSpec], EstimationReport]:
    """The schema with every `needs_estimation` column replaced by an ordinary declared column whose bounds or
    categories are DP estimates, and the report of what each estimate cost. `table` must already be bounded to
    `max_rows_per_unit` rows per individual."""
    if max_rows_per_unit < 1:
        raise PrivacyConfigError(f"max_rows_per_unit must be >= 1, got {max_rows_per_unit}")
    plan = plan_estimation(schema, epsilon=epsilon, delta=delta)
    missing = [column for column in plan if column not in table.columns]
    if missing:
        raise PrivacyConfigError(f"columns to estimate are not in the table: {', '.join(missing)}")
    domain, estimates = dict(schema), []
    for column, budget in plan.items():
        spec = schema[column]
        estimate = _estimate_numeric if isinstance(spec, NumericColumn) else _estimate_categories
        domain[column], report = estimate(column, table[column], spec, budget, max_rows_per_unit, rng)
        estimates.append(report)
    return domain, EstimationReport(tuple(estimates))
