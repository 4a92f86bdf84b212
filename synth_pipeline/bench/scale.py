"""`synth-pipeline bench-scale`: every step of a release on a generated table, at growing sizes.

The table has 20 columns: Adult's 15 (its bundled public sample, rows resampled and numbers perturbed with a seeded
rng, so no row is a copy) and 5 derived from them with the correlations, atoms and nulls real tables have: a
household size from the relationship, a region from the race and country, a commute time (0 for one in eight: an
atom) from the hours, a health-insurance flag from income and work class, an interview date. No private data goes
in. For each size the table, a spec (Adult's schema and generator, `aim` at epsilon 1, plus the derived columns), a
quality suite and a ledger go into a throwaway project, and the steps run in order as `synth-pipeline run-step`
runs them, each in a fresh process so its wall time, CPU time and peak resident memory are its own (an Airflow
task's). A benchmark, not a test: it prints figures, the growth from one size to the next beside them.

    synth-pipeline bench-scale --rows 1e6               # and the previous size, 1e5
    synth-pipeline bench-scale --rows 1e5 --rows 1e6 [--param rounds=40] [--json] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy and pandas load when a size runs, not with the CLI (`synth-pipeline --help`)
    import pandas as pd

SPEC_NAME = "scale_bench"
MIN_PREVIOUS_ROWS = 5_000  # below this an automatic previous size says nothing about growth
EXTRA_SCHEMA = {
    "household_size": {"type": "integer", "min": 1, "max": 12, "nullable": True},
    "region": {"type": "categorical", "categories": ["northeast", "midwest", "south", "west", "abroad"]},
    "commute_minutes": {"type": "float", "min": 0, "max": 180, "nullable": True},
    "has_insurance": {"type": "boolean", "nullable": True},
    "interview_date": {"type": "datetime", "min": "1994-01-01", "max": "1995-12-31"},
}


def generate_table(rows: int, seed: int) -> pd.DataFrame:
    """`rows` rows of the 20-column table, the same for the same seed."""
    import numpy as np
    import pandas as pd

    from synth_pipeline.bench.generators import DATASETS, load_dataset

    _, train, test = load_dataset(DATASETS["adult"])
    base = pd.concat([train, test], ignore_index=True)
    rng = np.random.default_rng(seed)
    table = base.iloc[rng.integers(0, len(base), rows)].reset_index(drop=True)
    for column in table.columns:  # plain dtypes in the source file, as an extract from a warehouse would have
        if isinstance(table[column].dtype, pd.CategoricalDtype):
            table[column] = table[column].astype("string")
    table["age"] = np.clip(table["age"].to_numpy(dtype=np.int64) + rng.integers(-2, 3, rows), 17, 90)
    table["hours_per_week"] = np.clip(table["hours_per_week"].to_numpy(dtype=np.int64) + rng.integers(-3, 4, rows),
                                      1, 99)
    table["fnlwgt"] = np.clip(table["fnlwgt"].to_numpy(dtype=np.float64) * rng.lognormal(0, 0.1, rows), 1,
                              1_500_000).round().astype(np.int64)
    partnered = table["relationship"].isin(["Husband", "Wife"]).to_numpy()
    household = 1 + rng.poisson(np.where(partnered, 2.2, 0.8))
    table["household_size"] = pd.array(np.where(rng.random(rows) < 0.04, None, np.minimum(household, 12)),
                                       dtype="Int64")
    abroad = (table["native_country"].fillna("United-States") != "United-States").to_numpy()
    black = (table["race"] == "Black").to_numpy()
    region = rng.choice(4, rows, p=[0.18, 0.21, 0.37, 0.24])
    region = np.where(black & (rng.random(rows) < 0.4), 2, region)  # an association, not a copy of one
    table["region"] = np.array(["northeast", "midwest", "south", "west", "abroad"])[
        np.where(abroad & (rng.random(rows) < 0.3), 4, region)]
    commute = rng.gamma(2.0, 6 + table["hours_per_week"].to_numpy() / 5)
    commute = np.where(rng.random(rows) < 0.125, 0.0, np.minimum(commute, 180).round(1))
    table["commute_minutes"] = pd.array(np.where(rng.random(rows) < 0.06, np.nan, commute), dtype="Float64")
    rich = (table["income"] == ">50K").to_numpy()
    employed = table["workclass"].isin(["Private", "Federal-gov", "Local-gov", "State-gov"]).to_numpy()
    insured = rng.random(rows) < 0.55 + 0.3 * rich + 0.1 * employed
    table["has_insurance"] = pd.array(np.where(rng.random(rows) < 0.03, None, insured), dtype="boolean")
    table["interview_date"] = pd.Timestamp("1994-01-01") + pd.to_timedelta(rng.integers(0, 730, rows), unit="D")
    return table


def write_project(root: Path, rows: int, seed: int, params: dict, generator: str = "aim") -> Path:
    """The table, spec, suite and ledger of one size under `root`; returns the spec's path."""
    import yaml

    from synth_pipeline.bench.generators import DATASETS

    table = generate_table(rows, seed)
    for folder in ("data", "releases", "expectations", "config"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    table.to_parquet(root / "data" / "scale.parquet", index=False)
    spec = yaml.safe_load(DATASETS["adult"].read_text())
    spec.update(name=SPEC_NAME, description=f"Scale benchmark, {rows:,} generated rows.", tags=["bench"],
                sources={"table": {"format": "parquet", "path": "data/scale.parquet"}},
                harmonize={"dedupe": {"keys": None, "keep": "first"}},
                schema={**spec["schema"], **EXTRA_SCHEMA}, quality={"suite": f"expectations/{SPEC_NAME}.json"})
    # A public floor of the people below the generated size (dedupe drops a few); delta far below 1 / rows.
    spec["privacy"] = {"epsilon": 1.0, "delta": min(1e-6, 0.1 / rows), "min_individuals": int(rows * 0.9)}
    spec["generator"] = ({**spec["generator"], "seed": seed, "params": {**spec["generator"]["params"], **params}}
                         if generator == spec["generator"]["name"] else
                         {"name": generator, "seed": seed, "params": params})  # Adult's tuning is aim's
    # What the PII scan finds in the derived columns, declared as Adult's own quasi-identifiers are.
    spec["pii"]["columns"].update({name: {"class": "quasi_identifier", "action": "keep"}
                                   for name in ("region", "interview_date")})
    spec.pop("approval", None)
    (root / "releases" / f"{SPEC_NAME}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    suite = [{"type": "expect_table_row_count_to_be_between",
              "kwargs": {"min_value": int(rows * 0.9), "max_value": rows}},
             {"type": "expect_table_columns_to_match_ordered_list", "kwargs": {"column_list": list(table.columns)}},
             *({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": c}} for c in ("age", "income")),
             {"type": "expect_column_values_to_be_between",
              "kwargs": {"column": "household_size", "min_value": 1, "max_value": 12}}]
    (root / "expectations" / f"{SPEC_NAME}.json").write_text(json.dumps({"name": SPEC_NAME, "expectations": suite}))
    ledger = {"datasets": {SPEC_NAME: {"epsilon": 100.0, "delta": 1e-3, "sources": [{"path": "data/scale.parquet"}]}}}
    (root / "config" / "ledger.yaml").write_text(yaml.safe_dump(ledger))
    return root / "releases" / f"{SPEC_NAME}.yaml"


def _run_step(step: str, spec_path: str, state: str, run_id: str, seed: int) -> dict:
    """Runs in a fresh process: one step, and this process's time and peak memory."""
    os.environ["SYNTH_PIPELINE_STATE"] = state
    import inspect

    from synth_pipeline import steps
    from synth_pipeline.runs import run_folder
    from synth_pipeline.sources import RunContext

    run_dir = run_folder(Path(state), SPEC_NAME, run_id)
    function = getattr(steps, f"run_{step}")
    offered = {"run_id": run_id, "seed": seed, "context": RunContext(run_id)}
    accepted = inspect.signature(function).parameters
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = "ok"
    try:
        function(spec_path, run_dir, **{name: value for name, value in offered.items() if name in accepted})
    except Exception as exc:  # noqa: BLE001 - a failed gate is a result here; the later steps still run
        where = traceback.extract_tb(exc.__traceback__)[-1]
        outcome = f"{type(exc).__name__} at {Path(where.filename).name}:{where.lineno}"
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"step": step, "wall_s": time.perf_counter() - wall,
            "cpu_s": time.process_time() - cpu + children.ru_utime + children.ru_stime,
            "peak_mb": max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, children.ru_maxrss) / 1024,
            "outcome": outcome}


def run_size(rows: int, *, workdir: Path, seed: int, params: dict, emit, generator: str = "aim") -> list[dict]:
    """Every step of one run on a `rows`-row table, each in a fresh process."""
    from synth_pipeline.steps import STEPS

    root = workdir / f"rows-{rows}"
    started = time.perf_counter()
    spec_path = write_project(root, rows, seed, params, generator)
    emit({"rows": rows, "step": "(generate table)", "wall_s": time.perf_counter() - started, "cpu_s": None,
          "peak_mb": None, "outcome": "ok"})
    records = []
    for step in STEPS:
        record = {"rows": rows, **_in_fresh_process(step, spec_path, root / ".state", seed)}
        records.append(record)
        emit(record)
    return records


def _in_fresh_process(step: str, spec_path: Path, state: Path, seed: int) -> dict:
    """One step in a child started as `python -m` (an Airflow task's fresh process), its figures read from a file.

    Not a multiprocessing pool: a pool whose worker dies waits forever, and a spawned worker's `__main__` has no
    file when the parent ran as `python -m pytest`, which pyspark (imported by GX) takes for a doctest run and
    answers with `sys.exit(0)`."""
    with tempfile.TemporaryDirectory(prefix="bench-scale-step-") as scratch:
        result = Path(scratch) / "result.json"
        started = time.perf_counter()
        child = subprocess.run([sys.executable, "-m", __name__, step, str(spec_path), str(state), "bench", str(seed),
                                str(result)], check=False)
        if child.returncode != 0 or not result.exists():
            return {"step": step, "wall_s": time.perf_counter() - started, "cpu_s": None, "peak_mb": None,
                    "outcome": f"the step's process ended with exit code {child.returncode} and no figures"}
        return json.loads(result.read_text())


def _sizes(values: list[float]) -> list[int]:
    sizes = sorted({int(v) for v in values})
    if len(sizes) == 1 and sizes[0] // 10 >= MIN_PREVIOUS_ROWS:
        sizes.insert(0, sizes[0] // 10)
    return sizes


def summary_table(records: list[dict]) -> str:
    """Per step: wall, CPU and peak memory at each size, and the wall time's growth over the previous size."""
    sizes = sorted({r["rows"] for r in records})
    by = {(r["rows"], r["step"]): r for r in records}
    steps = list(dict.fromkeys(r["step"] for r in records))
    labels = [f"{n:,} rows: wall / CPU s, peak MB" for n in sizes]
    head = f"{'step':<17}" + "".join(f"{label:>40}" for label in labels)
    lines = [head + ("  wall growth" if len(sizes) > 1 else "")]
    totals = {n: sum(r["wall_s"] for r in records if r["rows"] == n) for n in sizes}
    for step in [*steps, "total"]:
        cells, walls = [], []
        for n in sizes:
            record = by.get((n, step), {"wall_s": totals[n], "cpu_s": None, "peak_mb": None, "outcome": "ok"})
            cpu = "-" if record["cpu_s"] is None else f"{record['cpu_s']:.1f}"
            peak = "-" if record["peak_mb"] is None else f"{record['peak_mb']:.0f}"
            cell = f"{record['wall_s']:.1f} / {cpu}, {peak}"
            cells.append(f"{cell:>38}{'' if record['outcome'] == 'ok' else ' !':<2}")
            walls.append(record["wall_s"])
        growth = "".join(f"  x{b / a:.1f}" if a > 0 else "  -" for a, b in zip(walls, walls[1:]))
        lines.append(f"{step:<17}" + "".join(cells) + growth)
    failed = [f"  ! {r['rows']:,} rows, {r['step']}: {r['outcome']}" for r in records if r["outcome"] != "ok"]
    return "\n".join(lines + failed)


def _handle(args: argparse.Namespace) -> int:
    from synth_pipeline.bench.generators import _overrides

    try:
        params = _overrides(args.param or [])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sizes = _sizes(args.rows or [1e5])
    if sizes[0] < 1_000:
        print("error: --rows must be at least 1000", file=sys.stderr)
        return 2
    emit = (lambda r: print(json.dumps(r), flush=True)) if args.json else (
        lambda r: print(f"  {r['rows']:>10,} {r['step']:<17} {r['wall_s']:8.1f} s  {r['outcome']}", flush=True))
    if not args.json:
        print(f"bench-scale at {', '.join(f'{n:,}' for n in sizes)} rows; load "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=args.workdir) as workdir:
        records = [record for rows in sizes
                   for record in run_size(rows, workdir=Path(workdir), seed=args.seed, params=params, emit=emit,
                                              generator=args.generator)]
    if not args.json:
        print(summary_table(records))
    return 0


def register(commands) -> None:
    parser = commands.add_parser("bench-scale", help="time every step of a release on a generated table at growing "
                                                     "sizes (prints figures)")
    parser.add_argument("--rows", action="append", type=float,
                        help="table size, e.g. 1e6 (repeatable; one size also runs a tenth of it; default 1e5)")
    parser.add_argument("--generator", default="aim", help="the generator to train (default aim, with Adult's "
                                                           "parameters; another gets its defaults and --param)")
    parser.add_argument("--param", action="append", help="KEY=VALUE: override one generator parameter (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="the table's, the split's and the generator's seed")
    parser.add_argument("--workdir", help="where the throwaway projects go (default: the system's temp folder)")
    parser.add_argument("--json", action="store_true", help="one JSON record per step")
    parser.set_defaults(handler=_handle)


if __name__ == "__main__":  # the child `_in_fresh_process` starts: STEP SPEC STATE RUN_ID SEED RESULT_FILE
    step_name, spec_file, state_dir, run_name, seed_text, result_file = sys.argv[1:]
    Path(result_file).write_text(json.dumps(_run_step(step_name, spec_file, state_dir, run_name, int(seed_text))))
