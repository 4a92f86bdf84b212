"""The `synth-pipeline` command. Exit codes: 0 ok, 1 invalid input (a spec that fails validation), 2 a pipeline
error (typed, explained on stderr), 3 an unexpected crash."""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import sys
import traceback
from dataclasses import asdict
from pathlib import Path

from synth_pipeline.errors import PipelineError, SpecError

# Subcommands that live beside the code they drive: each module has `register(commands)` and imports nothing heavy
# at module level, so `synth-pipeline --help` stays fast.
COMMAND_MODULES: tuple[str, ...] = ("synth_pipeline.privacy.cli", "synth_pipeline.pii.cli",
                                    "synth_pipeline.bench.generators", "synth_pipeline.bench.scale",
                                    "synth_pipeline.evaluate.cli",
                                    "synth_pipeline.signing", "synth_pipeline_local.cli", "synth_pipeline.init.cli")


def _validate_spec(args: argparse.Namespace) -> int:
    from synth_pipeline.spec import load_spec
    from synth_pipeline.spec.todo import missing_file_problems

    status = 0
    for path in args.files:
        try:
            loaded = load_spec(path)
            # The files it names must be there now, not three steps into a run (the suite is read by quality_gate).
            missing = missing_file_problems(loaded)
            if missing:
                raise SpecError(str(path), missing)
        except SpecError as exc:
            print(exc, file=sys.stderr)
            status = 1
            continue
        for warning in loaded.warnings:
            print(f"{path}: warning: {warning}", file=sys.stderr)
        print(f"{path}: OK (spec hash {loaded.spec_hash[:12]}, {len(loaded.spec.schema)} columns, "
              f"{len(loaded.spec.sources)} sources)")
    return status


def _run_folder(spec_file: str, run_id: str | None) -> Path:
    from synth_pipeline.runs import latest_run, run_folder, state_dir
    from synth_pipeline.spec import load_spec

    loaded = load_spec(spec_file)
    state = state_dir(loaded.project_root)
    if run_id:
        return run_folder(state, loaded.spec.name, run_id)
    latest = latest_run(state, loaded.spec.name)
    if latest is None:
        raise PipelineError(f"no runs of {loaded.spec.name!r} under {state / 'runs'}")
    return latest


# The steps that charge the ledger, and what each does to the run's charge.
CHARGING_STEPS = {"charge_budget": "reserves privacy budget in the ledger (spent once train reads the data)",
                  "train": "spends real privacy budget (the charge is marked spent before any data is read; every fit "
                           "is charged)"}


def _plan_charge(step: str, spec_file: str, run_dir: Path, run_id: str, *, preflight: bool):
    """What `step` would charge, after the refusals it can raise before charging; charges nothing, reads no rows.
    With `preflight`, the pre-flight checks on public facts (spec, declared sizes, the split's column names) too."""
    from synth_pipeline.privacy.ledger import ledger_for
    from synth_pipeline.spec import load_spec
    from synth_pipeline.steps.budget import preflight as check_before_charging

    loaded = load_spec(spec_file)
    key = {"dataset": loaded.spec.dataset, "release": loaded.spec.name, "run_id": run_id}
    if preflight:
        check_before_charging(loaded, run_dir)
    with ledger_for(loaded) as ledger:
        if step == "train":
            return ledger.plan_fit(**key, spec_hash=loaded.spec_hash)
        if preflight:
            ledger.check_sources(loaded)
        return ledger.plan_reserve(**key, epsilon=loaded.spec.privacy.epsilon, delta=loaded.spec.privacy.delta,
                                   spec_hash=loaded.spec_hash)


def _describe_charge(step: str, plan) -> str:
    return (f"{step} {CHARGING_STEPS[step]}: dataset {plan.dataset!r}, epsilon {plan.epsilon:g}, "
            f"delta {plan.delta:g}; release {plan.release}, run {plan.run_id}, attempt {plan.attempt}: {plan.action}")


def _run_step(args: argparse.Namespace) -> int:
    from synth_pipeline import steps
    from synth_pipeline.sources import RunContext
    from synth_pipeline.spec import load_spec

    run_dir = _run_folder(args.spec, args.run_id)
    if args.dry_run:
        if args.step not in CHARGING_STEPS:
            raise PipelineError(f"--dry-run is for the steps that charge the ledger ({', '.join(CHARGING_STEPS)}); "
                                f"{args.step} charges nothing and reads the run's data: run it without --dry-run")
        plan = _plan_charge(args.step, args.spec, run_dir, args.run_id, preflight=True)
        print(f"dry run, nothing was charged: {_describe_charge(args.step, plan)}", file=sys.stderr)
        print(json.dumps({"dry_run": True, "step": args.step, **asdict(plan)}, indent=2))
        return 0
    if args.step in CHARGING_STEPS:
        # Outside Airflow nobody reviews the charge first: say what it costs before it is made.
        plan = _plan_charge(args.step, args.spec, run_dir, args.run_id, preflight=False)
        print(_describe_charge(args.step, plan), file=sys.stderr)
    function = getattr(steps, f"run_{args.step}")
    accepted = inspect.signature(function).parameters
    generator = load_spec(args.spec).spec.generator
    seed = args.seed if args.seed is not None else (generator.seed if generator else None)
    offered = {"run_id": args.run_id, "seed": seed,
               "context": RunContext(args.run_id, args.data_interval_start, args.data_interval_end)}
    result = function(args.spec, run_dir, **{name: value for name, value in offered.items() if name in accepted})
    print(json.dumps(result, indent=2, default=str))
    return 0


def _show_run(args: argparse.Namespace) -> int:
    from synth_pipeline.runs import describe_run
    from synth_pipeline.summary import step_headline

    run_dir = _run_folder(args.spec, args.run_id)
    print(f"run folder: {run_dir}")
    for step, files in describe_run(run_dir):
        print(f"  {step}/")
        for name, size in files:
            print(f"    {name:<24} {size:>12,} bytes")
        report = run_dir / step / "report.json"
        if report.is_file():
            print(f"    -> {step_headline(step, json.loads(report.read_text()))}")
    return 0


def _steward(args: argparse.Namespace):
    from synth_pipeline.approval import StewardClient

    return StewardClient(args.api_url, username=args.user)


def _pending(args: argparse.Namespace) -> int:
    waiting = _steward(args).pending()
    if not waiting:
        print("no release runs are waiting for a decision")
    for item in waiting:
        print(f"{item['dag_id']}  {item['run_id']}  since {item['created_at']}  stewards: {', '.join(item['stewards'])}")
        print("    " + item["body"].replace("\n", "\n    "))
    return 0


def _answer(args: argparse.Namespace, approve: bool) -> int:
    if not approve and not args.comment:
        raise PipelineError("a rejection needs --comment saying why")
    result = _steward(args).respond(args.run_id, approve=approve, comment=args.comment or "", dag_id=args.release)
    verb = "approved" if approve else "rejected"
    print(f"{verb} {result['dag_id']} {result['run_id']} as {result['by']}")
    return 0


def _print_dataset_totals(releases) -> None:
    """Each dataset's total spend, from its most recently published version's manifest (the ledger's figure then)."""
    newest: dict[str, object] = {}
    for info in releases:
        if info.dataset and info.dataset_spent_epsilon is not None:
            if info.dataset not in newest or info.created_at > newest[info.dataset].created_at:
                newest[info.dataset] = info
    for dataset, info in sorted(newest.items()):
        lifetime = "no lifetime configured" if info.dataset_lifetime_epsilon is None \
            else f"of a lifetime {info.dataset_lifetime_epsilon:g}"
        print(f"  dataset {dataset}: epsilon {info.dataset_spent_epsilon:g} spent in all, {lifetime} "
              f"(the ledger when {info.release} {info.version} was published)")


def _releases(args: argparse.Namespace) -> int:
    from synth_pipeline import catalog

    if args.action == "list":
        listing = catalog.scan(args.location)
        if not listing.releases and not listing.broken:
            print(f"no releases published at {catalog.default_store(args.location).root}")
        for info in listing.releases:
            marker = "*" if info.is_latest else " "
            print(f"{marker} {info.release:<20} {info.version:<28} rows={info.rows}  epsilon={info.epsilon}  "
                  f"expires {info.expires_at[:10]}  purpose: {info.purpose}")
        _print_dataset_totals(listing.releases)
        for broken in listing.broken:
            print(f"! {broken.release!r:<20} {broken.version or '-':<28} BROKEN {broken.error}: {broken.reason}")
        if listing.broken:
            # The others are listed above; the exit code says that the catalog holds something nobody vouches for.
            print(f"error: {len(listing.broken)} release version(s) cannot be vouched for (marked !)", file=sys.stderr)
            return 2
        return 0
    if not args.release:
        raise PipelineError(f"releases {args.action} needs a release name")
    manifest = catalog.verify(args.release, args.version, location=args.location)
    if args.action == "verify":
        print(f"OK {args.release} {manifest['version']}: signed by the publisher's key, {len(manifest['files'])} "
              f"files match their SHA-256; expires {manifest['expires_at'][:10]}")
    else:
        print(json.dumps(manifest, indent=2, sort_keys=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from synth_pipeline.steps import STEPS

    # The whole first paragraph: its first line alone stopped mid-sentence, before exit codes 2 and 3.
    parser = argparse.ArgumentParser(prog="synth-pipeline", description=" ".join(__doc__.split("\n\n")[0].split()))
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate-spec", help="validate release spec files; print OK or the errors")
    validate.add_argument("files", nargs="+")
    validate.set_defaults(handler=_validate_spec)

    step = commands.add_parser("run-step", help="run one step of a release outside Airflow (debugging); charge_budget "
                                                "and train charge the real ledger")
    step.add_argument("step", choices=STEPS)
    step.add_argument("spec")
    step.add_argument("--run-id", required=True)
    step.add_argument("--data-interval-start")
    step.add_argument("--data-interval-end")
    step.add_argument("--seed", type=int, help="fix the randomness (tests, debugging); default: the spec's generator.seed")
    step.add_argument("--dry-run", action="store_true",
                      help="charge_budget and train only: run every refusal that can come before the charge, print "
                           "what would be charged, and stop (nothing is charged, no private rows are read)")
    step.set_defaults(handler=_run_step)

    show = commands.add_parser("show-run", help="list what a run produced and where")
    show.add_argument("spec")
    show.add_argument("--run-id", help="default: the most recent run")
    show.set_defaults(handler=_show_run)

    def steward_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--api-url", help="Airflow's base URL (default $SYNTH_PIPELINE_AIRFLOW_URL or http://localhost:8080)")
        command.add_argument("--user", help="steward's Airflow user (default $SYNTH_PIPELINE_STEWARD_USER; "
                                            "the password is read from $SYNTH_PIPELINE_STEWARD_PASSWORD)")

    pending = commands.add_parser("pending", help="release runs waiting for a steward's decision")
    steward_options(pending)
    pending.set_defaults(handler=_pending)
    for verb, approve in (("approve", True), ("reject", False)):
        answer = commands.add_parser(verb, help=f"{verb} a release run through the Airflow REST API")
        answer.add_argument("run_id")
        answer.add_argument("--release", help="the release (DAG id), if the run id is pending in several")
        answer.add_argument("--comment", required=not approve, default="")
        steward_options(answer)
        answer.set_defaults(handler=lambda args, approve=approve: _answer(args, approve))

    releases = commands.add_parser("releases", help="list, show or verify published releases (signatures checked "
                                                    "with $SYNTH_PIPELINE_RELEASE_PUBLIC_KEY); list exits 2 when "
                                                    "some release is broken, after listing the others")
    releases.add_argument("action", choices=("list", "show", "verify"))
    releases.add_argument("release", nargs="?")
    releases.add_argument("--version", default="latest")
    releases.add_argument("--location", help="where releases are published (default $SYNTH_PIPELINE_CATALOG or ./published)")
    releases.set_defaults(handler=_releases)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(commands)
    return parser


# Exit codes (the README's table): argparse itself exits 2 on a usage error.
EXIT_INVALID_SPEC, EXIT_PIPELINE_ERROR, EXIT_INTERNAL_ERROR = 1, 2, 3
DEBUG_ENV = "SYNTH_PIPELINE_DEBUG"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID_SPEC
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PIPELINE_ERROR
    except Exception as exc:  # noqa: BLE001 - the one place an unexpected crash becomes exit code 3
        # Only the type: an unexpected exception's message and traceback may hold data values (a pandas error
        # quoting a cell), and this output reaches whoever runs the command and the task logs.
        if os.environ.get(DEBUG_ENV) == "1":
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__} (a bug in synth_pipeline; rerun with {DEBUG_ENV}=1 for the "
              "traceback, which may show data values)", file=sys.stderr)
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
