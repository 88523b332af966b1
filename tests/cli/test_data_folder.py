"""The per-user data folder: the default database and the `simulate aps` stand-in live there, whatever folder a
command runs in, and `info` names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncworker.cli.main import cli


def test_simulate_aps_creates_its_stand_in_in_the_data_folder(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    data_home, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    env = {"XDG_DATA_HOME": str(data_home)}
    result = CliRunner().invoke(cli, ["simulate", "aps", "--clients", "6", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["database"] == f"sqlite:///{data_home / 'syncworker' / 'aps.db'}"
    assert (data_home / "syncworker" / "aps.db").is_file() and list(elsewhere.iterdir()) == []
    info = json.loads(CliRunner().invoke(cli, ["info", "--json"], env=env).stdout)
    assert info["data_dir"] == str(data_home / "syncworker")


def test_the_help_says_where_the_stand_in_goes() -> None:
    result = CliRunner().invoke(cli, ["simulate", "aps", "--help"])
    assert "aps.db in the per-user data folder" in " ".join(result.output.split())
