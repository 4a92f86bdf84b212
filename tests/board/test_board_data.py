"""The board's library part (synth_pipeline.board), without Airflow."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from synth_pipeline import catalog
from synth_pipeline.board import data, pages
from synth_pipeline.errors import ReleaseNotFound


@pytest.fixture
def paths(board) -> data.BoardPaths:
    return data.BoardPaths.from_environment(board)


def test_paths_follow_the_environment(board, monkeypatch, tmp_path):
    paths = data.BoardPaths.from_environment(tmp_path / "ignored")  # $SYNTH_PIPELINE_RELEASES wins
    assert paths.releases_dir == board / "releases" and paths.project_root == board
    assert paths.catalog == board / "published"
    monkeypatch.setenv("SYNTH_PIPELINE_CATALOG", "s3://bucket/releases")
    assert data.BoardPaths.from_environment(board).catalog == "s3://bucket/releases"
    monkeypatch.delenv("SYNTH_PIPELINE_RELEASES")
    assert data.BoardPaths.from_environment(tmp_path).releases_dir == tmp_path / "releases"


def test_a_verification_is_reused_until_the_files_change(paths, publish, board, monkeypatch):
    version = publish("heart_disease")
    calls = []
    real_verify = catalog.verify
    monkeypatch.setattr(catalog, "verify", lambda *a, **k: calls.append(a) or real_verify(*a, **k))
    cache = data.VerificationCache()
    assert [row.status for row in data.releases(paths, cache)] == ["verified"]
    assert [row.status for row in data.releases(paths, cache)] == ["verified"]
    assert len(calls) == 1
    (board / "published" / "heart_disease" / version / "synthetic.parquet").write_bytes(b"PAR1 other rows PAR1")
    assert [row.status for row in data.releases(paths, cache)] == ["tampered"]
    assert len(calls) == 2
    expiring = data.VerificationCache(ttl_s=0)  # past its lifetime, a verification is done again
    data.releases(paths, expiring), data.releases(paths, expiring)
    assert len(calls) == 4
    monkeypatch.setattr(data, "REVERIFY_BUDGET_S", -1)  # ... unless this request's time for that is spent
    data.releases(paths, expiring)
    assert len(calls) == 4
    (board / "published" / "heart_disease" / version / "synthetic.parquet").write_bytes(b"PAR1 synthetic rows PAR1")
    assert [row.status for row in data.releases(paths, expiring)] == ["verified"]  # a change is never deferred
    assert len(calls) == 5


def test_an_unreadable_manifest_does_not_hide_the_others(paths, publish, board):
    good, broken = publish("heart_disease"), publish("adult_income")
    (board / "published" / "adult_income" / broken / "manifest.json").write_text("{not json")
    rows = {row.version: row for row in data.releases(paths, data.VerificationCache())}
    assert rows[good].status == "verified"
    assert rows[broken].status == "unreadable" and rows[broken].rows is None and not rows[broken].card_available


def test_removals_are_read_from_retentions_records_newest_first(paths, board):
    folder = board / "published" / data.RETENTION_FOLDER
    folder.mkdir(parents=True)
    for when, version in (("2026-01-02", "v1"), ("2026-03-04", "v2")):
        (folder / f"{when}-heart_disease-{version}.json").write_text(json.dumps(
            {"release": "heart_disease", "version": version, "expired_at": f"{when}T00:00:00+00:00",
             "removed_at": f"{when}T01:00:00+00:00", "purpose": "Teaching."}))
    (folder / "half-written.json").write_text("{")
    (folder / "notes.txt").write_text("not a record")
    assert [r.version for r in data.removals(paths)] == ["v2", "v1"]


def test_stewards_come_from_the_spec_and_fail_closed(paths, board):
    assert data.release_stewards(paths, "heart_disease") == ("steward",)
    assert data.release_stewards(paths, "no_such_release") == ()
    assert data.release_stewards(paths, "../releases/heart_disease") == ()
    (board / "releases" / "broken.yaml").write_text("name: broken\n")
    assert data.release_stewards(paths, "broken") == ()


def test_report_paths_stay_in_the_run_folder(paths):
    path = data.report_path(paths, "heart_disease", "manual__2026-11-22T13:48:30+00:00")
    run = paths.state / "runs" / "heart_disease" / "manual__2026-11-22T13_48_30_00_00"
    assert path == run / "report" / "report.html"
    with pytest.raises(ReleaseNotFound):
        data.report_path(paths, "../../etc", "x")


def test_pages_escape_everything_and_fold_long_charge_lists():
    ctx = pages.PageContext(base="/release-board", user="<eve>", user_id="eve", csrf=None,
                            now=datetime.now(timezone.utc))
    page = pages.error_page(ctx, status=401, message="Not <authenticated>", login_url='/auth/login?next="x"')
    assert "Signed in as &lt;eve&gt;" in page and "Not &lt;authenticated&gt;" in page
    assert 'href="/auth/login?next=&quot;x&quot;" target="_top"' in page

    from synth_pipeline.privacy.ledger import DatasetBudget, LedgerEntry

    now = datetime.now(timezone.utc)
    entries = tuple(LedgerEntry(i, "d", "d", f"run{i}", 1, 0.01, 0.0, "aim", "spent", "0" * 64, now, now)
                    for i in range(1, pages.OPEN_CHARGES + 2))
    budget = DatasetBudget("d", 10.0, 1e-5, 1.01, 0.0, 0.0, 0.0, entries)
    html = pages.budgets_page(ctx, [budget])
    assert "<details><summary>101 charge(s)" in html and html.count("<tr><td class=n>") == 101
    assert "<details open>" in pages.budgets_page(ctx, [DatasetBudget("d", 10.0, 1e-5, 0, 0, 0, 0, entries[:3])])


def test_the_benchmarks_seeding(paths, board):
    """What `python -m synth_pipeline.bench.board` seeds: versions through publish_release, charges through the
    ledger's API (the first ones) and as rows of the same shape (the bulk)."""
    from synth_pipeline.bench.board import seed_ledger, seed_releases
    from synth_pipeline.board import budgets

    published = seed_releases(board / "published", 6)
    rows = data.releases(paths, data.VerificationCache())
    assert sorted((r.release, r.version) for r in rows) == sorted(published)
    assert {r.status for r in rows} == {"verified"} and sum(r.is_latest for r in rows) == 2
    seed_ledger(board, 200, through_api=False)
    standing = {b.dataset: b for b in budgets.summary(paths)}
    entries = standing["adult_income"].entries + standing["heart_disease"].entries
    assert len(entries) == 200 and {e.attempt for e in entries} == {1, 2}
    assert {e.status for e in entries} == {"spent", "released"}
