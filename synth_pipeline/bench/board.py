"""Benchmark of the release board: each page's and JSON route's response time through the in-process Airflow API
server, with 1,000 published versions and 10,000 ledger entries seeded in a throwaway project.

    .venv/bin/python -m synth_pipeline.bench.board [--versions 1000] [--charges 10000] [--requests 20]

Everything runs in a temporary folder: its own Airflow home (SQLite metadata, migrated first), specs, ledger and
publish location. Versions are published with `publish.publish_release`; the ledger is opened and first charged
through its own API, the bulk of the charges inserted as rows of the same shape (`--seed-through-api` makes every
one through the API: minutes on SQLite). Each route is requested once cold (the verification cache empty: every
checksum computed), then `--requests` times warm; the median and 95th percentile of the warm requests are printed.
Target: under 300 ms per page.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
import yaml

from synth_pipeline.privacy.ledger import ledger_url, open_ledger
from synth_pipeline.privacy.ledger_schema import charges_table, create_ledger_engine
from synth_pipeline.publish import publish_release, version_for
from synth_pipeline.storage import Store

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "steward", "bench-steward-password"
ROUTES = ("releases", "budgets", "pending", "expired")
TARGET_MS = 300


def seed_releases(location: Path, count: int, *, releases: tuple[str, ...] = ("adult_income", "heart_disease"),
                  now: datetime | None = None, tag: str = "") -> list[tuple[str, str]]:
    """Publish `count` small versions, spread over `releases`, each created a minute apart (oldest first)."""
    now = now or datetime.now(timezone.utc)
    files_dir = Path(tempfile.mkdtemp(prefix="board-seed-"))
    try:
        store, published = Store.from_location(location), []
        for index in range(count):
            release = releases[index % len(releases)]
            created = now - timedelta(minutes=count - index)
            run_id = f"manual__{created.isoformat()}{tag}"
            card = {"release": release, "rows": 1000 + index, "epsilon": 1.0}
            files = {"synthetic.parquet": files_dir / "synthetic.parquet", "data_card.json": files_dir / "card.json",
                     "data_card.html": files_dir / "card.html"}
            files["synthetic.parquet"].write_bytes(b"PAR1" + index.to_bytes(4, "big") + b"PAR1")
            files["data_card.json"].write_text(json.dumps(card))
            files["data_card.html"].write_text(f"<!doctype html><title>{release}</title><h1>Data card of {release}, "
                                               f"version {index}</h1>")
            version = version_for(run_id=run_id, run_started=created)
            publish_release(store=store, release=release, version=version, files=files, manifest={
                "description": f"synthetic {release}", "purpose": "Benchmarking the release board.",
                "run_id": run_id, "rows": 1000 + index, "created_at": created.isoformat(),
                "expires_at": (created + timedelta(days=365)).isoformat(), "generator": "aim", "seeded": False,
                "privacy": {"epsilon": 1.0, "delta": 1e-6, "dataset": release},
                "approval": {"decision": "Approve", "by": USER, "at": created.isoformat(), "comment": "bench"},
            })
            published.append((release, version))
        return published
    finally:
        shutil.rmtree(files_dir, ignore_errors=True)


def _charge_plan(index: int, datasets: tuple[str, ...]) -> tuple[str, str, int, str]:
    """(dataset, run id, attempt, final status) of the index-th seeded charge: mostly spent, one in ten released,
    one in twenty a second fit attempt of an earlier spent run."""
    dataset, turn = datasets[index % len(datasets)], index // len(datasets)
    if turn % 20 == 19:  # the dataset's previous run (turn 18: spent) fits again
        return dataset, f"manual__bench-{index - len(datasets):06d}", 2, "spent"
    return dataset, f"manual__bench-{index:06d}", 1, "released" if turn % 10 == 9 else "spent"


def seed_ledger(project_root: Path, count: int, *, datasets: tuple[str, ...] = ("adult_income", "heart_disease"),
                epsilon: float = 0.001, delta: float = 1e-9, through_api: bool = True) -> None:
    """`count` charges, spread over `datasets`, through the ledger's API (reserve, begin_fit, release_unspent).

    Without `through_api`, only each dataset's first charges go through the API (it creates the schema and the
    dataset rows) and the rest are inserted as rows of the same shape in one transaction: on SQLite the API takes
    two locked, synced transactions per charge, and each lifetime check reads the dataset's charges, so 10,000
    charges take minutes through it, while the board only ever reads them."""
    through = count if through_api else min(count, 20 * len(datasets))
    with open_ledger(project_root) as ledger:
        for index in range(through):
            dataset, run_id, attempt, final = _charge_plan(index, datasets)
            if attempt == 1:
                ledger.reserve(dataset=dataset, release=dataset, run_id=run_id, epsilon=epsilon, delta=delta,
                               mechanism="aim", spec_hash="0" * 64)
            if final == "released":
                ledger.release_unspent(dataset=dataset, release=dataset, run_id=run_id)
            else:
                ledger.begin_fit(dataset=dataset, release=dataset, run_id=run_id, spec_hash="0" * 64)
    if through == count:
        return
    now = datetime.now(timezone.utc)
    rows = []
    for index in range(through, count):
        dataset, run_id, attempt, final = _charge_plan(index, datasets)
        rows.append({"dataset": dataset, "release": dataset, "run_id": run_id, "attempt": attempt,
                     "epsilon": epsilon, "delta": delta, "mechanism": "aim", "status": final,
                     "spec_hash": "0" * 64, "created_at": now, "updated_at": now})
    engine = create_ledger_engine(ledger_url(project_root))
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(charges_table), rows)
    finally:
        engine.dispose()


def _project(folder: Path, charges: int) -> Path:
    """Specs and a ledger config whose lifetimes hold every seeded charge."""
    project = folder / "project"
    shutil.copytree(ROOT / "releases", project / "releases")
    shutil.copytree(ROOT / "config", project / "config")
    config_path = project / "config" / "ledger.yaml"
    config = yaml.safe_load(config_path.read_text())
    for budget in config["datasets"].values():
        budget["epsilon"], budget["delta"] = float(charges), 0.5
    config_path.write_text(yaml.safe_dump(config))
    return project


def _environment(folder: Path, project: Path) -> None:
    home = folder / "airflow"
    home.mkdir()
    (home / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
    os.environ.update({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder / "dags"), "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:op",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32), "GX_ANALYTICS_ENABLED": "false",
        "SYNTH_PIPELINE_RELEASES": str(project / "releases"), "SYNTH_PIPELINE_CATALOG": str(project / "published"),
        "SYNTH_PIPELINE_STATE": str(project / ".state"),
    })
    for name in ("SYNTH_PIPELINE_LEDGER_URL", "SYNTH_PIPELINE_LEDGER_CONFIG"):
        os.environ.pop(name, None)
    (folder / "dags").mkdir()
    subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--charges", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=20, help="warm requests per route (after one cold)")
    parser.add_argument("--seed-through-api", action="store_true",
                        help="make every charge through the ledger's API (minutes for 10,000 on SQLite)")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="board-bench-"))
    try:
        project = _project(folder, args.charges)
        _environment(folder, project)
        started = time.perf_counter()
        seed_releases(project / "published", args.versions)
        seeded_versions = time.perf_counter() - started
        seed_ledger(project, args.charges, through_api=args.seed_through_api)
        seeded_ledger = time.perf_counter() - started - seeded_versions
        print(f"seeded {args.versions} versions in {seeded_versions:.1f} s and {args.charges} ledger entries in "
              f"{seeded_ledger:.1f} s under {folder}")

        from airflow.api_fastapi.app import create_app
        from fastapi.testclient import TestClient

        client = TestClient(create_app())
        token = client.post("/auth/token", json={"username": USER, "password": PASSWORD}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        print(f"{'route':34} {'cold ms':>8} {'median ms':>10} {'p95 ms':>8}  bytes")
        worst = 0.0
        for route in ROUTES:
            for path in (f"/release-board/{route}", f"/release-board/api/{route}"):
                timings = []
                for _ in range(1 + args.requests):
                    begin = time.perf_counter()
                    response = client.get(path, headers=headers)
                    timings.append((time.perf_counter() - begin) * 1000)
                    if response.status_code != 200:
                        raise SystemExit(f"{path}: HTTP {response.status_code}: {response.text[:300]}")
                cold, warm = timings[0], timings[1:]
                median, p95 = statistics.median(warm), _percentile(warm, 0.95)
                worst = max(worst, p95)
                print(f"{path:34} {cold:8.0f} {median:10.0f} {p95:8.0f}  {len(response.content):,}")
        verdict = "within" if worst < TARGET_MS else "OVER"
        print(f"slowest warm p95: {worst:.0f} ms, {verdict} the {TARGET_MS} ms target")
        return 0 if worst < TARGET_MS else 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
