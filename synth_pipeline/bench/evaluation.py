"""Benchmark of the evaluation steps on the bundled Adult release: the time of each check, and its verdicts on a real
DP release and on three stand-ins for a synthetic table whose answers are known.

    .venv/bin/python -m synth_pipeline.bench.evaluation [--cases copy noise aim fresh] [--seed 0]

- copy:  32,000 training rows, verbatim. Every risk gate must fail.
- noise: 32,000 rows drawn uniformly over the public domain. Risk gates pass, utility is near zero.
- aim:   the spec's generator (AIM unless the spec names another) fitted on the training rows at the spec's
         (epsilon, delta), 32,000 rows sampled: a real release's figures.
- fresh: real rows the generator never saw: all rows re-split into 24,000 training, 6,000 holdout and the remaining
         18,790 as "synthetic", what a perfect, non-memorising generator would produce. Figures show the null.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from synth_pipeline import harmonize
from synth_pipeline.errors import PipelineError
from synth_pipeline.sources import RunContext, read_source
from synth_pipeline.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "releases" / "adult_income.yaml"


def _adult(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    loaded = load_spec(SPEC)
    frames = {name: read_source(name, source, loaded=loaded, context=RunContext(run_id="benchmark"))
              for name, source in loaded.spec.sources.items()}
    for frame in frames.values():
        frame.columns = [str(c) for c in frame.columns]
    table, _ = harmonize.harmonize(frames, harmonize_spec=loaded.spec.harmonize, schema=loaded.spec.schema)
    order = rng.permutation(len(table))
    cut = int(round(len(table) * (1 - loaded.spec.evaluation.holdout_fraction)))
    return table.iloc[order[:cut]].reset_index(drop=True), table.iloc[order[cut:]].reset_index(drop=True)


def _uniform(schema, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    columns = {}
    for name, spec in schema.items():
        if spec.type == "categorical":
            columns[name] = pd.Categorical(rng.choice(list(spec.categories), rows), categories=list(spec.categories))
        else:
            columns[name] = pd.array(rng.integers(int(spec.min), int(spec.max) + 1, rows), dtype="Int64")
    return pd.DataFrame(columns)


def _project(folder: Path, seed: int) -> Path:
    """A copy of the spec and its suite, in a throwaway project."""
    raw = yaml.safe_load(SPEC.read_text())
    raw["generator"] = {**(raw.get("generator") or {"name": "aim"}), "seed": seed}
    for part in ("releases", "expectations"):
        (folder / part).mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / raw["quality"]["suite"], folder / raw["quality"]["suite"])
    spec_path = folder / "releases" / SPEC.name
    spec_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return spec_path


def _generated(train: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    from synth_pipeline.generators import make_generator

    spec = load_spec(SPEC).spec
    name, params = (spec.generator.name, spec.generator.params) if spec.generator else ("aim", {})
    generator = make_generator(name, params)
    model = generator.fit(train, generator.build_domain(spec.schema), epsilon=spec.privacy.epsilon,
                          delta=spec.privacy.delta, units=None, rng=rng)
    return model.sample(32_000, rng)


def _case(name: str, train, holdout, schema, rng):
    if name == "aim":
        started = time.perf_counter()
        synthetic = _generated(train, rng)
        print(f"(generator fitted and sampled in {time.perf_counter() - started:.1f}s)")
        return synthetic, train, holdout
    if name == "copy":
        return train.sample(n=min(32_000, len(train)), random_state=int(rng.integers(2**31))), train, holdout
    if name == "noise":
        return _uniform(schema, 32_000, rng), train, holdout
    # Real rows as "synthetic" need real rows the split never used: re-split all rows 4:1:(the rest).
    pool = pd.concat([train, holdout], ignore_index=True)
    order = rng.permutation(len(pool))
    train_rows, holdout_rows = 24_000, 6_000
    return (pool.iloc[order[train_rows + holdout_rows:]], pool.iloc[order[:train_rows]],
            pool.iloc[order[train_rows:train_rows + holdout_rows]])


def main(argv: list[str] | None = None) -> int:
    from synth_pipeline.steps.evaluate import run_reidentify, run_validate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cases = ["copy", "noise", "aim", "fresh"]
    parser.add_argument("--cases", nargs="+", default=cases, choices=cases)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    train, holdout = _adult(rng)
    schema = load_spec(SPEC).spec.schema
    print(f"Adult: {len(train):,} training rows, {len(holdout):,} holdout rows; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="evaluation-benchmark-") as scratch:
        spec_path = _project(Path(scratch) / "project", args.seed)
        for case in args.cases:
            synthetic, real_train, real_holdout = _case(case, train, holdout, schema, rng)
            run_dir = Path(scratch) / "runs" / case
            for folder in ("sample", "split", "train"):
                (run_dir / folder).mkdir(parents=True)
            # Each case is a fit of its own: `validate` draws one release decision per train report.
            (run_dir / "train" / "report.json").write_text(json.dumps({"case": case}))
            synthetic.to_parquet(run_dir / "sample" / "synthetic.parquet", index=False)
            real_train.to_parquet(run_dir / "split" / "train.parquet", index=False)
            real_holdout.to_parquet(run_dir / "split" / "holdout.parquet", index=False)
            print(f"\n== {case}: {len(synthetic):,} synthetic, {len(real_train):,} train, "
                  f"{len(real_holdout):,} holdout")
            for step in (run_validate, run_reidentify):
                started = time.perf_counter()
                try:
                    step(spec_path, run_dir)
                    outcome = "passed"
                except PipelineError as exc:
                    outcome = f"{type(exc).__name__} ({str(exc).splitlines()[0]})"
                wall = time.perf_counter() - started
                report_path = run_dir / step.__name__.removeprefix("run_") / "report.json"
                if not report_path.is_file():
                    print(f"{step.__name__}: {outcome}, before writing its report")
                    continue
                report = json.loads(report_path.read_text())
                timings = ", ".join(f"{k} {v:.1f}s" for k, v in report["timings_s"].items() if k != "total")
                print(f"{step.__name__}: {outcome} in {wall:.1f}s ({timings}); load {report['load_average'][0]:.2f}")
                decision = report.get("release_decision")
                if decision:
                    print(f"    release decision (DP, epsilon {decision['epsilon']:g}): "
                          f"{'passed' if decision['passed'] else 'FAILED'}; the figures below advise the steward")
                for verdict in report["gates"]:
                    value = "n/a" if verdict["value"] is None else f"{verdict['value']:.3f}"
                    print(f"    {'ok  ' if verdict['passed'] else 'FAIL'} {verdict['name']} = {value} "
                          f"({'<=' if verdict['direction'] == 'max' else '>='} {verdict['limit']:g})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
