"""Fit OpenDP's AIM or MST (`opendp[mbi]`) on a table of integer codes and sample from it; run by
`synth-pipeline bench --peers` in its own virtual environment (`make peers-env`), since OpenDP pins other versions
of polars and numpy than the pipeline's lock.

Input: an .npy array of codes (rows x columns) and each column's number of codes (the public domain the pipeline
built from the spec; every code is a key, so OpenDP learns no key from the data). Privacy: rho-zCDP with one row per
person, the same rho the pipeline's `aim` spends for the run's (epsilon, delta). Output: an .npy array of sampled
codes and, on stdout, one JSON line with the fit's seconds, the rho (at most) spent and the process's peak memory.

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


def _leave_rounding_room() -> None:
    """OpenDP 0.16.0 splits a budget with `prior` (the next float down) and then refuses its own step when the parts,
    composed with upward rounding, exceed the whole by a few units in the last place ("insufficient budget for
    query", seen for MST on Adult and German credit). A relative 1e-9 step down leaves room; it only ever spends
    less than the budget."""
    from opendp.extras.mbi import _aim, _mst, _table

    def room(x: float) -> float:
        return float(np.nextafter(x * (1 - 1e-9), -np.inf))

    for module in (_aim, _mst, _table):
        module.prior = room


def fit_and_sample(codes: np.ndarray, sizes: list[int], *, algorithm: str, rho: float, rows: int,
                   rounds: int | None, max_size: float) -> np.ndarray:
    names = [f"c{i}" for i in range(len(sizes))]
    frame = pl.DataFrame({name: codes[:, i].astype(np.int64) for i, name in enumerate(names)}).lazy()
    context = dp.Context.compositor(data=frame, privacy_unit=dp.unit_of(contributions=1),
                                    privacy_loss=dp.loss_of(rho=rho))
    chosen = dp.mbi.AIM(rounds=rounds, max_size=max_size) if algorithm == "aim" else dp.mbi.MST()
    keys = {name: list(range(size)) for name, size in zip(names, sizes)}
    table = context.query(rho=rho).contingency_table(keys=keys, algorithm=chosen).release()
    synthetic = table.synthesize(rows, method="sample").select(names).to_numpy().astype(np.float64)
    # OpenDP adds a null key to every column and its model gives it some noisy mass; the pipeline's codes hold no
    # null (missing is a code of its own), so a synthesized null is redrawn from that column's other synthetic values
    # (post-processing of the release).
    rng = np.random.default_rng(0)
    for column in range(synthetic.shape[1]):
        missing = np.isnan(synthetic[:, column])
        if missing.any():
            synthetic[missing, column] = rng.choice(synthetic[~missing, column], size=int(missing.sum()))
    return synthetic.astype(np.int64)


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
    _leave_rounding_room()
    synthetic = fit_and_sample(codes, sizes, algorithm=args.algorithm, rho=args.rho, rows=args.rows,
                               rounds=args.rounds, max_size=args.max_size)
    fit_s = time.perf_counter() - started
    np.save(args.out, synthetic)
    print(json.dumps({"fit_s": fit_s, "rho": args.rho,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
