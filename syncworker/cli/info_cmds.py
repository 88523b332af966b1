"""`syncworker info`: which database, config folder and settings are in force, and where each came from."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import click

from syncworker import __version__
from syncworker.cli.context import emit_json, get_app, json_option, print_table
from syncworker.config import data_dir

_HIDDEN = {"config_dir", "sources", "database_url"}


def describe(settings: Any) -> dict[str, Any]:
    """The settings in force with their sources; secrets say only whether they are set."""
    rows = []
    for f in fields(settings):
        if f.name in _HIDDEN:
            continue
        value = getattr(settings, f.name)
        shown = ("set" if value else "not set") if not f.repr else (dict(value) if f.name == "schedules" else value)
        rows.append({"setting": f.name, "value": shown, "source": settings.sources.get(f.name, "default")})
    return {
        "version": __version__,
        "database": settings.database_path_hint(),
        "database_source": settings.sources.get("database_url", "default"),
        "config_dir": str(settings.config_dir),
        "data_dir": str(data_dir()),
        "config_files": {name: str(path) for name, path in settings.section_files().items()},
        "settings": rows,
    }


@click.command()
@json_option
def info(as_json: bool) -> None:
    """Print which database, config folder and settings are in force, and where each came from."""
    about = describe(get_app().settings)
    if as_json:
        emit_json(about)
        return
    click.echo(f"syncworker {about['version']}")
    click.echo(f"database:      {about['database']}  ({about['database_source']})")
    click.echo(f"config folder: {about['config_dir']}")
    click.echo(f"data folder:   {about['data_dir']}  (the default database and `simulate aps` stand-in)")
    print_table([{"file": k, "read from": v} for k, v in about["config_files"].items()], title="config files")
    print_table([{**r, "value": str(r["value"])} for r in about["settings"]], title="settings")


commands: list[click.Command] = [info]
