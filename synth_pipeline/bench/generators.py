"""`synth-pipeline bench`: every generator on UCI Adult at epsilon 1 and 10, delta 1e-5.

Protocol: harmonize `adult.data` and `adult.test` separately with the `adult_income` spec; fit on adult.data, sample
32,561 rows, and report fit seconds, peak memory (the fitting process's peak resident set), TSTR AUC
(HistGradientBoosting trained on the synthetic table, AUC on adult.test), TRTR AUC (trained on adult.data: the
ceiling), the mean TVD of all 1-way and 2-way marginals and of 300 random 3-way marginals (numeric columns in 16
equal-width bins on the public bounds, against the training table), and the epsilon the accountant reports.
Each run fits in a fresh process, so its time and memory are its own. A benchmark, not a test: it prints figures.

    synth-pipeline bench [--generator aim] [--epsilon 1] [--seeds 3] [--json]
    python -m synth_pipeline.bench.generators ...
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
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

KEYS = ("generator", "epsilon", "fit_s", "peak_mb", "tstr_auc", "trtr_auc", "tvd_1way", "tvd_2way", "tvd_3way",
        "epsilon_spent")
DEFAULT_SPEC = Path(__file__).resolve().parents[2] / "releases" / "adult_income.yaml"
DELTA = 1e-5


def load_adult(spec_path: Path) -> tuple[object, pd.DataFrame, pd.DataFrame]:
    """(loaded spec, train table, test table): each source harmonized on its own with the spec's own rules."""
    from synth_pipeline.harmonize import harmonize
    from synth_pipeline.sources import RunContext, read_source
    from synth_pipeline.spec import load_spec

    loaded = load_spec(spec_path)
    tables = {}
    for name in ("train", "test"):
        frame = read_source(name, loaded.spec.sources[name], loaded=loaded, context=RunContext("bench"))
        tables[name], _ = harmonize({name: frame}, harmonize_spec=loaded.spec.harmonize, schema=loaded.spec.schema)
    return loaded, tables["train"], tables["test"]


def _params_for(loaded, name: str) -> dict:
    block = loaded.spec.generator
    return dict(block.params) if block is not None and block.name == name else {}


def _fit_and_sample(spec_path: str, name: str, params: dict, epsilon: float, seed: int, rows: int, verbose: bool):
    """Runs in a fresh process: fit, sample, and measure this process's time and peak memory."""
    import numpy as np
    import torch

    from synth_pipeline.generators import make_generator

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="  %(message)s", force=True)
    torch.set_num_threads(1)
    loaded, train, _ = load_adult(Path(spec_path))
    generator = make_generator(name, params)
    domain = generator.build_domain(loaded.spec.schema)
    fit_rng, sample_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    started = time.perf_counter()
    model = generator.fit(train, domain, epsilon=epsilon, delta=DELTA, units=None, rng=fit_rng)
    fit_s = time.perf_counter() - started
    synthetic = model.sample(rows, sample_rng)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    return synthetic, {"fit_s": fit_s, "peak_mb": peak_mb, "epsilon_spent": model.privacy["epsilon"]}


def evaluate(synthetic: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame, schema, *, target: str) -> dict:
    import numpy as np

    from synth_pipeline.evaluate.fidelity import marginal_tvd
    from synth_pipeline.evaluate.utility import tstr

    utility = tstr(synthetic, train, test, target=target, schema=schema, rng=np.random.default_rng(0))
    tvd = {f"tvd_{ways}way": marginal_tvd(train, synthetic, schema, ways=ways, max_sets=300 if ways == 3 else None,
                                          rng=np.random.default_rng(0))  # the same 300 sets for every run
           for ways in (1, 2, 3)}
    return {"tstr_auc": utility["tstr"], "trtr_auc": utility["trtr"], **tvd}


def run(spec_path: Path, *, generators: list[str], epsilons: list[float], seeds: int, rows: int, target: str,
        verbose: bool, emit) -> list[dict]:
    loaded, train, test = load_adult(spec_path)
    context = multiprocessing.get_context("spawn")
    records = []
    for name in generators:
        for epsilon in epsilons:
            group = []
            for seed in range(seeds):
                with context.Pool(1) as pool:
                    synthetic, measured = pool.apply(_fit_and_sample, (str(spec_path), name, _params_for(loaded, name),
                                                                       epsilon, seed, rows, verbose))
                record = {"generator": name, "epsilon": epsilon, "seed": seed, **measured,
                          **evaluate(synthetic, train, test, loaded.spec.schema, target=target)}
                group.append(record)
                emit(record)
            records.extend(group)
            if seeds > 1:
                emit(summarise(group))
    return records


def summarise(group: list[dict]) -> dict:
    """Mean and standard deviation of each figure over a (generator, epsilon) group's seeds."""
    summary = {"generator": group[0]["generator"], "epsilon": group[0]["epsilon"], "seeds": len(group)}
    for key in KEYS[2:]:
        values = [r[key] for r in group]
        summary[key], summary[f"{key}_std"] = statistics.fmean(values), statistics.stdev(values)
    return summary


def _print_text(record: dict) -> None:
    if "seeds" in record:
        spread = "  ".join(f"{k}={record[k]:.4f}±{record[k + '_std']:.4f}" for k in KEYS[2:])
        print(f"{record['generator']:<22} eps={record['epsilon']:<5g} mean of {record['seeds']} seeds: {spread}")
        return
    print(f"{record['generator']:<22} eps={record['epsilon']:<5g} seed={record['seed']}  fit {record['fit_s']:7.1f}s  "
          f"peak {record['peak_mb']:6.0f} MB  TSTR AUC {record['tstr_auc']:.4f} (TRTR {record['trtr_auc']:.4f})  "
          f"TVD 1/2/3-way {record['tvd_1way']:.4f} / {record['tvd_2way']:.4f} / {record['tvd_3way']:.4f}  "
          f"epsilon spent {record['epsilon_spent']:.4f}", flush=True)


def _handle(args: argparse.Namespace) -> int:
    from synth_pipeline.generators import names

    generators = args.generator or list(names())
    if args.seeds < 1:
        print("error: --seeds must be at least 1", file=sys.stderr)
        return 2
    unknown = sorted(set(generators) - set(names()))
    if unknown:
        print(f"error: unknown generator(s) {unknown}; expected some of {list(names())}", file=sys.stderr)
        return 2
    emit = (lambda r: print(json.dumps(r), flush=True)) if args.json else _print_text
    if not args.json:
        print(f"bench on {args.spec}: fit on adult.data, {args.rows} rows sampled, delta {DELTA:g}, TSTR target "
              f"{args.target!r}; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    run(Path(args.spec), generators=generators, epsilons=args.epsilon or [1.0, 10.0], seeds=args.seeds,
        rows=args.rows, target=args.target, verbose=args.verbose, emit=emit)
    return 0


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--generator", action="append", help="a registry name (repeatable; default: all)")
    parser.add_argument("--epsilon", action="append", type=float, help="repeatable; default: 1 and 10")
    parser.add_argument("--seeds", type=int, default=1, help="repeat each run with fresh noise; report mean and spread")
    parser.add_argument("--json", action="store_true", help="one JSON record per run (and per group with --seeds)")
    parser.add_argument("--rows", type=int, default=32_561, help="synthetic rows to sample (default: adult.data's)")
    parser.add_argument("--target", default="income", help="the TSTR target column")
    parser.add_argument("--spec", default=str(DEFAULT_SPEC), help="the Adult release spec")
    parser.add_argument("--verbose", action="store_true", help="show the generators' training progress")
    parser.set_defaults(handler=_handle)


def register(commands) -> None:
    _add_arguments(commands.add_parser("bench", help="benchmark the DP generators on UCI Adult (prints figures)"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synth_pipeline.bench.generators", description=__doc__.splitlines()[0])
    _add_arguments(parser)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
