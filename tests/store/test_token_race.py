"""Two worker processes refreshing one tenant's rotating refresh token at once never lose the grant.

The simulator runs with no grace period, so any second use of a refresh token is `invalid_grant`: the only
way both workers survive every round is single-flight refresh across processes (PostgreSQL advisory lock)
plus compare-and-swap on the stored token set.
"""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest

from adapters.base import TokenSet
from simulators.xpm import XpmSimulator
from syncworker.store.crypto import Cipher, generate_key
from syncworker.store.db import Database
from syncworker.store.tokens import DbTokenStore
from tests.factories import make_tenant

ROUNDS = 8


def _worker(url: str, key: str, tenant_id: int, identity_url: str, client_id: str, secret: str, start_at: float,
            results: mp.Queue) -> None:  # type: ignore[type-arg]
    from adapters.xero_identity.tokens import TokenManager

    db = Database(url)
    manager = TokenManager(DbTokenStore(db, Cipher(key), tenant_id, "xpm"), client_id=client_id,
                           client_secret=secret, identity_url=identity_url)
    time.sleep(max(0.0, start_at - time.time()))
    outcome = []
    for _ in range(ROUNDS):
        try:
            outcome.append(("ok", manager.force_refresh()))
        except Exception as exc:  # noqa: BLE001 - report any failure to the parent
            outcome.append(("error", f"{type(exc).__name__}: {exc}"))
    results.put(outcome)
    db.dispose()


@pytest.mark.postgres
def test_concurrent_refresh_across_processes_keeps_the_grant(pg_schema_factory: object) -> None:
    db = Database("postgresql://127.0.0.1:5432/test", schema=pg_schema_factory())  # type: ignore[operator]
    db.upgrade()
    key = generate_key()
    tenant_id = make_tenant(db)
    with XpmSimulator(clients=5, seed=1, refresh_grace=0) as sim:
        store = DbTokenStore(db, Cipher(key), tenant_id, "xpm")
        assert store.compare_and_swap(0, TokenSet(access_token=None, refresh_token=sim.issue_refresh_token(),
                                                  expires_at=None, scope=["offline_access", "practicemanager"],
                                                  remote_tenant_id=sim.xero_tenant_id))
        ctx = mp.get_context("spawn")
        results: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
        start_at = time.time() + 3
        procs = [ctx.Process(target=_worker, args=(db.connect_url, key, tenant_id, sim.identity_url, sim.client_id,
                                                   sim.client_secret, start_at, results)) for _ in range(2)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=30)
        errors = [o for out in outcomes for o in out if o[0] == "error"]
        assert errors == []
        assert all(len(out) == ROUNDS for out in outcomes)
        # The grant is alive: the stored refresh token still refreshes.
        from adapters.xero_identity.tokens import TokenManager

        final = TokenManager(store, client_id=sim.client_id, client_secret=sim.client_secret,
                             identity_url=sim.identity_url)
        assert final.force_refresh()
        # Every call saw a rotation (its own, or a concurrent one it joined instead of refreshing again).
        assert store.load().version >= ROUNDS + 2  # type: ignore[union-attr]
    db.dispose()
