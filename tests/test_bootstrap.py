"""The composition root: one place builds the ServiceContext and the concrete adapters; the service layer
imports neither it nor any concrete adapter."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from adapters.errors import NotConnected
from syncworker.bootstrap import adapter_for, build_context
from syncworker.config import Settings
from syncworker.store.crypto import generate_key
from syncworker.store.db import Database
from tests.factories import make_tenant

ROOT = Path(__file__).resolve().parents[1]
CONCRETE_CLIENTS = re.compile(r"^\s*(from adapters\.(xpm|xero)\.client import|import adapters\.(xpm|xero)\.client)", re.M)


def test_only_the_composition_root_builds_the_xero_platform_adapters() -> None:
    importers = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "syncworker").rglob("*.py")
                       if CONCRETE_CLIENTS.search(p.read_text(encoding="utf-8")))
    assert importers == ["syncworker/bootstrap.py"]


def test_the_service_context_imports_no_systems_no_root_and_no_adapter() -> None:
    probe = "import sys, json, syncworker.services.context\nprint(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                                       timeout=60).stdout)
    assert "syncworker.services.systems" not in loaded and "syncworker.bootstrap" not in loaded
    assert not [m for m in loaded if m.startswith(("adapters.xpm", "adapters.xero", "adapters.aps", "simulators"))]


def test_tests_pass_their_doubles_to_the_same_function(sqlite_db: Database) -> None:
    double = object()
    ctx = build_context(Settings(database_url=sqlite_db.url), db=sqlite_db, adapter_factory=lambda *_: double)
    assert ctx.adapter(1, "xpm") is double and ctx.db is sqlite_db


def test_the_xpm_adapter_is_built_from_the_settings_tree(sqlite_db: Database) -> None:
    settings = replace(Settings.load(env={}), database_url=sqlite_db.url, xpm_url="http://127.0.0.1:9/xpm/",
                       xero_client_id="app", xero_client_secret="shh", secret_key=generate_key())
    ctx = build_context(settings, db=sqlite_db)
    tenant_id = make_tenant(sqlite_db, "Alpha")
    client = ctx.adapter(tenant_id, "xpm")
    assert type(client).__name__ == "XpmClient"
    assert client.page_size == settings.xpm.page_size  # type: ignore[attr-defined]
    with pytest.raises(NotConnected, match="SYNCWORKER_XERO_CLIENT_ID"):
        adapter_for(build_context(replace(settings, xero_client_id=None), db=sqlite_db), tenant_id, "xero")
