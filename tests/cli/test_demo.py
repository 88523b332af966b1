"""The README's first command: the main job on the embedded default, as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncworker.cli.main import cli

pytestmark = pytest.mark.e2e


def test_demo_runs_the_main_job_and_leaves_the_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCWORKER_") and k != "DATABASE_URL"}
    env["SYNCWORKER_DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.db'}"
    exe = [sys.executable, "-m", "syncworker.cli.main"]
    t0 = time.monotonic()
    proc = subprocess.run([*exe, "demo", "--clients", "120", "--json"], capture_output=True, text=True, env=env,
                          timeout=120, cwd=tmp_path)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    report = out["report"]
    assert report["status"] == "succeeded" and report["counts"]["linked_new"] > 50
    assert elapsed < 60
    # The operator commands work on what the demo left behind (in-process from here: the process start-up
    # was proven above).
    runner, cli_env = CliRunner(), {"SYNCWORKER_DATABASE_URL": env["SYNCWORKER_DATABASE_URL"]}
    reviews = runner.invoke(cli, ["review", "list", "--tenant", "Demo Practice", "--json"], env=cli_env)
    assert reviews.exit_code == 0 and len(json.loads(reviews.stdout)) == report["counts"]["to_review"]
    # Without SYNCWORKER_SECRET_KEY the demo kept its key beside its database, for its owner only, so what
    # it encrypted (tax numbers, tokens) stays readable; its simulator has stopped, so runs say to connect
    # instead of failing on a key or sending the simulator's tokens anywhere.
    kept = tmp_path / "demo.db.key"
    assert kept.is_file() and kept.stat().st_mode & 0o077 == 0
    for command in (["link-run", "--system", "xpm"], ["sync", "--system", "xpm"]):
        after = runner.invoke(cli, [*command, "--tenant", "Demo Practice"], env=cli_env)
        assert after.exit_code == 1, after.output
        assert "not connected to xpm" in after.output and "Traceback" not in after.output
        assert len(after.output.strip().splitlines()) == 1, after.output
    # A second demo is idempotent: nothing new to link.
    again_run = runner.invoke(cli, ["demo", "--clients", "120", "--json"], env=cli_env)
    assert again_run.exit_code == 0, again_run.output
    again = json.loads(again_run.stdout)
    assert again["report"]["counts"]["linked_new"] == 0
    assert again["report"]["counts"]["links_kept"] == report["counts"]["linked_new"]
