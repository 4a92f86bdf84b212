"""Peers for `synth-pipeline bench --peers`: OpenDP's AIM and MST (`opendp[mbi]`) on the same data, domain and
protocol as the pipeline's own generators.

OpenDP pins other versions of polars and numpy than the pipeline's lock, so it lives in its own virtual environment
(`make peers-env`: `.venv-peers`, from `benchmarks/peers/requirements.txt`) and runs as a subprocess
(`benchmarks/peers/opendp_runner.py`). The training table is encoded with the `aim` generator's public domain (the
spec's, with the run's `--param` overrides), OpenDP fits it at the same zCDP rho that `aim` spends for the run's
(epsilon, delta) with every code a declared key, and its sampled codes are decoded by the same domain, so the
evaluation sees the same kind of table from every generator. OpenDP draws its noise from the operating system, so
its runs are not seeded.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from synth_pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PEERS = {"opendp_aim": "aim", "opendp_mst": "mst"}
RUNNER = ROOT / "benchmarks" / "peers" / "opendp_runner.py"
PYTHON_ENV = "SYNTH_PIPELINE_PEERS_PYTHON"

def peers_python() -> Path:
    python = Path(os.environ.get(PYTHON_ENV) or ROOT / ".venv-peers" / "bin" / "python")
    if not python.exists():
        raise ConfigError(f"--peers needs OpenDP in its own environment: run `make peers-env` (it installs "
                          f"benchmarks/peers/requirements.txt into .venv-peers), or set {PYTHON_ENV}")
    return python


def fit_and_sample(peer: str, train, schema, params: dict, *, epsilon: float, delta: float, seed: int, rows: int,
                   rounds: int | None) -> tuple[object, dict]:
    """(synthetic table, measured figures) for one peer run."""
    from synth_pipeline.generators import make_generator
    from synth_pipeline.privacy.accounting import RdpCurve, epsilon_of_rho, rho_for_budget

    python = peers_python()
    domain = make_generator("aim", params).build_domain(schema)
    rho = rho_for_budget(epsilon=epsilon, delta=delta, spent=RdpCurve.zero())
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as folder:
        codes_in, codes_out = Path(folder) / "codes.npy", Path(folder) / "synthetic.npy"
        np.save(codes_in, domain.encode(train))
        command = [str(python), str(RUNNER), "--algorithm", PEERS[peer], "--codes", str(codes_in),
                   "--sizes", ",".join(str(s) for s in domain.sizes), "--rho", repr(rho), "--rows", str(rows),
                   "--out", str(codes_out)]
        if rounds is not None and PEERS[peer] == "aim":
            command += ["--rounds", str(rounds)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ConfigError(f"{peer} failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1][-500:] if done.stderr.strip() else 'no message'}")
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        synthetic = domain.decode(np.load(codes_out), np.random.default_rng(seed))
    # OpenDP may spend a hair under rho (see the runner); its epsilon under the same conversion as aim's.
    return synthetic, {"fit_s": measured["fit_s"], "peak_mb": measured["peak_mb"],
                       "epsilon_spent": epsilon_of_rho(rho=measured["rho"], delta=delta), "rho": measured["rho"]}
