"""Checks on stated samples: beyond `evaluation.check_rows` rows per side, the re-identification checks and TSTR
look at random samples, their sizes are in the internal reports (never in XCom), and the verdicts they reach are the
verdicts of the whole tables."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from synth_pipeline.steps import run_reidentify, run_validate
from synth_pipeline.steps.evaluate import check_samples


def _report(run_dir, step):
    return json.loads((run_dir / step / "report.json").read_text())


def _verdicts(run_dir):
    return {verdict["name"]: verdict["passed"] for verdict in _report(run_dir, "reidentify")["gates"]}


def _set_check_rows(spec_path, rows: int) -> None:
    document = yaml.safe_load(spec_path.read_text())
    document["evaluation"]["check_rows"] = rows
    spec_path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_a_table_over_the_cap_is_sampled_and_one_under_it_kept_whole_without_a_draw():
    tables = {"train": pd.DataFrame({"x": np.arange(3000)}), "holdout": pd.DataFrame({"x": np.arange(800)})}
    rng = np.random.default_rng(0)
    samples, sampling = check_samples(tables, 1000, rng)
    assert sampling == {"check_rows": 1000, "sample_rows": {"train": 1000, "holdout": 800},
                        "capped": {"train": True, "holdout": False}}
    assert samples["holdout"] is tables["holdout"]
    assert samples["train"]["x"].is_unique and samples["train"]["x"].is_monotonic_increasing
    untouched = np.random.default_rng(1)
    check_samples({"holdout": tables["holdout"]}, 1000, untouched)
    assert untouched.bit_generator.state == np.random.default_rng(1).bit_generator.state  # small runs unchanged


@pytest.mark.slow  # every check on a generated table: seconds
def test_the_reports_state_the_samples_and_xcom_does_not(eval_project, real_tables, make_run, draw):
    train, holdout = real_tables
    _set_check_rows(eval_project, 1000)  # training and synthetic (1,600 rows) capped, holdout (400) whole
    run_dir = make_run(draw["population"](1600, np.random.default_rng(99)), train, holdout)
    validated, reidentified = run_validate(eval_project, run_dir), run_reidentify(eval_project, run_dir)
    assert set(validated) == {"uri", "passed", "release_decision"} and set(reidentified) == {"uri", "passed"}
    expected = {"check_rows": 1000, "sample_rows": {"synthetic": 1000, "train": 1000, "holdout": 400},
                "capped": {"synthetic": True, "train": True, "holdout": False}}
    report = _report(run_dir, "reidentify")
    assert report["sampling"] == expected
    dcr = report["distance"]["dcr_share"]
    assert dcr["train_rows"] == 1000 and dcr["p0"] == 1000 / 1400  # the null of the sampled partition
    assert _report(run_dir, "validate")["utility"]["tstr"]["sampling"] == expected
    # The gated TVDs and the release decision look at every row: they are not sampled.
    assert _report(run_dir, "validate")["utility"]["real_rows"] == 1600


@pytest.mark.slow  # a real reidentify step: about 8 s
def test_a_copy_still_shows_its_exact_matches_when_sampled(eval_project, real_tables, make_run):
    """Exact matches hash every row: a copy's rows whose originals fell out of the training sample still count."""
    train, holdout = real_tables
    _set_check_rows(eval_project, 1000)
    run_dir = make_run(train, train, holdout)
    run_reidentify(eval_project, run_dir)
    report = _report(run_dir, "reidentify")
    assert report["sampling"]["capped"]["train"] and report["distance"]["exact_matches"]["synthetic_rate"] == 1.0
    assert _verdicts(run_dir)["exact_match_excess"] is False


@pytest.mark.slow  # the re-identification checks on Adult, twice per table: minutes
def test_adult_verdicts_with_sampling_match_the_whole_tables(tmp_path, make_run):
    """Adult's training file split 80/20 (26,000 training, 6,500 holdout rows); as the synthetic table, its test
    file (fresh people: what a generator that learnt the population and kept no one would give) and a copy of the
    training table. check_rows 5,000 samples every side; 1,000,000 leaves them whole."""
    from synth_pipeline.bench.generators import load_dataset
    from testsupport import copy_project

    spec = copy_project(tmp_path) / "releases" / "adult_income.yaml"
    _, table, fresh = load_dataset(spec)
    order = np.random.default_rng(0).permutation(len(table))
    cut = len(table) // 5
    train, holdout = table.iloc[order[cut:]].reset_index(drop=True), table.iloc[order[:cut]].reset_index(drop=True)
    for name, synthetic in (("fresh", fresh), ("copy", train)):
        verdicts = {}
        for rows in (5_000, 1_000_000):
            _set_check_rows(spec, rows)
            run_dir = make_run(synthetic, train, holdout)
            assert run_reidentify(spec, run_dir)["passed"]
            assert _report(run_dir, "reidentify")["sampling"]["capped"]["train"] is (rows == 5_000)
            verdicts[rows] = _verdicts(run_dir)
            shutil.rmtree(run_dir)  # make_run writes one folder
        if name == "fresh":
            assert verdicts[5_000] == verdicts[1_000_000] and all(verdicts[5_000].values()), verdicts
        else:
            # A copy fails at both sizes on what carries its signal at any size (see evaluate/distance.py).
            for gate in ("exact_match_excess",):
                assert verdicts[5_000][gate] is verdicts[1_000_000][gate] is False
