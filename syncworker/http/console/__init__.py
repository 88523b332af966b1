"""The operator console: server-rendered pages for the work practice staff do by hand (runs, the review
queue, duplicates, conflicts, clients and links), under /console, in the same FastAPI app as the JSON API.

Entry point only: every page reads through `services.pages` (the paged read model) and every action calls
the same service function as the CLI and the JSON API, with the signed-in operator as the audit actor. Signing in (and failing to, with a
wrong operator token: actor "console", the name typed beside it, at most `SIGNIN_FAILURES_PER_ADDRESS` from one
client address in 15 minutes) and signing out are audited too, with the client's address and never the token.
Every asset is served from `static/`; nothing is fetched from the internet. Sign-in, the session cookie and
CSRF are in `session.py`."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select

from syncworker.http.auth import client_address, tokens_match
from syncworker.http.console import frame
from syncworker.http.console import session as sessions
from syncworker.jobs.base import JobRequest
from syncworker.services import links as links_svc
from syncworker.services import pages
from syncworker.services.conflicts import resolve_conflict, resolve_many
from syncworker.services.duplicates import resolve as resolve_cluster
from syncworker.services.queries import client_by_external_id, show_client, show_run
from syncworker.services.tenants import get_tenant
from syncworker.store.models import AuditEntry
from syncworker.store.types import utcnow

router = APIRouter(prefix="/console", include_in_schema=False)
# What an action may fail with and still be the operator's to fix: shown on the page, never a 500.
EXPECTED = (ValueError, LookupError)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=frame.HERE / "static"), name="console-static")


# --- sign in / out ---
@router.get("", response_class=HTMLResponse)
def home(request: Request) -> Response:
    if frame.session_of(request) is not None:
        return RedirectResponse("/console/runs", status_code=303)
    return _signin_form(request)


def _signin_form(request: Request, error: str | None = None, status: int = 200) -> Response:
    csrf = sessions.new_session("-").csrf
    response = frame.render(request, "signin.html", None, status=status, signin_csrf=csrf, signin_error=error,
                       token_configured=bool(frame.operator_token(request)))
    sessions.set_cookie(response, request, sessions.SIGNIN_COOKIE, csrf, sessions.SIGNIN_SECONDS)
    return response


def _address(request: Request) -> str:
    return client_address(request, frame.ctx(request).settings.portal.proxy_networks)


def _audit_sign(request: Request, actor: str, action: str, **after: str) -> None:
    """A console sign-in or sign-out in the audit log (no tenant: it is the operator's)."""
    with frame.ctx(request).db.session() as s:
        s.add(AuditEntry(tenant_id=None, actor=actor[:100], origin="operator", target="local",
                         entity="console_session", entity_id=actor[:120], action=action,
                         after={"client": _address(request), **after}))


# Failed sign-ins from one client address: at most this many in the window are checked and audited; then that
# address is answered 429 (token unchecked, nothing written) until the oldest leaves the window. The operator
# token is the console's only credential, and a stranger must fill the audit log neither with guesses nor
# with entries in an operator's name: a failure is audited as "console", the name typed beside it.
SIGNIN_FAILURES_PER_ADDRESS = 10
SIGNIN_WINDOW = timedelta(minutes=15)
FAILED_ACTOR = "console"


def _signin_paused(request: Request, address: str) -> datetime | None:
    """When failed sign-ins from `address` may be tried again, if it has used up the window's."""
    now = _now(request)
    with frame.ctx(request).db.read() as s:
        recent = list(s.scalars(select(AuditEntry.at).where(
            AuditEntry.tenant_id.is_(None), AuditEntry.at > now - SIGNIN_WINDOW,
            AuditEntry.entity == "console_session", AuditEntry.action == "sign_in_failed",
            AuditEntry.entity_id == address).order_by(AuditEntry.at.desc()).limit(SIGNIN_FAILURES_PER_ADDRESS)))
    return recent[-1] + SIGNIN_WINDOW if len(recent) >= SIGNIN_FAILURES_PER_ADDRESS else None


def _audit_failed(request: Request, address: str, claimed_name: str) -> None:
    with frame.ctx(request).db.session() as s:
        s.add(AuditEntry(tenant_id=None, at=_now(request), actor=FAILED_ACTOR, origin="operator", target="local",
                         entity="console_session", entity_id=address[:120], action="sign_in_failed",
                         after={"client": address, "claimed_name": claimed_name, "reason": "wrong operator token"}))


def _now(request: Request) -> datetime:
    clock = getattr(request.app.state, "clock", None)  # tests put a clock here
    return clock() if clock is not None else utcnow()


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    if not sessions.csrf_ok(request.cookies.get(sessions.SIGNIN_COOKIE), form.get("csrf")):
        return _signin_form(request, "The sign-in form expired; please try again.", 403)
    expected = frame.operator_token(request)
    if not expected:
        return _signin_form(request, "SYNCWORKER_OPERATOR_TOKEN is not set: the console is disabled.", 503)
    name = (form.get("operator") or "").strip()
    if not sessions.OPERATOR_NAME.match(name):
        return _signin_form(request, "Your name (for the audit log): 1-89 letters, digits, spaces or . @ ' - _", 422)
    if tokens_match(name, expected):  # the two fields swapped: the token must never become a name in the log
        return _signin_form(request, "Your name goes in the first field, the operator token in the second.", 422)
    address = _address(request)
    if (until := _signin_paused(request, address)) is not None:
        response = _signin_form(request, "Too many failed sign-ins from your address: try again later.", 429)
        response.headers["Retry-After"] = str(max(1, math.ceil((until - _now(request)).total_seconds())))
        return response
    if not tokens_match(form.get("token") or "", expected):
        _audit_failed(request, address, name)
        return _signin_form(request, "That operator token is not right.", 401)
    session = sessions.new_session(name)
    _audit_sign(request, session.actor, "sign_in")
    response = RedirectResponse("/console/runs", status_code=303)
    sessions.set_cookie(response, request, sessions.SESSION_COOKIE,
                        sessions.seal(expected, session), sessions.SESSION_SECONDS)
    sessions.clear_cookie(response, request, sessions.SIGNIN_COOKIE)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    session, _ = await frame.form(request)
    _audit_sign(request, session.actor, "sign_out")
    response = RedirectResponse("/console?msg=Signed+out", status_code=303)
    sessions.clear_cookie(response, request, sessions.SESSION_COOKIE)
    return response


# --- runs ---
@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request) -> Response:
    session = frame.page_session(request)
    tenant = request.query_params.get("tenant") or None
    page = pages.runs(frame.ctx(request).db, tenant, frame.page_no(request))
    running = any(r["status"] in ("running", "queued") for r in page.rows)
    return frame.render(request, "runs.html", session, page=page, running=running, run_tenant=tenant)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: int) -> Response:
    session = frame.page_session(request)
    try:
        run = show_run(frame.ctx(request).db, run_id)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    return frame.render(request, "run.html", session, run=run, running=run["status"] in ("running", "queued"))


@router.post("/runs")
async def start_run(request: Request) -> Response:
    session, form = await frame.form(request)
    tenant, kind, system = form.get("tenant", ""), form.get("kind", ""), form.get("system", "")
    if kind not in ("link_run", "sync") or system not in frame.SYSTEMS:
        return frame.back("runs", error="choose a link run or a sync, and a system")
    ctx = frame.ctx(request)
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
        return frame.back("runs", error=str(exc))
    return RedirectResponse(f"/console/runs/{run_id}", status_code=303)


# --- reviews ---
@router.get("/reviews", response_class=HTMLResponse)
def reviews_page(request: Request) -> Response:
    session, tenant = frame.practice(request)
    system = request.query_params.get("system") or None
    q = frame.search_text(request)
    page = pages.reviews(frame.ctx(request).db, tenant, system if system in frame.SYSTEMS else None, frame.page_no(request),
                         q or None)
    return frame.render(request, "reviews.html", session, tenant=tenant, page=page, system=system, q=q)


@router.post("/reviews/{review_id}/{decision}")
async def decide_review(request: Request, review_id: int, decision: str) -> Response:
    session, form = await frame.form(request)
    tenant = form.get("tenant", "")
    action, done = {"approve": (links_svc.approve, "approved"), "reject": (links_svc.reject, "rejected")}.get(
        decision, (None, ""))
    if action is None:
        raise HTTPException(404, "unknown decision")
    try:
        action(frame.ctx(request).db, tenant, review_id, session.actor)
    except EXPECTED as exc:
        return frame.back("reviews", tenant=tenant, error=str(exc))
    return frame.back("reviews", tenant=tenant, msg=f"Suggestion {review_id} {done}")


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request) -> Response:
    """Connect now: search the remote system by name for one local client and link the one picked."""
    session = frame.page_session(request)
    tenant, local_id = frame.tenant_of(request), request.query_params.get("local_id", "")
    system = request.query_params.get("system", "xpm")
    text = (request.query_params.get("q") or "").strip()[:200]
    ctx = frame.ctx(request)
    results: list[dict[str, Any]] = []
    source, error = None, None
    try:
        with ctx.db.read() as s:
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
    return frame.render(request, "search.html", session, tenant=tenant, local_id=local_id, client_name=client_name,
                   system=system, q=text, results=results, source=source, search_error=error)


@router.post("/links")
async def link(request: Request) -> Response:
    session, form = await frame.form(request)
    tenant, local_id, system, remote_id = (form.get(k, "") for k in ("tenant", "local_id", "system", "remote_id"))
    try:
        out = links_svc.link_checked(frame.ctx(request), tenant, local_id, system, remote_id, session.actor)
    except EXPECTED as exc:
        return frame.back(f"clients/{local_id}", tenant=tenant, error=str(exc))
    return frame.back(f"clients/{local_id}", tenant=tenant,
                 msg=f"Connected {out['local_name']} to {system} {out['remote_name'] or out['remote_id']}")


@router.post("/links/unlink")
async def unlink(request: Request) -> Response:
    session, form = await frame.form(request)
    tenant, local_id, system = (form.get(k, "") for k in ("tenant", "local_id", "system"))
    try:
        links_svc.unlink(frame.ctx(request).db, tenant, local_id, system, session.actor)
    except EXPECTED as exc:
        return frame.back(f"clients/{local_id}", tenant=tenant, error=str(exc))
    return frame.back(f"clients/{local_id}", tenant=tenant, msg=f"Unlinked from {system}")


# --- duplicates ---
@router.get("/duplicates", response_class=HTMLResponse)
def duplicates_page(request: Request) -> Response:
    session, tenant = frame.practice(request)
    q = frame.search_text(request)
    return frame.render(request, "duplicates.html", session, tenant=tenant, q=q,
                   page=pages.clusters(frame.ctx(request).db, tenant, frame.page_no(request), q or None))


@router.post("/duplicates/{cluster_id}")
async def resolve_duplicates(request: Request, cluster_id: int) -> Response:
    session, form = await frame.form(request)
    tenant, action = form.get("tenant", ""), form.get("action", "")
    try:
        if action == "merge":
            resolve_cluster(frame.ctx(request).db, tenant, cluster_id, "merged", session.actor, survivor=form.get("survivor"))
            msg = f"Merged into {form.get('survivor')}"
        elif action == "not_duplicates":
            resolve_cluster(frame.ctx(request).db, tenant, cluster_id, "not_duplicates", session.actor)
            msg = "Marked as not duplicates"
        else:
            return frame.back("duplicates", tenant=tenant, error="choose merge or not duplicates")
    except EXPECTED as exc:
        return frame.back("duplicates", tenant=tenant, error=str(exc))
    return frame.back("duplicates", tenant=tenant, msg=msg)


# --- conflicts ---
@router.get("/conflicts", response_class=HTMLResponse)
def conflicts_page(request: Request) -> Response:
    session, tenant = frame.practice(request)
    db = frame.ctx(request).db
    q = frame.search_text(request)
    return frame.render(request, "conflicts.html", session, tenant=tenant, q=q,
                   page=pages.conflicts_by_client(db, tenant, frame.page_no(request), q or None),
                   fields=pages.open_conflict_fields(db, tenant))


@router.post("/conflicts/resolve")
async def resolve_conflicts(request: Request) -> Response:
    """Take one side for one conflict, for every field of one client, for one field across all clients, or
    for every open conflict of the tenant: the same services as `syncworker conflicts resolve`, so each
    conflict is audited with the operator's name (and a bulk choice once more as a whole)."""
    session, form = await frame.form(request)
    tenant, take, scope = form.get("tenant", ""), form.get("take", ""), form.get("scope", "")
    if take not in ("local", "remote"):
        return frame.back("conflicts", tenant=tenant, error="take local or remote")
    ctx = frame.ctx(request)
    try:
        if scope == "conflict":
            resolve_conflict(ctx, tenant, int(form.get("conflict_id", "0")), take=take, actor=session.actor)
            count = 1
        elif scope in ("client", "field", "all"):
            chosen = {"client": {"client": form.get("local_id"), "system": form.get("system")},
                      "field": {"field": form.get("field")}, "all": {"all_open": True}}[scope]
            count = resolve_many(ctx, tenant, take, actor=session.actor, **chosen)["resolved"]
        else:
            return frame.back("conflicts", tenant=tenant, error="say which conflicts to settle")
    except EXPECTED as exc:
        return frame.back("conflicts", tenant=tenant, error=str(exc))
    return frame.back("conflicts", tenant=tenant, msg=f"{count} conflict{'s' if count != 1 else ''} settled: "
                                                 f"{take} value kept")


# --- clients ---
@router.get("/clients", response_class=HTMLResponse)
def clients_page(request: Request) -> Response:
    session, tenant = frame.practice(request)
    q = frame.search_text(request)
    return frame.render(request, "clients.html", session, tenant=tenant, q=q,
                   page=pages.clients(frame.ctx(request).db, tenant, q or None, frame.page_no(request)))


@router.get("/clients/{external_id}", response_class=HTMLResponse)
def client_page(request: Request, external_id: str) -> Response:
    session = frame.page_session(request)
    tenant = frame.tenant_of(request)
    try:
        client = show_client(frame.ctx(request).db, tenant or "", external_id)
    except EXPECTED as exc:
        raise HTTPException(404, str(exc)) from None
    return frame.render(request, "client.html", session, tenant=tenant, client=client)
