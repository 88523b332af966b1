"""The console's frame: its session and CSRF checks for pages and actions, rendering a page with the
headers every page carries, redirects back with a message, and the practice and page a request asks for.
The routes are in `__init__.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from syncworker.http.console import session as sessions
from syncworker.http.console.session import ConsoleSession
from syncworker.services import pages
from syncworker.services.context import ServiceContext
from syncworker.services.systems import SYSTEMS

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
HEADLINE_COUNTS = 6  # how many of a run's counts the runs list shows; the run's page has them all


# --- how a run reads on a page (registered as template filters below) ---
def when(iso: str | None, seconds: bool = True) -> str:
    """'2026-12-07T05:23:18+00:00' as '2026-12-07 05:23:18 UTC' (run times are stored in UTC)."""
    if not iso:
        return ""
    text = iso.replace("T", " ").removesuffix("+00:00")
    return (text if seconds else text[:16]) + " UTC"


def results(counts: Any) -> dict[str, Any]:
    """A run's own counts, without the API usage (shown apart) or nested detail."""
    if not isinstance(counts, dict):
        return {}
    return {k: v for k, v in counts.items() if not k.startswith("api_") and not isinstance(v, dict | list)}


# The counts an operator looks for first (what changed, what needs them), before the rest in the run's order.
FIRST_COUNTS = ("linked_new", "to_review", "merge_required", "broken", "created", "updated", "rejected",
                "local_writes", "remote_writes", "pushed_fields", "pulled_fields", "conflicts_new", "conflicts_open",
                "open_conflicts", "clients_pulled", "events_processed")


def headline(counts: Any) -> str:
    """The non-zero counts, the telling ones first, a few of them: what a run did, at a glance."""
    found = [(k, v) for k, v in results(counts).items() if v]
    found.sort(key=lambda kv: FIRST_COUNTS.index(kv[0]) if kv[0] in FIRST_COUNTS else len(FIRST_COUNTS))
    shown = [f"{k.replace('_', ' ')} {v}" for k, v in found]
    more = len(shown) - HEADLINE_COUNTS
    return ", ".join(shown[:HEADLINE_COUNTS]) + (f" (+{more} more)" if more > 0 else "")


def api_usage(counts: Any) -> dict[str, Any]:
    """The API calls a run made, their retries and 429s, and the day budget the system said was left."""
    if not isinstance(counts, dict) or "api_calls" not in counts:
        return {}
    return {"calls": counts.get("api_calls", 0), "retries": counts.get("api_retries", 0),
            "limited": counts.get("api_rate_limited_minute", 0) + counts.get("api_rate_limited_day", 0),
            "left": counts.get("api_day_remaining")}


def progress_line(progress: Any, status: str | None = None) -> str:
    """Where a live run is: its phase and how far through it ('merge 200 of 1,500', 'pull 3 pages, 300 records').
    A run taken off the queue keeps the phase 'queued' until its first step reports: that reads 'starting'."""
    if not isinstance(progress, dict) or not progress.get("phase"):
        return ""
    phase = str(progress["phase"])
    parts = ["starting" if status == "running" and phase == "queued" else phase]
    if progress.get("done") is not None:
        parts.append(f"{progress['done']:,}" + (f" of {progress['total']:,}" if progress.get("total") else ""))
    counted = [f"{progress[k]:,} {k}" for k in ("pages", "records") if isinstance(progress.get(k), int)]
    if counted:
        parts.append(", ".join(counted))
    if progress.get("attempt"):
        parts.append(f"attempt {progress['attempt']}")
    return " ".join(parts)


def error_line(error: Any) -> str:
    """One stored run error as a line: what it was about, then the error."""
    if not isinstance(error, dict):
        return str(error)
    about = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in error.items() if k != "error")
    return f"{about}: {error.get('error', '')}" if about else str(error.get("error", ""))


templates.env.filters.update(when=when, headline=headline, results=results, api_usage=api_usage,
                             progress_line=progress_line, error_line=error_line)


def ctx(request: Request) -> ServiceContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


def operator_token(request: Request) -> str | None:
    return ctx(request).settings.operator_token


def session_of(request: Request) -> ConsoleSession | None:
    return sessions.unseal(operator_token(request), request.cookies.get(sessions.SESSION_COOKIE))


def page_session(request: Request) -> ConsoleSession:
    """A page needs a session; without one the browser goes to the sign-in form."""
    session = session_of(request)
    if session is None:
        raise HTTPException(303, "sign in first", headers={"Location": "/console"})
    return session


async def form(request: Request) -> tuple[ConsoleSession, dict[str, str]]:
    """An action needs a session and the session's CSRF token in the form: 401 / 403 otherwise."""
    session = session_of(request)
    if session is None:
        raise HTTPException(401, "sign in to the console first")
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    if not sessions.csrf_ok(session.csrf, form.get("csrf")):
        raise HTTPException(403, "the form's CSRF token is missing or out of date: reload the page and try again")
    return session, form


def back(path: str, *, msg: str | None = None, error: str | None = None, **params: Any) -> RedirectResponse:
    query = {k: v for k, v in {**params, "msg": msg, "error": error}.items() if v not in (None, "")}
    return RedirectResponse(f"/console/{path}" + (f"?{urlencode(query)}" if query else ""), status_code=303)


def render(request: Request, template: str, session: ConsoleSession | None, status: int = 200,
            **context: Any) -> HTMLResponse:
    tenants = practices(request) if session else []
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


def practice(request: Request) -> tuple[ConsoleSession, str]:
    """A page about one practice: the signed-in session and the practice picked (the first one by default)."""
    session = page_session(request)
    tenant = tenant_of(request)
    if tenant is None:
        raise HTTPException(303, "no practice yet", headers={
            "Location": "/console/runs?error=" + "No+practice+yet:+add+one+with+syncworker+tenants+add+NAME"})
    return session, tenant


def tenant_of(request: Request) -> str | None:
    tenant = request.query_params.get("tenant")
    if tenant:
        return tenant
    names = practices(request)
    return names[0]["name"] if names else None


def practices(request: Request) -> list[dict[str, Any]]:
    """Every practice (`pages.tenants`), read once per request: a page without `?tenant=` needs them to pick
    the first, and its frame again for the picker."""
    if (known := getattr(request.state, "practices", None)) is None:
        known = request.state.practices = pages.tenants(ctx(request).db)
    return known


def search_text(request: Request) -> str:
    """What the page's search box asks for (at most 200 characters)."""
    return (request.query_params.get("q") or "").strip()[:200]


def page_no(request: Request) -> int:
    try:
        return max(1, min(int(request.query_params.get("page", "1")), 1_000_000))
    except ValueError:
        return 1


