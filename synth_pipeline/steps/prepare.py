"""Steps that prepare the input table: extract the sources, harmonize them, gate the result on its GX suite."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synth_pipeline import harmonize as harmonize_stage
from synth_pipeline import quality
from synth_pipeline.runs import step_input, step_output, write_json
from synth_pipeline.sources import ConnectionResolver, RunContext, env_connection_resolver, read_source
from synth_pipeline.spec import load_spec

TABLE = "table.parquet"
REPORT = "report.json"


def run_extract(
    spec_path: str | Path,
    run_dir: Path,
    *,
    context: RunContext,
    resolve_connection: ConnectionResolver = env_connection_resolver,
) -> dict:
    loaded = load_spec(spec_path)
    rows = {}
    with step_output(run_dir, "extract") as out:
        for name, source in loaded.spec.sources.items():
            frame = read_source(name, source, loaded=loaded, context=context, resolve_connection=resolve_connection)
            frame.columns = [str(c) for c in frame.columns]
            frame.to_parquet(out / f"{name}.parquet", index=False)
            rows[name] = len(frame)
        write_json(out / REPORT, {"spec_hash": loaded.spec_hash, "run_id": context.run_id, "rows": rows})
    # Row counts are private (they count people): the run folder's report has them, XCom only the names.
    return {"uri": str(run_dir / "extract"), "sources": sorted(rows), "spec_hash": loaded.spec_hash}


def run_harmonize(spec_path: str | Path, run_dir: Path) -> dict:
    loaded = load_spec(spec_path)
    folder = step_input(run_dir, "extract")
    frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in loaded.spec.sources}
    with step_output(run_dir, "harmonize") as out:
        table, report = harmonize_stage.harmonize(frames, harmonize_spec=loaded.spec.harmonize, schema=loaded.spec.schema)
        table.to_parquet(out / TABLE, index=False)
        write_json(out / REPORT, {"spec_hash": loaded.spec_hash, **report.to_dict()})
    return {"uri": str(run_dir / "harmonize" / TABLE), "report": str(run_dir / "harmonize" / REPORT)}


def run_quality_gate(spec_path: str | Path, run_dir: Path) -> dict:
    loaded = load_spec(spec_path)
    suite = quality.suite_path(loaded)  # a suite outside its folders is refused before any row is read
    table = pd.read_parquet(step_input(run_dir, "harmonize") / TABLE)
    report = quality.validate_table(table, suite)
    # The report is written whether or not the gate passes: the steward needs to see what failed, with its counts.
    # The exception names the expectations and their rules only.
    with step_output(run_dir, "quality_gate") as out:
        write_json(out / REPORT, {"spec_hash": loaded.spec_hash, **report.to_dict()})
    quality.enforce(report)
    return {"uri": str(run_dir / "quality_gate" / REPORT), "passed": True, "expectations": report.evaluated}

