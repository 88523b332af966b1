"""A local Xero Practice Manager v3.1 simulator (real HTTP on loopback) for end-to-end tests and demos.

    from simulators.xpm import XpmSimulator
    with XpmSimulator(clients=200, seed=7) as sim:
        sim.base_url, sim.identity_url, sim.api_url, sim.client_id, sim.client_secret, sim.xero_tenant_id
        sim.issue_refresh_token(); sim.faults.inject("500", times=2); sim.clock.advance(1800); sim.stats
"""

from simulators.xpm.faults import FAULT_KINDS
from simulators.xpm.limits import Limits
from simulators.xpm.server import XpmSimulator
from simulators.xpm.store import PracticeStore

__all__ = ["FAULT_KINDS", "Limits", "PracticeStore", "XpmSimulator"]
