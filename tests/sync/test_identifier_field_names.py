"""One rule names a private identifier (`crypto.is_identifier_key`): a tax file number in a field named
`TFN` or `tax_file_number` (APS's column, a mapping's own name) is sealed at rest and shown as its last
digits wherever values are shown (the CLI, the JSON API, the console, a dry run's report), as one in
`tax_number` is."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from fastapi.testclient import TestClient

from syncworker.cli.main import cli
from syncworker.config import Settings
from syncworker.domain.sync import Action, Decision, value_hash, would_do
from syncworker.http.app import create_app
from syncworker.services.context import ServiceContext
from syncworker.services.sync_store import field_digest
from syncworker.store.crypto import SEALED_PREFIX, generate_key, shown_value
from syncworker.store.db import Database
from syncworker.store.models import Link, SyncConflict
from syncworker.store.types import sealer_for
from tests.factories import make_client, make_tenant
from tests.http.test_app_inprocess import RecordingExecutor

TFN, OTHER = "876 543 217", "123 456 782"  # made-up numbers, no real person's
WHOLE = ("876543217", "876 543 217", "123456782", "123 456 782")
NAMES = ("TFN", "tax_file_number", "TaxFileNumber", "tax_number")
TOKEN = "names-" + uuid.uuid4().hex


@pytest.mark.parametrize("name", NAMES)
def test_a_tax_number_under_any_field_name_is_shown_masked(name: str) -> None:
    assert shown_value(name, TFN) == "******217"
    report = would_do([Decision(name, Action.PUSH, OTHER, "local changed"),
                       Decision(name, Action.CONFLICT, None, "both changed")], {name: OTHER}, {name: TFN},
                      shown=shown_value)
    assert not any(d in json.dumps(report) for d in WHOLE), report


def test_conflicts_on_a_tax_number_under_other_names_are_sealed_and_shown_masked(sqlite_db: Database) -> None:
    key = generate_key()
    ctx = ServiceContext(sqlite_db, Settings(database_url=sqlite_db.url, secret_key=key, operator_token=TOKEN))
    tenant_id = make_tenant(sqlite_db, "Named")
    client_id = make_client(sqlite_db, tenant_id, "L1", "Ada Lovelace", kind="individual")
    with sqlite_db.session() as s:
        link = Link(tenant_id=tenant_id, system="aps", client_id=client_id, remote_id="aps-1", status="linked",
                    method="manual")
        s.add(link)
        s.flush()
        s.add_all([SyncConflict(tenant_id=tenant_id, link_id=link.id, field=name, base_value=None,
                                local_value=json.dumps(TFN), remote_value=json.dumps(OTHER)) for name in NAMES])

    with sqlite_db.engine.connect() as conn:  # at rest: sealed, whatever the field is called
        stored = conn.execute(sa.text("select field, local_value, remote_value from sync_conflicts")).all()
    assert all(v.startswith(SEALED_PREFIX) for row in stored for v in row[1:]), stored

    env = {"SYNCWORKER_DATABASE_URL": sqlite_db.connect_url, "SYNCWORKER_SECRET_KEY": key,
           "SYNCWORKER_LOG_LEVEL": "WARNING"}
    cli_json = CliRunner().invoke(cli, ["conflicts", "list", "--tenant", "Named", "--json"], env=env)
    cli_text = CliRunner().invoke(cli, ["conflicts", "list", "--tenant", "Named"], env=env)
    assert cli_json.exit_code == 0 and cli_text.exit_code == 0, cli_json.output + cli_text.output
    listed = json.loads(cli_json.output)
    assert sorted(c["field"] for c in listed) == sorted(NAMES)
    assert {(c["local"], c["remote"]) for c in listed} == {("******217", "******782")}

    with TestClient(create_app(ctx, RecordingExecutor()), follow_redirects=False) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        api = client.get("/conflicts", params={"tenant": "Named"}, headers=auth)
        by_client = client.get("/conflicts/by-client", params={"tenant": "Named"}, headers=auth)
        assert api.status_code == 200 and by_client.status_code == 200, api.text
        form = client.get("/console")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        client.post("/console/signin", data={"csrf": csrf, "operator": "Alice Ops", "token": TOKEN})
        page = client.get("/console/conflicts", params={"tenant": "Named"})
        assert page.status_code == 200 and "Ada Lovelace" in page.text and "******217" in page.text, page.text

    for shown in (cli_json.output, cli_text.output, api.text, by_client.text, page.text):
        assert not any(d in shown for d in WHOLE), shown


def test_a_merge_base_of_a_tax_number_under_another_name_is_its_keyed_hash(sqlite_db: Database) -> None:
    """`field_digest` asks `is_identifier_key`, not the names the migrations knew: a plain hash of a
    `tax_file_number`'s nine digits would give them away to anyone who tries them all."""
    keyed = Database(sqlite_db.url, secret_key=generate_key())
    try:
        with keyed.session() as s:
            digest = field_digest(s, "tax_file_number", TFN)
            assert digest == sealer_for(s.get_bind().dialect, "stored").index(TFN)
            assert digest != value_hash("tax_file_number", TFN)
    finally:
        keyed.dispose()
