"""The short version of benchmarks/soak_scaleout.py: PostgreSQL, two `syncworker worker` processes whose
database connections go through a proxy that cuts them, workers stopped with SIGTERM and restarted, faults
on both simulators, Xero webhooks repeated and reordered; one round. Nothing lost, nothing written twice,
no run left running, no tenant left locked. (A SIGKILLed worker waits for the minute's recovery pass:
tests/jobs/test_killed_worker.py; the long soak kills with both signals and runs the clock.)"""

from __future__ import annotations

import signal

import pytest
import sqlalchemy as sa

from benchmarks.soak_scaleout import soak_scaleout

pytestmark = pytest.mark.postgres


def test_a_short_scale_out_soak_loses_and_doubles_nothing_and_leaves_nothing_stuck(pg_admin: sa.Engine) -> None:
    totals = soak_scaleout(pg_admin.url.render_as_string(hide_password=False), rounds=1, seed=5, clients=10,
                           fault_rate=0.15, workers=2, chaos_seconds=2, converge_seconds=60, clock=False,
                           signals=(signal.SIGTERM,), link_runs=False,
                           say=lambda _: None)
    assert totals.writes_checked > 0 and totals.faults > 0 and totals.kills + totals.cuts > 0, totals
    assert (totals.lost, totals.duplicated, totals.stuck_runs, totals.stuck_tenants, totals.unconverged) == \
        (0, 0, 0, 0, 0), totals
