"""Fit OpenDP's AIM or MST (`opendp[mbi]`) on a table of integer codes and sample from it; run by
`synth-pipeline bench --peers` in its own virtual environment (`make peers-env`), since OpenDP pins other versions
of polars and numpy than the pipeline's lock.

Input: an .npy array of codes (rows x columns) and each column's number of codes (the public domain the pipeline
built from the spec; every code is a key, so OpenDP learns no key from the data). Privacy: rho-zCDP with one row per
person, the same rho the pipeline's `aim` spends for the run's (epsilon, delta). Output: an .npy array of sampled
codes and, on stdout, one JSON line with the fit's seconds, the rho spent and the process's peak memory.

    .venv-peers/bin/python benchmarks/peers/opendp_runner.py --algorithm aim --codes IN.npy --sizes 9,16,2
        --rho 0.0306 --rows 30000 --out OUT.npy [--rounds 40] [--max-size 80]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import opendp.prelude as dp
import polars as pl


def fit_and_sample(codes: np.ndarray, sizes: list[int], *, algorithm: str, rho: float, rows: int,
                   rounds: int | None, max_size: float) -> tuple[np.ndarray, float]:
    """(sampled codes, the rho the release spent)."""
    names = [f"c{i}" for i in range(len(sizes))]
    frame = pl.DataFrame({name: codes[:, i].astype(np.int64) for i, name in enumerate(names)}).lazy()
    keys = {name: list(range(size)) for name, size in zip(names, sizes)}
    # OpenDP splits a query's rho among its steps, and the floating-point parts can sum a few units in the last place
    # past the whole ("insufficient budget for query"): such a refusal is retried a hair under the budget.
    for shave in (0.0, 1e-9, 1e-7, 1e-5):
        query_rho = rho * (1 - shave)
        context = dp.Context.compositor(data=frame, privacy_unit=dp.unit_of(contributions=1),
                                        privacy_loss=dp.loss_of(rho=rho))
        chosen = dp.mbi.AIM(rounds=rounds, max_size=max_size) if algorithm == "aim" else dp.mbi.MST()
        try:
            table = context.query(rho=query_rho).contingency_table(keys=keys, algorithm=chosen).release()
        except dp.OpenDPException as exc:
            if "insufficient budget" not in str(exc):
                raise
            continue
        synthetic = table.synthesize(rows, method="sample")
        return synthetic.select(names).to_numpy().astype(np.int64), query_rho
    raise RuntimeError(f"OpenDP refused every budget split of rho {rho}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", choices=("aim", "mst"), required=True)
    parser.add_argument("--codes", required=True)
    parser.add_argument("--sizes", required=True, help="comma-separated number of codes per column")
    parser.add_argument("--rho", type=float, required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--rounds", type=int, help="cap on AIM's rounds (default: OpenDP's)")
    parser.add_argument("--max-size", type=float, default=80.0, help="AIM's model size cap in MB (OpenDP's default)")
    args = parser.parse_args()
    dp.enable_features("contrib")
    codes = np.load(args.codes)
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.perf_counter()
    synthetic, spent_rho = fit_and_sample(codes, sizes, algorithm=args.algorithm, rho=args.rho, rows=args.rows,
                                          rounds=args.rounds, max_size=args.max_size)
    fit_s = time.perf_counter() - started
    np.save(args.out, synthetic)
    print(json.dumps({"fit_s": fit_s, "rho": spent_rho,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
