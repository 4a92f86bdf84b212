"""Kept for the old habit: `python scripts/run_release.py ARGS` is exactly `synth-pipeline run ARGS` (see
`synth-pipeline run --help`); unknown arguments are refused, as there. `make demo` runs
`synth-pipeline run adult_income --approve-as-demo-steward`."""

from __future__ import annotations

import sys

from synth_pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
