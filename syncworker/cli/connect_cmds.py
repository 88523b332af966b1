"""`syncworker connect xpm --tenant NAME`: connect a tenant to Xero Practice Manager (or Xero).

Two ways in:
- `--refresh-token TOKEN` registers an existing grant without a browser (it is rotated at once, so the
  stored token is the only live one);
- otherwise the Xero OAuth2 authorization-code flow: the command prints the authorize URL (on
  login.xero.com for the real Xero; on the identity host for a simulator), then takes the code from
  `--code`, from a one-shot listener on a loopback `--redirect-uri` (`--listen`), or from the prompt
  (paste the code or the whole redirect URL).
Either way the remote tenant comes from GET /connections, filtered by tenant type.
"""

from __future__ import annotations

import secrets
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import click

from adapters.errors import AdapterError
from syncworker.cli.context import emit_json, get_app, handles_errors, json_option
from syncworker.services.connect import (
    ConnectError,
    connect_with_code,
    connect_with_refresh_token,
    identity,
    scopes_for,
)
from syncworker.services.context import ServiceContext
from syncworker.services.systems import SYSTEMS, UnknownSystem
from syncworker.services.tenants import TenantError
from syncworker.store.crypto import SecretKeyError

DEFAULT_REDIRECT_URI = "http://localhost:8765/callback"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class CallbackError(ValueError):
    pass


@click.command("connect")
@click.argument("system", type=click.Choice(SYSTEMS))
@click.option("--tenant", "tenant_name", required=True, help="The syncworker tenant (see `syncworker tenants list`).")
@click.option("--refresh-token", help="Register an existing grant's refresh token instead of using a browser "
                                     "('-' reads it from stdin, keeping it out of shell history).")
@click.option("--code", help="An authorization code already obtained for --redirect-uri.")
@click.option("--redirect-uri", envvar="SYNCWORKER_XERO_REDIRECT_URI", default=DEFAULT_REDIRECT_URI, show_default=True,
              help="The redirect URI registered for the Xero app (env SYNCWORKER_XERO_REDIRECT_URI).")
@click.option("--listen/--no-listen", default=None,
              help="Catch the code on the loopback redirect URI (default: on when the URI is loopback).")
@click.option("--timeout", default=300, show_default=True, help="Seconds to wait for the browser callback.")
@click.option("--remote-tenant", "remote_tenant_id", help="Xero tenant id, when the grant covers several.")
@click.option("--database-url", help="aps: the practice's APS database, e.g. mssql+pyodbc://USER:PASSWORD@HOST/APS?"
                                   "driver=ODBC+Driver+18+for+SQL+Server ('-' reads it from stdin).")
@click.option("--mapping", "mapping_path", type=click.Path(exists=True, dir_okay=False),
              help="aps: the mapping of APS's tables and columns (default config/aps.yaml).")
@click.option("--allow-writes", default="", metavar="FIELD,...",
              help="aps: canonical fields syncworker may write to APS (default none: APS is read only).")
@json_option
@handles_errors(ConnectError, AdapterError, TenantError, UnknownSystem, CallbackError, SecretKeyError)
def connect(system: str, tenant_name: str, refresh_token: str | None, code: str | None, redirect_uri: str,
            listen: bool | None, timeout: int, remote_tenant_id: str | None, database_url: str | None,
            mapping_path: str | None, allow_writes: str, as_json: bool) -> None:
    """Connect TENANT to SYSTEM: xpm (xero for the contacts adapter) through Xero OAuth2, choosing the remote
    tenant; aps to the practice's APS database (--database-url), checked against the mapping first.

    xpm/xero need SYNCWORKER_XERO_CLIENT_ID and SYNCWORKER_XERO_CLIENT_SECRET. Tokens and database URLs are
    stored encrypted and never printed.
    """
    app = get_app()
    ctx = app.services()
    if system == "aps":
        _connect_aps(ctx, tenant_name, database_url, mapping_path, allow_writes, as_json)
        return
    if refresh_token == "-":
        refresh_token = sys.stdin.readline().strip()
        if not refresh_token:
            raise ConnectError("no refresh token on stdin")
    if refresh_token:
        result = connect_with_refresh_token(ctx, tenant_name, system, refresh_token, remote_tenant_id=remote_tenant_id)
    else:
        code = code or _browser_code(ctx, system, redirect_uri, listen, timeout, quiet=as_json)
        result = connect_with_code(ctx, tenant_name, system, code, redirect_uri, remote_tenant_id=remote_tenant_id)
    result = {"tenant": tenant_name, **result}
    if as_json:
        emit_json(result)
    else:
        click.echo(f"Connected {tenant_name} to {system.upper()}: {result.get('remote_tenant_name')} "
                   f"(tenant id {result.get('remote_tenant_id')}).")


def _connect_aps(ctx: ServiceContext, tenant_name: str, database_url: str | None, mapping_path: str | None,
                 allow_writes: str, as_json: bool) -> None:
    from syncworker.services.aps_connection import connect_aps

    if database_url == "-":
        database_url = sys.stdin.readline().strip()
    if not database_url:
        raise ConnectError("connect aps needs --database-url (the practice's APS database)")
    fields = [f.strip() for f in allow_writes.split(",") if f.strip()]
    result = {"tenant": tenant_name, **connect_aps(ctx, tenant_name, database_url, mapping_path=mapping_path,
                                                   allow_writes=fields)}
    if as_json:
        emit_json(result)
    else:
        writes = ", ".join(result["writes"]) if isinstance(result["writes"], list) else result["writes"]
        click.echo(f"Connected {tenant_name} to APS at {result['database']} (mapping {result['mapping']}; "
                   f"writes: {writes}).")


def _browser_code(ctx: ServiceContext, system: str, redirect_uri: str, listen: bool | None, timeout: int,
                  *, quiet: bool) -> str:
    state = secrets.token_urlsafe(16)
    url = identity(ctx).authorize_url(redirect_uri, scopes_for(system, ctx.settings), state)
    # With --json, instructions go to stderr so stdout stays one JSON document.
    click.echo("Open this URL in a browser and approve access:", err=quiet)
    click.echo(url, err=quiet)
    if listen is None:
        listen = is_loopback(redirect_uri)
    if listen:
        click.echo(f"Waiting up to {timeout}s for the redirect to {redirect_uri} ...", err=quiet)
        return wait_for_code(redirect_uri, state, timeout)
    pasted = click.prompt("Paste the code, or the whole URL the browser was sent to", err=quiet)
    return code_from_paste(pasted, state)


def is_loopback(redirect_uri: str) -> bool:
    parts = urlsplit(redirect_uri)
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS


def code_from_paste(pasted: str, state: str) -> str:
    pasted = pasted.strip()
    if "?" not in pasted:
        return pasted
    return _code_from_query(urlsplit(pasted).query, state)


def _code_from_query(query: str, state: str) -> str:
    params = {k: v[0] for k, v in parse_qs(query).items()}
    if "error" in params:
        raise CallbackError(f"Xero refused the authorization: {params['error']}")
    if params.get("state") != state:
        raise CallbackError("the callback's state does not match this request (a stale or forged redirect)")
    if not params.get("code"):
        raise CallbackError("the callback carries no code")
    return params["code"]


def wait_for_code(redirect_uri: str, state: str, timeout: float) -> str:
    """Serve one redirect on the loopback redirect URI and return its code (state checked)."""
    target = urlsplit(redirect_uri)
    if not is_loopback(redirect_uri):
        raise CallbackError("--listen needs an http://localhost or http://127.0.0.1 redirect URI")
    result: dict[str, Any] = {}
    done = threading.Event()

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            parts = urlsplit(self.path)
            if parts.path.rstrip("/") != (target.path or "/").rstrip("/"):
                self.send_error(404)
                return
            try:
                result["code"] = _code_from_query(parts.query, state)
                message, status = b"syncworker is connected. You can close this tab.", 200
            except CallbackError as exc:
                result["error"] = exc
                message, status = str(exc).encode(), 400
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            self.wfile.write(message)
            done.set()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the query carries the code
            pass

    host = "127.0.0.1" if target.hostname == "localhost" else (target.hostname or "127.0.0.1")
    try:
        server = HTTPServer((host, target.port or 80), Callback)
    except OSError as exc:
        raise CallbackError(f"cannot listen on {host}:{target.port}: {exc.strerror}") from None
    server.timeout = 0.5
    try:
        deadline = threading.Timer(timeout, done.set)
        deadline.start()
        while not done.is_set():
            server.handle_request()
        deadline.cancel()
    finally:
        server.server_close()
    if "error" in result:
        raise result["error"]
    if "code" not in result:
        raise CallbackError(f"no callback within {timeout:g}s; run the command again or pass --code")
    return str(result["code"])


commands: list[click.Command] = [connect]
