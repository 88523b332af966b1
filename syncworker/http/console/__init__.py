"""The operator console: server-rendered pages for the work practice staff do by hand (runs, the review
queue, duplicates, conflicts, clients and links), under /console, in the same FastAPI app as the JSON API.

Entry point only: every page reads through `services.pages` (the paged read model) and every action calls
the same service function as the CLI and the JSON API, with the signed-in operator as the audit actor.
Every asset is served from `static/`; nothing is fetched from the internet. Sign-in, the session cookie and
CSRF are in `session.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from syncworker.http.auth import tokens_match
from syncworker.http.console import session as sessions
from syncworker.http.console.session import ConsoleSession
from syncworker.jobs.base import JobRequest
from syncworker.services import links as links_svc
from syncworker.services import pages
from syncworker.services.conflicts import resolve_conflict, resolve_many
from syncworker.services.context import ServiceContext
from syncworker.services.duplicates import resolve as resolve_cluster
from syncworker.services.queries import client_by_external_id, show_client, show_run
from syncworker.services.tenants import get_tenant
from syncworker.store.models import AuditEntry

HERE = Path(__file__).parent
router = APIRouter(prefix="/console", include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")
SYSTEMS = ("xpm", "xero", "aps")
# What an action may fail with and still be the operator's to fix: shown on the page, never a 500.
EXPECTED = (ValueError, LookupError)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")


# --- sessions ---
def _ctx(request: Request) -> ServiceContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


def _token(request: Request) -> str | None:
    return _ctx(request).settings.operator_token


def _session(request: Request) -> ConsoleSession | None:
    return sessions.unseal(_token(request), request.cookies.get(sessions.SESSION_COOKIE))


def _page_session(request: Request) -> ConsoleSession:
    """A page needs a session; without one the browser goes to the sign-in form."""
    session = _session(request)
    if session is None:
        raise HTTPException(303, "sign in first", headers={"Location": "/console"})
    return session


async def _form(request: Request) -> tuple[ConsoleSession, dict[str, str]]:
    """An action needs a session and the session's CSRF token in the form: 401 / 403 otherwise."""
    session = _session(request)
    if session is None:
        raise HTTPException(401, "sign in to the console first")
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    if not sessions.csrf_ok(session.csrf, form.get("csrf")):
        raise HTTPException(403, "the form's CSRF token is missing or out of date: reload the page and try again")
    return session, form


def _back(path: str, *, msg: str | None = None, error: str | None = None, **params: Any) -> RedirectResponse:
    query = {k: v for k, v in {**params, "msg": msg, "error": error}.items() if v not in (None, "")}
    return RedirectResponse(f"/console/{path}" + (f"?{urlencode(query)}" if query else ""), status_code=303)


def _render(request: Request, template: str, session: ConsoleSession | None, status: int = 200,
            **context: Any) -> HTMLResponse:
    tenants = pages.tenants(_ctx(request).db) if session else []
    tenant = context.pop("tenant", None) or request.query_params.get("tenant")
    if session and not tenant and tenants:
        tenant = tenants[0]["name"]
    response = templates.TemplateResponse(request, template, {
        "session": session, "csrf": session.csrf if session else None, "tenants": tenants, "tenant": tenant,
        "systems": SYSTEMS, "msg": request.query_params.get("msg"), "error": request.query_params.get("error"),
        **context}, status_code=status)
    response.headers["Cache-Control"] = "no-store"  # client data: no cache may keep a page
    response.headers["Content-Security-Policy"] = ("default-src 'self'; style-src 'self'; script-src 'self'; "
                                                   "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _practice(request: Request) -> tuple[ConsoleSession, str]:
    """A page about one practice: the signed-in session and the practice picked (the first one by default)."""
    session = _page_session(request)
    tenant = _tenant_of(request)
    if tenant is None:
        raise HTTPException(303, "no practice yet", headers={
            "Location": "/console/runs?error=" + "No+practice+yet:+add+one+with+syncworker+tenants+add+NAME"})
    return session, tenant


def _tenant_of(request: Request) -> str | None:
    tenant = request.query_params.get("tenant")
    if tenant:
        return tenant
    names = pages.tenants(_ctx(request).db)
    return names[0]["name"] if names else None


def _page_no(request: Request) -> int:
    try:
        return max(1, min(int(request.query_params.get("page", "1")), 1_000_000))
    except ValueError:
        return 1


# --- sign in / out ---
@router.get("", response_class=HTMLResponse)
def home(request: Request) -> Response:
    if _session(request) is not None:
        return RedirectResponse("/console/runs", status_code=303)
    return _signin_form(request)


def _signin_form(request: Request, error: str | None = None, status: int = 200) -> Response:
    csrf = sessions.new_session("-").csrf
    response = _render(request, "signin.html", None, status=status, signin_csrf=csrf, signin_error=error,
                       token_configured=bool(_token(request)))
    sessions.set_cookie(response, request, sessions.SIGNIN_COOKIE, csrf, sessions.SIGNIN_SECONDS)
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    if not sessions.csrf_ok(request.cookies.get(sessions.SIGNIN_COOKIE), form.get("csrf")):
        return _signin_form(request, "The sign-in form expired; please try again.", 403)
    expected = _token(request)
    if not expected:
        return _signin_form(request, "SYNCWORKER_OPERATOR_TOKEN is not set: the console is disabled.", 503)
    name = (form.get("operator") or "").strip()
    if not sessions.OPERATOR_NAME.match(name):
        return _signin_form(request, "Your name (for the audit log): 1-89 letters, digits, spaces or . @ ' - _", 422)
    if not tokens_match(form.get("token") or "", expected):
        return _signin_form(request, "That operator token is not right.", 401)
    response = RedirectResponse("/console/runs", status_code=303)
    sessions.set_cookie(response, request, sessions.SESSION_COOKIE,
                        sessions.seal(expected, sessions.new_session(name)), sessions.SESSION_SECONDS)
    sessions.clear_cookie(response, request, sessions.SIGNIN_COOKIE)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    await _form(request)
    response = RedirectResponse("/console?msg=Signed+out", status_code=303)
    sessions.clear_cookie(response, request, sessions.SESSION_COOKIE)
    return response


# --- runs ---
@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request) -> Response:
    session = _page_session(request)
    tenant = request.query_params.get("tenant") or None
    page = pages.runs(_ctx(request).db, tenant, _page_no(request))
    running = any(r["status"] in ("running", "queued") for r in page.rows)
    return _render(request, "runs.html", session, page=page, running=running, run_tenant=tenant)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: int) -> Response:
    session = _page_session(request)
    try:
        run = show_run(_ctx(request).db, run_id)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    return _render(request, "run.html", session, run=run, running=run["status"] in ("running", "queued"))


@router.post("/runs")
async def start_run(request: Request) -> Response:
    session, form = await _form(request)
    tenant, kind, system = form.get("tenant", ""), form.get("kind", ""), form.get("system", "")
    if kind not in ("link_run", "sync") or system not in SYSTEMS:
        return _back("runs", error="choose a link run or a sync, and a system")
    ctx = _ctx(request)
    try:
        with ctx.db.session() as s:
            get_tenant(s, tenant)
        run_id = request.app.state.executor.submit(JobRequest(
            kind=kind, tenant=tenant, trigger="operator",
            params={"system": system, "dry_run": form.get("dry_run") == "on"}))
        with ctx.db.session() as s:
            s.add(AuditEntry(tenant_id=get_tenant(s, tenant).id, actor=session.actor, origin="operator",
                             target="local", entity="run", entity_id=str(run_id), action=f"start {kind}",
                             after={"system": system, "dry_run": form.get("dry_run") == "on"}))
    except EXPECTED as exc:  # JobRejected (busy, unknown tenant) is a ValueError
        return _back("runs", error=str(exc))
    return RedirectResponse(f"/console/runs/{run_id}", status_code=303)


# --- reviews ---
@router.get("/reviews", response_class=HTMLResponse)
def reviews_page(request: Request) -> Response:
    session, tenant = _practice(request)
    system = request.query_params.get("system") or None
    page = pages.reviews(_ctx(request).db, tenant, system if system in SYSTEMS else None, _page_no(request))
    return _render(request, "reviews.html", session, tenant=tenant, page=page, system=system)


@router.post("/reviews/{review_id}/{decision}")
async def decide_review(request: Request, review_id: int, decision: str) -> Response:
    session, form = await _form(request)
    tenant = form.get("tenant", "")
    action, done = {"approve": (links_svc.approve, "approved"), "reject": (links_svc.reject, "rejected")}.get(
        decision, (None, ""))
    if action is None:
        raise HTTPException(404, "unknown decision")
    try:
        action(_ctx(request).db, tenant, review_id, session.actor)
    except EXPECTED as exc:
        return _back("reviews", tenant=tenant, error=str(exc))
    return _back("reviews", tenant=tenant, msg=f"Suggestion {review_id} {done}")


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request) -> Response:
    """Connect now: search the remote system by name for one local client and link the one picked."""
    session = _page_session(request)
    tenant, local_id = _tenant_of(request), request.query_params.get("local_id", "")
    system = request.query_params.get("system", "xpm")
    text = (request.query_params.get("q") or "").strip()[:200]
    ctx = _ctx(request)
    results: list[dict[str, Any]] = []
    source, error = None, None
    try:
        with ctx.db.session() as s:
            t = get_tenant(s, tenant or "")
            client = client_by_external_id(s, t.id, local_id)
            client_name, tenant_id = client.display_name, t.id
        text = text or client_name
        try:
            results = [{"remote_id": p.id, "name": p.name, "kind": p.kind.value, "email": p.email}
                       for p in ctx.adapter(tenant_id, system).search_clients(text)]
            source = system
        except Exception as exc:  # the system cannot be asked now (not connected, limit, network): the cache
            results = pages.search_records_cache(ctx.db, tenant or "", system, text)
            source = f"the records cache ({system} could not be asked: {type(exc).__name__})"
    except EXPECTED as exc:
        error, client_name = str(exc), None
    return _render(request, "search.html", session, tenant=tenant, local_id=local_id, client_name=client_name,
                   system=system, q=text, results=results, source=source, search_error=error)


@router.post("/links")
async def link(request: Request) -> Response:
    session, form = await _form(request)
    tenant, local_id, system, remote_id = (form.get(k, "") for k in ("tenant", "local_id", "system", "remote_id"))
    try:
        out = links_svc.link_manually(_ctx(request).db, tenant, local_id, system, remote_id, session.actor)
    except EXPECTED as exc:
        return _back(f"clients/{local_id}", tenant=tenant, error=str(exc))
    return _back(f"clients/{local_id}", tenant=tenant,
                 msg=f"Connected {out['local_name']} to {system} {out['remote_name'] or out['remote_id']}")


@router.post("/links/unlink")
async def unlink(request: Request) -> Response:
    session, form = await _form(request)
    tenant, local_id, system = (form.get(k, "") for k in ("tenant", "local_id", "system"))
    try:
        links_svc.unlink(_ctx(request).db, tenant, local_id, system, session.actor)
    except EXPECTED as exc:
        return _back(f"clients/{local_id}", tenant=tenant, error=str(exc))
    return _back(f"clients/{local_id}", tenant=tenant, msg=f"Unlinked from {system}")


# --- duplicates ---
@router.get("/duplicates", response_class=HTMLResponse)
def duplicates_page(request: Request) -> Response:
    session, tenant = _practice(request)
    return _render(request, "duplicates.html", session, tenant=tenant,
                   page=pages.clusters(_ctx(request).db, tenant, _page_no(request)))


@router.post("/duplicates/{cluster_id}")
async def resolve_duplicates(request: Request, cluster_id: int) -> Response:
    session, form = await _form(request)
    tenant, action = form.get("tenant", ""), form.get("action", "")
    try:
        if action == "merge":
            resolve_cluster(_ctx(request).db, tenant, cluster_id, "merged", session.actor, survivor=form.get("survivor"))
            msg = f"Merged into {form.get('survivor')}"
        elif action == "not_duplicates":
            resolve_cluster(_ctx(request).db, tenant, cluster_id, "not_duplicates", session.actor)
            msg = "Marked as not duplicates"
        else:
            return _back("duplicates", tenant=tenant, error="choose merge or not duplicates")
    except EXPECTED as exc:
        return _back("duplicates", tenant=tenant, error=str(exc))
    return _back("duplicates", tenant=tenant, msg=msg)


# --- conflicts ---
@router.get("/conflicts", response_class=HTMLResponse)
def conflicts_page(request: Request) -> Response:
    session, tenant = _practice(request)
    db = _ctx(request).db
    return _render(request, "conflicts.html", session, tenant=tenant,
                   page=pages.conflicts_by_client(db, tenant, _page_no(request)),
                   fields=pages.open_conflict_fields(db, tenant))


@router.post("/conflicts/resolve")
async def resolve_conflicts(request: Request) -> Response:
    """Take one side for one conflict, for every field of one client, for one field across all clients, or
    for every open conflict of the tenant: the same services as `syncworker conflicts resolve`, so each
    conflict is audited with the operator's name (and a bulk choice once more as a whole)."""
    session, form = await _form(request)
    tenant, take, scope = form.get("tenant", ""), form.get("take", ""), form.get("scope", "")
    if take not in ("local", "remote"):
        return _back("conflicts", tenant=tenant, error="take local or remote")
    ctx = _ctx(request)
    try:
        if scope == "conflict":
            resolve_conflict(ctx, tenant, int(form.get("conflict_id", "0")), take=take, actor=session.actor)
            count = 1
        elif scope in ("client", "field", "all"):
            chosen = {"client": {"client": form.get("local_id"), "system": form.get("system")},
                      "field": {"field": form.get("field")}, "all": {"all_open": True}}[scope]
            count = resolve_many(ctx, tenant, take, actor=session.actor, **chosen)["resolved"]
        else:
            return _back("conflicts", tenant=tenant, error="say which conflicts to settle")
    except EXPECTED as exc:
        return _back("conflicts", tenant=tenant, error=str(exc))
    return _back("conflicts", tenant=tenant, msg=f"{count} conflict{'s' if count != 1 else ''} settled: "
                                                 f"{take} value kept")


# --- clients ---
@router.get("/clients", response_class=HTMLResponse)
def clients_page(request: Request) -> Response:
    session, tenant = _practice(request)
    q = (request.query_params.get("q") or "").strip()[:200]
    return _render(request, "clients.html", session, tenant=tenant, q=q,
                   page=pages.clients(_ctx(request).db, tenant, q or None, _page_no(request)))


@router.get("/clients/{external_id}", response_class=HTMLResponse)
def client_page(request: Request, external_id: str) -> Response:
    session = _page_session(request)
    tenant = _tenant_of(request)
    try:
        client = show_client(_ctx(request).db, tenant or "", external_id)
    except EXPECTED as exc:
        raise HTTPException(404, str(exc)) from None
    return _render(request, "client.html", session, tenant=tenant, client=client)
