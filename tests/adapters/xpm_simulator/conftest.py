"""Fixtures for the XPM simulator tests: a small seeded simulator and a raw HTTP client for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from xpm_sim_raw import RawXpm

from simulators.xpm import XpmSimulator


@pytest.fixture
def sim() -> Iterator[XpmSimulator]:
    with XpmSimulator(clients=60, seed=11, minute_limit=1000) as s:
        yield s


@pytest.fixture
def xpm(sim: XpmSimulator) -> RawXpm:
    return RawXpm(sim)
