"""`synth-pipeline audit SPEC`: an empirical lower bound on epsilon from planted canaries (a charged run).

Every audit is a run of its own, under a run id it mints itself: taking a run id from the caller would let an audit
fit under an existing run's charge and overwrite that run's partitions.
"""

from __future__ import annotations

import argparse
import json
import secrets
from datetime import datetime, timezone


def _mint_run_id() -> str:
    """`audit__<UTC time>__<random hex>`: the time for people, the random part so that two audits never share one."""
    return f"audit__{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}__{secrets.token_hex(4)}"


def _audit(args: argparse.Namespace) -> int:
    from synth_pipeline import steps
    from synth_pipeline.runs import run_folder, state_dir
    from synth_pipeline.sources import RunContext
    from synth_pipeline.spec import load_spec
    from synth_pipeline.steps.audit import run_audit

    loaded = load_spec(args.spec)
    run_id = _mint_run_id()
    run_dir = run_folder(state_dir(loaded.project_root), loaded.spec.name, run_id)
    seed = args.seed if args.seed is not None else loaded.spec.generator.seed
    print(f"audit of {loaded.spec.name!r} ({loaded.spec.generator.name}, epsilon {loaded.spec.privacy.epsilon:g}): "
          f"run {run_id}; it trains on the real data and is charged to the ledger like a release run")
    steps.run_extract(args.spec, run_dir, context=RunContext(run_id))
    for step in (steps.run_harmonize, steps.run_quality_gate, steps.run_pii_scan):
        step(args.spec, run_dir)
    steps.run_split(args.spec, run_dir, seed=seed)
    steps.run_charge_budget(args.spec, run_dir, run_id=run_id)
    try:
        result = run_audit(args.spec, run_dir, run_id=run_id, canaries=args.canaries, seed=seed)
    finally:
        steps.run_settle_budget(args.spec, run_dir, run_id=run_id)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        verdict = ("consistent with the claim" if result["consistent"] else
                   "ABOVE the claim: the implementation or its accounting is broken")
        evidence = (f"{result['correct']} of {result['guesses']} membership guesses right" if result["guesses"] else
                    "no set of membership guesses beat chance at this confidence")
        print(f"empirical epsilon lower bound {result['epsilon_lower_bound']:.3f} at {result['confidence']:.0%} "
              f"confidence (claimed {result['claimed_epsilon']:g}): {verdict}\n"
              f"  {evidence}; {result['canaries']} canaries ({result['canaries_included']} planted); "
              f"report: {run_dir / 'audit' / 'report.json'}")
    return 0 if result["consistent"] else 2


def register(commands) -> None:
    audit = commands.add_parser("audit", help="plant canaries, train, and bound epsilon from below (charged)")
    audit.add_argument("spec")
    audit.add_argument("--canaries", type=int, default=1000, help="canary records to draw (half planted on average)")
    audit.add_argument("--seed", type=int, help="default: the spec's generator.seed (null: fresh entropy)")
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(handler=_audit)
