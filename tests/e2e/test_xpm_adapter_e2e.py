"""XpmClient + TokenManager against the XPM simulator over real sockets.

The adapter's limiter, retry waits and token clock run on the simulator's clock and "sleep" by advancing
it, so waiting out a minute window or a Retry-After costs no real time while both sides still agree on
what time it is. The 5,000-client measurement is in benchmarks/xpm_full_load.py.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import requests

from adapters.base import TokenSet
from adapters.errors import AdapterError, DailyLimitReached, ReconnectRequired, RemoteRejected
from adapters.ratelimit import Limits, RateLimiter
from adapters.xero_identity.memory_store import InMemoryTokenStore
from adapters.xero_identity.tokens import TokenManager
from adapters.xpm.client import XpmClient
from simulators.xpm import XpmSimulator
from syncworker.domain.profile import ClientKind, ClientProfile, ClientStatus

pytestmark = pytest.mark.e2e

CLIENTS = 400
PAGE = 50


@pytest.fixture
def sim() -> Iterator[XpmSimulator]:
    with XpmSimulator(clients=CLIENTS, seed=11, port=0, slow_delay=1.5) as s:
        yield s


def connect(sim: XpmSimulator, *, per_minute: int = 60, read_timeout: float = 5.0,
            store: InMemoryTokenStore | None = None, detailed: bool = False) -> tuple[XpmClient, InMemoryTokenStore]:
    """A client on the simulator; `detailed=False` (the paging tests) loads with paged-list at once."""
    store = store or InMemoryTokenStore(TokenSet(
        access_token=None, refresh_token=sim.issue_refresh_token(), expires_at=None,
        remote_tenant_id=sim.xero_tenant_id,
    ))
    advance = sim.clock.advance
    tokens = TokenManager(store, client_id=sim.client_id, client_secret=sim.client_secret,
                          identity_url=sim.identity_url, clock=sim.clock.now, sleep=advance)
    limiter = RateLimiter(Limits(per_minute=per_minute), clock=sim.clock.elapsed, now=sim.clock.now, sleep=advance)
    client = XpmClient(tokens, base_url=sim.base_url, limiter=limiter, page_size=PAGE, timeout=read_timeout,
                       connect_timeout=2.0, max_retries=4, sleep=advance, clock=sim.clock.now,
                       detailed_full_load=detailed, list_read_timeout=read_timeout)
    return client, store


@dataclass
class Run:
    """What a caller of the port keeps: items of every finished page, the last checkpoint, the stop reason."""

    ids: list[str] = field(default_factory=list)
    checkpoint: str | None = None
    error: AdapterError | None = None
    pages: int = 0

    def load(self, client: XpmClient, after_first_page: Callable[[], object] | None = None) -> Run:
        self.error = None
        try:
            for n, page in enumerate(client.iter_client_pages(resume_from=self.checkpoint)):
                self.ids.extend(c.id for c in page.items)
                self.pages += 1
                self.checkpoint = page.checkpoint
                if n == 0 and after_first_page:
                    after_first_page()
                if page.checkpoint is None:
                    break
        except AdapterError as exc:  # stop as partial, with the reason; progress is in `checkpoint`
            self.error = exc
        return self


def active_ids(sim: XpmSimulator) -> set[str]:
    return {c.uuid for c in sim.store.active_clients()}


def test_detailed_full_load_is_one_call_with_relationships_and_groups(sim: XpmSimulator) -> None:
    client, _ = connect(sim, detailed=True)
    profiles = [p for page in client.iter_client_pages() for p in page.items]
    assert sorted(p.id for p in profiles) == sorted(sim.store.clients)  # archived and deleted too
    assert client.call_stats()["calls"] == 1 == sim.stats.total_calls
    with_rels = {p.id: p.extra["relationships"] for p in profiles if p.extra["relationships"]}
    assert with_rels and all(r["client_id"] == owner for owner, rels in with_rels.items() for r in rels)
    expected_rels = {r.uuid for c in sim.store.clients for r in sim.store.relationships_of(c)}
    assert {r["id"] for rels in with_rels.values() for r in rels} == expected_rels
    members = {(g, p.id) for p in profiles for g in p.extra["group_ids"]}
    assert members == {(g.uuid, m) for g in sim.store.list_groups() for m in g.members}


def test_paged_full_load_uses_the_minimum_number_of_calls(sim: XpmSimulator) -> None:
    client, _ = connect(sim)
    run = Run().load(client)
    expected = active_ids(sim)
    pages_needed = math.ceil(len(expected) / PAGE)
    assert run.error is None
    assert sorted(run.ids) == sorted(expected)  # everything, nothing twice
    assert client.call_stats()["calls"] == pages_needed == sim.stats.total_calls
    assert sim.stats.total_429 == 0 and sim.stats.peak_concurrency <= 5


def test_limiter_keeps_under_a_tight_minute_limit() -> None:
    # A server enforcing 4 calls a minute (a stand-in for 60, to keep the test short) and a client told the
    # same: the pages need several minute windows, and the server never has to answer 429.
    with XpmSimulator(clients=CLIENTS, seed=11, port=0, minute_limit=4) as tight:
        client, _ = connect(tight, per_minute=4)
        before = tight.clock.elapsed()
        run = Run().load(client)
        pages = math.ceil(len(active_ids(tight)) / PAGE)
        assert run.error is None and sorted(run.ids) == sorted(active_ids(tight))
        assert tight.stats.total_429 == 0 and tight.stats.total_calls == pages
        assert tight.clock.elapsed() - before >= (math.ceil(pages / 4) - 1) * 60  # it waited for the windows


@pytest.mark.parametrize("kind", ["500", "reset", "malformed_xml", "minute_429", "slow"])
def test_transient_faults_are_absorbed(sim: XpmSimulator, kind: str) -> None:
    # A slow response (20 s) is a read timeout (3 s); a normal page must never be one, even on a loaded
    # machine, or the retries count one too many (0.5 s was too close).
    client, _ = connect(sim, read_timeout=3.0)
    sim.faults.inject(kind, times=2, delay=20 if kind == "slow" else None)
    run = Run().load(client)
    assert run.error is None, run.error
    assert sorted(run.ids) == sorted(active_ids(sim))
    stats = client.call_stats()
    assert stats["retries"] == 2
    assert stats["calls"] == math.ceil(len(active_ids(sim)) / PAGE) + 2  # exactly one extra call per fault


def test_status_error_on_200_stops_as_partial_and_resumes(sim: XpmSimulator) -> None:
    client, _ = connect(sim)
    run = Run().load(client, after_first_page=lambda: sim.faults.inject("status_error"))  # page 2 fails
    assert isinstance(run.error, RemoteRejected) and run.pages == 1
    run.load(client)  # resume from the checkpoint of the last finished page
    assert run.error is None and sorted(run.ids) == sorted(active_ids(sim))


def test_day_limit_stops_with_resume_time_and_resumes_there(sim: XpmSimulator) -> None:
    client, _ = connect(sim)
    run = Run().load(client, after_first_page=lambda: sim.faults.inject("day_429", retry_after=3 * 3600))
    assert isinstance(run.error, DailyLimitReached) and run.pages == 1
    assert run.error.resume_at is not None
    assert timedelta(hours=2, minutes=59) < run.error.resume_at - sim.clock.now() <= timedelta(hours=3)
    calls_at_stop = sim.stats.total_calls
    run.load(client)  # too early: refused locally, no call spent
    assert isinstance(run.error, DailyLimitReached) and sim.stats.total_calls == calls_at_stop
    sim.clock.advance(3 * 3600 + 1)
    run.load(client)
    assert run.error is None and sorted(run.ids) == sorted(active_ids(sim))


def test_revoked_grant_marks_reconnect_required(sim: XpmSimulator) -> None:
    client, store = connect(sim)
    pages = client.iter_client_pages()
    next(pages)
    sim.faults.inject("revoked")
    with pytest.raises(ReconnectRequired):
        next(pages)
    assert store.reconnect_reason and "invalid_grant" in store.reconnect_reason


def test_lost_token_response_is_recovered_within_the_grace(sim: XpmSimulator) -> None:
    client, store = connect(sim)
    first_refresh = store.load().refresh_token
    sim.faults.inject("reset", times=1, path_contains="/connect/token")  # rotated server-side, answer lost
    run = Run().load(client)
    assert run.error is None and len(run.ids) == len(active_ids(sim))
    assert store.load().refresh_token != first_refresh
    # The stored token is the live one: an expired access token refreshes fine with it.
    sim.clock.advance(31 * 60)
    assert client.get_client(run.ids[0]) is not None


def test_token_expiry_mid_run_refreshes_and_continues(sim: XpmSimulator) -> None:
    client, store = connect(sim)
    pages = client.iter_client_pages()
    next(pages)
    version = store.load().version
    sim.clock.advance(29 * 60)  # inside the refresh margin
    rest = list(pages)
    assert rest and store.load().version == version + 1


def test_incremental_pull_sees_edits_archives_and_deletes(sim: XpmSimulator) -> None:
    client, _ = connect(sim)
    since = sim.clock.now()
    sim.clock.advance(10)
    a, b, c = sorted(active_ids(sim))[:3]
    sim.store.edit_client(a, Email="new@example.test")
    sim.store.archive_client(b)
    sim.store.delete_client(c)
    sim.clock.advance(600)  # longer ago than the cursor's 5-minute overlap
    pages = list(client.iter_client_pages(modified_since=since))
    got = {p.id: p for page in pages for p in page.items}
    assert set(got) == {a, b, c}
    assert (got[a].email, got[a].status) == ("new@example.test", ClientStatus.ACTIVE)
    assert got[b].status is ClientStatus.ARCHIVED and got[c].status is ClientStatus.DELETED
    assert pages[-1].incremental and pages[-1].checkpoint.startswith("since:")
    # Resuming from the cursor finds nothing new (changes inside the overlap would be seen again).
    again = [p for page in client.iter_client_pages(resume_from=pages[-1].checkpoint) for p in page.items]
    assert again == []


def test_write_round_trip(sim: XpmSimulator) -> None:
    client, _ = connect(sim)
    created = client.create_client(ClientProfile(
        id="local-1", kind=ClientKind.TRUST, name="Quokka Family Trust", email="trustee@quokka.test",
        website="https://quokka.test", tax_number="123456782"))
    stored = sim.store.get_client(created.id)
    assert created.kind is ClientKind.TRUST and created.website == "https://quokka.test"
    assert not stored.fields.get("TaxNumber")  # never written
    updated = client.update_client(created.id, {"phone": "08 9000 0000", "email": None})
    assert (updated.phone, updated.email, updated.website) == ("08 9000 0000", None, "https://quokka.test")
    client.archive_client(created.id)
    assert client.get_client(created.id).status is ClientStatus.ARCHIVED
    assert client.get_client("00000000-0000-4000-8000-000000000000") is None


def test_two_processes_refreshing_at_once_keep_the_grant(sim: XpmSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Separate processes share no in-process lock: give every refresh its own lock, and hold each token
    # POST until all four are ready, so four workers really send the same refresh token at once. Only the
    # store's compare-and-swap (and Xero's grace answer) stand between them and a lost grant.
    import adapters.xero_identity.tokens as tokens_module

    monkeypatch.setattr(tokens_module, "_process_lock", lambda key: threading.Lock())
    store = InMemoryTokenStore(TokenSet(access_token=None, refresh_token=sim.issue_refresh_token(), expires_at=None,
                                        remote_tenant_id=sim.xero_tenant_id))
    together = threading.Barrier(4, timeout=120)  # only a hang should break it

    class SimultaneousSession(requests.Session):
        def post(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            together.wait()
            return super().post(*args, **kwargs)

    workers = [TokenManager(store, client_id=sim.client_id, client_secret=sim.client_secret,
                            identity_url=sim.identity_url, clock=sim.clock.now, session=SimultaneousSession())
               for _ in range(4)]
    for _round in range(3):
        got: list[str] = []
        threads = [threading.Thread(target=lambda w=w, out=got: out.append(w.access_token())) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 4 and len(set(got)) == 1  # the CAS losers use the winner's stored token
        sim.clock.advance(29 * 60)  # expire it for the next round
    assert sim.identity.token_calls["refresh_token"] == 12  # 4 racing refreshes in each of 3 rounds
    assert store.reconnect_reason is None and len(store.history) == 3  # one stored rotation per round
    client, _ = connect(sim, store=store)
    assert next(client.iter_client_pages()).items  # the grant still works
