"""The release board: an Airflow 3 plugin for the people who own releases.

A FastAPI app mounted on the API server (`fastapi_apps`, under /release-board) and a nav entry (`external_views`),
the way the Edge3 provider's plugin does it. Pages, each with a JSON twin under /release-board/api/...:
releases (published versions, verified), budgets (the ledger), pending approvals (Airflow's HITL details, answered
through Airflow's own HITL handler as the logged-in user) and what retention removed.

Every route depends on Airflow's own auth dependencies (`airflow.api_fastapi.core_api.security`): no credential
gives 401, a user without the permission 403. Internal reports and decisions are for the release spec's stewards.

Every Airflow process imports the plugins folder (task runners too, for macros), and the API server's security
module alone takes seconds to import. So this module imports nothing heavy: the FastAPI app is built on the
first request that reaches it. No `from __future__ import annotations` here: FastAPI reads the routes'
annotations, which name objects imported inside `_build_app`.
"""

import threading
from pathlib import Path

from airflow.plugins_manager import AirflowPlugin

PROJECT_ROOT = Path(__file__).resolve().parent.parent
URL_PREFIX = "/release-board"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; form-action 'self'"


class _BoardApp:
    """An ASGI app that builds the board's FastAPI app when the first request arrives."""

    def __init__(self) -> None:
        self._app = None
        self._lock = threading.Lock()

    @property
    def app(self):
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = _build_app()
        return self._app

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


def _build_app():
    """The board's FastAPI app: one closure per route, so that the heavy imports happen here, not at import."""
    import hashlib
    import hmac
    import json
    from datetime import datetime, timezone
    from typing import Annotated

    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.common.db.common import SessionDep
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.api_fastapi.core_api.security import (
        GetUserDep,
        requires_access_asset,
        requires_access_dag,
        requires_authenticated,
    )
    from airflow.api_fastapi.logging.decorators import action_logging
    from airflow.models.dagrun import DagRun
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.state import TaskInstanceState
    from fastapi import Body, Depends, FastAPI, Form, HTTPException, Request, status
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
    from sqlalchemy import and_, select
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from synth_pipeline.approval import APPROVAL_TASK, APPROVE, REJECT
    from synth_pipeline.board import budgets, data, pages
    from synth_pipeline.errors import (
        ConfigError,
        LedgerError,
        PipelineError,
        ReleaseExpired,
        ReleaseNotFound,
        ReleaseTampered,
    )

    app = FastAPI(title="Release board", docs_url=None, redoc_url=None, openapi_url=None)
    verification = data.VerificationCache()
    # The permission each page needs, in Airflow's terms. Published versions are the `synthetic/<release>` Assets;
    # ledger charges belong to Dag runs; approvals are Dag HITL details (the same checks as /api/v2 hitlDetails).
    read_assets = [Depends(requires_access_asset("GET"))]
    read_runs = [Depends(requires_access_dag("GET", DagAccessEntity.RUN))]
    read_hitl = [Depends(requires_access_dag("GET", DagAccessEntity.HITL_DETAIL))]
    answer_hitl = [Depends(requires_access_dag("PUT", DagAccessEntity.HITL_DETAIL)),
                   Depends(action_logging(event="update_hitl_detail"))]
    waiting = (TaskInstanceState.AWAITING_INPUT, TaskInstanceState.DEFERRED)

    def paths() -> data.BoardPaths:
        return data.BoardPaths.from_environment(PROJECT_ROOT)  # per request: the environment is the config

    def bearer(request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" and token else None

    def csrf_token(request: Request) -> str:
        # Forms ride on the browser's session cookie, which other sites can make it send: a form must carry this
        # token, derived from the cookie (httponly, unreadable by them). Bearer clients need none.
        credential = bearer(request) or request.cookies.get(COOKIE_NAME_JWT_TOKEN) or ""
        return hmac.new(credential.encode(), b"release-board-form", hashlib.sha256).hexdigest()

    def context(request: Request, user=None) -> pages.PageContext:
        name = user.get_name() if user is not None else ""
        user_id = str(user.get_id()) if user is not None else ""
        return pages.PageContext(base=request.scope.get("root_path", "").rstrip("/"), user=name, user_id=user_id,
                                 csrf=csrf_token(request), now=datetime.now(timezone.utc))

    def html(content: str, status_code: int = 200) -> HTMLResponse:
        return HTMLResponse(content, status_code=status_code, headers={"Content-Security-Policy": CSP})

    def json_response(document: dict) -> Response:
        # Plain JSON documents: FastAPI's generic encoder walks every value again, slow on 10,000 charges.
        return Response(json.dumps(document, separators=(",", ":")), media_type="application/json")

    def wants_html(request: Request) -> bool:
        api = request.url.path.startswith(f"{request.scope.get('root_path', '').rstrip('/')}/api/")
        return not api and "text/html" in request.headers.get("accept", "")

    def error(request: Request, status_code: int, message: str, headers: dict | None = None) -> Response:
        login = None
        if status_code == status.HTTP_401_UNAUTHORIZED:
            login = get_auth_manager().get_url_login(next_url=str(request.url))
            headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
        if wants_html(request):
            page = pages.error_page(context(request), status=status_code, message=message, login_url=login)
            response = html(page, status_code)
            response.headers.update(headers or {})
            return response
        body = {"detail": message, **({"login_url": login} if login else {})}
        return JSONResponse(body, status_code=status_code, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(PipelineError)
    async def pipeline_error(request: Request, exc: PipelineError) -> Response:
        code = {ReleaseNotFound: 404, ReleaseTampered: 409, ReleaseExpired: 410, LedgerError: 503,
                ConfigError: 503}.get(type(exc), 500)
        return error(request, code, str(exc))

    def require_steward(user, release: str) -> tuple[str, ...]:
        stewards = data.release_stewards(paths(), release)
        if str(user.get_id()) not in stewards:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"only the stewards of release {release!r} ({', '.join(stewards) or 'none named'}) "
                                f"may see its internal report or answer its approval; you are {user.get_name()!r}")
        return stewards

    @app.get("/", dependencies=[Depends(requires_authenticated())], include_in_schema=False)
    def home(request: Request) -> RedirectResponse:
        return RedirectResponse(f"{context(request).base}/releases", status_code=status.HTTP_303_SEE_OTHER)

    # ---- Releases -----------------------------------------------------------------------------------------------

    @app.get("/api/releases", dependencies=read_assets)
    def releases_json() -> Response:
        rows = data.releases(paths(), verification)
        return json_response({"releases": [row.to_dict() for row in rows], "total": len(rows)})

    @app.get("/releases", dependencies=read_assets, response_class=HTMLResponse)
    def releases_html(request: Request, user: GetUserDep) -> HTMLResponse:
        return html(pages.releases_page(context(request, user), data.releases(paths(), verification)))

    @app.get("/releases/{release}/{version}/card", dependencies=read_assets, response_class=HTMLResponse)
    def card_html(release: str, version: str) -> HTMLResponse:
        return html(data.data_card(paths(), release, version, "html").decode("utf-8"))

    @app.get("/api/releases/{release}/{version}/card", dependencies=read_assets)
    def card_json(release: str, version: str) -> Response:
        return Response(data.data_card(paths(), release, version, "json"), media_type="application/json")

    # ---- Budgets ------------------------------------------------------------------------------------------------

    @app.get("/api/budgets", dependencies=read_runs)
    def budgets_json() -> Response:
        return json_response({"datasets": [budgets.to_dict(budget) for budget in budgets.summary(paths())]})

    @app.get("/budgets", dependencies=read_runs, response_class=HTMLResponse)
    def budgets_html(request: Request, user: GetUserDep) -> HTMLResponse:
        return html(pages.budgets_page(context(request, user), budgets.summary(paths())))

    # ---- Pending approvals --------------------------------------------------------------------------------------

    def pending(session, user) -> list[data.PendingApproval]:
        """The approval tasks waiting for input on Dags the user may read (what GET /api/v2/.../hitlDetails with
        task_id=approve and response_received=false lists, narrowed to tasks still parked)."""
        readable = get_auth_manager().get_authorized_dag_ids(user=user, method="GET", session=session)
        query = (select(HITLDetail, TaskInstance.dag_id, TaskInstance.run_id, DagRun.triggering_user_name)
                 .join(TaskInstance, HITLDetail.ti_id == TaskInstance.id)
                 .join(DagRun, and_(DagRun.dag_id == TaskInstance.dag_id, DagRun.run_id == TaskInstance.run_id))
                 .where(TaskInstance.task_id == APPROVAL_TASK, HITLDetail.responded_at.is_(None),
                        TaskInstance.state.in_(waiting), TaskInstance.dag_id.in_(readable))
                 .order_by(HITLDetail.created_at))
        board = paths()
        return [data.describe_pending(board, dag_id=dag_id, run_id=run_id, subject=detail.subject, body=detail.body,
                                      created_at=detail.created_at.isoformat(), triggered_by=triggered_by,
                                      assigned_users=tuple(u["id"] for u in detail.assigned_users))
                for detail, dag_id, run_id, triggered_by in session.execute(query)]

    @app.get("/api/pending", dependencies=read_hitl)
    def pending_json(user: GetUserDep, session: SessionDep) -> dict:
        me = str(user.get_id())
        return {"pending": [{**item.to_dict(), "you_may_answer": me in item.stewards and me in item.assigned_users}
                            for item in pending(session, user)]}

    @app.get("/pending", dependencies=read_hitl, response_class=HTMLResponse)
    def pending_html(request: Request, user: GetUserDep, session: SessionDep) -> HTMLResponse:
        return html(pages.pending_page(context(request, user), pending(session, user)))

    @app.get("/pending/{dag_id}/{run_id}/report", dependencies=read_hitl)
    def report(dag_id: str, run_id: str, user: GetUserDep) -> FileResponse:
        require_steward(user, dag_id)
        path = data.report_path(paths(), dag_id, run_id)
        if not path.is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"run {run_id!r} of {dag_id!r} has no internal report")
        # Aggregates of private data: never cached by a browser or a proxy.
        return FileResponse(path, media_type="text/html",
                            headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})

    def answer(session, user, dag_id: str, run_id: str, decision: str, comment: str) -> tuple[int, str | None]:
        """Answer the run's approval through Airflow's HITL handler as `user`: (HTTP status, refusal or None)."""
        if decision not in ("approve", "reject"):
            return status.HTTP_400_BAD_REQUEST, f"decision must be 'approve' or 'reject', not {decision!r}"
        try:
            require_steward(user, dag_id)
        except HTTPException as exc:
            return exc.status_code, str(exc.detail)
        if decision == "reject" and not comment.strip():
            return status.HTTP_400_BAD_REQUEST, "a rejection needs a comment saying why"
        triggered_by = session.scalar(select(DagRun.triggering_user_name)
                                      .where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if decision == "approve" and triggered_by in (user.get_name(), str(user.get_id())):
            # The publish task would refuse this approval anyway (four-eyes rule); say so before it is recorded.
            return status.HTTP_403_FORBIDDEN, (f"four-eyes rule: {user.get_name()!r} triggered this run and may not "
                                               "approve it")
        payload = UpdateHITLDetailPayload(chosen_options=[APPROVE if decision == "approve" else REJECT],
                                          params_input={"comment": comment})
        try:
            update_hitl_detail(dag_id=dag_id, dag_run_id=run_id, task_id=APPROVAL_TASK, map_index=-1,
                               update_hitl_detail_payload=payload, user=user, session=session)
        except HTTPException as exc:  # Airflow's refusal (not a respondent, already answered, ...), shown as is
            session.rollback()
            return exc.status_code, f"Airflow refused: {exc.detail}"
        return status.HTTP_200_OK, None

    @app.post("/pending/{dag_id}/{run_id}/decision", dependencies=answer_hitl, response_class=HTMLResponse)
    def decide_html(request: Request, dag_id: str, run_id: str, user: GetUserDep, session: SessionDep,
                    decision: Annotated[str, Form()], comment: Annotated[str, Form()] = "",
                    csrf: Annotated[str, Form()] = "") -> HTMLResponse:
        if bearer(request) is None and not hmac.compare_digest(csrf, csrf_token(request)):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "the form's token is missing or stale: reload the page "
                                                           "and answer again")
        code, refused = answer(session, user, dag_id, run_id, decision, comment)
        page = pages.decision_page(context(request, user), dag_id=dag_id, run_id=run_id, decision=decision,
                                   refused=refused)
        return html(page, code)

    @app.post("/api/pending/{dag_id}/{run_id}/decision", dependencies=answer_hitl)
    def decide_json(request: Request, dag_id: str, run_id: str, user: GetUserDep, session: SessionDep,
                    decision: Annotated[str, Body()], comment: Annotated[str, Body()] = "",
                    csrf: Annotated[str, Body()] = "") -> JSONResponse:
        if bearer(request) is None and not hmac.compare_digest(csrf, csrf_token(request)):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "the request's csrf token is missing or stale")
        code, refused = answer(session, user, dag_id, run_id, decision, comment)
        return JSONResponse({"dag_id": dag_id, "run_id": run_id, "decision": decision, "by": user.get_name(),
                             "recorded": refused is None, **({"detail": refused} if refused else {})},
                            status_code=code)

    # ---- Expired and removed ------------------------------------------------------------------------------------

    def expired() -> tuple[list[data.Removal], list[data.ReleaseRow]]:
        board = paths()
        awaiting = data.awaiting_removal(data.releases(board, verification))
        return data.removals(board), awaiting

    @app.get("/api/expired", dependencies=read_assets)
    def expired_json() -> Response:
        removed, awaiting = expired()
        return json_response({"awaiting_removal": [row.to_dict() for row in awaiting],
                              "removed": [removal.to_dict() for removal in removed]})

    @app.get("/expired", dependencies=read_assets, response_class=HTMLResponse)
    def expired_html(request: Request, user: GetUserDep) -> HTMLResponse:
        removed, awaiting = expired()
        return html(pages.expired_page(context(request, user), removed, awaiting))

    return app


def _base_path(path: str) -> str:
    """A path under the API server's [api] base_url, as the Edge3 plugin builds its links."""
    from urllib.parse import urlsplit

    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="/")
    base = urlsplit(base).path if base.startswith(("http://", "https://")) else base
    return base.rstrip("/") + path


class ReleaseBoardPlugin(AirflowPlugin):
    name = "release_board"
    fastapi_apps = [{"app": _BoardApp(), "url_prefix": URL_PREFIX, "name": "Release board"}]
    external_views = [{
        "name": "Release board",
        "href": _base_path(f"{URL_PREFIX}/releases"),
        "destination": "nav",
        "category": "browse",
        "url_route": "release_board",
    }]
