"""The review's hostile inputs against publication and the catalog (rows 62-78, 80, 86, 87 of
/work/shared/reviews/hostile-inputs.md): each is refused with its typed error and exit code, no traceback, and
every other release still lists."""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from synth_pipeline import catalog, signing
from synth_pipeline.cli import main
from synth_pipeline.errors import ConfigError, PathNotAllowed, ReleaseExpired, ReleaseNotFound, ReleaseTampered
from synth_pipeline.publish import publish_release, remove_expired, write_formula_safe_csv
from synth_pipeline.steps.release import publish_location
from synth_pipeline.storage import Store

NOW = datetime.now(timezone.utc)
GOOD, VICTIM = "good_release", "hx_pubtrav"
V_GOOD, V_VICTIM, V_OTHER = "20261201T000000Z-0000aaaa", "20261202T000000Z-0000bbbb", "20261203T000000Z-0000cccc"


def _publish(root: Path, release: str, version: str, *, expires: datetime | None = None) -> Path:
    files = root.parent / "files" / release / version
    files.mkdir(parents=True)
    pd.DataFrame({"age": [30, 40]}).to_parquet(files / "synthetic.parquet")
    (files / "synthetic.csv").write_text("age\n30\n40\n")
    (files / "data_card.json").write_text(json.dumps({"release": release}))
    publish_release(store=Store.from_location(root), release=release, version=version,
                    files={name: files / name for name in ("synthetic.parquet", "synthetic.csv", "data_card.json")},
                    manifest={"purpose": "tests", "rows": 2, "created_at": NOW.isoformat(),
                              "expires_at": (expires or NOW + timedelta(days=30)).isoformat()})
    return root / release / version


@pytest.fixture
def catalog_root(tmp_path) -> Path:
    """A catalog with a good release and the victim, and an attacker's release published beside it (outside)."""
    root = tmp_path / "cat"
    _publish(root, GOOD, V_GOOD)
    _publish(root, VICTIM, V_VICTIM)
    _publish(tmp_path / "escaped_publish", VICTIM, V_OTHER)
    return root


def _edit_manifest(version_dir: Path, change: Callable[[dict], None]) -> None:
    manifest = json.loads((version_dir / "manifest.json").read_text())
    change(manifest)
    (version_dir / "manifest.json").write_text(json.dumps(manifest))


def _rehash(version_dir: Path, name: str) -> None:
    """What an attacker who can write the catalog does after swapping a file: update its checksum (unsigned)."""
    import hashlib

    _edit_manifest(version_dir, lambda m: m["files"][name].update(sha256=hashlib.sha256(
        (version_dir / name).read_bytes()).hexdigest()))


def _swap_parquet(version_dir: Path) -> None:
    pd.DataFrame({"secret": ["LEAKED-A"]}).to_parquet(version_dir / "synthetic.parquet")
    _rehash(version_dir, "synthetic.parquet")


def _link_csv(version_dir: Path) -> None:
    outside = version_dir.parents[2] / "shadow"
    outside.write_text("root:*:0:0\n")
    (version_dir / "synthetic.csv").unlink()
    (version_dir / "synthetic.csv").symlink_to(outside)
    _rehash(version_dir, "synthetic.csv")


def _link_version_folder(version_dir: Path) -> None:
    target = version_dir.parents[2] / "escaped_publish" / VICTIM / V_OTHER
    shutil.rmtree(version_dir)
    version_dir.symlink_to(target, target_is_directory=True)


def _latest(document: str) -> Callable[[Path], None]:
    return lambda version_dir: (version_dir.parent / "latest.json").write_text(document)


def _nothing(version_dir: Path) -> None:
    pass


# (row, what is done to the victim's version folder, the CLI arguments after `releases`, the error, its text)
CASES = [
    ("62", _nothing, ["show", "../../etc"], ReleaseNotFound, "not a release name"),
    ("63", _nothing, ["verify", f"../escaped_publish/{VICTIM}"], ReleaseNotFound, "not a release name"),
    ("64", _nothing, ["show", VICTIM, "--version", ".."], ReleaseNotFound, "not a version name"),
    ("65", _nothing, ["show", VICTIM, "--version", f"../../escaped_publish/{VICTIM}/{V_OTHER}"], ReleaseNotFound,
     "not a version name"),
    ("66", lambda v: _edit_manifest(v, lambda m: m["files"].update({"../../../../../../etc/hostname": {
        "sha256": "0" * 64, "bytes": 1}})), ["verify", VICTIM], ReleaseTampered, "files.*String should match"),
    ("67", _swap_parquet, ["verify", VICTIM], ReleaseTampered, "signature does not match"),
    ("68-no-files", lambda v: _edit_manifest(v, lambda m: m.pop("files")), ["verify", VICTIM], ReleaseTampered,
     "files: Field required"),
    ("68-not-json", lambda v: (v / "manifest.json").write_text("{not json"), ["verify", VICTIM], ReleaseTampered,
     "not a JSON document"),
    ("68-unsigned", lambda v: (v / "manifest.sig").unlink(), ["verify", VICTIM], ReleaseTampered, "not signed"),
    ("68-other-key", lambda v: (v / "manifest.sig").write_bytes(signing.sign(
        json.loads((v / "manifest.json").read_text()), Ed25519PrivateKey.generate())), ["verify", VICTIM],
     ReleaseTampered, "signature does not match"),
    ("69", lambda v: (v / "synthetic.csv").open("a").write("x"), ["verify", VICTIM], ReleaseTampered,
     "synthetic.csv does not match its SHA-256"),
    ("70-file", lambda v: (v / "extra.txt").write_text("x"), ["verify", VICTIM], ReleaseTampered,
     "not in the manifest: extra.txt"),
    ("70-folder", lambda v: (v / ".hidden").mkdir(), ["verify", VICTIM], ReleaseTampered,
     r"not in the manifest: \.hidden"),
    ("71", _latest(json.dumps({"version": "20991231T000000Z-deadbeef"})), ["verify", VICTIM], ReleaseNotFound,
     "no published version '20991231T000000Z-deadbeef'"),
    ("72", _latest(json.dumps({"version": f"../../escaped_publish/{VICTIM}/{V_OTHER}"})), ["verify", VICTIM],
     ReleaseTampered, "does not name a version"),
    ("73-not-json", _latest("not json"), ["verify", VICTIM], ReleaseTampered, "not a JSON document"),
    ("73-number", _latest('{"version": 5}'), ["verify", VICTIM], ReleaseTampered, "does not name a version"),
    ("73-list", _latest("[]"), ["verify", VICTIM], ReleaseTampered, "not a JSON object"),
    ("75", lambda v: _edit_manifest(v, lambda m: m.update(expires_at="9999-01-01T00:00:00+00:00")),
     ["verify", VICTIM], ReleaseTampered, "signature does not match"),
    ("76", lambda v: _edit_manifest(v, lambda m: m.update(expires_at="soon")), ["verify", VICTIM], ReleaseTampered,
     "expires_at"),
    ("77-file", _link_csv, ["verify", VICTIM], ReleaseTampered, "symbolic link"),
    ("77-folder", _link_version_folder, ["verify", VICTIM], ReleaseTampered, "symbolic link"),
]


@pytest.mark.parametrize("row,attack,arguments,error,message", CASES, ids=[case[0] for case in CASES])
def test_hostile_catalog_input_is_refused_and_the_others_still_list(catalog_root, capsys, row, attack, arguments,
                                                                    error, message):
    attack(catalog_root / VICTIM / V_VICTIM)
    with pytest.raises(error, match=message):
        catalog.verify(arguments[1], *arguments[3:4], location=catalog_root)
    with pytest.raises(error):
        catalog.load(arguments[1], *arguments[3:4], location=catalog_root)  # nothing foreign is returned (row 67)
    capsys.readouterr()
    assert main(["releases", *arguments, "--location", str(catalog_root)]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and "Traceback" not in out + err and "LEAKED" not in out + err

    listing = catalog.scan(catalog_root)
    assert GOOD in {info.release for info in listing.releases}
    assert main(["releases", "list", "--location", str(catalog_root)]) == (2 if listing.broken else 0)
    out, err = capsys.readouterr()
    assert V_GOOD in out and "Traceback" not in out + err
    for broken in listing.broken:
        assert broken.release == VICTIM and broken.error in {"ReleaseTampered", "ReleaseNotFound"}
        assert f"BROKEN {broken.error}: {broken.reason}" in out  # named, typed and explained; the others listed


def test_row_74_an_expired_release_is_refused_by_the_catalog(catalog_root, capsys):
    _publish(catalog_root, "old_release", V_OTHER, expires=datetime(2020, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(ReleaseExpired, match="expired on 2020-01-01"):
        catalog.verify("old_release", location=catalog_root)
    assert main(["releases", "verify", "old_release", "--location", str(catalog_root)]) == 2
    assert "expired on 2020-01-01" in capsys.readouterr().err


@pytest.mark.parametrize("attack,removed,broken", [
    (_swap_parquet, [GOOD], {VICTIM}),
    (lambda v: (v / "synthetic.csv").open("a").write("x"), [GOOD, VICTIM], set()),  # files: not retention's concern
    (lambda v: (v / "manifest.json").write_text("[]"), [GOOD], {VICTIM}),
    (lambda v: _edit_manifest(v, lambda m: m.update(expires_at="soon")), [GOOD], {VICTIM}),
    (lambda v: _edit_manifest(v, lambda m: m.update(expires_at="2000-01-01T00:00:00+00:00")), [GOOD], {VICTIM}),
    (_latest("not json"), [GOOD, VICTIM], {VICTIM}),  # the pointer is broken, the version is not
], ids=["67", "69", "68", "76", "75-earlier", "73"])
def test_retention_skips_and_reports_a_broken_release_and_handles_the_rest(catalog_root, attack, removed, broken):
    attack(catalog_root / VICTIM / V_VICTIM)
    result = remove_expired(Store.from_location(catalog_root), now=NOW + timedelta(days=31))
    assert sorted(record["release"] for record in result.removed) == removed
    assert {entry.release for entry in result.broken} == broken
    assert not (catalog_root / GOOD / V_GOOD).exists()
    assert (catalog_root / VICTIM / V_VICTIM).exists() == (VICTIM not in removed)


def test_unknown_public_key_refuses_every_release(catalog_root, monkeypatch):
    _, other_public = signing.encoded_pair(Ed25519PrivateKey.generate())
    monkeypatch.setenv(signing.PUBLIC_KEY_ENV, other_public)
    listing = catalog.scan(catalog_root)
    assert listing.releases == () and {b.error for b in listing.broken} == {"ReleaseTampered"}
    monkeypatch.delenv(signing.PUBLIC_KEY_ENV)
    with pytest.raises(ConfigError, match=signing.PUBLIC_KEY_ENV):
        catalog.verify(GOOD, location=catalog_root)


ESCAPED_ROOT = "../../../..escaped_publish"


@pytest.mark.parametrize("uri,allowed", [
    (ESCAPED_ROOT, ""), ("/etc", ""), ("published/../../outside", ""), ("s3://bucket/releases", ""),
    ("s3://bucket/releases/../other", "s3://bucket/releases"), ("s3://bucket/releases-evil", "s3://bucket/releases"),
], ids=["78-relative", "78-absolute", "78-dotdot", "remote-unlisted", "remote-dotdot", "remote-sibling"])
def test_row_78_publish_uri_outside_the_allowed_roots_is_refused(tmp_path, monkeypatch, uri, allowed):
    monkeypatch.setenv("SYNTH_PIPELINE_PUBLISH_URIS", allowed)
    monkeypatch.delenv("SYNTH_PIPELINE_PUBLISH_ROOTS", raising=False)
    with pytest.raises(PathNotAllowed, match="publish.uri"):
        publish_location(uri, tmp_path / "project")


def test_allowed_publish_locations(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTH_PIPELINE_PUBLISH_URIS", "s3://bucket/releases, gs://other/")
    monkeypatch.setenv("SYNTH_PIPELINE_PUBLISH_ROOTS", str(tmp_path / "operator"))
    project = tmp_path / "project"
    assert publish_location("published", project) == str((project / "published").resolve())
    assert publish_location(str(tmp_path / "operator" / "x"), project) == str((tmp_path / "operator" / "x").resolve())
    assert publish_location("s3://bucket/releases/team", project) == "s3://bucket/releases/team"
    assert publish_location("gs://other/x", project) == "gs://other/x"


def test_no_signing_key_refuses_publication_before_writing(tmp_path, monkeypatch):
    for name in (signing.SIGNING_KEY_ENV, signing.SIGNING_CONN_ENV):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="no release signing key"):
        _publish(tmp_path / "cat", GOOD, V_GOOD)
    assert not (tmp_path / "cat").exists()


@pytest.mark.parametrize("form", ["pem", "raw", "connection-json", "connection-uri"])
def test_signing_key_forms_an_operator_may_configure(tmp_path, monkeypatch, form):
    from urllib.parse import quote

    private_pem, public_pem = signing.new_key_pair(tmp_path / "keys")
    private_raw, public_raw = signing.encoded_pair(signing.private_key(private_pem.read_text()))
    monkeypatch.delenv(signing.SIGNING_KEY_ENV)
    monkeypatch.setenv(signing.PUBLIC_KEY_ENV, public_raw)
    value = {"pem": private_pem.read_text(), "raw": private_raw}.get(form)
    if form == "connection-json":
        monkeypatch.setenv(signing.SIGNING_CONN_ENV, json.dumps({"conn_type": "generic", "password": private_raw}))
    elif form == "connection-uri":
        monkeypatch.setenv(signing.SIGNING_CONN_ENV, f"generic://:{quote(private_raw, safe='')}@")
    key = signing.private_key(value)
    document = {"a": 1}
    signing.check_signature(document, signing.sign(document, key), signing.public_key(), where="t")
    assert (os.stat(private_pem).st_mode & 0o777) == 0o600
    monkeypatch.delenv(signing.PUBLIC_KEY_ENV)
    monkeypatch.setenv(signing.PUBLIC_KEY_FILE_ENV, str(public_pem))
    signing.check_signature(document, signing.sign(document, key), signing.public_key(), where="t")


@pytest.mark.parametrize("value", ["not a key", base64.b64encode(b"short").decode(),
                                   "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"])
def test_a_malformed_signing_key_is_a_config_error_that_never_echoes_it(value):
    with pytest.raises(ConfigError) as caught:
        signing.private_key(value)
    assert value not in str(caught.value)


def test_signing_key_new_command(tmp_path, capsys):
    assert main(["signing-key", "new", "--out", str(tmp_path / "keys")]) == 0
    assert signing.PUBLIC_KEY_ENV in capsys.readouterr().out
    assert main(["signing-key", "new", "--out", str(tmp_path / "keys")]) == 2  # never overwrites a key pair


FORMULAS = ['=HYPERLINK("http://evil.example/x","click")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3+cmd",
            "\tleading tab", "\rleading return"]


def test_row_86_formula_cells_are_escaped_in_the_csv_and_kept_in_parquet(tmp_path):
    table = pd.DataFrame({"ward": FORMULAS + ["plain"],
                          "level": pd.Categorical(FORMULAS + ["plain"]),
                          "delta": [-2, -1, 0, 1, 2, 3, -4],
                          "ratio": [-0.5, 1.0, 2.0, 3.0, 4.0, 5.0, -6.25]})
    write_formula_safe_csv(table, tmp_path / "synthetic.csv")
    text = (tmp_path / "synthetic.csv").read_text()
    back = pd.read_csv(tmp_path / "synthetic.csv", keep_default_na=False)
    for column in ("ward", "level"):
        assert back[column].tolist() == ["'" + value for value in FORMULAS] + ["plain"]
    assert back["delta"].tolist() == [-2, -1, 0, 1, 2, 3, -4] and back["ratio"].iloc[-1] == -6.25
    assert '"\'=HYPERLINK(""http://evil.example/x"",""click"")"' in text  # quoted, with its quotes doubled
    assert text.splitlines()[-1] == '"plain","plain",-4,-6.25'  # numbers stay numbers, negative ones too
    assert table["ward"].tolist()[0] == FORMULAS[0]  # the frame itself (what parquet holds) is unchanged


def test_row_87_the_data_card_html_escapes_formula_and_markup():
    from synth_pipeline.report.data_card import render_data_card

    card = {"release": "r", "description": FORMULAS[0] + "<script>x</script>", "purpose": "p", "retention_days": 1,
            "rows": 2, "columns": {"ward": {"type": "categorical", "nullable": False, "domain": FORMULAS[0],
                                            "description": "", "statistics": {"null_share": 0.0}}},
            "not_released": {}, "generator": {"name": "aim"}, "gates": {"validate": True},
            "privacy": {"epsilon": 1.0, "epsilon_spent": 1.0, "delta": 1e-6}, "how_to_read": "",
            "files": {"synthetic.csv": "escaped"}}
    html = render_data_card(card)
    assert "<script>x" not in html and "=HYPERLINK(&quot;http://evil.example/x&quot;" in html


def test_row_80_publication_removes_a_killed_attempts_leftovers_from_the_run_folder(project, tmp_path):
    from synth_pipeline.steps.release import run_publish

    run = tmp_path / "run"
    for step, report in (("split", {"seeded": False}), ("train", {"generator": "aim", "seeded": False})):
        (run / step).mkdir(parents=True)
        (run / step / "report.json").write_text(json.dumps(report))
    (run / "sample").mkdir()
    pd.DataFrame({"ward": FORMULAS, "age": range(6)}).to_parquet(run / "sample" / "synthetic.parquet")
    (run / "report").mkdir()
    (run / "report" / "data_card.json").write_text("{}")
    (run / "report" / "data_card.html").write_text("<html></html>")
    for leftover in (".publish.pending-0badf00d", ".publish.retired-0badf00d"):
        (run / leftover).mkdir()
        (run / leftover / "synthetic.csv").write_text("half")
    approved = {"chosen_options": ["Approve"], "responded_by_user": {"id": "steward", "name": "steward"},
                "responded_at": NOW.isoformat(), "params_input": {"comment": "fine"}}
    result = run_publish(project / "releases" / "heart_disease.yaml", run, run_id="manual__1", run_started=NOW,
                         approval_response=approved, triggered_by="alice", now=NOW)
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []
    published = Path(result["uri"]) / "synthetic.csv"
    assert published.read_text().count("\"'") == len(FORMULAS)


@pytest.mark.parametrize("attack,victim_status", [
    (lambda v: (v / "manifest.json").write_text("[]"), "unreadable"),
    (lambda v: _edit_manifest(v, lambda m: m.update(expires_at=5, rows="many", privacy=[1])), "tampered"),
    (lambda v: _edit_manifest(v, lambda m: m.update(expires_at="2020-01-01")), "tampered"),  # no time zone
    (_latest('{"version": 5}'), "verified"),  # the pointer is broken; the version itself is fine
    (_link_version_folder, "tampered"),
], ids=["list", "wrong-types", "naive-date", "latest-number", "linked-folder"])
def test_the_release_board_shows_a_broken_release_beside_the_others(catalog_root, attack, victim_status):
    from synth_pipeline.board import data

    attack(catalog_root / VICTIM / V_VICTIM)
    rows = data.releases(data.BoardPaths(releases_dir=catalog_root.parent / "releases", catalog=catalog_root),
                         data.VerificationCache())
    assert {(row.release, row.status) for row in rows} == {(GOOD, "verified"), (VICTIM, victim_status)}
    assert data.awaiting_removal(rows, now=NOW + timedelta(days=31))[0].release == GOOD
    victim = next(row for row in rows if row.release == VICTIM)
    assert victim.rows in (2, None) and (victim.expires_at is None or isinstance(victim.expires_at, str))
