"""A real `syncworker serve` process per test module, on SQLite and on PostgreSQL, against a migrated
database the tests seed directly. Tests use fresh tenant names, so they share one server per module."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from syncworker.store.crypto import generate_key
from syncworker.store.db import Database
from tests.conftest import PG_URL

OPERATOR_TOKEN = "op-" + uuid.uuid4().hex
WEBHOOK_KEY = base64.b64encode(os.urandom(48)).decode()
# How long a server may take to come up. Only a hang should hit it: `syncworker serve` took 22-30+ s to
# import and answer /health at load 16 on 2 cores, so the former 30 s failed test modules on a busy CI.
STARTUP_DEADLINE = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: object) -> Iterator[str]:
    """`app` on uvicorn in a thread of the test process, on a free loopback port: yields its base URL and
    stops the server on the way out."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_DEADLINE
    while not server.started and time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("uvicorn stopped before it started serving")
        time.sleep(0.02)
    if not server.started:
        raise RuntimeError(f"uvicorn did not start serving within {STARTUP_DEADLINE} s")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def sign(body: bytes, key: str = WEBHOOK_KEY) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Server:
    url: str
    db: Database
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, token: str | None = OPERATOR_TOKEN, **headers: str) -> httpx.Client:
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def served_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("http") / "syncworker.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        db = Database(f"sqlite:///{path}")
    else:
        db = Database(PG_URL, schema=request.getfixturevalue("pg_schema_factory")())
        db.upgrade()
    yield db
    db.dispose()


def start_server(db: Database, log: Path, **env_overrides: str) -> Server:
    port = free_port()
    env = {**os.environ, "SYNCWORKER_DATABASE_URL": db.connect_url, "SYNCWORKER_OPERATOR_TOKEN": OPERATOR_TOKEN,
           "SYNCWORKER_XERO_WEBHOOK_KEY": WEBHOOK_KEY, "SYNCWORKER_SECRET_KEY": generate_key(),
           "SYNCWORKER_LOG_FORMAT": "json", **env_overrides}
    env.pop("DATABASE_URL", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "syncworker.cli.serve_cmds", "--host", "127.0.0.1", "--port", str(port),
             "--workers-threads", "2"], env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", db, process, log)
    deadline = time.monotonic() + STARTUP_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"syncworker serve exited with {process.returncode}:\n{server.log_text()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"syncworker serve did not become healthy:\n{server.log_text()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def server(served_db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(served_db, tmp_path_factory.mktemp("serve") / "serve.log")
    yield srv
    stop_server(srv)


@pytest.fixture
def tenant_name() -> str:
    return f"Practice {uuid.uuid4().hex[:8]}"
