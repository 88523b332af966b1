"""A regular (non-editable) install works from any folder: the wheel carries config/ and the migrations, and
the default database is the same per-user file whichever folder a command runs in.

The wheel is built from a copy of the source (no network: --no-deps --no-build-isolation) and unpacked as
pip would install it; the commands then run in a fresh folder with `python -S`, so neither the checkout nor
the editable install of the test environment can be found."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "syncworker", "adapters", "simulators", "config")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(work / "dist"),
                    str(src)], check=True, capture_output=True, timeout=120)
    [wheel] = (work / "dist").glob("syncworker-*.whl")
    site = work / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    return site


def _run(site: Path, cwd: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SYNCWORKER_") and k not in ("DATABASE_URL", "PYTHONPATH")}
    env.update(XDG_DATA_HOME=str(data), SYNCWORKER_LOG_LEVEL="WARNING",
               PYTHONPATH=os.pathsep.join([str(site), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]))
    return subprocess.run([sys.executable, "-S", "-m", "syncworker.cli.main", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def test_installed_wheel_upgrades_and_runs_the_demo_from_any_folder(installed: Path, tmp_path: Path) -> None:
    data, here, there = tmp_path / "data", tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    db_file = data / "syncworker" / "syncworker.db"
    upgraded = _run(installed, here, data, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"sqlite:///{db_file}" in upgraded.stdout and db_file.exists()

    demo = _run(installed, there, data, "demo", "--clients", "60", "--json")
    assert demo.returncode == 0, demo.stderr
    assert json.loads(demo.stdout)["report"]["status"] == "succeeded"
    # Both folders used the one per-user database, and neither got a file of its own.
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("select name from tenants").fetchall() == [("Demo Practice",)]
    assert not list(here.iterdir()) and not list(there.iterdir())
