"""`syncworker info`: which database, config folder and settings are in force, and where each came from."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from syncworker.cli.main import cli


def test_info_names_the_database_the_folder_and_each_source(tmp_path: Path) -> None:
    (tmp_path / "matching.yaml").write_text("link_auto_threshold: 0.98\n")
    env = {"SYNCWORKER_CONFIG_DIR": str(tmp_path), "DATABASE_URL": "postgres://me:hunter2@db.example/app",
           "SYNCWORKER_DATABASE_URL": "", "SYNCWORKER_LOG_LEVEL": "WARNING", "SYNCWORKER_OPERATOR_TOKEN": "tok-123"}
    result = CliRunner().invoke(cli, ["info", "--json"], env=env)
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["database"] == "postgresql+psycopg://me:***@db.example/app" and info["database_source"] == "DATABASE_URL"
    assert info["config_dir"] == str(tmp_path)
    assert info["config_files"]["matching.yaml"] == str(tmp_path / "matching.yaml")
    assert info["config_files"]["xpm.yaml"] != str(tmp_path / "xpm.yaml")  # not overridden: the bundled default
    rows = {r["setting"]: r for r in info["settings"]}
    assert rows["log_level"] == {"setting": "log_level", "value": "WARNING", "source": "SYNCWORKER_LOG_LEVEL"}
    assert rows["operator_token"]["value"] == "set" and "tok-123" not in result.stdout and "hunter2" not in result.stdout


def test_info_refuses_a_bad_override_naming_setting_and_file(tmp_path: Path) -> None:
    (tmp_path / "matching.yaml").write_text("link_auto_threshold: 7\n")
    result = CliRunner().invoke(cli, ["info"], env={"SYNCWORKER_CONFIG_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert "link_auto_threshold" in result.stderr and str(tmp_path / "matching.yaml") in result.stderr
