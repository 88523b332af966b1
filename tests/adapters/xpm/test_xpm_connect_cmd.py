"""`syncworker connect xpm` against the XPM simulator (real sockets) and a real SQLite database."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest
import requests
from click.testing import CliRunner

from adapters.xero_identity.tokens import authorize_url
from adapters.xpm.client import XpmClient
from adapters.xpm.settings import XpmSettings
from simulators.xpm import XpmSimulator
from syncworker.cli.connect_cmds import CallbackError, code_from_paste, wait_for_code
from syncworker.cli.main import cli
from syncworker.services.tenants import add_tenant, get_tenant
from syncworker.store.crypto import Cipher, generate_key
from syncworker.store.db import Database
from syncworker.store.tokens import DbTokenStore

pytestmark = pytest.mark.e2e
TENANT = "Harbour Accounting"


@pytest.fixture
def sim() -> Iterator[XpmSimulator]:
    with XpmSimulator(clients=30, seed=5, port=0) as s:
        yield s


@pytest.fixture
def env(sim: XpmSimulator, sqlite_db: Database) -> dict[str, str]:
    add_tenant(sqlite_db, TENANT)
    return {**sim.env(), "SYNCWORKER_DATABASE_URL": sqlite_db.connect_url, "SYNCWORKER_SECRET_KEY": generate_key(),
            "SYNCWORKER_LOG_FORMAT": "text"}


def _invoke(args: list[str], env: dict[str, str], stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, args, env=env, input=stdin, catch_exceptions=False)


def test_connect_with_refresh_token_rotates_it_and_picks_the_practice(
    sim: XpmSimulator, env: dict[str, str], sqlite_db: Database
) -> None:
    given = sim.issue_refresh_token()
    result = _invoke(["connect", "xpm", "--tenant", TENANT, "--refresh-token", "-", "--json"], env, stdin=given + "\n")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["remote_tenant_id"] == sim.xero_tenant_id and out["system"] == "xpm"
    assert given not in result.output  # tokens are never printed
    with sqlite_db.session() as s:
        tenant_id = get_tenant(s, TENANT).id
    store = DbTokenStore(sqlite_db, Cipher(env["SYNCWORKER_SECRET_KEY"]), tenant_id, "xpm")
    stored = store.load()
    assert stored.refresh_token != given and stored.remote_tenant_id == sim.xero_tenant_id
    # The stored grant works for the adapter.
    settings = XpmSettings.load(env=env)
    page = next(XpmClient.from_settings(store, settings).iter_client_pages())
    assert page.items


def test_connect_with_code(sim: XpmSimulator, env: dict[str, str]) -> None:
    redirect = "http://localhost:8765/callback"
    code = sim.authorize_code(redirect)
    result = _invoke(["connect", "xpm", "--tenant", TENANT, "--code", code, "--redirect-uri", redirect], env)
    assert result.exit_code == 0, result.output
    assert f"tenant id {sim.xero_tenant_id}" in result.output


def test_revoked_or_unknown_grant_fails_with_a_message(env: dict[str, str]) -> None:
    result = _invoke(["connect", "xpm", "--tenant", TENANT, "--refresh-token", "not-a-live-token"], env)
    assert result.exit_code == 1 and "invalid_grant" in result.output
    unknown = _invoke(["connect", "xpm", "--tenant", "Nobody", "--refresh-token", "x"], env)
    assert unknown.exit_code == 1 and "no tenant named" in unknown.output


def test_loopback_listener_catches_the_redirect(sim: XpmSimulator) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    redirect = f"http://127.0.0.1:{port}/callback"
    url = authorize_url(sim.client_id, redirect, ["offline_access", "practicemanager"], "st-1", sim.authorize_url)
    got: dict[str, str] = {}
    waiter = threading.Thread(target=lambda: got.update(code=wait_for_code(redirect, "st-1", 10)))
    waiter.start()
    for _ in range(50):  # the browser: authorize on the simulator, then follow its redirect to us
        try:
            resp = requests.get(url, timeout=5)
            break
        except requests.ConnectionError:
            threading.Event().wait(0.05)
    waiter.join(10)
    assert resp.status_code == 200 and got["code"]


def test_pasted_redirect_is_checked_for_state() -> None:
    assert code_from_paste("  abc123 ", "s") == "abc123"
    assert code_from_paste("http://localhost:8765/callback?code=c1&state=s", "s") == "c1"
    with pytest.raises(CallbackError, match="state"):
        code_from_paste("http://localhost:8765/callback?code=c1&state=other", "s")
    with pytest.raises(CallbackError, match="refused"):
        code_from_paste("http://localhost:8765/callback?error=access_denied&state=s", "s")
