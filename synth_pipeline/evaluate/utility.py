"""Workload utility: train on synthetic, test on real (TSTR), against train on real, test on real (TRTR).

A HistGradientBoosting model predicts `target` from every other modelled column. Both models are scored on the same
real test table, which neither has seen: TRTR is the ceiling, and TSTR / TRTR says how much of the real table's
predictive signal the synthetic one keeps. Classification (categorical or boolean target, or an integer with at most
`MAX_CLASSES` declared values, such as a diagnosis code) scores ROC AUC (macro one-vs-rest for more than two classes),
regression (other numeric targets) R^2.

An internal comparison of real and synthetic data: it goes to the steward, never into a release.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import r2_score, roc_auc_score

from synth_pipeline.spec.schema import (
    BooleanColumn,
    CategoricalColumn,
    ColumnSpec,
    DatetimeColumn,
    NumericColumn,
    StringColumn,
)


def _features(table: pd.DataFrame, schema: Mapping[str, ColumnSpec], target: str) -> pd.DataFrame:
    columns = {}
    for name, spec in schema.items():
        if name == target or isinstance(spec, StringColumn):
            continue
        series = table[name]
        if isinstance(spec, CategoricalColumn):
            levels = list(spec.categories) if spec.categories is not None else None
            columns[name] = pd.Categorical(series.astype("string"), categories=levels) if levels else series.astype(
                "category")
        elif isinstance(spec, DatetimeColumn):
            stamps = pd.to_datetime(series).astype("datetime64[s]")
            columns[name] = stamps.to_numpy(dtype="datetime64[s]").astype(np.int64).astype(np.float64)
            columns[name][series.isna().to_numpy()] = np.nan
        elif isinstance(spec, (NumericColumn, BooleanColumn)):
            columns[name] = pd.to_numeric(series.astype("Float64")).to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.DataFrame(columns, index=table.index)


MAX_CLASSES = 10


def _is_class_code(spec: ColumnSpec) -> bool:
    return isinstance(spec, NumericColumn) and spec.type == "integer" and spec.max - spec.min < MAX_CLASSES


def _classification_labels(series: pd.Series, spec: ColumnSpec) -> tuple[np.ndarray, list]:
    if isinstance(spec, BooleanColumn):
        return series.astype("boolean").to_numpy(dtype=object, na_value=None), [False, True]
    if isinstance(spec, NumericColumn):  # a small integer code: its declared values are the classes
        levels = [str(value) for value in range(int(spec.min), int(spec.max) + 1)]
        return series.astype("Int64").astype("string").to_numpy(dtype=object, na_value=None), levels
    levels = list(spec.categories) if spec.categories is not None else sorted(series.dropna().astype(str).unique())
    return series.astype("string").to_numpy(dtype=object, na_value=None), levels


def _auc(model_train: tuple[pd.DataFrame, np.ndarray], test: tuple[pd.DataFrame, np.ndarray], levels: list,
         seed: int) -> float:
    (x_train, y_train), (x_test, y_test) = model_train, test
    keep_train, keep_test = pd.notna(y_train), pd.notna(y_test)
    x_train, y_train, x_test, y_test = x_train[keep_train], y_train[keep_train], x_test[keep_test], y_test[keep_test]
    present = [level for level in levels if (y_train == level).any()]
    if len(present) < 2:
        return 0.5  # a model that saw a single class ranks nothing: chance
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed)
    model.fit(x_train, np.array([present.index(v) for v in y_train]))
    probabilities = model.predict_proba(x_test)
    test_levels = [level for level in levels if (y_test == level).any()]
    if len(levels) == 2:
        positive = levels[1]
        score = probabilities[:, present.index(positive)] if positive in present else np.zeros(len(y_test))
        return float(roc_auc_score(y_test == positive, score))
    # Macro one-vs-rest over the classes the test table holds; a class the model never saw scores chance.
    scores = []
    for level in test_levels:
        if level in present:
            scores.append(roc_auc_score(y_test == level, probabilities[:, present.index(level)]))
        else:
            scores.append(0.5)
    return float(np.mean(scores))


def _r2(model_train: tuple[pd.DataFrame, np.ndarray], test: tuple[pd.DataFrame, np.ndarray], seed: int) -> float:
    (x_train, y_train), (x_test, y_test) = model_train, test
    keep_train, keep_test = ~np.isnan(y_train), ~np.isnan(y_test)
    model = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=seed)
    model.fit(x_train[keep_train], y_train[keep_train])
    return float(r2_score(y_test[keep_test], model.predict(x_test[keep_test])))


def tstr(synthetic: pd.DataFrame, real_train: pd.DataFrame, real_test: pd.DataFrame, *, target: str,
         schema: Mapping[str, ColumnSpec], rng: np.random.Generator) -> dict:
    """{"tstr": score trained on synthetic, "trtr": score trained on real_train, "metric": "auc" | "r2"}, both
    scored on real_test."""
    spec = schema[target]
    if isinstance(spec, (StringColumn, DatetimeColumn)):
        raise ValueError(f"target {target!r}: a {spec.type} column cannot be a prediction target")
    seed = int(rng.integers(2**31 - 1))
    regression = isinstance(spec, NumericColumn) and not _is_class_code(spec)
    levels = None if regression else _classification_labels(real_test[target], spec)[1]

    def prepared(table: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        if regression:
            labels = pd.to_numeric(table[target].astype("Float64")).to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            labels = _classification_labels(table[target], spec)[0]
        return _features(table, schema, target), labels

    test = prepared(real_test)
    scores = {}
    for name, table in (("tstr", synthetic), ("trtr", real_train)):
        scores[name] = _r2(prepared(table), test, seed) if regression else _auc(prepared(table), test, levels, seed)
    return {**scores, "metric": "r2" if regression else "auc"}
