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


def test_peers_without_their_environment_are_refused_with_the_way_to_make_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SYNTH_PIPELINE_PEERS_PYTHON", str(tmp_path / "no-such-python"))
    assert main(["bench", "--peers", "--dataset", "german_credit"]) == 2
    assert "make peers-env" in capsys.readouterr().err


def test_a_peer_runs_on_the_pipelines_own_domain(tmp_path, monkeypatch):
    """The peer sees the aim domain's codes and sizes, and its codes come back through the same domain."""
    import numpy as np

    from synth_pipeline.bench import peers
    from synth_pipeline.generators import make_generator

    loaded, train, _ = load_dataset(DATASETS["german_credit"])
    fake = tmp_path / "peer.py"  # echoes the codes it was given: the round trip, not OpenDP, is under test
    fake.write_text("import json, sys, numpy as np\n"
                    "a = dict(zip(sys.argv[1::2], sys.argv[2::2]))\n"
                    "codes = np.load(a['--codes']); assert codes.shape[1] == len(a['--sizes'].split(','))\n"
                    "np.save(a['--out'], codes[: int(a['--rows'])])\n"
                    "print(json.dumps({'fit_s': 0.5, 'peak_mb': 1.0, 'rho': float(a['--rho'])}))\n")
    monkeypatch.setattr(peers, "RUNNER", fake)
    monkeypatch.setenv("SYNTH_PIPELINE_PEERS_PYTHON", sys.executable)
    synthetic, measured = peers.fit_and_sample("opendp_mst", train, loaded.spec.schema, {}, epsilon=1.0, delta=1e-5,
                                               seed=0, rows=100, rounds=None)
    domain = make_generator("aim", {}).build_domain(loaded.spec.schema)
    assert list(synthetic.columns) == list(train.columns) and len(synthetic) == 100
    assert np.array_equal(domain.encode(synthetic), domain.encode(train.iloc[:100]))
    assert measured["epsilon_spent"] == pytest.approx(1.0, rel=1e-6)
