"""The benchmark command's plumbing (the figures themselves come from running it, not from tests)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from synth_pipeline.bench.generators import DATASETS, DEFAULT_SPEC, KEYS, load_dataset, summarise
from synth_pipeline.cli import build_parser, main


def test_bench_is_a_subcommand_and_a_module():
    args = build_parser().parse_args(["bench", "--generator", "aim", "--epsilon", "1", "--seeds", "2", "--json",
                                      "--dataset", "bank_marketing", "--param", "target=y"])
    assert (args.generator, args.epsilon, args.seeds, args.json) == (["aim"], [1.0], 2, True)
    assert (args.dataset, args.param) == (["bank_marketing"], ["target=y"])
    result = subprocess.run([sys.executable, "-m", "synth_pipeline.bench.generators", "--help"], capture_output=True,
                            text=True, check=True)
    assert "--seeds" in result.stdout


@pytest.mark.parametrize("argv", [["bench", "--generator", "gan"], ["bench", "--seeds", "0"],
                                  ["bench", "--dataset", "iris"], ["bench", "--param", "rounds"]])
def test_bad_selections_are_refused(argv, capsys):
    assert main(argv) == 2
    assert "error:" in capsys.readouterr().err


def test_summary_reports_mean_and_spread_per_figure():
    runs = [{"generator": "aim", "epsilon": 1.0, "seed": s, **{k: float(s + 1) for k in KEYS[2:]}} for s in range(3)]
    for run in runs:
        run["points_max_error"] = None  # a dataset without declared values or atoms
    summary = summarise(runs)
    assert summary["seeds"] == 3 and summary["tstr_auc"] == 2.0 and summary["tstr_auc_std"] == 1.0
    assert summary["points_max_error"] is None and set(KEYS) <= set(summary)


def test_adult_is_harmonized_file_by_file():
    _, train, test = load_dataset(DEFAULT_SPEC)
    assert (len(train), len(test)) == (32_537, 16_276)  # adult.data and adult.test, exact duplicates removed
    assert set(test["income"].unique()) == {"<=50K", ">50K"}


def test_a_one_source_dataset_is_split_with_a_fixed_seed():
    _, train, test = load_dataset(DATASETS["bank_marketing"])
    again = load_dataset(DATASETS["bank_marketing"])[2]
    assert len(test) == round(0.25 * (len(train) + len(test))) and test.equals(again)
