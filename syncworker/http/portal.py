"""The client portal over HTTP.

`public_router`: the pages an invited person reaches from the email, open to the world (no operator token):
`GET/POST /portal/accept/{token}` (choose a password, once; expired, reused, replaced and withdrawn links get a
page saying so) and `GET/POST /portal/login`. Nobody can sign up here: every account starts from an
invitation. Too many failed logins (`LoginLimits`: of an email from one client address, of an email from
addresses it has not logged in from, from one address) answer 429 with Retry-After, the same for an email with
an account as for one without (`services/portal_logins.py`); so does a returning user's wrong password on an
invitation link, which counts the same. Without SYNCWORKER_SECRET_KEY both answer 503. Pages are never cached and send no Referer (the token is in the URL).

`router`: the operator's side (behind the bearer token, like every operator route), the same operations as
`syncworker portal`: invite, bulk invite, resend, revoke, list, admins, upkeep, login lockouts.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from string import Template
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from syncworker.domain.portal import MIN_PASSWORD_LENGTH, LoginLocked, PortalRefused
from syncworker.http.auth import Actor, client_address
from syncworker.http.deps import TenantQuery
from syncworker.services.portal import TEMPLATES, PortalService
from syncworker.store.crypto import SecretKeyError

public_router = APIRouter(tags=["portal (public)"], include_in_schema=False)
router = APIRouter(tags=["portal"])
OPEN_PREFIX = "/portal/accept/"
LOGIN_PATH = "/portal/login"
R = TypeVar("R")
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"}
GONE = {"used", "expired", "superseded", "revoked"}
TITLES = {"unknown": "Invitation not found", "used": "Invitation already used", "expired": "Invitation expired",
          "superseded": "A newer invitation was sent", "revoked": "Invitation withdrawn"}
log = logging.getLogger(__name__)
Token = Annotated[str, Path(min_length=10, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]


def get_portal(request: Request) -> PortalService:
    svc = getattr(request.app.state, "portal", None)
    if svc is None:
        svc = request.app.state.portal = PortalService.from_context(request.app.state.ctx)
    return svc  # type: ignore[no-any-return]


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    text = Template((TEMPLATES / "page.html").read_text(encoding="utf-8"))
    return HTMLResponse(text.substitute(title=html.escape(title), body=body), status_code=status, headers=PAGE_HEADERS)


def _p(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def _records(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return _p("There is nothing for you to see yet.")
    return "<ul>" + "".join(f"<li>{html.escape(r['name'])}</li>" for r in rows) + "</ul>"


def _refusal_page(exc: PortalRefused) -> HTMLResponse:
    status = 410 if exc.code in GONE else 404
    return page(TITLES.get(exc.code, "Invitation not valid"), _p(str(exc)), status)


def _accept_form(token: str, info: dict[str, Any], problem: str | None = None) -> str:
    intro = (f"You are invited to the client portal for {info['portal_name']}. Choose a password for "
             f"{info['email']} (at least {MIN_PASSWORD_LENGTH} characters)." if info["new_user"] else
             f"You are invited to the client portal for {info['portal_name']}. Enter the password of your "
             f"portal account {info['email']} to add it.")
    confirm = ('<p><label>Password again <input type="password" name="password2" required '
               'autocomplete="new-password"></label></p>') if info["new_user"] else ""
    error = f'<p role="alert" style="color:#b00020">{html.escape(problem)}</p>' if problem else ""
    action = OPEN_PREFIX + html.escape(token)
    autocomplete = "new-password" if info["new_user"] else "current-password"
    return (f'{_p(intro)}{error}<form method="post" action="{action}">'
            '<p><label>Password <input type="password" name="password" required '
            f'autocomplete="{autocomplete}"></label></p>{confirm}'
            '<p><button type="submit">Create account</button></p></form>')


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


@public_router.get(OPEN_PREFIX + "{token}", response_class=HTMLResponse)
def accept_page(token: Token, request: Request) -> HTMLResponse:
    try:
        info = get_portal(request).inspect_token(token)
    except PortalRefused as exc:
        return _refusal_page(exc)
    return page("Create your client portal account", _accept_form(token, info))


@public_router.post(OPEN_PREFIX + "{token}", response_class=HTMLResponse)
async def accept_submit(token: Token, request: Request) -> HTMLResponse:
    svc = get_portal(request)
    form = await _form(request)
    password = form.get("password", "")
    address = client_address(request, svc.config.proxy_networks)
    try:
        info = await run_in_threadpool(svc.inspect_token, token)
        if info["new_user"] and password != form.get("password2", ""):
            return page("Create your client portal account",
                        _accept_form(token, info, "The two passwords are not the same."), 422)
        done = await run_in_threadpool(svc.accept, token, password, address)
    except SecretKeyError as exc:
        return _unavailable(exc)
    except LoginLocked as exc:  # a returning user's password is limited here as at the login
        return _paused(exc, _accept_form(token, info))
    except PortalRefused as exc:
        if exc.code in ("weak_password", "wrong_password"):
            return page("Create your client portal account", _accept_form(token, info, str(exc)), 422)
        return _refusal_page(exc)
    return page("Welcome to your client portal", _p(f"Your account {done['email']} is ready. You can see:")
                + _records(done["records"]))


def _paused(exc: LoginLocked, form: str) -> HTMLResponse:
    answer = page("Log in to your client portal", _p(str(exc)) + form, 429)
    answer.headers["Retry-After"] = str(exc.retry_after)
    return answer


def _unavailable(exc: SecretKeyError) -> HTMLResponse:
    """No usable SYNCWORKER_SECRET_KEY: the operator's to fix (the log says how), not the client's."""
    log.error("client portal login unavailable: %s", exc)
    return page("Client portal unavailable", _p("The client portal cannot take logins right now. Please try "
                                                "again later or contact your accountant."), 503)


LOGIN_FORM = (f'<form method="post" action="{LOGIN_PATH}"><p><label>Email <input type="email" name="email" required '
              'autocomplete="username"></label></p><p><label>Password <input type="password" name="password" '
              'required autocomplete="current-password"></label></p><p><button type="submit">Log in</button></p>'
              "</form><p>No account? The portal is by invitation only: ask your accountant to invite you.</p>")


@public_router.get(LOGIN_PATH, response_class=HTMLResponse)
def login_page() -> HTMLResponse:
    return page("Log in to your client portal", LOGIN_FORM)


@public_router.post(LOGIN_PATH, response_class=HTMLResponse)
async def login_submit(request: Request) -> HTMLResponse:
    form = await _form(request)
    svc = get_portal(request)
    address = client_address(request, svc.config.proxy_networks)
    try:
        done = await run_in_threadpool(svc.login, form.get("email", ""), form.get("password", ""), address)
    except SecretKeyError as exc:
        return _unavailable(exc)
    except LoginLocked as exc:  # the same page for an email with an account and one without
        return _paused(exc, LOGIN_FORM)
    except PortalRefused as exc:
        return page("Log in to your client portal", _p(str(exc)) + LOGIN_FORM, 401)
    return page("Your client portal", _p(f"Logged in as {done['email']}. You can see:") + _records(done["records"]))


# --- the operator's side ---
_STATE = {"already_invited", "accepted", "revoked", "superseded"}


def _refusals(call: Callable[[], R]) -> R:
    try:
        return call()
    except PortalRefused as exc:
        status = 403 if exc.code in ("no_admins", "not_admin") else 409 if exc.code in _STATE else 422
        raise HTTPException(status, str(exc), headers={"X-Rule": exc.code}) from None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=200)


class NewInvitation(Strict):
    client: str | None = Field(default=None, min_length=1, max_length=100,
                               description="The client whose portal it is (omit with without_portal).")
    persons: list[Annotated[str, Field(min_length=1, max_length=120)]] = Field(default_factory=list, max_length=50)
    without_portal: bool = Field(default=False, description="Bulk: every active client without a portal (admins).")
    message: str | None = Field(default=None, max_length=5000)


class Resend(Strict):
    message: str | None = Field(default=None, max_length=5000)


class Admin(Strict):
    name: str = Field(min_length=1, max_length=100)
    remove: bool = False


@router.post("/portal/invitations", status_code=201, summary="Invite to a client's portal, or in bulk")
def invite(body: NewInvitation, request: Request, actor: Actor) -> dict[str, Any]:
    if body.without_portal == (body.client is not None):
        raise HTTPException(422, "give either client or without_portal: true")
    svc = get_portal(request)
    if body.without_portal:
        return _refusals(lambda: svc.invite_without_portal(body.tenant, actor=actor, message=body.message))
    return _refusals(lambda: svc.invite(body.tenant, body.client or "", body.persons, message=body.message,
                                        actor=actor))


AccessId = Annotated[int, Path(ge=1, description="An access id from GET /portal/users.")]


@router.post("/portal/access/{access_id}/resend", summary="A new link for 30 days; the old one stops working")
def resend(access_id: AccessId, body: Resend, request: Request, actor: Actor) -> dict[str, Any]:
    return _refusals(lambda: get_portal(request).resend(body.tenant, access_id, actor=actor, message=body.message))


@router.post("/portal/invitations/resend-expired", summary="Bulk (admins): resend every expired invitation")
def resend_expired(body: Resend, request: Request, actor: Actor) -> dict[str, Any]:
    return _refusals(lambda: get_portal(request).resend_expired(body.tenant, actor=actor, message=body.message))


@router.post("/portal/access/{access_id}/revoke", summary="End a user's access to one portal")
def revoke(access_id: AccessId, body: Strict, request: Request, actor: Actor) -> dict[str, Any]:
    return _refusals(lambda: get_portal(request).revoke(body.tenant, access_id, actor=actor))


@router.get("/portal/users", summary="The Client Portal Manager: users, status, last login, records they see")
def users(request: Request, tenant: TenantQuery,
          status: Annotated[Literal["invited", "accepted", "expired", "revoked"] | None, Query()] = None,
          ) -> list[dict[str, Any]]:
    return get_portal(request).list(tenant, status)


@router.post("/portal/admins", summary="Add or remove a portal admin (may send bulk invitations)")
def set_admin(body: Admin, request: Request) -> dict[str, Any]:
    return {"admins": _refusals(lambda: get_portal(request).set_admin(body.tenant, body.name, remove=body.remove))}


class Unlock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str | None = Field(default=None, min_length=1, max_length=320)
    address: str | None = Field(default=None, min_length=1, max_length=64, description="A client address.")


@router.get("/portal/lockouts", summary="Logins paused after too many failures: emails and client addresses")
def lockouts(request: Request) -> list[dict[str, Any]]:
    return get_portal(request).lockouts()


@router.post("/portal/lockouts/clear", summary="End the lockout of an email (its count starts again) or address")
def unlock(body: Unlock, request: Request, actor: Actor) -> dict[str, Any]:
    if (body.email is None) == (body.address is None):
        raise HTTPException(422, "give either email or address")
    return _refusals(lambda: get_portal(request).unlock(email=body.email, address=body.address, actor=actor))


@router.post("/portal/maintenance", summary="Expire, remind and retry waiting mail now (the scheduled job)")
def maintenance(request: Request) -> dict[str, int]:
    return get_portal(request).maintain()
