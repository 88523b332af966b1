"""`syncworker portal ...` through click's runner on a real database, mailing a real SMTP server."""

from __future__ import annotations

import email
import json
from email.policy import default
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from syncworker.cli.main import cli
from syncworker.store.db import Database
from tests.portal.conftest import LINK, SECRET_KEY, TENANT, SmtpServer, seed


def run(db: Database, smtp: SmtpServer, *args: str, input: str | None = None) -> Any:  # noqa: A002
    env = {"SYNCWORKER_DATABASE_URL": db.connect_url, "SYNCWORKER_LOG_FORMAT": "text",
           "SYNCWORKER_SMTP_URL": smtp.url, "SYNCWORKER_PUBLIC_URL": "http://127.0.0.1:8080",
           "SYNCWORKER_SECRET_KEY": SECRET_KEY}
    return CliRunner().invoke(cli, ["portal", *args], env=env, input=input, catch_exceptions=False)


def test_invite_accept_and_the_managers_list(db: Database, smtp: SmtpServer) -> None:
    seed(db)
    out = run(db, smtp, "invite", "JR", "--tenant", TENANT, "--person", "JR", "--person", "CR",
              "--message", "Welcome", "--as", "sam")
    assert out.exit_code == 0, out.output
    assert "1 billable client(s), 1 inactive client(s) (not billable)" in out.output and "2 sent" in out.output

    token = smtp.inbox.token(smtp.inbox.to("cathy@example.test")[0])
    accepted = run(db, smtp, "accept", token, "--json", input=f"{'p' * 12}\n{'p' * 12}\n")
    assert accepted.exit_code == 0, accepted.output
    reused = run(db, smtp, "accept", token, input=f"{'p' * 12}\n{'p' * 12}\n")
    assert reused.exit_code == 1 and "already been used" in reused.output

    listed = run(db, smtp, "list", "--tenant", TENANT, "--json")
    rows = {r["email"]: r for r in json.loads(listed.output)}
    cathy = rows["cathy@example.test"]
    assert (cathy["status"], cathy["person"], cathy["portal"]) == ("accepted", "client:CR", "JR")
    assert cathy["last_login"] is not None and cathy["records"] == [{"client": "JR", "name": "Jack Ryan"}]
    jack = rows["jack.ryan@example.test"]
    assert (jack["status"], jack["last_login"], jack["records"]) == ("invited", None, [])
    assert jack["sent"] is not None and jack["expires"] is not None

    accepted_only = json.loads(run(db, smtp, "list", "--tenant", TENANT, "--status", "accepted", "--json").output)
    assert [r["email"] for r in accepted_only] == ["cathy@example.test"]
    table = run(db, smtp, "list", "--tenant", TENANT)
    assert "JR (Jack Ryan)" in table.output

    resent = run(db, smtp, "resend", str(jack["access"]), "--tenant", TENANT)
    assert resent.exit_code == 0 and "replaces" in resent.output
    assert run(db, smtp, "revoke", str(jack["access"]), "--tenant", TENANT).exit_code == 0
    bulk = run(db, smtp, "resend", "--expired", "--tenant", TENANT, "--as", "sam")
    assert bulk.exit_code == 1 and "admins only" in bulk.output
    assert run(db, smtp, "resend", "--tenant", TENANT).exit_code == 2


def test_refusals_exit_non_zero_with_one_line(db: Database, smtp: SmtpServer) -> None:
    seed(db)
    no_email = run(db, smtp, "invite", "LEE", "--tenant", TENANT)
    assert no_email.exit_code == 1 and "has no email address" in no_email.output
    bulk = run(db, smtp, "invite", "--without-portal", "--tenant", TENANT, "--as", "sam")
    assert bulk.exit_code == 1 and "admins only" in bulk.output
    assert run(db, smtp, "admins", "add", "sam", "--tenant", TENANT).exit_code == 0
    bulk = run(db, smtp, "invite", "--without-portal", "--tenant", TENANT, "--as", "sam", "--json")
    assert bulk.exit_code == 0 and {i["portal"] for i in json.loads(bulk.output)["invited"]} == {"ACME", "JR"}
    both = run(db, smtp, "invite", "JR", "--without-portal", "--tenant", TENANT)
    assert both.exit_code == 2
    maintain = run(db, smtp, "maintain", "--json")
    assert json.loads(maintain.output)["expired"] == 0


def test_without_an_smtp_url_the_invitation_is_written_to_the_data_folder(db: Database, tmp_path: Path) -> None:
    seed(db)
    env = {"SYNCWORKER_DATABASE_URL": db.connect_url, "SYNCWORKER_LOG_FORMAT": "text", "SYNCWORKER_SMTP_URL": None,
           "XDG_DATA_HOME": str(tmp_path), "SYNCWORKER_PUBLIC_URL": "http://127.0.0.1:8080",
           "SYNCWORKER_SECRET_KEY": SECRET_KEY}
    out = CliRunner().invoke(cli, ["portal", "invite", "JR", "--tenant", TENANT, "--message", "Files & forms here"],
                             env=env, catch_exceptions=False)
    assert out.exit_code == 0 and "1 sent" in out.output, out.output
    [eml] = (tmp_path / "syncworker" / "mail").glob("*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=default)
    assert msg["To"] == "jack.ryan@example.test"
    text, page = msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()
    assert "Files & forms here" in text and "Files &amp; forms here" in page
    token = LINK.search(text).group(1)  # type: ignore[union-attr]
    assert f"/portal/accept/{token}" in page  # the same link in both parts
    accepted = CliRunner().invoke(cli, ["portal", "accept", token], env=env, input="p" * 12 + "\n" + "p" * 12 + "\n")
    assert accepted.exit_code == 0 and "Jack Ryan" in accepted.output, accepted.output
