"""Singling-out, linkability and attribute-inference risk as Anonymeter defines them (Giomi et al., "A Unified
Framework for Quantifying Privacy Risk in Synthetic Data", PoPETs 2023), with `anonymeter` 1.1.0.

Each attack runs against the training table and, identically, against the holdout (the control set the generator
never saw). The risk is the excess of the training success rate over the control rate, normalised by what was left
to gain: (attack - control) / (1 - control), each rate a Wilson interval, the error propagated (Anonymeter's
`EvaluationResults`). 0 means the synthetic table helps the attacker no more against training rows than against
anyone; 1 that every attack on a training row succeeds.

Adapting Anonymeter to this stack:
- Tables are converted to the plain dtypes Anonymeter's encoders handle on pandas 3: categorical and boolean columns
  as text (no categorical dtype) with missing values as one label (its LabelEncoder cannot sort text mixed with
  NaN), numbers as float64 with a missing value one public range below the public minimum (its Gower distance turns
  NaN into NaN distances, which silently rank last), datetimes as seconds after the public minimum.
- Linkability and inference draw their targets with pandas' global RNG; the targets are drawn here from `rng` and
  handed over as the whole table to attack, which makes the attack reproducible. Their random-guess baselines use
  unseeded generators inside Anonymeter and are context, not part of the risk (inference's baseline also aligns
  guesses to targets by index label, so it reads low).
- Inference finds each target's nearest synthetic record with the public-domain metric (`encoding`), through
  Anonymeter's `inference_model` hook: the same attack as its own k-NN, at BLAS speed, and scaled by the declared
  bounds instead of the data's range. Linkability runs Anonymeter's own evaluator and k-NN unchanged.
- Singling out uses Anonymeter's attack (`singling_out_queries`: its query generator with a screen that skips
  hopeless predicates, and its private `_random_queries` for the baseline), its size-correction model and its risk
  formula, but counts the queries it actually generated (the evaluator divides by the number requested, which
  understates the risk when the attempt cap stops generation early). The gated risk compares training and control rows at equal sizes
  (`_equal_size_risk`); Anonymeter's size-corrected figure is reported beside it, its fit extended to control sets
  under 1,000 rows (`_size_correction`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd

from synth_pipeline.evaluate.encoding import MixedEncoder, nearest_index, numeric_values, public_bounds
from synth_pipeline.evaluate.singling_out_queries import singling_out_queries
from synth_pipeline.spec.schema import BooleanColumn, ColumnSpec, DatetimeColumn, NumericColumn

MISSING_LABEL = "<missing>"


def _missing_number(spec: NumericColumn | DatetimeColumn) -> float:
    low, high = public_bounds(spec)
    offset = low if isinstance(spec, DatetimeColumn) else 0.0
    return low - offset - max(high - low, 1.0)


def anonymeter_frame(frame: pd.DataFrame, schema: Mapping[str, ColumnSpec], columns: Sequence[str]) -> pd.DataFrame:
    """The columns in the representation above."""
    converted = {}
    for name in columns:
        spec, series = schema[name], frame[name]
        if isinstance(spec, (NumericColumn, DatetimeColumn)):
            values = numeric_values(series, spec)
            if isinstance(spec, DatetimeColumn):
                values = values - public_bounds(spec)[0]
            converted[name] = np.where(np.isnan(values), _missing_number(spec), values)
        else:
            text = (series.astype("boolean") if isinstance(spec, BooleanColumn) else series).astype("string")
            converted[name] = text.fillna(MISSING_LABEL).to_numpy(dtype=object)
    return pd.DataFrame(converted, index=frame.index)


def from_anonymeter_frame(frame: pd.DataFrame, schema: Mapping[str, ColumnSpec]) -> pd.DataFrame:
    """Inverse of `anonymeter_frame`, for the encoder."""
    restored = {}
    for name in frame.columns:
        spec, series = schema[name], frame[name]
        if isinstance(spec, (NumericColumn, DatetimeColumn)):
            values = series.to_numpy(dtype=np.float64)
            values = np.where(values == _missing_number(spec), np.nan, values)
            if isinstance(spec, DatetimeColumn):
                restored[name] = pd.to_datetime(values + public_bounds(spec)[0], unit="s")
            else:
                restored[name] = values
        else:
            text = pd.Series(series, dtype="string")
            restored[name] = text.where(text != MISSING_LABEL)
    return pd.DataFrame(restored, index=frame.index)


class NearestSyntheticPredictor:
    """Anonymeter `InferencePredictor`: guess a target's secret as the secret of its nearest synthetic record on the
    auxiliary columns."""

    def __init__(self, synthetic: pd.DataFrame, *, aux: Sequence[str], secret: str, encoder: MixedEncoder):
        self._aux = list(aux)
        self._encoder = encoder
        self._candidates = encoder.encode(synthetic, self._aux)
        self._secrets = anonymeter_frame(synthetic, encoder.schema, [secret])[secret].to_numpy()

    def predict(self, x: pd.DataFrame) -> pd.Series:
        queries = self._encoder.encode(from_anonymeter_frame(x[self._aux], self._encoder.schema), self._aux)
        return pd.Series(self._secrets[nearest_index(queries, self._candidates)], index=x.index)


@contextmanager
def _baseline_warning() -> Iterator[list]:
    """Collects Anonymeter's 'attack is as good or worse as baseline' warning, which says the risk is not to be
    trusted; every other warning passes through."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        flagged: list = []
        yield flagged
    for item in caught:
        if str(item.message).startswith("Attack is as good or worse as baseline"):
            flagged.append(True)
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)


def _risk(results, confidence: float, *, attacks: int, **extra) -> dict:
    from anonymeter.stats.confidence import residual_success

    risk = results.risk()
    residual = residual_success(results.attack_rate, results.control_rate)
    return {
        "risk": float(risk.value),
        "confidence_interval": [float(risk.ci[0]), float(risk.ci[1])],
        "confidence": confidence,
        "unclipped_risk": float(residual.value),
        "attack_rate": float(results.attack_rate.value),
        "control_rate": float(results.control_rate.value),
        "baseline_rate": float(results.baseline_rate.value),
        "attacks": attacks,
        **extra,
    }


def _targets(frame: pd.DataFrame, size: int, rng: np.random.Generator) -> pd.DataFrame:
    return frame.iloc[np.sort(rng.choice(len(frame), size=size, replace=False))] if len(frame) > size else frame


def _singles_out(frame, queries: list) -> int:
    """How many of the polars predicates match exactly one row of the frame."""
    from anonymeter.evaluators.singling_out_evaluator import _evaluate_queries

    return int(sum(count == 1 for count in _evaluate_queries(df=frame, queries=queries)))


def _size_correction(control, queries: list, *, target_rows: int, rng: np.random.Generator) -> tuple[float, str]:
    """Anonymeter's correction of the control count to the training table's size (`fit_correction_term`): fit its
    model of singling-out success against table size, norm * P_integral(n; 0, w_eff) (Cohen & Nissim 2020), to
    the successes on random subsamples of the control set, and take the ratio at the two sizes. Anonymeter samples
    sizes from min(1000, |control|) up, which leaves nothing to fit on a control set under 1000 rows; here they
    start at a tenth of it (at most 1000, as Anonymeter), drawn with `rng`."""
    from anonymeter.evaluators.singling_out_evaluator import singling_out_probability_integral
    from scipy.optimize import curve_fit

    def model(n, w_eff, norm):
        return norm * singling_out_probability_integral(n=n, w_min=0, w_max=w_eff)

    lowest = min(1000, max(control.height // 10, 10))
    sizes, successes = [], []
    for rows in np.linspace(lowest, control.height, 10).astype(int):
        for _ in range(5):
            sample = control[np.sort(rng.choice(control.height, size=rows, replace=False)).tolist()]
            sizes.append(rows)
            successes.append(_singles_out(sample, queries))
    if not any(successes):
        return 1.0, "none: nothing singles out in the control set"
    w_guess = 1 / control.height
    norm_guess = 1 / singling_out_probability_integral(n=control.height, w_min=0, w_max=w_guess)
    try:
        (w_eff, norm), _ = curve_fit(model, np.array(sizes, dtype=np.float64), np.array(successes, dtype=np.float64),
                                     bounds=(0, (1, np.inf)), p0=(w_guess, norm_guess))
    except RuntimeError:
        # Successes growing in proportion to size send the fit to w_eff -> 0, norm -> infinity, where the model
        # is n * norm * w_eff^2 / 2: its limit, linear in n, is the correction.
        return target_rows / control.height, "linear limit of the model"
    return float(model(target_rows, w_eff, norm) / model(control.height, w_eff, norm)), "fitted"


def singling_out_risk(train, synthetic, holdout, schema, *, attacks: int, columns_per_query: int, max_attempts: int,
                      confidence: float, rng: np.random.Generator) -> dict:
    """Multivariate singling out: predicates on `columns_per_query` columns that single out one synthetic row, and
    how often they single out one training row against one holdout row.

    `risk` (the gated figure) compares the two at equal sizes (`_equal_size_risk`); `anonymeter` holds Anonymeter's
    own figure, whose control count is extrapolated to the training size by a fitted model."""
    import polars as pl
    from anonymeter.evaluators.singling_out_evaluator import _random_queries
    from anonymeter.stats.confidence import EvaluationResults

    columns = list(schema)

    def as_polars(frame: pd.DataFrame) -> pl.DataFrame:
        return pl.from_pandas(anonymeter_frame(frame, schema, columns)).unique(maintain_order=True)

    ori, syn, control = as_polars(train), as_polars(synthetic), as_polars(holdout)
    per_query = min(columns_per_query, len(columns))
    queries = singling_out_queries(syn, n_queries=attacks, n_cols=per_query, max_attempts=max_attempts, rng=rng)
    if not queries:
        return {"risk": 0.0, "confidence_interval": [0.0, 0.0], "confidence": confidence, "attacks": 0,
                "note": "no predicate singles out a synthetic row: the attack has nothing to try"}
    success, control_success = _singles_out(ori, queries), float(_singles_out(control, queries))
    correction, size_model = 1.0, "none: equal sizes"
    if control.height != ori.height:
        # A predicate singles out more easily in a smaller table: rescale the control count to the training size.
        correction, size_model = _size_correction(control, queries, target_rows=ori.height, rng=rng)
    baseline = _singles_out(ori, _random_queries(df=syn, n_queries=len(queries), n_cols=per_query, rng=rng))
    with _baseline_warning() as caught:
        results = EvaluationResults(n_attacks=len(queries), n_success=success, n_baseline=baseline,
                                    n_control=min(control_success * correction, len(queries)),
                                    confidence_level=confidence)
    anonymeter = _risk(results, confidence, attacks=len(queries), control_size_correction=correction,
                       control_size_model=size_model, baseline_warning=bool(caught))
    return {**_equal_size_risk(ori, control, queries, confidence=confidence, rng=rng), "attacks": len(queries),
            "requested_attacks": attacks, "columns_per_query": per_query, "anonymeter": anonymeter}


def _equal_size_risk(ori, control, queries: list, *, confidence: float, rng: np.random.Generator) -> dict:
    """The risk without a size model. The larger table is cut into disjoint random chunks of the smaller one's size
    and its success rate averaged over them, so both rates are measured at one size, where training rows and control
    rows are exchangeable under the null (no row leaks): the comparison is unbiased whatever the sizes. A leaked
    training record singles out only in its own chunk, so when the training table is the one cut, its excess reads
    |H| / |T| of its strength at full size, and is scaled back by |T| / |H|.

    Why not Anonymeter's correction: its model extrapolates the control set's success to the training table's size
    (4x on an 80/20 split), and on Adult it overstated the risk of a DP release by about 0.1 (1,000 attacks: 0.08 to
    0.11 where this estimate gives -0.01 to 0.05), the whole width of the default gate."""
    from scipy.stats import norm

    n = len(queries)
    larger, smaller = (ori, control) if ori.height >= control.height else (control, ori)
    size, chunks = smaller.height, larger.height // smaller.height
    order = rng.permutation(larger.height)
    chunk_rates = np.array([_singles_out(larger[np.sort(order[k * size:(k + 1) * size]).tolist()], queries) / n
                            for k in range(chunks)])
    whole_rate = _singles_out(smaller, queries) / n
    attack_rate, control_rate = ((chunk_rates.mean(), whole_rate) if larger is ori else (whole_rate, chunk_rates.mean()))
    scale = ori.height / control.height if larger is ori else 1.0
    if control_rate >= 1:
        return {"risk": None, "note": "every attack succeeds on the control set: no risk can be measured"}
    spread = chunk_rates.var(ddof=1) / chunks if chunks > 1 else chunk_rates[0] * (1 - chunk_rates[0]) / n
    error = scale * np.sqrt(spread + whole_rate * (1 - whole_rate) / n) / (1 - control_rate)
    value = scale * (attack_rate - control_rate) / (1 - control_rate)
    half = norm.ppf(0.5 + confidence / 2) * error
    clip = lambda x: float(min(max(x, 0.0), 1.0))  # noqa: E731
    return {"risk": clip(value), "confidence_interval": [clip(value - half), clip(value + half)],
            "confidence": confidence, "unclipped_risk": float(value), "attack_rate": float(attack_rate),
            "control_rate": float(control_rate), "rows_compared": size, "chunks": chunks, "scale": scale}


def linkability_risk(train, synthetic, holdout, schema, *, aux_columns: tuple[Sequence[str], Sequence[str]],
                     attacks: int, confidence: float, rng: np.random.Generator) -> dict:
    """Can the synthetic table link two halves of a record (its nearest synthetic rows on each half coincide)?"""
    from anonymeter.evaluators import LinkabilityEvaluator

    columns = [*aux_columns[0], *aux_columns[1]]
    size = min(attacks, len(train), len(holdout))
    ori = anonymeter_frame(_targets(train, size, rng), schema, columns)
    control = anonymeter_frame(_targets(holdout, size, rng), schema, columns)
    syn = anonymeter_frame(synthetic, schema, columns)
    with _baseline_warning() as caught:
        evaluator = LinkabilityEvaluator(ori=ori, syn=syn, control=control, n_attacks=size, n_neighbors=1,
                                         aux_cols=(list(aux_columns[0]), list(aux_columns[1])))
        results = evaluator.evaluate(n_jobs=1).results(confidence_level=confidence)
    return _risk(results, confidence, attacks=size, aux_columns=[list(aux_columns[0]), list(aux_columns[1])],
                 baseline_warning=bool(caught))


def inference_risk(train, synthetic, holdout, encoder: MixedEncoder, *, secret: str, attacks: int, confidence: float,
                   rng: np.random.Generator) -> dict:
    """Guess `secret` from every other column via the nearest synthetic record; numbers count as guessed within
    Anonymeter's 5% relative tolerance."""
    from anonymeter.evaluators import InferenceEvaluator

    schema = encoder.schema
    columns = encoder.columns
    aux = [name for name in columns if name != secret]
    size = min(attacks, len(train), len(holdout))
    ori = anonymeter_frame(_targets(train, size, rng), schema, columns)
    control = anonymeter_frame(_targets(holdout, size, rng), schema, columns)
    syn = anonymeter_frame(synthetic, schema, columns)
    predictor = NearestSyntheticPredictor(synthetic, aux=aux, secret=secret, encoder=encoder)
    regression = isinstance(schema[secret], (NumericColumn, DatetimeColumn))
    with _baseline_warning() as caught:
        evaluator = InferenceEvaluator(ori=ori, syn=syn, control=control, aux_cols=aux, secret=secret,
                                       regression=regression, n_attacks=size, inference_model=predictor)
        results = evaluator.evaluate(n_jobs=1).results(confidence_level=confidence)
    return _risk(results, confidence, attacks=size, secret=secret, regression=regression,
                 baseline_warning=bool(caught))
