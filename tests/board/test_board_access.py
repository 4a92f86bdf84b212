"""Every board route through Airflow's in-process API server: no credential 401, a user without the permission 403,
the right user 200. No route is public."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from boardsupport import BOARD, RELEASE

from synth_pipeline.runs import run_folder

# (method, path template, what it needs). {release} {version} {run} are filled per test.
READS = [
    ("GET", "/releases"), ("GET", "/api/releases"),
    ("GET", "/releases/heart_disease/{version}/card"), ("GET", "/api/releases/heart_disease/{version}/card"),
    ("GET", "/budgets"), ("GET", "/api/budgets"),
    ("GET", "/pending"), ("GET", "/api/pending"),
    ("GET", "/expired"), ("GET", "/api/expired"),
]
STEWARD_ONLY = [
    ("GET", f"/pending/{RELEASE}/{{run}}/report"),
    ("POST", f"/pending/{RELEASE}/{{run}}/decision"),
    ("POST", f"/api/pending/{RELEASE}/{{run}}/decision"),
]
EVERY = [("GET", "/"), *READS, *STEWARD_ONLY]


@pytest.fixture
def routes(publish, park_approval, board, state_dir):
    version = publish("heart_disease")
    run_id = park_approval()
    report = run_folder(state_dir, RELEASE, run_id) / "report" / "report.html"
    report.parent.mkdir(parents=True)
    report.write_text("<!doctype html><title>internal</title><p>TVD 0.031 on the real table</p>")

    def url(path: str) -> str:
        return BOARD + path.format(version=version, run=quote(run_id, safe=""))

    return url


def _call(client, method: str, url: str, headers: dict):
    if method == "POST" and "/api/" in url:
        return client.post(url, headers=headers, json={"decision": "reject", "comment": "access test"})
    if method == "POST":
        return client.post(url, headers=headers, data={"decision": "reject", "comment": "access test"})
    return client.get(url, headers=headers, follow_redirects=False)


@pytest.mark.parametrize(("method", "path"), EVERY)
def test_without_a_credential_every_route_answers_401(client, routes, method, path):
    response = _call(client, method, routes(path), {})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_browser_without_a_session_gets_a_sign_in_link(client, routes):
    response = client.get(routes("/pending"), headers={"Accept": "text/html"})
    assert response.status_code == 401 and response.headers["content-type"].startswith("text/html")
    assert "Sign in required" in response.text
    login = "/auth/login?next=http%3A%2F%2Ftestserver%2Frelease-board%2Fpending"
    assert f'<a href="{login}" target="_top">' in response.text
    api = client.get(routes("/api/pending"), headers={"Accept": "text/html"})  # the JSON twin stays JSON
    assert api.status_code == 401 and api.json()["login_url"].startswith("/auth/login?next=")


def test_an_invalid_token_is_refused(client, routes):
    response = client.get(routes("/api/releases"), headers={"Authorization": "Bearer not-a-jwt"})
    assert response.status_code == 403


@pytest.mark.parametrize(("method", "path"), [*READS, *STEWARD_ONLY])
def test_a_user_without_a_role_gets_403_everywhere(client, routes, auth, method, path):
    response = _call(client, method, routes(path), auth("outsider", ""))
    assert response.status_code == 403, response.text


@pytest.mark.parametrize(("method", "path"), READS)
def test_a_viewer_reads_every_page(client, routes, auth, method, path):
    response = _call(client, method, routes(path), auth("analyst", "viewer"))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("method", "path"), STEWARD_ONLY)
@pytest.mark.parametrize(("user", "role"), [("analyst", "viewer"), ("alice", None)])
def test_reports_and_decisions_are_for_the_stewards_only(client, routes, auth, method, path, user, role):
    response = _call(client, method, routes(path), auth(user, role))
    assert response.status_code == 403, response.text


def test_the_root_sends_a_signed_in_user_to_the_releases(client, routes, auth):
    response = client.get(routes("/"), headers=auth("analyst", "viewer"), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"{BOARD}/releases"


def test_the_steward_opens_the_internal_report(client, routes, auth):
    response = client.get(routes(f"/pending/{RELEASE}/{{run}}/report"), headers=auth("steward"))
    assert response.status_code == 200 and "TVD 0.031" in response.text
    assert response.headers["cache-control"] == "no-store"


def test_the_plugin_is_registered_with_a_nav_entry(client, auth):
    response = client.get("/api/v2/plugins", headers=auth("steward"))
    [plugin] = [p for p in response.json()["plugins"] if p["name"] == "release_board"]
    assert plugin["fastapi_apps"][0]["url_prefix"] == BOARD
    [view] = plugin["external_views"]
    assert view["destination"] == "nav" and view["href"] == f"{BOARD}/releases"


def test_importing_the_plugin_stays_light():
    """Every Airflow process imports the plugins folder (task runners too): the board's app, and Airflow's API
    security module with it, is built on the first request, not at import."""
    import subprocess
    import sys

    from testsupport import ROOT

    probe = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('rb', sys.argv[1]); "
             "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
             "heavy = [m for m in sys.modules if m.startswith(('fastapi', 'airflow.api_fastapi', 'synth_pipeline'))]; "
             "print(module.ReleaseBoardPlugin.name, heavy)")
    done = subprocess.run([sys.executable, "-c", probe, str(ROOT / "plugins" / "release_board.py")],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "release_board []", done.stdout + done.stderr


def test_the_plugin_loads_without_errors(api_app):
    from airflow import plugins_manager

    assert not [source for source in plugins_manager.get_import_errors() if "release_board" in source]
    assert "release_board" in [plugin.name for plugin in plugins_manager._get_plugins()[0]]
