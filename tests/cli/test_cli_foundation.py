"""The `syncworker` command on a real database, run in-process with click's runner (the installed command
as a real process is tests/cli/test_installed_wheel.py and tests/cli/test_demo.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from syncworker.cli.main import cli

EXE = Path(sys.executable).with_name("syncworker")


def run(args: list[str], db_url: str, cwd: Path, check: bool = True) -> Result:
    env = {"SYNCWORKER_DATABASE_URL": db_url, "SYNCWORKER_LOG_FORMAT": "text"}
    result = CliRunner().invoke(cli, args, env=env)
    if check and result.exit_code != 0:
        raise AssertionError(f"{args} exited {result.exit_code}: {result.stderr}")
    result.returncode = result.exit_code  # type: ignore[attr-defined]
    return result


def _all_commands(group: click.Group, path: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        yield (*path, name)
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, (*path, name))


def test_every_command_has_help() -> None:
    from click.testing import CliRunner

    runner = CliRunner()
    paths = list(_all_commands(cli))
    assert len(paths) > 10
    for path in paths:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


def test_cli_workflow_with_json_and_failures(db_url: str, tmp_path: Path) -> None:
    # The fixture's database is already migrated; upgrade again must be a no-op.
    assert "revision" in run(["db", "upgrade"], db_url, tmp_path).stdout
    run(["tenants", "add", "Harbour Accounting"], db_url, tmp_path)
    dup = run(["tenants", "add", "Harbour Accounting"], db_url, tmp_path, check=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr

    csv_path = tmp_path / "clients.csv"
    csv_path.write_text("id,kind,name\nC1,company,Harbour Pty Ltd\nC2,individual,Sam Example\n")
    out = json.loads(run(["import", "clients", str(csv_path), "--tenant", "Harbour Accounting", "--json"], db_url,
                         tmp_path).stdout)
    assert out["created"] == 2 and out["status"] == "succeeded"

    bad = tmp_path / "bad.csv"
    bad.write_text("id,kind,name\nC3,robot,Nope\n")
    proc = run(["import", "clients", str(bad), "--tenant", "Harbour Accounting"], db_url, tmp_path, check=False)
    assert proc.returncode == 1 and "line 2" in proc.stderr and "robot" in proc.stderr

    listed = json.loads(run(["clients", "list", "--tenant", "Harbour Accounting", "--json"], db_url, tmp_path).stdout)
    assert {c["id"] for c in listed} == {"C1", "C2"}
    shown = json.loads(run(["clients", "show", "C2", "--tenant", "Harbour Accounting", "--json"], db_url,
                           tmp_path).stdout)
    assert shown["profile"]["kind"] == "individual"
    runs = json.loads(run(["runs", "list", "--json"], db_url, tmp_path).stdout)
    assert [r["status"] for r in runs] == ["failed", "succeeded"]
    shown_run = json.loads(run(["runs", "show", str(runs[0]["id"]), "--json"], db_url, tmp_path).stdout)
    assert "robot" in json.dumps(shown_run["errors"])
    missing = run(["clients", "show", "C404", "--tenant", "Harbour Accounting"], db_url, tmp_path, check=False)
    assert missing.returncode == 1 and "no client with id 'C404'" in missing.stderr


def test_invalid_setting_stops_startup_of_the_real_process(tmp_path: Path) -> None:
    env = {**os.environ, "SYNCWORKER_DATABASE_URL": "mysql://nope/x"}
    proc = subprocess.run([str(EXE), "tenants", "list"], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=60)
    assert proc.returncode == 1 and "invalid setting database_url" in proc.stderr


@pytest.mark.parametrize("args", [["tenants", "list"]])
def test_unmigrated_database_says_what_to_do(args: list[str], tmp_path: Path) -> None:
    proc = run(args, f"sqlite:///{tmp_path / 'empty.db'}", tmp_path, check=False)
    assert proc.returncode == 1 and "syncworker db upgrade" in proc.stderr
