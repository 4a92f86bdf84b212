"""The evaluation steps: `validate` (output validation and utility) and `reidentify` (re-identification risk).

    sample ─► validate   ─► report        inputs: sample/synthetic.parquet, split/train.parquet, split/holdout.parquet
           └► reidentify ─┘

Each writes `<run_dir>/<step>/report.json` (internal, for the steward: real-vs-synthetic figures, never rows or raw
values). What stops a run automatically is decided on DP or synthetic-only figures (DESIGN.md, "Who sees what"):

- `validate` fails on the synthetic table's own validation (its suite, schema and constraints: synthetic only), and
  on the release decision, a noisy threshold test on the gated marginal TVDs at `privacy.release_decision_epsilon`
  (`synth_pipeline.privacy.decision`); the TVDs are computed against the declared size floor, which bounds their
  per-person sensitivity.
- Every other figure (TSTR, query errors, the re-identification risks) is measured on the private train and holdout
  tables with no noise and no useful sensitivity bound: its verdict is advice for the steward, shown in the internal
  report, and never decides on its own (an unnoised automatic decision would be an unaccounted release of a bit).

Beyond `evaluation.check_rows` rows per side, the re-identification checks and TSTR look at a random sample of each
table (`check_samples`): their precision depends on the rows compared, their cost on rows x rows. The reports hold
the sample sizes under `sampling` (reidentify) and `utility.tstr.sampling` (validate).

A check that raises is recorded by its exception type and location only (a message could quote data) and fails its
step: an error publishes nothing. Errors, logs and XCom carry names, verdicts and DP values, never a figure.
"""

from __future__ import annotations

import hashlib
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from synth_pipeline import quality
from synth_pipeline.errors import GatesFailed, PipelineError, UtilityTooLow, ValidationFailed
from synth_pipeline.evaluate import gates
from synth_pipeline.evaluate.encoding import MixedEncoder
from synth_pipeline.privacy.contributions import max_rows_per_unit, training_floor
from synth_pipeline.privacy.decision import ReleaseDecision, noisy_threshold_decision
from synth_pipeline.release_schema import modelled_columns
from synth_pipeline.runs import read_json, step_input, step_output, write_json
from synth_pipeline.spec import load_spec

REPORT = "report.json"
DISTRIBUTIONS = "distributions.json"
DECISION = "release_decision.json"
UNDER_REPRESENTED = 0.5  # a category is under-represented below half its real share
TAIL = 0.01  # tails: below the real 1st and above the real 99th percentile
MIN_GROUP_ROWS = 10  # real query answers over fewer rows are suppressed
WAYS = (1, 2, 3)
MAX_SETS = 500  # marginals per order; more are sampled at random


class _Checks:
    """Runs named checks, timing each; a check that raises leaves {"error": <exception type>} in its place.

    Each runs single-threaded (BLAS and OpenMP): on a small machine shared with other tasks, OpenMP's spinning
    threads made scikit-learn's gradient boosting (TSTR) 40 times slower than one thread, and BLAS gains nothing.
    """

    def __init__(self):
        self.timings: dict[str, float] = {}
        self.errors: dict[str, str] = {}

    def run(self, name: str, check: Callable[[], object]) -> object:
        started = time.perf_counter()
        try:
            with threadpool_limits(limits=1):
                return check()
        except PipelineError:
            raise  # the pipeline's own errors name what to fix (a spec's bad constraint) and never a value
        except Exception as exc:  # noqa: BLE001 - recorded, and its gate fails closed
            # Where it raised, for whoever debugs it; not the message, which may quote a value.
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self.errors[name] = f"{type(exc).__name__} at {Path(where.filename).name}:{where.lineno}"
            return {"error": self.errors[name]}
        finally:
            self.timings[name] = round(time.perf_counter() - started, 3)

    def describe_errors(self) -> str:
        return "".join(f"\n  - check {name} raised {kind}: its figures are missing"
                       for name, kind in self.errors.items())


def _inputs(run_dir: Path, columns: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    synthetic = pd.read_parquet(step_input(run_dir, "sample") / "synthetic.parquet")
    split = step_input(run_dir, "split")
    train, holdout = (pd.read_parquet(split / name, columns=columns) for name in ("train.parquet", "holdout.parquet"))
    return synthetic, train, holdout


def _rng(seed: int | None, stream: int) -> np.random.Generator:
    """Reproducible when the spec fixes the generator's seed (tests, benchmarks); fresh OS entropy otherwise."""
    return np.random.default_rng(None if seed is None else [seed, stream])


def check_samples(tables: dict[str, pd.DataFrame], check_rows: int,
                  rng: np.random.Generator) -> tuple[dict[str, pd.DataFrame], dict]:
    """Each table cut to `check_rows` random rows (kept whole, with no draw from `rng`, when it has no more), and
    what the internal report says of it: the rows per side and whether each was capped. Private figures (a side
    left whole gives away its size): for the report file only, never XCom or a log line."""
    samples = {side: table.iloc[np.sort(rng.choice(len(table), size=check_rows, replace=False))]
               if len(table) > check_rows else table for side, table in tables.items()}
    return samples, {"check_rows": check_rows, "sample_rows": {side: len(table) for side, table in samples.items()},
                     "capped": {side: len(tables[side]) > check_rows for side in tables}}


def _marginals(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame, schema,
               rng: np.random.Generator, *, rows_floor: int) -> dict:
    """Mean, max and worst TVDs per order, each mean beside its floor: the holdout's TVDs against the training table
    on the same marginals (real data's own distance at the holdout's size; a synthetic figure near it is noise)."""
    from synth_pipeline.evaluate.fidelity import TVD_BINS, discretize, marginal_tvds

    # Each pair of tables is cut into cells once for every order (a pass over all rows each time, before).
    synthetic_grid = discretize(train, synthetic, schema, bins=TVD_BINS)
    holdout_grid = discretize(train, holdout, schema, bins=TVD_BINS)
    result = {}
    for ways in WAYS:
        tvds = marginal_tvds(train, synthetic, schema, ways=ways, max_sets=MAX_SETS, rng=rng, real_rows_floor=rows_floor,
                             grid=synthetic_grid)
        if not tvds:
            continue
        floor = marginal_tvds(train, holdout, schema, ways=ways, only=list(tvds), real_rows_floor=rows_floor,
                              grid=holdout_grid)
        worst = sorted(tvds.items(), key=lambda item: -item[1])[:5]
        result[str(ways)] = {"mean": float(np.mean(list(tvds.values()))), "max": float(max(tvds.values())),
                             "floor": float(np.mean(list(floor.values()))), "sets": len(tvds),
                             "worst": [{"columns": list(k), "tvd": v, "floor": floor[k]} for k, v in worst]}
    return result


def _tstr(synthetic, train, holdout, target: str | None, schema, rng) -> dict:
    from synth_pipeline.evaluate.utility import tstr  # scikit-learn: imported when a run needs it, not by the CLI

    if target is None:
        return {"not_applicable": "the spec names no evaluation.target"}
    if target not in schema:
        return {"not_applicable": f"the target {target!r} is not a released column"}
    scores = tstr(synthetic, train, holdout, target=target, schema=schema, rng=rng)
    ratio, note = None, ""
    if scores["trtr"] > 0:
        ratio = scores["tstr"] / scores["trtr"]
    else:
        note = f"the model trained on real data scores {scores['trtr']:.3g}: the target is not predictable"
    return {"target": target, **scores, "ratio": ratio, "note": note}


def _utility(checks: _Checks, train, synthetic, holdout, released, evaluation, rng, *,
             rows_floor: int) -> tuple[dict, dict]:
    """The utility figures, and the per-column distributions for the report's plots."""
    from synth_pipeline.evaluate import association, numeric, workload

    utility: dict = {"real_rows": len(train), "synthetic_rows": len(synthetic), "holdout_rows": len(holdout),
                     "rows_floor": rows_floor}
    utility["marginals"] = checks.run("marginals", lambda: _marginals(train, synthetic, holdout, released, rng,
                                                                        rows_floor=rows_floor))
    utility["association"] = checks.run("association", lambda: association.association_difference(
        train, synthetic, released))
    # TSTR fits two models and scores them: on samples beyond check_rows (the other checks are single passes).
    samples, sampling = check_samples({"synthetic": synthetic, "train": train, "holdout": holdout},
                                      evaluation.check_rows, rng)
    utility["tstr"] = checks.run("tstr", lambda: {**_tstr(samples["synthetic"], samples["train"], samples["holdout"],
                                                          evaluation.target, released, rng), "sampling": sampling})
    utility["queries"] = checks.run("queries", lambda: workload.query_errors(
        train, synthetic, evaluation.queries, released, min_group_rows=MIN_GROUP_ROWS))
    utility["categories"] = checks.run("categories", lambda: workload.category_coverage(
        train, synthetic, released, under_ratio=UNDER_REPRESENTED))
    utility["tails"] = checks.run("tails", lambda: workload.tail_coverage(train, synthetic, released, tail=TAIL))
    utility["numeric"] = checks.run("numeric", lambda: numeric.numeric_fidelity(train, synthetic, holdout, released))
    distributions = checks.run("distributions", lambda: workload.column_distributions(train, synthetic, released))
    return utility, {} if "distributions" in checks.errors else distributions


EARLIER_RUNS_KEPT = 20


def _earlier_runs(run_dir: Path, step: str) -> list[dict]:
    """The verdicts of each earlier run of this step on this run, oldest first (the last 20). A check re-run until
    its gates pass shows as such in the steward's report, and a verdict that flips between re-runs is visible."""
    previous = run_dir / step / REPORT
    if not previous.is_file():
        return []
    document = read_json(previous)
    earlier = list(document.get("earlier_runs") or [])
    earlier.append({"passed": document.get("passed"), "spec_hash": document.get("spec_hash"),
                    "advisory_failed": document.get("advisory_failed", []),
                    "gates": {verdict["name"]: verdict["passed"] for verdict in document.get("gates", [])}})
    return earlier[-EARLIER_RUNS_KEPT:]


def _document(loaded, passed: bool, checks: _Checks, started: float, run_dir: Path, step: str, **sections) -> dict:
    generator = loaded.spec.generator
    return {"spec_hash": loaded.spec_hash, "passed": passed, **sections, "errors": checks.errors,
            "earlier_runs": _earlier_runs(run_dir, step),
            "timings_s": {**checks.timings, "total": round(time.perf_counter() - started, 3)},
            "load_average": list(os.getloadavg()), "seeded": generator is not None and generator.seed is not None}


def _release_decision(run_dir: Path, spec, utility: dict, *, rows_floor: int, seed: int | None) -> ReleaseDecision:
    """The automatic go/no-go: epsilon-DP, on the gated TVDs (each moves by at most max_rows / floor per person).

    Drawn once per fit: the budget plan charges one decision, so a re-run of `validate` (an Airflow retry or clear)
    reuses the verdict stored beside the step folders instead of querying the data again. Otherwise clearing the
    task until it passes would be repeated, uncharged noisy tests on the same data. A new fit (charged anew by the
    ledger) has a new train report, so it gets a decision of its own.
    """
    fit = hashlib.sha256((step_input(run_dir, "train") / REPORT).read_bytes()).hexdigest()
    stored = run_dir / DECISION
    if stored.is_file():
        document = read_json(stored)
        if document.get("fit") == fit:
            return ReleaseDecision.from_dict(document["decision"])
    sensitivity = max_rows_per_unit(spec.privacy_unit) / rows_floor
    figures = gates.decision_figures(utility, spec.gates.utility, sensitivity=sensitivity)
    decision = noisy_threshold_decision(figures, epsilon=spec.privacy.release_decision_epsilon, rng=_rng(seed, 3))
    pending = stored.with_name(f".{DECISION}.pending")
    write_json(pending, {"fit": fit, "decision": decision.to_dict()})
    os.replace(pending, stored)  # stored before any output can depend on it
    return decision


def run_validate(spec_path: str | Path, run_dir: Path) -> dict:
    from synth_pipeline.evaluate.validation import validate_synthetic

    started = time.perf_counter()
    loaded = load_spec(spec_path)
    spec = loaded.spec
    released, _ = modelled_columns(spec)
    synthetic, train, holdout = _inputs(run_dir, list(released))
    seed = spec.generator.seed if spec.generator else None
    rng = _rng(seed, 1)
    rows_floor = training_floor(min_individuals=spec.privacy.min_individuals,
                                holdout_fraction=spec.evaluation.holdout_fraction)
    checks = _Checks()
    with step_output(run_dir, "validate") as out:
        suite = quality.load_suite_json(quality.suite_path(loaded))
        report = checks.run("validation", lambda: validate_synthetic(
            synthetic, suite=suite, suite_path=out / "released_suite.json", input_schema=spec.schema,
            released_schema=released, constraints=spec.evaluation.constraints, real=train))
        valid = not isinstance(report, dict) and report.passed
        columns_present = all(name in synthetic.columns for name in released)
        utility, distributions = ({}, {})
        if columns_present:  # without every released column the comparisons mean nothing: validation says why
            utility, distributions = _utility(checks, train, synthetic, holdout, released, spec.evaluation, rng,
                                              rows_floor=rows_floor)
            write_json(out / DISTRIBUTIONS, distributions)
        # Only on complete figures: a run whose checks failed to run fails anyway, and a re-run after a passing
        # error must not find a verdict drawn on missing figures.
        decision = (_release_decision(run_dir, spec, utility, rows_floor=rows_floor, seed=seed)
                    if columns_present and not checks.errors else None)
        advice = gates.utility_verdicts(utility, spec.gates.utility)  # unnoised: the steward's, never automatic
        passed = valid and decision is not None and decision.passed
        document = _document(
            loaded, passed, checks, started, run_dir, "validate",
            verdicts={"validation": valid, "release_decision": decision.passed if decision else None},
            release_decision=decision.to_dict() if decision else None,
            validation=report if isinstance(report, dict) else report.to_dict(),
            utility=utility, gates=[verdict.to_dict() for verdict in advice],
            advisory_failed=[verdict.name for verdict in gates.failures(advice)],
            distributions=DISTRIBUTIONS if columns_present else None)
        write_json(out / REPORT, document)
    if not valid:
        # The synthetic table's own validation: its counts are of DP data, so the summary may show them.
        raise ValidationFailed(report.summary() if not isinstance(report, dict)
                               else "the validation check raised " + report["error"])
    if checks.errors:
        raise GatesFailed(f"synthetic table of {spec.name!r}: checks failed to run" + checks.describe_errors())
    if decision is None:
        raise GatesFailed(f"synthetic table of {spec.name!r}: a released column is missing, so the release decision "
                          "was not drawn")
    if not decision.passed:
        raise UtilityTooLow(
            f"synthetic table of {spec.name!r}: the release decision (a noisy threshold test at epsilon "
            f"{decision.epsilon:g} on {', '.join(g['name'] for g in decision.gates)}) says the fidelity is below its "
            f"gates. Nothing will be published; the internal report is at {run_dir / 'report' / 'report.html'}")
    return {"uri": str(run_dir / "validate" / REPORT), "passed": True, "release_decision": decision.to_dict()}


def _secrets(spec, columns: list[str]) -> list[str]:
    """evaluation.secrets; else the target and the columns the pii block classes as sensitive."""
    declared = list(spec.evaluation.secrets)
    if not declared:
        declared = [spec.evaluation.target] if spec.evaluation.target else []
        declared += [name for name, rule in spec.pii.columns.items()
                     if rule.class_ == "sensitive" and name not in declared]
    return [name for name in declared if name in columns]


def _linkability_columns(spec, columns: list[str]) -> tuple[list[str], list[str]] | None:
    if spec.evaluation.linkability_columns is not None:
        first, second = spec.evaluation.linkability_columns
        return [c for c in first if c in columns], [c for c in second if c in columns]
    return (columns[0::2], columns[1::2]) if len(columns) >= 2 else None


def _inference(checks: _Checks, secrets: list[str], train, synthetic, holdout, encoder, attacks, rng) -> dict:
    from synth_pipeline.evaluate import anonymeter_risk

    if not secrets:
        return {"not_applicable": "no evaluation.secrets, target or sensitive column"}
    per_secret = {secret: checks.run(f"inference:{secret}", lambda secret=secret: anonymeter_risk.inference_risk(
        train, synthetic, holdout, encoder, secret=secret, attacks=attacks.inference, confidence=attacks.confidence,
        rng=rng)) for secret in secrets}
    risks = {secret: result.get("risk") for secret, result in per_secret.items()}
    if any(value is None for value in risks.values()):
        return {"secrets": per_secret, "max_risk": None, "worst_secret": None}
    worst = max(risks, key=risks.get)
    return {"secrets": per_secret, "max_risk": risks[worst], "worst_secret": worst}


def _risks(checks: _Checks, spec, columns: list[str], whole: dict[str, pd.DataFrame], encoder, rng) -> dict:
    from synth_pipeline.evaluate import anonymeter_risk, distance, membership  # scipy, polars: on use

    attacks = spec.evaluation.attacks
    samples, sampling = check_samples(whole, spec.evaluation.check_rows, rng)
    synthetic, train, holdout = samples["synthetic"], samples["train"], samples["holdout"]
    risk = {"sampling": sampling, "distance": checks.run("distance", lambda: distance.distance_to_closest_record(
        synthetic, train, holdout, encoder, synthetic_sample=attacks.distance_queries,
        holdout_sample=attacks.distance_queries, confidence=attacks.confidence, rng=rng,
        whole=(whole["synthetic"], whole["train"], whole["holdout"])))}
    risk["membership"] = checks.run("membership", lambda: membership.membership_inference(
        synthetic, train, holdout, encoder, targets=attacks.membership_targets, epsilon=spec.privacy.epsilon,
        delta=spec.privacy.delta, confidence=attacks.confidence, rng=rng))
    risk["singling_out"] = checks.run("singling_out", lambda: anonymeter_risk.singling_out_risk(
        train, synthetic, holdout, encoder.schema, attacks=attacks.singling_out,
        columns_per_query=attacks.singling_out_columns, max_attempts=attacks.singling_out_max_attempts,
        confidence=attacks.confidence, rng=rng))
    halves = _linkability_columns(spec, columns)
    if halves is None:
        risk["linkability"] = {"not_applicable": "a single released column cannot be split in two"}
    else:
        risk["linkability"] = checks.run("linkability", lambda: anonymeter_risk.linkability_risk(
            train, synthetic, holdout, encoder.schema, aux_columns=halves, attacks=attacks.linkability,
            confidence=attacks.confidence, rng=rng))
    risk["attribute_inference"] = _inference(checks, _secrets(spec, columns), train, synthetic, holdout, encoder,
                                             attacks, rng)
    return risk


def run_reidentify(spec_path: str | Path, run_dir: Path) -> dict:
    started = time.perf_counter()
    loaded = load_spec(spec_path)
    spec = loaded.spec
    released, _ = modelled_columns(spec)
    columns = list(released)
    synthetic, train, holdout = _inputs(run_dir, columns)
    missing = [name for name in columns if name not in synthetic.columns]
    checks = _Checks()
    risk: dict = {"rows": {"synthetic": len(synthetic), "train": len(train), "holdout": len(holdout)}}
    if missing:
        risk["missing_columns"] = missing
    else:
        synthetic = synthetic[columns]
        encoder = MixedEncoder.for_release(released, synthetic)
        rng = _rng(spec.generator.seed if spec.generator else None, 2)
        whole = {"synthetic": synthetic, "train": train, "holdout": holdout}
        risk.update(_risks(checks, spec, columns, whole, encoder, rng))
    # Advice for the steward: these figures are unnoised and a single person can move them a lot, so they never
    # stop a run on their own (an unaccounted decision); the internal report shows them against their thresholds.
    advice = gates.risk_verdicts(risk, spec.gates.risk)
    passed = not missing and not checks.errors
    document = _document(loaded, passed, checks, started, run_dir, "reidentify", **risk,
                         gates=[verdict.to_dict() for verdict in advice],
                         advisory_failed=[verdict.name for verdict in gates.failures(advice)])
    with step_output(run_dir, "reidentify") as out:
        write_json(out / REPORT, document)
    if missing:
        raise ValidationFailed(f"the synthetic table lacks released column(s) {', '.join(missing)}: "
                               "the re-identification checks cannot run")
    if checks.errors:
        raise GatesFailed(f"re-identification checks of {spec.name!r} failed to run" + checks.describe_errors())
    return {"uri": str(run_dir / "reidentify" / REPORT), "passed": True}
