"""The adapter contract: what the application relies on from every `ClientSystem`, run against each system's
simulator (over real HTTP where the system is HTTP). A new system is done when it passes this file."""

from __future__ import annotations

import pytest

from adapters.errors import DailyLimitReached
from adapters.http_core import STAT_NAMES
from syncworker.domain.profile import ClientStatus
from tests.contract.conftest import need
from tests.contract.harness import PAGE_SIZE, RECORDS, SystemHarness

pytestmark = pytest.mark.e2e


def listed(pages) -> list:  # noqa: ANN001
    return [p for page in pages for p in page.items]


# --- reading ----------------------------------------------------------------------------------------------

def test_a_full_listing_pages_through_every_active_record(system: SystemHarness) -> None:
    pages = list(system.adapter.iter_client_pages())
    ids = [p.id for p in listed(pages)]
    assert len(pages) >= RECORDS // PAGE_SIZE  # really paged, not one page
    assert system.active_ids() <= set(ids) <= system.all_ids()
    assert len(ids) - len(set(ids)) <= len(pages)  # a page boundary may repeat a record, nothing more
    assert pages[-1].checkpoint is None or pages[-1].incremental


def test_a_listing_resumed_from_a_checkpoint_continues_where_it_stopped(system: SystemHarness) -> None:
    first = next(iter(system.adapter.iter_client_pages()))
    assert first.checkpoint, "a full page must say where the listing goes on"
    calls = system.api_calls()
    rest = listed(system.adapter.iter_client_pages(resume_from=first.checkpoint))
    seen_first, seen_rest = {p.id for p in first.items}, {p.id for p in rest}
    assert system.active_ids() <= seen_first | seen_rest
    assert len(seen_first & seen_rest) <= 1  # at most the boundary record again, never the whole page
    assert system.api_calls() - calls < RECORDS // PAGE_SIZE + 1  # the resume did not start over


def test_an_incremental_read_returns_what_changed_archived_included(system: SystemHarness) -> None:
    need(system, "incremental")
    edited, archived, *_ = sorted(system.active_ids())
    system.advance(3600)
    since = system.now()
    system.advance(10)
    system.edit_email(edited, "changed@example.test")
    system.archive(archived)
    system.advance(10)
    pages = list(system.adapter.iter_client_pages(modified_since=since))
    changed = {p.id: p for p in listed(pages)}
    assert all(page.incremental for page in pages)
    assert {edited, archived} <= set(changed) and len(changed) < RECORDS  # not a full listing in disguise
    assert changed[edited].email == "changed@example.test"
    assert changed[archived].status in (ClientStatus.ARCHIVED, ClientStatus.DELETED)


def test_reads_by_id(system: SystemHarness) -> None:
    some = sorted(system.all_ids())[:3]
    assert system.adapter.get_client(some[0]).id == some[0]
    assert system.adapter.get_client(system.missing_id()) is None
    assert {p.id for p in system.adapter.get_clients([*some, some[0]])} == set(some)


# --- writing ----------------------------------------------------------------------------------------------

def test_create_read_update_archive(system: SystemHarness) -> None:
    need(system, "create", "update", "archive")
    profile = system.new_profile()
    created = system.adapter.create_client(profile)
    assert created.id and created.name == profile.name and created.id in system.all_ids()
    assert system.adapter.get_client(created.id).email == profile.email
    assert created.id in {p.id for p in system.adapter.search_clients(profile.name.split()[-2])}

    updated = system.adapter.update_client(created.id, {"email": "updated@example.test"})
    assert updated.id == created.id and updated.email == "updated@example.test"
    assert system.adapter.get_client(created.id).email == "updated@example.test"

    system.adapter.archive_client(created.id)
    assert system.adapter.get_client(created.id).status in (ClientStatus.ARCHIVED, ClientStatus.DELETED)
    assert created.id not in system.active_ids()


def test_batch_updates_answer_for_every_record(system: SystemHarness) -> None:
    need(system, "update")
    a, b = sorted(system.active_ids())[:2]
    out = system.adapter.update_clients({a: {"email": "a@example.test"}, b: {"email": "b@example.test"}})
    assert {k: v.email for k, v in out.items()} == {a: "a@example.test", b: "b@example.test"}
    assert system.adapter.write_batch_size >= 1


# --- HTTP: stats, refresh, limits, server trouble ----------------------------------------------------------

def stat(system: SystemHarness, name: str) -> int:
    return system.adapter.call_stats()[name]


def test_the_stat_names_are_the_cores_and_calls_match_what_the_server_saw(system: SystemHarness) -> None:
    need(system, "http")
    assert set(STAT_NAMES) <= set(system.adapter.call_stats())
    before = system.api_calls()
    list(system.adapter.iter_client_pages())
    system.adapter.get_client(sorted(system.all_ids())[0])
    assert stat(system, "calls") == system.api_calls() - before > 1
    assert stat(system, "retries") == stat(system, "rate_limited_minute") == stat(system, "http_5xx") == 0



def test_a_401_refreshes_the_token_once_and_repeats_the_call(system: SystemHarness) -> None:
    need(system, "http")
    rid = sorted(system.all_ids())[0]
    assert system.adapter.get_client(rid) is not None  # a token is in use
    refreshes, calls = system.token_refreshes(), system.api_calls()
    system.expire_access_tokens()
    assert system.adapter.get_client(rid).id == rid
    assert system.token_refreshes() == refreshes + 1
    assert system.api_calls() == calls + 2  # the refused call and its repeat
    assert stat(system, "token_refreshes") == 1


def test_a_minute_429_waits_and_retries(system: SystemHarness) -> None:
    need(system, "http")
    rid = sorted(system.all_ids())[0]
    system.adapter.get_client(rid)
    calls, before = system.api_calls(), system.now()
    system.inject("minute_429")
    assert system.adapter.get_client(rid).id == rid
    assert system.api_calls() == calls + 2
    assert (system.now() - before).total_seconds() >= 1  # it waited (on the simulator's clock)
    assert (stat(system, "rate_limited_minute"), stat(system, "retries")) == (1, 1)


def test_a_day_429_stops_without_retrying(system: SystemHarness) -> None:
    need(system, "http")
    rid = sorted(system.all_ids())[0]
    system.adapter.get_client(rid)
    calls = system.api_calls()
    system.inject("day_429")
    with pytest.raises(DailyLimitReached) as stopped:
        system.adapter.get_client(rid)
    assert stopped.value.resume_at is not None
    assert system.api_calls() == calls + 1
    assert (stat(system, "rate_limited_day"), stat(system, "retries")) == (1, 0)
    with pytest.raises(DailyLimitReached):  # parked: the next call spends nothing
        system.adapter.get_client(rid)
    assert system.api_calls() == calls + 1


@pytest.mark.parametrize("kind", ["500", "reset"])
def test_server_errors_and_resets_are_retried(system: SystemHarness, kind: str) -> None:
    need(system, "http")
    rid = sorted(system.all_ids())[0]
    system.adapter.get_client(rid)
    calls = system.api_calls()
    system.inject(kind, times=2)
    assert system.adapter.get_client(rid).id == rid
    assert system.api_calls() == calls + 3
    assert stat(system, "retries") == 2
    assert stat(system, "http_5xx" if kind == "500" else "connection_errors") == 2


def test_the_last_page_sets_the_next_cursor_and_an_incremental_read_from_it_sees_later_edits(
        system: SystemHarness) -> None:
    """The shared pull loop stores `Page.next_cursor` and never parses a checkpoint: the adapter says where the
    next incremental read starts, on the system's own clock (APS: the practice database's), and reading from
    there misses nothing after it."""
    need(system, "incremental")
    pages = list(system.adapter.iter_client_pages())
    cursor = pages[-1].next_cursor
    assert cursor is not None and cursor.tzinfo is not None
    assert all(page.next_cursor is None for page in pages[:-1])  # only the end of a listing knows it
    edited = sorted(system.active_ids())[0]
    system.advance(60)
    system.edit_email(edited, "later@example.test")
    changed = {p.id: p for p in listed(system.adapter.iter_client_pages(modified_since=cursor))}
    assert edited in changed and changed[edited].email == "later@example.test"
    assert len(changed) < RECORDS
