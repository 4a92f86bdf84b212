"""`synth-pipeline run NAME`: argparse only here; the work is imported when the command runs."""

from __future__ import annotations

import argparse

DEFAULT_PORT = 28180


def _run(args: argparse.Namespace) -> int:
    from synth_pipeline_local.run import run_release

    return run_release(args.name, releases=args.releases, port=args.port, timeout_s=args.timeout,
                       demo_answer=("approve" if args.approve_as_demo_steward else
                                    "reject" if args.reject_as_demo_steward else None))


def register(commands) -> None:
    run = commands.add_parser(
        "run", allow_abbrev=False,  # `--reject` is not `--reject-as-demo-steward`: a demo flag is spelled out
        help="run a release DAG locally (Airflow on SQLite) with a live progress view; stops at the approval "
                    "for a steward to answer with `synth-pipeline pending/approve/reject` or in the Airflow UI",
        description="Run release NAME through its Airflow DAG on the embedded defaults: Airflow's metadata in SQLite "
                    "under the state folder (<state>/airflow), run folders under <state>/runs, the ledger in "
                    "<state>/ledger.sqlite, publication to the spec's publish.uri. The state folder is "
                    "$SYNTH_PIPELINE_STATE, else .state/ in the spec's project (the releases folder's parent). When "
                    "the run waits for approval it prints how a steward answers, through the Airflow API server this "
                    "command starts (and stops when the run ends). Exit 0 exactly when the run succeeded and the "
                    "release was published; 2 when it failed, was rejected or was not answered in time.")
    run.add_argument("name", help="the release's name (its spec's `name`, or the YAML file's stem), or a spec file")
    run.add_argument("--releases", metavar="DIR",
                     help="folder of release specs (default $SYNTH_PIPELINE_RELEASES, else this project's releases/)")
    run.add_argument("--port", type=int, default=DEFAULT_PORT,
                     help=f"port of the local Airflow API server and UI (default {DEFAULT_PORT}; 0: any free port)")
    run.add_argument("--timeout", type=float, metavar="SECONDS",
                     help="stop waiting for the steward after this long: the run is failed and nothing is published "
                          "(default: wait until a steward answers; Ctrl-C stops the run the same way)")
    demo = run.add_mutually_exclusive_group()
    demo.add_argument("--approve-as-demo-steward", action="store_true",
                      help="DEMO ONLY: answer the approval automatically as the spec's steward, without anyone "
                           "reading the report (what `make demo` does)")
    demo.add_argument("--reject-as-demo-steward", action="store_true",
                      help="DEMO ONLY: reject automatically as the spec's steward (shows that nothing is published)")
    run.set_defaults(handler=_run)
