"""`python -m synth_pipeline.bench.pii [--json] [--data-root DIR] [--sample-size N]`: how well and how fast the PII
scan works.

- Accuracy: every table named in `benchmarks/pii_truth/*.yaml` is scanned; per column, the precision and recall of
  the entity types found against the truth file, and whether the class matches; then totals.
- Generated people (`bench.pii_people`): Faker's seeded tables of fake people in five locales, with column names in
  five languages; recall and precision per class (secret, direct identifier, quasi-identifier, none) and how many
  postcode columns got their country's coarsening.
- Speed: wall time and throughput of a scan of a 100,000-row, 20-column table built from the shared data, and the
  wall time of the `pii_scan` step on the Adult release's harmonized table, in a fresh process (as an Airflow task
  runs: the analyzer is built first) and in a warm one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from synth_pipeline.bench.pii_people import LOCALES, Scored, per_class, score_generated

ROOT = Path(__file__).resolve().parents[2]
TRUTH_DIR = ROOT / "benchmarks" / "pii_truth"
DEFAULT_DATA_ROOT = ROOT.parent / "shared" / "data"
SPEED_ROWS = 100_000
ADULT_COLUMNS = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
                 "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
                 "income"]
FEBRL_COLUMNS = ["given_name", "surname", "address_1", "date_of_birth", "soc_sec_id"]


@dataclass(frozen=True)
class Expected:
    pii_class: str
    entities: frozenset[str]
    empty: bool = False  # documented, but every value is empty in the file: nothing to find

    @property
    def scored_class(self) -> str:
        return "none" if self.empty else self.pii_class

    @property
    def scored_entities(self) -> frozenset[str]:
        return frozenset() if self.empty else self.entities


@dataclass(frozen=True)
class Truth:
    name: str
    dataset: str
    files: tuple[str, ...]
    read: dict
    columns: dict[str, Expected]


def load_truths(folder: Path = TRUTH_DIR) -> list[Truth]:
    truths = []
    for path in sorted(folder.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        columns = {str(name): Expected(entry["class"], frozenset(entry.get("entities", ())), entry.get("empty", False))
                   for name, entry in document["columns"].items()}
        truths.append(Truth(path.stem, document["dataset"], tuple(document["files"]), document.get("read", {}),
                            columns))
    return truths


def read_truth_table(truth: Truth, file: str, data_root: Path) -> pd.DataFrame:
    table = pd.read_csv(data_root / truth.dataset / file, dtype=str, **truth.read)
    table.columns = [str(c).strip() for c in table.columns]
    return table


@dataclass(frozen=True)
class ColumnScore:
    table: str
    column: str
    expected: Expected
    found_class: str | None
    found_entities: frozenset[str]

    @property
    def true_positives(self) -> int:
        return len(self.expected.scored_entities & self.found_entities)

    @property
    def precision(self) -> float | None:
        return self.true_positives / len(self.found_entities) if self.found_entities else None

    @property
    def recall(self) -> float | None:
        expected = self.expected.scored_entities
        return self.true_positives / len(expected) if expected else None

    @property
    def class_matches(self) -> bool:
        return self.found_class == self.expected.scored_class


def score_truth(truth: Truth, data_root: Path, *, analyzer, sample_size: int, seed: int = 0) -> list[ColumnScore]:
    """Scan each of the truth's files and score every column."""
    from synth_pipeline.pii.classify import scan_table

    scores = []
    for file in truth.files:
        table = read_truth_table(truth, file, data_root)
        differ = sorted(set(truth.columns) ^ set(table.columns))
        if differ:
            raise ValueError(f"{truth.name}: the truth file and {file} disagree on columns {differ}")
        findings = scan_table(table, analyzer=analyzer, sample_size=sample_size, rng=np.random.default_rng(seed),
                              custom_classes={})
        scores += [ColumnScore(f"{truth.dataset}/{file}", f.name, truth.columns[f.name], f.pii_class,
                               frozenset(f.entities)) for f in findings]
    return scores


def score_truths(data_root: Path, *, analyzer, sample_size: int) -> list[ColumnScore]:
    return [s for truth in load_truths() for s in score_truth(truth, data_root, analyzer=analyzer,
                                                               sample_size=sample_size)]


def summarize(scores: list[ColumnScore]) -> dict:
    found = sum(len(s.found_entities) for s in scores)
    expected = sum(len(s.expected.scored_entities) for s in scores)
    hits = sum(s.true_positives for s in scores)
    direct = [s for s in scores if s.expected.scored_class == "direct_identifier"]
    plain = [s for s in scores if s.expected.scored_class == "none"]
    is_pii = [s.expected.scored_class != "none" for s in scores]
    flagged = [s.found_class != "none" for s in scores]
    both = sum(a and b for a, b in zip(is_pii, flagged))
    return {
        "columns": len(scores),
        "entity_precision": round(hits / found, 3) if found else None,
        "entity_recall": round(hits / expected, 3) if expected else None,
        "class_accuracy": round(sum(s.class_matches for s in scores) / len(scores), 3),
        "pii_column_precision": round(both / sum(flagged), 3) if any(flagged) else None,
        "pii_column_recall": round(both / sum(is_pii), 3) if any(is_pii) else None,
        "direct_identifiers_found": f"{sum(s.found_class == 'direct_identifier' for s in direct)}/{len(direct)}",
        "none_columns_flagged": f"{sum(s.found_class != 'none' for s in plain)}/{len(plain)}",
    }


def speed_table(data_root: Path, *, rows: int, rng: np.random.Generator) -> tuple[pd.DataFrame, str]:
    adult = pd.read_csv(data_root / "uci_adult" / "adult.data", header=None, names=ADULT_COLUMNS, dtype=str,
                        skipinitialspace=True)
    files = sorted((data_root / "febrl").glob("*.csv"))
    febrl = pd.concat([pd.read_csv(p, dtype=str, skipinitialspace=True) for p in files])
    febrl.columns = [c.strip() for c in febrl.columns]
    columns = {c: adult[c].to_numpy()[rng.integers(0, len(adult), rows)] for c in ADULT_COLUMNS}
    columns |= {c: febrl[c].to_numpy()[rng.integers(0, len(febrl), rows)] for c in FEBRL_COLUMNS}
    description = (f"{rows:,} rows x 20 text columns: UCI Adult's 15 (uci_adult/adult.data, {len(adult):,} rows) and "
                   f"5 Febrl person columns ({', '.join(FEBRL_COLUMNS)}; febrl/dataset*.csv, {len(febrl):,} rows), "
                   "each column drawn with replacement")
    return pd.DataFrame(columns), description


def time_scan(table: pd.DataFrame, *, analyzer, sample_size: int) -> dict:
    from synth_pipeline.pii.classify import scan_table

    started = time.perf_counter()
    findings = scan_table(table, analyzer=analyzer, sample_size=sample_size, rng=np.random.default_rng(0),
                          custom_classes={})
    wall = time.perf_counter() - started
    cells = table.shape[0] * table.shape[1]
    sampled = sum(f.sampled for f in findings)
    distinct = sum(f.distinct for f in findings)
    return {"wall_s": round(wall, 2), "table_cells": cells, "table_cells_per_s": round(cells / wall),
            "values_sampled": sampled, "values_sampled_per_s": round(sampled / wall),
            "distinct_values_analysed": distinct, "distinct_values_analysed_per_s": round(distinct / wall),
            "classes": dict(Counter(str(f.pii_class) for f in findings).most_common())}


_ADULT_STEP = """
import json, sys, time
from pathlib import Path
from synth_pipeline.steps import run_pii_scan
started = time.perf_counter()
run_pii_scan(sys.argv[1], Path(sys.argv[2]))
first = time.perf_counter() - started
started = time.perf_counter()
run_pii_scan(sys.argv[1], Path(sys.argv[2]))
print(json.dumps({"fresh_process_s": round(first, 2), "warm_s": round(time.perf_counter() - started, 2)}))
"""


def adult_release_scan() -> dict:
    """The pii_scan step on the Adult release's harmonized table: in a fresh process, then again in the same one."""
    from synth_pipeline.sources import RunContext
    from synth_pipeline.steps import run_extract, run_harmonize

    spec = ROOT / "releases" / "adult_income.yaml"
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = Path(scratch) / "bench"
        run_extract(spec, run_dir, context=RunContext("bench"))
        run_harmonize(spec, run_dir)
        # The step returns no row count (it goes to XCom); this public table's size is read here.
        rows, columns = pd.read_parquet(run_dir / "harmonize" / "table.parquet").shape
        out = subprocess.run([sys.executable, "-c", _ADULT_STEP, str(spec), str(run_dir)], capture_output=True,
                             text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "rows": rows, "columns": columns}


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _print_text(scores: list[ColumnScore], report: dict) -> None:
    print("PII scan accuracy against benchmarks/pii_truth (per column; P/R over entity types, '-' where undefined)")
    print(f"{'table':<40} {'column':<24} {'expected':<18} {'found':<18} {'P':>5} {'R':>5}  entities found (expected)")
    for s in scores:
        mark = " " if s.class_matches else "*"
        print(f"{s.table:<40} {s.column:<24} {s.expected.scored_class:<18} {str(s.found_class):<17}{mark} "
              f"{_cell(s.precision):>5} {_cell(s.recall):>5}  {','.join(sorted(s.found_entities)) or '-'} "
              f"({','.join(sorted(s.expected.scored_entities)) or '-'})")
    print("\n(* = class differs from the truth)\nsummary:", json.dumps(report["accuracy"], indent=2))
    print(f"\nanalyzer build (spaCy model load, first in this process): {report['analyzer_build_s']} s")
    speed = report["speed"]
    print(f"speed table: {speed['table']}\n  sample size {report['sample_size']} per column; wall {speed['wall_s']} s; "
          f"{speed['table_cells_per_s']:,} table cells/s ({speed['table_cells']:,} cells); "
          f"{speed['values_sampled_per_s']:,} sampled values/s; {speed['distinct_values_analysed_per_s']:,} distinct "
          f"values analysed by Presidio/s; classes {speed['classes']}")
    adult = report["adult_release"]
    print(f"adult_income pii_scan step ({adult['rows']:,} rows x {adult['columns']} columns): "
          f"{adult['fresh_process_s']} s in a fresh process (analyzer build included), {adult['warm_s']} s warm")


def _print_generated(people: list[Scored], generated: dict) -> None:
    print(f"\ngenerated people ({len(people)} columns, {generated['rows_per_table']} rows per table, locales "
          f"{', '.join(generated['locales'])}, seed {generated['seed']}); columns whose class differs from the truth:")
    for p in people:
        if p.found_class != p.column.expected:
            print(f"  {p.table}:{p.column.name} ({p.column.rule}) expected {p.column.expected}, found {p.found_class}")
    print("per class:", json.dumps(generated["per_class"], indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synth_pipeline.bench.pii", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT, help="the shared data folder")
    parser.add_argument("--sample-size", type=int, default=300, help="values scanned per column")
    parser.add_argument("--rows", type=int, default=SPEED_ROWS, help="rows of the speed table")
    parser.add_argument("--generated-rows", type=int, default=1000, help="rows of each generated table of people")
    args = parser.parse_args(argv)
    if not args.data_root.is_dir():
        parser.error(f"no shared data at {args.data_root} (give --data-root)")

    from synth_pipeline.pii.engine import EngineConfig, analyzer_for

    started = time.perf_counter()
    analyzer = analyzer_for(EngineConfig(phone_regions=("US",)))
    build = round(time.perf_counter() - started, 2)
    scores = score_truths(args.data_root, analyzer=analyzer, sample_size=args.sample_size)
    people = score_generated(analyzer=analyzer, rows=args.generated_rows, sample_size=args.sample_size)
    table, description = speed_table(args.data_root, rows=args.rows, rng=np.random.default_rng(0))
    speed = {"table": description, **time_scan(table, analyzer=analyzer, sample_size=args.sample_size)}
    report = {"sample_size": args.sample_size, "analyzer_build_s": build, "accuracy": summarize(scores),
              "generated": {"rows_per_table": args.generated_rows, "locales": list(LOCALES), "seed": 0,
                            "per_class": per_class(people)},
              "speed": speed, "adult_release": adult_release_scan()}
    if args.json:
        report["columns"] = [{"table": s.table, "column": s.column, "expected_class": s.expected.scored_class,
                              "found_class": s.found_class, "expected_entities": sorted(s.expected.scored_entities),
                              "found_entities": sorted(s.found_entities), "precision": s.precision,
                              "recall": s.recall} for s in scores]
        report["generated_columns"] = [{"table": p.table, "column": p.column.name, "rule": p.column.rule,
                                        "expected_class": p.column.expected, "found_class": p.found_class,
                                        "suggestion": p.suggestion} for p in people]
        print(json.dumps(report, indent=2))
    else:
        _print_text(scores, report)
        _print_generated(people, report["generated"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
