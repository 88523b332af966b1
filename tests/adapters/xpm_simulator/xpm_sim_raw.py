"""A raw HTTP client for the XPM simulator: plain requests, the way any XPM client would talk to it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import requests

from simulators.xpm import XpmSimulator


class RawXpm:
    """Talks to the simulator with plain requests, the way any XPM client would."""

    def __init__(self, sim: XpmSimulator) -> None:
        self.sim = sim
        self.http = requests.Session()
        self.access_token = self.refresh(sim.issue_refresh_token())["access_token"]

    def refresh(self, refresh_token: str) -> dict:
        resp = self.token(grant_type="refresh_token", refresh_token=refresh_token)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def token(self, **form: str) -> requests.Response:
        return self.http.post(f"{self.sim.identity_url}/connect/token", data=form,
                              auth=(self.sim.client_id, self.sim.client_secret), timeout=5)

    def headers(self, token: str | None = None, tenant: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.access_token}", "Xero-Tenant-Id": tenant or self.sim.xero_tenant_id}

    def call(self, method: str, path: str, body: str | None = None, **params: object) -> requests.Response:
        url = path if path.startswith("http") else self.sim.base_url + path
        return self.http.request(method, url, params=params or None, data=body.encode() if body else None,
                                 headers={**self.headers(), "Content-Type": "application/xml"}, timeout=10)

    def xml(self, method: str, path: str, body: str | None = None, **params: object) -> ET.Element:
        resp = self.call(method, path, body, **params)
        assert resp.status_code == 200, (resp.status_code, resp.text[:500])
        return ET.fromstring(resp.content)

    def ok(self, method: str, path: str, body: str | None = None, **params: object) -> ET.Element:
        root = self.xml(method, path, body, **params)
        assert root.findtext("Status") == "OK", root.findtext("ErrorDescription")
        return root
