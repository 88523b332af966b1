"""`syncworker simulate xero` runs a real server another process can use, steer, and hear webhooks from."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import queue
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from click.testing import CliRunner

from syncworker.cli.simulate_cmds import simulate

pytestmark = pytest.mark.e2e


def _receiver() -> tuple[ThreadingHTTPServer, queue.Queue]:
    received: queue.Queue = queue.Queue()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.put((body, self.headers.get("x-xero-signature")))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def test_cli_serves_contacts_takes_faults_and_delivers_signed_webhooks() -> None:
    hook, received = _receiver()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCWORKER_XERO_")}
    cmd = [sys.executable, "-c", "from syncworker.cli.simulate_cmds import simulate; simulate()",
           "xero", "--port", "0", "--contacts", "5", "--json", "--fault", "500:1",
           "--webhook-url", f"http://127.0.0.1:{hook.server_address[1]}/hook"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["contacts"] == 5
        token = requests.post(f"{info['SYNCWORKER_XERO_IDENTITY_URL']}/connect/token", timeout=5,
                              data={"grant_type": "refresh_token", "refresh_token": info["refresh_token"]},
                              auth=(info["SYNCWORKER_XERO_CLIENT_ID"], info["SYNCWORKER_XERO_CLIENT_SECRET"])).json()
        headers = {"Authorization": f"Bearer {token['access_token']}", "Xero-Tenant-Id": info["xero_tenant_id"],
                   "Accept": "application/json"}
        url = info["SYNCWORKER_XERO_API_URL"] + "/api.xro/2.0/Contacts"
        assert requests.get(url, headers=headers, timeout=5).status_code == 500  # the --fault flag
        contacts = requests.get(url, headers=headers, params={"includeArchived": "true"}, timeout=5).json()["Contacts"]
        assert len(contacts) == 5  # the seeded contacts, archived ones included on request (as Xero)

        edited = contacts[0]["ContactID"]
        requests.post(f"{info['admin_url']}contacts/{edited}", json={"fields": {"EmailAddress": "new@example.com"}},
                      timeout=5).raise_for_status()
        body, signature = received.get(timeout=10)
        key = info["SYNCWORKER_XERO_WEBHOOK_KEY"]
        assert signature == base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
        event = json.loads(body)["events"][0]
        assert (event["resourceId"], event["tenantId"]) == (edited, info["xero_tenant_id"])
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        hook.shutdown()


def test_cli_refuses_an_unknown_fault() -> None:
    result = CliRunner().invoke(simulate, ["xero", "--port", "0", "--contacts", "1", "--fault", "gremlins"])
    assert result.exit_code != 0 and "unknown fault" in result.output
