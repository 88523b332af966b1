"""`syncworker serve` refuses to start, with a reason and a non-zero exit, when it cannot serve."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from syncworker.store.db import Database
from tests.http.conftest import OPERATOR_TOKEN


def serve(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYNCWORKER_DATABASE_URL": db_url, "SYNCWORKER_OPERATOR_TOKEN": OPERATOR_TOKEN}
    return subprocess.run([sys.executable, "-m", "syncworker.cli.serve_cmds", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_help_names_the_options() -> None:
    out = serve("sqlite:///unused.db", "--help").stdout
    assert all(opt in out for opt in ("--host", "--port", "--workers-threads"))


def test_an_unmigrated_database_stops_start_up(tmp_path: Path) -> None:
    done = serve(f"sqlite:///{tmp_path / 'new.db'}", "--port", "1")
    assert done.returncode == 1
    assert "syncworker db upgrade" in done.stderr


def test_a_port_in_use_stops_start_up(sqlite_db: Database) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = serve(sqlite_db.url, "--host", "127.0.0.1", "--port", str(taken.getsockname()[1]))
    assert done.returncode != 0
    assert "address already in use" in (done.stderr + done.stdout).lower()
