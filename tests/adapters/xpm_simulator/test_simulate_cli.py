"""`syncworker simulate xpm` runs a real server another process can use and steer."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
import requests
from click.testing import CliRunner

from syncworker.cli.simulate_cmds import simulate

pytestmark = pytest.mark.e2e


def test_cli_serves_the_seeded_practice_and_the_admin_endpoints(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCWORKER_XERO_")}
    local_csv = tmp_path / "local.csv"
    cmd = [sys.executable, "-c", "from syncworker.cli.simulate_cmds import simulate; simulate()",
           "xpm", "--port", "0", "--clients", "25", "--seed", "4", "--json", "--fault", "500:1",
           "--write-local", str(local_csv)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        info = json.loads(proc.stdout.readline())
        token = requests.post(f"{info['SYNCWORKER_XERO_IDENTITY_URL']}/connect/token", timeout=5,
                              data={"grant_type": "refresh_token", "refresh_token": info["refresh_token"]},
                              auth=(info["SYNCWORKER_XERO_CLIENT_ID"], info["SYNCWORKER_XERO_CLIENT_SECRET"])).json()
        headers = {"Authorization": f"Bearer {token['access_token']}", "Xero-Tenant-Id": info["xero_tenant_id"]}
        url = info["SYNCWORKER_XPM_URL"] + "client.api/list"
        assert requests.get(url, headers=headers, timeout=5).status_code == 500  # the --fault flag
        assert "<Status>OK</Status>" in requests.get(url, headers=headers, timeout=5).text
        stats = requests.get(info["admin_url"] + "stats", timeout=5).json()
        assert stats["calls"]["GET client.api/list"] == 2
        with local_csv.open(newline="") as fh:
            assert len(list(csv.DictReader(fh))) == 25
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_refuses_an_unknown_fault() -> None:
    result = CliRunner().invoke(simulate, ["xpm", "--port", "0", "--clients", "3", "--fault", "gremlins"])
    assert result.exit_code != 0 and "unknown fault" in result.output
