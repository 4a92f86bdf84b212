"""Risk gates do not flip when the same synthetic table is checked again with other attack draws, at the default
thresholds and the size of the bundled heart-disease release; every re-run is recorded in the report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from synth_pipeline.steps import run_reidentify

pytestmark = pytest.mark.slow  # three runs of every attack per table


def _verdicts_over_seeds(spec_path, run_dir, seeds) -> list[dict]:
    document = yaml.safe_load(spec_path.read_text())
    document.pop("gates")  # the defaults (0.1 and the like), not the loosened gates of the other evaluation tests
    seen = []
    for seed in seeds:
        document["generator"]["seed"] = seed  # the attacks' rng: another draw of targets, queries and splits
        spec_path.write_text(yaml.safe_dump(document, sort_keys=False))
        run_reidentify(spec_path, run_dir)
        report = json.loads((run_dir / "reidentify" / "report.json").read_text())
        seen.append({verdict["name"]: verdict["passed"] for verdict in report["gates"]})
    return seen


@pytest.mark.parametrize("kind", ["fresh", "copy"])
def test_risk_verdicts_are_the_same_on_every_re_run(eval_project, real_tables, make_run, draw, kind):
    train, holdout = real_tables  # 1,600 and 400 rows, about the heart-disease release's split of 918 and more
    synthetic = draw["population"](1600, np.random.default_rng(99)) if kind == "fresh" else train
    run_dir = make_run(synthetic, train, holdout)
    # On the fresh table singling-out reads 0.088, 0.181 and 0.13 with these seeds (95% intervals from 0.0 or 0.01
    # to 0.24-0.35): a point-estimate gate at its default 0.1 passed the first run and failed the other two.
    seen = _verdicts_over_seeds(eval_project, run_dir, seeds=(1, 4, 5))
    assert seen[0] == seen[1] == seen[2], seen
    if kind == "fresh":  # a fresh sample of the population is what a perfect generator gives: nothing to flag
        assert all(seen[0].values()), seen[0]
    else:
        assert not seen[0]["dcr_share_at_equal_sizes"] and not seen[0]["membership_advantage"]
    report = json.loads((run_dir / "reidentify" / "report.json").read_text())
    assert [run["gates"] for run in report["earlier_runs"]] == seen[:2]  # the two runs before this one
