"""`synth-pipeline budget [DATASET] [--json]`: each dataset's lifetime, spent, reserved and remaining budget, then
its ledger entries: one per charge, every fit attempt of a run its own (a refit of a run is charged again)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _print_standing(standing) -> None:
    configured = standing.lifetime_epsilon is not None
    print(f"{standing.dataset}" + ("" if configured else "  (no lifetime configured: new charges are refused)"))
    print(f"  {'':<10} {'lifetime':>10} {'spent':>10} {'reserved':>10} {'remaining':>10}")
    for name in ("epsilon", "delta"):
        figures = [getattr(standing, f"{kind}_{name}") for kind in ("lifetime", "spent", "reserved", "remaining")]
        print(f"  {name:<10} " + " ".join(f"{_number(value):>10}" for value in figures))
    if not standing.entries:
        print("  no charges")
    for entry in standing.entries:
        print(f"  #{entry.id:<4} {entry.status:<9} epsilon={entry.epsilon:<8g} delta={entry.delta:<8g} "
              f"{entry.release}  run {entry.run_id}  attempt {entry.attempt}  {entry.created_at:%Y-%m-%d %H:%M}Z  "
              f"{entry.mechanism}")


def _budget(args: argparse.Namespace) -> int:
    from synth_pipeline.privacy.ledger import open_ledger

    with open_ledger(Path(args.project).resolve()) as ledger:
        standings = ledger.summary(args.dataset)
    if args.json:
        print(json.dumps([standing.to_dict() for standing in standings], indent=2))
        return 0
    for index, standing in enumerate(standings):
        if index:
            print()
        _print_standing(standing)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    budget = commands.add_parser("budget", help="privacy budget per dataset: lifetime, spent, reserved, remaining")
    budget.add_argument("dataset", nargs="?", help="one dataset (default: every configured dataset)")
    budget.add_argument("--json", action="store_true", help="print the summary as JSON")
    budget.add_argument("--project", default=".", help="the project root holding config/ledger.yaml and the default "
                        "state folder (default: the current folder; $SYNTH_PIPELINE_LEDGER_CONFIG and "
                        "$SYNTH_PIPELINE_LEDGER_URL override)")
    budget.set_defaults(handler=_budget)
