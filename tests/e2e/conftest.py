"""A tenant connected to a running XPM simulator over real sockets, with the matching local practice
imported: the starting point of link-run and sync end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from simulators.xpm import XpmSimulator
from syncworker.sample import SamplePractice, generate_practice
from syncworker.services.context import ServiceContext
from syncworker.store.db import Database
from tests.simulated import clocked_context, connect_practice

TENANT = "Harbour Accounting"


@dataclass
class XpmWorld:
    ctx: ServiceContext
    sim: XpmSimulator
    practice: SamplePractice
    tenant: str = TENANT


@pytest.fixture
def xpm_world(db: Database, tmp_path: Path) -> Iterator[XpmWorld]:
    practice = generate_practice(150, seed=11)
    with XpmSimulator(practice=practice, seed=11) as sim:
        ctx = clocked_context(db, sim)
        connect_practice(ctx, sim, TENANT, practice, tmp_path, contacts=True)
        yield XpmWorld(ctx, sim, practice)
