"""The detailed listing as large and as slow as XPM's at scale: file notes make the record its real size, and
the transfer is paced in bytes a second, either on the simulator's clock (benchmarks: the real minutes in no
real time) or streamed for real (a client's read timeout and incremental parse meet a slow answer)."""

from __future__ import annotations

import time

import pytest
from xpm_sim_raw import RawXpm

from simulators.xpm import XpmSimulator

pytestmark = pytest.mark.e2e


def test_notes_make_the_detailed_record_its_real_size_and_middle_names_are_there() -> None:
    with XpmSimulator(clients=40, seed=3) as bare, XpmSimulator(clients=40, seed=3, notes_per_client=3.5) as noted:
        plain = RawXpm(bare).call("GET", "client.api/list", detailed="true").content
        full = RawXpm(noted).call("GET", "client.api/list", detailed="true").content
        summary = RawXpm(noted).call("GET", "client.api/list").content
    per_client = len(full) / len(noted.store.clients)
    assert 2_800 < per_client < 4_500  # Xero: 50 MB+ for 15,000 clients
    assert len(full) > len(plain) * 1.3 and b"<Notes>" in full and b"<Notes>" not in summary
    assert b"<MiddleName>" in plain  # a documented field the adapter reads and writes


def test_time_travelled_pacing_moves_the_clock_by_size_over_rate() -> None:
    with XpmSimulator(clients=30, seed=4, detailed_list_bytes_per_second=10_000) as sim:
        before = sim.clock.elapsed()
        body = RawXpm(sim).call("GET", "client.api/list", detailed="true").content
        assert sim.stats.list_bytes == len(body)
        assert sim.stats.list_seconds == pytest.approx(len(body) / 10_000)
        assert sim.clock.elapsed() - before >= len(body) / 10_000


def test_real_pacing_streams_the_body_at_the_rate() -> None:
    with XpmSimulator(clients=30, seed=4, detailed_list_bytes_per_second=200_000,
                      detailed_list_time_travel=False) as sim:
        xpm = RawXpm(sim)
        started = time.monotonic()
        body = xpm.call("GET", "client.api/list", detailed="true").content
        took = time.monotonic() - started
        assert took >= (len(body) // (64 * 1024)) * (64 * 1024) / 200_000  # every full chunk waited its share
        assert body.rstrip().endswith(b"</Response>") and sim.stats.list_bytes == len(body)
