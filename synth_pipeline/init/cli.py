"""`synth-pipeline init NAME --from FILE`: start a release from a table the data owner holds.

Reads the CSV or Parquet file on the owner's machine to learn each column's name, type and PII class (the
`scan-pii` scan), and writes `releases/NAME.yaml` (every decision left to the author a `TODO(...)`, each with its
explanation), `expectations/NAME.json` (a suite scaffold) and `config/NAME.ledger-proposal.yaml` (the entry the
data owner adds to config/ledger.yaml). No value, bound, category list or count read from the data is written:
bounds are public (or `estimate_bounds`), categories typed by the author (or `estimate`, DP-estimated and paid
from privacy.estimation). `synth-pipeline validate-spec releases/NAME.yaml` then lists what is left to fill in.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

from synth_pipeline.pii.cli import positive_int

SEPARATORS = (",", ";", "\t", "|")


def _csv_layout(path: Path, encoding: str = "utf-8") -> dict:
    """`sep` and `skipinitialspace` from the header line alone (the column names): no data row is looked at."""
    from synth_pipeline.errors import SourceError

    try:
        with path.open(encoding=encoding, newline="") as handle:
            header = handle.readline()
    except (OSError, UnicodeError) as exc:
        raise SourceError(f"{path}: cannot read its header line as {encoding} text ({type(exc).__name__})") from None
    sep = max(SEPARATORS, key=header.count)
    if not header.count(sep):
        sep = ","
    names = next(csv.reader([header.rstrip("\r\n")], delimiter=sep), [])
    options: dict = {"header": True, "sep": sep}
    if len(names) > 1 and all(name.startswith(" ") for name in names[1:]):
        options["skipinitialspace"] = True  # "a, b, c": values are likely separated the same way
    return options


def _read(path: Path, options: dict):
    import pandas as pd

    from synth_pipeline.errors import SourceError

    if not path.is_file():
        raise SourceError(f"{path}: no such file (init reads a local CSV or Parquet file)")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types; their messages may quote data
            raise SourceError(f"{path}: cannot read it as Parquet ({type(exc).__name__})") from None
    try:
        # As the pipeline reads it (synth_pipeline.sources): text, the same separator and spacing.
        return pd.read_csv(path, header=0, sep=options["sep"], skipinitialspace=options.get("skipinitialspace", False),
                           dtype=str, keep_default_na=True, encoding="utf-8")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SourceError(f"{path}: cannot read it as CSV ({str(exc).splitlines()[0]})") from None
    except Exception as exc:  # noqa: BLE001 - codecs and pandas raise many types; their messages may quote data
        raise SourceError(f"{path}: cannot read it as CSV ({type(exc).__name__})") from None


def _spec_path(path: Path, project: Path) -> tuple[str, str | None]:
    """The path as a spec writes it (relative to the project root when inside it), and a warning when the
    pipeline will not be allowed to read it there."""
    from synth_pipeline.paths import allowed_roots

    resolved = path.resolve()
    roots = allowed_roots("sources", project)
    inside = any(resolved.is_relative_to(root) for root in roots)
    try:
        written = resolved.relative_to(project.resolve()).as_posix()
    except ValueError:
        written = str(resolved)
    warning = None if inside else (f"{path} is outside the folders the pipeline reads sources from "
                                   f"({', '.join(map(str, roots))}): move it under data/, or have the operator add "
                                   "its folder to SYNTH_PIPELINE_SOURCE_ROOTS")
    return written, warning


def _scan(table, numeric: frozenset[str], sample_size: int):
    import numpy as np

    from synth_pipeline.pii.classify import scan_table
    from synth_pipeline.pii.engine import EngineConfig, analyzer_for

    print(f"init: scanning {len(table.columns)} columns for personal data (builds the analyzer first)",
          file=sys.stderr, flush=True)
    return scan_table(table, analyzer=analyzer_for(EngineConfig(("US",))), sample_size=sample_size,
                      rng=np.random.default_rng(0), custom_classes={}, numeric=numeric)


def initialise(name: str, source: Path, project: Path, *, force: bool = False, sample_size: int = 300) -> dict:
    """Write the three files; return {"spec", "suite", "ledger_proposal": Path, "warnings": [str]}."""
    from synth_pipeline.errors import PipelineError
    from synth_pipeline.init.columns import infer_type, unique_target_names
    from synth_pipeline.init.render import ledger_proposal, plan_column, spec_text, suite_json
    from synth_pipeline.pii.report import suggestion_for
    from synth_pipeline.spec.base import NAME_PATTERN

    if not re.fullmatch(NAME_PATTERN, name):
        raise PipelineError(f"release name {name!r}: lower case letters, digits and _, starting with a letter "
                            "(it is the DAG id and the spec's file name)")
    outputs = {"spec": project / "releases" / f"{name}.yaml", "suite": project / "expectations" / f"{name}.json",
               "ledger_proposal": project / "config" / f"{name}.ledger-proposal.yaml"}
    existing = [str(path) for path in outputs.values() if path.exists()]
    if existing and not force:
        raise PipelineError(f"init would overwrite {', '.join(existing)}: choose another name, or pass --force")
    parquet = source.suffix.lower() in (".parquet", ".pq")
    options = {} if parquet else _csv_layout(source)
    table = _read(source, options)
    table.columns = [str(column).strip() for column in table.columns]
    sources = list(table.columns)
    if len(set(sources)) != len(sources):
        raise PipelineError(f"{source}: repeated column names; give each column its own name first")
    kinds = {column: infer_type(table[column]) for column in sources}
    findings = _scan(table, frozenset(c for c, k in kinds.items() if k in ("integer", "float")), sample_size)
    targets = unique_target_names(sources)
    plans = [plan_column(finding.name, target, kinds[finding.name], suggestion_for(finding),
                         tuple(sorted(finding.entities)) + tuple(f"rule {r}" for r in finding.rules))
             for finding, target in zip(findings, targets)]
    written, warning = _spec_path(source, project)
    source_name = unique_target_names([source.stem])[0]
    entry = {"format": "parquet" if parquet else "csv", "path": written}
    if not parquet:
        entry["options"] = options
    texts = {"spec": spec_text(name=name, source_name=source_name, source_entry=entry, plans=plans,
                               scanned=source.name, suite=f"expectations/{name}.json"),
             "suite": suite_json(name=name, plans=plans),
             "ledger_proposal": ledger_proposal(name=name, source_path=written)}
    for key, path in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(texts[key], encoding="utf-8")
    return {**outputs, "warnings": [warning] if warning else []}


def _init(args: argparse.Namespace) -> int:
    from synth_pipeline.errors import SpecError
    from synth_pipeline.spec import load_spec

    project = Path(args.project)
    done = initialise(args.name, Path(args.source), project, force=args.force, sample_size=args.sample_size)
    for warning in done["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {done['spec']}\n      {done['suite']}   (suite scaffold: the column list; add expectations)\n"
          f"      {done['ledger_proposal']}   (for the data owner: add it to config/ledger.yaml)")
    try:
        load_spec(done["spec"])
    except SpecError as exc:
        print(f"\nleft to fill in (synth-pipeline validate-spec {done['spec']} lists them again):")
        print("\n".join(f"  {problem}" for problem in exc.problems))
    return 0


def register(commands) -> None:
    init = commands.add_parser("init", help="start a release from a CSV or Parquet file: a spec with a TODO for "
                                            "every decision, a suite scaffold, a ledger proposal")
    init.add_argument("name", help="the release name (releases/NAME.yaml, the DAG id)")
    init.add_argument("--from", dest="source", required=True, metavar="FILE",
                      help="a .csv (header row first) or .parquet file: its column names, types and PII classes "
                           "are read, never its values into the spec")
    init.add_argument("--project", default=".", help="the project root holding releases/ (default: .)")
    init.add_argument("--force", action="store_true", help="overwrite the files if they exist")
    init.add_argument("--sample-size", type=positive_int, default=300, help="values scanned per column for PII")
    init.set_defaults(handler=_init)
