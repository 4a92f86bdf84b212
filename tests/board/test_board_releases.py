"""The releases page, the data cards and the expired-and-removed page, on versions published with publish_release."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from boardsupport import BOARD

from synth_pipeline.publish import remove_expired
from synth_pipeline.storage import Store


def test_every_published_version_is_listed_with_its_manifest_facts(client, auth, publish):
    now = datetime.now(timezone.utc)
    older = publish("heart_disease", created=now - timedelta(days=2), purpose="Teaching <b>cardiology</b>.")
    newer = publish("heart_disease", created=now - timedelta(days=1), rows=917)
    adult = publish("adult_income", approver="steward2")
    viewer = auth("analyst", "viewer")

    listing = client.get(f"{BOARD}/api/releases", headers=viewer).json()
    assert listing["total"] == 3
    by_version = {row["version"]: row for row in listing["releases"]}
    assert [row["version"] for row in listing["releases"]] == [adult, newer, older]  # by release, newest first
    assert by_version[newer]["is_latest"] and not by_version[older]["is_latest"]
    row = by_version[newer]
    assert (row["rows"], row["epsilon"], row["delta"], row["generator"], row["approved_by"]) == (917, 2.0, 1e-5, "aim",
                                                                                                "steward")
    assert row["status"] == "verified" and row["card_available"] and row["expires_at"] > row["created_at"]
    assert by_version[adult]["approved_by"] == "steward2"

    page = client.get(f"{BOARD}/releases", headers=viewer)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Teaching &lt;b&gt;cardiology&lt;/b&gt;." in page.text  # escaped, never markup
    assert f'<a href="{BOARD}/releases/heart_disease/{newer}/card">data card</a>' in page.text
    assert "<script" not in page.text and "http" not in page.text.split("<main>")[1]  # nothing external
    assert "default-src 'none'" in page.headers["content-security-policy"]
    for slug in ("releases", "budgets", "pending", "expired"):  # the nav between the four pages
        assert f'href="{BOARD}/{slug}"' in page.text


def test_the_data_card_of_a_verified_version_is_served(client, auth, publish):
    version = publish("heart_disease")
    viewer = auth("analyst", "viewer")
    card = client.get(f"{BOARD}/releases/heart_disease/{version}/card", headers=viewer)
    assert card.status_code == 200 and "Data card of heart_disease" in card.text
    twin = client.get(f"{BOARD}/api/releases/heart_disease/{version}/card", headers=viewer)
    assert twin.status_code == 200 and twin.json() == {"release": "heart_disease", "rows": 918}


def test_a_tampered_version_is_flagged_and_its_card_withheld(client, auth, publish, board):
    good = publish("heart_disease", created=datetime.now(timezone.utc) - timedelta(hours=1))
    bad = publish("heart_disease")
    viewer = auth("analyst", "viewer")
    assert client.get(f"{BOARD}/api/releases", headers=viewer).status_code == 200  # verified once, cached
    (board / "published" / "heart_disease" / bad / "data_card.html").write_text("<h1>edited after publication</h1>")

    rows = {row["version"]: row for row in client.get(f"{BOARD}/api/releases", headers=viewer).json()["releases"]}
    assert rows[good]["status"] == "verified"
    assert rows[bad]["status"] == "tampered" and "data_card.html does not match" in rows[bad]["problem"]
    assert not rows[bad]["card_available"]
    page = client.get(f"{BOARD}/releases", headers=viewer).text
    assert "1 version(s) failed verification" in page
    card = client.get(f"{BOARD}/releases/heart_disease/{bad}/card", headers={**viewer, "Accept": "text/html"})
    assert card.status_code == 409 and "edited after publication" not in card.text
    assert "does not match its SHA-256" in card.text


def test_unknown_and_malformed_versions_are_404(client, auth, publish):
    publish("heart_disease")
    viewer = auth("analyst", "viewer")
    assert client.get(f"{BOARD}/releases/heart_disease/20990101T000000Z-00000000/card",
                      headers=viewer).status_code == 404
    assert client.get(f"{BOARD}/api/releases/heart_disease/..%2F..%2Fetc/card", headers=viewer).status_code == 404
    assert client.get(f"{BOARD}/api/releases/Heart/latest.json/card", headers=viewer).status_code == 404


def test_expired_versions_and_retention_removals(client, auth, publish, board):
    now = datetime.now(timezone.utc)
    removed = publish("heart_disease", created=now - timedelta(days=30), days=10, purpose="Old teaching set.")
    lapsed = publish("adult_income", created=now - timedelta(days=3), days=1)
    kept = publish("heart_disease", created=now - timedelta(days=1))
    viewer = auth("analyst", "viewer")

    rows = {row["version"]: row for row in client.get(f"{BOARD}/api/releases", headers=viewer).json()["releases"]}
    assert rows[lapsed]["status"] == "expired" and not rows[lapsed]["card_available"]
    assert client.get(f"{BOARD}/releases/adult_income/{lapsed}/card", headers=viewer).status_code == 410

    # Retention runs for the heart disease folder only up to a moment that leaves adult's version in place.
    store = Store.from_location(board / "published")
    assert [r["version"] for r in remove_expired(store, now=now - timedelta(days=5)).removed] == [removed]
    report = client.get(f"{BOARD}/api/expired", headers=viewer).json()
    assert [(r["release"], r["version"]) for r in report["awaiting_removal"]] == [("adult_income", lapsed)]
    [record] = report["removed"]
    assert (record["release"], record["version"], record["purpose"]) == ("heart_disease", removed, "Old teaching set.")
    assert record["removed_at"].startswith((now - timedelta(days=5)).date().isoformat())

    page = client.get(f"{BOARD}/expired", headers=viewer).text
    assert "Removed by retention" in page and removed in page and lapsed in page and kept not in page
    assert removed not in client.get(f"{BOARD}/releases", headers=viewer).text


def test_nothing_published_yet(client, auth, board):
    viewer = auth("analyst", "viewer")
    assert client.get(f"{BOARD}/api/releases", headers=viewer).json() == {"releases": [], "total": 0}
    assert "Nothing is published yet" in client.get(f"{BOARD}/releases", headers=viewer).text
    assert client.get(f"{BOARD}/api/expired", headers=viewer).json() == {"awaiting_removal": [], "removed": []}


def test_the_catalog_location_comes_from_the_environment(client, auth, publish, board, monkeypatch, tmp_path):
    publish("heart_disease")
    monkeypatch.setenv("SYNTH_PIPELINE_CATALOG", str(tmp_path / "elsewhere"))
    assert client.get(f"{BOARD}/api/releases", headers=auth("analyst", "viewer")).json()["total"] == 0
