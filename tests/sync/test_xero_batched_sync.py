"""Syncs and webhook pulls against the Xero simulator spend the calls Xero's batch endpoints allow: 50 contacts
a read (`IDs=`) and 50 a write (`POST /Contacts`), with a contact Xero refuses failing alone.

Both need 51 linked (active) contacts. The simulator archives about one contact in ten, from a seed that
`xero_world` makes unique per world (so it depends on how many worlds this process made before: on which
test files pytest-xdist happened to give this worker). 60 contacts left fewer than 51 active for about one
seed in fourteen (7 %); of 80, fewer than 51 are active for one seed in 10^10, and the test would say so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from syncworker.services.sync_run import run_sync, run_webhook_pull
from syncworker.store.db import Database
from syncworker.store.models import AuditEntry, WebhookEvent
from tests.sync.worlds import xero_world

pytestmark = pytest.mark.e2e


CONTACTS = 80  # at least 51 of them active (see above)


def _fifty_one(pairs: dict[str, str]) -> list[tuple[str, str]]:
    assert len(pairs) >= 51, f"the simulator's seed left only {len(pairs)} active contacts; the test needs 51"
    return list(pairs.items())[:51]


def test_a_sync_writes_fifty_contacts_a_call_and_a_refused_one_fails_alone(sqlite_db: Database) -> None:
    with xero_world(sqlite_db, contacts=CONTACTS, seed=21) as w:
        assert run_sync(w.ctx, w.tenant, "xero", full=True).status == "succeeded"
        pairs = _fifty_one(w.pairs)
        refused_local, refused_remote = pairs[0]
        for n, (local_id, _) in enumerate(pairs):
            w.edit_local(local_id, email="not an address" if n == 0 else f"batched.{n}@example.test")
        posts, reads = w.sim.stats.get("POST Contacts", 0), w.sim.stats.get("GET Contacts", 0)

        report = run_sync(w.ctx, w.tenant, "xero")

        assert w.sim.stats.get("POST Contacts", 0) - posts == 2  # 50 + 1
        assert w.sim.stats.get("GET Contacts", 0) - reads == 1  # the incremental read only
        assert (report.counts["updated"], report.counts["failed"]) == (50, 1), report.counts
        assert report.status == "partial"
        [error] = report.errors
        assert "XeroValidationError" in error["error"] and "Email address must be valid" in error["error"]
        for n, (_, rid) in enumerate(pairs[1:], 1):
            assert w.sim.store.get(rid)["EmailAddress"] == f"batched.{n}@example.test"
        assert w.sim.store.get(refused_remote)["EmailAddress"] != "not an address"
        with w.db.session() as s:
            failed = s.scalars(sa.select(AuditEntry.entity_id).where(AuditEntry.action == "update_failed")).all()
        assert failed == [refused_remote]

        # The refused record is tried again next time; the 50 written ones are settled (their own webhooks
        # would come back as no change).
        again = run_sync(w.ctx, w.tenant, "xero")
        assert again.counts["failed"] == 1 and again.counts.get("updated", 0) == 0


def test_a_webhook_burst_reads_fifty_contacts_a_call_and_never_reads_other_events(sqlite_db: Database) -> None:
    with xero_world(sqlite_db, contacts=CONTACTS, seed=22) as w:
        assert run_sync(w.ctx, w.tenant, "xero", full=True).status == "succeeded"
        edited = [rid for _, rid in _fifty_one(w.pairs)]
        for n, rid in enumerate(edited):
            w.sim.store.edit(rid, EmailAddress=f"burst.{n}@example.test")
        when, tenant_id = datetime.now(UTC), w.tenant_id  # before the session: a nested one waits on its lock
        with w.db.session() as s:
            rows = [WebhookEvent(tenant_id=tenant_id, system="xero", category="CONTACT", event_type="UPDATE",
                                 resource_id=rid, event_date=when + timedelta(milliseconds=n))
                    for n, rid in enumerate(edited)]
            rows.append(WebhookEvent(tenant_id=tenant_id, system="xero", category="INVOICE", event_type="CREATE",
                                     resource_id=edited[0], event_date=when))
            s.add_all(rows)
            s.flush()
            ids = [r.id for r in rows]
        before = dict(w.sim.stats)

        report = run_webhook_pull(w.ctx, w.tenant, "xero", ids)

        assert report.status == "succeeded", (report.message, report.errors[:2])
        assert w.sim.stats.get("GET Contacts", 0) - before.get("GET Contacts", 0) == 2  # 50 + 1 ids
        assert w.sim.stats["api_calls"] - before["api_calls"] == 2  # no per-contact GET, no writes
        assert report.counts["events_processed"] == 51 and report.counts["events_not_pulled"] == 1
        assert report.counts["remote_changed"] == 51
        assert {w.local(lid).email for lid, rid in w.pairs.items() if rid in edited} == \
            {f"burst.{n}@example.test" for n in range(51)}
        with w.db.session() as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)
                            .where(WebhookEvent.processed_at.is_(None))) == 0
