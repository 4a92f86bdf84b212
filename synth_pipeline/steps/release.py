"""The closing steps: the steward's review request, publication of an approved run, and retention clean-up.

Publication refuses a seeded run: with a known seed the release is a deterministic function of the data (rerun it
on two candidate tables and compare), so `generator.seed` is for tests and benchmarks only. The steps that draw
the noise (split, train) record `seeded` in their reports; a run is published only when both say false, and the
manifest records it. There is no override: tests publish unseeded runs.

Where a release goes is the operator's choice, not the spec author's: a local `publish.uri` must resolve inside the
project's `published/` or a folder in $SYNTH_PIPELINE_PUBLISH_ROOTS (`paths.confined`), and an object-store URI must
start with a prefix listed in $SYNTH_PIPELINE_PUBLISH_URIS (comma-separated; the roots variable is split on `:`,
which URIs contain). The manifest is signed with the operator's key, read before anything is written.
"""

from __future__ import annotations

import importlib.metadata
import os
import posixpath
import shutil
import subprocess
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from synth_pipeline import approval as approval_rules
from synth_pipeline import publish, signing
from synth_pipeline.errors import ConfigError, PathNotAllowed, ReleaseTampered, SeededRunNotPublishable
from synth_pipeline.paths import confined
from synth_pipeline.report.data_card import published_files
from synth_pipeline.runs import step_input, step_output, write_json
from synth_pipeline.spec import LoadedSpec, load_spec
from synth_pipeline.storage import Store
from synth_pipeline.summary import accountant_epsilon, gate_verdicts, review_markdown, step_reports

SYNTHETIC = ("sample", "synthetic.parquet")
DATA_CARD = "report"  # the step whose data card is published, stamped with its version and dates
SEEDED_STEPS = ("split", "train")  # the steps whose randomness is privacy noise: both record `seeded`


def run_review(spec_path: str | Path, run_dir: Path, *, run_id: str) -> dict:
    """Subject and body of the approval request (figures only; the steward opens the internal report for more)."""
    loaded = load_spec(spec_path)
    return {"subject": f"Approve synthetic release {loaded.spec.name}?", "body": review_markdown(loaded.spec.name, run_id, run_dir)}


PUBLISH_URIS_ENV = "SYNTH_PIPELINE_PUBLISH_URIS"


def publish_location(uri: str, project_root: Path) -> str:
    """The spec's publish.uri once the operator allows it: a local folder resolved and confined, or an object-store
    URI under a configured prefix. PathNotAllowed otherwise; nothing is written."""
    if "://" not in uri:
        return str(confined(uri, kind="publish", project_root=project_root, where="publish.uri"))
    scheme, _, rest = uri.partition("://")
    normalized = posixpath.normpath(rest)  # "releases/../other" is "other": compared as it will be written
    candidate = f"{scheme}://{normalized}"
    prefixes = [entry.strip().rstrip("/") for entry in os.environ.get(PUBLISH_URIS_ENV, "").split(",") if entry.strip()]
    if ".." not in normalized.split("/") and any(
            candidate == prefix or candidate.startswith(f"{prefix}/") for prefix in prefixes):
        return candidate
    raise PathNotAllowed(f"publish.uri: {uri!r} is not under an object-store prefix the operator allows (listed in "
                         f"{PUBLISH_URIS_ENV}); a spec cannot add one")


def destination_store(loaded: LoadedSpec, location: object | None = None) -> Store:
    """The spec's publish.uri (relative: under the project root), unless the caller hands in a storage path (the
    DAG, which confined it with `publish_location`)."""
    if location is not None:
        return Store.from_location(location)
    return Store.from_location(publish_location(loaded.spec.publish.uri, loaded.project_root))


def code_version(project_root: Path) -> str:
    version = importlib.metadata.version("synth-pipeline")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=project_root, capture_output=True,
                                text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{version}+{commit}" if commit else version


def _check_unseeded(run_dir: Path, *, run_id: str) -> None:
    """Refuse a run unless its split and train reports both say `seeded: false` (a report that does not say, from
    an older run or a broken step, is refused too: publication fails closed)."""
    reports = step_reports(run_dir)
    for step in SEEDED_STEPS:
        step_input(run_dir, step)
        seeded = reports.get(step, {}).get("seeded")
        if seeded is not False:
            said = "was seeded" if seeded is True else "does not record whether it was seeded"
            raise SeededRunNotPublishable(
                f"run {run_id!r}: the {step} step {said}; a run with a fixed seed (generator.seed, --seed) is for "
                "tests and benchmarks, never published. Run it again without a seed")


def _manifest_facts(loaded: LoadedSpec, run_dir: Path, run_id: str, decision: approval_rules.Decision, rows: int, now: datetime) -> dict:
    reports = step_reports(run_dir)
    spec = loaded.spec
    return {
        "description": spec.description,
        "purpose": spec.purpose,
        "owner": spec.owner,
        "spec_hash": loaded.spec_hash,
        "code_version": code_version(loaded.project_root),
        "run_id": run_id,
        "rows": rows,
        "created_at": now.isoformat(),
        "expires_at": publish.expiry(now, spec.retention_days).isoformat(),
        "generator": reports.get("train", {}).get("generator"),
        "seeded": any(reports[step]["seeded"] for step in SEEDED_STEPS),  # false: _check_unseeded ran first
        # The entry as training left it (spent): the charge this release is accounted under.
        "privacy": {"epsilon": spec.privacy.epsilon, "delta": spec.privacy.delta, "dataset": spec.dataset,
                    "ledger_entry": reports.get("train", {}).get("ledger_entry"),
                    "accountant_epsilon": accountant_epsilon(reports.get("train", {})),
                    # How the run's (epsilon, delta) was divided (public parameters), and the DP release decision.
                    "budget_plan": reports.get("charge_budget", {}).get("plan"),
                    "release_decision": reports.get("validate", {}).get("release_decision"),
                    "dataset_budget": _dataset_budget(loaded, now)},
        "gates": gate_verdicts(reports),
        "approval": {"decision": approval_rules.APPROVE, "by": decision.by, "at": decision.at, "comment": decision.comment},
    }


def _dataset_budget(loaded: LoadedSpec, now: datetime) -> dict:
    """The dataset's ledger standing as this version is published (DP parameters only), so an analyst sees the
    total a dataset has spent, not only this release's share."""
    from synth_pipeline.privacy.ledger import ledger_for

    with ledger_for(loaded) as ledger:
        (standing,) = ledger.summary(loaded.spec.dataset)
    return {"lifetime_epsilon": standing.lifetime_epsilon, "lifetime_delta": standing.lifetime_delta,
            "spent_epsilon": standing.spent_epsilon, "spent_delta": standing.spent_delta,
            "reserved_epsilon": standing.reserved_epsilon, "as_of": now.isoformat()}


def run_publish(
    spec_path: str | Path,
    run_dir: Path,
    *,
    run_id: str,
    run_started: datetime,
    approval_response: Mapping,
    triggered_by: str | None,
    destination: object | None = None,
    signing_key: str | None = None,
    now: datetime | None = None,
) -> dict:
    """Publish an approved, unseeded run. `signing_key`: the operator's key as text (the DAG reads it from its
    Connection); without it, from the environment (`signing.private_key`)."""
    key = signing.private_key(signing_key)
    loaded = load_spec(spec_path)
    if loaded.spec.approval is None:
        raise ConfigError(f"{loaded.path}: no approval section, so nothing may be published")
    _check_unseeded(run_dir, run_id=run_id)
    decision = approval_rules.decision_from_response(approval_response)
    approval_rules.check_four_eyes(decision, stewards=loaded.spec.approval.stewards, triggered_by=triggered_by)
    synthetic = step_input(run_dir, SYNTHETIC[0]) / SYNTHETIC[1]
    card_dir = step_input(run_dir, DATA_CARD)
    store = destination_store(loaded, destination)
    version = publish.version_for(run_id=run_id, run_started=run_started)
    now = now or datetime.now(timezone.utc)
    for leftover in run_dir.glob(".publish.*-*"):  # pending or retired folders of an attempt that was killed
        shutil.rmtree(leftover, ignore_errors=True)
    with step_output(run_dir, "publish") as out:
        table = pd.read_parquet(synthetic)
        files = {"synthetic.parquet": synthetic, **published_files(
            card_dir, out, version=version, created_at=now, expires_at=publish.expiry(now, loaded.spec.retention_days))}
        if "csv" in loaded.spec.publish.formats:
            publish.write_formula_safe_csv(table, out / "synthetic.csv")
            files["synthetic.csv"] = out / "synthetic.csv"
        result = publish.publish_release(
            store=store, release=loaded.spec.name, version=version, files=files,
            manifest=_manifest_facts(loaded, run_dir, run_id, decision, len(table), now), signing_key=key,
        )
        write_json(out / "report.json", {**result, "approved_by": decision.by})
    return {**result, "approved_by": decision.by}


def run_retention(location: object, *, now: datetime | None = None) -> dict:
    """Remove expired versions; a version whose manifest cannot be vouched for is left alone and reported by name
    and error (`refuse_broken` then fails the task, after every other version was handled)."""
    result = publish.remove_expired(Store.from_location(location), now=now or datetime.now(timezone.utc))
    return {"removed": [f"{r['release']}/{r['version']}" for r in result.removed], "count": len(result.removed),
            "broken": [f"{b.release}/{b.version or ''}: {b.error}" for b in result.broken]}


def refuse_broken(report: dict) -> dict:
    """The retention task's verdict: its removals stand, but a broken release fails the task so that it is seen."""
    if report["broken"]:
        raise ReleaseTampered(f"retention left {len(report['broken'])} release version(s) it cannot vouch for: "
                              + "; ".join(report["broken"]))
    return report
