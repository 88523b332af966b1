"""The CLI's command registry and its cheap start: `syncworker --help` lists every command without importing
the database, web, adapter or simulator layers."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from syncworker.cli.main import COMMANDS, cli, load_command

CLI_DIR = Path(__file__).resolve().parents[2] / "syncworker" / "cli"
HEAVY = ("sqlalchemy", "alembic", "fastapi", "uvicorn", "procrastinate", "requests", "numpy", "rapidfuzz",
         "adapters", "simulators", "syncworker.store", "syncworker.services", "syncworker.matching", "yaml", "rich")


def test_every_command_of_every_cmds_module_is_registered_with_its_own_help() -> None:
    defined = {}
    for path in sorted(CLI_DIR.glob("*_cmds.py")):
        module = importlib.import_module(f"syncworker.cli.{path.stem}")
        for command in module.commands:
            defined[command.name] = (module.__name__, command.get_short_help_str(limit=10_000))
    assert defined == COMMANDS


def test_each_command_loads_from_its_module() -> None:
    for name in COMMANDS:
        assert isinstance(load_command(name), click.Command) and load_command(name).name == name


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == sorted(COMMANDS)


def test_help_starts_without_the_heavy_layers() -> None:
    probe = ("import sys, io, contextlib\nfrom syncworker.cli.main import main\nsys.argv = ['syncworker', '--help']\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n    try:\n        main()\n    except SystemExit:\n        pass\n"
             "import json; print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    loaded = json.loads(out.stdout)
    heavy = [m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY)]
    assert heavy == []


def test_the_link_run_progress_bar_names_every_phase_a_run_reports() -> None:
    from syncworker.cli.link_cmds import PHASE_LABELS
    from syncworker.services.link_run import PHASES

    assert set(PHASE_LABELS) == set(PHASES)
