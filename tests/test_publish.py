from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from synth_pipeline import catalog
from synth_pipeline.errors import (
    ApprovalError,
    ConfigError,
    ReleaseExpired,
    ReleaseNotFound,
    ReleaseTampered,
    SeededRunNotPublishable,
)
from synth_pipeline.publish import version_for
from synth_pipeline.steps.release import run_publish, run_retention
from synth_pipeline.storage import Store

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
APPROVED = {"chosen_options": ["Approve"], "responded_by_user": {"id": "steward", "name": "steward"},
            "responded_at": "2026-11-22T12:00:00+00:00", "params_input": {"comment": "fine"}}


def _report(run: Path, step: str, document: dict) -> None:
    (run / step).mkdir(parents=True, exist_ok=True)
    (run / step / "report.json").write_text(json.dumps(document))


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """A run folder as an unseeded run's split, train, sample and report steps leave it."""
    run = tmp_path / "run"
    _report(run, "split", {"seeded": False})
    _report(run, "train", {"generator": "aim", "seeded": False})
    (run / "sample").mkdir(parents=True)
    pd.DataFrame({"age": [30, 40, 50], "sex": ["Male", "Female", "Male"]}).to_parquet(run / "sample" / "synthetic.parquet")
    (run / "report").mkdir()
    (run / "report" / "data_card.json").write_text(json.dumps({"release": "heart_disease", "rows": 3}))
    (run / "report" / "data_card.html").write_text("<html>card</html>")
    return run


def publish(project, run_dir, run_id="manual__1", started=NOW, response=APPROVED, triggered_by="alice", now=NOW):
    return run_publish(project / "releases" / "heart_disease.yaml", run_dir, run_id=run_id, run_started=started,
                       approval_response=response, triggered_by=triggered_by, now=now)


def test_publish_then_load_verify_and_list(project, run_dir):
    result = publish(project, run_dir)
    published = project / "published"
    assert result["uri"] == str(published / "heart_disease" / result["version"])
    files = sorted(p.name for p in (published / "heart_disease" / result["version"]).iterdir())
    assert files == ["data_card.html", "data_card.json", "manifest.json", "manifest.sig", "synthetic.csv",
                     "synthetic.parquet"]
    manifest = catalog.verify("heart_disease", location=published, now=NOW)
    assert manifest["approval"] == {"decision": "Approve", "by": "steward", "at": "2026-11-22T12:00:00+00:00", "comment": "fine"}
    assert manifest["rows"] == 3 and manifest["privacy"]["epsilon"] == 2.0 and len(manifest["spec_hash"]) == 64
    assert manifest["seeded"] is False and manifest["generator"] == "aim"
    assert manifest["expires_at"] == (NOW + timedelta(days=180)).isoformat()
    assert set(manifest["files"]) == {"data_card.html", "data_card.json", "synthetic.csv", "synthetic.parquet"}
    assert catalog.load("heart_disease", location=published)["age"].tolist() == [30, 40, 50]
    assert catalog.data_card("heart_disease", location=published)["rows"] == 3
    [info] = catalog.list_releases(published)
    assert (info.release, info.version, info.is_latest, info.rows) == ("heart_disease", result["version"], True, 3)


def test_the_signature_covers_the_manifests_content_not_its_layout(project, run_dir):
    version_dir = Path(publish(project, run_dir)["uri"])
    manifest = json.loads((version_dir / "manifest.json").read_text())
    (version_dir / "manifest.json").write_text(json.dumps(dict(reversed(manifest.items())), indent=7))
    assert catalog.verify("heart_disease", location=project / "published", now=NOW)["rows"] == 3
    (version_dir / "manifest.json").write_text(json.dumps({**manifest, "purpose": "Anything at all."}))
    with pytest.raises(ReleaseTampered, match="signature does not match"):
        catalog.verify("heart_disease", location=project / "published", now=NOW)


def test_two_publishes_of_one_run_make_one_version(project, run_dir):
    first = publish(project, run_dir)
    second = publish(project, run_dir)
    assert second["version"] == first["version"] and second["already_published"] is True
    assert len(catalog.list_releases(project / "published")) == 1


def test_latest_never_moves_back_to_an_older_run(project, run_dir):
    newer = publish(project, run_dir, run_id="manual__2", started=NOW)
    older = publish(project, run_dir, run_id="manual__1", started=NOW - timedelta(days=1))
    assert older["version"] < newer["version"]
    assert catalog.resolve_version(Store.from_location(project / "published"), "heart_disease") == newer["version"]


@pytest.mark.parametrize(
    "response,triggered_by,message",
    [
        ({**APPROVED, "chosen_options": ["Reject"]}, "alice", "was not approved"),
        ({**APPROVED, "responded_by_user": {"id": "mallory"}}, "alice", "'mallory' approved, but is not one of the release's stewards"),
        (APPROVED, "steward", "four-eyes rule: 'steward' triggered this run and may not approve it"),
    ],
    ids=["rejected", "not-a-steward", "four-eyes"],
)
def test_publication_refused_without_a_valid_approval(project, run_dir, response, triggered_by, message):
    with pytest.raises(ApprovalError, match=message):
        publish(project, run_dir, response=response, triggered_by=triggered_by)
    assert not (project / "published").exists() and not (run_dir / "publish").exists()


SEEDED_RUNS = [
    # (how the run folder differs from an unseeded run's, the error, what it says)
    (lambda run: _report(run, "train", {"generator": "aim", "seeded": True}), SeededRunNotPublishable,
     "the train step was seeded"),
    (lambda run: _report(run, "split", {"seeded": True}), SeededRunNotPublishable, "the split step was seeded"),
    (lambda run: _report(run, "train", {"generator": "aim"}), SeededRunNotPublishable,
     "the train step does not record whether it was seeded"),
    (lambda run: _report(run, "split", {"seeded": "no"}), SeededRunNotPublishable,
     "the split step does not record whether it was seeded"),
    (lambda run: (run / "split" / "report.json").unlink(), SeededRunNotPublishable,
     "the split step does not record whether it was seeded"),
    (lambda run: shutil.rmtree(run / "train"), ConfigError, "run the 'train' step of this run first"),
]


@pytest.mark.parametrize("change,error,message", SEEDED_RUNS,
                         ids=["train-seeded", "split-seeded", "train-silent", "split-not-a-bool", "split-report-missing",
                              "never-trained"])
def test_a_seeded_run_is_never_published_even_when_approved(project, run_dir, change, error, message):
    """With a known seed the release is a deterministic function of the data (the review's finding 8)."""
    change(run_dir)
    with pytest.raises(error, match=message):
        publish(project, run_dir)
    assert not (project / "published").exists() and not (run_dir / "publish").exists()


@pytest.mark.parametrize(
    "tamper,error,message",
    [
        (lambda v: (v / "synthetic.parquet").write_bytes(b"PAR1 changed"), ReleaseTampered, "synthetic.parquet does not match its SHA-256"),
        (lambda v: (v / "data_card.html").unlink(), ReleaseTampered, "missing file"),
        (lambda v: (v / "extra.csv").write_text("x"), ReleaseTampered, "not in the manifest: extra.csv"),
    ],
    ids=["changed-file", "missing-file", "extra-file"],
)
def test_tampering_is_detected_by_verify_and_load(project, run_dir, tamper, error, message):
    version = publish(project, run_dir)["version"]
    tamper(project / "published" / "heart_disease" / version)
    with pytest.raises(error, match=message):
        catalog.verify("heart_disease", location=project / "published")
    with pytest.raises(error):
        catalog.load("heart_disease", location=project / "published")


def test_expired_release_is_refused_then_removed_by_retention(project, run_dir):
    published = project / "published"
    publish(project, run_dir)
    later = NOW + timedelta(days=181)
    with pytest.raises(ReleaseExpired, match="expired on 2027-05-21"):
        catalog.verify("heart_disease", location=published, now=later)
    assert run_retention(published, now=NOW)["count"] == 0
    result = run_retention(published, now=later)
    assert result["count"] == 1
    assert catalog.list_releases(published) == []
    assert not (published / "heart_disease" / "latest.json").exists()
    [record] = list((published / "_retention").iterdir())
    assert json.loads(record.read_text())["release"] == "heart_disease"
    with pytest.raises(ReleaseNotFound):
        catalog.load("heart_disease", location=published)


_CHILD = """
import sys
from pathlib import Path
from synth_pipeline.publish import publish_release
from synth_pipeline.storage import Store
root, source = Path(sys.argv[1]), Path(sys.argv[2])
publish_release(store=Store.from_location(root), release="r", version=sys.argv[3],
                files={"synthetic.parquet": source / "synthetic.parquet", "data_card.json": source / "data_card.json"},
                manifest={"created_at": "2026-11-22T00:00:00+00:00", "expires_at": "2099-01-01T00:00:00+00:00"})
"""


def _child_publish(root: Path, source: Path, version: str, fault: str | None) -> int:
    env = {**__import__("os").environ, "SYNTH_PIPELINE_FAULT": fault or ""}
    return subprocess.run([sys.executable, "-c", _CHILD, str(root), str(source), version], env=env).returncode


V1, V2 = "20261122T000000Z-0000aaaa", "20261123T000000Z-0000bbbb"


@pytest.mark.slow  # three child processes killed mid-publication: about 8 s
@pytest.mark.parametrize("fault", ["publish:after_first_file", "publish:before_move", "publish:before_latest"])
def test_sigkill_at_any_point_leaves_no_partial_release_and_a_rerun_completes(tmp_path, run_dir, fault):
    root = tmp_path / "published"
    source = tmp_path / "files"
    source.mkdir()
    (source / "synthetic.parquet").write_bytes((run_dir / "sample" / "synthetic.parquet").read_bytes())
    (source / "data_card.json").write_text("{}")
    assert _child_publish(root, source, V1, None) == 0
    assert _child_publish(root, source, V2, fault) == -9  # killed by SIGKILL at the fault point
    listing = catalog.scan(root)
    visible = {i.version for i in listing.releases}
    latest = catalog.resolve_version(Store.from_location(root), "r")
    assert latest in visible and listing.broken == ()
    for version in visible:
        catalog.verify("r", version, location=root)  # whatever is visible is complete
    if fault != "publish:before_latest":
        assert visible == {V1} and latest == V1
    assert _child_publish(root, source, V2, None) == 0
    assert {i.version for i in catalog.list_releases(root)} == {V1, V2}
    assert catalog.resolve_version(Store.from_location(root), "r") == V2
    assert not [p for p in (root / "r").iterdir() if p.name.startswith(".pending")]


def test_version_is_derived_from_the_run():
    started = datetime(2026, 11, 22, 13, 48, 30, tzinfo=timezone.utc)
    assert version_for(run_id="manual__x", run_started=started) == version_for(run_id="manual__x", run_started=started)
    assert version_for(run_id="manual__x", run_started=started).startswith("20261122T134830Z-")
    assert version_for(run_id="manual__y", run_started=started) != version_for(run_id="manual__x", run_started=started)


@pytest.mark.parametrize("manifest", [{"created_at": "2026-11-22T00:00:00+00:00"},
                                      {"created_at": "2026-11-22T00:00:00+00:00", "expires_at": "soon"}],
                         ids=["no-expiry", "expiry-not-a-date"])
def test_a_manifest_readers_would_refuse_is_never_published(tmp_path, run_dir, manifest):
    from synth_pipeline.publish import publish_release

    with pytest.raises(ConfigError, match="not published, readers would refuse it: .*expires_at"):
        publish_release(store=Store.from_location(tmp_path / "published"), release="r", version=V1,
                        files={"synthetic.parquet": run_dir / "sample" / "synthetic.parquet"}, manifest=manifest)
    assert not (tmp_path / "published").exists()


def test_the_listing_shows_each_datasets_total_spent_as_of_its_latest_version(project, run_dir, capsys):
    """An analyst sees what the dataset has lost over all its releases, not only this release's epsilon."""
    from synth_pipeline.cli import main
    from synth_pipeline.privacy.ledger import ledger_for
    from synth_pipeline.spec import load_spec

    loaded = load_spec(project / "releases" / "heart_disease.yaml")
    with ledger_for(loaded) as ledger:
        ledger.reserve(dataset="heart_disease", release="heart_disease", run_id="manual__0", epsilon=1.5, delta=1e-6,
                       mechanism="aim", spec_hash=loaded.spec_hash)
    result = publish(project, run_dir)
    manifest = catalog.verify("heart_disease", location=project / "published", now=NOW)
    budget = manifest["privacy"]["dataset_budget"]
    assert (budget["spent_epsilon"], budget["reserved_epsilon"], budget["lifetime_epsilon"]) == (0.0, 1.5, 6.0)
    [info] = catalog.list_releases(project / "published")
    assert (info.dataset, info.dataset_spent_epsilon, info.dataset_lifetime_epsilon) == ("heart_disease", 0.0, 6.0)
    assert main(["releases", "list", "--location", str(project / "published")]) == 0
    out = capsys.readouterr().out
    assert (f"dataset heart_disease: epsilon 0 spent in all, of a lifetime 6 (the ledger when heart_disease "
            f"{result['version']} was published)") in out
