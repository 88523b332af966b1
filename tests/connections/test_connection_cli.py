"""`syncworker connections ...` and `syncworker groups ...` through click's runner on a real database, with
--json, human output and non-zero exits on refusals. The commands are mounted on a root group here the
way the lead registers them on `syncworker`."""

from __future__ import annotations

import json
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from syncworker.cli import connection_cmds
from syncworker.cli.context import App
from syncworker.store.db import Database
from tests.factories import make_client, make_tenant

T = "CLI Practice"


@click.group()
@click.pass_context
def root(ctx: click.Context) -> None:
    app = ctx.ensure_object(App)
    ctx.call_on_close(app.close)


for _cmd in connection_cmds.commands:
    root.add_command(_cmd)


@pytest.fixture
def cli(db: Database) -> Any:
    tid = make_tenant(db, T)
    for ext, name, kind in (("ACME", "Acme Pty Ltd", "company"), ("JO", "Jo Bloggs", "individual"),
                            ("SAM", "Sam Carter", "individual")):
        make_client(db, tid, ext, name, kind)
    runner = CliRunner()
    env = {"SYNCWORKER_DATABASE_URL": db.connect_url, "SYNCWORKER_LOG_FORMAT": "text"}

    def invoke(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(root, [*args, "--tenant", T], env=env)
        if ok:
            assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    return invoke


def test_connections_add_list_primary_remove_with_json(cli: Any) -> None:
    added = json.loads(cli("connections", "add", "JO", "ACME", "--json").output)
    assert (added["client"], added["related"], added["type"], added["primary_contact"]) == ("ACME", "JO", "employee",
                                                                                             True)
    out = cli("connections", "add", "ACME", "SAM", "--type", "director", "--description", "Director").output
    assert "Sam Carter is director of Acme Pty Ltd" in out
    seen = json.loads(cli("connections", "list", "--client", "JO", "--json").output)
    assert [(c["other"], c["shown_as"]) for c in seen] == [("ACME", "Employer")]
    assert "Sam Carter" in cli("connections", "list").output
    cli("connections", "primary", "ACME", "SAM")
    removed = json.loads(cli("connections", "remove", "--client", "SAM", "--related", "ACME", "--json").output)
    assert removed["removed"]["related"] == "SAM"
    assert [p["related"] for p in removed["primary_contacts"]] == ["JO"]
    assert json.loads(cli("connections", "remove", str(added["id"]), "--json").output)["removed"]["id"] == added["id"]
    assert json.loads(cli("connections", "list", "--json").output) == []


def test_refusals_exit_non_zero_with_the_rule_message(cli: Any) -> None:
    r = cli("connections", "add", "JO", "JO", "--type", "friend", ok=False)
    assert r.exit_code == 1 and "cannot be connected to itself" in r.output
    r = cli("connections", "add", "JO", "SAM", ok=False)
    assert r.exit_code == 1 and "choose a relationship type" in r.output
    r = cli("connections", "add", "JO", "NOPE", "--type", "friend", ok=False)
    assert r.exit_code == 1 and "no client with id 'NOPE'" in r.output
    r = cli("connections", "remove", "42", ok=False)
    assert r.exit_code == 1 and "no connection with id 42" in r.output
    r = cli("groups", "members", "Nope", ok=False)
    assert r.exit_code == 1 and "no client group 'Nope'" in r.output


def test_groups_add_members_list_remove(cli: Any) -> None:
    g = json.loads(cli("groups", "add", "Bloggs Group", "--member", "ACME", "--member", "JO", "--json").output)
    assert [m["id"] for m in g["members"]] == ["ACME", "JO"]
    cli("groups", "add", "Family", "--member", "JO")  # a client may be in several groups
    assert {x["name"] for x in json.loads(cli("groups", "list", "--client", "JO", "--json").output)} == {
        "Bloggs Group", "Family"}
    out = json.loads(cli("groups", "members", "Bloggs Group", "--add", "SAM", "--remove", "JO", "--json").output)
    assert [m["id"] for m in out["members"]] == ["ACME", "SAM"]
    assert "Sam Carter (SAM)" in cli("groups", "members", str(g["id"])).output
    r = cli("groups", "members", "Bloggs Group", "--add", "SAM", ok=False)
    assert r.exit_code == 1 and "already in group" in r.output
    r = cli("groups", "add", "bloggs group", ok=False)
    assert r.exit_code == 1 and "already exists" in r.output
    assert "removed group" in cli("groups", "remove", "Family").output
    assert [x["name"] for x in json.loads(cli("groups", "list", "--json").output)] == ["Bloggs Group"]


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for group in connection_cmds.commands:
        assert isinstance(group, click.Group)
        for name in group.commands:
            result = runner.invoke(root, [group.name or "", name, "--help"])
            assert result.exit_code == 0 and "Usage:" in result.output, (group.name, name, result.output)
