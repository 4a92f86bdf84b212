"""An analyst's DAG: runs whenever a new `adult_income` release is published, loads it through the catalog
(the manifest's signature checked with the publisher's public key, $SYNTH_PIPELINE_RELEASE_PUBLIC_KEY on the workers;
checksums verified, expiry enforced) and writes a small aggregate: the share of incomes above 50K by education.
A release that is unsigned, signed by another key or tampered with fails the task (ReleaseTampered): nothing is read."""

from __future__ import annotations

import os
from pathlib import Path

from airflow.sdk import Asset, dag, task

RELEASE = "adult_income"
PROJECT = Path(__file__).resolve().parent.parent
OUTPUT = Path(os.environ.get("SYNTH_PIPELINE_ANALYST_OUTPUT", PROJECT / ".state" / "analyst"))


@dag(dag_id="analyst_adult_income_by_education", schedule=[Asset(f"synthetic/{RELEASE}")], catchup=False,
     tags=["analyst", "example"], default_args={"owner": "analyst"})
def analyst_adult_income_by_education():
    @task
    def income_by_education(triggering_asset_events=None) -> dict:
        from synth_pipeline import catalog

        events = triggering_asset_events[Asset(f"synthetic/{RELEASE}")] if triggering_asset_events else []
        version = events[-1].extra.get("version", "latest") if events else "latest"
        fallback = os.environ.get("SYNTH_PIPELINE_CATALOG", str(PROJECT / "published"))
        location = events[-1].extra.get("location", fallback) if events else fallback
        table = catalog.load(RELEASE, version, location=location)
        share = (table["income"] == ">50K").groupby(table["education"], observed=True).mean().round(3)
        OUTPUT.mkdir(parents=True, exist_ok=True)
        path = OUTPUT / f"{RELEASE}_income_by_education_{version}.csv"
        share.rename("share_over_50k").to_csv(path)
        return {"version": version, "path": str(path), "groups": int(share.size)}

    income_by_education()


analyst_adult_income_by_education()
