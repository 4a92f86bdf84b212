"""Small tables with known structure for the evaluation tests, and a throwaway project whose spec declares them.

`population` draws rows from one fixed distribution with real structure (the label depends on age, income and
hours; income on job), so a fresh draw is what a perfect, non-memorising generator would produce. `uniform_table`
draws every column independently and uniformly over its PUBLIC domain: independent noise, useless and harmless.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synth_pipeline.spec import load_spec

SPEC = """\
name: evalrel
description: Evaluation test release.
owner: tests
purpose: Testing the evaluation checks.
sources:
  people: {format: csv, path: data/people.csv}
schema:
  age:    {type: integer, min: 18, max: 90}
  income: {type: float, min: 0, max: 200000, nullable: true}
  hours:  {type: integer, min: 1, max: 99}
  region: {type: categorical, categories: [north, south, east, west, centre]}
  job:    {type: categorical, nullable: true, categories: [clerk, nurse, teacher, driver, cook, farmer]}
  smoker: {type: boolean, nullable: true}
  visit:  {type: datetime, min: "2020-01-01", max: "2023-12-31"}
  label:  {type: categorical, categories: ["no", "yes"]}
privacy: {epsilon: 1.0, delta: 1.0e-5, min_individuals: 2000}   # train floor 1600 at holdout 0.2
generator: {name: aim, seed: 11}
quality: {suite: expectations/evalrel.json}
evaluation:
  target: label
  queries:
    - {name: yes_by_region, metric: share, group_by: [region], column: label, value: "yes"}
    - {name: hours_by_job, metric: mean, group_by: [job], column: hours}
    - {name: rows_by_smoker, metric: count, group_by: [smoker]}
  constraints: ["hours >= 1", "age >= 18", "visit >= 2020-01-01"]
  attacks: {distance_queries: 600, membership_targets: 300, singling_out: 400, linkability: 150, inference: 300}
# A 400-row holdout measures Anonymeter's risks to about +-0.15 (singling out, compared at equal sizes and scaled
# by |T| / |H| = 4, to about +-0.25): gates at 0.1 would fail fresh data by chance.
gates: {risk: {max_singling_out_risk: 0.5, max_linkability_risk: 0.3, max_attribute_inference_risk: 0.3}}
"""

SUITE = {
    "name": "evalrel",
    "expectations": [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 100000, "max_value": 200000}},
        {"type": "expect_table_columns_to_match_ordered_list",
         "kwargs": {"column_list": ["age", "income", "hours", "region", "job", "smoker", "visit", "label"]}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "age", "min_value": 18, "max_value": 90}},
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "region", "value_set": ["north", "south", "east", "west", "centre"]}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "hours", "min_value": 1, "max_value": 99}},
    ],
}

REGIONS = ["north", "south", "east", "west", "centre"]
JOBS = ["clerk", "nurse", "teacher", "driver", "cook", "farmer"]


def population(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Rows from one fixed distribution, typed like a harmonized table."""
    age = np.round(18 + 72 * rng.beta(2, 3, rows)).astype(np.int64)
    job_codes = rng.choice(len(JOBS), size=rows, p=[0.3, 0.2, 0.2, 0.15, 0.1, 0.05])
    income = np.clip(np.exp(9.5 + 0.25 * job_codes / 5 + 0.01 * (age - 18) + rng.normal(0, 0.4, rows)), 0, 200000)
    hours = np.clip(np.round(rng.normal(38 + 4 * (job_codes == 3), 8, rows)), 1, 99).astype(np.int64)
    logit = -4 + 0.05 * (age - 18) + 0.00004 * income + 0.04 * (hours - 38)
    label = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    job = np.asarray(JOBS, dtype=object)[job_codes]
    job[rng.random(rows) < 0.03] = None
    days = rng.integers(0, 1460, rows)
    return pd.DataFrame({
        "age": pd.array(age, dtype="Int64"),
        "income": pd.array(np.where(rng.random(rows) < 0.05, np.nan, np.round(income, 2)), dtype="Float64"),
        "hours": pd.array(hours, dtype="Int64"),
        "region": pd.Categorical(rng.choice(REGIONS, rows, p=[0.4, 0.2, 0.2, 0.1, 0.1]), categories=REGIONS),
        "job": pd.Categorical(job, categories=JOBS),
        "smoker": pd.array(np.where(rng.random(rows) < 0.05, None, rng.random(rows) < 0.2 + 0.002 * age), dtype="boolean"),
        "visit": pd.to_datetime("2020-01-01") + pd.to_timedelta(days, unit="D"),
        "label": pd.Categorical(label, categories=["no", "yes"]),
    })


def uniform_table(schema, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Every column independent and uniform over its declared domain: reads no data at all."""
    columns = {}
    for name, spec in schema.items():
        if spec.type == "categorical":
            columns[name] = pd.Categorical(rng.choice(list(spec.categories), rows), categories=list(spec.categories))
        elif spec.type == "boolean":
            columns[name] = pd.array(rng.random(rows) < 0.5, dtype="boolean")
        elif spec.type == "integer":
            columns[name] = pd.array(rng.integers(int(spec.min), int(spec.max) + 1, rows), dtype="Int64")
        elif spec.type == "float":
            columns[name] = pd.array(rng.uniform(spec.min, spec.max, rows), dtype="Float64")
        else:
            low, high = pd.Timestamp(spec.min), pd.Timestamp(spec.max)
            columns[name] = low + pd.to_timedelta(rng.integers(0, (high - low).days + 1, rows), unit="D")
    return pd.DataFrame(columns)


@pytest.fixture
def eval_project(tmp_path) -> Path:
    """A project root holding the test spec and its suite; returns the spec path."""
    (tmp_path / "releases").mkdir()
    (tmp_path / "expectations").mkdir()
    (tmp_path / "expectations" / "evalrel.json").write_text(json.dumps(SUITE))
    spec_path = tmp_path / "releases" / "evalrel.yaml"
    spec_path.write_text(SPEC)
    return spec_path


@pytest.fixture
def eval_schema(eval_project):
    return load_spec(eval_project).spec.schema


@pytest.fixture(scope="session")
def real_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, holdout): a uniform random split of 2,000 rows from the population, 80/20."""
    table = population(2000, np.random.default_rng(20240601))
    order = np.random.default_rng(1).permutation(len(table))
    return table.iloc[order[:1600]].reset_index(drop=True), table.iloc[order[1600:]].reset_index(drop=True)


def write_run(run_dir: Path, synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame) -> Path:
    """The partitions `validate` and `reidentify` read, as the sample and split steps leave them."""
    (run_dir / "sample").mkdir(parents=True)
    (run_dir / "split").mkdir()
    (run_dir / "train").mkdir()  # `validate` keys its one release decision to the fit's report
    (run_dir / "train" / "report.json").write_text('{"fit": "' + run_dir.name + '"}')
    synthetic.to_parquet(run_dir / "sample" / "synthetic.parquet", index=False)
    train.to_parquet(run_dir / "split" / "train.parquet", index=False)
    holdout.to_parquet(run_dir / "split" / "holdout.parquet", index=False)
    return run_dir


@pytest.fixture
def make_run(tmp_path):
    """write_run into a fresh folder."""
    return lambda synthetic, train, holdout: write_run(tmp_path / "run", synthetic, train, holdout)


@pytest.fixture
def draw():
    """population and uniform_table, for tests that build their own tables."""
    return {"population": population, "uniform": uniform_table}
