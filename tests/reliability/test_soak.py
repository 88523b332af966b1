"""The short version of benchmarks/soak.py: one tenant, one round of a link run and a sync against a
simulator injecting faults at random, each possibly SIGKILLed or SIGTERMed and rerun. Nothing lost, nothing
written twice, no run left running, no tenant left locked."""

from __future__ import annotations

from benchmarks.soak import soak


def test_a_short_soak_loses_and_doubles_nothing_and_leaves_nothing_stuck() -> None:
    totals = soak(None, rounds=1, tenants=1, seed=3, clients=25, fault_rate=0.05, say=lambda _: None)
    assert totals.writes_checked > 0 and totals.faults > 0
    assert (totals.lost, totals.duplicated, totals.stuck_runs, totals.stuck_tenants, totals.failed_reruns) == \
        (0, 0, 0, 0, 0), totals
