"""`synth-pipeline bench`: every generator on the bundled datasets at epsilon 1 and 10, delta 1e-5.

Datasets (`--dataset`, repeatable, or `all`): UCI Adult (`releases/adult_income.yaml`: fit on adult.data, test on
adult.test), bank marketing (`releases/bank_marketing.yaml`), credit default of Taiwan
(`benchmarks/specs/credit_default.yaml`: fit on its train file, test on its validation file) and German credit
(`benchmarks/specs/german_credit.yaml`). A dataset with one source is harmonized whole and split 75/25 with a fixed
seed. Each source is harmonized with its spec's own rules; the generator's parameters are the spec's, with
`--param KEY=VALUE` overrides (a lever to measure, such as `--param target=income`).

Per run: fit seconds, peak memory (the fitting process's peak resident set), TSTR AUC (HistGradientBoosting trained
on the synthetic table, AUC on the test table), TRTR AUC (trained on the training table: the ceiling), the mean TVD
of all 1-way and 2-way marginals and of 300 random 3-way marginals (declared values and atoms as cells, numeric
columns otherwise in 16 equal-width bins on the public bounds, against the training table), the mean KS distance
over the numeric columns, the largest error in a declared value's or atom's share, and the epsilon the accountant
reports. Per dataset, the same figures for the real test table itself: the floor no generator can be told apart
from. Each run fits in a fresh process, so its time and memory are its own. A benchmark, not a test: it prints
figures.

    synth-pipeline bench [--dataset adult|bank_marketing|credit_default|german_credit|all] [--generator aim]
                         [--epsilon 1] [--seeds 3] [--param KEY=VALUE] [--json]
    python -m synth_pipeline.bench.generators ...

`--peers` adds OpenDP's AIM and MST (`synth_pipeline/bench/peers.py`) on the same table, domain and protocol, each
record with its fit time over `aim`'s.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

KEYS = ("generator", "epsilon", "fit_s", "peak_mb", "tstr_auc", "trtr_auc", "tvd_1way", "tvd_2way", "tvd_3way",
        "ks_mean", "points_max_error", "epsilon_spent", "fit_vs_aim")
ROOT = Path(__file__).resolve().parents[2]
DATASETS = {
    "adult": ROOT / "releases" / "adult_income.yaml",
    "bank_marketing": ROOT / "releases" / "bank_marketing.yaml",
    "credit_default": ROOT / "benchmarks" / "specs" / "credit_default.yaml",
    "german_credit": ROOT / "benchmarks" / "specs" / "german_credit.yaml",
}
DEFAULT_SPEC = DATASETS["adult"]
DELTA = 1e-5
SPLIT_SEED, TEST_SHARE = 0, 0.25


def load_dataset(spec_path: Path) -> tuple[object, pd.DataFrame, pd.DataFrame]:
    """(loaded spec, train table, test table). Sources named `train` and `test` are harmonized one by one with the
    spec's rules; otherwise all sources together, then a seeded 75/25 split (public data: the split is no secret)."""
    import numpy as np

    from synth_pipeline.harmonize import harmonize
    from synth_pipeline.sources import RunContext, read_source
    from synth_pipeline.spec import load_spec

    loaded = load_spec(spec_path)
    spec = loaded.spec

    def harmonized(names: list[str]) -> pd.DataFrame:
        frames = {name: read_source(name, spec.sources[name], loaded=loaded, context=RunContext("bench"))
                  for name in names}
        return harmonize(frames, harmonize_spec=spec.harmonize, schema=spec.schema)[0]

    if set(spec.sources) == {"train", "test"}:
        return loaded, harmonized(["train"]), harmonized(["test"])
    table = harmonized(list(spec.sources))
    order = np.random.default_rng(SPLIT_SEED).permutation(len(table))
    cut = round(TEST_SHARE * len(table))
    return (loaded, table.iloc[order[cut:]].reset_index(drop=True),
            table.iloc[order[:cut]].reset_index(drop=True))


def _params_for(loaded, name: str) -> dict:
    block = loaded.spec.generator
    return dict(block.params) if block is not None and block.name == name else {}


def _fit_and_sample(spec_path: str, name: str, params: dict, epsilon: float, seed: int, rows: int | None,
                    verbose: bool):
    """Runs in a fresh process: fit, sample, and measure this process's time and peak memory."""
    import numpy as np
    import torch

    from synth_pipeline.generators import make_generator

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="  %(message)s", force=True)
    torch.set_num_threads(1)
    loaded, train, _ = load_dataset(Path(spec_path))
    generator = make_generator(name, params)
    domain = generator.build_domain(loaded.spec.schema)
    fit_rng, sample_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    started = time.perf_counter()
    model = generator.fit(train, domain, epsilon=epsilon, delta=DELTA, units=None, rng=fit_rng)
    fit_s = time.perf_counter() - started
    synthetic = model.sample(rows or len(train), sample_rng)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    return synthetic, {"fit_s": fit_s, "peak_mb": peak_mb, "epsilon_spent": model.privacy["epsilon"]}


def evaluate(synthetic: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame, schema, *, target: str) -> dict:
    import numpy as np

    from synth_pipeline.evaluate.fidelity import marginal_tvd
    from synth_pipeline.evaluate.numeric import numeric_fidelity
    from synth_pipeline.evaluate.utility import tstr

    utility = tstr(synthetic, train, test, target=target, schema=schema, rng=np.random.default_rng(0))
    tvd = {f"tvd_{ways}way": marginal_tvd(train, synthetic, schema, ways=ways, max_sets=300 if ways == 3 else None,
                                          rng=np.random.default_rng(0))  # the same 300 sets for every run
           for ways in (1, 2, 3)}
    numeric = numeric_fidelity(train, synthetic, test, schema)
    errors = [abs(p["real"] - p["synthetic"]) for column in numeric.values() for p in column.get("points", [])]
    return {"tstr_auc": utility["tstr"], "trtr_auc": utility["trtr"], **tvd,
            "ks_mean": statistics.fmean(c["ks"]["synthetic"] for c in numeric.values()) if numeric else None,
            "points_max_error": max(errors) if errors else None}


def run(spec_path: Path, *, dataset: str, generators: list[str], epsilons: list[float], seeds: int,
        rows: int | None, target: str | None, overrides: dict, verbose: bool, emit, peers: bool = False,
        peer_rounds: int | None = None) -> list[dict]:
    loaded, train, test = load_dataset(spec_path)
    target = target or loaded.spec.evaluation.target
    floor = {"dataset": dataset, "generator": "real test table (floor)", "epsilon": None, "seed": None,
             "fit_s": None, "peak_mb": None, "epsilon_spent": None,
             **evaluate(test, train, test, loaded.spec.schema, target=target), "tstr_auc": None}  # TRTR is the ceiling
    emit(floor)
    context = multiprocessing.get_context("spawn")
    records = [floor]
    for name in generators:
        params = {**_params_for(loaded, name), **overrides}
        for epsilon in epsilons:
            group = []
            for seed in range(seeds):
                # A fresh process per fit, so peak memory is the fit's own; an executor, not a pool, so that a worker
                # that dies raises BrokenProcessPool instead of leaving the bench waiting forever.
                with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                    synthetic, measured = pool.submit(_fit_and_sample, str(spec_path), name, params, epsilon, seed,
                                                      rows, verbose).result()
                record = {"dataset": dataset, "generator": name, "epsilon": epsilon, "seed": seed, **measured,
                          **evaluate(synthetic, train, test, loaded.spec.schema, target=target)}
                group.append(record)
                emit(record)
            records.extend(group)
            if seeds > 1:
                emit(summarise(group))
    if peers:
        records += _run_peers(loaded, train, test, dataset=dataset, epsilons=epsilons, seeds=seeds, rows=rows,
                              target=target, params={**_params_for(loaded, "aim"), **overrides},
                              rounds=peer_rounds or None,
                              ours=records, emit=emit)
    return records


def _run_peers(loaded, train, test, *, dataset: str, epsilons: list[float], seeds: int, rows: int | None, target: str,
               params: dict, rounds: int | None, ours: list[dict], emit) -> list[dict]:
    """OpenDP's AIM and MST on the same table and domain; each record also gives its fit time over `aim`'s mean."""
    from synth_pipeline.bench import peers
    from synth_pipeline.errors import ConfigError

    records = []
    for peer in peers.PEERS:
        for epsilon in epsilons:
            aim_fits = [r["fit_s"] for r in ours if r["generator"] == "aim" and r["epsilon"] == epsilon]
            group = []
            for seed in range(seeds):
                try:
                    synthetic, measured = peers.fit_and_sample(peer, train, loaded.spec.schema, params,
                                                               epsilon=epsilon, delta=DELTA, seed=seed,
                                                               rows=rows or len(train), rounds=rounds)
                except ConfigError as exc:  # a peer's own failure is a result to report, not the end of the bench
                    print(f"{dataset:<15} {peer:<22} eps={epsilon:g}: {exc}", file=sys.stderr, flush=True)
                    break
                record = {"dataset": dataset, "generator": peer, "epsilon": epsilon, "seed": seed, **measured,
                          "fit_vs_aim": measured["fit_s"] / statistics.fmean(aim_fits) if aim_fits else None,
                          **evaluate(synthetic, train, test, loaded.spec.schema, target=target)}
                group.append(record)
                emit(record)
            records.extend(group)
            if seeds > 1 and group:
                emit(summarise(group))
    return records


def summarise(group: list[dict]) -> dict:
    """Mean and standard deviation of each figure over a (generator, epsilon) group's seeds."""
    summary = {"dataset": group[0].get("dataset"), "generator": group[0]["generator"], "epsilon": group[0]["epsilon"],
               "seeds": len(group)}
    for key in KEYS[2:]:
        values = [r[key] for r in group if r.get(key) is not None]
        summary[key] = statistics.fmean(values) if values else None
        summary[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else None
    return summary


def _shown(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print_text(record: dict) -> None:
    head = f"{record.get('dataset', ''):<15} {record['generator']:<22} eps={_shown(record['epsilon'], 0):<3}"
    if "seeds" in record:
        spread = "  ".join(f"{k}={_shown(record[k])}±{_shown(record[k + '_std'])}" for k in KEYS[2:])
        print(f"{head} mean of {record['seeds']} seeds: {spread}")
        return
    print(f"{head} seed={record['seed']}  fit {_shown(record['fit_s'], 1)}s  peak {_shown(record['peak_mb'], 0)} MB  "
          f"TSTR AUC {_shown(record['tstr_auc'])} (TRTR {_shown(record['trtr_auc'])})  TVD 1/2/3-way "
          f"{_shown(record['tvd_1way'])} / {_shown(record['tvd_2way'])} / {_shown(record['tvd_3way'])}  KS "
          f"{_shown(record['ks_mean'])}  worst value share error {_shown(record['points_max_error'])}  epsilon spent "
          f"{_shown(record['epsilon_spent'])}"
          + (f"  fit time {record['fit_vs_aim']:.1f}x aim's" if record.get("fit_vs_aim") is not None else ""),
          flush=True)


def _overrides(pairs: list[str]) -> dict:
    import yaml

    parsed = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise ValueError(f"--param takes KEY=VALUE, got {pair!r}")
        parsed[key] = yaml.safe_load(value)
    return parsed


def _handle(args: argparse.Namespace) -> int:
    from synth_pipeline.generators import names

    generators = args.generator or list(names())
    datasets = list(DATASETS) if "all" in (args.dataset or []) else (args.dataset or ["adult"])
    problems = []
    if args.seeds < 1:
        problems.append("--seeds must be at least 1")
    if args.peers:
        from synth_pipeline.bench.peers import peers_python
        from synth_pipeline.errors import ConfigError

        try:
            peers_python()
        except ConfigError as exc:
            problems.append(str(exc))
    unknown = sorted(set(generators) - set(names()))
    if unknown:
        problems.append(f"unknown generator(s) {unknown}; expected some of {list(names())}")
    if set(datasets) - set(DATASETS):
        problems.append(f"unknown dataset(s) {sorted(set(datasets) - set(DATASETS))}; expected some of "
                        f"{[*DATASETS, 'all']}")
    try:
        overrides = _overrides(args.param or [])
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        print(f"error: {'; '.join(problems)}", file=sys.stderr)
        return 2
    emit = (lambda r: print(json.dumps(r), flush=True)) if args.json else _print_text
    for dataset in datasets:
        if not args.json:
            print(f"bench on {dataset} ({DATASETS[dataset].relative_to(ROOT)}): delta {DELTA:g}, params "
                  f"overridden {overrides or 'nowhere'}; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
                  flush=True)
        run(DATASETS[dataset], dataset=dataset, generators=generators, epsilons=args.epsilon or [1.0, 10.0],
            seeds=args.seeds, rows=args.rows, target=args.target, overrides=overrides, verbose=args.verbose, emit=emit,
            peers=args.peers, peer_rounds=args.peer_rounds)
    return 0


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", action="append", help=f"repeatable: {', '.join(DATASETS)} or all (default: adult)")
    parser.add_argument("--generator", action="append", help="a registry name (repeatable; default: all)")
    parser.add_argument("--epsilon", action="append", type=float, help="repeatable; default: 1 and 10")
    parser.add_argument("--seeds", type=int, default=1, help="repeat each run with fresh noise; report mean and spread")
    parser.add_argument("--param", action="append", help="KEY=VALUE: override one generator parameter (repeatable)")
    parser.add_argument("--json", action="store_true", help="one JSON record per run (and per group with --seeds)")
    parser.add_argument("--rows", type=int, help="synthetic rows to sample (default: the training table's)")
    parser.add_argument("--target", help="the TSTR target column (default: the spec's evaluation.target)")
    parser.add_argument("--verbose", action="store_true", help="show the generators' training progress")
    parser.add_argument("--peers", action="store_true",
                        help="also run OpenDP's AIM and MST on the same data and domain (needs `make peers-env`)")
    parser.add_argument("--peer-rounds", type=int, default=40,
                        help="cap on OpenDP AIM's rounds (default 40; 0: OpenDP's own, which can take 20+ minutes)")
    parser.set_defaults(handler=_handle)


def register(commands) -> None:
    _add_arguments(commands.add_parser("bench", help="benchmark the DP generators on the bundled datasets (prints "
                                                     "figures)"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synth_pipeline.bench.generators", description=__doc__.splitlines()[0])
    _add_arguments(parser)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
