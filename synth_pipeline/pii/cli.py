"""`synth-pipeline scan-pii FILE [--spec SPEC] [--json] [--sample-size N]`: scan a CSV or Parquet file.

Prints each column's class and entity counts and a suggested `pii:` block (or, with --json, `{"columns": [{"name",
"class", "entities": {TYPE: count}, "rules": [...] where a column-level rule such as near_unique applied}]}`);
progress goes to stderr. With --spec, the spec's scan settings apply and
its declarations are checked as the pipeline's gate checks them: undeclared PII exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PROGRESS_EVERY = 5  # columns


def _read_table(path: Path):
    import pandas as pd

    from synth_pipeline.errors import SourceError

    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    parquet = path.suffix.lower() in (".parquet", ".pq")
    try:
        if parquet:
            return pd.read_parquet(path)
        # Text as it is, in Python strings: no type guessing (a ZIP code keeps its zeros), and undecodable bytes
        # kept as surrogates (which Arrow-backed strings refuse), so the scan reports the column, not the file.
        table = pd.read_csv(path, dtype=object, skipinitialspace=True, encoding="utf-8",
                            encoding_errors="surrogateescape")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        # pandas' parser messages cite line and field counts, not cell values.
        raise SourceError(f"{path}: cannot read it as CSV ({str(exc).splitlines()[0]})") from None
    except Exception as exc:  # pyarrow and the codecs raise many types; their messages may quote data
        kind = "Parquet" if parquet else "CSV"
        raise SourceError(f"{path}: cannot read it as {kind} ({type(exc).__name__})") from None
    table.columns = [str(c).strip() for c in table.columns]
    return table


def _progress(done: int, total: int, elapsed: float) -> None:
    if done % PROGRESS_EVERY == 0 or (done == total and total > PROGRESS_EVERY):
        print(f"scan-pii: {done}/{total} columns ({elapsed:.1f} s)", file=sys.stderr, flush=True)


def _scan_pii(args: argparse.Namespace) -> int:
    import numpy as np

    from synth_pipeline.errors import PIIFound
    from synth_pipeline.pii.classify import scan_table
    from synth_pipeline.pii.engine import EngineConfig, analyzer_for, custom_classes, engine_config
    from synth_pipeline.pii.policy import gate
    from synth_pipeline.pii.report import columns_json, findings_table, pii_found_message, suggested_block
    from synth_pipeline.spec import NumericColumn, PiiSpec, load_spec

    loaded = load_spec(args.spec) if args.spec else None
    pii = loaded.spec.pii if loaded else PiiSpec()
    config = engine_config(pii, project_root=loaded.project_root) if loaded else EngineConfig(pii.phone_regions)
    table = _read_table(Path(args.file))
    sample_size = args.sample_size or pii.sample_size
    # A CSV is read as text: the spec's schema says which columns are numbers (never near-unique keys).
    numeric = frozenset(name for name, column in loaded.spec.schema.items()
                        if isinstance(column, NumericColumn)) if loaded else frozenset()
    findings = scan_table(table, analyzer=analyzer_for(config), sample_size=sample_size,
                          rng=np.random.default_rng(pii.sample_seed), custom_classes=custom_classes(config),
                          progress=_progress, numeric=numeric)
    if args.json:
        print(json.dumps(columns_json(findings), indent=2))
    else:
        print(f"{args.file}: {len(table):,} rows, {len(table.columns)} columns, up to {sample_size} values "
              "sampled per column\n")
        print(findings_table(findings, pii.columns if loaded else None))
        print()
        print(suggested_block(findings, source=args.file))
    if loaded is not None:
        violations = gate(findings, pii, custom_classes=custom_classes(config))
        if violations:
            raise PIIFound(pii_found_message(loaded.spec.name, violations, with_counts=True))
    return 0


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def register(commands) -> None:
    scan = commands.add_parser("scan-pii", help="scan a CSV or Parquet file for personal data; suggest a pii: block")
    scan.add_argument("file", help="a .csv (read as text) or .parquet file")
    scan.add_argument("--spec", help="a release spec: use its pii settings and check its declarations (exit 2 on "
                                     "undeclared PII); the file's column names must be the schema's")
    scan.add_argument("--json", action="store_true", help='print {"columns": [{"name", "class", "entities"}]}')
    scan.add_argument("--sample-size", type=positive_int, help="values scanned per column (default: the spec's, or 300)")
    scan.set_defaults(handler=_scan_pii)
